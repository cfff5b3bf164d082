//go:build !linux

package main

import "os/exec"

// setParentDeathSignal has no equivalent here: children are stopped on
// every exit path the bench controls, SIGINT included.
func setParentDeathSignal(cmd *exec.Cmd) {}

// pause and resume do nothing here: the process keeps running.
func pause(p *proc) error  { return nil }
func resume(p *proc) error { return nil }

package main

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the child if this process
// dies without stopping it (SIGKILL, a crash): no server is left running.
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// pause freezes a process (SIGSTOP) so that it takes no CPU at all;
// resume lets it go on (SIGCONT).
func pause(p *proc) error  { return p.cmd.Process.Signal(syscall.SIGSTOP) }
func resume(p *proc) error { return p.cmd.Process.Signal(syscall.SIGCONT) }

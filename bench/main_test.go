package main

// The tests are in package main, not main_test: a command cannot be
// imported, and what they check (the parser, the report, the generator) is
// unexported.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for the bench's executable: when
// a test starts it with envLoad or envBare set, it runs that hidden mode,
// as the bench's own re-executed children do.
func TestMain(m *testing.M) {
	if os.Getenv(envLoad) != "" || os.Getenv(envBare) != "" {
		if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func noEnv(string) string { return "" }

func TestRunHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"bench", "--help"}, noEnv, &stdout, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run --help: %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: go run ./bench [flags]", "-keys int", "(default 1000000)", "-duration duration", "-database-url URL"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("--help output lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "loadgen") {
		t.Errorf("--help still offers --loadgen:\n%s", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("--help wrote to stdout: %q", stdout.String())
	}
}

func TestRunRefusesBadFlagsBeforeDoingAnything(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"bench", "--keys", "-5"}, noEnv, &stdout, &stderr)
	var ue usageError
	if !errors.As(err, &ue) {
		t.Fatalf("run --keys -5: %v, want a usageError", err)
	}
	if got, want := err.Error(), "--keys -5: must be at least 1"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing", stdout.String())
	}
}

func TestRunLoadModeReportsBadSpec(t *testing.T) {
	env := func(k string) string {
		if k == envLoad {
			return `{"url":"http://127.0.0.1:1","method":"GET","path":"/","connections":0,"duration":1000000}`
		}
		return ""
	}
	err := run(context.Background(), []string{"bench"}, env, new(bytes.Buffer), new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "load generator: load spec: 0 connections: want at least 1") {
		t.Fatalf("run in load mode with 0 connections: %v", err)
	}
}

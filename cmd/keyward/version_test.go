package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBuildText: what keyward version says for each kind of build.
func TestBuildText(t *testing.T) {
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-11-23T14:10:29Z"},
			{Key: "vcs.modified", Value: modified},
		}
	}
	devel := debug.Module{Path: "github.com/keyward/keyward", Version: "(devel)"}
	tests := []struct {
		name    string
		info    *debug.BuildInfo
		release string
		want    []string
		notWant []string
	}{
		{
			name: "no build information",
			want: []string{"keyward unknown\n", "revision unknown: built without VCS information; build with go build from a git checkout", "built with " + runtime.Version()},
		},
		{
			name:    "go run or go test: no VCS",
			info:    &debug.BuildInfo{GoVersion: "go1.26.8", Main: devel},
			want:    []string{"keyward (devel)\n", "revision unknown: built without VCS information", "built with go1.26.8 for " + runtime.GOOS + "/" + runtime.GOARCH},
			notWant: []string{"modified"},
		},
		{
			name:    "clean checkout",
			info:    &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: devel.Path, Version: "v0.0.0-20261123141029-0123456789ab"}, Settings: vcs("false")},
			want:    []string{"keyward v0.0.0-20261123141029-0123456789ab\n", "revision 0123456789abcdef0123456789abcdef01234567\n", "committed 2026-11-23T14:10:29Z", "built with go1.26.8 for linux/arm64"},
			notWant: []string{"modified", "unknown"},
		},
		{
			name: "uncommitted changes",
			info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: devel, Settings: vcs("true")},
			want: []string{"revision 0123456789abcdef0123456789abcdef01234567 (modified"},
		},
		{
			name:    "release set at link time",
			info:    &debug.BuildInfo{GoVersion: "go1.26.8", Main: devel, Settings: vcs("false")},
			release: "v1.4.0",
			want:    []string{"keyward v1.4.0\n", "module version (devel)", "revision 0123456789abcdef"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := buildFrom(tt.info, tt.release).String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("has %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestVersionCommand: a test binary carries no VCS information, and the
// command says so rather than print a made-up version.
func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"revision unknown: built without VCS information", "built with " + runtime.Version()} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("keyward version lacks %q:\n%s", w, out.String())
		}
	}
}

// TestVersionOfBuiltBinary builds keyward as a user does, from this
// checkout, and checks that its version names the commit checked out, its
// time, and whether the tree had uncommitted changes.
func TestVersionOfBuiltBinary(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not in PATH: cannot tell which commit the binary should name")
	}
	top, err := gitOutput("rev-parse", "--show-toplevel")
	if err != nil {
		t.Skipf("not in a git checkout (git rev-parse --show-toplevel: %v): the binary names no commit", err)
	}
	if fi, err := os.Stat(filepath.Join(top, ".git")); err != nil || !fi.IsDir() {
		// cmd/go/internal/vcs takes only a .git directory for a
		// repository's root.
		t.Skipf("%s is a linked git worktree or a submodule (its .git is not a directory): the go command records no commit for a build there", top)
	}
	goTool, err := exec.LookPath("go") // go test puts its own toolchain first in PATH
	if err != nil {
		t.Fatalf("no go command to build with: %v", err)
	}
	head, err := gitOutput("rev-parse", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	ct, err := gitOutput("-c", "log.showsignature=false", "log", "-1", "--format=%ct")
	if err != nil {
		t.Fatal(err)
	}
	secs, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	statusBefore, err := gitOutput("status", "--porcelain")
	if err != nil {
		t.Fatal(err)
	}

	exe := filepath.Join(t.TempDir(), "keyward")
	// -buildvcs=true: an environment with GOFLAGS=-buildvcs=false would
	// otherwise build a binary that cannot know its commit.
	build := exec.Command(goTool, "build", "-buildvcs=true", "-o", exe, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	statusAfter, err := gitOutput("status", "--porcelain")
	if err != nil {
		t.Fatal(err)
	}
	if statusAfter != statusBefore {
		t.Skip("the working tree changed while the binary was built: cannot tell whether it was built modified")
	}
	modified := statusBefore != ""

	out, err := exec.Command(exe, "version").Output()
	if err != nil {
		t.Fatalf("keyward version: %v", err)
	}
	got := string(out)
	want := []string{
		"revision " + head,
		"committed " + time.Unix(secs, 0).UTC().Format(time.RFC3339),
		"built with " + runtime.Version() + " for " + runtime.GOOS + "/" + runtime.GOARCH,
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("keyward version lacks %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "modified") != modified {
		t.Errorf("keyward version, built from a tree with uncommitted changes: %v:\n%s", modified, got)
	}
}

// gitOutput runs git in the current directory and returns its output,
// trimmed; its error carries what git said.
func gitOutput(args ...string) (string, error) {
	out, err := exec.Command("git", args...).Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(ee.Stderr))
	}
	return strings.TrimSpace(string(out)), err
}

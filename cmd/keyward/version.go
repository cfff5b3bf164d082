package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version names a release, when set at link time:
//
//	go build -ldflags "-X main.version=v1.4.0" ./cmd/keyward
//
// Left empty, keyward reports the main module's version from its build
// information: a pseudo-version, or "(devel)".
var version string

// build is what a binary knows of how it was built.
type build struct {
	version   string // the release or module version; "unknown" without build information
	module    string // the module version, when version is a release
	revision  string // the VCS commit; "" when the go command recorded none
	time      string // the commit's time
	modified  bool   // the working tree had uncommitted changes
	goVersion string
	platform  string // GOOS/GOARCH
}

// readBuild reads this binary's build information.
func readBuild() build {
	info, _ := debug.ReadBuildInfo()
	return buildFrom(info, version)
}

// buildFrom reads info (nil when the binary has none), preferring release
// to the module version.
func buildFrom(info *debug.BuildInfo, release string) build {
	b := build{version: release, goVersion: runtime.Version(), platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info == nil {
		if b.version == "" {
			b.version = "unknown"
		}
		return b
	}
	if b.version == "" {
		b.version = info.Main.Version
	} else if info.Main.Version != "" && info.Main.Version != b.version {
		b.module = info.Main.Version
	}
	if b.version == "" {
		b.version = "unknown"
	}
	if info.GoVersion != "" {
		b.goVersion = info.GoVersion
	}
	var goos, goarch string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value
		case "vcs.time":
			b.time = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" && goarch != "" {
		b.platform = goos + "/" + goarch
	}
	return b
}

// String describes the build, one fact a line.
func (b build) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "keyward %s\n", b.version)
	if b.module != "" {
		fmt.Fprintf(&s, "module version %s\n", b.module)
	}
	if b.revision == "" {
		// The go command records the commit only when it builds from a
		// git checkout itself: not for go run, go test or go install
		// pkg@version, nor with -buildvcs=false.
		s.WriteString("revision unknown: built without VCS information; build with go build from a git checkout\n")
	} else {
		fmt.Fprintf(&s, "revision %s", b.revision)
		if b.modified {
			s.WriteString(" (modified: built with uncommitted changes)")
		}
		s.WriteString("\n")
		if b.time != "" {
			fmt.Fprintf(&s, "committed %s\n", b.time)
		}
	}
	fmt.Fprintf(&s, "built with %s for %s\n", b.goVersion, b.platform)
	return s.String()
}

func runVersion(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := newCommand("version", "Print how this keyward binary was built: its version, the commit it was\nbuilt from (and whether the working tree had uncommitted changes), the\ncommit's time, and the Go version and platform.")
	if _, err := cmd.parse(args, getenv, stdout, stderr); err != nil {
		return err
	}
	_, err := fmt.Fprint(stdout, readBuild())
	return err
}

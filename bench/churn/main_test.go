package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOptionsCheck(t *testing.T) {
	good := options{duration: time.Minute, sample: time.Second, retention: time.Minute, clients: 1}
	if err := good.check(nil); err != nil {
		t.Fatalf("good options: %v", err)
	}
	for name, tt := range map[string]struct {
		o    func(o *options)
		args []string
	}{
		"argument":           {func(*options) {}, []string{"extra"}},
		"no duration":        {func(o *options) { o.duration = 0 }, nil},
		"no sample":          {func(o *options) { o.sample = 0 }, nil},
		"negative retention": {func(o *options) { o.retention = -time.Second }, nil},
		"no client":          {func(o *options) { o.clients = 0 }, nil},
	} {
		o := good
		tt.o(&o)
		if err := o.check(tt.args); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	o := good
	o.retention = 0 // a binary without retention
	if err := o.check(nil); err != nil {
		t.Errorf("no retention flag: %v", err)
	}
}

// A short run against the real binary churns keys, measures the file, and
// shows the pruning: fewer keys remain than were made.
func TestRun(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "keyward")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/keyward/keyward/cmd/keyward").CombinedOutput(); err != nil {
		t.Fatalf("build keyward: %v\n%s", err, out)
	}
	var out bytes.Buffer
	o := options{duration: 4 * time.Second, sample: time.Second, retention: time.Second, clients: 2, keyward: bin}
	if err := run(context.Background(), o, &out); err != nil && err != context.DeadlineExceeded {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 5 || !strings.Contains(lines[1], "db+wal MB") {
		t.Fatalf("output:\n%s", out.String())
	}
	last := strings.Fields(lines[len(lines)-1])
	if len(last) != 6 {
		t.Fatalf("last line %q", lines[len(lines)-1])
	}
	made, _ := strconv.Atoi(last[1])
	keys, _ := strconv.Atoi(last[3])
	if made == 0 || keys >= made {
		t.Errorf("made %d keys and %d remain: nothing churned, or nothing was pruned\n%s", made, keys, out.String())
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnexpectedArguments: every command refuses a positional argument it
// does not take, naming it, before it touches any database. Until it did,
// the flag package stopped at the stray argument and dropped the flags
// after it: `serve extra-arg --addr ...` served ./keyward.db on 8080.
func TestUnexpectedArguments(t *testing.T) {
	tests := []struct {
		name  string
		args  []string // --db DB is appended, after the stray argument
		stray string
	}{
		{"serve", []string{"serve", "extra-arg", "--addr", "127.0.0.1:0"}, "extra-arg"},
		{"migrate", []string{"migrate", "foo"}, "foo"},
		{"root-key create", []string{"root-key", "create", "ops"}, "ops"},
		{"root-key list", []string{"root-key", "list", "all"}, "all"},
		{"root-key revoke, two ids", []string{"root-key", "revoke", "key-1", "key-2"}, "key-2"},
		{"version", []string{"version", "full"}, "full"},
		{"after --", []string{"migrate", "--", "--db"}, "--db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir) // where keyward.db would appear if --db were dropped
			db := filepath.Join(dir, "given.db")
			args := tt.args
			if tt.args[0] != "version" {
				args = append(args, "--db", db)
			}
			var stderr bytes.Buffer
			err := run(context.Background(), args, env(nil), nil, io.Discard, &stderr)
			if !errors.As(err, new(usageError)) {
				t.Fatalf("keyward %s: err = %v, want a usage error", strings.Join(args, " "), err)
			}
			if !strings.Contains(err.Error(), `"`+tt.stray+`"`) {
				t.Errorf("error does not name %q: %v", tt.stray, err)
			}
			for _, f := range []string{"keyward.db", db} {
				if _, err := os.Stat(f); err == nil {
					t.Errorf("%s was created", f)
				}
			}
		})
	}
}

// TestFlagsAfterArguments: flags count wherever they are, and "--" ends
// them.
func TestFlagsAfterArguments(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keyward.db")
	ctx := context.Background()
	if err := run(ctx, []string{"migrate", "--db", db}, env(nil), nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	// The flag package would stop at a value "--" too: it must stay a value.
	var out bytes.Buffer
	if err := run(ctx, []string{"root-key", "create", "--name", "--", "--db", db}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatalf("root-key create --name -- --db DB: %v", err)
	}
	ids := rootKeyIDs(t, db)
	if len(ids) != 1 {
		t.Fatalf("root keys: %v", ids)
	}
	if err := run(ctx, []string{"root-key", "revoke", ids[0], "--db", db}, env(nil), nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("root-key revoke ID --db DB: %v", err)
	}
	if ids := rootKeyIDs(t, db); len(ids) != 0 {
		t.Fatalf("root key not revoked: %v", ids)
	}

	// After "--", "--db" is an argument, not a flag.
	err := run(ctx, []string{"root-key", "revoke", "--db", db, "--", "--db"}, env(nil), nil, io.Discard, io.Discard)
	if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), `"--db"`) {
		t.Fatalf("root-key revoke --db DB -- --db: %v, want a usage error about \"--db\"", err)
	}
	// A missing argument is named.
	err = run(ctx, []string{"root-key", "revoke", "--db", db}, env(nil), nil, io.Discard, io.Discard)
	if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "KEY_ID") {
		t.Fatalf("root-key revoke without an id: %v, want a usage error naming KEY_ID", err)
	}
}

// rootKeyIDs lists the ids of db's live root keys, through the command.
func rootKeyIDs(t *testing.T, db string) []string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"root-key", "list", "--db", db}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatalf("root-key list: %v", err)
	}
	var ids []string
	for line := range strings.Lines(out.String()) {
		ids = append(ids, strings.Split(line, "\t")[0])
	}
	return ids
}

// TestExitStatus runs the real program: a mistake in how it was called
// exits 2, any other failure 1, each with a message on stderr, and neither
// leaves a database behind.
func TestExitStatus(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      []string
		wantCode int
		wantMsg  string // in stderr
	}{
		{"stray argument to serve", []string{"serve", "extra-arg", "--addr", "127.0.0.1:0"}, nil, 2, `"extra-arg"`},
		{"stray argument to migrate", []string{"migrate", "foo", "--db", "x.db"}, nil, 2, `"foo"`},
		{"bad environment value", []string{"serve", "--db", "x.db", "--addr", "127.0.0.1:0"}, []string{"KEYWARD_CACHE_TTL=soon"}, 2, "KEYWARD_CACHE_TTL"},
		{"root-key on a missing database", []string{"root-key", "create", "--db", "x.db"}, nil, 1, "x.db"},
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(exe, tt.args...)
			cmd.Dir = dir
			cmd.Env = append(append(environWithout(envPrefix), "KEYWARD_TEST_RUN_MAIN=1"), tt.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tt.wantCode {
				t.Fatalf("keyward %s: %v, want exit status %d\n%s", strings.Join(tt.args, " "), err, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantMsg) {
				t.Errorf("stderr lacks %s:\n%s", tt.wantMsg, stderr.String())
			}
			for _, f := range []string{"keyward.db", "x.db"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					t.Errorf("%s was created", f)
				}
			}
		})
	}
}

// environWithout is this process's environment without the variables
// whose names start with prefix, so that a developer's KEYWARD_DB cannot
// change what a test's process does.
func environWithout(prefix string) []string {
	var kept []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			kept = append(kept, kv)
		}
	}
	return kept
}

// TestRootKeyCommandsNeedADatabase: the root-key commands refuse a SQLite
// path where there is no database, naming it and the commands that make
// one, and create nothing there. They used to create a new database and
// hand out a root key that no server would accept.
func TestRootKeyCommandsNeedADatabase(t *testing.T) {
	for _, sub := range [][]string{{"create"}, {"list"}, {"revoke", "key-123"}} {
		t.Run(sub[0], func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "typo.db")
			var stdout bytes.Buffer
			args := append(append([]string{"root-key"}, sub...), "--db", db)
			err := run(context.Background(), args, env(nil), nil, &stdout, io.Discard)
			if err == nil {
				t.Fatalf("keyward %s succeeded", strings.Join(args, " "))
			}
			for _, w := range []string{db, "keyward serve", "keyward migrate"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if stdout.Len() > 0 {
				t.Errorf("printed %q", hint(stdout.String()))
			}
			if _, err := os.Stat(db); err == nil {
				t.Errorf("%s was created", db)
			}
		})
	}
}

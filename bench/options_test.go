package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParseOptionsDefaults(t *testing.T) {
	o, err := parseOptions(nil, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	want := options{
		keys: 1_000_000, duration: 10 * time.Second, warmup: 2 * time.Second,
		connections: 64, createClients: 16, hotKeys: 10_000, floodConns: 64, fill: true, pin: true,
		redisURL: "redis://127.0.0.1:6379/0",
	}
	if o != want {
		t.Errorf("defaults\n got %+v\nwant %+v", o, want)
	}
}

func TestParseOptionsSetsEveryFlag(t *testing.T) {
	args := []string{
		"--keys", "2500", "--duration", "1500ms", "--warmup", "0", "--connections", "8",
		"--create-clients", "3", "--hot-keys", "100", "--fill=false", "--keep",
		"--markdown", "out.md", "--database-url", "postgres://u@h/db", "--redis-url", "redis://r:6380/2", "--pin=false",
		"--flood-connections", "5", "--serve-args", "--failure-hold 0",
	}
	o, err := parseOptions(args, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	want := options{
		keys: 2500, duration: 1500 * time.Millisecond, warmup: 0, connections: 8,
		createClients: 3, hotKeys: 100, fill: false, keep: true, markdown: "out.md",
		databaseURL: "postgres://u@h/db", redisURL: "redis://r:6380/2", pin: false, floodConns: 5, serveArgs: "--failure-hold 0",
	}
	if o != want {
		t.Errorf("\n got %+v\nwant %+v", o, want)
	}
}

func TestParseOptionsRefusesBadValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // the whole error
	}{
		{"no keys", []string{"--keys", "0"}, "--keys 0: must be at least 1"},
		{"zero duration", []string{"--duration", "0s"}, "--duration 0s: must be positive"},
		{"negative duration", []string{"--duration", "-1s"}, "--duration -1s: must be positive"},
		{"negative warm-up", []string{"--warmup", "-2s"}, "--warmup -2s: must not be negative"},
		{"no connections", []string{"--connections", "0"}, "--connections 0: must be at least 1"},
		{"no create clients", []string{"--create-clients", "-1"}, "--create-clients -1: must be at least 1"},
		{"no hot keys", []string{"--hot-keys", "0"}, "--hot-keys 0: must be at least 1"},
		{"negative flood", []string{"--flood-connections", "-1"}, "--flood-connections -1: must not be negative"},
		{"not a postgres URL", []string{"--database-url", "mysql://u:secret@h/db"}, "--database-url: want a postgres:// URL"},
		{"unparsable URL", []string{"--database-url", "postgres://u:secret@h:port/db"}, "--database-url: want a postgres:// URL"},
		{"unknown flag", []string{"--loadgen", "wrk"}, "flag provided but not defined: -loadgen"},
		{"not a number", []string{"--keys", "many"}, `invalid value "many" for flag -keys: parse error`},
		{"not a duration", []string{"--duration", "10"}, `invalid value "10" for flag -duration: parse error`},
		{"argument", []string{"--keys", "10", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOptions(tt.args, new(bytes.Buffer))
			var ue usageError
			if !errors.As(err, &ue) {
				t.Fatalf("parseOptions(%q): %v, want a usageError", tt.args, err)
			}
			if err.Error() != tt.want {
				t.Errorf("parseOptions(%q):\n got %q\nwant %q", tt.args, err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error shows the URL's password: %q", err)
			}
		})
	}
}

func TestParseOptionsHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := parseOptions([]string{"-h"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v, want flag.ErrHelp", err)
	}
	if !strings.HasPrefix(out.String(), usage) || !strings.Contains(out.String(), "-hot-keys int") {
		t.Errorf("-h printed:\n%s", out.String())
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"go run", []string{"/tmp/go-build123/b001/exe/bench", "--keys", "100"}, "go run ./bench --keys 100"},
		{"built", []string{"/home/me/bin/bench", "--duration=5s"}, "bench --duration=5s"},
		{"quoted", []string{"bench", "--markdown", "my results.md"}, "bench --markdown 'my results.md'"},
		{"single quote", []string{"bench", "--markdown", "it's.md"}, `bench --markdown 'it'\''s.md'`},
		{"password in the user part, separate", []string{"bench", "--database-url", "postgres://u:hunter2@h/db"}, "bench --database-url postgres://u:xxxxx@h/db"},
		{"password in the user part, with =", []string{"bench", "--database-url=postgres://u:hunter2@h/db"}, "bench --database-url=postgres://u:xxxxx@h/db"},
		{"password in the query", []string{"bench", "-database-url", "postgres://h/db?password=hunter2&sslmode=disable"}, "bench -database-url 'postgres://h/db?password=xxxxx&sslmode=disable'"},
		{"unparsable", []string{"bench", "--database-url", "postgres://u:hunter2@h:port/db"}, "bench --database-url '[unparsable URL]'"},
		{"Redis password, separate", []string{"bench", "--redis-url", "redis://:hunter2@h:6379/0"}, "bench --redis-url redis://:xxxxx@h:6379/0"},
		{"Redis password, with =", []string{"bench", "-redis-url=redis://u:hunter2@h/1"}, "bench -redis-url=redis://u:xxxxx@h/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := commandLine(tt.args)
			if got != tt.want {
				t.Errorf("commandLine(%q)\n got %s\nwant %s", tt.args, got, tt.want)
			}
			if strings.Contains(got, "hunter2") {
				t.Errorf("the password is shown: %s", got)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/keycache"
	"github.com/keyward/keyward/redis"
)

// TestEnvironmentOnlyWhenUsed: a flag on the command line wins over its
// environment variable, so a bad value there is an error only when no
// flag overrides it, and the error names the variable.
func TestEnvironmentOnlyWhenUsed(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr []string // named in the usage error; none: no error
		check   func(t *testing.T, c ServeConfig)
	}{
		{
			name: "bad duration, flag given",
			args: []string{"--cache-ttl", "10s"},
			env:  map[string]string{"KEYWARD_CACHE_TTL": "bad"},
			check: func(t *testing.T, c ServeConfig) {
				if c.CacheTTL != 10*time.Second {
					t.Errorf("--cache-ttl %v, want 10s", c.CacheTTL)
				}
			},
		},
		{
			name: "bad duration, flag given with =",
			args: []string{"--cache-ttl=10s"},
			env:  map[string]string{"KEYWARD_CACHE_TTL": "bad"},
		},
		{
			name:    "bad duration, no flag",
			env:     map[string]string{"KEYWARD_CACHE_TTL": "bad"},
			wantErr: []string{"KEYWARD_CACHE_TTL", "--cache-ttl"},
		},
		{
			name: "bad integer, flag given",
			args: []string{"--cache-size", "5"},
			env:  map[string]string{"KEYWARD_CACHE_SIZE": "lots"},
			check: func(t *testing.T, c ServeConfig) {
				if c.CacheSize != 5 {
					t.Errorf("--cache-size %d, want 5", c.CacheSize)
				}
			},
		},
		{
			name:    "two bad values, each named",
			env:     map[string]string{"KEYWARD_CACHE_SIZE": "lots", "KEYWARD_SHUTDOWN_TIMEOUT": "soon"},
			wantErr: []string{"KEYWARD_CACHE_SIZE", "KEYWARD_SHUTDOWN_TIMEOUT"},
		},
		{
			name: "good value, no flag",
			env:  map[string]string{"KEYWARD_CACHE_TTL": "7s", "KEYWARD_ADDR": "127.0.0.1:9"},
			check: func(t *testing.T, c ServeConfig) {
				if c.CacheTTL != 7*time.Second || c.Addr != "127.0.0.1:9" {
					t.Errorf("--cache-ttl %v --addr %s, want 7s 127.0.0.1:9", c.CacheTTL, c.Addr)
				}
			},
		},
		{
			name: "flag wins over a good value",
			args: []string{"--cache-ttl", "9s"},
			env:  map[string]string{"KEYWARD_CACHE_TTL": "7s"},
			check: func(t *testing.T, c ServeConfig) {
				if c.CacheTTL != 9*time.Second {
					t.Errorf("--cache-ttl %v, want 9s", c.CacheTTL)
				}
			},
		},
		{
			name: "database URL from the environment",
			env:  map[string]string{"KEYWARD_DATABASE_URL": "postgres://h/db"},
			check: func(t *testing.T, c ServeConfig) {
				if c.DB.URL != "postgres://h/db" || !c.DB.URLFromEnv {
					t.Errorf("DB = %+v, want the URL, from the environment", c.DB)
				}
			},
		},
		{
			name: "Redis settings from the environment",
			env: map[string]string{
				"KEYWARD_REDIS_URL": "redis://:pw@cache:6379/2", "KEYWARD_REDIS_FAILURE_MODE": "closed",
				"KEYWARD_REDIS_TIMEOUT": "250ms", "KEYWARD_REDIS_KEY_PREFIX": "staging:rl:",
			},
			check: func(t *testing.T, c ServeConfig) {
				want := RedisConfig{URL: "redis://:pw@cache:6379/2", FailureMode: "closed", Timeout: 250 * time.Millisecond, KeyPrefix: "staging:rl:"}
				if c.Redis != want {
					t.Errorf("Redis = %+v, want %+v", c.Redis, want)
				}
			},
		},
		{
			name: "Redis URL from the flag",
			args: []string{"--redis-url", "redis://flag:6379", "--redis-failure-mode", "closed"},
			env:  map[string]string{"KEYWARD_REDIS_URL": "redis://env:6379", "KEYWARD_REDIS_FAILURE_MODE": "open"},
			check: func(t *testing.T, c ServeConfig) {
				if c.Redis.URL != "redis://flag:6379" || c.Redis.FailureMode != "closed" {
					t.Errorf("Redis = %+v, want the flags' values", c.Redis)
				}
			},
		},
		{
			name:    "bad Redis timeout, no flag",
			env:     map[string]string{"KEYWARD_REDIS_TIMEOUT": "fast"},
			wantErr: []string{"KEYWARD_REDIS_TIMEOUT", "--redis-timeout"},
		},
		{
			name: "usage retention from the environment",
			env:  map[string]string{"KEYWARD_USAGE_RETENTION": "48h"},
			check: func(t *testing.T, c ServeConfig) {
				if c.UsageRetention != 48*time.Hour {
					t.Errorf("--usage-retention %v, want 48h", c.UsageRetention)
				}
			},
		},
		{
			name: "usage retention from the flag",
			args: []string{"--usage-retention", "2160h"},
			env:  map[string]string{"KEYWARD_USAGE_RETENTION": "48h"},
			check: func(t *testing.T, c ServeConfig) {
				if c.UsageRetention != 90*24*time.Hour {
					t.Errorf("--usage-retention %v, want 2160h", c.UsageRetention)
				}
			},
		},
		{
			name:    "bad usage retention, no flag",
			env:     map[string]string{"KEYWARD_USAGE_RETENTION": "a month"},
			wantErr: []string{"KEYWARD_USAGE_RETENTION", "--usage-retention"},
		},
		{
			name: "database URL from the flag",
			args: []string{"--database-url", "postgres://flag/db"},
			env:  map[string]string{"KEYWARD_DATABASE_URL": "postgres://env/db"},
			check: func(t *testing.T, c ServeConfig) {
				if c.DB.URL != "postgres://flag/db" || c.DB.URLFromEnv {
					t.Errorf("DB = %+v, want the flag's URL, not from the environment", c.DB)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMain(io.Discard, io.Discard)
			err := m.ParseFlags(tt.args, env(tt.env))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("ParseFlags: %v", err)
				}
				if tt.check != nil {
					tt.check(t, m.Config)
				}
				return
			}
			if !errors.As(err, new(usageError)) {
				t.Fatalf("ParseFlags: %v, want a usage error", err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

// TestEnvironmentOfOtherCommands: a variable that is not one of a
// command's settings does not concern it, however bad.
func TestEnvironmentOfOtherCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keyward.db")
	getenv := env(map[string]string{"KEYWARD_SHUTDOWN_TIMEOUT": "soon", "KEYWARD_CACHE_SIZE": "lots"})
	if err := run(context.Background(), []string{"migrate", "--db", db}, getenv, nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("migrate with serve's variables set badly: %v", err)
	}
}

// TestHelpShowsNoEnvironmentValue: help shows each flag's default, not the
// value its variable holds, which may be a URL with a password.
func TestHelpShowsNoEnvironmentValue(t *testing.T) {
	const password = "pw-in-the-environment"
	var out bytes.Buffer
	err := run(context.Background(), []string{"serve", "--help"}, env(map[string]string{
		"KEYWARD_DATABASE_URL": "postgres://keyward:" + password + "@db.internal/keyward",
		"KEYWARD_REDIS_URL":    "redis://:" + password + "@cache.internal:6379/0",
	}), nil, &out, io.Discard)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve --help: %v", err)
	}
	for _, v := range []string{"KEYWARD_DATABASE_URL", "KEYWARD_REDIS_URL"} {
		if !strings.Contains(out.String(), v) {
			t.Fatalf("help lacks %s:\n%s", v, out.String())
		}
	}
	if strings.Contains(out.String(), password) {
		t.Errorf("help shows the password from the environment:\n%s", out.String())
	}
}

// TestServeDefaults: the defaults written in ServeConfig's tags are those
// of the packages that use them, so that --help tells the truth.
func TestServeDefaults(t *testing.T) {
	c := DefaultServeConfig()
	tests := []struct {
		flag      string
		got, want any
	}{
		{"--cache-size", c.CacheSize, keycache.DefaultSize},
		{"--cache-ttl", c.CacheTTL, keycache.DefaultTTL},
		{"--last-used-interval", c.LastUsedInterval, keyward.DefaultLastUsedInterval},
		{"--staleness-bound", c.StalenessBound, keycache.DefaultStalenessBound},
		{"--db-read-timeout", c.DBReadTimeout, keyward.DefaultLookupTimeout},
		{"--db-write-timeout", c.DBWriteTimeout, keyward.DefaultWriteTimeout},
		{"--deleted-key-retention", c.Retention, keyward.DefaultDeletedKeyRetention},
		{"--audit-retention", c.AuditRetention, keyward.DefaultAuditRetention},
		{"--usage-retention", c.UsageRetention, keyward.DefaultUsageRetention},
		{"--max-unknown-lookups", c.MaxUnknownLookups, keycache.DefaultUnknownLookups},
		{"--failure-burst", c.FailureBurst, httpapi.DefaultFailureBurst},
		{"--failure-refill", c.FailureRefill, httpapi.DefaultFailureRefill},
		{"--failure-hold", c.FailureHold, httpapi.DefaultHold},
		{"--db", c.DB.Path, "keyward.db"},
		{"--addr", c.Addr, "127.0.0.1:8080"},
		{"--redis-url", c.Redis.URL, ""},
		{"--redis-failure-mode", c.Redis.FailureMode, string(redis.DefaultFailureMode)},
		{"--redis-timeout", c.Redis.Timeout, redis.DefaultTimeout},
		{"--redis-key-prefix", c.Redis.KeyPrefix, redis.DefaultKeyPrefix},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s defaults to %v, want %v", tt.flag, tt.got, tt.want)
		}
	}
}

// A retention must be positive: zero would prune everything at once.
func TestServeRefusesRetentionNotPositive(t *testing.T) {
	for _, flag := range []string{"--usage-retention", "--audit-retention", "--deleted-key-retention"} {
		for _, v := range []string{"0s", "-1h"} {
			m := NewMain(io.Discard, io.Discard)
			err := m.ParseFlags([]string{flag, v}, env(nil))
			if err == nil {
				err = m.Config.validate()
			}
			if !errors.As(err, new(usageError)) || !strings.Contains(fmt.Sprint(err), flag) {
				t.Errorf("%s %s: %v, want a usage error naming the flag", flag, v, err)
			}
		}
	}
}

// TestRegisterRefusesBadTags: a setting of a type no flag parses, or with
// a default that does not parse, stops the program at once rather than
// behave oddly later.
func TestRegisterRefusesBadTags(t *testing.T) {
	tests := []struct {
		name string
		cfg  any
	}{
		{"unsupported type", &struct {
			Ratio float64 `flag:"ratio"`
		}{}},
		{"bad duration default", &struct {
			Wait time.Duration `flag:"wait" default:"soon"`
		}{}},
		{"bad integer default", &struct {
			N int `flag:"n" default:"many"`
		}{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("register accepted it")
				}
			}()
			newCommand("test", "").register(tt.cfg)
		})
	}
}

// TestBooleanSettings: a boolean flag takes no value of its own, so the
// argument after it stays an argument, and its variable must hold a
// boolean. No command has one yet; the first must not change how
// arguments are split.
func TestBooleanSettings(t *testing.T) {
	type config struct {
		DryRun bool   `flag:"dry-run" usage:"change nothing"`
		Name   string `flag:"name" usage:"a name"`
	}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		want     config
		wantArgs []string
		wantErr  string // in the usage error; "" for none
	}{
		{"flag before the argument", []string{"--dry-run", "KEY", "--name", "n"}, nil, config{true, "n"}, []string{"KEY"}, ""},
		{"flag with a value", []string{"KEY", "--dry-run=false"}, map[string]string{"KEYWARD_DRY_RUN": "true"}, config{false, ""}, []string{"KEY"}, ""},
		{"from the environment", []string{"KEY"}, map[string]string{"KEYWARD_DRY_RUN": "1"}, config{true, ""}, []string{"KEY"}, ""},
		{"bad environment value", []string{"KEY"}, map[string]string{"KEYWARD_DRY_RUN": "maybe"}, config{}, nil, "KEYWARD_DRY_RUN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c config
			cmd := newCommand("test", "", "KEY")
			cmd.register(&c)
			args, err := cmd.parse(tt.args, env(tt.env), io.Discard, io.Discard)
			if tt.wantErr != "" {
				if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse: %v, want a usage error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if c != tt.want || strings.Join(args, " ") != strings.Join(tt.wantArgs, " ") {
				t.Errorf("parse gave %+v and arguments %q, want %+v and %q", c, args, tt.want, tt.wantArgs)
			}
		})
	}
}

// TestOperationSettings: a setting tagged env:"-" is read from the
// command line only (a KEYWARD_YES left in a shell must not confirm every
// later delete), its help names no variable, and given tells the command
// line from the environment. A stringList is repeated or comma-separated.
func TestOperationSettings(t *testing.T) {
	type config struct {
		Yes   bool       `flag:"yes" env:"-" usage:"do it"`
		Perms stringList `flag:"permissions" env:"-" usage:"permissions"`
		URL   string     `flag:"url" usage:"where"`
	}
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantYes   bool
		wantPerms string
		wantURL   string
		givenURL  bool
	}{
		{"environment ignored", nil, map[string]string{"KEYWARD_YES": "true", "KEYWARD_PERMISSIONS": "read"}, false, "", "", false},
		{"flags", []string{"--yes", "--permissions", "read, write", "--permissions=manage"}, nil, true, "read,write,manage", "", false},
		{"an ordinary setting still reads its variable", nil, map[string]string{"KEYWARD_URL": "http://x"}, false, "", "http://x", false},
		{"given only on the command line", []string{"--url", "http://y"}, map[string]string{"KEYWARD_URL": "http://x"}, false, "", "http://y", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c config
			cmd := newCommand("test", "")
			cmd.register(&c)
			if _, err := cmd.parse(tt.args, env(tt.env), io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			if c.Yes != tt.wantYes || c.Perms.String() != tt.wantPerms || c.URL != tt.wantURL || cmd.given("url") != tt.givenURL {
				t.Errorf("got yes=%v permissions=%q url=%q given(url)=%v", c.Yes, c.Perms.String(), c.URL, cmd.given("url"))
			}
		})
	}
	var c config
	cmd := newCommand("test", "")
	cmd.register(&c)
	var help bytes.Buffer
	if _, err := cmd.parse([]string{"--help"}, env(nil), &help, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	if strings.Contains(help.String(), "KEYWARD_YES") || strings.Contains(help.String(), "KEYWARD_PERMISSIONS") || !strings.Contains(help.String(), "KEYWARD_URL") {
		t.Errorf("help:\n%s", help.String())
	}
}

// --memory-limit: auto follows the cache size unless GOMEMLIMIT is set;
// sizes take binary and decimal units; nonsense is a usage error.
func TestMemoryLimit(t *testing.T) {
	none := func(string) string { return "" }
	withEnv := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	}
	for _, tc := range []struct {
		value  string
		cache  int
		getenv func(string) string
		want   int64
	}{
		{"auto", 100_000, none, 128 << 20},
		{"auto", 1_000_000, none, 48<<20 + 200_000_000},
		{"auto", 1_000_000, withEnv, 0},
		{"off", 1, none, math.MaxInt64},
		{"512MiB", 1, none, 512 << 20},
		{"2GB", 1, none, 2e9},
		{"268435456", 1, none, 1 << 28},
	} {
		c := DefaultServeConfig()
		c.MemoryLimit, c.CacheSize = tc.value, tc.cache
		got, err := c.memoryLimit(tc.getenv)
		if err != nil || got != tc.want {
			t.Errorf("--memory-limit %s with --cache-size %d: %d, %v; want %d", tc.value, tc.cache, got, err, tc.want)
		}
	}
	for _, bad := range []string{"1MiB", "lots", "12TB", "-5MiB", "5 MiBs", "99999999999999999999"} {
		c := DefaultServeConfig()
		c.MemoryLimit = bad
		if _, err := c.memoryLimit(none); err == nil {
			t.Errorf("--memory-limit %q was taken", bad)
		}
		if err := c.validate(); err == nil {
			t.Errorf("validate took --memory-limit %q", bad)
		}
	}
}

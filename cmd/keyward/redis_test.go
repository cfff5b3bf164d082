package main

import (
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/redistest"
	"github.com/keyward/keyward/redis"
)

// TestServeWithRedis: with --redis-url, the service counts rate limits in
// Redis, says so at start, and closes the limiter with the rest.
func TestServeWithRedis(t *testing.T) {
	url := redistest.URL(t)
	s := startServe(t, filepath.Join(t.TempDir(), "keyward.db"),
		"--redis-url", url, "--redis-key-prefix", redistest.Prefix(t, url))
	if _, ok := s.main.service.svc.RateLimiter.(*redis.Limiter); !ok {
		t.Fatalf("the service's rate limiter is a %T, want the Redis limiter", s.main.service.svc.RateLimiter)
	}
	if !strings.Contains(s.stderr.String(), `"msg":"rate limits are shared through Redis"`) {
		t.Errorf("no word of Redis at start:\n%s", s.stderr.String())
	}
	if err := s.stop(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if s.main.limiter != nil {
		t.Error("Close left the limiter open")
	}
}

// TestServeWithoutRedis: without a Redis URL, rate limits are counted in
// memory, as the service does by default.
func TestServeWithoutRedis(t *testing.T) {
	s := startServe(t, filepath.Join(t.TempDir(), "keyward.db"))
	if _, ok := s.main.service.svc.RateLimiter.(*redis.Limiter); ok || s.main.limiter != nil {
		t.Fatal("the Redis limiter is in use without --redis-url")
	}
	if log := s.stderr.String(); strings.Contains(log, "shared through Redis") || strings.Contains(log, "Redis does not answer") {
		t.Errorf("Redis mentioned without --redis-url:\n%s", s.stderr.String())
	}
}

// TestServeRedisDown: Redis not answering at start does not stop serve,
// in either failure mode; serve warns, without the URL's password.
func TestServeRedisDown(t *testing.T) {
	const password = "s3cret-of-redis"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "redis://:" + password + "@" + ln.Addr().String() + "/0"
	ln.Close()
	for _, mode := range []string{"open", "closed"} {
		t.Run(mode, func(t *testing.T) {
			s := startServe(t, filepath.Join(t.TempDir(), "keyward.db"),
				"--redis-url", dead, "--redis-failure-mode", mode)
			var warned bool
			for _, r := range logRecords(t, s.stderr.String()) {
				if msg, _ := r["msg"].(string); strings.HasPrefix(msg, "Redis does not answer") {
					warned = r["level"] == "WARN" && r["failure_mode"] == mode
					if r["redis"] != strings.Replace(dead, password, "xxxxx", 1) {
						t.Errorf("Redis named as %v", r["redis"])
					}
				}
			}
			if !warned {
				t.Errorf("no warning that Redis does not answer, naming the mode:\n%s", s.stderr.String())
			}
			if err := s.stop(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if strings.Contains(s.stderr.String(), password) {
				t.Errorf("the log shows Redis's password:\n%s", s.stderr.String())
			}
		})
	}
}

// TestRedisURLRefusals: a Redis URL that cannot work stops serve with a
// usage error that names the flag and not the password.
func TestRedisURLRefusals(t *testing.T) {
	const password = "s3cret-of-redis"
	for _, u := range []string{
		"http://:" + password + "@cache:6379/0",
		"redis://:" + password + "@cache:port/0",
		"redis://:" + password + "@cache:6379/zero",
		"redis://:" + password + "@cache:6379/0?colour=blue",
		"redis://:" + password + "@cache:6379/0?dial_timeout=" + password,
	} {
		m := NewMain(io.Discard, io.Discard)
		m.Config.Addr = "127.0.0.1:0"
		m.Config.DB.Path = filepath.Join(t.TempDir(), "keyward.db")
		m.Config.Redis.URL = u
		err := m.Run(t.Context())
		if err == nil {
			m.Close()
			t.Errorf("%s: Run succeeded", strings.Replace(u, password, "xxxxx", 1))
			continue
		}
		if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "--redis-url") {
			t.Errorf("Run: %v, want a usage error naming --redis-url", err)
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

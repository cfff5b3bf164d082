// Package redistest gives tests the Redis server to run against, and a key
// prefix of their own on it, so that tests (and packages tested in
// parallel, and other runs on the same machine) share one server without
// seeing each other's counters.
//
// The server is the one at $KEYWARD_TEST_REDIS_URL or, when that is unset,
// at DefaultURL. A test that needs Redis is skipped when the variable is
// unset and nothing answers at DefaultURL, so that `go test ./...` passes
// on a machine without Redis; it fails when the variable is set and the
// server does not answer, so that CI, which sets it, cannot pass by
// skipping. (As package pgtest does for PostgreSQL.)
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// EnvURL names the environment variable that holds the URL of the test
// server, a redis:// URL.
const EnvURL = "KEYWARD_TEST_REDIS_URL"

// DefaultURL is where the tests look for a server when EnvURL is unset.
const DefaultURL = "redis://127.0.0.1:6379/0"

// PrefixStart starts every prefix Prefix returns.
const PrefixStart = "kwtest:"

const probeTimeout = 5 * time.Second

// URL returns the URL of the test server. It skips the test when EnvURL
// is unset and nothing answers at DefaultURL, and fails it when EnvURL is
// set and the server does not answer.
func URL(t testing.TB) string {
	t.Helper()
	env, set := os.LookupEnv(EnvURL)
	if !set || env == "" {
		if err := reachable(DefaultURL); err != nil {
			t.Skipf("Redis not reachable at %s (%v); set %s to run these tests", DefaultURL, err, EnvURL)
		}
		return DefaultURL
	}
	u, err := url.Parse(env)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		// Not err itself: it would show the URL, password and all.
		t.Fatalf("%s is not a redis:// URL", EnvURL)
	}
	if err := reachable(env); err != nil {
		t.Fatalf("Redis not reachable at %s (from %s): %v", u.Redacted(), EnvURL, err)
	}
	return env
}

// Prefix returns a key prefix no other test uses, PrefixStart and 16
// random hex digits and a colon, and deletes every key under it from the
// server at rawURL when the test and the cleanups registered after this
// call have ended.
func Prefix(t testing.TB, rawURL string) string {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	prefix := PrefixStart + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		opts, err := goredis.ParseURL(rawURL)
		if err != nil {
			t.Errorf("redistest: %s does not parse", EnvURL)
			return
		}
		c := goredis.NewClient(opts)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := c.Del(ctx, iter.Val()).Err(); err != nil {
				t.Errorf("redistest: delete %s: %v", iter.Val(), err)
				return
			}
		}
		if err := iter.Err(); err != nil {
			t.Errorf("redistest: scan %s*: %v", prefix, err)
		}
	})
	return prefix
}

// probes remembers, for each URL, whether the server answered, so that a
// test run asks once rather than once per test.
var probes sync.Map // URL string -> func() error

func reachable(rawURL string) error {
	probe, _ := probes.LoadOrStore(rawURL, sync.OnceValue(func() error {
		opts, err := goredis.ParseURL(rawURL)
		if err != nil {
			return err
		}
		opts.DialerRetries = 1
		c := goredis.NewClient(opts)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		return c.Ping(ctx).Err()
	}))
	return probe.(func() error)()
}

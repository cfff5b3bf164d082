package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/keycache"
	"github.com/keyward/keyward/sqlite"
)

// BenchmarkVerify measures what Keyward adds to net/http for a hot
// verification: the middleware, the handler, the cache hit and the use
// recorded, wired as keyward serve wires them, logging at info level. The
// HTTP exchange itself (parsing, the socket) is not in it; the benchmark
// command (go run ./bench) measures that, against a bare server.
func BenchmarkVerify(b *testing.B) { benchmarkVerify(b, false, nil) }

// BenchmarkVerifyRateLimited is BenchmarkVerify of a key with a rate
// limit, counted in memory, that it never reaches.
func BenchmarkVerifyRateLimited(b *testing.B) {
	benchmarkVerify(b, false, []keyward.RateLimit{{Name: "requests", Limit: 1_000_000_000, Duration: time.Hour}})
}

// BenchmarkVerifyThrottledAddress is BenchmarkVerify from a client
// address that the failure throttle has throttled: a platform's backend
// whose users sent made-up keys, verifying a real one.
func BenchmarkVerifyThrottledAddress(b *testing.B) { benchmarkVerify(b, true, nil) }

func benchmarkVerify(b *testing.B, throttled bool, limits []keyward.RateLimit) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "keyward.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	// Trusted throughout, as a cache whose feed confirms it is: the
	// benchmark measures the hit.
	cache := keycache.New(db, keycache.Options{Unshared: true, Members: true})
	if err := cache.LoadMembers(ctx); err != nil {
		b.Fatal(err)
	}
	svc := keyward.NewService(cache)
	svc.LastUsed = keyward.NewLastUsedRecorder(db)
	_, root, _, err := svc.Bootstrap(ctx)
	if err != nil {
		b.Fatal(err)
	}
	caller, err := svc.Authenticate(ctx, root.Reveal())
	if err != nil {
		b.Fatal(err)
	}
	_, secret, err := svc.CreateKey(ctx, caller, "acme", keyward.NewKey{Name: "bench", Permissions: []keyward.Permission{keyward.PermRead, keyward.PermWrite}, RateLimits: limits})
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	// With the failure throttle, as serve runs: with no address failing,
	// it costs a hot verification one atomic load.
	h := httpapi.NewHandler(logger, svc, db, httpapi.WithFailureThrottle(httpapi.NewFailureThrottle(httpapi.FailureThrottleOptions{Hold: -1, Refill: time.Hour})))
	body := `{"key":"` + secret.Reveal() + `","permissions":["read"]}`
	if throttled {
		// httptest's requests all come from one address: fail from it
		// until it is throttled.
		for status := 0; status != http.StatusTooManyRequests; {
			r := httptest.NewRequest("POST", "/verify", strings.NewReader(`{"key":"`+keyward.NewSecret().Reveal()+`"}`))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			status = w.Code
		}
	}

	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("POST", "/verify", nil)
		r.Header.Set("Content-Type", "application/json")
		body := &rewindReader{b: []byte(body)}
		r.Body = body
		w := &benchWriter{header: make(http.Header)}
		for pb.Next() {
			body.i = 0
			clear(w.header)
			w.status, w.body = 0, w.body[:0]
			h.ServeHTTP(w, r)
			if w.status != http.StatusOK || !bytes.Contains(w.body, []byte(`"VALID"`)) {
				b.Errorf("status %d: %s", w.status, w.body)
				return
			}
		}
	})
}

// rewindReader is a request body read again on every iteration.
type rewindReader struct {
	b []byte
	i int
}

func (r *rewindReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

func (r *rewindReader) Close() error { return nil }

// benchWriter is a ResponseWriter that keeps the last response and costs
// nothing of its own, as net/http's pools its buffers.
type benchWriter struct {
	header http.Header
	status int
	body   []byte
}

func (w *benchWriter) Header() http.Header { return w.header }
func (w *benchWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *benchWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

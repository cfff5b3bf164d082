package client_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/keyward/keyward/internal/syncbuf"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/openapitest"
	"github.com/keyward/keyward/keycache"
	"github.com/keyward/keyward/sqlite"
)

// The package's tests run against a real Keyward: the HTTP API of
// httpapi on a SQLite file, wired as `keyward serve` wires it (the
// verification cache in front of the store, trusted as the invalidation
// feed confirms it). The package itself imports none of this.

// TestMain stops the server the examples share once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if exampleServer != nil {
		exampleServer.close()
	}
	os.Exit(code)
}

// syncBuffer is a log sink safe for the goroutines that write to it.
type syncBuffer = syncbuf.Buffer

// server is one running Keyward on a fresh SQLite file.
type server struct {
	URL   string
	Root  string // the bootstrap root key's secret
	svc   *keyward.Service
	cache *keycache.Store
	http  *httptest.Server
	logs  *syncBuffer
	close func()
}

// serverConfig changes the server a test starts.
type serverConfig struct {
	// throttle, if not nil, is Keyward's failure throttle.
	throttle *httpapi.FailureThrottle
	// front, if not nil, is put in front of the API's handler.
	front func(api http.Handler) http.Handler
}

// startServer starts a Keyward whose database lives in dir. It needs no
// *testing.T, so that the examples can share one.
func startServer(dir string, cfg serverConfig) (*server, error) {
	ctx := context.Background()
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "keyward.db"))
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		closeAll()
		return nil, err
	}
	cache := keycache.New(db, keycache.Options{Members: true})
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan error, 1)
	go func() { watchDone <- db.WatchInvalidations(watchCtx, cache, 10*time.Millisecond) }()
	closers = append(closers, func() { stopWatch(); <-watchDone })
	for deadline := time.Now().Add(10 * time.Second); !cache.Trusted() || !cache.Stats().MembersComplete; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			closeAll()
			return nil, errors.New("the invalidation feed did not confirm within 10s")
		}
	}
	closers = append(closers, func() { cache.Close() })
	svc := keyward.NewService(cache)
	svc.LastUsed = keyward.NewLastUsedRecorder(db)
	_, root, ok, err := svc.Bootstrap(ctx)
	if err != nil || !ok {
		closeAll()
		return nil, fmt.Errorf("bootstrap: created=%v err=%v", ok, err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var opts []httpapi.Option
	if cfg.throttle != nil {
		opts = append(opts, httpapi.WithFailureThrottle(cfg.throttle))
	}
	var h http.Handler = httpapi.NewHandler(logger, svc, db, opts...)
	if cfg.front != nil {
		h = cfg.front(h)
	}
	srv := httptest.NewServer(h)
	closers = append(closers, srv.Close)
	return &server{URL: srv.URL, Root: root.Reveal(), svc: svc, cache: cache, http: srv, logs: logs, close: closeAll}, nil
}

// newServer starts a Keyward for t, stopped when t ends, and fails t if
// a secret it handed out reached the server's log.
func newServer(t *testing.T, cfg serverConfig) *server {
	t.Helper()
	s, err := startServer(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	return s
}

// settle waits until the invalidation feed has confirmed a time after
// now: every change made so far has reached the verification cache.
func (s *server) settle(t *testing.T) {
	t.Helper()
	now := time.Now()
	for deadline := now.Add(10 * time.Second); !s.cache.Confirmed().After(now); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the invalidation feed did not confirm within 10s")
		}
	}
}

// client returns a client of s holding key (the root key if empty), whose
// every answer is checked against openapi.yaml. Retries wait for nothing:
// each wait is recorded in waits instead, if not nil.
func (s *server) client(t *testing.T, key string, opts ...client.Option) *client.Client {
	t.Helper()
	if key == "" {
		key = s.Root
	}
	hc := &http.Client{Transport: openapitest.NewTransport(t, nil)}
	all := append([]client.Option{client.WithBaseURL(s.URL), client.WithAPIKey(key), client.WithHTTPClient(hc)}, opts...)
	c, err := client.New(all...)
	if err != nil {
		t.Fatal(err)
	}
	client.SetSleep(c, func(ctx context.Context, d time.Duration) error { return ctx.Err() })
	return c
}

// recorder is a RoundTripper that records each request it sends (method,
// path and the headers that matter) and counts them by path.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, path    string
	idempotencyKey  string
	ifMatch         string
	contentType     string
	authorization   string
	status          int
	transportFailed bool
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	rec := recorded{
		method: req.Method, path: req.URL.Path,
		idempotencyKey: req.Header.Get("Idempotency-Key"), ifMatch: req.Header.Get("If-Match"),
		contentType: req.Header.Get("Content-Type"), authorization: req.Header.Get("Authorization"),
	}
	if err != nil {
		rec.transportFailed = true
	} else {
		rec.status = resp.StatusCode
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, rec)
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

// recordingClient is s.client with its requests recorded.
func (s *server) recordingClient(t *testing.T, key string, opts ...client.Option) (*client.Client, *recorder) {
	t.Helper()
	rec := &recorder{base: openapitest.NewTransport(t, nil)}
	return s.client(t, key, append([]client.Option{client.WithHTTPClient(&http.Client{Transport: rec})}, opts...)...), rec
}

// mustAPIError returns the *client.Error in err, failing t if there is
// none or its status is not want.
func mustAPIError(t *testing.T, err error, want int) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is no *client.Error", err, err)
	}
	if e.Status != want {
		t.Fatalf("status %d (%v), want %d", e.Status, e, want)
	}
	return e
}

// hint shows a secret safely in a failure.
func hint(secret string) string {
	if len(secret) < 11 {
		return "(not a secret)"
	}
	return secret[:7] + "..." + secret[len(secret)-4:]
}

// noSecretIn fails t if s holds any of secrets.
func noSecretIn(t *testing.T, what, s string, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if secret != "" && strings.Contains(s, secret) {
			t.Errorf("%s holds a secret (%s): %q", what, hint(secret), strings.ReplaceAll(s, secret, hint(secret)))
		}
	}
}

package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/keyward/keyward/internal/syncbuf"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/openapitest"
	"github.com/keyward/keyward/keycache"
	"github.com/keyward/keyward/sqlite"
)

// syncBuffer is a log sink safe for the goroutines that write to it.
type syncBuffer = syncbuf.Buffer

// env is one running API on a fresh SQLite file.
type env struct {
	t        *testing.T
	url      string
	root     string // the bootstrap root key's secret
	client   *http.Client
	db       *sqlite.DB
	cache    *keycache.Store
	lastUsed *keyward.LastUsedRecorder
	svc      *keyward.Service
	logs     *syncBuffer
	secrets  []string     // every secret the test saw created
	handler  http.Handler // what the server serves
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvAt is newEnv with the service's clock the given fake one, set
// before the server starts.
func newEnvAt(t *testing.T, clock *fakeClock) *env {
	t.Helper()
	return newEnvWith(t, func(svc *keyward.Service) { svc.Now = clock.Now })
}

// fakeClock is a clock a test moves; safe for the server's goroutines.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.Set(t)
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// newEnvWith is newEnv with configure, if not nil, applied to the service
// before anything uses it.
func newEnvWith(t *testing.T, configure func(svc *keyward.Service)) *env {
	t.Helper()
	return newEnvOpts(t, configure)
}

// newEnvOpts is newEnvWith with the handler's options.
func newEnvOpts(t *testing.T, configure func(svc *keyward.Service), opts ...httpapi.Option) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Wired as keyward serve wires it: the verification cache in front of
	// the store, trusting what it holds as the store's invalidation feed
	// confirms it, and uses recorded for last_used_at.
	cache := keycache.New(db, keycache.Options{Members: true})
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan error, 1)
	go func() { watchDone <- db.WatchInvalidations(watchCtx, cache, 10*time.Millisecond) }()
	t.Cleanup(func() {
		stopWatch()
		if err := <-watchDone; err != nil {
			t.Errorf("WatchInvalidations: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); !cache.Trusted() || !cache.Stats().MembersComplete; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the invalidation feed did not confirm, or the membership set was not loaded, within 10s")
		}
	}
	t.Cleanup(func() { cache.Close() })
	svc := keyward.NewService(cache)
	if configure != nil {
		configure(svc)
	}
	lastUsed := keyward.NewLastUsedRecorder(db)
	svc.LastUsed = lastUsed
	_, root, ok, err := svc.Bootstrap(ctx)
	if err != nil || !ok {
		t.Fatalf("bootstrap: created=%v err=%v", ok, err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	handler := httpapi.NewHandler(logger, svc, db, opts...)
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	e := &env{
		t: t, url: srv.URL, root: root.Reveal(), db: db, cache: cache, lastUsed: lastUsed, svc: svc, logs: logs,
		client: &http.Client{Transport: openapitest.NewTransport(t, nil)}, handler: handler,
	}
	e.secrets = append(e.secrets, e.root)
	t.Cleanup(e.checkNoSecretLogged)
	return e
}

// settle waits until the invalidation feed has confirmed a time after
// now: every change made so far has reached the cache, this server's own
// included (the feed echoes them).
func (e *env) settle() {
	e.t.Helper()
	now := time.Now()
	for deadline := now.Add(10 * time.Second); !e.cache.Confirmed().After(now); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatal("the invalidation feed did not confirm within 10s")
		}
	}
}

// checkNoSecretLogged fails the test if any secret it saw reached the log.
func (e *env) checkNoSecretLogged() {
	logs := e.logs.String()
	for _, s := range e.secrets {
		if strings.Contains(logs, s) {
			e.t.Errorf("a secret (%s) appears in the server log", hint(s))
		}
	}
}

// response is a finished exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem decodes a problem+json body and checks its shape.
func (r response) problem(t *testing.T) problemBody {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json (status %d)", ct, r.status)
	}
	var p problemBody
	r.decode(t, &p)
	if p.Status != r.status || p.Type == "" || p.Title == "" || p.Detail == "" {
		t.Fatalf("problem %+v does not match status %d or lacks a field", p, r.status)
	}
	return p
}

type problemBody struct {
	Type      string               `json:"type"`
	Title     string               `json:"title"`
	Status    int                  `json:"status"`
	Detail    string               `json:"detail"`
	RequestID string               `json:"request_id"`
	Errors    []keyward.FieldError `json:"errors"`
}

// fieldErr returns the reason given for field, or "".
func (p problemBody) fieldErr(field string) string {
	for _, f := range p.Errors {
		if f.Field == field {
			return f.Reason
		}
	}
	return ""
}

type keyBody struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	CreatedAt   string   `json:"created_at"`
	Permissions []string `json:"permissions"`
	OrgID       string   `json:"org_id"`
	Hint        string   `json:"hint"`
	LastUsedAt  *string  `json:"last_used_at"`
	Key         string   `json:"key"`

	ExpiresAt               *string         `json:"expires_at"`
	Enabled                 bool            `json:"enabled"`
	Metadata                json.RawMessage `json:"metadata"`
	UpdatedAt               string          `json:"updated_at"`
	CreatedBy               *string         `json:"created_by"`
	State                   string          `json:"state"`
	DeletedAt               *string         `json:"deleted_at"`
	PreviousSecretExpiresAt *string         `json:"previous_secret_expires_at"`
}

// req sends a request with an optional key (Bearer) and body (a string is
// sent as is, anything else as JSON).
func (e *env) req(method, path, key string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	r, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.client.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// want fails the test unless r has the given status.
func want(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
}

// createKey creates a key in org with the root key and returns it.
func (e *env) createKey(org, name string, perms ...string) keyBody {
	e.t.Helper()
	r := e.req("POST", "/orgs/"+org+"/api_keys", e.root, map[string]any{"name": name, "permissions": perms})
	want(e.t, r, http.StatusCreated)
	var k keyBody
	r.decode(e.t, &k)
	e.secrets = append(e.secrets, k.Key)
	return k
}

// hint is the display hint of a secret, safe to print in a failure.
func hint(secret string) string {
	if len(secret) < 11 {
		return "(not a secret)"
	}
	return secret[:7] + "..." + secret[len(secret)-4:]
}

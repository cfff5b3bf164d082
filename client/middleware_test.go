package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/httpapi"
)

// fakeClock is the middleware cache's clock, moved by the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// platform is a platform's API protected by the middleware, in front of a
// real Keyward whose /verify calls are counted.
type platform struct {
	t        *testing.T
	kw       *server
	front    *faults
	admin    *client.Client // the root key's client, to make keys
	url      string
	served   atomic.Int64 // requests that reached the protected handler
	errs     []error      // what OnError was told
	errsMu   sync.Mutex
	verified chan *client.Verification // what the handler read from the context
}

// newPlatform starts a Keyward (with cfg) and a platform protected by
// Middleware(opts...).
func newPlatform(t *testing.T, cfg serverConfig, opts ...client.MiddlewareOption) *platform {
	t.Helper()
	p := &platform{t: t, front: newFaults(), verified: make(chan *client.Verification, 100)}
	cfg.front = p.front.wrap
	p.kw = newServer(t, cfg)
	p.admin = p.kw.client(t, "")
	verifier := p.kw.client(t, "not-sent")
	p.start(verifier, opts...)
	return p
}

// start serves the protected handler through a middleware on verifier.
func (p *platform) start(verifier *client.Client, opts ...client.MiddlewareOption) {
	opts = append([]client.MiddlewareOption{client.OnError(func(_ *http.Request, err error) {
		p.errsMu.Lock()
		defer p.errsMu.Unlock()
		p.errs = append(p.errs, err)
	})}, opts...)
	protect := client.Middleware(verifier, opts...)
	mux := http.NewServeMux()
	mux.Handle("GET /reports", protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.served.Add(1)
		v, ok := client.VerifiedKey(r.Context())
		if !ok {
			http.Error(w, "no verified key in the context", http.StatusInternalServerError)
			return
		}
		snapshot := *v
		snapshot.Permissions, snapshot.Metadata = slices.Clone(v.Permissions), maps.Clone(v.Metadata)
		p.verified <- &snapshot
		// A handler changing its copy changes no other request's.
		v.Permissions = append(v.Permissions[:0], "tampered")
		if v.Metadata != nil {
			v.Metadata["tampered"] = true
		}
		w.Write([]byte("ok"))
	})))
	srv := httptest.NewServer(mux)
	p.t.Cleanup(srv.Close)
	p.url = srv.URL
}

// key creates a key in org "acme".
func (p *platform) key(in client.KeyCreate) *client.CreatedKey {
	p.t.Helper()
	k, err := p.admin.Org("acme").CreateKey(context.Background(), in)
	if err != nil {
		p.t.Fatal(err)
	}
	return k
}

// reply is the platform's answer to one request.
type reply struct {
	status  int
	header  http.Header
	problem struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
		Code   string `json:"code"`
	}
}

// get sends GET /reports with headers (name, value, ...).
func (p *platform) get(headers ...string) reply {
	p.t.Helper()
	req, err := http.NewRequest("GET", p.url+"/reports", nil)
	if err != nil {
		p.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			p.t.Fatalf("a %d as %q: %s", resp.StatusCode, ct, body)
		}
		if err := json.Unmarshal(body, &r.problem); err != nil {
			p.t.Fatal(err)
		}
		if r.problem.Status != resp.StatusCode || r.problem.Type == "" || r.problem.Title == "" || r.problem.Detail == "" {
			p.t.Fatalf("problem %+v for a %d", r.problem, resp.StatusCode)
		}
	}
	return r
}

func (p *platform) bearer(secret string) reply { return p.get("Authorization", "Bearer "+secret) }

func (p *platform) verifies() int { return p.front.count("POST", "/verify") }

func (p *platform) errors() []error {
	p.errsMu.Lock()
	defer p.errsMu.Unlock()
	return append([]error(nil), p.errs...)
}

func TestMiddlewareAdmitsAValidKey(t *testing.T) {
	p := newPlatform(t, serverConfig{}, client.RequirePermissions("read"))
	k := p.key(client.KeyCreate{Name: "Globex CI", Permissions: []string{"read", "write"}, Metadata: map[string]any{"plan": "pro"}})
	secret := k.Secret.Reveal()
	for _, tc := range []struct {
		name    string
		headers []string
	}{
		{"Authorization: Bearer", []string{"Authorization", "Bearer " + secret}},
		{"lower-case scheme", []string{"Authorization", "bearer " + secret}},
		{"X-API-Key", []string{"X-API-Key", secret}},
		{"both, the same key", []string{"Authorization", "Bearer " + secret, "X-API-Key", secret}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := p.get(tc.headers...)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %+v", r.status, r.problem)
			}
			v := <-p.verified
			if v.KeyID != k.ID || v.OrgID != "acme" || v.Name != "Globex CI" || len(v.Permissions) != 2 || v.Permissions[0] != "read" ||
				v.Metadata["plan"] != "pro" || v.Metadata["tampered"] != nil || v.Code != client.VerifyValid {
				t.Fatalf("the handler saw %+v", v)
			}
			if r.header.Get("RateLimit-Limit") != "" {
				t.Fatal("RateLimit headers for a key without limits")
			}
		})
	}
}

func TestMiddlewareRefusals(t *testing.T) {
	p := newPlatform(t, serverConfig{}, client.RequirePermissions("read"))
	ctx := context.Background()
	good := p.key(client.KeyCreate{Name: "good", Permissions: []string{"read"}})
	writer := p.key(client.KeyCreate{Name: "writer", Permissions: []string{"write"}})
	disabled := p.key(client.KeyCreate{Name: "disabled", Permissions: []string{"read"}})
	if _, err := p.admin.Org("acme").DisableKey(ctx, disabled.ID); err != nil {
		t.Fatal(err)
	}
	deleted := p.key(client.KeyCreate{Name: "deleted", Permissions: []string{"read"}})
	if err := p.admin.Org("acme").DeleteKey(ctx, deleted.ID); err != nil {
		t.Fatal(err)
	}
	p.kw.settle(t)
	long := make([]byte, 2000)
	for i := range long {
		long[i] = 'a'
	}
	for _, tc := range []struct {
		name    string
		headers []string
		status  int
		code    string
	}{
		{"no key", nil, 401, ""},
		{"an empty bearer", []string{"Authorization", "Bearer "}, 401, ""},
		{"another scheme", []string{"Authorization", "Basic " + good.Secret.Reveal()}, 401, ""},
		{"two different keys", []string{"Authorization", "Bearer " + good.Secret.Reveal(), "X-API-Key", writer.Secret.Reveal()}, 401, ""},
		{"a made-up key", []string{"X-API-Key", "kw_0000000000000000000000000000000000000000000000000"}, 401, ""},
		{"a key far too long", []string{"X-API-Key", string(long)}, 401, ""},
		{"a disabled key", []string{"X-API-Key", disabled.Secret.Reveal()}, 401, ""},
		{"a deleted key", []string{"X-API-Key", deleted.Secret.Reveal()}, 401, ""},
		{"a key without the permission", []string{"X-API-Key", writer.Secret.Reveal()}, 403, "INSUFFICIENT_PERMISSIONS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := p.served.Load()
			r := p.get(tc.headers...)
			if r.status != tc.status || r.problem.Code != tc.code {
				t.Fatalf("status %d, code %q; want %d, %q", r.status, r.problem.Code, tc.status, tc.code)
			}
			if tc.status == 401 && r.header.Get("WWW-Authenticate") != "Bearer" {
				t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
			if r.problem.Type != "urn:keyward:problem:"+map[int]string{401: "unauthorized", 403: "forbidden"}[tc.status] {
				t.Fatalf("type %q", r.problem.Type)
			}
			if p.served.Load() != before {
				t.Fatal("the handler was called")
			}
		})
	}
	if len(p.errors()) != 0 {
		t.Fatalf("refusals reported as errors: %v", p.errors())
	}
}

func TestMiddlewareRateLimits(t *testing.T) {
	p := newPlatform(t, serverConfig{})
	limited := p.key(client.KeyCreate{Name: "limited", Permissions: []string{"read"}, RateLimits: []client.RateLimit{
		{Name: "daily", Limit: 2, Duration: 24 * time.Hour},
		{Name: "yearly", Limit: 100, Duration: 31 * 24 * time.Hour},
	}})
	for i, want := range []struct {
		status    int
		remaining string
	}{{200, "1"}, {200, "0"}, {429, "0"}, {429, "0"}} {
		r := p.bearer(limited.Secret.Reveal())
		if r.status != want.status {
			t.Fatalf("request %d: status %d, want %d", i, r.status, want.status)
		}
		// The headers are the daily limit's, the nearest to running out.
		if r.header.Get("RateLimit-Limit") != "2" || r.header.Get("RateLimit-Remaining") != want.remaining {
			t.Fatalf("request %d: RateLimit-Limit %q, RateLimit-Remaining %q", i, r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"))
		}
		reset, err := strconv.Atoi(r.header.Get("RateLimit-Reset"))
		if err != nil || reset < 1 || reset > 86400 {
			t.Fatalf("request %d: RateLimit-Reset %q", i, r.header.Get("RateLimit-Reset"))
		}
		if r.status == 429 {
			if r.problem.Code != "RATE_LIMITED" || r.problem.Type != "urn:keyward:problem:too-many-requests" || r.header.Get("Retry-After") != strconv.Itoa(reset) {
				t.Fatalf("request %d: %+v, Retry-After %q", i, r.problem, r.header.Get("Retry-After"))
			}
		}
	}
	// Each request was verified: a key with limits is never cached.
	if p.verifies() != 4 {
		t.Fatalf("%d verifications for 4 requests", p.verifies())
	}
}

func TestMiddlewareCredits(t *testing.T) {
	p := newPlatform(t, serverConfig{}, client.Cost(2))
	metered := p.key(client.KeyCreate{Name: "metered", Permissions: []string{"read"}, Credits: &client.CreditsInput{Remaining: 5}})
	for i, want := range []int{200, 200, 429, 429} {
		r := p.bearer(metered.Secret.Reveal())
		if r.status != want {
			t.Fatalf("request %d: status %d, want %d", i, r.status, want)
		}
		if want == 429 && r.problem.Code != "USAGE_EXCEEDED" {
			t.Fatalf("request %d: %+v", i, r.problem)
		}
	}
	if p.verifies() != 4 {
		t.Fatalf("%d verifications for 4 requests", p.verifies())
	}
	k, err := p.admin.Org("acme").GetKey(context.Background(), metered.ID)
	if err != nil || k.Credits.Remaining != 1 {
		t.Fatalf("key %+v, %v; want 1 credit left of 5 after two requests of cost 2", k, err)
	}
}

// When Keyward cannot answer, the platform answers 503 and lets nothing
// through.
func TestMiddlewareKeywardUnavailable(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		p := newPlatform(t, serverConfig{})
		k := p.key(client.KeyCreate{Name: "k", Permissions: []string{"read"}})
		p.kw.http.Close()
		r := p.bearer(k.Secret.Reveal())
		if r.status != 503 || r.header.Get("Retry-After") != "1" || r.problem.Type != "urn:keyward:problem:unavailable" || p.served.Load() != 0 {
			t.Fatalf("status %d, Retry-After %q, %+v, served %d", r.status, r.header.Get("Retry-After"), r.problem, p.served.Load())
		}
		errs := p.errors()
		if len(errs) != 1 {
			t.Fatalf("OnError got %v", errs)
		}
		noSecretIn(t, "the error", errs[0].Error(), k.Secret.Reveal())
	})
	t.Run("answering 503", func(t *testing.T) {
		p := newPlatform(t, serverConfig{})
		k := p.key(client.KeyCreate{Name: "k", Permissions: []string{"read"}})
		p.front.add("POST", "/verify", fault{status: 503, retryAfter: "3"})
		r := p.bearer(k.Secret.Reveal())
		if r.status != 503 || r.header.Get("Retry-After") != "3" || p.served.Load() != 0 {
			t.Fatalf("status %d, Retry-After %q, served %d", r.status, r.header.Get("Retry-After"), p.served.Load())
		}
		// Not retried: the caller waits for one verification at most.
		if p.verifies() != 1 {
			t.Fatalf("%d verifications", p.verifies())
		}
		if r := p.bearer(k.Secret.Reveal()); r.status != 200 {
			t.Fatalf("after Keyward is back: %d", r.status)
		}
	})
	t.Run("answering nothing", func(t *testing.T) {
		p := newPlatform(t, serverConfig{}, client.VerifyTimeout(50*time.Millisecond))
		k := p.key(client.KeyCreate{Name: "k", Permissions: []string{"read"}})
		p.front.add("POST", "/verify", fault{hang: true})
		r := p.bearer(k.Secret.Reveal())
		if r.status != 503 || r.header.Get("Retry-After") != "1" || p.served.Load() != 0 {
			t.Fatalf("status %d, Retry-After %q, served %d", r.status, r.header.Get("Retry-After"), p.served.Load())
		}
		if errs := p.errors(); len(errs) != 1 || !errors.Is(errs[0], context.DeadlineExceeded) {
			t.Fatalf("OnError got %v", errs)
		}
	})
	t.Run("refusing the middleware's request", func(t *testing.T) {
		p := newPlatform(t, serverConfig{}, client.RequirePermissions("admin"))
		k := p.key(client.KeyCreate{Name: "k", Permissions: []string{"read"}})
		r := p.bearer(k.Secret.Reveal())
		if r.status != 500 || p.served.Load() != 0 || len(p.errors()) != 1 || client.ErrorCode(p.errors()[0]) != client.CodeInvalid {
			t.Fatalf("status %d, served %d, errors %v", r.status, p.served.Load(), p.errors())
		}
	})
}

// Keyward throttles the platform's address after too many made-up keys:
// the made-up ones get a 429 with Retry-After; real keys still pass.
func TestMiddlewareKeywardThrottle(t *testing.T) {
	throttle := httpapi.NewFailureThrottle(httpapi.FailureThrottleOptions{Burst: 1, Refill: time.Hour, Hold: -1})
	p := newPlatform(t, serverConfig{throttle: throttle})
	k := p.key(client.KeyCreate{Name: "k", Permissions: []string{"read"}})
	const madeUp = "kw_0000000000000000000000000000000000000000000000000"
	if r := p.bearer(madeUp); r.status != 401 {
		t.Fatalf("first made-up key: %d", r.status)
	}
	r := p.bearer(madeUp)
	if r.status != 429 || r.problem.Type != "urn:keyward:problem:too-many-requests" || r.header.Get("Retry-After") == "" {
		t.Fatalf("throttled: status %d, %+v, Retry-After %q", r.status, r.problem, r.header.Get("Retry-After"))
	}
	if r := p.bearer(k.Secret.Reveal()); r.status != 200 {
		t.Fatalf("a real key while throttled: %d", r.status)
	}
	if p.verifies() != 3 {
		t.Fatalf("%d verifications", p.verifies())
	}
}

// The cache reuses a VALID answer for its TTL and no longer: a key deleted
// in Keyward is refused once the TTL has passed since it was verified.
// The clock is the test's, so no wall-clock time decides the outcome.
func TestMiddlewareCacheStaleness(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Now()}
	p := newPlatform(t, serverConfig{}, client.Clock(clock.Now))
	k := p.key(client.KeyCreate{Name: "k", Permissions: []string{"read"}})
	if r := p.bearer(k.Secret.Reveal()); r.status != 200 || p.verifies() != 1 {
		t.Fatalf("status %d after %d verifications", r.status, p.verifies())
	}
	if r := p.bearer(k.Secret.Reveal()); r.status != 200 || p.verifies() != 1 {
		t.Fatalf("a second request: status %d, %d verifications; want it from the cache", r.status, p.verifies())
	}
	if err := p.admin.Org("acme").DeleteKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	p.kw.settle(t)
	// Within the TTL the deleted key still passes: this is the staleness
	// the cache adds.
	clock.Advance(client.DefaultCacheTTL - time.Nanosecond)
	if r := p.bearer(k.Secret.Reveal()); r.status != 200 || p.verifies() != 1 {
		t.Fatalf("within the TTL: status %d, %d verifications", r.status, p.verifies())
	}
	// At the TTL it is asked again, and refused.
	clock.Advance(time.Nanosecond)
	if r := p.bearer(k.Secret.Reveal()); r.status != 401 || p.verifies() != 2 {
		t.Fatalf("at the TTL: status %d, %d verifications", r.status, p.verifies())
	}
	// A refusal is not cached.
	p.bearer(k.Secret.Reveal())
	if p.verifies() != 3 {
		t.Fatalf("%d verifications: a refusal was cached", p.verifies())
	}
}

// Keyward promises a revoked key stops working everywhere within a
// second; the middleware's default adds at most half of that.
func TestDefaultCacheTTLKeepsTheStalenessPromise(t *testing.T) {
	if client.DefaultCacheTTL <= 0 || client.DefaultCacheTTL > time.Second {
		t.Fatalf("DefaultCacheTTL %v: want above 0 and at most a second", client.DefaultCacheTTL)
	}
}

func TestMiddlewareCacheBounds(t *testing.T) {
	t.Run("never past the key's expiry", func(t *testing.T) {
		clock := &fakeClock{t: time.Now()}
		p := newPlatform(t, serverConfig{}, client.Clock(clock.Now), client.CacheTTL(2*time.Hour))
		expires := time.Now().Add(time.Hour)
		k := p.key(client.KeyCreate{Name: "k", Permissions: []string{"read"}, ExpiresAt: &expires})
		p.bearer(k.Secret.Reveal())
		clock.Advance(30 * time.Minute)
		p.bearer(k.Secret.Reveal())
		if p.verifies() != 1 {
			t.Fatalf("%d verifications before the expiry", p.verifies())
		}
		clock.Advance(31 * time.Minute) // past the expiry, within the TTL
		p.bearer(k.Secret.Reveal())
		if p.verifies() != 2 {
			t.Fatalf("%d verifications: a cached answer outlived the key's expiry", p.verifies())
		}
	})
	t.Run("never past a rotated secret's grace", func(t *testing.T) {
		clock := &fakeClock{t: time.Now()}
		p := newPlatform(t, serverConfig{}, client.Clock(clock.Now), client.CacheTTL(2*time.Hour))
		k := p.key(client.KeyCreate{Name: "k", Permissions: []string{"read"}})
		if _, err := p.admin.Org("acme").RotateKey(context.Background(), k.ID, time.Hour); err != nil {
			t.Fatal(err)
		}
		p.bearer(k.Secret.Reveal()) // the previous secret, in its grace period
		clock.Advance(61 * time.Minute)
		p.bearer(k.Secret.Reveal())
		if p.verifies() != 2 {
			t.Fatalf("%d verifications: a cached answer outlived the secret's grace", p.verifies())
		}
	})
	t.Run("bounded in size", func(t *testing.T) {
		for _, tc := range []struct {
			size, verifies int
		}{{1, 6}, {2, 2}} {
			p := newPlatform(t, serverConfig{}, client.CacheSize(tc.size))
			a := p.key(client.KeyCreate{Name: "a", Permissions: []string{"read"}})
			b := p.key(client.KeyCreate{Name: "b", Permissions: []string{"read"}})
			for range 3 {
				p.bearer(a.Secret.Reveal())
				p.bearer(b.Secret.Reveal())
			}
			if p.verifies() != tc.verifies {
				t.Fatalf("size %d: %d verifications for 6 requests of two keys, want %d", tc.size, p.verifies(), tc.verifies)
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		p := newPlatform(t, serverConfig{}, client.CacheTTL(0))
		k := p.key(client.KeyCreate{Name: "k", Permissions: []string{"read"}})
		for range 3 {
			p.bearer(k.Secret.Reveal())
		}
		if p.verifies() != 3 {
			t.Fatalf("%d verifications with the cache off", p.verifies())
		}
	})
	t.Run("a refusal of permission is not cached", func(t *testing.T) {
		p := newPlatform(t, serverConfig{}, client.RequirePermissions("write"))
		k := p.key(client.KeyCreate{Name: "k", Permissions: []string{"read"}})
		for range 2 {
			if r := p.bearer(k.Secret.Reveal()); r.status != 403 {
				t.Fatalf("status %d", r.status)
			}
		}
		if p.verifies() != 2 {
			t.Fatalf("%d verifications", p.verifies())
		}
	})
}

// A request whose caller went away while its key was being verified is
// not let through, and not reported as Keyward's failure.
func TestMiddlewareCallerGone(t *testing.T) {
	p := newPlatform(t, serverConfig{})
	k := p.key(client.KeyCreate{Name: "k", Permissions: []string{"read"}})
	verifier := p.kw.client(t, "")
	protect := client.Middleware(verifier, client.OnError(func(_ *http.Request, err error) { t.Errorf("reported: %v", err) }))
	called := false
	h := protect(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, "GET", "/reports", nil)
	req.Header.Set("X-API-Key", k.Secret.Reveal())
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if called {
		t.Fatal("the handler was called")
	}
}

package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/internal/openapitest"
)

// handlerTransport serves requests with a handler in-process, as if they
// came from remote: the throttle keys on the connection's address.
type handlerTransport struct {
	h      http.Handler
	remote string
}

func (tr handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.RemoteAddr = tr.remote
	rec := httptest.NewRecorder()
	tr.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// from returns e as seen by a client at addr (host:port): its requests
// reach e's handler directly, and its answers are checked against the
// OpenAPI document.
func (e *env) from(addr string) *env {
	c := *e
	c.client = &http.Client{Transport: openapitest.NewTransport(e.t, handlerTransport{h: e.handler, remote: addr})}
	return &c
}

// verifyCode verifies key and returns the response and the outcome's code
// ("" when the answer is not a 200).
func (e *env) verifyCode(key string) (response, string) {
	e.t.Helper()
	r := e.req("POST", "/verify", "", map[string]any{"key": key})
	if r.status != http.StatusOK {
		return r, ""
	}
	var v struct{ Code string }
	r.decode(e.t, &v)
	return r, v.Code
}

// madeUpKey is a well-formed key that no store holds.
func madeUpKey() string { return keyward.NewSecret().Reveal() }

// want429 checks a throttled answer: 429, problem+json of the throttle's
// type, and Retry-After in whole seconds, retryAfter.
func want429(t *testing.T, r response, retryAfter int) {
	t.Helper()
	want(t, r, http.StatusTooManyRequests)
	if p := r.problem(t); p.Type != "urn:keyward:problem:too-many-requests" {
		t.Errorf("problem type %q", p.Type)
	}
	if got := r.header.Get("Retry-After"); got != strconv.Itoa(retryAfter) {
		t.Errorf("Retry-After %q, want %d", got, retryAfter)
	}
	if r.header.Get("WWW-Authenticate") != "" {
		t.Errorf("a 429 with WWW-Authenticate: %q", r.header.Get("WWW-Authenticate"))
	}
}

// An address whose verifications fail Burst times is throttled: its
// requests get 429 with Retry-After, but for keys that exist, which are
// answered as ever; other addresses are not affected; a failure is
// forgiven every Refill.
func TestThrottleVerify(t *testing.T) {
	clock := newFakeClock(time.Now())
	th := httpapi.NewFailureThrottle(httpapi.FailureThrottleOptions{Burst: 3, Refill: time.Minute, Hold: -1, Now: clock.Now})
	e := newEnvOpts(t, nil, httpapi.WithFailureThrottle(th))
	real := e.createKey("acme", "real", "read")
	cold := e.createKey("acme", "cold", "read")
	e.settle()

	a := e.from("203.0.113.7:4000")
	if _, code := a.verifyCode(real.Key); code != "VALID" {
		t.Fatalf("a real key: %q", code)
	}
	for i := range 3 {
		if r, code := a.verifyCode(madeUpKey()); code != "NOT_FOUND" {
			t.Fatalf("made-up key %d, within the burst: %d %s", i, r.status, r.body)
		}
	}
	r, _ := a.verifyCode(madeUpKey())
	want429(t, r, 60)

	// The platform's real keys still verify from the throttled address,
	// cached or not; what fails is refused.
	for range 3 {
		if r, code := a.verifyCode(real.Key); code != "VALID" {
			t.Fatalf("a cached real key from a throttled address: %d %s", r.status, r.body)
		}
	}
	if r, code := a.verifyCode(cold.Key); code != "VALID" {
		t.Fatalf("a real key not cached, from a throttled address: %d %s", r.status, r.body)
	}
	for name, key := range map[string]string{"a malformed key": "kw_nope", "a made-up key": madeUpKey()} {
		r, _ := a.verifyCode(key)
		if r.status != http.StatusTooManyRequests {
			t.Errorf("%s from a throttled address: %d %s, want 429", name, r.status, r.body)
		}
	}
	// The management API, with a cached root key, works; a bad key is
	// refused with 429, not 401.
	want(t, a.req("GET", "/orgs/acme/api_keys", e.root, nil), http.StatusOK)
	want429(t, a.req("GET", "/orgs/acme/api_keys", madeUpKey(), nil), 60)

	// Another address is not throttled.
	b := e.from("203.0.113.8:4000")
	if r, code := b.verifyCode(madeUpKey()); code != "NOT_FOUND" {
		t.Fatalf("another address: %d %s", r.status, r.body)
	}
	if _, code := b.verifyCode(cold.Key); code != "VALID" {
		t.Fatalf("another address, a real key: %q", code)
	}

	// 429s take no token: one failure is forgiven a Refill later, and one
	// only.
	clock.Advance(30 * time.Second)
	r, _ = a.verifyCode(madeUpKey())
	want429(t, r, 30)
	clock.Advance(30 * time.Second)
	if r, code := a.verifyCode(madeUpKey()); code != "NOT_FOUND" {
		t.Fatalf("a Refill later: %d %s", r.status, r.body)
	}
	r, _ = a.verifyCode(madeUpKey())
	want429(t, r, 60)

	s := th.Stats()
	if s.Failures != 5 || s.Throttled != 6 || s.Answered != 5 || s.Addresses != 2 {
		t.Errorf("Stats = %+v; want 5 failures, 6 throttled, 5 answered all the same, 2 addresses", s)
	}
}

// The management API's 401s count as failures; IPv6 addresses are
// throttled by /64, IPv4-mapped ones as the IPv4 address.
func TestThrottleManagementByAddress(t *testing.T) {
	clock := newFakeClock(time.Now())
	th := httpapi.NewFailureThrottle(httpapi.FailureThrottleOptions{Burst: 2, Refill: time.Second, Hold: -1, Now: clock.Now})
	e := newEnvOpts(t, nil, httpapi.WithFailureThrottle(th))
	want(t, e.req("GET", "/orgs/acme/api_keys", e.root, nil), http.StatusOK) // the root key is cached now

	tests := []struct {
		name           string
		fail, then     string // the address that fails twice, and the one that asks next
		wantThrottled  bool
		wantUnthrottle string // an address still free
	}{
		{"IPv4", "198.51.100.1:1", "198.51.100.1:2", true, "198.51.100.2:1"},
		{"IPv6, same /64", "[2001:db8::1]:1", "[2001:db8::ffff:2]:1", true, "[2001:db8:0:1::1]:1"},
		{"IPv4-mapped IPv6", "[::ffff:198.51.100.9]:1", "198.51.100.9:1", true, "198.51.100.10:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := e.from(tt.fail)
			for range 2 {
				r := f.req("GET", "/api_keys", madeUpKey(), nil)
				want(t, r, http.StatusUnauthorized)
				if r.header.Get("WWW-Authenticate") == "" {
					t.Error("a 401 without WWW-Authenticate")
				}
			}
			next := e.from(tt.then)
			want429(t, next.req("GET", "/api_keys", madeUpKey(), nil), 1)
			want429(t, next.req("GET", "/api_keys", "", nil), 1) // no key at all
			want(t, next.req("GET", "/orgs/acme/api_keys", e.root, nil), http.StatusOK)
			want(t, e.from(tt.wantUnthrottle).req("GET", "/api_keys", madeUpKey(), nil), http.StatusUnauthorized)
		})
	}
}

// A throttled failure's 429 is held, at most Hold, and at most MaxHeld at
// once: past that it is written at once with Connection: close.
func TestThrottleHold(t *testing.T) {
	const hold = 300 * time.Millisecond
	th := httpapi.NewFailureThrottle(httpapi.FailureThrottleOptions{Burst: 1, Refill: time.Hour, Hold: hold, MaxHeld: 1})
	e := newEnvOpts(t, nil, httpapi.WithFailureThrottle(th))
	a := e.from("192.0.2.50:1")
	if _, code := a.verifyCode(madeUpKey()); code != "NOT_FOUND" {
		t.Fatal("the first failure was not answered")
	}
	var wg sync.WaitGroup
	var held response
	var took time.Duration
	wg.Go(func() {
		start := time.Now()
		held, _ = a.verifyCode(madeUpKey())
		took = time.Since(start)
	})
	for deadline := time.Now().Add(10 * time.Second); th.Stats().Held == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no 429 held")
		}
	}
	start := time.Now()
	second, _ := a.verifyCode(madeUpKey())
	if d := time.Since(start); d > hold/2 {
		t.Errorf("the 429 past MaxHeld took %v", d)
	}
	want429(t, second, 3600)
	if second.header.Get("Connection") != "close" {
		t.Errorf("the 429 past MaxHeld has Connection %q, want close", second.header.Get("Connection"))
	}
	wg.Wait()
	want429(t, held, 3600)
	if took < hold {
		t.Errorf("the held 429 came after %v, want at least %v", took, hold)
	}
	if s := th.Stats(); s.Closed != 1 || s.Throttled != 2 || s.Held != 0 {
		t.Errorf("Stats = %+v; want 2 throttled, 1 closed, none held now", s)
	}
}

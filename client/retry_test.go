package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/client"
)

// faults is a real HTTP handler in front of a real Keyward that answers
// chosen requests itself, with the 503s and 429s a test needs: Keyward
// answers them only when its database or its throttle says so.
type faults struct {
	mu   sync.Mutex
	plan map[string][]fault // by "METHOD /path": one fault per request, in turn
	seen map[string]int     // requests that reached the front, by "METHOD /path"
}

// fault is what the front does with one request.
type fault struct {
	status     int    // answer this status, as a problem document
	retryAfter string // with this Retry-After, if set
	// forward: let Keyward handle the request first (so that it is made),
	// then throw its answer away.
	forward bool
	// drop: answer nothing, closing the connection (a lost answer).
	drop bool
	// hang: answer nothing until the client gives up.
	hang bool
}

func newFaults() *faults {
	return &faults{plan: map[string][]fault{}, seen: map[string]int{}}
}

// add queues faults for the next requests of method and path.
func (f *faults) add(method, path string, fs ...fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.plan[method+" "+path] = append(f.plan[method+" "+path], fs...)
}

// count is how many requests of method and path reached the front.
func (f *faults) count(method, path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[method+" "+path]
}

func (f *faults) wrap(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.Method + " " + r.URL.Path
		f.mu.Lock()
		f.seen[name]++
		queue := f.plan[name]
		var ft *fault
		if len(queue) > 0 {
			ft = &queue[0]
			f.plan[name] = queue[1:]
		}
		f.mu.Unlock()
		if ft == nil {
			api.ServeHTTP(w, r)
			return
		}
		if ft.forward {
			api.ServeHTTP(httptest.NewRecorder(), r)
		}
		if ft.hang {
			// The body read to its end, the server notices the client
			// going away, and ends the request's context.
			io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
			return
		}
		if ft.drop {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			conn.Close()
			return
		}
		if ft.retryAfter != "" {
			w.Header().Set("Retry-After", ft.retryAfter)
		}
		code := map[int]string{429: "too-many-requests", 503: "unavailable"}[ft.status]
		body, _ := json.Marshal(map[string]any{
			"type": "urn:keyward:problem:" + code, "title": http.StatusText(ft.status), "status": ft.status,
			"detail": "injected by the test's front", "request_id": "front-" + strconv.Itoa(ft.status),
		})
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(ft.status)
		w.Write(body)
	})
}

// waits records each wait a client asked for before a retry, without
// spending it.
type waits struct {
	mu sync.Mutex
	ds []time.Duration
}

func (ws *waits) sleep(ctx context.Context, d time.Duration) error {
	ws.mu.Lock()
	ws.ds = append(ws.ds, d)
	ws.mu.Unlock()
	return ctx.Err()
}

func (ws *waits) all() []time.Duration {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return append([]time.Duration(nil), ws.ds...)
}

// faultyServer is a real Keyward behind a faults front, and a client of it
// (holding the root key) whose waits are recorded.
func faultyServer(t *testing.T, opts ...client.Option) (*server, *faults, *client.Client, *waits) {
	t.Helper()
	f := newFaults()
	srv := newServer(t, serverConfig{front: f.wrap})
	c := srv.client(t, "", opts...)
	ws := &waits{}
	client.SetSleep(c, ws.sleep)
	return srv, f, c, ws
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	ctx := context.Background()
	_, f, c, ws := faultyServer(t)
	f.add("GET", "/orgs/acme/api_keys", fault{status: 503, retryAfter: "3"}, fault{status: 429, retryAfter: "2"})
	page, err := c.Org("acme").ListKeys(ctx, client.KeyListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Keys) != 0 || f.count("GET", "/orgs/acme/api_keys") != 3 {
		t.Fatalf("page %+v after %d attempts", page, f.count("GET", "/orgs/acme/api_keys"))
	}
	if got := ws.all(); len(got) != 2 || got[0] != 3*time.Second || got[1] != 2*time.Second {
		t.Fatalf("waits %v, want [3s 2s]", got)
	}
}

func TestRetryAfterAsADate(t *testing.T) {
	_, f, c, ws := faultyServer(t)
	f.add("GET", "/orgs/acme/api_keys", fault{status: 503, retryAfter: time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)})
	_, err := c.Org("acme").ListKeys(context.Background(), client.KeyListOptions{})
	// An hour is past the default longest wait: not retried, and said.
	e := mustAPIError(t, err, 503)
	if e.RetryAfter < 59*time.Minute || e.RetryAfter > time.Hour || len(ws.all()) != 0 || f.count("GET", "/orgs/acme/api_keys") != 1 {
		t.Fatalf("RetryAfter %v, waits %v, attempts %d", e.RetryAfter, ws.all(), f.count("GET", "/orgs/acme/api_keys"))
	}
}

func TestRetriesAreBounded(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []client.Option
		attempts int
	}{
		{"default", nil, 1 + client.DefaultRetries},
		{"five", []client.Option{client.WithRetries(5, time.Minute)}, 6},
		{"none", []client.Option{client.WithRetries(0, time.Minute)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, f, c, ws := faultyServer(t, tc.opts...)
			for range 10 {
				f.add("GET", "/orgs/acme/api_keys/key-1", fault{status: 503})
			}
			_, err := c.Org("acme").GetKey(context.Background(), "key-1")
			e := mustAPIError(t, err, 503)
			if e.Code != client.CodeUnavailable || e.RequestID != "front-503" {
				t.Fatalf("error %+v", e)
			}
			if got := f.count("GET", "/orgs/acme/api_keys/key-1"); got != tc.attempts {
				t.Fatalf("%d attempts, want %d", got, tc.attempts)
			}
			// Without Retry-After, a second, as Keyward asks.
			for _, d := range ws.all() {
				if d != time.Second {
					t.Fatalf("waits %v, want a second each", ws.all())
				}
			}
		})
	}
}

func TestRetryAfterPastTheLongestWait(t *testing.T) {
	_, f, c, ws := faultyServer(t, client.WithRetries(3, 5*time.Second))
	f.add("GET", "/orgs/acme/api_keys", fault{status: 429, retryAfter: "6"})
	_, err := c.Org("acme").ListKeys(context.Background(), client.KeyListOptions{})
	e := mustAPIError(t, err, 429)
	if e.RetryAfter != 6*time.Second || len(ws.all()) != 0 || f.count("GET", "/orgs/acme/api_keys") != 1 {
		t.Fatalf("RetryAfter %v, waits %v, attempts %d", e.RetryAfter, ws.all(), f.count("GET", "/orgs/acme/api_keys"))
	}
}

// A retried create makes one key: every attempt carries the same
// Idempotency-Key, and Keyward answers the repeat with the first answer.
func TestCreateRetriedMakesOneKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		lost fault
	}{
		{"answered 503 after it was made", fault{forward: true, status: 503, retryAfter: "1"}},
		{"connection lost after it was made", fault{forward: true, drop: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			srv, f, _, ws := faultyServer(t)
			c, rec := srv.recordingClient(t, "")
			client.SetSleep(c, ws.sleep)
			f.add("POST", "/orgs/acme/api_keys", tc.lost)
			k, err := c.Org("acme").CreateKey(ctx, client.KeyCreate{Name: "once", Permissions: []string{"read"}})
			if err != nil {
				t.Fatal(err)
			}
			if f.count("POST", "/orgs/acme/api_keys") != 2 || len(ws.all()) != 1 {
				t.Fatalf("%d attempts, waits %v", f.count("POST", "/orgs/acme/api_keys"), ws.all())
			}
			var idems []string
			for _, r := range rec.all() {
				if r.method == "POST" {
					idems = append(idems, r.idempotencyKey)
				}
			}
			if len(idems) != 2 || idems[0] == "" || idems[0] != idems[1] {
				t.Fatalf("Idempotency-Keys %q, want one, twice", idems)
			}
			page, err := c.Org("acme").ListKeys(ctx, client.KeyListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Keys) != 1 || page.Keys[0].ID != k.ID {
				t.Fatalf("%d keys after a retried create: %+v", len(page.Keys), page.Keys)
			}
			// The secret the client got is the key's.
			v, err := c.Verify(ctx, k.Secret.Reveal(), client.VerifyOptions{})
			if err != nil || v.Code != client.VerifyValid || v.KeyID != k.ID {
				t.Fatalf("verification %+v, %v", v, err)
			}
		})
	}
}

// Two creates are two keys: each call has its own Idempotency-Key.
func TestCreatesHaveTheirOwnIdempotencyKeys(t *testing.T) {
	srv := newServer(t, serverConfig{})
	c, rec := srv.recordingClient(t, "")
	for range 2 {
		if _, err := c.Org("acme").CreateKey(context.Background(), client.KeyCreate{Name: "same", Permissions: []string{"read"}}); err != nil {
			t.Fatal(err)
		}
	}
	reqs := rec.all()
	if len(reqs) != 2 || reqs[0].idempotencyKey == reqs[1].idempotencyKey {
		t.Fatalf("requests %+v", reqs)
	}
}

// A request whose repeat could act twice is not retried after a 503 or a
// lost answer; after a 429, which Keyward answers before acting, it is.
func TestWhatIsRetried(t *testing.T) {
	ctx := context.Background()
	srv, f, c, _ := faultyServer(t)
	k, err := c.Org("acme").CreateKey(ctx, client.KeyCreate{Name: "k", Permissions: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	metered, err := c.Org("acme").CreateKey(ctx, client.KeyCreate{Name: "metered", Permissions: []string{"read"}, Credits: &client.CreditsInput{Remaining: 10}})
	if err != nil {
		t.Fatal(err)
	}
	keyPath := "/orgs/acme/api_keys/" + k.ID
	name := "renamed"
	cases := []struct {
		name        string
		method      string
		path        string
		fault       fault
		call        func() error
		wantRetried bool
	}{
		{"rotate after a 503", "POST", keyPath + "/rotate", fault{forward: true, status: 503}, func() error {
			_, err := c.Org("acme").RotateKey(ctx, k.ID, 0)
			return err
		}, false},
		{"rotate after a 429", "POST", keyPath + "/rotate", fault{status: 429, retryAfter: "1"}, func() error {
			_, err := c.Org("acme").RotateKey(ctx, k.ID, 0)
			return err
		}, true},
		{"restore after a 503", "POST", keyPath + "/restore", fault{status: 503}, func() error {
			_, err := c.Org("acme").RestoreKey(ctx, k.ID)
			return err
		}, false},
		{"update with If-Match after a 503", "PATCH", keyPath, fault{forward: true, status: 503}, func() error {
			cur, err := c.Org("acme").GetKey(ctx, k.ID)
			if err != nil {
				return err
			}
			_, err = c.Org("acme").UpdateKey(ctx, k.ID, client.KeyUpdate{Name: &name}, client.IfMatch(cur.ETag))
			return err
		}, false},
		{"update without If-Match after a 503", "PATCH", keyPath, fault{forward: true, status: 503}, func() error {
			_, err := c.Org("acme").UpdateKey(ctx, k.ID, client.KeyUpdate{Name: &name})
			return err
		}, true},
		{"disable after a lost answer", "POST", keyPath + "/disable", fault{forward: true, drop: true}, func() error {
			_, err := c.Org("acme").DisableKey(ctx, k.ID)
			return err
		}, true},
		{"enable after a 503", "POST", keyPath + "/enable", fault{forward: true, status: 503}, func() error {
			_, err := c.Org("acme").EnableKey(ctx, k.ID)
			return err
		}, true},
		{"a spending verification after a 503", "POST", "/verify", fault{forward: true, status: 503}, func() error {
			_, err := c.Verify(ctx, metered.Secret.Reveal(), client.VerifyOptions{})
			return err
		}, false},
		{"a spending verification after a lost answer", "POST", "/verify", fault{forward: true, drop: true}, func() error {
			_, err := c.Verify(ctx, metered.Secret.Reveal(), client.VerifyOptions{})
			return err
		}, false},
		{"a spending verification after a 429", "POST", "/verify", fault{status: 429, retryAfter: "1"}, func() error {
			_, err := c.Verify(ctx, metered.Secret.Reveal(), client.VerifyOptions{})
			return err
		}, true},
		{"a verification of cost 0 after a 503", "POST", "/verify", fault{status: 503}, func() error {
			_, err := c.Verify(ctx, metered.Secret.Reveal(), client.VerifyOptions{Cost: new(int64(0))})
			return err
		}, true},
		{"delete after a 503", "DELETE", keyPath, fault{status: 503}, func() error {
			return c.Org("acme").DeleteKey(ctx, k.ID)
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.count(tc.method, tc.path)
			f.add(tc.method, tc.path, tc.fault)
			err := tc.call()
			attempts := f.count(tc.method, tc.path) - before
			if tc.wantRetried {
				if err != nil || attempts != 2 {
					t.Fatalf("%d attempts, error %v; want it retried once, and done", attempts, err)
				}
				return
			}
			if err == nil || attempts != 1 {
				t.Fatalf("%d attempts, error %v; want one, failed", attempts, err)
			}
		})
	}
	// The spending verifications spent once each: 3 of 10 credits (the
	// two failed ones reached Keyward once each, the 429 not at all).
	v, err := c.Verify(ctx, metered.Secret.Reveal(), client.VerifyOptions{Cost: new(int64(0))})
	if err != nil || v.Credits == nil || v.Credits.Remaining != 7 {
		t.Fatalf("verification %+v, %v", v, err)
	}
	// The rotation that answered 503 was made once, the one after a 429
	// once: two rotations in the log.
	events, err := c.Org("acme").ListAuditEvents(ctx, client.AuditFilter{KeyID: k.ID, Action: client.ActionRotate})
	if err != nil || len(events.Events) != 2 {
		t.Fatalf("rotations %+v, %v", events, err)
	}
	_ = srv
}

// A context that ends while the client waits to retry ends the wait; the
// error says both why it stopped and what Keyward answered.
func TestRetryWaitEndsWithTheContext(t *testing.T) {
	_, f, c, _ := faultyServer(t, client.WithRetries(3, 2*time.Hour))
	f.add("GET", "/orgs/acme/api_keys", fault{status: 503, retryAfter: "3600"})
	ctx, cancel := context.WithCancel(context.Background())
	waiting := make(chan struct{})
	client.SetSleep(c, func(ctx context.Context, d time.Duration) error {
		close(waiting)
		return client.SleepContext(ctx, d) // the real wait, an hour
	})
	done := make(chan error, 1)
	go func() {
		_, err := c.Org("acme").ListKeys(ctx, client.KeyListOptions{})
		done <- err
	}()
	<-waiting
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want it to say the context was cancelled", err)
	}
	if e := mustAPIError(t, err, 503); e.RetryAfter != time.Hour {
		t.Fatalf("RetryAfter %v", e.RetryAfter)
	}
	if f.count("GET", "/orgs/acme/api_keys") != 1 {
		t.Fatalf("%d attempts", f.count("GET", "/orgs/acme/api_keys"))
	}
}

// An answer that is not Keyward's (a proxy's page) is an *Error with its
// status and no body quoted.
func TestErrorFromAProxy(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("X-Request-Id", "proxy-1")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html>bad gateway: " + r.Header.Get("Authorization") + "</html>"))
	}))
	defer proxy.Close()
	const secret = "kw_proxyproxyproxyproxyproxyproxyproxyproxyproxyproxy"
	c, err := client.New(client.WithBaseURL(proxy.URL), client.WithAPIKey(secret))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Org("acme").ListKeys(context.Background(), client.KeyListOptions{})
	e := mustAPIError(t, err, http.StatusBadGateway)
	if e.Code != client.CodeUnavailable || e.RequestID != "proxy-1" || e.Title != "Bad Gateway" {
		t.Fatalf("error %+v", e)
	}
	noSecretIn(t, "the error", err.Error(), secret)
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  client.Option
	}{
		{"a base URL without a scheme", client.WithBaseURL("keyward.internal:8080")},
		{"a base URL with a query", client.WithBaseURL("http://keyward.internal/?x=1")},
		{"a nil HTTP client", client.WithHTTPClient(nil)},
		{"negative retries", client.WithRetries(-1, time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := client.New(tc.opt); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	// A base URL's path prefixes every route (a server behind a proxy).
	srv := newServer(t, serverConfig{})
	prefixed := httptest.NewServer(http.StripPrefix("/keyward", srv.http.Config.Handler))
	defer prefixed.Close()
	// Not checked against openapi.yaml: its paths have no prefix.
	rec := &recorder{base: http.DefaultTransport}
	c, err := client.New(client.WithBaseURL(prefixed.URL+"/keyward/"), client.WithAPIKey(srv.Root),
		client.WithHTTPClient(&http.Client{Transport: rec}), client.WithUserAgent("platform/1.0"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.Org("acme").CreateKey(context.Background(), client.KeyCreate{Name: "k", Permissions: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.all()[0].path; got != "/keyward/orgs/acme/api_keys" {
		t.Fatalf("path %q", got)
	}
	events, err := c.Org("acme").ListAuditEvents(context.Background(), client.AuditFilter{KeyID: k.ID})
	if err != nil || len(events.Events) != 1 || events.Events[0].UserAgent != "platform/1.0" {
		t.Fatalf("events %+v, %v", events, err)
	}
}

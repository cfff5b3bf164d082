package console_test

import (
	"context"
	"encoding/json"
	"github.com/keyward/keyward/internal/syncbuf"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/console"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/sqlite"
)

// syncBuffer is a log sink safe for the goroutines that write to it.
type syncBuffer = syncbuf.Buffer

// env is the API and the console, served together as keyward serve
// serves them, on a fresh SQLite file.
type env struct {
	t        *testing.T
	srv      *httptest.Server
	url      string
	db       *sqlite.DB
	svc      *keyward.Service
	lastUsed *keyward.LastUsedRecorder
	throttle *httpapi.FailureThrottle
	logs     *syncBuffer
	root     string // a root key's secret
	// urls are every URL the server was asked for, to check that no
	// secret is in one.
	mu   sync.Mutex
	urls []string
	// last is a browser a test hands to a step that needs it.
	last *browser
}

// envOptions tune newEnv.
type envOptions struct {
	burst    int // the failure throttle's burst (default 20)
	lifetime time.Duration
	now      func() time.Time
}

func newEnv(t *testing.T) *env { return newEnvWith(t, envOptions{}) }

func newEnvWith(t *testing.T, o envOptions) *env {
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
	svc := keyward.NewService(db)
	if o.now != nil {
		svc.Now = o.now
	}
	lastUsed := keyward.NewLastUsedRecorder(db)
	svc.LastUsed = lastUsed
	_, root, err := svc.CreateRootKey(ctx, "ops")
	if err != nil {
		t.Fatal(err)
	}
	if o.burst == 0 {
		o.burst = 20
	}
	throttle := httpapi.NewFailureThrottle(httpapi.FailureThrottleOptions{Burst: o.burst, Refill: time.Hour, Hold: -1})
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := &env{t: t, db: db, svc: svc, lastUsed: lastUsed, throttle: throttle, logs: logs, root: root.Reveal()}
	api := httpapi.NewHandler(logger, svc, db, httpapi.WithFailureThrottle(throttle))
	con := console.New(logger, svc, db, console.WithThrottle(throttle), console.WithSessionLifetime(o.lifetime))
	mux := http.NewServeMux()
	mux.Handle("/console", con)
	mux.Handle("/console/", con)
	mux.Handle("/", api)
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.urls = append(e.urls, r.URL.String())
		e.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	e.url = e.srv.URL
	return e
}

// checkNoSecret fails the test if secret is in any URL asked for or any
// line logged.
func (e *env) checkNoSecret(secret string) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, u := range e.urls {
		if strings.Contains(u, secret) {
			e.t.Errorf("a secret is in the URL %s", u)
		}
	}
	if strings.Contains(e.logs.String(), secret) {
		e.t.Errorf("a secret is in the log")
	}
}

// browser is a client with a cookie jar, as a browser is: it follows
// redirects and keeps cookies.
type browser struct {
	e      *env
	client *http.Client
	// headers are added to each request (Sec-Fetch-Site, Origin).
	headers http.Header
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, client: &http.Client{Jar: jar}, headers: http.Header{}}
}

// page is an answer to a browser.
type page struct {
	status int
	header http.Header
	body   string
	url    string // where the redirects ended
}

func (b *browser) do(method, path string, form url.Values) page {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.url+path, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", "console-test")
	for k, vs := range b.headers {
		req.Header[k] = vs
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(data), url: resp.Request.URL.Path}
}

func (b *browser) get(path string) page {
	b.e.t.Helper()
	return b.do("GET", path, nil)
}

// post sends a form with the CSRF token of the page last shown at from
// (the session's, or the sign-in form's).
func (b *browser) post(from, path string, form url.Values) page {
	b.e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", b.csrf(from))
	}
	return b.do("POST", path, form)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token in the page at path.
func (b *browser) csrf(path string) string {
	b.e.t.Helper()
	p := b.get(path)
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		b.e.t.Fatalf("no CSRF token in %s (%d): %s", path, p.status, p.body)
	}
	return m[1]
}

// signIn signs b in with secret, and fails the test if it cannot.
func (b *browser) signIn(secret string) page {
	b.e.t.Helper()
	p := b.post("/console/sign-in", "/console/sign-in", url.Values{"key": {secret}})
	if p.status != http.StatusOK || (p.url != "/console/keys" && p.url != "/console/organization") {
		b.e.t.Fatalf("sign in: %d at %s: %s", p.status, p.url, p.body)
	}
	return p
}

// createKey makes a key through the service and returns it and its
// secret.
func (e *env) createKey(org keyward.OrgID, name string, perms ...keyward.Permission) (*keyward.Key, string) {
	e.t.Helper()
	root, err := e.svc.Authenticate(context.Background(), e.root)
	if err != nil {
		e.t.Fatal(err)
	}
	k, secret, err := e.svc.CreateKey(context.Background(), root, org, keyward.NewKey{Name: name, Permissions: perms})
	if err != nil {
		e.t.Fatal(err)
	}
	return k, secret.Reveal()
}

// verify asks the API to verify secret and returns the code.
func (e *env) verify(secret string) string {
	e.t.Helper()
	resp, err := http.Post(e.url+"/verify", "application/json", strings.NewReader(`{"key":"`+secret+`"}`))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Code string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		e.t.Fatal(err)
	}
	return v.Code
}

var secretInPage = regexp.MustCompile(`kw_[0-9A-Za-z]{49}`)

// regexpNext finds the link to a list's next page.
var regexpNext = regexp.MustCompile(`href="(/console/keys\?[^"]*cursor=[^"]*)"`)

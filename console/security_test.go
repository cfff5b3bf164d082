package console_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/console"
)

// Every answer of the console, signed in or not, found or not, carries
// the security headers; every page, which shows data or a form's token,
// is no-store.
func TestHeadersOnEveryPage(t *testing.T) {
	e := newEnv(t)
	k, admin := e.createKey("acme", "Admin", keyward.PermRead, keyward.PermManage)
	anon := e.browser()
	b := e.browser()
	b.signIn(admin)
	root := e.browser()
	root.signIn(e.root)
	for _, tt := range []struct {
		name string
		b    *browser
		path string
		html bool
	}{
		{"sign-in", anon, "/console/sign-in", true},
		{"keys", b, "/console/keys", true},
		{"keys searched", b, "/console/keys?q=adm&state=all", true},
		{"key", b, "/console/keys/" + k.ID.String(), true},
		{"new", b, "/console/keys/new", true},
		{"edit", b, "/console/keys/" + k.ID.String() + "/edit", true},
		{"rotate", b, "/console/keys/" + k.ID.String() + "/rotate", true},
		{"audit", b, "/console/audit", true},
		{"organization", root, "/console/organization", true},
		{"no such page", b, "/console/nope", true},
		{"no such key", b, "/console/keys/key-12345", true},
		{"style sheet", anon, "/console/static/console.css", false},
		{"script", anon, "/console/static/console.js", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.b.get(tt.path)
			csp := p.header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") {
				t.Errorf("CSP %q allows something unsafe", csp)
			}
			for h, want := range map[string]string{"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"} {
				if got := p.header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if tt.html {
				if got := p.header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", got)
				}
				if !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
					t.Errorf("Content-Type = %q", p.header.Get("Content-Type"))
				}
				if strings.Contains(p.body, "<script>") || strings.Contains(p.body, " style=") || strings.Contains(p.body, "<style") {
					t.Errorf("the page has an inline script or style")
				}
			}
		})
	}
}

// noRedirects returns b's client, as one that stops at the first answer.
func noRedirects(b *browser) *http.Client {
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// signInRaw signs in through a client that does not follow the redirect,
// and returns the answer, with its Set-Cookie.
func signInRaw(t *testing.T, e *env, b *browser, secret string) *http.Response {
	t.Helper()
	token := b.csrf("/console/sign-in")
	form := url.Values{"key": {secret}, "csrf": {token}}
	resp, err := noRedirects(b).PostForm(e.url+"/console/sign-in", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// The session cookie is HttpOnly, SameSite=Strict, scoped to /console and
// bounded by the session's lifetime; with secure cookies it is also
// Secure and __Host- prefixed. It holds no key.
func TestCookieFlags(t *testing.T) {
	e := newEnvWith(t, envOptions{lifetime: 2 * time.Hour})
	_, admin := e.createKey("acme", "Admin", keyward.PermRead, keyward.PermManage)
	resp := signInRaw(t, e, e.browser(), admin)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "keyward_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("no session cookie in %v", resp.Header["Set-Cookie"])
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/console" || session.Secure {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/console, not Secure over plain HTTP", session)
	}
	if session.MaxAge <= 0 || session.MaxAge > int((2*time.Hour)/time.Second) {
		t.Errorf("session cookie Max-Age %d, want at most the lifetime", session.MaxAge)
	}
	if strings.Contains(session.Value, admin) || secretInPage.MatchString(session.Value) {
		t.Errorf("the cookie holds a key")
	}

	// With secure cookies (TLS): Secure and __Host-.
	db := e.db
	h := console.New(slog.New(slog.NewTextHandler(io.Discard, nil)), e.svc, db, console.WithSecureCookies())
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	c := srv.Client()
	get, err := c.Get(srv.URL + "/console/sign-in")
	if err != nil {
		t.Fatal(err)
	}
	get.Body.Close()
	if hsts := get.Header.Get("Strict-Transport-Security"); hsts != "max-age=31536000" {
		t.Errorf("over TLS, Strict-Transport-Security %q", hsts)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "" {
		t.Errorf("over plain HTTP, Strict-Transport-Security %q", hsts)
	}
	for _, ck := range get.Cookies() {
		if !strings.HasPrefix(ck.Name, "__Host-") || !ck.Secure || ck.Path != "/" || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
			t.Errorf("over TLS, cookie %+v: want __Host-, Secure, Path=/, HttpOnly, SameSite=Strict", ck)
		}
	}
}

// A change without the session's CSRF token, with another token, or from
// another site is refused, and changes nothing; so is a sign-in without
// its form's token.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	k, admin := e.createKey("acme", "Admin", keyward.PermRead, keyward.PermManage)
	b := e.browser()
	b.signIn(admin)
	token := b.csrf("/console/keys")
	deletePath := "/console/keys/" + k.ID.String() + "/delete"
	for _, tt := range []struct {
		name    string
		form    url.Values
		headers map[string]string
	}{
		{"no token", url.Values{}, nil},
		{"another token", url.Values{"csrf": {strings.Repeat("A", len(token))}}, nil},
		{"cross-site", url.Values{"csrf": {token}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"other origin", url.Values{"csrf": {token}}, map[string]string{"Origin": "https://evil.example"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.headers {
				b.headers.Set(k, v)
			}
			defer func() { b.headers = http.Header{} }()
			p := b.do("POST", deletePath, tt.form)
			if p.status != http.StatusForbidden {
				t.Errorf("delete: %d, want 403", p.status)
			}
		})
	}
	if code := e.verify(admin); code != "VALID" {
		t.Fatalf("after refused deletes, the key verifies %s", code)
	}
	// With the token and from the console itself, it goes through.
	b.headers.Set("Sec-Fetch-Site", "same-origin")
	if p := b.do("POST", deletePath, url.Values{"csrf": {token}}); p.status != http.StatusOK {
		t.Fatalf("delete with the token: %d", p.status)
	}

	// Sign-in: the form's token must match its cookie.
	other := e.browser()
	_, second := e.createKey("acme", "Second", keyward.PermRead, keyward.PermManage)
	if p := other.do("POST", "/console/sign-in", url.Values{"key": {second}, "csrf": {"made-up"}}); p.status != http.StatusForbidden {
		t.Errorf("sign-in without the form's token: %d, want 403", p.status)
	}
	if p := other.get("/console/keys"); p.url != "/console/sign-in" {
		t.Errorf("after a refused sign-in, the keys page is at %s", p.url)
	}
}

// sessionCookie returns the value of b's session cookie.
func sessionCookie(t *testing.T, e *env, b *browser) string {
	t.Helper()
	u, _ := url.Parse(e.url + "/console/keys")
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "keyward_session" {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// withCookie returns a browser that presents the given session token, as
// a copy of a stolen cookie would.
func withCookie(e *env, token string) *browser {
	b := e.browser()
	u, _ := url.Parse(e.url + "/console/")
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "keyward_session", Value: token, Path: "/console"}})
	return b
}

// Signing out ends the session for good: its token no longer opens a
// page, even presented again.
func TestSignOutEndsSession(t *testing.T) {
	e := newEnv(t)
	_, admin := e.createKey("acme", "Admin", keyward.PermRead, keyward.PermManage)
	b := e.browser()
	b.signIn(admin)
	token := sessionCookie(t, e, b)
	p := b.post("/console/keys", "/console/sign-out", nil)
	if p.url != "/console/sign-in" || !strings.Contains(p.body, "signed out") {
		t.Fatalf("sign out: at %s", p.url)
	}
	if p := withCookie(e, token).get("/console/keys"); p.url != "/console/sign-in" {
		t.Fatalf("the signed-out token still opens %s", p.url)
	}
}

// A session ends as soon as its key may no longer sign in: deleted,
// disabled, expired, stripped of manage, or rotated (once the grace
// period ends).
func TestSessionEndsWithItsKey(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	for _, tt := range []struct {
		name   string
		change func(t *testing.T, e *env, root *keyward.Key, k *keyward.Key)
	}{
		{"deleted", func(t *testing.T, e *env, root, k *keyward.Key) {
			if err := e.svc.DeleteKey(context.Background(), root, "acme", k.ID, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"disabled", func(t *testing.T, e *env, root, k *keyward.Key) {
			off := false
			if _, err := e.svc.UpdateKey(context.Background(), root, "acme", k.ID, keyward.KeyPatch{Enabled: &off}); err != nil {
				t.Fatal(err)
			}
		}},
		{"expired", func(t *testing.T, e *env, root, k *keyward.Key) {
			at := clock().Add(time.Minute)
			if _, err := e.svc.UpdateKey(context.Background(), root, "acme", k.ID, keyward.KeyPatch{ExpiresAt: &keyward.Expiry{At: &at}}); err != nil {
				t.Fatal(err)
			}
			now.Add(int64(2 * time.Minute))
		}},
		{"manage removed", func(t *testing.T, e *env, root, k *keyward.Key) {
			if _, err := e.svc.UpdateKey(context.Background(), root, "acme", k.ID, keyward.KeyPatch{Permissions: []keyward.Permission{keyward.PermRead}}); err != nil {
				t.Fatal(err)
			}
		}},
		// Refused, then let in again before the session's next request:
		// the session stays ended.
		{"disabled and enabled again", func(t *testing.T, e *env, root, k *keyward.Key) {
			for _, on := range []bool{false, true} {
				if _, err := e.svc.UpdateKey(context.Background(), root, "acme", k.ID, keyward.KeyPatch{Enabled: &on}); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"deleted and restored", func(t *testing.T, e *env, root, k *keyward.Key) {
			if err := e.svc.DeleteKey(context.Background(), root, "acme", k.ID, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.RestoreKey(context.Background(), root, "acme", k.ID, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"manage removed and given back", func(t *testing.T, e *env, root, k *keyward.Key) {
			for _, ps := range [][]keyward.Permission{{keyward.PermRead}, {keyward.PermRead, keyward.PermManage}} {
				if _, err := e.svc.UpdateKey(context.Background(), root, "acme", k.ID, keyward.KeyPatch{Permissions: ps}); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"expired and given a later expiry", func(t *testing.T, e *env, root, k *keyward.Key) {
			at := clock().Add(time.Minute)
			if _, err := e.svc.UpdateKey(context.Background(), root, "acme", k.ID, keyward.KeyPatch{ExpiresAt: &keyward.Expiry{At: &at}}); err != nil {
				t.Fatal(err)
			}
			now.Add(int64(2 * time.Minute))
			later := clock().Add(time.Hour)
			if _, err := e.svc.UpdateKey(context.Background(), root, "acme", k.ID, keyward.KeyPatch{ExpiresAt: &keyward.Expiry{At: &later}}); err != nil {
				t.Fatal(err)
			}
		}},
		{"rotated", func(t *testing.T, e *env, root, k *keyward.Key) {
			if _, _, err := e.svc.RotateKey(context.Background(), root, "acme", k.ID, 0, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"rotated, grace ended", func(t *testing.T, e *env, root, k *keyward.Key) {
			if _, _, err := e.svc.RotateKey(context.Background(), root, "acme", k.ID, time.Hour, nil); err != nil {
				t.Fatal(err)
			}
			if p := e.last.get("/console/keys"); p.url != "/console/keys" {
				t.Fatalf("within the grace period, the session ended: at %s", p.url)
			}
			now.Add(int64(time.Hour + time.Second))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvWith(t, envOptions{now: clock})
			k, admin := e.createKey("acme", "Admin", keyward.PermRead, keyward.PermManage)
			root, err := e.svc.Authenticate(context.Background(), e.root)
			if err != nil {
				t.Fatal(err)
			}
			b := e.browser()
			b.signIn(admin)
			e.last = b
			tt.change(t, e, root, k)
			p := b.get("/console/keys")
			if p.url != "/console/sign-in" {
				t.Fatalf("the session of a key %s still opens %s", tt.name, p.url)
			}
			if !strings.Contains(p.body, "Your session has ended") {
				t.Errorf("the sign-in page does not say the session ended")
			}
			if p := b.get("/console/keys"); !strings.Contains(p.body, "Sign in") {
				t.Error("no sign-in form")
			}
		})
	}
}

// A session lasts its lifetime at most, however active.
func TestSessionLifetime(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	e := newEnvWith(t, envOptions{now: func() time.Time { return time.Unix(0, now.Load()) }, lifetime: time.Hour})
	_, admin := e.createKey("acme", "Admin", keyward.PermRead, keyward.PermManage)
	b := e.browser()
	b.signIn(admin)
	now.Add(int64(59 * time.Minute))
	if p := b.get("/console/keys"); p.url != "/console/keys" {
		t.Fatalf("before its end, the session is over: at %s", p.url)
	}
	now.Add(int64(time.Minute))
	if p := b.get("/console/keys"); p.url != "/console/sign-in" {
		t.Fatalf("after its lifetime, the session still opens %s", p.url)
	}
}

// Picking an organization again does not extend a root key's session:
// the new token ends when the sign-in's would have.
func TestOrganizationPickKeepsTheLifetime(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	e := newEnvWith(t, envOptions{now: func() time.Time { return time.Unix(0, now.Load()) }, lifetime: time.Hour})
	b := e.browser()
	b.signIn(e.root)
	for _, org := range []string{"acme", "globex"} {
		now.Add(int64(25 * time.Minute))
		if p := b.post("/console/organization", "/console/organization", url.Values{"organization": {org}}); p.url != "/console/keys" {
			t.Fatalf("picking %s: at %s", org, p.url)
		}
	}
	now.Add(int64(11 * time.Minute)) // 61 minutes after the sign-in
	if p := b.get("/console/keys"); p.url != "/console/sign-in" {
		t.Fatalf("an hour after its sign-in, a session that picked organizations since still opens %s", p.url)
	}
}

// Signing in again from a browser that still holds a session (a sign-in
// form left open in another tab) ends that session: its old token opens
// nothing.
func TestSignInAgainEndsTheOldSession(t *testing.T) {
	e := newEnv(t)
	_, admin := e.createKey("acme", "Admin", keyward.PermRead, keyward.PermManage)
	first := e.browser()
	first.signIn(admin)
	token := sessionCookie(t, e, first)
	b := e.browser()
	form := b.csrf("/console/sign-in") // the form, before the session's cookie came
	u, _ := url.Parse(e.url + "/console/")
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "keyward_session", Value: token, Path: "/console"}})
	if p := b.post("", "/console/sign-in", url.Values{"key": {admin}, "csrf": {form}}); p.url != "/console/keys" {
		t.Fatalf("signing in again: %d at %s", p.status, p.url)
	}
	if sessionCookie(t, e, b) == token {
		t.Fatal("signing in again kept the session's token")
	}
	if p := withCookie(e, token).get("/console/keys"); p.url != "/console/sign-in" {
		t.Errorf("the token of the first sign-in still opens %s", p.url)
	}
}

// Failed sign-ins count in the API's failure throttle: past its burst,
// sign-ins from the address are refused (429, Retry-After) before the key
// is looked at, and the API refuses the address's made-up keys too.
func TestSignInThrottled(t *testing.T) {
	e := newEnvWith(t, envOptions{burst: 3})
	_, admin := e.createKey("acme", "Admin", keyward.PermRead, keyward.PermManage)
	b := e.browser()
	bogus := keyward.NewSecret().Reveal()
	for i := range 3 {
		p := b.post("/console/sign-in", "/console/sign-in", url.Values{"key": {bogus}})
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "not valid") {
			t.Fatalf("failed sign-in %d: %d", i+1, p.status)
		}
	}
	p := b.post("/console/sign-in", "/console/sign-in", url.Values{"key": {admin}})
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
		t.Fatalf("a sign-in past the burst: %d, Retry-After %q", p.status, p.header.Get("Retry-After"))
	}
	resp, err := http.Post(e.url+"/verify", "application/json", strings.NewReader(`{"key":"`+keyward.NewSecret().Reveal()+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the API, after failed sign-ins from the address: %d, want 429", resp.StatusCode)
	}
	e.checkNoSecret(admin)
	e.checkNoSecret(bogus)
}

// A valid key without manage cannot sign in, and neither can a key that
// is not a key.
func TestSignInRefusals(t *testing.T) {
	e := newEnv(t)
	_, reader := e.createKey("acme", "Reader", keyward.PermRead)
	b := e.browser()
	for _, tt := range []struct {
		key    string
		status int
		says   string
	}{
		{reader, http.StatusForbidden, "cannot manage keys"},
		{"not a key", http.StatusUnauthorized, "not valid"},
		{"", http.StatusBadRequest, "Enter an API key"},
	} {
		p := b.post("/console/sign-in", "/console/sign-in", url.Values{"key": {tt.key}})
		if p.status != tt.status || !strings.Contains(p.body, tt.says) {
			t.Errorf("sign in with %q: %d, want %d saying %q", tt.key, p.status, tt.status, tt.says)
		}
		if strings.Contains(p.body, "value=\""+tt.key+"\"") && tt.key != "" {
			t.Errorf("the refused key is echoed in the form")
		}
	}
	if p := b.get("/console/keys"); p.url != "/console/sign-in" {
		t.Fatalf("after refusals, the keys page is at %s", p.url)
	}
}

// A root key picks an organization after signing in, with a new session
// token; it cannot reach the keys before.
func TestRootPicksOrganization(t *testing.T) {
	e := newEnv(t)
	e.createKey("globex", "Globex key", keyward.PermRead)
	b := e.browser()
	if p := b.signIn(e.root); p.url != "/console/organization" {
		t.Fatalf("a root key signed in lands at %s", p.url)
	}
	first := sessionCookie(t, e, b)
	if p := b.get("/console/keys"); p.url != "/console/organization" {
		t.Fatalf("before picking, the keys page is at %s", p.url)
	}
	if p := b.post("/console/organization", "/console/organization", url.Values{"organization": {"../x"}}); p.status != http.StatusBadRequest {
		t.Errorf("a bad organization id: %d", p.status)
	}
	p := b.post("/console/organization", "/console/organization", url.Values{"organization": {"globex"}})
	if p.url != "/console/keys" || !strings.Contains(p.body, "Globex key") {
		t.Fatalf("after picking globex: at %s", p.url)
	}
	if sessionCookie(t, e, b) == first {
		t.Error("picking an organization kept the session's token")
	}
	if p := withCookie(e, first).get("/console/keys"); p.url != "/console/sign-in" {
		t.Errorf("the token before picking still opens %s", p.url)
	}
}

// Bad input shows the form again, with what is wrong, and changes
// nothing; a stale form changes nothing either.
func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t)
	k, admin := e.createKey("acme", "Admin", keyward.PermRead, keyward.PermWrite, keyward.PermManage)
	b := e.browser()
	b.signIn(admin)
	for _, tt := range []struct {
		name string
		form url.Values
		says string
	}{
		{"no name", url.Values{"name": {"  "}, "permissions": {"read"}}, "is required"},
		{"no permission", url.Values{"name": {"x"}}, "Choose at least one permission"},
		{"metadata not an object", url.Values{"name": {"x"}, "permissions": {"read"}, "metadata": {"[1]"}}, "must be a JSON object"},
		{"bad limit", url.Values{"name": {"x"}, "permissions": {"read"}, "rate_limits": {"requests many 60s"}}, "whole number"},
		{"past expiry", url.Values{"name": {"x"}, "permissions": {"read"}, "expires_at": {"2001-01-01T00:00"}}, "must be in the future"},
		{"permission not held", url.Values{"name": {"x"}, "permissions": {"delete"}}, "cannot grant"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := b.post("/console/keys/new", "/console/keys/new", tt.form)
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, tt.says) {
				t.Errorf("create: %d, want 400 saying %q: %s", p.status, tt.says, p.body)
			}
			if secretInPage.MatchString(p.body) {
				t.Error("a refused create shows a secret")
			}
		})
	}
	root, _ := e.svc.Authenticate(context.Background(), e.root)
	page, err := e.svc.ListKeys(context.Background(), root, "acme", keyward.ListAll, nil, 100)
	if err != nil || len(page.Keys) != 1 {
		t.Fatalf("after refused creates: %d keys, %v", len(page.Keys), err)
	}

	edit := "/console/keys/" + k.ID.String() + "/edit"
	good := url.Values{"name": {"Renamed"}, "permissions": {"read", "write", "manage"}, "version": {"1"}}
	bad := url.Values{"name": {"Renamed"}, "permissions": {"read", "write", "manage"}, "version": {"1"}, "expires_at": {"soon"}}
	if p := b.post(edit, edit, bad); p.status != http.StatusBadRequest || !strings.Contains(p.body, "date and time") {
		t.Errorf("edit with a bad expiry: %d", p.status)
	}
	if p := b.post(edit, edit, good); p.status != http.StatusOK || !strings.Contains(p.body, "Renamed") {
		t.Fatalf("edit: %d", p.status)
	}
	stale := url.Values{"name": {"Stale"}, "permissions": {"read", "write", "manage"}, "version": {"1"}}
	if p := b.post(edit, edit, stale); p.status != http.StatusPreconditionFailed {
		t.Errorf("edit from a stale form: %d, want 412", p.status)
	}
	got, _ := e.svc.Key(context.Background(), root, "acme", k.ID)
	if got.Name != "Renamed" {
		t.Errorf("the key is named %q, want Renamed", got.Name)
	}
}

// The list searches by name, filters by state, and pages.
func TestListSearchAndPages(t *testing.T) {
	e := newEnv(t)
	_, admin := e.createKey("acme", "Admin", keyward.PermRead, keyward.PermManage)
	for i := range 30 {
		e.createKey("acme", "worker "+string(rune('a'+i%26))+string(rune('0'+i/26)), keyward.PermRead)
	}
	b := e.browser()
	b.signIn(admin)
	p := b.get("/console/keys?q=WORKER")
	if n := strings.Count(p.body, `<tr>`) - 1; n != 25 {
		t.Errorf("first page of a search: %d rows, want 25", n)
	}
	next := regexpNext.FindStringSubmatch(p.body)
	if next == nil {
		t.Fatal("no next page link")
	}
	p = b.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	if n := strings.Count(p.body, `<tr>`) - 1; n != 5 || strings.Contains(p.body, "Admin</a>") {
		t.Errorf("second page: %d rows", n)
	}
	if p := b.get("/console/keys?q=admin"); !strings.Contains(p.body, "Admin</a>") || strings.Contains(p.body, "worker") {
		t.Errorf("a search for admin")
	}
	if p := b.get("/console/keys?state=deleted"); !strings.Contains(p.body, "No keys here") {
		t.Errorf("no deleted keys: %s", p.body)
	}
}

// The edit form changes every field it shows, metadata replaced as typed
// (not merged), in one update event; a field left as it was is not
// touched.
func TestEditEveryField(t *testing.T) {
	e := newEnv(t)
	_, admin := e.createKey("acme", "Admin", keyward.PermRead, keyward.PermWrite, keyward.PermManage)
	root, _ := e.svc.Authenticate(context.Background(), e.root)
	k, _, err := e.svc.CreateKey(context.Background(), root, "acme", keyward.NewKey{
		Name: "Target", Permissions: []keyward.Permission{keyward.PermRead}, Metadata: `{"a":{"x":1},"keep":true}`,
		RateLimits: []keyward.RateLimit{{Name: "rps", Limit: 10, Duration: time.Second}},
		Credits:    &keyward.Credits{Remaining: 50},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.signIn(admin)
	edit := "/console/keys/" + k.ID.String() + "/edit"
	form := b.get(edit)
	for _, want := range []string{`value="Target"`, "rps 10 1s", `value="50"`, `&#34;keep&#34;: true`} {
		if !strings.Contains(form.body, want) {
			t.Errorf("the edit form lacks %s", want)
		}
	}
	expires := time.Now().Add(48 * time.Hour).UTC().Format("2006-01-02T15:04")
	p := b.post(edit, edit, url.Values{
		"name": {"Target v2"}, "permissions": {"read", "write"}, "version": {"1"}, "expires_at": {expires},
		"metadata": {`{"a":{"y":2},"keep":true}`}, "rate_limits": {"rps 20 1s\nday 1000 1d"}, "credits": {""}, "credits_shown": {"50"},
	})
	if p.status != http.StatusOK || !strings.Contains(p.body, "The key was saved") {
		t.Fatalf("edit: %d at %s", p.status, p.url)
	}
	got, err := e.svc.Key(context.Background(), root, "acme", k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Target v2" || len(got.Permissions) != 2 || got.ExpiresAt == nil || got.Metadata != `{"a":{"y":2},"keep":true}` ||
		len(got.RateLimits) != 2 || got.RateLimits[0].Limit != 20 || got.Credits != nil || got.Version != 2 {
		t.Errorf("after the edit: %+v (metadata %s)", got, got.Metadata)
	}
	evs, _ := e.svc.ListAuditEvents(context.Background(), root, "acme", keyward.AuditFilter{KeyID: k.ID, Action: keyward.ActionUpdate, Limit: 10})
	if len(evs.Events) != 1 || len(evs.Events[0].Changes) != 6 {
		t.Errorf("the edit's events: %+v", evs.Events)
	}

	// A form that changes nothing writes nothing.
	again := b.get(edit)
	m := regexp.MustCompile(`name="rate_limits"[^>]*>([^<]*)<`).FindStringSubmatch(again.body)
	same := url.Values{"name": {"Target v2"}, "permissions": {"read", "write"}, "version": {"2"}, "expires_at": {expires},
		"metadata": {`{"keep": true, "a": {"y": 2}}`}, "rate_limits": {m[1]}}
	if p := b.post(edit, edit, same); p.status != http.StatusOK {
		t.Fatalf("an edit that changes nothing: %d", p.status)
	}
	if got, _ := e.svc.Key(context.Background(), root, "acme", k.ID); got.Version != 2 {
		t.Errorf("an edit that changes nothing made version %d", got.Version)
	}
}

// The create form, sent twice (a reload of the page that answered it),
// creates one key, and answers the second time with that key; sent again
// with other values, it is refused and creates nothing. Each showing of
// the form is a new attempt.
func TestCreateFormSentTwiceCreatesOneKey(t *testing.T) {
	e := newEnv(t)
	_, admin := e.createKey("acme", "Admin", keyward.PermRead, keyward.PermManage)
	b := e.browser()
	b.signIn(admin)
	form := b.get("/console/keys/new")
	m := regexp.MustCompile(`name="attempt" value="([^"]+)"`).FindStringSubmatch(form.body)
	if m == nil {
		t.Fatalf("the create form has no attempt: %s", form.body)
	}
	if again := b.get("/console/keys/new"); strings.Contains(again.body, m[1]) {
		t.Error("two showings of the create form share an attempt")
	}
	values := url.Values{"name": {"Once"}, "permissions": {"read"}, "attempt": {m[1]}}
	first := b.post("/console/keys/new", "/console/keys/new", values)
	values.Del("csrf")
	second := b.post("/console/keys/new", "/console/keys/new", values)
	if first.status != http.StatusCreated || second.status != http.StatusCreated {
		t.Fatalf("the form sent twice: %d, then %d", first.status, second.status)
	}
	if a, b := secretInPage.FindString(first.body), secretInPage.FindString(second.body); a == "" || a != b {
		t.Errorf("the second answer shows another key than the first")
	}
	other := url.Values{"name": {"Twice"}, "permissions": {"read"}, "attempt": {m[1]}}
	if p := b.post("/console/keys/new", "/console/keys/new", other); p.status != http.StatusConflict || !strings.Contains(p.body, "already created a key") {
		t.Errorf("the same attempt with another name: %d", p.status)
	}
	root, _ := e.svc.Authenticate(context.Background(), e.root)
	page, err := e.svc.ListKeys(context.Background(), root, "acme", keyward.ListAll, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range page.Keys {
		names = append(names, k.Name)
	}
	if slices.Compare(names, []string{"Admin", "Once"}) != 0 && slices.Compare(names, []string{"Once", "Admin"}) != 0 {
		t.Errorf("keys after the form was sent three times: %v, want Admin and one Once", names)
	}
}

// Credits spent between opening the edit form and saving it stay spent:
// the form saves credits only when they were typed differently from what
// it showed (a verification spends them without a new version).
func TestEditKeepsCreditsSpentMeanwhile(t *testing.T) {
	e := newEnv(t)
	_, admin := e.createKey("acme", "Admin", keyward.PermRead, keyward.PermManage)
	root, _ := e.svc.Authenticate(context.Background(), e.root)
	k, secret, err := e.svc.CreateKey(context.Background(), root, "acme", keyward.NewKey{
		Name: "Metered", Permissions: []keyward.Permission{keyward.PermRead}, Credits: &keyward.Credits{Remaining: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.signIn(admin)
	edit := "/console/keys/" + k.ID.String() + "/edit"
	form := b.get(edit)
	for _, want := range []string{`name="credits" inputmode="numeric" value="100"`, `name="credits_shown" value="100"`} {
		if !strings.Contains(form.body, want) {
			t.Fatalf("the edit form lacks %s", want)
		}
	}
	for range 10 {
		if code := e.verify(secret.Reveal()); code != "VALID" {
			t.Fatalf("verify: %s", code)
		}
	}
	p := b.post(edit, edit, url.Values{"name": {"Metered v2"}, "permissions": {"read"}, "version": {"1"},
		"credits": {"100"}, "credits_shown": {"100"}})
	if p.status != http.StatusOK {
		t.Fatalf("edit: %d", p.status)
	}
	got, err := e.svc.Key(context.Background(), root, "acme", k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Metered v2" || got.Credits == nil || got.Credits.Remaining != 90 {
		t.Errorf("after renaming: name %q, credits %+v; want the 90 left after 10 verifications", got.Name, got.Credits)
	}
	// Typed differently, they are set.
	p = b.post(edit, edit, url.Values{"name": {"Metered v2"}, "permissions": {"read"}, "version": {"2"},
		"credits": {"500"}, "credits_shown": {"90"}})
	if p.status != http.StatusOK {
		t.Fatalf("edit: %d", p.status)
	}
	if got, _ := e.svc.Key(context.Background(), root, "acme", k.ID); got.Credits == nil || got.Credits.Remaining != 500 {
		t.Errorf("after typing 500: credits %+v", got.Credits)
	}
}

// The console logs one line per request with its route pattern, never
// the path's values or the query.
func TestRequestLog(t *testing.T) {
	e := newEnv(t)
	k, admin := e.createKey("acme", "Admin", keyward.PermRead, keyward.PermManage)
	b := e.browser()
	b.signIn(admin)
	b.get("/console/keys/" + k.ID.String() + "?done=updated")
	b.get("/console/keys?q=secret-search")
	log := e.logs.String()
	if !strings.Contains(log, `route="GET /console/keys/{key_id}"`) {
		t.Errorf("no line with the key page's route pattern in:\n%s", log)
	}
	if strings.Contains(log, k.ID.String()) || strings.Contains(log, "secret-search") {
		t.Errorf("the log holds a path's value or a query:\n%s", log)
	}
}

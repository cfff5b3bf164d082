package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/pgtest"
)

// serve serves the console at /console, beside the API, unless
// --console=false.
func TestConsoleServed(t *testing.T) {
	s := startServe(t, filepath.Join(t.TempDir(), "k.db"))
	resp, err := http.Get(s.url + "/console/sign-in")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("GET /console/sign-in: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	if status, _ := call(t, "GET", s.url+"/healthz", "", ""); status != http.StatusOK {
		t.Fatalf("the API beside the console: /healthz %d", status)
	}

	off := startServe(t, filepath.Join(t.TempDir(), "k.db"), "--console=false")
	if status, _ := call(t, "GET", off.url+"/console/sign-in", "", ""); status != http.StatusNotFound {
		t.Fatalf("with --console=false, GET /console/sign-in: %d", status)
	}
}

// consoleClient is a browser-like client of the console of several
// instances: its cookie jar holds the session for the host, whatever the
// port, as a browser's would behind one load balancer's name.
type consoleClient struct {
	t      *testing.T
	client *http.Client
	csrf   string
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func newConsoleClient(t *testing.T) *consoleClient {
	jar, _ := cookiejar.New(nil)
	return &consoleClient{t: t, client: &http.Client{Jar: jar}}
}

// get returns the status, the path the redirects ended at, and the body.
func (c *consoleClient) get(u string) (int, string, string) {
	c.t.Helper()
	resp, err := c.client.Get(u)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return resp.StatusCode, resp.Request.URL.Path, string(b)
}

// post sends a form with the token of the page last read.
func (c *consoleClient) post(u string, form url.Values) (int, string) {
	c.t.Helper()
	form.Set("csrf", c.csrf)
	resp, err := c.client.PostForm(u, form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return resp.StatusCode, resp.Request.URL.Path
}

// TestConsoleRevokesOnEveryInstance: a key disabled or deleted in the
// console of instance A is refused by instance B, which has it in its
// cache, within the same bound as a change made through the API
// (propagationTarget), on both backends; and a console session is one
// session across instances: signed in on A, it works on B, and signed out
// on A, it ends on B.
func TestConsoleRevokesOnEveryInstance(t *testing.T) {
	for _, backend := range []string{"postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			var a, b *proc
			noThrottle := []string{"--failure-burst", "0"}
			if backend == "postgres" {
				u := pgtest.URL(t)
				a = startProcessWith(t, true, append([]string{"--database-url", u}, noThrottle...)...)
				b = startProcessWith(t, false, append([]string{"--database-url", u}, noThrottle...)...)
			} else {
				db := filepath.Join(t.TempDir(), "shared.db")
				a = startProcessWith(t, true, append([]string{"--db", db}, noThrottle...)...)
				b = startProcessWith(t, false, append([]string{"--db", db}, noThrottle...)...)
			}
			_, admin := createOn(t, a, a.root) // read and manage
			id, secret := createOn(t, a, a.root)
			if v := verifyOn(t, b, secret); v.Code != "VALID" {
				t.Fatalf("B before any change: %+v", v)
			}

			c := newConsoleClient(t)
			c.get(a.url + "/console/sign-in")
			if status, at := c.post(a.url+"/console/sign-in", url.Values{"key": {admin}}); status != http.StatusOK || at != "/console/keys" {
				t.Fatalf("sign in on A: %d at %s", status, at)
			}
			if _, at, _ := c.get(b.url + "/console/keys/" + id); at != "/console/keys/"+id {
				t.Fatalf("the session made on A, on B: at %s", at)
			}

			c.get(a.url + "/console/keys/" + id)
			if status, _ := c.post(a.url+"/console/keys/"+id+"/disable", url.Values{}); status != http.StatusOK {
				t.Fatalf("disable in A's console: %d", status)
			}
			took := converges(t, b, "disabled in A's console", time.Now(), code("DISABLED"), secret)
			t.Logf("disabled in A's console: refused by B after %v", took)

			c.get(a.url + "/console/keys/" + id)
			if status, _ := c.post(a.url+"/console/keys/"+id+"/enable", url.Values{}); status != http.StatusOK {
				t.Fatalf("enable in A's console: %d", status)
			}
			converges(t, b, "enabled in A's console", time.Now(), code("VALID"), secret)

			c.get(a.url + "/console/keys/" + id)
			if status, _ := c.post(a.url+"/console/keys/"+id+"/delete", url.Values{}); status != http.StatusOK {
				t.Fatalf("delete in A's console: %d", status)
			}
			acked := time.Now()
			if v := verifyOn(t, a, secret); v.Code != "NOT_FOUND" {
				t.Fatalf("A, right after its console deleted the key: %+v", v)
			}
			took = converges(t, b, "deleted in A's console", acked, code("NOT_FOUND"), secret)
			t.Logf("deleted in A's console: refused by B after %v", took)

			c.get(a.url + "/console/keys")
			if _, at := c.post(a.url+"/console/sign-out", url.Values{}); at != "/console/sign-in" {
				t.Fatalf("sign out on A: at %s", at)
			}
			if _, at, _ := c.get(b.url + "/console/keys"); at != "/console/sign-in" {
				t.Fatalf("signed out on A, the session still opens %s on B", at)
			}
		})
	}
}

package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/httpapi"
)

const (
	appOrigin   = "https://app.example.com"
	otherOrigin = "https://evil.example"
)

// newCORSEnv is an API that allows browser calls from origins.
func newCORSEnv(t *testing.T, origins ...string) *env {
	t.Helper()
	c, err := httpapi.NewCORS(origins)
	if err != nil {
		t.Fatal(err)
	}
	return newEnvOpts(t, nil, httpapi.WithCORS(c))
}

// preflight sends a browser's CORS preflight for method at path.
func (e *env) preflight(path, origin, method string) response {
	e.t.Helper()
	return e.req("OPTIONS", path, "", nil, "Origin", origin, "Access-Control-Request-Method", method,
		"Access-Control-Request-Headers", "authorization,content-type")
}

// list splits a comma-separated header into its trimmed elements.
func list(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for e := range strings.SplitSeq(v, ",") {
			out = append(out, strings.TrimSpace(e))
		}
	}
	return out
}

// wantList fails the test unless header name lists every one of want,
// without regard to case.
func wantList(t *testing.T, h http.Header, name string, want ...string) {
	t.Helper()
	got := list(h, name)
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.EqualFold(g, w) }) {
			t.Errorf("%s: %q lacks %s", name, got, w)
		}
	}
}

// Without WithCORS, nothing changes: no CORS header, no Vary, and a
// preflight is the 405 of a method no route takes.
func TestCORSOffByDefault(t *testing.T) {
	e := newEnv(t)
	r := e.preflight("/verify", appOrigin, "POST")
	want(t, r, http.StatusMethodNotAllowed)
	r.problem(t)
	r = e.req("GET", "/orgs/acme/api_keys", e.root, nil, "Origin", appOrigin)
	want(t, r, http.StatusOK)
	for _, name := range []string{"Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Access-Control-Allow-Methods", "Vary"} {
		if v := r.header.Values(name); len(v) > 0 {
			t.Errorf("without CORS, the answer has %s: %q", name, v)
		}
	}
}

// A preflight from an allowed origin is answered 204 with what a page
// may send; from another origin, a 403 without Allow-Origin; for a path
// or a method the API does not have, the 404 or 405 it would be anyway.
func TestCORSPreflight(t *testing.T) {
	e := newCORSEnv(t, appOrigin, "http://localhost:3000")
	tests := []struct {
		name, path, origin, method string
		status                     int
		methods                    []string // Access-Control-Allow-Methods, for a 204
	}{
		{"verify", "/verify", appOrigin, "POST", http.StatusNoContent, []string{"POST"}},
		{"second origin", "/verify", "http://localhost:3000", "POST", http.StatusNoContent, []string{"POST"}},
		{"patch a key", "/orgs/acme/api_keys/key-1", appOrigin, "PATCH", http.StatusNoContent, []string{"GET", "HEAD", "PATCH", "DELETE"}},
		{"create", "/api_keys", appOrigin, "POST", http.StatusNoContent, []string{"GET", "HEAD", "POST"}},
		{"rotate", "/api_keys/key-1/rotate", appOrigin, "POST", http.StatusNoContent, []string{"POST"}},
		{"refused origin", "/verify", otherOrigin, "POST", http.StatusForbidden, nil},
		{"origin with another port", "/verify", "http://localhost:3001", "POST", http.StatusForbidden, nil},
		{"origin in another case", "/verify", "https://APP.example.com", "POST", http.StatusForbidden, nil},
		{"unknown path", "/nope", appOrigin, "GET", http.StatusNotFound, nil},
		{"method the route lacks", "/verify", appOrigin, "DELETE", http.StatusMethodNotAllowed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.preflight(tt.path, tt.origin, tt.method)
			want(t, r, tt.status)
			wantList(t, r.header, "Vary", "Origin")
			if tt.status != http.StatusNoContent {
				r.problem(t)
				// A browser fails any preflight that is not a 2xx; a
				// listed origin's page may still read why.
				if v := r.header.Get("Access-Control-Allow-Origin"); tt.status == http.StatusForbidden && v != "" {
					t.Errorf("a refused preflight has Access-Control-Allow-Origin %q", v)
				}
				if v := r.header.Get("Access-Control-Allow-Methods"); v != "" {
					t.Errorf("a preflight answered %d has Access-Control-Allow-Methods %q", tt.status, v)
				}
				return
			}
			if len(r.body) != 0 {
				t.Errorf("a 204 with a body: %q", r.body)
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); got != tt.origin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.origin)
			}
			if got := list(r.header, "Access-Control-Allow-Methods"); !slices.Equal(got, tt.methods) {
				t.Errorf("Access-Control-Allow-Methods = %q, want %q", got, tt.methods)
			}
			wantList(t, r.header, "Access-Control-Allow-Headers", "Authorization", "X-API-Key", "Content-Type", "Idempotency-Key", "If-Match", "X-Request-Id")
			if got := r.header.Get("Access-Control-Max-Age"); got != "7200" {
				t.Errorf("Access-Control-Max-Age = %q, want 7200", got)
			}
			if v := r.header.Values("Access-Control-Allow-Credentials"); len(v) > 0 {
				t.Errorf("Access-Control-Allow-Credentials sent: %q (keys are not cookies)", v)
			}
		})
	}
	// An allowed preflight is logged at debug level, as a probe is: it
	// needs no key, so anyone may send it.
	for _, rec := range logLines(t, e.logs.String()) {
		if rec["route"] == "OPTIONS /verify" && rec["status"] == float64(http.StatusNoContent) && rec["level"] != "DEBUG" {
			t.Errorf("an allowed preflight logged at %v, want DEBUG", rec["level"])
		}
	}
}

// The answers to a page's actual requests carry Allow-Origin and expose
// the headers a page needs, errors included; answers to other origins, or
// to a request without Origin (a backend), carry neither.
func TestCORSActualRequests(t *testing.T) {
	e := newCORSEnv(t, appOrigin)
	create := e.req("POST", "/orgs/acme/api_keys", e.root, map[string]any{"name": "from a page", "permissions": []string{"read"}},
		"Origin", appOrigin, "Idempotency-Key", "0123456789abcdef-cors")
	want(t, create, http.StatusCreated)
	var k keyBody
	create.decode(t, &k)
	e.secrets = append(e.secrets, k.Key)
	if got := create.header.Get("Access-Control-Allow-Origin"); got != appOrigin {
		t.Errorf("create: Access-Control-Allow-Origin = %q, want %q", got, appOrigin)
	}
	wantList(t, create.header, "Vary", "Origin")
	wantList(t, create.header, "Access-Control-Expose-Headers", "ETag", "Location", "Link", "Retry-After", "X-Request-Id", "WWW-Authenticate")
	for _, name := range []string{"Location", "ETag", "X-Request-Id"} {
		if create.header.Get(name) == "" {
			t.Errorf("create: no %s to expose", name)
		}
	}

	tests := []struct {
		name           string
		method, path   string
		key            string
		body           any
		origin         string
		status         int
		wantAllowed    bool
		extraHeaderArg []string
	}{
		{"verify", "POST", "/verify", "", map[string]string{"key": k.Key}, appOrigin, http.StatusOK, true, nil},
		{"an error", "GET", "/orgs/acme/api_keys", "", nil, appOrigin, http.StatusUnauthorized, true, nil},
		{"an unknown path", "GET", "/nope", "", nil, appOrigin, http.StatusNotFound, true, nil},
		{"another origin", "POST", "/verify", "", map[string]string{"key": k.Key}, otherOrigin, http.StatusOK, false, nil},
		{"no origin", "POST", "/verify", "", map[string]string{"key": k.Key}, "", http.StatusOK, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.origin != "" {
				headers = append(headers, "Origin", tt.origin)
			}
			r := e.req(tt.method, tt.path, tt.key, tt.body, headers...)
			want(t, r, tt.status)
			wantList(t, r.header, "Vary", "Origin")
			got := r.header.Get("Access-Control-Allow-Origin")
			switch {
			case tt.wantAllowed && got != tt.origin:
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.origin)
			case !tt.wantAllowed && (got != "" || r.header.Get("Access-Control-Expose-Headers") != ""):
				t.Errorf("an answer to %q allows a page to read it: Allow-Origin %q, Expose-Headers %q",
					tt.origin, got, r.header.Get("Access-Control-Expose-Headers"))
			}
		})
	}
}

// "*" allows every origin, without credentials, and then the answers do
// not vary by origin.
func TestCORSAnyOrigin(t *testing.T) {
	e := newCORSEnv(t, "*")
	r := e.preflight("/verify", otherOrigin, "POST")
	want(t, r, http.StatusNoContent)
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("preflight: Access-Control-Allow-Origin = %q, want *", got)
	}
	r = e.req("GET", "/healthz", "", nil, "Origin", otherOrigin)
	want(t, r, http.StatusOK)
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin = %q, want *", got)
	}
	if slices.Contains(list(r.header, "Vary"), "Origin") {
		t.Error("with *, the answer says it varies by Origin")
	}
}

// NewCORS takes exact origins as browsers send them, or "*" alone, and
// says what is wrong with anything else.
func TestNewCORS(t *testing.T) {
	valid := [][]string{
		{"*"},
		{"https://app.example.com"},
		{"http://localhost:3000", "https://app.example.com:8443"},
		{"https://xn--bcher-kva.example"},
		{"http://[::1]:3000"},
		{"HTTPS://App.Example.COM"}, // browsers send it in lower case; so is it kept
	}
	for _, origins := range valid {
		if _, err := httpapi.NewCORS(origins); err != nil {
			t.Errorf("NewCORS(%q): %v", origins, err)
		}
	}
	invalid := []struct {
		origins []string
		want    string
	}{
		{nil, "no origin given"},
		{[]string{""}, "empty"},
		{[]string{"*", "https://a.example"}, "give it alone"},
		{[]string{"https://a.example/"}, "no path"},
		{[]string{"https://a.example/app"}, "no path"},
		{[]string{"https://a.example?x=1"}, "no path, query"},
		{[]string{"https://a.example#top"}, "fragment"},
		{[]string{"https://a.example:443"}, "write https://a.example"},
		{[]string{"http://a.example:80"}, "write http://a.example"},
		{[]string{"https://a.example:"}, "empty port"},
		{[]string{"ftp://a.example"}, "http:// or https://"},
		{[]string{"a.example"}, "http:// or https://"},
		{[]string{"https://"}, "no host"},
		{[]string{"https://user:pw@a.example"}, "no user name"},
		{[]string{"null"}, "sandboxed"},
		{[]string{"https://bücher.example"}, "punycode"},
		{[]string{"https://a.example", " https://b.example"}, "a space"},
	}
	for _, tt := range invalid {
		_, err := httpapi.NewCORS(tt.origins)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewCORS(%q) = %v, want an error saying %q", tt.origins, err, tt.want)
		}
	}
}

// logLines parses the server's JSON log.
func logLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for line := range strings.Lines(log) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		recs = append(recs, r)
	}
	return recs
}

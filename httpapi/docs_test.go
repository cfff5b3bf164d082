package httpapi_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/apidocs"
)

// TestAPIReference: GET /docs serves the reference page and GET
// /docs/{asset} its files, each under the page's Content-Security-Policy
// and with an ETag a browser revalidates against; anything else under
// /docs is a problem document; and, like the document, the page is logged
// at debug level only.
func TestAPIReference(t *testing.T) {
	e := newEnv(t)
	r := e.req("GET", "/docs?v=2", "", nil) // the query is ignored
	want(t, r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" || !strings.HasPrefix(string(r.body), "<!doctype html>") {
		t.Errorf("GET /docs: %s, starting %.40q", ct, r.body)
	}
	for name, want := range map[string]string{
		"Content-Security-Policy": apidocs.ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-cache",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("GET /docs: %s: %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(apidocs.ContentSecurityPolicy, "default-src 'self'") {
		t.Errorf("the policy %q does not keep the page to its own server", apidocs.ContentSecurityPolicy)
	}

	// The files are not operations of the document, so they are fetched
	// past its checks, as a browser fetches them.
	get := func(path string, header ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", e.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		// As sent: no transparent decompression.
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	first, _ := get("/docs")
	etag := first.Header.Get("ETag")
	if resp, b := get("/docs", "If-None-Match", etag); etag == "" || resp.StatusCode != http.StatusNotModified || len(b) != 0 {
		t.Errorf("GET /docs with If-None-Match %s: %d, %d bytes; want 304 and none", etag, resp.StatusCode, len(b))
	}
	// The page is sent compressed to whoever takes gzip.
	page, err := apidocs.Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		accept string
		gzip   bool
	}{
		{"", false},
		{"gzip", true},
		{"br, GZIP;q=0.5", true},
		{"*", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000, identity", false},
		{"deflate, br", false},
	} {
		resp, b := get("/docs", "Accept-Encoding", tt.accept)
		if tt.gzip {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err == nil {
				b, err = io.ReadAll(zr)
			}
			if err != nil {
				t.Errorf("Accept-Encoding %q: %v", tt.accept, err)
				continue
			}
		}
		if gotGzip := resp.Header.Get("Content-Encoding") == "gzip"; gotGzip != tt.gzip || !bytes.Equal(b, page.HTML) {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, the page: %v", tt.accept, resp.Header.Get("Content-Encoding"), bytes.Equal(b, page.HTML))
		}
		if resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: Vary %q", tt.accept, resp.Header.Get("Vary"))
		}
	}
	for name, ct := range map[string]string{"docs.css": "text/css; charset=utf-8", "docs.js": "text/javascript; charset=utf-8", "favicon.svg": "image/svg+xml"} {
		asset, _ := apidocs.FindAsset(name)
		resp, b := get("/docs/" + name)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ct || string(b) != string(asset.Data) {
			t.Errorf("GET /docs/%s: %d %s, %d bytes", name, resp.StatusCode, resp.Header.Get("Content-Type"), len(b))
		}
		if resp.Header.Get("Content-Security-Policy") != apidocs.ContentSecurityPolicy || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET /docs/%s: no policy or nosniff", name)
		}
		if resp, _ := get("/docs/"+name, "If-None-Match", asset.ETag); resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET /docs/%s with its ETag: %d, want 304", name, resp.StatusCode)
		}
	}

	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/docs/page.html.tmpl", http.StatusNotFound},
		{"GET", "/docs/..%2fopenapi.yaml", http.StatusNotFound},
		{"GET", "/docs/examples", http.StatusNotFound},
		{"GET", "/docs/", http.StatusNotFound},
		{"POST", "/docs", http.StatusMethodNotAllowed},
	} {
		r := e.req(tt.method, tt.path, "", nil)
		want(t, r, tt.status)
		r.problem(t)
	}

	// The page and its files are logged at debug level, as the document.
	sc := bufio.NewScanner(strings.NewReader(e.logs.String()))
	seen := 0
	for sc.Scan() {
		var line struct{ Level, Route string }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		if (line.Route == "GET /docs" || line.Route == "GET /docs/{asset}") && line.Level != "DEBUG" {
			t.Errorf("%s logged at %s", line.Route, line.Level)
		}
		if line.Route == "GET /docs" {
			seen++
		}
	}
	if seen == 0 {
		t.Error("no log line of GET /docs")
	}
}

// Package apidocs renders Keyward's API reference: one HTML page, made
// from the OpenAPI document (keyward.OpenAPIDocument) and the example
// implementations embedded beside it, that the server serves at GET /docs.
//
// The page is rendered on the server, once per process, so that it reads
// without JavaScript and needs no network: no CDN, no web font, no build
// step. Its stylesheet and its one script are files of this package
// (assets/), served next to it; nothing is inline, so that the page works
// under ContentSecurityPolicy. The script only switches the example tabs
// and copies an example.
//
// Every operation has four example implementations, one file each under
// examples/<operationId>/: curl.sh (curl), main.go (package client),
// example.py (Python, requests) and example.mjs (JavaScript, fetch). The
// page shows those files as they are, and the tests run them (the Go ones
// always, against a real server), so what a reader copies is what was
// tested. They read the server's address and the key to use from the
// environment (Env), never from the file. To add an operation's examples,
// add its directory: TestEveryOperationHasItsExamples names what is
// missing.
package apidocs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sync"

	"github.com/keyward/keyward"
)

// ContentSecurityPolicy is the policy the page is served with: everything
// from the server itself, nothing inline, no plugin, no frame around it,
// no form and no <base> that could send anything elsewhere.
const ContentSecurityPolicy = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed assets/docs.css assets/docs.js assets/favicon.svg
var assets embed.FS

//go:embed page.html.tmpl
var pageTemplate string

// Examples holds the example implementations, examples/<operationId>/<file>,
// as the page shows them and the tests run them.
//
//go:embed examples
var Examples embed.FS

// A Language is one tab of examples: the file each operation's example in
// that language is kept in.
type Language struct {
	ID    string // the tab's id, in the page's element ids
	Label string // the tab's text
	File  string // the file in examples/<operationId>/
}

// Languages are the example tabs, in the page's order.
var Languages = []Language{
	{ID: "curl", Label: "curl", File: "curl.sh"},
	{ID: "go", Label: "Go", File: "main.go"},
	{ID: "python", Label: "Python", File: "example.py"},
	{ID: "javascript", Label: "JavaScript", File: "example.mjs"},
}

// Env names the environment variables the examples read, with what each
// holds; the page lists them.
var Env = []struct{ Name, Holds string }{
	{"KEYWARD_URL", "the server's address, such as http://127.0.0.1:8080"},
	{"KEYWARD_API_KEY", "the key to call with: a root key, or a key holding manage (for the caller-scoped operations, a key of the organization)"},
	{"KEYWARD_ORG_ID", "the organization, for the organization-scoped operations"},
	{"KEYWARD_KEY_ID", "the key an operation acts on, such as key-123"},
	{"KEYWARD_VERIFY_KEY", "the secret to verify, for POST /verify"},
}

// An Asset is a file the page loads: its stylesheet, its script or its
// icon (without which a browser asks for /favicon.ico, a 404).
type Asset struct {
	Data        []byte
	ContentType string
	// ETag is a strong entity tag of Data, for revalidation.
	ETag string
}

// FindAsset returns the asset the page names name (docs.css, docs.js,
// favicon.svg).
func FindAsset(name string) (Asset, bool) {
	a, ok := loadAssets()[name]
	return a, ok
}

var loadAssets = sync.OnceValue(func() map[string]Asset {
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
	m := map[string]Asset{}
	entries, _ := fs.ReadDir(assets, "assets")
	for _, e := range entries {
		data, err := assets.ReadFile("assets/" + e.Name())
		if err != nil {
			panic(err) // embedded: cannot fail
		}
		m[e.Name()] = Asset{Data: data, ContentType: types[path.Ext(e.Name())], ETag: etag(data)}
	}
	return m
})

// etag is a strong entity tag of data.
func etag(data []byte) string {
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// A Page is the rendered reference.
type Page struct {
	HTML []byte
	ETag string
	// Gzip is HTML compressed (a tenth of its size: the page repeats
	// itself), with its own ETag.
	Gzip     []byte
	GzipETag string
	// Operations is how many operations it shows: every one of the
	// document's.
	Operations int
}

// Render returns the reference page, rendered from keyward.OpenAPIDocument
// and Examples the first time it is asked for and kept: both are part of
// the binary. An error means the document or the template is broken, which
// the package's tests rule out.
func Render() (*Page, error) { return renderOnce() }

var renderOnce = sync.OnceValues(func() (*Page, error) {
	return render(keyward.OpenAPIDocument, Examples)
})

// render makes the page of doc with the examples of ex.
func render(doc []byte, ex fs.FS) (*Page, error) {
	ref, err := newReference(doc, ex)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := pageTmpl().Execute(&buf, ref); err != nil {
		return nil, fmt.Errorf("render the API reference: %w", err)
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("compress the API reference: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress the API reference: %w", err)
	}
	return &Page{
		HTML: buf.Bytes(), ETag: etag(buf.Bytes()),
		Gzip: gz.Bytes(), GzipETag: etag(gz.Bytes()),
		Operations: ref.Count,
	}, nil
}

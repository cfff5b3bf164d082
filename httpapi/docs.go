package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/apidocs"
)

// handleAPIReference serves the API reference page (package apidocs),
// rendered from the OpenAPI document the first time it is asked for,
// compressed for a client that takes gzip (every browser). Like the
// document, it reads no input and ignores the query.
func handleAPIReference() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := apidocs.Render()
		if err != nil {
			writeError(w, r, fmt.Errorf("render the API reference: %w", err))
			return
		}
		w.Header().Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header) {
			w.Header().Set("Content-Encoding", "gzip")
			serveDocsFile(w, r, "text/html; charset=utf-8", page.GzipETag, page.Gzip)
			return
		}
		serveDocsFile(w, r, "text/html; charset=utf-8", page.ETag, page.HTML)
	})
}

// handleAPIReferenceAsset serves the page's stylesheet and script.
func handleAPIReferenceAsset() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := apidocs.FindAsset(r.PathValue("asset"))
		if !ok {
			writeError(w, r, keyward.Errorf(keyward.ENOTFOUND, "not found"))
			return
		}
		serveDocsFile(w, r, a.ContentType, a.ETag, a.Data)
	})
}

// serveDocsFile writes one of the reference's files with the page's
// Content-Security-Policy (nothing inline, nothing from elsewhere) and its
// ETag, answering a matching If-None-Match with 304. Browsers revalidate
// each time (no-cache): a new binary may serve another page at the same
// URL.
func serveDocsFile(w http.ResponseWriter, r *http.Request, contentType, etag string, data []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Security-Policy", apidocs.ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// acceptsGzip reports whether a request's Accept-Encoding takes gzip
// (RFC 9110, section 12.5.3): named, or as *, with a q above 0.
func acceptsGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for _, item := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(item, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "x-gzip" && coding != "*" {
				continue
			}
			q := strings.ReplaceAll(strings.ToLower(params), " ", "")
			if strings.HasPrefix(q, "q=0") && strings.Trim(q[len("q="):], "0.") == "" {
				continue // q=0, 0.0, 0.000: not acceptable
			}
			return true
		}
	}
	return false
}

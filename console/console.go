// Package console serves Keyward's web console at /console: the keys of an
// organization, each key's detail, audit trail and verifications per hour,
// and every change the API makes (create, edit, rotate, disable, enable,
// delete, restore), for a person with a key that may manage keys.
//
// The pages are rendered on the server with html/template, and the forms
// are plain HTML forms, so every flow works without JavaScript; one small
// script of our own (static/console.js) adds a copy button for a new
// secret and a confirmation before a delete. Templates, style sheet and
// script are embedded in the binary: no CDN, no build step, nothing for
// `go run ./cmd/keyward serve` to fetch. A single-page application would
// need a build, a second API surface for the browser and a token in
// JavaScript's reach; this needs none of them.
//
// The console calls *keyward.Service directly, the same methods the HTTP
// API calls: every change writes the same audit event and travels the
// same invalidation feed, so a key revoked here is refused by every
// instance within the same staleness bound as one revoked through the API.
//
// Security, in short (session.go has the details): the browser holds a
// random session token in an HttpOnly, SameSite=Strict cookie (Secure
// under TLS), never the key; sessions live in the database
// (keyward.SessionStore) and end on sign-out, after a bounded lifetime, or
// as soon as their key is deleted, disabled, expired, stripped of manage or
// rotated. Every form carries a per-session CSRF token, and every change
// also checks Origin or Sec-Fetch-Site. Failed sign-ins count in the API's
// failure throttle. Every page carries a Content-Security-Policy without
// inline scripts or styles, frame-ancestors 'none', Referrer-Policy
// no-referrer, nosniff, and, where it shows data, Cache-Control no-store.
// No secret is ever put in a URL or a log line.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the console is mounted.
const Prefix = "/console"

// DefaultSessionLifetime is how long a session lasts, at most, from its
// sign-in: a working day.
const DefaultSessionLifetime = 8 * time.Hour

// hourCount is the verifications of one key in one hour, as the chart
// draws them: those answered VALID, and those refused for a reason that
// names the key (DISABLED, EXPIRED, INSUFFICIENT_PERMISSIONS,
// RATE_LIMITED, USAGE_EXCEEDED).
type hourCount struct {
	Hour           time.Time // the hour's start, UTC
	Valid, Refused int64
}

// Throttle counts failed sign-ins per client address, and says how long
// an address that failed too often must wait (httpapi.FailureThrottle).
type Throttle interface {
	Wait(r *http.Request) time.Duration
	Fail(r *http.Request)
}

// An Option configures New.
type Option func(*server)

// WithThrottle counts failed sign-ins in t, and refuses sign-ins from an
// address t throttles.
func WithThrottle(t Throttle) Option { return func(s *server) { s.throttle = t } }

// WithSecureCookies marks the session cookie Secure (and names it with
// the __Host- prefix), for a console served over HTTPS.
func WithSecureCookies() Option { return func(s *server) { s.secure = true } }

// WithSessionLifetime sets how long a session lasts at most
// (DefaultSessionLifetime if not given or not positive).
func WithSessionLifetime(d time.Duration) Option {
	return func(s *server) {
		if d > 0 {
			s.lifetime = d
		}
	}
}

// server is the console: its dependencies and its parsed templates.
type server struct {
	logger   *slog.Logger
	svc      *keyward.Service
	sessions keyward.SessionStore
	throttle Throttle
	secure   bool
	lifetime time.Duration
	pages    map[string]*template.Template
	// assetVersion names the embedded assets' content, so that a page
	// links to a URL that changes when they do and may be cached for long.
	assetVersion string
	requestIDs   atomic.Uint64
	idPrefix     string
}

// New returns the console's handler, to be mounted at Prefix ("/console"
// and everything under it). It reads and writes sessions in sessions,
// and makes every change through svc.
func New(logger *slog.Logger, svc *keyward.Service, sessions keyward.SessionStore, opts ...Option) http.Handler {
	s := &server{logger: logger, svc: svc, sessions: sessions, lifetime: DefaultSessionLifetime}
	for _, o := range opts {
		o(s)
	}
	s.pages = parsePages()
	s.assetVersion = assetVersion()
	var b [6]byte
	_, _ = rand.Read(b[:])
	s.idPrefix = "console-" + hex.EncodeToString(b[:]) + "-"
	mux := http.NewServeMux()
	s.routes(mux)
	return s.observe(securityHeaders(mux, s.secure))
}

// assetVersion is a short digest of every embedded asset.
func assetVersion() string {
	h := sha256.New()
	_ = fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// securityHeaders sets the headers every console answer carries. The
// policy allows no inline script or style: the pages load one style sheet
// and one script, from the console itself. Over HTTPS (secure), browsers
// are also told to keep to it.
func securityHeaders(next http.Handler, secure bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if secure {
			// Served over HTTPS (or behind a proxy that terminates it):
			// browsers must not come back in plain HTTP, where the
			// session's cookie would not be sent but a sign-in could be
			// made to a forged page.
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status an answer was written with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// observe gives each request an id (answered in X-Request-Id and kept in
// the audit events of its changes), recovers a panic as a 500 page, and
// logs one line per request: its method, route pattern (never the path's
// values nor the query, nor any form field), status and duration.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := s.idPrefix + strconv.FormatUint(s.requestIDs.Add(1), 16)
		w.Header().Set("X-Request-Id", id)
		sw := &statusRecorder{ResponseWriter: w}
		// The mux sets the route pattern on the request it is given:
		// this one.
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger.Error("console panic", "request_id", id, "route", r.Pattern,
					"panic", fmt.Sprintf("%v", v), "stack", string(debug.Stack()))
				if sw.status == 0 {
					s.renderError(sw, r, http.StatusInternalServerError, "Something went wrong on our side. Try again in a moment.")
				}
			}
			level := slog.LevelInfo
			if sw.status >= 500 {
				level = slog.LevelError
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			s.logger.LogAttrs(r.Context(), level, "console request",
				slog.String("method", safeMethod(r.Method)), slog.String("route", route),
				slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)), slog.String("request_id", id))
		}()
		next.ServeHTTP(sw, r)
	})
}

type requestIDKey struct{}

// safeMethod logs a method only if it is one the console serves.
func safeMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost:
		return m
	}
	return "(other)"
}

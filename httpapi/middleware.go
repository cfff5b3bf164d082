package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward"
)

type contextKey int

const callerKey contextKey = 0

// requestID returns the id observe gave the request that w answers, or "".
// The response's header holds it, so that no context need be made for it.
func requestID(w http.ResponseWriter) string {
	if v := w.Header()["X-Request-Id"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// caller returns the authenticated key of ctx, or nil.
func caller(ctx context.Context) *keyward.Key {
	k, _ := ctx.Value(callerKey).(*keyward.Key)
	return k
}

// maxRequestIDLen bounds a request id taken from a client.
const maxRequestIDLen = 128

// saneRequestID reports whether a client's X-Request-Id may be reused: short,
// printable, free of anything that could forge a log line, and of anything
// shaped like a secret.
func saneRequestID(s string) bool {
	// An id that holds what could be a key's start is not echoed or
	// logged: a client may have put its key in the wrong header.
	if s == "" || len(s) > maxRequestIDLen || strings.Contains(s, keyward.SecretPrefix) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.:/+=@", c) >= 0) {
			return false
		}
	}
	return true
}

// requestIDs makes request ids: a random prefix drawn once per process, so
// that ids of several instances or restarts do not collide, and a counter.
// Ids need to be unique, not secret.
var requestIDs = func() *requestIDGen {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &requestIDGen{prefix: hex.EncodeToString(b[:]) + "-"}
}()

type requestIDGen struct {
	prefix string
	n      atomic.Uint64
}

func newRequestID() string {
	var b [40]byte
	return string(strconv.AppendUint(append(b[:0], requestIDs.prefix...), requestIDs.n.Add(1), 16))
}

// observe gives every request an id (the client's X-Request-Id when sane,
// a new one otherwise, always echoed), writes one log line per request,
// and turns the mux's plain-text 404 and 405 into problem+json.
//
// The line's level: error for a 500 (a fault of ours, with the error),
// warn for a 503 (a dependency that does not answer, with the error),
// debug for quietRoutes that succeed or fail on the client's side, info
// otherwise. A request whose client went away is logged as a 499, never as
// a failure of the server. Lines of failures a client can provoke at will
// are sampled (logSampler), and nothing the client sent is logged
// unbounded: the method only when it is one of HTTP's own (appendMethod),
// the request id only when it is short and plain (saneRequestID).
func observe(logger *slog.Logger, sampler *logSampler, obs Observer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			id = newRequestID()
		}
		w.Header()["X-Request-Id"] = []string{id}
		sw := &statusWriter{ResponseWriter: w, r: r}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		if obs != nil {
			obs.Request(route, sw.status, time.Since(start))
		}
		level := slog.LevelInfo
		switch {
		case sw.status == http.StatusServiceUnavailable:
			level = slog.LevelWarn
		case sw.status >= 500:
			level = slog.LevelError
		case quietRoutes[route], sw.status == http.StatusNoContent && r.Method == http.MethodOptions:
			// An allowed CORS preflight (cors.go) needs no key either.
			level = slog.LevelDebug
		}
		if !logger.Enabled(r.Context(), level) {
			return // the verify hot path, at info level, ends here
		}
		duration := time.Since(start)
		var suppressed uint64
		if sampled(sw.status) {
			ok, n := sampler.admit(route, sw.status)
			if !ok {
				return
			}
			suppressed = n
		}
		attrs := make([]slog.Attr, 0, 8)
		attrs = appendMethod(attrs, r.Method)
		attrs = append(attrs,
			slog.String("route", route),
			slog.Int("status", sw.status),
			slog.Duration("duration", duration),
			slog.String("request_id", id),
		)
		if sw.err != nil && sw.status >= 500 {
			attrs = append(attrs, slog.String("err", boundLogText(sw.err.Error())))
		}
		if suppressed > 0 {
			attrs = append(attrs, slog.Uint64("suppressed", suppressed))
		}
		logger.LogAttrs(r.Context(), level, "request", attrs...)
	})
}

// standardMethod reports whether m is one of the methods HTTP defines
// (RFC 9110 and PATCH). A client may send any token as a method, as long
// as the server accepts the request line.
func standardMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// nonstandardMethod stands in a log line for a method HTTP does not define.
const nonstandardMethod = "(nonstandard)"

// appendMethod logs a request's method: as it is when it is a standard
// one, and otherwise a fixed marker and its length, so that a client
// cannot write 64 KiB into the log with each request.
func appendMethod(attrs []slog.Attr, m string) []slog.Attr {
	if standardMethod(m) {
		return append(attrs, slog.String("method", m))
	}
	return append(attrs, slog.String("method", nonstandardMethod), slog.Int("method_len", len(m)))
}

// maxLogText bounds free text in a log line that may carry something of a
// request: an error's message, a panic's value.
const maxLogText = 1024

// boundLogText cuts s to maxLogText bytes, at a rune boundary.
func boundLogText(s string) string { return cutText(s, maxLogText, "...(cut)") }

// cutText returns s if it is at most n bytes long, or else its first n
// bytes at most, cut at a rune boundary, with mark after them.
func cutText(s string, n int, mark string) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// statusWriter records the status, and replaces the body of the mux's own
// 404 and 405 answers (sent for requests no route matched) with a problem.
type statusWriter struct {
	http.ResponseWriter
	r       *http.Request
	status  int
	err     error // what the request failed with, if writeError said
	swallow bool  // discard the mux's plain-text body
	failed  bool  // the request failed as the failure throttle counts (noteFailure)
}

func (w *statusWriter) noteFailure() { w.failed = true }

func (w *statusWriter) WriteHeader(status int) {
	if w.status != 0 {
		return
	}
	w.status = status
	if w.r.Pattern == "" && (status == http.StatusNotFound || status == http.StatusMethodNotAllowed) {
		w.swallow = true
		detail := "no such route"
		if status == http.StatusMethodNotAllowed {
			method := "this method"
			if standardMethod(w.r.Method) { // never echo 64 KiB of method back
				method = "method " + w.r.Method
			}
			detail = fmt.Sprintf("%s is not allowed here; allowed: %s", method, w.Header().Get("Allow"))
		}
		w.Header().Del("X-Content-Type-Options")
		writeError(w.ResponseWriter, w.r, errStatus(status, detail))
		return
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// errPanic is what a request that panicked failed with; the panic itself
// is logged on a line of its own, with its stack.
var errPanic = errors.New("the handler panicked")

// recoverPanics turns a panic into a logged 500 problem. The panic value is
// logged through %v, so a keyward.Secret in it is redacted.
func recoverPanics(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			logger.ErrorContext(r.Context(), "panic", "request_id", requestID(w), "route", r.Pattern,
				"panic", boundLogText(fmt.Sprintf("%v", v)), "stack", string(debug.Stack()))
			writeError(w, r, errPanic)
		}()
		next.ServeHTTP(w, r)
	})
}

// presentedKey returns the key a request carries, from
// "Authorization: Bearer <key>" or "X-API-Key: <key>".
func presentedKey(r *http.Request) (string, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", false
		}
		return strings.TrimSpace(token), true
	}
	if h := r.Header.Get("X-API-Key"); h != "" {
		return strings.TrimSpace(h), true
	}
	return "", false
}

// clientIP is the address of the connection the request came on. A
// forwarding header is not read: any client can write one, and which
// proxies to trust is the deployment's to say, not the request's.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// requireAuth admits only requests that carry a live key, and puts that key
// in the request's context for the handler, with what the audit events of
// the request's changes record of its origin (keyward.RequestInfo).
func requireAuth(svc *keyward.Service, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		presented, ok := presentedKey(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
			writeError(w, r, errStatus(http.StatusUnauthorized, "an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>"))
			return
		}
		k, err := svc.Authenticate(r.Context(), presented)
		if err != nil {
			if keyward.ErrorCode(err) == keyward.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", `Bearer realm="keyward", error="invalid_token"`)
			}
			writeError(w, r, err)
			return
		}
		ctx := context.WithValue(r.Context(), callerKey, k)
		ctx = keyward.WithRequestInfo(ctx, keyward.RequestInfo{
			RequestID: requestID(w),
			ClientIP:  clientIP(r),
			UserAgent: r.UserAgent(),
		})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

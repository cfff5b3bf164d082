// Package httpapi serves Keyward's HTTP API: the published organization-
// scoped and caller-scoped key management contract, health checks and the
// OpenAPI document. It maps domain errors to RFC 9457 problem responses in
// exactly one place (problem.go).
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/keyward/keyward"
)

// Pinger reports whether the database answers, for /readyz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// NewHandler returns the API's handler with every route and the global
// middleware (request ids, one log line per request, panic recovery,
// problem+json for unmatched routes and, when asked for, CORS) applied.
func NewHandler(logger *slog.Logger, svc *keyward.Service, db Pinger, opts ...Option) http.Handler {
	return newHandler(logger, svc, db, time.Now, opts...)
}

// An Option configures NewHandler.
type Option func(*options)

type options struct {
	throttle *FailureThrottle
	warming  func() bool
	cors     *CORS
	observer Observer
}

// Observer hears what the API answers, for metrics (package prometheus):
// each request's route pattern ("unmatched" for none), status and
// duration, and each verification's outcome. Its methods run on every
// request, verifications included: they must be quick and must not
// block.
type Observer interface {
	Request(route string, status int, d time.Duration)
	Verification(code keyward.VerifyCode)
}

// WithObserver has the API report each request and each verification to
// obs.
func WithObserver(obs Observer) Option {
	return func(o *options) { o.observer = obs }
}

// WithWarmUp has /readyz answer 503 while warming reports true: while the
// verification cache is filled at start (keycache.Store.Warming), so that
// a load balancer sends no traffic to an instance that would send it all
// to the database.
func WithWarmUp(warming func() bool) Option {
	return func(o *options) { o.warming = warming }
}

// WithCORS lets browser pages of the origins cors allows call the API
// (cors.go). Without it, no CORS header is sent, a preflight is a 405,
// and the CORS middleware is not in the chain at all, so that the verify
// path pays nothing for it.
func WithCORS(c *CORS) Option {
	return func(o *options) { o.cors = c }
}

// WithFailureThrottle has the API throttle client addresses that fail too
// often (throttle.go). Without it, nothing is throttled.
func WithFailureThrottle(t *FailureThrottle) Option {
	return func(o *options) { o.throttle = t }
}

// newHandler is NewHandler with the clock of the log sampler given, so
// that a test can drive it.
func newHandler(logger *slog.Logger, svc *keyward.Service, db Pinger, now func() time.Time, opts ...Option) http.Handler {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	mux := http.NewServeMux()
	addRoutes(mux, svc, db, o)
	var h http.Handler = mux
	if o.cors != nil {
		h = o.cors.wrap(mux)
	}
	h = recoverPanics(logger, h)
	h = observe(logger, newLogSampler(now), o.observer, h)
	return h
}

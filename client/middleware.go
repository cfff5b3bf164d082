package client

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of the middleware's options.
const (
	// DefaultCacheTTL is how long the middleware reuses a VALID answer.
	// Keyward promises that a revoked key stops verifying everywhere within
	// a second (its --staleness-bound); the cache adds at most this much to
	// it, so that a key revoked, disabled or stripped of a permission is
	// refused by the platform within 1.5 s at worst. A key verified 1,000
	// times a second costs two verifications a second instead.
	DefaultCacheTTL = 500 * time.Millisecond
	// DefaultCacheSize bounds the answers the middleware keeps (a few
	// hundred bytes each).
	DefaultCacheSize = 10_000
	// DefaultVerifyTimeout bounds the wait for Keyward's answer. Keyward
	// answers within its own deadlines (2 s for a database read), or 503;
	// this is for a network that answers nothing at all.
	DefaultVerifyTimeout = 3 * time.Second
	// maxPresentedKey bounds a key taken from a request: Keyward's secrets
	// are 52 characters; anything far longer is refused without asking.
	maxPresentedKey = 1024
)

// A MiddlewareOption configures Middleware.
type MiddlewareOption func(*middleware)

// RequirePermissions has the middleware admit only keys holding every one
// of perms (403 otherwise).
func RequirePermissions(perms ...string) MiddlewareOption {
	return func(m *middleware) { m.opts.Permissions = slices.Clone(perms) }
}

// Cost sets what each request spends of a key's rate limits and credits
// (Keyward's default, 1, if not set; 0 spends nothing).
func Cost(n int64) MiddlewareOption {
	return func(m *middleware) { m.opts.Cost = &n }
}

// CacheTTL sets how long a VALID answer is reused (DefaultCacheTTL); 0
// turns the cache off, so that every request is verified. Whatever it is,
// an answer is never reused past the key's expiry or, for a rotated key's
// previous secret, past its grace period.
func CacheTTL(d time.Duration) MiddlewareOption {
	return func(m *middleware) { m.ttl = max(d, 0) }
}

// CacheSize bounds how many answers the cache holds (DefaultCacheSize).
func CacheSize(n int) MiddlewareOption {
	return func(m *middleware) { m.size = max(n, 1) }
}

// VerifyTimeout bounds how long a request waits for Keyward's answer
// (DefaultVerifyTimeout); past it, the middleware answers 503.
func VerifyTimeout(d time.Duration) MiddlewareOption {
	return func(m *middleware) { m.timeout = d }
}

// Clock sets the clock the cache's entries expire by (time.Now), for tests.
func Clock(now func() time.Time) MiddlewareOption {
	return func(m *middleware) { m.now = now }
}

// OnError is called with each request the middleware answered 500 or 503
// because Keyward could not verify its key (unreachable, or refusing the
// middleware's own request): log it there. The error holds no secret.
func OnError(f func(r *http.Request, err error)) MiddlewareOption {
	return func(m *middleware) { m.onError = f }
}

// Middleware returns net/http middleware that admits only requests
// carrying a key Keyward verifies as VALID, in `Authorization: Bearer` or
// `X-API-Key`, and puts the verification in the request's context
// (VerifiedKey). It works with any router taking a
// func(http.Handler) http.Handler.
//
// It answers, as problem+json:
//   - 401 (with WWW-Authenticate) for a request without a key, or with a
//     key that is unknown, deleted, disabled or expired, alike;
//   - 403 for a key lacking a permission RequirePermissions asks for;
//   - 429 for a key over one of its rate limits (RATE_LIMITED) or out of
//     credits (USAGE_EXCEEDED), and when Keyward throttles this service's
//     address for too many failed verifications;
//   - 503 (with Retry-After) when Keyward cannot be reached or cannot
//     answer, or does not within VerifyTimeout: a request is never let
//     through unverified;
//   - 500 when Keyward refuses the middleware's own request (an unknown
//     permission given to RequirePermissions).
//
// Answers about a key with rate limits carry RateLimit-Limit,
// RateLimit-Remaining and RateLimit-Reset (of the limit nearest to running
// out), and a 429 Retry-After.
//
// The middleware never retries: a request waits for one verification at
// most, and a 429 or 503 goes to its caller with Retry-After.
//
// The cache: a VALID answer of a key without rate limits or credits is
// reused for CacheTTL (DefaultCacheTTL, 500 ms), keyed by a SHA-256 of the
// key. That is how much it adds to Keyward's own staleness bound (1 s): a
// key revoked or changed is refused within 1.5 s by default. A key with
// rate limits or credits is verified on every request, since each
// verification must spend them; a refusal is never cached.
func Middleware(c *Client, opts ...MiddlewareOption) func(http.Handler) http.Handler {
	m := &middleware{c: c, ttl: DefaultCacheTTL, size: DefaultCacheSize, now: time.Now, timeout: DefaultVerifyTimeout}
	for _, o := range opts {
		o(m)
	}
	m.cache = &verdictCache{entries: make(map[[sha256.Size]byte]cacheEntry), size: m.size}
	return m.wrap
}

// middleware is what Middleware configures.
type middleware struct {
	c       *Client
	opts    VerifyOptions
	ttl     time.Duration
	size    int
	now     func() time.Time
	onError func(*http.Request, error)
	timeout time.Duration
	cache   *verdictCache
}

// verifiedKey is the context key of the verification.
type verifiedKey struct{}

// VerifiedKey returns the verification of the request's key, which the
// middleware put in its context: the key's id, organization, name,
// permissions, metadata, and where it stands against its limits. Each
// request gets its own copy.
func VerifiedKey(ctx context.Context) (*Verification, bool) {
	v, ok := ctx.Value(verifiedKey{}).(*Verification)
	return v, ok
}

func (m *middleware) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := presentedKey(r)
		if !ok {
			writeUnauthorized(w, r)
			return
		}
		sum := sha256.Sum256([]byte(key))
		v, cached := m.cache.get(sum, m.now())
		if !cached {
			ctx, cancel := context.WithTimeout(r.Context(), m.timeout)
			var err error
			v, err = m.c.verify(ctx, key, m.opts, false)
			cancel()
			if err != nil {
				m.fail(w, r, err)
				return
			}
			if m.ttl > 0 && cacheable(v) {
				m.cache.put(sum, v, m.expiry(v), m.now())
			}
		}
		setRateLimitHeaders(w.Header(), v.RateLimits)
		switch v.Code {
		case VerifyValid:
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), verifiedKey{}, v)))
		case VerifyInsufficientPermissions:
			writeMiddlewareProblem(w, r, http.StatusForbidden, CodeForbidden, v.Code, "this API key lacks a permission this operation needs")
		case VerifyRateLimited:
			if reset := exceededReset(v.RateLimits); reset > 0 {
				w.Header().Set("Retry-After", strconv.FormatInt(reset, 10))
			}
			writeMiddlewareProblem(w, r, http.StatusTooManyRequests, CodeTooManyRequests, v.Code, "this API key is over its rate limit; try again after Retry-After")
		case VerifyUsageExceeded:
			writeMiddlewareProblem(w, r, http.StatusTooManyRequests, CodeTooManyRequests, v.Code, "this API key has used up its credits")
		default: // NOT_FOUND, DISABLED, EXPIRED, and any code to come
			writeUnauthorized(w, r)
		}
	})
}

// presentedKey takes the key from `Authorization: Bearer` or `X-API-Key`.
// A request giving two different keys, a key far longer than any secret,
// or Authorization with another scheme, presents none.
func presentedKey(r *http.Request) (string, bool) {
	var bearer string
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, token, ok := strings.Cut(strings.TrimSpace(auth), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", false
		}
		bearer = strings.TrimSpace(token)
	}
	apiKey := strings.TrimSpace(r.Header.Get("X-API-Key"))
	key := bearer
	switch {
	case bearer == "":
		key = apiKey
	case apiKey != "" && apiKey != bearer:
		return "", false
	}
	if key == "" || len(key) > maxPresentedKey {
		return "", false
	}
	return key, true
}

// fail answers a request whose key Keyward could not verify: never let
// through. Keyward's own 429 (its failure throttle) goes to the caller as
// a 429; a refusal of the middleware's request (a 4xx) is a fault of the
// platform's configuration, a 500; anything else, unreachable or 5xx, is
// a 503.
func (m *middleware) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	isAPI := errors.As(err, &e)
	switch {
	case isAPI && e.Status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(max(int(e.RetryAfter/time.Second), 1)))
		writeMiddlewareProblem(w, r, http.StatusTooManyRequests, CodeTooManyRequests, "", "too many requests; try again after Retry-After")
		return
	case isAPI && e.Status < 500:
		m.reportError(r, err)
		writeMiddlewareProblem(w, r, http.StatusInternalServerError, CodeInternal, "", "internal error")
		return
	}
	if r.Context().Err() != nil {
		return // the caller went away: nobody reads an answer
	}
	m.reportError(r, err)
	retry := 1
	if isAPI && e.RetryAfter > 0 {
		retry = int((e.RetryAfter + time.Second - 1) / time.Second)
	}
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	writeMiddlewareProblem(w, r, http.StatusServiceUnavailable, CodeUnavailable, "", "the API key cannot be verified now; try again after Retry-After")
}

func (m *middleware) reportError(r *http.Request, err error) {
	if m.onError != nil {
		m.onError(r, err)
	}
}

// cacheable reports whether a verification may be reused: VALID, of a key
// with neither rate limits nor credits (each verification of those must
// spend them).
func cacheable(v *Verification) bool {
	return v.Code == VerifyValid && v.Valid && len(v.RateLimits) == 0 && v.Credits == nil
}

// expiry is when a cached verification stops being used: after the TTL,
// and never past the key's expiry or its secret's end of grace.
func (m *middleware) expiry(v *Verification) time.Time {
	end := m.now().Add(m.ttl)
	for _, t := range []*time.Time{v.ExpiresAt, v.SecretExpiresAt} {
		if t != nil && t.Before(end) {
			end = *t
		}
	}
	return end
}

// setRateLimitHeaders sets the RateLimit headers of the limit nearest to
// running out: an exceeded one first, then the fewest remaining, then the
// soonest reset.
func setRateLimitHeaders(h http.Header, limits []LimitState) {
	if len(limits) == 0 {
		return
	}
	best := limits[0]
	for _, l := range limits[1:] {
		switch {
		case l.Exceeded != best.Exceeded:
			if l.Exceeded {
				best = l
			}
		case l.Remaining != best.Remaining:
			if l.Remaining < best.Remaining {
				best = l
			}
		case l.Reset < best.Reset:
			best = l
		}
	}
	h.Set("RateLimit-Limit", strconv.FormatInt(best.Limit, 10))
	h.Set("RateLimit-Remaining", strconv.FormatInt(best.Remaining, 10))
	h.Set("RateLimit-Reset", strconv.FormatInt(best.Reset, 10))
}

// exceededReset is the seconds until every exceeded limit has reset.
func exceededReset(limits []LimitState) int64 {
	var reset int64
	for _, l := range limits {
		if l.Exceeded {
			reset = max(reset, l.Reset)
		}
	}
	return reset
}

// writeUnauthorized answers 401: every refused key alike, as Keyward does,
// so that the answer tells a guesser nothing.
func writeUnauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", "Bearer")
	writeMiddlewareProblem(w, r, http.StatusUnauthorized, CodeUnauthorized, "", "a valid API key is required (Authorization: Bearer, or X-API-Key)")
}

// writeMiddlewareProblem writes a problem document (RFC 9457) with
// Keyward's problem types; code, when set, is the verification's outcome,
// for clients that tell a rate limit from used-up credits.
func writeMiddlewareProblem(w http.ResponseWriter, r *http.Request, status int, problemCode string, code VerifyCode, detail string) {
	body, _ := json.Marshal(struct {
		Type     string     `json:"type"`
		Title    string     `json:"title"`
		Status   int        `json:"status"`
		Detail   string     `json:"detail"`
		Instance string     `json:"instance,omitempty"`
		Code     VerifyCode `json:"code,omitempty"`
	}{problemTypePrefix + problemCode, http.StatusText(status), status, detail, r.URL.Path, code})
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// verdictCache holds VALID verifications by the SHA-256 of their key,
// bounded in size. It holds no secret.
type verdictCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]cacheEntry
	size    int
}

type cacheEntry struct {
	v       *Verification
	expires time.Time
}

// get returns a copy of the verification held for sum, if it has not
// expired at now.
func (c *verdictCache) get(sum [sha256.Size]byte, now time.Time) (*Verification, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[sum]
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		delete(c.entries, sum)
		return nil, false
	}
	return e.v.clone(), true
}

// put holds v until expires (now is the cache's clock). A full cache first drops what has expired,
// then, if still full, an arbitrary entry (Go's map order): the bound
// holds, and a hot key that loses its place is back on its next request.
func (c *verdictCache) put(sum [sha256.Size]byte, v *Verification, expires, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[sum]; !ok && len(c.entries) >= c.size {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.size {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[sum] = cacheEntry{v: v.clone(), expires: expires}
}

// clone copies v deeply enough that a handler changing its copy changes
// no other request's: the slices, the times, the credits, and the
// metadata's top level.
func (v *Verification) clone() *Verification {
	out := *v
	out.Permissions = slices.Clone(v.Permissions)
	out.RateLimits = slices.Clone(v.RateLimits)
	if v.Metadata != nil {
		out.Metadata = make(map[string]any, len(v.Metadata))
		for k, val := range v.Metadata {
			out.Metadata[k] = val
		}
	}
	if v.Credits != nil {
		c := *v.Credits
		out.Credits = &c
	}
	for _, t := range []**time.Time{&out.ExpiresAt, &out.SecretExpiresAt} {
		if *t != nil {
			c := **t
			*t = &c
		}
	}
	return &out
}

// Package client is a Go client for Keyward's HTTP API, and net/http
// middleware that protects a platform's own API with Keyward keys.
//
// It imports only the standard library, so a platform that imports it pulls
// in none of the server's dependencies (SQLite, pgx, Redis). Its types
// mirror the JSON of the API (openapi.yaml) rather than the server's domain
// types.
//
// Every operation of the API has a typed method. The key operations exist in
// both of the API's shapes, chosen by a Scope: Client.Org names the
// organization in the path (/orgs/{org_id}/api_keys...), Client.Caller acts
// in the caller's own organization, or the one a root key names
// (/api_keys...). Client.Verify is the data plane.
//
// Errors the API answers are *Error (use errors.As), decoded from its
// problem documents. A request that Keyward answers 429 or 503 is retried
// after its Retry-After when repeating it is safe (see WithRetries), and
// every create carries an Idempotency-Key, so that a retried create cannot
// make two keys.
//
// Middleware protects a platform's own handlers: it verifies the key each
// request carries through Keyward, and puts the verification in the
// request's context (VerifiedKey):
//
//	kw, err := client.New(client.WithBaseURL("http://127.0.0.1:8080"))
//	protect := client.Middleware(kw, client.RequirePermissions("read"))
//	mux.Handle("GET /reports", protect(reportsHandler))
//
// No secret (the client's own API key, a key being verified, a created or
// rotated key's secret) is ever written into an error or a log line by this
// package: secrets it returns have the type Secret, which redacts itself.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of the options.
const (
	// DefaultBaseURL is where `keyward serve` listens unless told otherwise.
	DefaultBaseURL = "http://127.0.0.1:8080"
	// DefaultRetries is how many times a request that may be repeated is
	// retried after a 429 or a 503 (so at most three attempts).
	DefaultRetries = 2
	// DefaultMaxRetryWait is the longest Retry-After the client waits for
	// before a retry; an answer asking for more is returned as it is.
	DefaultMaxRetryWait = 10 * time.Second
	// DefaultUserAgent is sent unless WithUserAgent says otherwise.
	DefaultUserAgent = "keyward-go-client"
)

// maxAnswer bounds the body of an answer the client reads: a page of 1,000
// keys, each with 8 KiB of metadata, is about 9 MiB.
const maxAnswer = 64 << 20

// Client calls one Keyward server. It is safe for concurrent use.
type Client struct {
	base         *url.URL
	apiKey       Secret
	http         *http.Client
	userAgent    string
	retries      int
	maxRetryWait time.Duration
	// sleep waits d or until ctx ends; tests replace it to see the waits.
	sleep func(ctx context.Context, d time.Duration) error
}

// An Option configures New.
type Option func(*Client) error

// WithBaseURL sets the server's address, such as
// "https://keyward.internal:8443" (DefaultBaseURL by default). A path in it
// is kept as a prefix of every route, for a server behind a proxy.
func WithBaseURL(rawURL string) Option {
	return func(c *Client) error {
		u, err := url.Parse(rawURL)
		if err != nil {
			return fmt.Errorf("base URL: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("base URL: want http:// or https:// and a host, got %q", u.Redacted())
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return errors.New("base URL: may not have a query or a fragment")
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = ""
		c.base = u
		return nil
	}
}

// WithAPIKey sets the key the client authenticates with on the management
// API: a root key, or an organization's key holding `manage`. It is sent as
// `Authorization: Bearer`, and never printed. Verify needs none.
func WithAPIKey(key string) Option {
	return func(c *Client) error {
		c.apiKey = NewSecret(key)
		return nil
	}
}

// WithHTTPClient sets the *http.Client requests go through
// (http.DefaultClient by default), for its transport, TLS settings and
// timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("HTTP client: nil")
		}
		c.http = hc
		return nil
	}
}

// WithUserAgent sets the User-Agent of every request (DefaultUserAgent by
// default). Keyward records it in the audit log of each change.
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		c.userAgent = ua
		return nil
	}
}

// WithRetries sets how many times a request is retried after Keyward
// answered 429 or 503 (DefaultRetries; 0 turns retries off), and the longest
// Retry-After the client waits for (DefaultMaxRetryWait): an answer asking
// for longer is returned at once, as an *Error whose RetryAfter says how
// long. Without Retry-After the client waits a second, as Keyward asks.
// A context that ends while the client waits ends the wait.
//
// Which requests are retried:
//   - a 429, always: Keyward's failure throttle answers it before doing
//     anything, so repeating cannot make a change twice;
//   - a 503 (or a connection that failed) only where a repeat is safe:
//     reads, deletes, updates without If-Match, disable and enable (they set
//     a value), creates (they always carry an Idempotency-Key), and
//     verifications of cost 0. Never a rotation, a restore, an update with
//     If-Match, or a verification that spends: a 503 there may have been
//     made, and a repeat would act twice.
func WithRetries(retries int, maxWait time.Duration) Option {
	return func(c *Client) error {
		if retries < 0 || maxWait < 0 {
			return errors.New("retries: want at least 0 retries and a wait of at least 0")
		}
		c.retries, c.maxRetryWait = retries, maxWait
		return nil
	}
}

// New returns a client configured by opts. It fails only on a bad option.
func New(opts ...Option) (*Client, error) {
	c := &Client{
		http:         http.DefaultClient,
		userAgent:    DefaultUserAgent,
		retries:      DefaultRetries,
		maxRetryWait: DefaultMaxRetryWait,
		sleep:        sleepContext,
	}
	if err := WithBaseURL(DefaultBaseURL)(c); err != nil {
		return nil, err
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, fmt.Errorf("keyward client: %w", err)
		}
	}
	return c, nil
}

// String describes the client without its key.
func (c *Client) String() string {
	return fmt.Sprintf("keyward.Client(%s)", c.base.Redacted())
}

// sleepContext waits d, or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// call is one operation: what to send, and whether a 503 or a lost
// connection may be answered by sending it again.
type call struct {
	method string
	path   string // escaped, from the API's root
	query  url.Values
	body   []byte // nil: none
	// contentType of body; application/json unless set.
	contentType string
	header      http.Header
	// repeatable: a 503 or a failed connection may be retried.
	repeatable bool
	// noRetry: not even a 429 is retried (the middleware's verifications,
	// which answer their caller rather than wait).
	noRetry bool
	// credential: send the client's API key (not on /verify and the probes).
	credential bool
}

// answer is a successful exchange.
type answer struct {
	header http.Header
	body   []byte
}

// do sends the call, retrying as WithRetries says, and returns the answer
// of a 2xx, or an *Error for any other status. A failure of the connection
// is returned wrapped, naming the method and the path (never a header or a
// body, where the secrets are).
func (c *Client) do(ctx context.Context, cl call) (*answer, error) {
	retries := c.retries
	if cl.noRetry {
		retries = 0
	}
	for attempt := 0; ; attempt++ {
		ans, err := c.once(ctx, cl)
		if err == nil {
			return ans, nil
		}
		if ctx.Err() != nil {
			return nil, err // once already wrapped the context's error
		}
		var wait time.Duration
		var apiErr *Error
		switch {
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests,
			errors.As(err, &apiErr) && apiErr.Status == http.StatusServiceUnavailable && cl.repeatable:
			wait = apiErr.RetryAfter
			if wait == 0 && !apiErr.retryAfterGiven {
				wait = time.Second
			}
		case apiErr == nil && cl.repeatable: // the connection failed
			wait = time.Second
		default:
			return nil, err
		}
		if attempt >= retries || wait > c.maxRetryWait {
			return nil, err
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return nil, errors.Join(fmt.Errorf("keyward: %s %s: waiting to retry: %w", cl.method, cl.path, serr), err)
		}
	}
}

// once makes one attempt of cl.
func (c *Client) once(ctx context.Context, cl call) (*answer, error) {
	// cl.path is escaped already (each id by url.PathEscape).
	u := *c.base
	u.RawPath = c.base.EscapedPath() + cl.path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("keyward: %s %s: %w", cl.method, cl.path, err)
	}
	u.Path = p
	if len(cl.query) > 0 {
		u.RawQuery = cl.query.Encode()
	}
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("keyward: %s %s: %w", cl.method, cl.path, err)
	}
	for name, v := range cl.header {
		req.Header[name] = v
	}
	if cl.body != nil {
		ct := cl.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", c.userAgent)
	if cl.credential && !c.apiKey.IsZero() {
		req.Header.Set("Authorization", "Bearer "+c.apiKey.Reveal())
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// net/http's error names the URL (with any password in it
		// stripped), never a header: the key stays out of it.
		return nil, fmt.Errorf("keyward: %s %s: %w", cl.method, cl.path, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("keyward: %s %s: reading the answer: %w", cl.method, cl.path, err)
	}
	if len(data) > maxAnswer {
		return nil, fmt.Errorf("keyward: %s %s: the answer is larger than %d bytes", cl.method, cl.path, maxAnswer)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return &answer{header: resp.Header, body: data}, nil
	}
	return nil, newError(cl.method, cl.path, resp, data)
}

// unwrapURLError drops *url.Error's "Post "http://...":" prefix, which
// repeats what the client's own wrapping says, keeping the cause.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// decodeJSON decodes an answer's body into v. Numbers inside free-form
// JSON (metadata, audit changes) decode as json.Number, so that none loses
// precision.
func decodeJSON(a *answer, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		// The body is not quoted: a created key's answer holds its secret.
		return fmt.Errorf("keyward: decoding %s: %w", what, redactJSONError(err))
	}
	return nil
}

// redactJSONError keeps the kind of a decoding error but not a value the
// decoder quoted from the body.
func redactJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("a %s where %s was expected (field %q)", strings.Fields(te.Value)[0], te.Type, te.Field)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("malformed JSON at byte %d", se.Offset)
	}
	return errors.New("malformed answer")
}

// newIdempotencyKey returns 32 hex characters from 16 bytes of
// crypto/rand: unguessable, as Keyward asks of an Idempotency-Key (it keys
// the sealed answer holding the new secret).
func newIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand's contract since Go 1.24)
	return hex.EncodeToString(b[:])
}

// parseRetryAfter reads Retry-After: seconds, or an HTTP date. given is
// false when there is none, or none that parses.
func parseRetryAfter(v string, now time.Time) (d time.Duration, given bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Scope is one of the API's two published shapes, through which the key
// operations and the audit log are reached: Client.Org or Client.Caller.
// The operations are the same in both.
type Scope struct {
	c *Client
	// org is the organization: in the path (inPath) or, if not empty, in
	// ?organization_id= (the caller-scoped shape).
	org    string
	inPath bool
}

// Org returns the organization-scoped shape: /orgs/{org_id}/api_keys... and
// /orgs/{org_id}/audit_events. A root key may act in any organization, a
// key holding manage only in its own.
func (c *Client) Org(orgID string) *Scope {
	return &Scope{c: c, org: orgID, inPath: true}
}

// Caller returns the caller-scoped shape: /api_keys... and /audit_events.
// With orgID empty, it acts in the caller's own organization (a key with
// manage); a root key, which belongs to none, names the organization with
// orgID (?organization_id=, or organization_id in a create's body). A
// root key may leave it out to get, change, delete, rotate, disable or
// enable one key (ids are unique), but must give it to list, create or
// restore; reading the audit log without it, a root key reads the events
// about root keys.
func (c *Client) Caller(orgID string) *Scope {
	return &Scope{c: c, org: orgID}
}

// A CallOption adds a header to one write.
type CallOption func(*call)

// IfMatch makes a change (update, delete, rotate, restore, disable,
// enable) conditional: it is made only if the key is still at the version
// etag (Key.ETag) names, and fails with CodePreconditionFailed otherwise.
// An update with IfMatch is not retried after a 503: the first attempt may
// have moved the version.
func IfMatch(etag string) CallOption {
	return func(cl *call) {
		cl.header.Set("If-Match", etag)
		if cl.method == http.MethodPatch {
			cl.repeatable = false
		}
	}
}

// IdempotencyKey gives a create the Idempotency-Key to send (16 to 255
// printable characters, random: it keys the sealed answer holding the
// secret). Without it, the client makes one for each call (from
// crypto/rand) and sends it with every attempt of that call. Give your own
// to repeat a create across calls, or processes: within 24 hours the
// repeat answers with the first answer, the same key and secret.
func IdempotencyKey(key string) CallOption {
	return func(cl *call) { cl.header.Set("Idempotency-Key", key) }
}

// keysPath is the path of the scope's key collection, or of one key and
// what follows it.
func (s *Scope) keysPath(keyID string, rest ...string) (string, error) {
	var b strings.Builder
	if s.inPath {
		if err := checkSegment("organization id", s.org); err != nil {
			return "", err
		}
		b.WriteString("/orgs/" + url.PathEscape(s.org))
	}
	b.WriteString("/api_keys")
	if keyID != "" || len(rest) > 0 {
		if err := checkSegment("key id", keyID); err != nil {
			return "", err
		}
		b.WriteString("/" + url.PathEscape(keyID))
	}
	for _, r := range rest {
		b.WriteString("/" + r)
	}
	return b.String(), nil
}

// checkSegment refuses an id that would not name one path segment.
func checkSegment(what, v string) error {
	if v == "" || v == "." || v == ".." || strings.ContainsAny(v, "/\\") {
		return fmt.Errorf("keyward: the %s is empty or not a path segment (%q)", what, v)
	}
	return nil
}

// orgQuery is ?organization_id= for the caller-scoped shape, when the
// scope names one.
func (s *Scope) orgQuery() url.Values {
	q := url.Values{}
	if !s.inPath && s.org != "" {
		q.Set("organization_id", s.org)
	}
	return q
}

// keyCall builds a call on one key.
func (s *Scope) keyCall(method, keyID string, body []byte, repeatable bool, rest ...string) (call, error) {
	if err := checkSegment("key id", keyID); err != nil {
		return call{}, err
	}
	p, err := s.keysPath(keyID, rest...)
	if err != nil {
		return call{}, err
	}
	return call{method: method, path: p, query: s.orgQuery(), body: body, header: http.Header{}, repeatable: repeatable, credential: true}, nil
}

// keyAnswer decodes an answer carrying one key (a Key, or a Key with
// more: CreatedKey, RotatedKey), with its ETag.
func keyAnswer[T any, PT interface {
	*T
	setETag(string)
}](a *answer, what string) (*T, error) {
	var v T
	if err := decodeJSON(a, &v, what); err != nil {
		return nil, err
	}
	PT(&v).setETag(a.header.Get("ETag"))
	return &v, nil
}

// setETag sets the key's ETag, from the answer's header.
func (k *Key) setETag(etag string) { k.ETag = etag }

// GetKey returns one key, by its id ("key-123", or the number alone).
func (s *Scope) GetKey(ctx context.Context, keyID string) (*Key, error) {
	cl, err := s.keyCall(http.MethodGet, keyID, nil, true)
	if err != nil {
		return nil, err
	}
	a, err := s.c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return keyAnswer[Key](a, "the key")
}

// KeyUsage returns a key's verifications per UTC hour, by outcome, for
// every hour r selects (by default the last 7 days up to the current
// hour). It needs what GetKey needs; a deleted key is CodeNotFound.
func (s *Scope) KeyUsage(ctx context.Context, keyID string, r UsageRange) (*KeyUsage, error) {
	cl, err := s.keyCall(http.MethodGet, keyID, nil, true, "usage")
	if err != nil {
		return nil, err
	}
	if !r.Since.IsZero() {
		cl.query.Set("since", r.Since.UTC().Format(time.RFC3339Nano))
	}
	if !r.Until.IsZero() {
		cl.query.Set("until", r.Until.UTC().Format(time.RFC3339Nano))
	}
	a, err := s.c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	var u KeyUsage
	if err := decodeJSON(a, &u, "the key's usage"); err != nil {
		return nil, err
	}
	return &u, nil
}

// ListKeys returns a page of keys, newest first. Its NextCursor, given
// back in opts.Cursor, reads the next page.
func (s *Scope) ListKeys(ctx context.Context, opts KeyListOptions) (*KeyPage, error) {
	p, err := s.keysPath("")
	if err != nil {
		return nil, err
	}
	q := s.orgQuery()
	if opts.State != "" {
		q.Set("state", opts.State)
	}
	keys, next, err := getPage[Key](ctx, s, p, q, opts.Limit, opts.Cursor, "the keys")
	if err != nil {
		return nil, err
	}
	return &KeyPage{Keys: keys, NextCursor: next}, nil
}

// getPage reads one page of a listing at path p with query q, limit and
// cursor (either left out when zero), and returns its items and the
// cursor of the next page ("" for none); what names the items in errors.
func getPage[T any](ctx context.Context, s *Scope, p string, q url.Values, limit int, cursor, what string) ([]T, string, error) {
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	a, err := s.c.do(ctx, call{method: http.MethodGet, path: p, query: q, repeatable: true, credential: true})
	if err != nil {
		return nil, "", err
	}
	var items []T
	if err := decodeJSON(a, &items, what); err != nil {
		return nil, "", err
	}
	return items, nextCursor(a.header), nil
}

// AllKeys iterates over every key opts selects, page after page (of
// opts.Limit keys). It stops at the first error, which it yields.
func (s *Scope) AllKeys(ctx context.Context, opts KeyListOptions) iter.Seq2[Key, error] {
	return allPages(func(cursor string) ([]Key, string, error) {
		opts.Cursor = cursor
		page, err := s.ListKeys(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		return page.Keys, page.NextCursor, nil
	}, opts.Cursor)
}

// allPages iterates over the items of every page that list reads, from
// the page at cursor on, until a page names no next one. It stops at the
// first error, which it yields.
func allPages[T any](list func(cursor string) ([]T, string, error), cursor string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			items, next, err := list(cursor)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			cursor = next
		}
	}
}

// nextCursor reads the cursor of the next page from a Link header
// (`<...?cursor=...>; rel="next"`); empty when there is none.
func nextCursor(h http.Header) string {
	for _, v := range h.Values("Link") {
		for link := range strings.SplitSeq(v, ",") {
			target, params, ok := strings.Cut(link, ";")
			if !ok || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
				continue
			}
			target = strings.TrimSpace(target)
			target = strings.TrimSuffix(strings.TrimPrefix(target, "<"), ">")
			u, err := url.Parse(target)
			if err != nil {
				continue
			}
			return u.Query().Get("cursor")
		}
	}
	return ""
}

// createBody is a create's body. Both shapes take name and permissions;
// the caller-scoped one takes organization_id too.
type createBody struct {
	Name           string         `json:"name"`
	Permissions    []string       `json:"permissions"`
	OrganizationID string         `json:"organization_id,omitempty"`
	ExpiresAt      *string        `json:"expires_at,omitempty"`
	Metadata       map[string]any `json:"metadata,omitempty"`
	RateLimits     []RateLimit    `json:"rate_limits,omitempty"`
	Credits        *CreditsInput  `json:"credits,omitempty"`
}

// CreateKey creates a key. The answer holds its secret, which Keyward
// never shows again. Every create carries an Idempotency-Key (see
// IdempotencyKey), so that the client may retry it after a 503 or a lost
// answer without making a second key.
func (s *Scope) CreateKey(ctx context.Context, in KeyCreate, opts ...CallOption) (*CreatedKey, error) {
	p, err := s.keysPath("")
	if err != nil {
		return nil, err
	}
	b := createBody{Name: in.Name, Permissions: in.Permissions, Metadata: in.Metadata, RateLimits: in.RateLimits, Credits: in.Credits}
	if !s.inPath {
		b.OrganizationID = s.org
	}
	if in.ExpiresAt != nil {
		t := in.ExpiresAt.UTC().Format(time.RFC3339Nano)
		b.ExpiresAt = &t
	}
	body, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("keyward: encoding the key: %w", err)
	}
	cl := call{method: http.MethodPost, path: p, body: body, header: http.Header{}, repeatable: true, credential: true}
	for _, o := range opts {
		o(&cl)
	}
	if cl.header.Get("Idempotency-Key") == "" {
		cl.header.Set("Idempotency-Key", newIdempotencyKey())
	}
	a, err := s.c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return keyAnswer[CreatedKey](a, "the created key")
}

// UpdateKey changes a key (PATCH, a JSON merge patch) and returns it as it
// now is. A KeyUpdate with nothing set changes nothing.
func (s *Scope) UpdateKey(ctx context.Context, keyID string, u KeyUpdate, opts ...CallOption) (*Key, error) {
	p, err := u.patch()
	if err != nil {
		return nil, fmt.Errorf("keyward: update: %w", err)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("keyward: encoding the update: %w", err)
	}
	cl, err := s.keyCall(http.MethodPatch, keyID, body, true)
	if err != nil {
		return nil, err
	}
	cl.contentType = "application/merge-patch+json"
	for _, o := range opts {
		o(&cl)
	}
	a, err := s.c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return keyAnswer[Key](a, "the key")
}

// DeleteKey deletes (revokes) a key: it stops verifying at once. It can be
// restored within the server's retention. After a 503 it is retried; a
// retry answered CodeNotFound means the key is gone (possibly by the first
// attempt).
func (s *Scope) DeleteKey(ctx context.Context, keyID string, opts ...CallOption) error {
	cl, err := s.keyCall(http.MethodDelete, keyID, nil, true)
	if err != nil {
		return err
	}
	for _, o := range opts {
		o(&cl)
	}
	_, err = s.c.do(ctx, cl)
	return err
}

// RotateKey gives a key a new secret, returned in the answer only. With a
// grace period (up to 7 days), the previous secret keeps verifying until
// RotatedKey.PreviousSecretExpiresAt. A rotation is never retried after a
// 503: if its answer is lost, GetKey tells by the Hint whether it was
// made.
func (s *Scope) RotateKey(ctx context.Context, keyID string, gracePeriod time.Duration, opts ...CallOption) (*RotatedKey, error) {
	if gracePeriod < 0 {
		return nil, errors.New("keyward: rotate: a negative grace period")
	}
	body, err := json.Marshal(map[string]string{"grace_period": formatGrace(gracePeriod)})
	if err != nil {
		return nil, err
	}
	cl, err := s.keyCall(http.MethodPost, keyID, body, false, "rotate")
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o(&cl)
	}
	a, err := s.c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return keyAnswer[RotatedKey](a, "the rotated key")
}

// formatGrace writes a grace period as Keyward reads it: a Go duration.
func formatGrace(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// RestoreKey brings back a deleted key, with its secret and settings. A
// restore of a key that is not deleted fails with CodeConflict, so it is
// not retried after a 503. A root key restoring through Caller must name
// the organization.
func (s *Scope) RestoreKey(ctx context.Context, keyID string, opts ...CallOption) (*Key, error) {
	return s.action(ctx, keyID, "restore", false, opts)
}

// DisableKey disables a key: it verifies as VerifyDisabled until enabled.
func (s *Scope) DisableKey(ctx context.Context, keyID string, opts ...CallOption) (*Key, error) {
	return s.action(ctx, keyID, "disable", true, opts)
}

// EnableKey enables a disabled key.
func (s *Scope) EnableKey(ctx context.Context, keyID string, opts ...CallOption) (*Key, error) {
	return s.action(ctx, keyID, "enable", true, opts)
}

// action posts one of the key's bodiless actions.
func (s *Scope) action(ctx context.Context, keyID, action string, repeatable bool, opts []CallOption) (*Key, error) {
	cl, err := s.keyCall(http.MethodPost, keyID, nil, repeatable, action)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o(&cl)
	}
	a, err := s.c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return keyAnswer[Key](a, "the key")
}

// ListAuditEvents returns a page of the audit log, newest first: every
// change made to the scope's keys. It needs manage (or a root key).
func (s *Scope) ListAuditEvents(ctx context.Context, f AuditFilter) (*AuditPage, error) {
	p := "/audit_events"
	if s.inPath {
		if err := checkSegment("organization id", s.org); err != nil {
			return nil, err
		}
		p = "/orgs/" + url.PathEscape(s.org) + p
	}
	q := s.orgQuery()
	if f.KeyID != "" {
		q.Set("key_id", f.KeyID)
	}
	if f.Action != "" {
		q.Set("action", f.Action)
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	events, next, err := getPage[AuditEvent](ctx, s, p, q, f.Limit, f.Cursor, "the audit events")
	if err != nil {
		return nil, err
	}
	return &AuditPage{Events: events, NextCursor: next}, nil
}

// AllAuditEvents iterates over every event f selects, page after page. It
// stops at the first error, which it yields.
func (s *Scope) AllAuditEvents(ctx context.Context, f AuditFilter) iter.Seq2[AuditEvent, error] {
	return allPages(func(cursor string) ([]AuditEvent, string, error) {
		f.Cursor = cursor
		page, err := s.ListAuditEvents(ctx, f)
		if err != nil {
			return nil, "", err
		}
		return page.Events, page.NextCursor, nil
	}, f.Cursor)
}

// Verify verifies a key presented to the platform (POST /verify), needing
// no credential of the client's own. Every outcome is a Verification with
// its Code, VALID or a refusal; an error means Keyward could not answer
// (or refused the request: an unknown permission in opts is CodeInvalid).
// A verification that spends (Cost nil or above 0) is retried only after a
// 429, which spends nothing: after a 503 it may have spent.
func (c *Client) Verify(ctx context.Context, key string, opts VerifyOptions) (*Verification, error) {
	return c.verify(ctx, key, opts, true)
}

func (c *Client) verify(ctx context.Context, key string, opts VerifyOptions, retry bool) (*Verification, error) {
	body, err := json.Marshal(struct {
		Key         string   `json:"key"`
		Permissions []string `json:"permissions,omitempty"`
		Cost        *int64   `json:"cost,omitempty"`
	}{key, opts.Permissions, opts.Cost})
	if err != nil {
		return nil, fmt.Errorf("keyward: encoding the verification: %w", err)
	}
	a, err := c.do(ctx, call{
		method: http.MethodPost, path: "/verify", body: body,
		repeatable: opts.Cost != nil && *opts.Cost == 0, noRetry: !retry,
	})
	if err != nil {
		return nil, err
	}
	var v Verification
	if err := decodeJSON(a, &v, "the verification"); err != nil {
		return nil, err
	}
	return &v, nil
}

// Health reports whether the server's process is up (GET /healthz).
func (c *Client) Health(ctx context.Context) error {
	_, err := c.do(ctx, call{method: http.MethodGet, path: "/healthz", repeatable: true})
	return err
}

// Ready reports whether the server can answer: its database answers (GET
// /readyz). A server that cannot is an *Error with CodeUnavailable. It is
// not retried: a probe wants the answer of now.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, call{method: http.MethodGet, path: "/readyz", noRetry: true})
	return err
}

// OpenAPIDocument returns the API's contract, openapi.yaml, as the server
// serves it.
func (c *Client) OpenAPIDocument(ctx context.Context) ([]byte, error) {
	a, err := c.do(ctx, call{method: http.MethodGet, path: "/openapi.yaml", repeatable: true})
	if err != nil {
		return nil, err
	}
	return a.body, nil
}

// APIReference returns the API reference page (GET /docs): HTML, rendered
// by the server from the document OpenAPIDocument returns.
func (c *Client) APIReference(ctx context.Context) ([]byte, error) {
	a, err := c.do(ctx, call{method: http.MethodGet, path: "/docs", repeatable: true})
	if err != nil {
		return nil, err
	}
	return a.body, nil
}

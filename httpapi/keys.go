package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// keyJSON is the key object of the API: the seed contract's id, name,
// created_at and permissions, with org_id, hint and the lifecycle's fields
// beside them (new fields only add). It never holds the secret or its
// hash.
type keyJSON struct {
	ID          string               `json:"id"`
	Name        string               `json:"name"`
	CreatedAt   string               `json:"created_at"`
	Permissions []keyward.Permission `json:"permissions"`
	OrgID       string               `json:"org_id"`
	Hint        string               `json:"hint"`
	LastUsedAt  *string              `json:"last_used_at"` // null if never used
	// ExpiresAt is exact (RFC 3339 with its fraction, if any): it decides
	// verification to the microsecond, and a time cut to the second would
	// show a key still valid for up to a second after it expired.
	ExpiresAt *string          `json:"expires_at"` // null: never expires
	Enabled   bool             `json:"enabled"`
	Metadata  json.RawMessage  `json:"metadata"` // {} for none
	UpdatedAt string           `json:"updated_at"`
	CreatedBy *string          `json:"created_by"` // null when not recorded
	State     keyward.KeyState `json:"state"`
	DeletedAt *string          `json:"deleted_at"` // null unless deleted
	// RateLimits are the key's rate limits, [] for none.
	RateLimits []rateLimitJSON `json:"rate_limits"`
	// Credits are the key's usage credits as they stand now (a refill
	// due is shown applied), null for unlimited.
	Credits *creditsJSON `json:"credits"`
}

// rateLimitJSON is one of a key's rate limits.
type rateLimitJSON struct {
	Name     string `json:"name"`
	Limit    int64  `json:"limit"`
	Duration string `json:"duration"` // "60s", or "1500ms" when not whole seconds
}

// creditsJSON is a key's usage credits.
type creditsJSON struct {
	Remaining  int64       `json:"remaining"`
	Refill     *refillJSON `json:"refill"` // null: never refilled
	RefilledAt string      `json:"refilled_at"`
}

// refillJSON says how credits are refilled.
type refillJSON struct {
	Amount   int64                  `json:"amount"`
	Interval keyward.RefillInterval `json:"interval"`
}

// noRateLimits is the rate_limits of a key without any: [] rather than null.
var noRateLimits = []rateLimitJSON{}

// toLimitsJSON describes a key's rate limits and credits at now.
func toLimitsJSON(k *keyward.Key, now time.Time) ([]rateLimitJSON, *creditsJSON) {
	limits := noRateLimits
	if len(k.RateLimits) > 0 {
		limits = make([]rateLimitJSON, len(k.RateLimits))
		for i, l := range k.RateLimits {
			limits[i] = rateLimitJSON{Name: l.Name, Limit: l.Limit, Duration: keyward.FormatLimitDuration(l.Duration)}
		}
	}
	if k.Credits == nil {
		return limits, nil
	}
	c := k.Credits.Current(now)
	out := &creditsJSON{Remaining: c.Remaining, RefilledAt: c.RefilledAt.UTC().Format(time.RFC3339Nano)}
	if c.Refill != nil {
		out.Refill = &refillJSON{Amount: c.Refill.Amount, Interval: c.Refill.Interval}
	}
	return limits, out
}

// emptyObject is the metadata of a key without any.
var emptyObject = json.RawMessage(`{}`)

// toKeyJSON describes k, its state decided at now (the service's clock).
func toKeyJSON(k *keyward.Key, now time.Time) keyJSON {
	var lastUsed *string
	if k.LastUsedAt != nil {
		s := k.LastUsedAt.UTC().Format(time.RFC3339)
		lastUsed = &s
	}
	metadata := emptyObject
	if k.Metadata != "" {
		metadata = json.RawMessage(k.Metadata)
	}
	updated := k.UpdatedAt
	if updated.IsZero() { // a record older than the field
		updated = k.CreatedAt
	}
	var createdBy *string
	if k.CreatedBy != "" {
		createdBy = &k.CreatedBy
	}
	limits, credits := toLimitsJSON(k, now)
	return keyJSON{
		RateLimits:  limits,
		Credits:     credits,
		LastUsedAt:  lastUsed,
		ID:          k.ID.String(),
		Name:        k.Name,
		CreatedAt:   k.CreatedAt.UTC().Format(time.RFC3339),
		Permissions: k.Permissions,
		OrgID:       string(k.OrgID),
		Hint:        k.Hint,
		ExpiresAt:   exactTime(k.ExpiresAt),
		Enabled:     !k.Disabled,
		Metadata:    metadata,
		UpdatedAt:   updated.UTC().Format(time.RFC3339),
		CreatedBy:   createdBy,
		State:       k.State(now),
		DeletedAt:   secondTime(k.DeletedAt),
	}
}

// exactTime writes t in RFC 3339 with its fraction of a second, if it has
// one; nil for none.
func exactTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

// secondTime writes t in RFC 3339 to the second, as created_at; nil for
// none.
func secondTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

// createdKeyJSON is the create response: the key object and, this one
// time, the secret.
type createdKeyJSON struct {
	keyJSON
	Key string `json:"key"`
}

// writeKey answers with one key, its ETag (its version, for If-Match)
// beside it.
func writeKey(w http.ResponseWriter, r *http.Request, svc *keyward.Service, status int, k *keyward.Key) {
	w.Header().Set("ETag", k.ETag())
	encode(w, r, status, toKeyJSON(k, svc.Now()))
}

// orgResolver finds the organization a request names: from the path, or
// from ?organization_id= ("" when the request names none, for the
// caller's own). Which organization it acts on, and whether the caller may,
// is Service's to decide.
type orgResolver func(r *http.Request) (keyward.OrgID, error)

// orgFromPath takes the organization from /orgs/{org_id}/... An id that
// cannot exist is not found, like one that does not.
func orgFromPath(r *http.Request) (keyward.OrgID, error) {
	org, err := keyward.ParseOrgID(r.PathValue("org_id"))
	if err != nil {
		return "", errStatus(http.StatusNotFound, "not found")
	}
	return org, nil
}

// orgFromQuery takes the organization from ?organization_id=, if given.
func orgFromQuery(r *http.Request) (keyward.OrgID, error) {
	q := r.URL.Query()
	if !q.Has("organization_id") {
		return "", nil
	}
	return parseOrganizationID(q.Get("organization_id"))
}

// parseOrganizationID validates an organization_id given in the query or
// a body.
func parseOrganizationID(s string) (keyward.OrgID, error) {
	org, err := keyward.ParseOrgID(s)
	if err != nil {
		return "", keyward.Invalid("invalid request", keyward.FieldError{Field: "organization_id", Reason: err.Error()})
	}
	return org, nil
}

// keyIDFromPath parses {key_id}; an id that cannot exist is not found.
func keyIDFromPath(r *http.Request) (keyward.KeyID, error) {
	id, err := keyward.ParseKeyID(r.PathValue("key_id"))
	if err != nil {
		return 0, errStatus(http.StatusNotFound, "API key not found")
	}
	return id, nil
}

// parseLimit reads ?limit= as every listing takes it.
func parseLimit(q url.Values, bad []keyward.FieldError) (int, []keyward.FieldError) {
	if !q.Has("limit") {
		return keyward.DefaultPageLimit, bad
	}
	n, err := strconv.Atoi(q.Get("limit"))
	if err != nil {
		bad = append(bad, keyward.FieldError{Field: "limit", Reason: "must be an integer from 1 to " + strconv.Itoa(keyward.MaxPageLimit)})
	}
	return n, bad
}

// setNextLink gives a listing's answer the Link to its next page: the
// request's own query with limit and the next page's cursor.
func setNextLink(w http.ResponseWriter, r *http.Request, limit int, cursor string) {
	next := url.Values{}
	for name, v := range r.URL.Query() {
		next[name] = v
	}
	next.Set("limit", strconv.Itoa(limit))
	next.Set("cursor", cursor)
	w.Header().Set("Link", "<"+r.URL.Path+"?"+next.Encode()+`>; rel="next"`)
}

func handleKeyList(svc *keyward.Service, resolve orgResolver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, bad := parseLimit(q, nil)
		var after *keyward.Cursor
		if q.Has("cursor") {
			c, err := keyward.ParseCursor(q.Get("cursor"))
			if err != nil {
				bad = append(bad, keyward.ErrorFields(err)...)
			}
			after = c
		}
		state, err := keyward.ParseListState(q.Get("state"))
		if err != nil || q.Has("state") && q.Get("state") == "" {
			bad = append(bad, keyward.FieldError{Field: "state", Reason: "must be one of: active, expired, disabled, deleted, all"})
		}
		if len(bad) > 0 {
			writeError(w, r, keyward.Invalid("invalid query", bad...))
			return
		}
		org, err := resolve(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		page, err := svc.ListKeys(r.Context(), caller(r.Context()), org, state, after, limit)
		if err != nil {
			writeError(w, r, err)
			return
		}
		// Each key's state is rendered at the instant the service filtered
		// by state: a second reading of the clock could show a key listed
		// as active "expired".
		out := make([]keyJSON, len(page.Keys))
		for i, k := range page.Keys {
			out[i] = toKeyJSON(k, page.Now)
		}
		if page.Next != nil {
			setNextLink(w, r, limit, page.Next.Encode())
		}
		encode(w, r, http.StatusOK, out)
	})
}

// keyTarget is what every request about one key names: its organization
// (as the route resolves it) and its id.
func keyTarget(r *http.Request, resolve orgResolver) (keyward.OrgID, keyward.KeyID, error) {
	org, err := resolve(r)
	if err != nil {
		return "", 0, err
	}
	id, err := keyIDFromPath(r)
	if err != nil {
		return "", 0, err
	}
	return org, id, nil
}

// writeTarget is what every write to one key names: the key (keyTarget)
// and the condition its If-Match sets.
func writeTarget(r *http.Request, resolve orgResolver) (keyward.OrgID, keyward.KeyID, *keyward.Condition, error) {
	org, id, err := keyTarget(r, resolve)
	if err != nil {
		return "", 0, nil, err
	}
	cond, err := ifMatch(r)
	if err != nil {
		return "", 0, nil, err
	}
	return org, id, cond, nil
}

// ifMatch reads the request's If-Match into a Condition: nil when there is
// none. Several header lines are one list, as RFC 9110 says.
func ifMatch(r *http.Request) (*keyward.Condition, error) {
	values := r.Header.Values("If-Match")
	if len(values) == 0 {
		return nil, nil
	}
	return keyward.ParseIfMatch(strings.Join(values, ","))
}

func handleKeyGet(svc *keyward.Service, resolve orgResolver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org, id, err := keyTarget(r, resolve)
		if err != nil {
			writeError(w, r, err)
			return
		}
		k, err := svc.Key(r.Context(), caller(r.Context()), org, id)
		if err != nil {
			writeError(w, r, err)
			return
		}
		// The key's audit events, by the organization-scoped route, which
		// every caller that may see the key may use.
		w.Header().Set("Link", "</orgs/"+string(k.OrgID)+"/audit_events?key_id="+k.ID.String()+`>; rel="audit"`)
		writeKey(w, r, svc, http.StatusOK, k)
	})
}

func handleKeyDelete(svc *keyward.Service, resolve orgResolver) http.Handler {
	type response struct {
		Message string `json:"message"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org, id, cond, err := writeTarget(r, resolve)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if err := svc.DeleteKey(r.Context(), caller(r.Context()), org, id, cond); err != nil {
			writeError(w, r, err)
			return
		}
		encode(w, r, http.StatusOK, response{Message: "API key deleted successfully"})
	})
}

// handleOrgKeyCreate serves POST /orgs/{org_id}/api_keys, the first seed
// document's create.
func handleOrgKeyCreate(svc *keyward.Service) http.Handler {
	type request struct {
		Name        *string         `json:"name"`
		Permissions *[]string       `json:"permissions"`
		ExpiresAt   *string         `json:"expires_at"`
		Metadata    freeForm        `json:"metadata"`
		RateLimits  json.RawMessage `json:"rate_limits"`
		Credits     json.RawMessage `json:"credits"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		retry, err := decodeWrite(w, r, &req)
		if err != nil {
			writeError(w, r, err)
			return
		}
		in, err := parseNewKey(req.Name, "name", req.Permissions, "permissions")
		bad := append(keyward.ErrorFields(err), parseNewKeyLifecycle(req.ExpiresAt, req.Metadata, &in)...)
		bad = append(bad, parseNewKeyLimits(req.RateLimits, req.Credits, &in)...)
		if len(bad) > 0 {
			writeError(w, r, keyward.Invalid("invalid key", bad...))
			return
		}
		in.Retry = retry
		org, err := orgFromPath(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		createKey(w, r, svc, org, in)
	})
}

// handleCallerKeyCreate serves POST /api_keys, the second seed document's
// create: key_name and key_scope (or name and permissions), and
// organization_id as a number or a string.
func handleCallerKeyCreate(svc *keyward.Service) http.Handler {
	type request struct {
		KeyName        *string         `json:"key_name"`
		KeyScope       *[]string       `json:"key_scope"`
		Name           *string         `json:"name"`
		Permissions    *[]string       `json:"permissions"`
		OrganizationID json.RawMessage `json:"organization_id"`
		ExpiresAt      *string         `json:"expires_at"`
		Metadata       freeForm        `json:"metadata"`
		RateLimits     json.RawMessage `json:"rate_limits"`
		Credits        json.RawMessage `json:"credits"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		retry, err := decodeWrite(w, r, &req)
		if err != nil {
			writeError(w, r, err)
			return
		}
		var bad []keyward.FieldError
		name, nameField := req.KeyName, "key_name"
		if req.Name != nil {
			if name != nil {
				bad = append(bad, keyward.FieldError{Field: "name", Reason: "give key_name or name, not both"})
			}
			name, nameField = req.Name, "name"
		}
		perms, permsField := req.KeyScope, "key_scope"
		if req.Permissions != nil {
			if perms != nil {
				bad = append(bad, keyward.FieldError{Field: "permissions", Reason: "give key_scope or permissions, not both"})
			}
			perms, permsField = req.Permissions, "permissions"
		}
		in, err := parseNewKey(name, nameField, perms, permsField)
		bad = append(bad, keyward.ErrorFields(err)...)
		bad = append(bad, parseNewKeyLifecycle(req.ExpiresAt, req.Metadata, &in)...)
		bad = append(bad, parseNewKeyLimits(req.RateLimits, req.Credits, &in)...)
		org, err := organizationID(req.OrganizationID)
		bad = append(bad, keyward.ErrorFields(err)...)
		if len(bad) > 0 {
			writeError(w, r, keyward.Invalid("invalid key", bad...))
			return
		}
		in.Retry = retry
		createKey(w, r, svc, org, in)
	})
}

// organizationID reads organization_id, a JSON integer or string; ""
// when it is absent or null.
func organizationID(raw json.RawMessage) (keyward.OrgID, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	bad := keyward.Invalid("invalid request", keyward.FieldError{Field: "organization_id", Reason: "must be an integer or a string"})
	switch raw[0] {
	case '"':
		var value string
		if err := json.Unmarshal(raw, &value); err != nil {
			return "", bad
		}
		return parseOrganizationID(value)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n < 0 {
			return "", keyward.Invalid("invalid request", keyward.FieldError{Field: "organization_id", Reason: "must be a non-negative integer or a string"})
		}
		return parseOrganizationID(strconv.FormatInt(n, 10))
	}
	return "", bad
}

// parseNewKeyLifecycle sets in's expiry and metadata, what both creates
// take beside a name and permissions, each optional (null is none), and
// returns what is wrong with them. That an expiry is in the future is the
// service's to check.
func parseNewKeyLifecycle(expiresAt *string, metadata freeForm, in *keyward.NewKey) []keyward.FieldError {
	var bad []keyward.FieldError
	if expiresAt != nil {
		t, err := parseTime(*expiresAt)
		if err != nil {
			bad = append(bad, keyward.FieldError{Field: "expires_at", Reason: err.Error()})
		}
		in.ExpiresAt = &t
	}
	if md := bytes.TrimSpace(metadata); len(md) > 0 && !bytes.Equal(md, []byte("null")) {
		m, err := keyward.ParseMetadata(md)
		if err != nil {
			bad = append(bad, keyward.FieldError{Field: "metadata", Reason: err.Error()})
		}
		in.Metadata = m
	}
	return bad
}

// parseNewKeyLimits sets in's rate limits and credits, each optional
// (null is none), and returns what is wrong with them.
func parseNewKeyLimits(rateLimits, credits json.RawMessage, in *keyward.NewKey) []keyward.FieldError {
	var bad []keyward.FieldError
	if rateLimits != nil && !isNull(rateLimits) {
		limits, err := parseRateLimits(rateLimits)
		if err != nil {
			bad = append(bad, *err)
		}
		in.RateLimits = limits
	}
	if credits != nil && !isNull(credits) {
		c, err := keyward.PatchCredits(nil, credits, time.Time{})
		if err != nil {
			bad = append(bad, keyward.FieldError{Field: "credits", Reason: err.Error()})
		}
		in.Credits = c
	}
	return bad
}

// parseRateLimits reads rate_limits: an array of {name, limit, duration}.
// What a limit may be is the service's to check (ParseRateLimits); this
// reads types.
func parseRateLimits(raw json.RawMessage) ([]keyward.RateLimit, *keyward.FieldError) {
	var in []struct {
		Name     *string         `json:"name"`
		Limit    json.RawMessage `json:"limit"`
		Duration *string         `json:"duration"`
	}
	fail := func(reason string) ([]keyward.RateLimit, *keyward.FieldError) {
		return nil, &keyward.FieldError{Field: "rate_limits", Reason: reason}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in == nil {
		return fail(`must be an array of {"name", "limit", "duration"} objects, such as [{"name": "requests", "limit": 100, "duration": "60s"}]`)
	}
	out := make([]keyward.RateLimit, len(in))
	for i, l := range in {
		n := strconv.Itoa(i + 1)
		if l.Name == nil || l.Limit == nil || l.Duration == nil {
			return fail("limit " + n + ": needs a name, a limit and a duration")
		}
		limit, err := strconv.ParseInt(string(l.Limit), 10, 64)
		if err != nil {
			return fail("limit " + n + ": limit must be an integer")
		}
		d, err := keyward.ParseLimitDuration(*l.Duration)
		if err != nil {
			return fail("limit " + n + ": duration " + err.Error())
		}
		out[i] = keyward.RateLimit{Name: *l.Name, Limit: limit, Duration: d}
	}
	return out, nil
}

// parseTime reads a time given in a request: RFC 3339, with an offset or
// Z, in the years 1 to 9999 once in UTC. The year is checked in UTC
// because every answer writes times in UTC: 9999-12-31T23:59:59-23:59 is
// in the year 10000 there, which RFC 3339 cannot write (nor could the
// answers and idempotency records that would hold it).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errors.New(`must be an RFC 3339 time, such as "2030-01-01T00:00:00Z"`)
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, errors.New("must be in the years 0001 to 9999 once converted to UTC (Z)")
	}
	return t, nil
}

// parseNewKey validates a create request's name and permissions, naming
// the fields as the request did.
func parseNewKey(name *string, nameField string, perms *[]string, permsField string) (keyward.NewKey, error) {
	var in keyward.NewKey
	var bad []keyward.FieldError
	var err error
	if name == nil {
		bad = append(bad, keyward.FieldError{Field: nameField, Reason: "is required"})
	} else if in.Name, err = keyward.ParseName(*name); err != nil {
		bad = append(bad, keyward.FieldError{Field: nameField, Reason: err.Error()})
	}
	if perms == nil {
		bad = append(bad, keyward.FieldError{Field: permsField, Reason: "is required"})
	} else if in.Permissions, err = keyward.ParsePermissions(*perms); err != nil {
		bad = append(bad, keyward.FieldError{Field: permsField, Reason: err.Error()})
	}
	if len(bad) > 0 {
		return in, keyward.Invalid("invalid key", bad...)
	}
	return in, nil
}

// createKey issues the key and writes the one response that shows its
// secret: never cached, never logged.
func createKey(w http.ResponseWriter, r *http.Request, svc *keyward.Service, org keyward.OrgID, in keyward.NewKey) {
	k, secret, err := svc.CreateKey(r.Context(), caller(r.Context()), org, in)
	if err != nil {
		writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Location", "/orgs/"+url.PathEscape(string(k.OrgID))+"/api_keys/"+k.ID.String())
	h.Set("ETag", k.ETag())
	encode(w, r, http.StatusCreated, createdKeyJSON{keyJSON: toKeyJSON(k, svc.Now()), Key: secret.Reveal()})
}

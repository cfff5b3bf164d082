package httpapi

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"time"

	"github.com/keyward/keyward"
)

// patchMediaTypes are the bodies PATCH reads: an RFC 7396 merge patch,
// and plain JSON read as one. A JSON Patch (RFC 6902,
// application/json-patch+json) means something else entirely, so it is
// refused rather than misread.
const patchMediaTypes = "application/merge-patch+json, application/json"

// isMergePatch reports whether a Content-Type names a body PATCH reads.
func isMergePatch(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/merge-patch+json" || mt == "application/json")
}

// patchRequest is a PATCH body as it arrives. Each field stays raw, so
// that null (which clears expires_at, removes metadata, and is refused
// elsewhere) is told from absent. The fields a key shows but no request
// changes are named too, so that the answer says they are read-only
// rather than unknown.
type patchRequest struct {
	Name        json.RawMessage `json:"name"`
	Permissions json.RawMessage `json:"permissions"`
	Metadata    freeForm        `json:"metadata"`
	ExpiresAt   json.RawMessage `json:"expires_at"`
	Enabled     json.RawMessage `json:"enabled"`
	RateLimits  json.RawMessage `json:"rate_limits"`
	Credits     json.RawMessage `json:"credits"`

	ID         json.RawMessage `json:"id"`
	CreatedAt  json.RawMessage `json:"created_at"`
	OrgID      json.RawMessage `json:"org_id"`
	Hint       json.RawMessage `json:"hint"`
	LastUsedAt json.RawMessage `json:"last_used_at"`
	UpdatedAt  json.RawMessage `json:"updated_at"`
	CreatedBy  json.RawMessage `json:"created_by"`
	State      json.RawMessage `json:"state"`
	DeletedAt  json.RawMessage `json:"deleted_at"`
	Key        json.RawMessage `json:"key"`
}

// isNull reports whether a raw member is JSON null.
func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// parse turns the body into a KeyPatch, or a 400 naming every bad field.
// What a value may be (a valid name, known permissions, metadata's size,
// an expiry in the future) is the service's to check; this reads types.
func (req *patchRequest) parse() (keyward.KeyPatch, error) {
	var p keyward.KeyPatch
	var bad []keyward.FieldError
	for _, ro := range []struct {
		name string
		raw  json.RawMessage
	}{
		{"id", req.ID}, {"created_at", req.CreatedAt}, {"org_id", req.OrgID}, {"hint", req.Hint},
		{"last_used_at", req.LastUsedAt}, {"updated_at", req.UpdatedAt}, {"created_by", req.CreatedBy},
		{"state", req.State}, {"deleted_at", req.DeletedAt}, {"key", req.Key},
	} {
		if ro.raw != nil {
			reason := "is read-only and cannot be changed"
			switch ro.name {
			case "key":
				reason = "cannot be changed: rotate the key (POST .../rotate) for a new secret"
			case "state":
				reason = "is read-only: change enabled, expires_at, or delete or restore the key"
			case "deleted_at":
				reason = "is read-only: delete or restore the key"
			}
			bad = append(bad, keyward.FieldError{Field: ro.name, Reason: reason})
		}
	}
	notNull := func(field string, raw json.RawMessage, v any, must string) bool {
		switch {
		case raw == nil:
			return false
		case isNull(raw):
			bad = append(bad, keyward.FieldError{Field: field, Reason: "must not be null: a key always has one; give " + must})
			return false
		case json.Unmarshal(raw, v) != nil:
			bad = append(bad, keyward.FieldError{Field: field, Reason: "must be " + must})
			return false
		}
		return true
	}
	var name string
	if notNull("name", req.Name, &name, "a string") {
		p.Name = &name
	}
	var perms []string
	if notNull("permissions", req.Permissions, &perms, "an array of strings") {
		p.Permissions = make([]keyward.Permission, len(perms))
		for i, s := range perms {
			p.Permissions[i] = keyward.Permission(s)
		}
	}
	var enabled bool
	if notNull("enabled", req.Enabled, &enabled, "a boolean") {
		p.Enabled = &enabled
	}
	if req.Metadata != nil {
		p.Metadata = json.RawMessage(bytes.TrimSpace(req.Metadata))
	}
	if req.RateLimits != nil {
		limits := []keyward.RateLimit{}
		if !isNull(req.RateLimits) {
			l, fe := parseRateLimits(req.RateLimits)
			if fe != nil {
				bad = append(bad, *fe)
			}
			limits = l
		}
		p.RateLimits = &limits
	}
	if req.Credits != nil {
		p.Credits = json.RawMessage(bytes.TrimSpace(req.Credits))
	}
	if req.ExpiresAt != nil {
		p.ExpiresAt = &keyward.Expiry{}
		var s string
		switch {
		case isNull(req.ExpiresAt):
		case json.Unmarshal(req.ExpiresAt, &s) != nil:
			bad = append(bad, keyward.FieldError{Field: "expires_at", Reason: "must be an RFC 3339 time, or null for none"})
		default:
			t, err := parseTime(s)
			if err != nil {
				bad = append(bad, keyward.FieldError{Field: "expires_at", Reason: err.Error()})
			}
			p.ExpiresAt.At = &t
		}
	}
	if len(bad) > 0 {
		return p, keyward.Invalid("invalid update", bad...)
	}
	return p, nil
}

// handleKeyPatch serves PATCH on one key: an RFC 7396 merge patch of its
// name, permissions, metadata, expiry and enabled, conditional with
// If-Match.
func handleKeyPatch(svc *keyward.Service, resolve orgResolver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isMergePatch(r.Header.Get("Content-Type")) {
			w.Header().Set("Accept-Patch", patchMediaTypes)
			writeError(w, r, errStatus(http.StatusUnsupportedMediaType,
				"the request body must be a JSON merge patch (Content-Type: application/merge-patch+json, or application/json)"))
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		var req patchRequest
		if err := decodeStrict(body, &req); err != nil {
			writeError(w, r, err)
			return
		}
		patch, err := req.parse()
		if err != nil {
			writeError(w, r, err)
			return
		}
		org, id, cond, err := writeTarget(r, resolve)
		if err != nil {
			writeError(w, r, err)
			return
		}
		patch.If = cond
		k, err := svc.UpdateKey(r.Context(), caller(r.Context()), org, id, patch)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeKey(w, r, svc, http.StatusOK, k)
	})
}

// decodeOptional reads the body of an action whose body is optional:
// none (or only white space), whatever its Content-Type, leaves dst as
// it is; anything else must be JSON, read as decodeStrict reads it.
func decodeOptional(w http.ResponseWriter, r *http.Request, dst any) error {
	if r.ContentLength == 0 {
		return nil
	}
	body, err := readRaw(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return errStatus(http.StatusUnsupportedMediaType, "the request body must be JSON (Content-Type: application/json), or empty")
	}
	return decodeStrict(body, dst)
}

// rotatedKeyJSON is the answer of a rotation: the key, its new secret
// (shown this once, as at create) and when the previous one stops
// verifying (null: it already has).
type rotatedKeyJSON struct {
	keyJSON
	Key                     string  `json:"key"`
	PreviousSecretExpiresAt *string `json:"previous_secret_expires_at"`
}

// handleKeyRotate serves POST .../rotate: a new secret for the key, which
// keeps its id and settings; the previous secret verifies for the grace
// period asked for.
func handleKeyRotate(svc *keyward.Service, resolve orgResolver) http.Handler {
	type request struct {
		GracePeriod *string `json:"grace_period"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := decodeOptional(w, r, &req); err != nil {
			writeError(w, r, err)
			return
		}
		var grace time.Duration
		if req.GracePeriod != nil {
			var err error
			if grace, err = keyward.ParseGracePeriod(*req.GracePeriod); err != nil {
				writeError(w, r, keyward.Invalid("invalid rotation", keyward.FieldError{Field: "grace_period", Reason: err.Error()}))
				return
			}
		}
		org, id, cond, err := writeTarget(r, resolve)
		if err != nil {
			writeError(w, r, err)
			return
		}
		k, secret, err := svc.RotateKey(r.Context(), caller(r.Context()), org, id, grace, cond)
		if err != nil {
			writeError(w, r, err)
			return
		}
		out := rotatedKeyJSON{keyJSON: toKeyJSON(k, svc.Now()), Key: secret.Reveal()}
		if k.Previous != nil {
			out.PreviousSecretExpiresAt = exactTime(&k.Previous.ExpiresAt)
		}
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("ETag", k.ETag())
		encode(w, r, http.StatusOK, out)
	})
}

// keyAction is one of the actions on a key that take no input but an
// optional empty object and If-Match, and answer with the key.
type keyAction func(r *http.Request, org keyward.OrgID, id keyward.KeyID, cond *keyward.Condition) (*keyward.Key, error)

// handleKeyAction serves POST .../restore, .../disable and .../enable.
func handleKeyAction(svc *keyward.Service, resolve orgResolver, act keyAction) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var none struct{}
		if err := decodeOptional(w, r, &none); err != nil {
			writeError(w, r, err)
			return
		}
		org, id, cond, err := writeTarget(r, resolve)
		if err != nil {
			writeError(w, r, err)
			return
		}
		k, err := act(r, org, id, cond)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeKey(w, r, svc, http.StatusOK, k)
	})
}

// restoreKey brings back a deleted key.
func restoreKey(svc *keyward.Service) keyAction {
	return func(r *http.Request, org keyward.OrgID, id keyward.KeyID, cond *keyward.Condition) (*keyward.Key, error) {
		return svc.RestoreKey(r.Context(), caller(r.Context()), org, id, cond)
	}
}

// setEnabled is PATCH {"enabled": enabled}, for consoles and scripts
// that would rather not write a patch.
func setEnabled(svc *keyward.Service, enabled bool) keyAction {
	return func(r *http.Request, org keyward.OrgID, id keyward.KeyID, cond *keyward.Condition) (*keyward.Key, error) {
		return svc.UpdateKey(r.Context(), caller(r.Context()), org, id, keyward.KeyPatch{Enabled: &enabled, If: cond})
	}
}

package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/keyward/keyward"
)

// keyJSON is the key object of the API: the seed contract's id, name,
// created_at and permissions, with org_id and hint beside them. It never
// holds the secret or its hash.
type keyJSON struct {
	ID          string               `json:"id"`
	Name        string               `json:"name"`
	CreatedAt   string               `json:"created_at"`
	Permissions []keyward.Permission `json:"permissions"`
	OrgID       string               `json:"org_id"`
	Hint        string               `json:"hint"`
	LastUsedAt  *string              `json:"last_used_at"` // null if never used
}

func toKeyJSON(k *keyward.Key) keyJSON {
	var lastUsed *string
	if k.LastUsedAt != nil {
		s := k.LastUsedAt.UTC().Format(time.RFC3339)
		lastUsed = &s
	}
	return keyJSON{
		LastUsedAt:  lastUsed,
		ID:          k.ID.String(),
		Name:        k.Name,
		CreatedAt:   k.CreatedAt.UTC().Format(time.RFC3339),
		Permissions: k.Permissions,
		OrgID:       string(k.OrgID),
		Hint:        k.Hint,
	}
}

// createdKeyJSON is the create response: the key object and, this one
// time, the secret.
type createdKeyJSON struct {
	keyJSON
	Key string `json:"key"`
}

// orgResolver finds the organization a request acts on, or writes the
// problem and returns false.
type orgResolver func(w http.ResponseWriter, r *http.Request) (keyward.OrgID, bool)

// orgFromPath takes the organization from /orgs/{org_id}/... An id that
// cannot exist is not found, like one that does not.
func orgFromPath(w http.ResponseWriter, r *http.Request) (keyward.OrgID, bool) {
	org, err := keyward.ParseOrgID(r.PathValue("org_id"))
	if err != nil {
		writeProblem(w, r, http.StatusNotFound, "not found", nil)
		return "", false
	}
	return org, true
}

// orgFromCaller takes the caller's own organization; a root key, which has
// none, names one with ?organization_id=.
func orgFromCaller(w http.ResponseWriter, r *http.Request) (keyward.OrgID, bool) {
	q := r.URL.Query()
	org, err := callerOrg(caller(r.Context()), q.Has("organization_id"), q.Get("organization_id"))
	if err != nil {
		writeProblemFor(w, r, err)
		return "", false
	}
	return org, true
}

// callerOrg resolves the organization of a caller-scoped request. A key
// that names an organization other than its own gets ENOTFOUND, as if the
// thing it asked for did not exist.
func callerOrg(k *keyward.Key, given bool, value string) (keyward.OrgID, error) {
	if !given {
		if k.Root {
			return "", keyward.Invalid("invalid request", keyward.FieldError{Field: "organization_id", Reason: "is required with a root key, which belongs to no organization"})
		}
		return k.OrgID, nil
	}
	org, err := keyward.ParseOrgID(value)
	if err != nil {
		return "", keyward.Invalid("invalid request", keyward.FieldError{Field: "organization_id", Reason: err.Error()})
	}
	if !k.Root && org != k.OrgID {
		return "", keyward.Errorf(keyward.ENOTFOUND, "not found")
	}
	return org, nil
}

// writeProblemFor writes the problem for a domain error that is never
// internal (no logger needed).
func writeProblemFor(w http.ResponseWriter, r *http.Request, err error) {
	writeProblem(w, r, statusOf(keyward.ErrorCode(err)), keyward.ErrorMessage(err), keyward.ErrorFields(err))
}

// keyIDFromPath parses {key_id}; an id that cannot exist is not found.
func keyIDFromPath(w http.ResponseWriter, r *http.Request) (keyward.KeyID, bool) {
	id, err := keyward.ParseKeyID(r.PathValue("key_id"))
	if err != nil {
		writeProblem(w, r, http.StatusNotFound, "API key not found", nil)
		return 0, false
	}
	return id, true
}

func handleKeyList(logger *slog.Logger, svc *keyward.Service, resolve orgResolver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit := keyward.DefaultPageLimit
		var bad []keyward.FieldError
		if q.Has("limit") {
			n, err := strconv.Atoi(q.Get("limit"))
			if err != nil || n < 1 || n > keyward.MaxPageLimit {
				bad = append(bad, keyward.FieldError{Field: "limit", Reason: "must be an integer from 1 to " + strconv.Itoa(keyward.MaxPageLimit)})
			}
			limit = n
		}
		var after *keyward.Cursor
		if q.Has("cursor") {
			c, err := keyward.ParseCursor(q.Get("cursor"))
			if err != nil {
				bad = append(bad, keyward.ErrorFields(err)...)
			}
			after = c
		}
		if len(bad) > 0 {
			writeProblem(w, r, http.StatusBadRequest, "invalid query", bad)
			return
		}
		org, ok := resolve(w, r)
		if !ok {
			return
		}
		page, err := svc.ListKeys(r.Context(), caller(r.Context()), org, after, limit)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		out := make([]keyJSON, len(page.Keys))
		for i, k := range page.Keys {
			out[i] = toKeyJSON(k)
		}
		if page.Next != nil {
			next := url.Values{}
			for name, v := range q {
				next[name] = v
			}
			next.Set("limit", strconv.Itoa(limit))
			next.Set("cursor", page.Next.Encode())
			w.Header().Set("Link", "<"+r.URL.Path+"?"+next.Encode()+`>; rel="next"`)
		}
		encode(w, logger, r, http.StatusOK, out)
	})
}

func handleKeyGet(logger *slog.Logger, svc *keyward.Service, resolve orgResolver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org, ok := resolve(w, r)
		if !ok {
			return
		}
		id, ok := keyIDFromPath(w, r)
		if !ok {
			return
		}
		k, err := svc.Key(r.Context(), caller(r.Context()), org, id)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		encode(w, logger, r, http.StatusOK, toKeyJSON(k))
	})
}

func handleKeyDelete(logger *slog.Logger, svc *keyward.Service, resolve orgResolver) http.Handler {
	type response struct {
		Message string `json:"message"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org, ok := resolve(w, r)
		if !ok {
			return
		}
		id, ok := keyIDFromPath(w, r)
		if !ok {
			return
		}
		if err := svc.DeleteKey(r.Context(), caller(r.Context()), org, id); err != nil {
			writeError(w, r, logger, err)
			return
		}
		encode(w, logger, r, http.StatusOK, response{Message: "API key deleted successfully"})
	})
}

// handleOrgKeyCreate serves POST /orgs/{org_id}/api_keys, the first seed
// document's create.
func handleOrgKeyCreate(logger *slog.Logger, svc *keyward.Service) http.Handler {
	type request struct {
		Name        *string   `json:"name"`
		Permissions *[]string `json:"permissions"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if !decode(w, r, &req) {
			return
		}
		in, err := parseNewKey(req.Name, "name", req.Permissions, "permissions")
		if err != nil {
			writeProblemFor(w, r, err)
			return
		}
		org, ok := orgFromPath(w, r)
		if !ok {
			return
		}
		createKey(w, r, logger, svc, org, in)
	})
}

// handleCallerKeyCreate serves POST /api_keys, the second seed document's
// create: key_name and key_scope (or name and permissions), and
// organization_id as a number or a string.
func handleCallerKeyCreate(logger *slog.Logger, svc *keyward.Service) http.Handler {
	type request struct {
		KeyName        *string         `json:"key_name"`
		KeyScope       *[]string       `json:"key_scope"`
		Name           *string         `json:"name"`
		Permissions    *[]string       `json:"permissions"`
		OrganizationID json.RawMessage `json:"organization_id"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req request
		if !decode(w, r, &req) {
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
		orgValue, orgGiven, err := organizationID(req.OrganizationID)
		bad = append(bad, keyward.ErrorFields(err)...)
		if len(bad) > 0 {
			writeProblem(w, r, http.StatusBadRequest, "invalid key", bad)
			return
		}
		org, err := callerOrg(caller(r.Context()), orgGiven, orgValue)
		if err != nil {
			writeProblemFor(w, r, err)
			return
		}
		createKey(w, r, logger, svc, org, in)
	})
}

// organizationID reads organization_id, a JSON integer or string.
func organizationID(raw json.RawMessage) (value string, given bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", false, nil
	}
	bad := keyward.Invalid("invalid request", keyward.FieldError{Field: "organization_id", Reason: "must be an integer or a string"})
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &value); err != nil {
			return "", true, bad
		}
		return value, true, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n < 0 {
			return "", true, keyward.Invalid("invalid request", keyward.FieldError{Field: "organization_id", Reason: "must be a non-negative integer or a string"})
		}
		return strconv.FormatInt(n, 10), true, nil
	}
	return "", true, bad
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
func createKey(w http.ResponseWriter, r *http.Request, logger *slog.Logger, svc *keyward.Service, org keyward.OrgID, in keyward.NewKey) {
	k, secret, err := svc.CreateKey(r.Context(), caller(r.Context()), org, in)
	if err != nil {
		writeError(w, r, logger, err)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Location", "/orgs/"+url.PathEscape(string(k.OrgID))+"/api_keys/"+k.ID.String())
	encode(w, logger, r, http.StatusCreated, createdKeyJSON{keyJSON: toKeyJSON(k), Key: secret.Reveal()})
}

package httpapi

import (
	"net/http"
	"time"

	"github.com/keyward/keyward"
)

// verifyRequest is the body of POST /verify.
type verifyRequest struct {
	Key         *string  `json:"key"`
	Permissions []string `json:"permissions"`
	// Cost is what the verification spends of the key's rate limits and
	// credits: 1 if absent.
	Cost *int64 `json:"cost"`
}

// verifyJSON is the answer of POST /verify. Only a key that the caller
// proved it holds is described; NOT_FOUND carries the code alone.
type verifyJSON struct {
	Valid       bool                 `json:"valid"`
	Code        keyward.VerifyCode   `json:"code"`
	KeyID       jsonKeyID            `json:"key_id,omitempty"`
	OrgID       string               `json:"org_id,omitempty"`
	Name        string               `json:"name,omitempty"`
	Permissions []keyward.Permission `json:"permissions,omitempty"`
	// Metadata is the key's, compact JSON as the domain keeps it ({} for
	// none), written as it is; "" when no key is described.
	Metadata rawJSON `json:"metadata,omitempty"`
	// ExpiresAt is the key's expiry, if it has one.
	ExpiresAt *jsonTime `json:"expires_at,omitempty"`
	// SecretExpiresAt is set when the secret presented is the key's
	// previous one, in its grace period: when it stops verifying.
	SecretExpiresAt *jsonTime `json:"secret_expires_at,omitempty"`
	// RateLimits is where the key stands against each of its rate
	// limits, once checked (absent for a key without any).
	RateLimits []limitStateJSON `json:"rate_limits,omitempty"`
	// Credits is what is left of the key's credits, once checked (absent
	// for a key without credits).
	Credits *creditsLeftJSON `json:"credits,omitempty"`
}

// limitStateJSON is one rate limit in a verify answer. Limit, Remaining
// and Reset are the values of the RateLimit-Limit, RateLimit-Remaining
// and RateLimit-Reset headers a platform may send its own callers.
type limitStateJSON struct {
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Remaining int64  `json:"remaining"`
	// Reset is how many seconds until the window ends (rounded up, at
	// least 1), and ResetAt is that instant.
	Reset    int64    `json:"reset"`
	ResetAt  jsonTime `json:"reset_at"`
	Exceeded bool     `json:"exceeded"`
}

// creditsLeftJSON is the credits of a verify answer.
type creditsLeftJSON struct {
	Remaining int64 `json:"remaining"`
}

// toLimitStates describes the rate limits of a verdict at now.
func toLimitStates(ls []keyward.LimitState, now time.Time) []limitStateJSON {
	if len(ls) == 0 {
		return nil
	}
	out := make([]limitStateJSON, len(ls))
	for i, l := range ls {
		out[i] = limitStateJSON{
			Name: l.Name, Limit: l.Limit, Remaining: l.Remaining,
			Reset: resetSeconds(l.Reset, now), ResetAt: jsonTime(l.Reset), Exceeded: l.Exceeded,
		}
	}
	return out
}

// resetSeconds is the time from now to reset in whole seconds, rounded
// up, at least 1: a client that waits that long finds the window reset.
func resetSeconds(reset, now time.Time) int64 {
	d := reset.Sub(now)
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// rawJSON is a JSON value held as a string, so that a key's metadata is
// written without a copy into a []byte.
type rawJSON string

func (v rawJSON) MarshalJSON() ([]byte, error) { return []byte(v), nil }

// jsonTime is a time written exactly (RFC 3339 with its fraction, if any),
// in UTC.
type jsonTime time.Time

func (t jsonTime) MarshalText() ([]byte, error) { return appendExactTime(nil, time.Time(t)), nil }

// appendExactTime appends t as exactTime writes it.
func appendExactTime(b []byte, t time.Time) []byte { return t.UTC().AppendFormat(b, time.RFC3339Nano) }

// jsonKeyID is a key id that encoding/json writes as its string
// ("key-123"); zero is none.
type jsonKeyID keyward.KeyID

func (id jsonKeyID) MarshalText() ([]byte, error) { return keyward.KeyID(id).Append(nil), nil }

// Header values of every verification, shared: net/http only reads them.
var (
	headerNoStore = []string{"no-store"}
	headerJSON    = []string{"application/json"}
)

// handleVerify answers whether a key may be used: 200 with the outcome in
// the body for every well-formed request, whatever the key. It needs no
// credential but the key itself. obs, if not nil, hears each outcome.
func handleVerify(svc *keyward.Service, obs Observer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		in, ok := parseVerifyFast(body)
		if !ok {
			in = verifyRequest{}
			if err := decodeStrict(body, &in); err != nil {
				writeError(w, r, err)
				return
			}
		}
		if in.Key == nil {
			writeError(w, r, keyward.Invalid("invalid request", keyward.FieldError{Field: "key", Reason: "is required"}))
			return
		}
		var required []keyward.Permission
		if len(in.Permissions) > 0 {
			ps, err := keyward.ParsePermissions(in.Permissions)
			if err != nil {
				writeError(w, r, keyward.Invalid("invalid request", keyward.FieldError{Field: "permissions", Reason: err.Error()}))
				return
			}
			required = ps
		}
		cost := int64(1)
		if in.Cost != nil {
			cost = *in.Cost
		}
		v, err := svc.VerifyCost(r.Context(), *in.Key, required, cost)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if v.Code == keyward.VerifyNotFound {
			noteFailure(w) // for the failure throttle (throttle.go)
		}
		if obs != nil {
			obs.Verification(v.Code)
		}
		out := verifyJSON{Valid: v.Valid(), Code: v.Code}
		if k := v.Key; k != nil {
			out.KeyID = jsonKeyID(k.ID)
			out.OrgID = string(k.OrgID)
			out.Name = k.Name
			out.Permissions = k.Permissions
			out.Metadata = "{}"
			if k.Metadata != "" {
				out.Metadata = rawJSON(k.Metadata)
			}
			out.ExpiresAt = (*jsonTime)(k.ExpiresAt)
			out.SecretExpiresAt = (*jsonTime)(v.SecretExpiresAt)
			out.RateLimits = toLimitStates(v.RateLimits, svc.Now())
			if v.CreditsRemaining != nil {
				out.Credits = &creditsLeftJSON{Remaining: *v.CreditsRemaining}
			}
		}
		h := w.Header()
		h["Cache-Control"] = headerNoStore
		h["Content-Type"] = headerJSON
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(append(appendVerifyJSON(make([]byte, 0, 256), out), '\n'))
	})
}

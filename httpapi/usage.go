package httpapi

import (
	"net/http"
	"time"

	"github.com/keyward/keyward"
)

// countsJSON is a key's verifications by outcome, as the API shows them:
// one member per outcome of a key that exists, and their total.
type countsJSON struct {
	Total                   int64 `json:"total"`
	Valid                   int64 `json:"valid"`
	Disabled                int64 `json:"disabled"`
	Expired                 int64 `json:"expired"`
	InsufficientPermissions int64 `json:"insufficient_permissions"`
	RateLimited             int64 `json:"rate_limited"`
	UsageExceeded           int64 `json:"usage_exceeded"`
}

func toCountsJSON(c keyward.VerifyCounts) countsJSON {
	return countsJSON{
		Total: c.Total(), Valid: c.Valid, Disabled: c.Disabled, Expired: c.Expired,
		InsufficientPermissions: c.InsufficientPermissions, RateLimited: c.RateLimited, UsageExceeded: c.UsageExceeded,
	}
}

// usageHourJSON is one hour of a key's usage.
type usageHourJSON struct {
	Hour string `json:"hour"`
	countsJSON
}

// usageJSON is a key's usage, hour by hour.
type usageJSON struct {
	KeyID  string          `json:"key_id"`
	OrgID  string          `json:"organization_id"`
	Since  string          `json:"since"`
	Until  string          `json:"until"`
	Totals countsJSON      `json:"totals"`
	Hours  []usageHourJSON `json:"hours"`
}

// handleKeyUsage serves a key's verifications per hour by outcome, for
// every hour from since to until (rounded out to whole hours; by default
// the last 7 days up to the current hour), zeros included, to a caller
// that may read the key.
func handleKeyUsage(svc *keyward.Service, resolve orgResolver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var span keyward.UsageRange
		var bad []keyward.FieldError
		for _, bound := range []struct {
			name string
			dst  **time.Time
		}{{"since", &span.Since}, {"until", &span.Until}} {
			if !q.Has(bound.name) {
				continue
			}
			t, err := parseTime(q.Get(bound.name))
			if err != nil {
				bad = append(bad, keyward.FieldError{Field: bound.name, Reason: err.Error()})
				continue
			}
			*bound.dst = &t
		}
		if len(bad) > 0 {
			writeError(w, r, keyward.Invalid("invalid query", bad...))
			return
		}
		org, id, err := keyTarget(r, resolve)
		if err != nil {
			writeError(w, r, err)
			return
		}
		u, err := svc.KeyUsage(r.Context(), caller(r.Context()), org, id, span)
		if err != nil {
			writeError(w, r, err)
			return
		}
		out := usageJSON{
			KeyID:  u.Key.ID.String(),
			OrgID:  string(u.Key.OrgID),
			Since:  u.Since.Format(time.RFC3339),
			Until:  u.Until.Format(time.RFC3339),
			Totals: toCountsJSON(u.Totals),
			Hours:  make([]usageHourJSON, len(u.Hours)),
		}
		for i, h := range u.Hours {
			out.Hours[i] = usageHourJSON{Hour: h.Hour.Format(time.RFC3339), countsJSON: toCountsJSON(h.Counts)}
		}
		encode(w, r, http.StatusOK, out)
	})
}

package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// usageBody is a key's usage as the API answers it.
type usageBody struct {
	KeyID  string     `json:"key_id"`
	OrgID  string     `json:"organization_id"`
	Since  string     `json:"since"`
	Until  string     `json:"until"`
	Totals countsBody `json:"totals"`
	Hours  []struct {
		Hour string `json:"hour"`
		countsBody
	} `json:"hours"`
}

type countsBody struct {
	Total                   int64 `json:"total"`
	Valid                   int64 `json:"valid"`
	Disabled                int64 `json:"disabled"`
	Expired                 int64 `json:"expired"`
	InsufficientPermissions int64 `json:"insufficient_permissions"`
	RateLimited             int64 `json:"rate_limited"`
	UsageExceeded           int64 `json:"usage_exceeded"`
}

// A key's verifications, counted by outcome and flushed, are answered
// per hour over the range asked (by default the last 7 days up to the
// current hour), every hour present, on both routes.
func TestKeyUsage(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 11, 30, 15, 20, 0, 0, time.UTC))
	e := newEnvAt(t, clock)
	k := e.createKey("acme", "k", "read")
	admin := e.createKey("acme", "admin", "manage")
	verify := func(perms ...string) {
		t.Helper()
		want(t, e.req("POST", "/verify", "", map[string]any{"key": k.Key, "permissions": perms}), http.StatusOK)
	}
	verify("read")
	verify("read")
	verify("write") // INSUFFICIENT_PERMISSIONS
	clock.Advance(time.Hour)
	verify()
	// The management API's own calls are no verifications.
	want(t, e.req("GET", "/api_keys/"+admin.ID, admin.Key, nil), http.StatusOK)
	if err := e.lastUsed.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct{ name, path, key string }{
		{"organization route, root key", "/orgs/acme/api_keys/" + k.ID + "/usage", e.root},
		{"caller route, root key naming no organization", "/api_keys/" + k.ID + "/usage", e.root},
		{"caller route, root key naming it", "/api_keys/" + k.ID + "/usage?organization_id=acme", e.root},
		{"caller route, the organization's manage key", "/api_keys/" + k.ID + "/usage", admin.Key},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.req("GET", c.path, c.key, nil)
			want(t, r, http.StatusOK)
			var u usageBody
			r.decode(t, &u)
			if u.KeyID != k.ID || u.OrgID != "acme" || u.Since != "2026-11-23T17:00:00Z" || u.Until != "2026-11-30T17:00:00Z" || len(u.Hours) != 168 {
				t.Fatalf("%s, %s, %s to %s, %d hours; want %s, acme, the 168 hours to 2026-11-30T17:00:00Z", u.KeyID, u.OrgID, u.Since, u.Until, len(u.Hours), k.ID)
			}
			wantHours := map[string]countsBody{
				"2026-11-30T15:00:00Z": {Total: 3, Valid: 2, InsufficientPermissions: 1},
				"2026-11-30T16:00:00Z": {Total: 1, Valid: 1},
			}
			for i, h := range u.Hours {
				if want := time.Date(2026, 11, 23, 17+i, 0, 0, 0, time.UTC).Format(time.RFC3339); h.Hour != want {
					t.Fatalf("hour %d is %s, want %s", i, h.Hour, want)
				}
				if h.countsBody != wantHours[h.Hour] {
					t.Errorf("%s: %+v, want %+v", h.Hour, h.countsBody, wantHours[h.Hour])
				}
			}
			if want := (countsBody{Total: 4, Valid: 3, InsufficientPermissions: 1}); u.Totals != want {
				t.Errorf("totals %+v, want %+v", u.Totals, want)
			}
		})
	}

	r := e.req("GET", "/api_keys/"+admin.ID+"/usage", admin.Key, nil)
	want(t, r, http.StatusOK)
	var u usageBody
	r.decode(t, &u)
	if u.Totals != (countsBody{}) {
		t.Errorf("the management API's calls were counted: %+v", u.Totals)
	}

	// A range: rounded out to whole hours.
	q := url.Values{"since": {"2026-11-30T15:59:59Z"}, "until": {"2026-11-30T16:00:01+00:00"}}
	r = e.req("GET", "/orgs/acme/api_keys/"+k.ID+"/usage?"+q.Encode(), e.root, nil)
	want(t, r, http.StatusOK)
	r.decode(t, &u)
	if u.Since != "2026-11-30T15:00:00Z" || u.Until != "2026-11-30T17:00:00Z" || len(u.Hours) != 2 || u.Totals.Total != 4 {
		t.Errorf("rounded range: %s to %s, %d hours, total %d; want 15:00 to 17:00, 2 hours, 4", u.Since, u.Until, len(u.Hours), u.Totals.Total)
	}
}

// A key's usage is not found wherever its GET is not: another
// organization's key, a deleted one, an unknown or malformed id; a key
// without manage is forbidden; a malformed or too long range is a 400
// naming the parameter.
func TestKeyUsageRefusals(t *testing.T) {
	e := newEnv(t)
	k := e.createKey("acme", "k", "read")
	other := e.createKey("globex", "other", "manage")
	reader := e.createKey("acme", "reader", "read")
	gone := e.createKey("acme", "gone", "read")
	want(t, e.req("DELETE", "/orgs/acme/api_keys/"+gone.ID, e.root, nil), http.StatusOK)

	for _, c := range []struct {
		name, path, key string
		status          int
		field           string
	}{
		{"another organization's key, by its manage key", "/api_keys/" + k.ID + "/usage", other.Key, http.StatusNotFound, ""},
		{"another organization's key, naming it", "/api_keys/" + k.ID + "/usage?organization_id=acme", other.Key, http.StatusNotFound, ""},
		{"a key under another organization's path", "/orgs/globex/api_keys/" + k.ID + "/usage", e.root, http.StatusNotFound, ""},
		{"a deleted key", "/orgs/acme/api_keys/" + gone.ID + "/usage", e.root, http.StatusNotFound, ""},
		{"an unknown key", "/orgs/acme/api_keys/key-1/usage", e.root, http.StatusNotFound, ""},
		{"a malformed key id", "/orgs/acme/api_keys/nonsense/usage", e.root, http.StatusNotFound, ""},
		{"a malformed organization", "/orgs/-/api_keys/" + k.ID + "/usage", e.root, http.StatusNotFound, ""},
		{"a key without manage", "/api_keys/" + k.ID + "/usage", reader.Key, http.StatusForbidden, ""},
		{"no key", "/api_keys/" + k.ID + "/usage", "", http.StatusUnauthorized, ""},
		{"root key naming an invalid organization", "/api_keys/" + k.ID + "/usage?organization_id=%20", e.root, http.StatusBadRequest, "organization_id"},
		{"since not a time", "/api_keys/" + k.ID + "/usage?since=yesterday", e.root, http.StatusBadRequest, "since"},
		{"until not a time", "/api_keys/" + k.ID + "/usage?until=2026-13-01T00:00:00Z", e.root, http.StatusBadRequest, "until"},
		{"until before since", "/api_keys/" + k.ID + "/usage?since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z", e.root, http.StatusBadRequest, "until"},
		{"more than 31 days", "/api_keys/" + k.ID + "/usage?since=2026-10-01T00:00:00Z&until=2026-11-01T00:00:01Z", e.root, http.StatusBadRequest, "since"},
		{"since in the future", "/api_keys/" + k.ID + "/usage?since=2999-01-01T00:00:00Z", e.root, http.StatusBadRequest, "since"},
		{"since in year 1", "/api_keys/" + k.ID + "/usage?since=0001-01-01T00:00:00Z", e.root, http.StatusBadRequest, "since"},
		{"since given twice", "/api_keys/" + k.ID + "/usage?since=2026-11-01T00:00:00Z&since=2026-11-02T00:00:00Z", e.root, http.StatusBadRequest, "since"},
		{"an unknown parameter", "/orgs/acme/api_keys/" + k.ID + "/usage?organization_id=acme", e.root, http.StatusBadRequest, "organization_id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.req("GET", c.path, c.key, nil)
			want(t, r, c.status)
			p := r.problem(t)
			if c.field != "" && p.fieldErr(c.field) == "" {
				t.Errorf("no error about %s: %+v", c.field, p)
			}
		})
	}

	// Exactly 31 days is allowed.
	want(t, e.req("GET", "/api_keys/"+k.ID+"/usage?since=2026-10-01T00:00:00Z&until=2026-11-01T00:00:00Z", e.root, nil), http.StatusOK)
}

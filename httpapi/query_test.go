package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestQueryParameters: each route takes the query parameters it declares
// and no other; an unknown one, one in another case, or one given twice is
// a 400 naming it, before anything is read or changed.
func TestQueryParameters(t *testing.T) {
	e := newEnv(t)
	k := e.createKey("acme", "kept", "read", "manage")
	createOrg := `{"name":"q","permissions":["read"]}`
	createCaller := `{"key_name":"q","key_scope":["read"],"organization_id":"acme"}`
	verify := `{"key":"` + k.Key + `"}`
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		field  string
		reason string
	}{
		{"list: a filter it does not have", "GET", "/orgs/acme/api_keys?name=x", "", "name", "takes only state, limit, cursor"},
		{"list: organization_id on the org route", "GET", "/orgs/acme/api_keys?organization_id=acme", "", "organization_id", "takes only state, limit, cursor"},
		{"list: limit twice", "GET", "/orgs/acme/api_keys?limit=1&limit=2", "", "limit", "more than once"},
		{"list: limit twice, same value", "GET", "/orgs/acme/api_keys?limit=1&limit=1", "", "limit", "more than once"},
		{"list: cursor twice", "GET", "/orgs/acme/api_keys?cursor=a&cursor=b", "", "cursor", "more than once"},
		{"list: upper-case limit", "GET", "/orgs/acme/api_keys?LIMIT=1", "", "LIMIT", "not a known query parameter"},
		{"list: a name without a value", "GET", "/orgs/acme/api_keys?verbose", "", "verbose", "not a known query parameter"},
		{"list: an empty name", "GET", "/orgs/acme/api_keys?=x", "", "", "not a known query parameter"},
		{"caller list: a filter", "GET", "/api_keys?organization_id=acme&name=x", "", "name", "takes only organization_id, state, limit, cursor"},
		{"caller list: organization_id twice", "GET", "/api_keys?organization_id=acme&organization_id=globex", "", "organization_id", "more than once"},
		{"get: limit", "GET", "/orgs/acme/api_keys/" + k.ID + "?limit=1", "", "limit", "takes no query parameters"},
		{"caller get: organization_id twice", "GET", "/api_keys/" + k.ID + "?organization_id=acme&organization_id=acme", "", "organization_id", "more than once"},
		{"caller get: another parameter", "GET", "/api_keys/" + k.ID + "?organization_id=acme&expand=all", "", "expand", "takes only organization_id"},
		{"delete: a parameter", "DELETE", "/orgs/acme/api_keys/" + k.ID + "?force=true", "", "force", "takes no query parameters"},
		{"caller delete: another parameter", "DELETE", "/api_keys/" + k.ID + "?organization_id=acme&dry_run=1", "", "dry_run", "takes only organization_id"},
		{"list: state twice", "GET", "/orgs/acme/api_keys?state=all&state=active", "", "state", "more than once"},
		{"patch: a parameter", "PATCH", "/orgs/acme/api_keys/" + k.ID + "?dry_run=1", `{}`, "dry_run", "takes no query parameters"},
		{"caller patch: another parameter", "PATCH", "/api_keys/" + k.ID + "?organization_id=acme&name=x", `{}`, "name", "takes only organization_id"},
		{"rotate: grace in the query", "POST", "/orgs/acme/api_keys/" + k.ID + "/rotate?grace_period=1h", "", "grace_period", "takes no query parameters"},
		{"caller restore: another parameter", "POST", "/api_keys/" + k.ID + "/restore?organization_id=acme&force=1", "", "force", "takes only organization_id"},
		{"disable: a parameter", "POST", "/orgs/acme/api_keys/" + k.ID + "/disable?until=x", "", "until", "takes no query parameters"},
		{"caller enable: another parameter", "POST", "/api_keys/" + k.ID + "/enable?organization_id=acme&x=1", "", "x", "takes only organization_id"},
		{"audit: a filter it does not have", "GET", "/orgs/acme/audit_events?actor=x", "", "actor", "takes only key_id, action, since, until, limit, cursor"},
		{"audit: organization_id on the org route", "GET", "/orgs/acme/audit_events?organization_id=acme", "", "organization_id", "takes only key_id"},
		{"caller audit: state", "GET", "/audit_events?state=active", "", "state", "takes only organization_id, key_id, action, since, until, limit, cursor"},
		{"caller audit: action twice", "GET", "/audit_events?action=create&action=delete", "", "action", "more than once"},
		{"create: a parameter", "POST", "/orgs/acme/api_keys?name=x", createOrg, "name", "takes no query parameters"},
		{"caller create: organization_id in the query", "POST", "/api_keys?organization_id=globex", createCaller, "organization_id", "takes no query parameters"},
		{"verify: a parameter", "POST", "/verify?key=x", verify, "key", "takes no query parameters"},
		{"a name shaped like a secret", "GET", "/orgs/acme/api_keys?" + k.Key + "=1", "", "kw_[REDACTED]", "not a known query parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := e.root
			if tt.method == "POST" && tt.path[:7] == "/verify" {
				key = ""
			}
			var body any
			if tt.body != "" {
				body = tt.body
			}
			r := e.req(tt.method, tt.path, key, body)
			want(t, r, http.StatusBadRequest)
			p := r.problem(t)
			found := false
			for _, f := range p.Errors {
				if f.Field == tt.field && strings.Contains(f.Reason, tt.reason) {
					found = true
				}
			}
			if !found {
				t.Errorf("problem %+v does not name %q saying %q", p.Errors, tt.field, tt.reason)
			}
			if strings.Contains(string(r.body), k.Key) {
				t.Error("the problem quotes a secret")
			}
		})
	}

	t.Run("a malformed query string", func(t *testing.T) {
		for _, q := range []string{"limit=%zz", "limit=1;cursor=x", "a%=1"} {
			r := e.req("GET", "/orgs/acme/api_keys?"+q, e.root, nil)
			want(t, r, http.StatusBadRequest)
			if p := r.problem(t); !strings.Contains(p.Detail, "malformed") {
				t.Errorf("?%s: detail %q", q, p.Detail)
			}
		}
	})

	t.Run("a bounded list of problems", func(t *testing.T) {
		var q []string
		for i := range 100 {
			q = append(q, "p"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+"=1")
		}
		r := e.req("GET", "/orgs/acme/api_keys?"+strings.Join(q, "&"), e.root, nil)
		want(t, r, http.StatusBadRequest)
		if n := len(r.problem(t).Errors); n == 0 || n > 8 {
			t.Errorf("%d field errors for 100 unknown parameters, want 1 to 8", n)
		}
	})

	t.Run("the declared parameters are taken", func(t *testing.T) {
		want(t, e.req("GET", "/orgs/acme/api_keys?limit=5", e.root, nil), http.StatusOK)
		want(t, e.req("GET", "/api_keys?organization_id=acme&limit=5", e.root, nil), http.StatusOK)
		want(t, e.req("GET", "/api_keys/"+k.ID+"?organization_id=acme", e.root, nil), http.StatusOK)
		want(t, e.req("GET", "/orgs/acme/api_keys/"+k.ID, e.root, nil), http.StatusOK)
		want(t, e.req("POST", "/verify?", "", verify), http.StatusOK)
	})

	t.Run("the probes and the document ignore the query", func(t *testing.T) {
		for _, path := range []string{"/healthz?_=1", "/readyz?probe=lb&probe=again", "/openapi.yaml?v=2"} {
			want(t, e.req("GET", path, "", nil), http.StatusOK)
		}
	})

	t.Run("a refused request changed nothing", func(t *testing.T) {
		want(t, e.req("GET", "/orgs/acme/api_keys/"+k.ID, e.root, nil), http.StatusOK) // not deleted
		r := e.req("GET", "/orgs/acme/api_keys", e.root, nil)
		var list []keyBody
		r.decode(t, &list)
		if len(list) != 1 || list[0].ID != k.ID {
			t.Errorf("acme holds %d keys after refused requests, want only the first", len(list))
		}
	})
}

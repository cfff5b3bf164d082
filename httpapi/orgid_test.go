package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/keyward/keyward"
)

// TestDotOrgIDs: "." and ".." are no organization ids. A URL path resolves
// them away (a create in ".." would answer Location: /orgs/../api_keys/…,
// which a client reads as /api_keys/…), so they are refused wherever an
// organization is named, and nothing is created.
func TestDotOrgIDs(t *testing.T) {
	e := newEnv(t)
	for _, org := range []string{".", ".."} {
		tests := []struct {
			name   string
			method string
			path   string
			body   string
		}{
			{"create, organization_id in the body", "POST", "/api_keys", `{"key_name":"k","key_scope":["read"],"organization_id":"` + org + `"}`},
			{"list, organization_id in the query", "GET", "/api_keys?organization_id=" + org, ""},
			{"get, organization_id in the query", "GET", "/api_keys/key-1?organization_id=" + org, ""},
			{"delete, organization_id in the query", "DELETE", "/api_keys/key-1?organization_id=" + org, ""},
		}
		for _, tt := range tests {
			t.Run(org+" "+tt.name, func(t *testing.T) {
				var body any
				if tt.body != "" {
					body = tt.body
				}
				r := e.req(tt.method, tt.path, e.root, body)
				want(t, r, http.StatusBadRequest)
				if reason := r.problem(t).fieldErr("organization_id"); reason == "" {
					t.Errorf("the problem does not name organization_id: %s", r.body)
				}
			})
		}
	}
	// Nothing was created in either (the store is asked directly: no
	// request can name them), and the ids that look like them are
	// organizations as good as any.
	for _, org := range []keyward.OrgID{".", ".."} {
		keys, err := e.db.ListKeys(context.Background(), keyward.KeyFilter{OrgID: org, Limit: 10})
		if err != nil || len(keys) != 0 {
			t.Errorf("organization %q holds %d keys (%v), want none", org, len(keys), err)
		}
	}
	for _, org := range []string{"...", ".acme", "acme.."} {
		k := e.createKey(org, "dots", "read")
		want(t, e.req("GET", "/orgs/"+org+"/api_keys/"+k.ID, e.root, nil), http.StatusOK)
	}
}

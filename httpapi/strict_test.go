package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestStrictJSONNames: a body that a gateway inspecting it would read
// otherwise than Keyward (a name given twice, or in another case) is a
// 400 naming the field, and changes nothing; the verification that such a
// body would have turned VALID is never answered.
func TestStrictJSONNames(t *testing.T) {
	e := newEnv(t)
	reader := e.createKey("acme", "reader", "read")
	tests := []struct {
		name  string
		path  string
		body  string
		field string
	}{
		{"create: name twice, in two cases", "/orgs/acme/api_keys", `{"name":"a","NAME":"b","permissions":["read"]}`, "name"},
		{"create: name in upper case alone", "/orgs/acme/api_keys", `{"NAME":"x","permissions":["read"]}`, "NAME"},
		{"create: permissions twice", "/orgs/acme/api_keys", `{"name":"a","permissions":["read"],"permissions":["manage"]}`, "permissions"},
		{"create: Kelvin sign", "/api_keys", `{"key_name":"a","key_scope":["read"],"organization_id":"acme","\u212Aey_name":"b"}`, "key_name"},
		{"create: duplicate inside organization_id", "/api_keys", `{"key_name":"a","key_scope":["read"],"organization_id":{"id":1,"ID":2}}`, "organization_id.id"},
		{"verify: a bogus key, then the real one", "/verify", `{"key":"bogus","Key":"` + reader.Key + `"}`, "key"},
		{"verify: the real key, then a bogus one", "/verify", `{"key":"` + reader.Key + `","KEY":"bogus"}`, "key"},
		{"verify: permissions emptied by a case variant", "/verify", `{"key":"` + reader.Key + `","permissions":["manage"],"PERMISSIONS":[]}`, "permissions"},
		{"verify: permissions emptied by an exact duplicate", "/verify", `{"key":"` + reader.Key + `","permissions":["manage"],"permissions":[]}`, "permissions"},
		{"verify: key in title case alone", "/verify", `{"Key":"` + reader.Key + `"}`, "Key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := e.root
			if tt.path == "/verify" {
				key = ""
			}
			r := e.req("POST", tt.path, key, tt.body)
			want(t, r, http.StatusBadRequest)
			p := r.problem(t)
			if p.fieldErr(tt.field) == "" {
				t.Errorf("problem %+v does not name field %q", p, tt.field)
			}
			if strings.Contains(string(r.body), reader.Key) {
				t.Error("the problem quotes the secret")
			}
		})
	}
	r := e.req("GET", "/orgs/acme/api_keys", e.root, nil)
	var list []keyBody
	r.decode(t, &list)
	if len(list) != 1 || list[0].ID != reader.ID {
		t.Fatalf("after refused creates acme holds %d keys, want only the first", len(list))
	}
}

// TestPermissionsCaseInASCII: permissions are case-insensitive in ASCII
// only. A spelling that Unicode case mapping would turn into a permission
// ("WR\u0130TE" lowers to "write") is unknown, on every route that takes
// permissions, so that a gateway comparing them in ASCII reads what
// Keyward reads.
func TestPermissionsCaseInASCII(t *testing.T) {
	e := newEnv(t)
	k := e.createKey("acme", "writer", "write")
	for _, tt := range []struct {
		name, path, key, body, field string
	}{
		{"verify", "/verify", "", `{"key":"` + k.Key + `","permissions":["WR\u0130TE"]}`, "permissions"},
		{"org create", "/orgs/acme/api_keys", e.root, `{"name":"n","permissions":["WR\u0130TE"]}`, "permissions"},
		{"caller create", "/api_keys", e.root, `{"key_name":"n","key_scope":["\u00a0read"],"organization_id":"acme"}`, "key_scope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.req("POST", tt.path, tt.key, tt.body)
			want(t, r, http.StatusBadRequest)
			if r.problem(t).fieldErr(tt.field) == "" {
				t.Errorf("the problem does not name %q: %s", tt.field, r.body)
			}
		})
	}
	if v := e.verify(map[string]any{"key": k.Key, "permissions": []string{" WRITE\t"}}); v.Code != "VALID" {
		t.Errorf("ASCII case and white space: %+v", v)
	}
}

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

// TestMetadataNamesDifferingInCase: metadata is the client's own JSON
// object, so members whose names differ only in case are distinct, at any
// depth, on both creates and on PATCH, and come back as given; a name
// given twice exactly is still a 400, and the request's own fields keep
// their strict names.
func TestMetadataNamesDifferingInCase(t *testing.T) {
	e := newEnv(t)
	const md = `{"ID":1,"id":2,"nested":{"K":"a","k":"b"}}`
	for _, c := range []struct{ path, body string }{
		{"/orgs/acme/api_keys", `{"name":"a","permissions":["read"],"metadata":` + md + `}`},
		{"/api_keys", `{"key_name":"b","key_scope":["read"],"organization_id":"acme","metadata":` + md + `}`},
	} {
		r := e.req("POST", c.path, e.root, c.body)
		want(t, r, http.StatusCreated)
		var k keyBody
		r.decode(t, &k)
		e.secrets = append(e.secrets, k.Key)
		if string(k.Metadata) != md {
			t.Errorf("%s: metadata %s, want %s", c.path, k.Metadata, md)
		}
		if v := e.verify(map[string]any{"key": k.Key}); string(v.Metadata) != md {
			t.Errorf("%s: verify's metadata %s, want %s", c.path, v.Metadata, md)
		}
	}
	k := e.createKey("acme", "patched", "read")
	path := "/orgs/acme/api_keys/" + k.ID
	r := e.patch(path, e.root, `{"metadata":{"Plan":"pro","plan":"free"}}`)
	want(t, r, http.StatusOK)
	var got keyBody
	r.decode(t, &got)
	if string(got.Metadata) != `{"Plan":"pro","plan":"free"}` {
		t.Errorf("patched metadata %s", got.Metadata)
	}
	for _, tt := range []struct{ body, field, why string }{
		{`{"metadata":{"id":1,"id":2}}`, "metadata.id", "more than once"},
		{`{"metadata":{"a":{"ID":1,"ID":2}}}`, "metadata.a.ID", "more than once"},
		{`{"Metadata":{"id":1}}`, "Metadata", "case-sensitive"},
		{`{"metadata":{},"METADATA":{"id":1}}`, "metadata", "differing only in case"},
	} {
		r := e.patch(path, e.root, tt.body)
		want(t, r, http.StatusBadRequest)
		if reason := r.problem(t).fieldErr(tt.field); !strings.Contains(reason, tt.why) {
			t.Errorf("%s: the problem gives %s %q, want it saying %q", tt.body, tt.field, reason, tt.why)
		}
	}
}

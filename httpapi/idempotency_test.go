package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// A create repeated with the same Idempotency-Key and body answers with the
// first answer, byte for byte, secret included, and makes no other key;
// the same key with another body is a 422; a malformed key is a 400.
func TestIdempotentCreate(t *testing.T) {
	e := newEnv(t)
	const idem = "4d9c1e0a-7b2f-4c3d-9e8f-1a2b3c4d5e6f"
	body := map[string]any{"name": "deploy job", "permissions": []string{"read"}}
	first := e.req("POST", "/orgs/acme/api_keys", e.root, body, "Idempotency-Key", idem)
	want(t, first, http.StatusCreated)
	var k keyBody
	first.decode(t, &k)
	e.secrets = append(e.secrets, k.Key)

	again := e.req("POST", "/orgs/acme/api_keys", e.root, body, "Idempotency-Key", idem)
	want(t, again, http.StatusCreated)
	if string(again.body) != string(first.body) {
		t.Errorf("the repeat answered\n%s\nthe first answer was\n%s", again.body, first.body)
	}
	for _, h := range []string{"Location", "Cache-Control"} {
		if again.header.Get(h) != first.header.Get(h) {
			t.Errorf("the repeat's %s is %q, the first's %q", h, again.header.Get(h), first.header.Get(h))
		}
	}

	r := e.req("POST", "/orgs/acme/api_keys", e.root, map[string]any{"name": "another job", "permissions": []string{"read"}}, "Idempotency-Key", idem)
	want(t, r, http.StatusUnprocessableEntity)
	if p := r.problem(t); p.Type != "urn:keyward:problem:unprocessable" {
		t.Errorf("the same key with another body: %+v", p)
	}
	// The fingerprint covers the path too: the same body elsewhere is
	// another request.
	want(t, e.req("POST", "/orgs/globex/api_keys", e.root, body, "Idempotency-Key", idem), http.StatusUnprocessableEntity)

	for _, bad := range []string{"short", "with a space in it....", strings.Repeat("x", 300)} {
		r := e.req("POST", "/orgs/acme/api_keys", e.root, body, "Idempotency-Key", bad)
		want(t, r, http.StatusBadRequest)
		if p := r.problem(t); p.fieldErr("Idempotency-Key") == "" {
			t.Errorf("Idempotency-Key %q: %+v", bad, p)
		}
	}

	// The caller-scoped create takes it too.
	scoped := map[string]any{"key_name": "worker", "key_scope": []string{"read"}, "organization_id": "acme"}
	a := e.req("POST", "/api_keys", e.root, scoped, "Idempotency-Key", idem+"-2")
	want(t, a, http.StatusCreated)
	var k2 keyBody
	a.decode(t, &k2)
	e.secrets = append(e.secrets, k2.Key)
	b := e.req("POST", "/api_keys", e.root, scoped, "Idempotency-Key", idem+"-2")
	want(t, b, http.StatusCreated)
	if string(b.body) != string(a.body) {
		t.Errorf("caller-scoped repeat answered a different key")
	}

	r = e.req("GET", "/orgs/acme/api_keys", e.root, nil)
	var list []keyBody
	r.decode(t, &list)
	if len(list) != 2 {
		t.Errorf("acme has %d keys after two idempotent creates and their repeats, want 2", len(list))
	}
}

// An expiry whose offset puts it in the year 10000 in UTC is a 400 naming
// expires_at, with an Idempotency-Key too (its answer could not be sealed
// for a repeat), while the last instant of 9999 in UTC is a key that
// repeats byte for byte.
func TestIdempotentCreateExpiryYears(t *testing.T) {
	e := newEnv(t)
	const idem = "0b9f6a52-3c1d-4e7a-8f20-6d5e4c3b2a19"
	for i, at := range []string{"9999-12-31T23:59:59-23:59", "9999-12-31T23:59:30.5-00:01"} {
		body := map[string]any{"name": "far", "permissions": []string{"read"}, "expires_at": at}
		for range 2 {
			r := e.req("POST", "/orgs/acme/api_keys", e.root, body, "Idempotency-Key", idem+"-"+string(rune('a'+i)))
			want(t, r, http.StatusBadRequest)
			if p := r.problem(t); !strings.Contains(p.fieldErr("expires_at"), "9999") {
				t.Errorf("expires_at %s: %+v", at, p)
			}
		}
	}
	body := map[string]any{"name": "far", "permissions": []string{"read"}, "expires_at": "9999-12-31T23:59:59.999999Z"}
	first := e.req("POST", "/orgs/acme/api_keys", e.root, body, "Idempotency-Key", idem)
	want(t, first, http.StatusCreated)
	var k keyBody
	first.decode(t, &k)
	e.secrets = append(e.secrets, k.Key)
	if k.ExpiresAt == nil || *k.ExpiresAt != "9999-12-31T23:59:59.999999Z" {
		t.Errorf("expires_at %s", first.body)
	}
	again := e.req("POST", "/orgs/acme/api_keys", e.root, body, "Idempotency-Key", idem)
	want(t, again, http.StatusCreated)
	if string(again.body) != string(first.body) {
		t.Errorf("the repeat answered\n%s\nthe first answer was\n%s", again.body, first.body)
	}
}

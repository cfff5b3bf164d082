package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// t0 is the fake clock's start: a whole second, so that times written to
// the second and exactly agree.
var t0 = time.Date(2031, time.March, 4, 10, 0, 0, 0, time.UTC)

// keyPaths are the two URL shapes of one key of acme: organization-scoped
// and caller-scoped (as a root key may use it, naming no organization).
func keyPaths(id string) map[string]string {
	return map[string]string{"org": "/orgs/acme/api_keys/" + id, "caller": "/api_keys/" + id}
}

// createWith creates a key in acme with the root key and extra fields.
func (e *env) createWith(name string, perms []string, extra map[string]any) keyBody {
	e.t.Helper()
	body := map[string]any{"name": name, "permissions": perms}
	for k, v := range extra {
		body[k] = v
	}
	r := e.req("POST", "/orgs/acme/api_keys", e.root, body)
	want(e.t, r, http.StatusCreated)
	var k keyBody
	r.decode(e.t, &k)
	e.secrets = append(e.secrets, k.Key)
	if r.header.Get("ETag") != `"1"` {
		e.t.Errorf("create ETag %q, want \"1\"", r.header.Get("ETag"))
	}
	return k
}

// getKey reads a key and its ETag.
func (e *env) getKey(path, key string) (keyBody, string) {
	e.t.Helper()
	r := e.req("GET", path, key, nil)
	want(e.t, r, http.StatusOK)
	var k keyBody
	r.decode(e.t, &k)
	return k, r.header.Get("ETag")
}

// patch sends a merge patch.
func (e *env) patch(path, key, body string, headers ...string) response {
	e.t.Helper()
	return e.req("PATCH", path, key, body, append([]string{"Content-Type", "application/merge-patch+json"}, headers...)...)
}

func TestKeyObjectLifecycleFields(t *testing.T) {
	e := newEnvAt(t, newFakeClock(t0))
	k := e.createWith("plain", []string{"read"}, nil)
	if k.ExpiresAt != nil || !k.Enabled || string(k.Metadata) != "{}" || k.State != "active" || k.DeletedAt != nil ||
		k.UpdatedAt != k.CreatedAt || k.CreatedBy == nil || *k.CreatedBy != "root" {
		t.Errorf("a new key's lifecycle fields: %+v", k)
	}
	exp := t0.Add(time.Hour).Add(500 * time.Millisecond)
	k2 := e.createWith("rich", []string{"read"}, map[string]any{
		"expires_at": exp.Format(time.RFC3339Nano), "metadata": json.RawMessage(`{ "plan": "pro", "limits": {"rps": 10} }`),
	})
	if k2.ExpiresAt == nil || *k2.ExpiresAt != "2031-03-04T11:00:00.5Z" || string(k2.Metadata) != `{"limits":{"rps":10},"plan":"pro"}` {
		t.Errorf("expires_at %v, metadata %s", k2.ExpiresAt, k2.Metadata)
	}
	// The caller-scoped create takes them too; null is none.
	r := e.req("POST", "/api_keys", e.root, `{"key_name":"k","key_scope":["read"],"organization_id":"acme","expires_at":null,"metadata":null}`)
	want(t, r, http.StatusCreated)
	var k3 keyBody
	r.decode(t, &k3)
	e.secrets = append(e.secrets, k3.Key)
	if k3.ExpiresAt != nil || string(k3.Metadata) != "{}" {
		t.Errorf("null expiry and metadata: %+v", k3)
	}

	got, etag := e.getKey("/orgs/acme/api_keys/"+k2.ID, e.root)
	if etag != `"1"` || string(got.Metadata) != string(k2.Metadata) || *got.ExpiresAt != *k2.ExpiresAt {
		t.Errorf("get: etag %s, %+v", etag, got)
	}
	r = e.req("GET", "/api_keys/"+k2.ID, e.root, nil)
	if link := r.header.Get("Link"); link != `</orgs/acme/audit_events?key_id=`+k2.ID+`>; rel="audit"` {
		t.Errorf("Link %q", link)
	}

	for _, tt := range []struct {
		name, body, field string
	}{
		{"expiry in the past", `{"name":"n","permissions":["read"],"expires_at":"2031-03-04T09:59:59Z"}`, "expires_at"},
		{"expiry now", `{"name":"n","permissions":["read"],"expires_at":"2031-03-04T10:00:00Z"}`, "expires_at"},
		{"expiry not a time", `{"name":"n","permissions":["read"],"expires_at":"tomorrow"}`, "expires_at"},
		{"expiry without a zone", `{"name":"n","permissions":["read"],"expires_at":"2040-01-01T00:00:00"}`, "expires_at"},
		{"expiry a number", `{"name":"n","permissions":["read"],"expires_at":1}`, "expires_at"},
		{"expiry in the year 10000 in UTC", `{"name":"n","permissions":["read"],"expires_at":"9999-12-31T23:59:59-23:59"}`, "expires_at"},
		{"metadata an array", `{"name":"n","permissions":["read"],"metadata":[1]}`, "metadata"},
		{"metadata a string", `{"name":"n","permissions":["read"],"metadata":"x"}`, "metadata"},
		{"metadata too large", `{"name":"n","permissions":["read"],"metadata":{"a":"` + strings.Repeat("x", 8<<10) + `"}}`, "metadata"},
		{"metadata too deep", `{"name":"n","permissions":["read"],"metadata":{"a":{"b":{"c":{"d":{"e":{}}}}}}}`, "metadata"},
		{"metadata with a name twice", `{"name":"n","permissions":["read"],"metadata":{"a":1,"a":2}}`, "metadata.a"},
		{"metadata with a secret", `{"name":"n","permissions":["read"],"metadata":{"k":"` + scannerShaped + `"}}`, "metadata"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.req("POST", "/orgs/acme/api_keys", e.root, tt.body)
			want(t, r, http.StatusBadRequest)
			if p := r.problem(t); p.fieldErr(tt.field) == "" {
				t.Errorf("problem does not name %s: %+v", tt.field, p)
			}
		})
	}
}

func TestPatchKey(t *testing.T) {
	clock := newFakeClock(t0)
	e := newEnvAt(t, clock)
	for shape := range keyPaths("") {
		t.Run(shape, func(t *testing.T) {
			k := e.createWith("before", []string{"read", "write"}, map[string]any{"metadata": map[string]any{"plan": "free", "team": "a"}})
			path := keyPaths(k.ID)[shape]
			clock.Advance(time.Minute)
			exp := t0.Add(48 * time.Hour).Format(time.RFC3339)
			r := e.patch(path, e.root, `{"name":"after","metadata":{"plan":"pro","team":null},"expires_at":"`+exp+`"}`)
			want(t, r, http.StatusOK)
			var got keyBody
			r.decode(t, &got)
			if r.header.Get("ETag") != `"2"` || got.Name != "after" || string(got.Metadata) != `{"plan":"pro"}` ||
				got.ExpiresAt == nil || *got.ExpiresAt != exp || got.UpdatedAt == got.CreatedAt || got.ID != k.ID {
				t.Fatalf("after the patch: ETag %s, %+v", r.header.Get("ETag"), got)
			}
			// Plain JSON is a merge patch too; null clears the expiry and
			// removes the metadata.
			r = e.req("PATCH", path, e.root, `{"expires_at":null,"permissions":["READ"],"metadata":null}`)
			want(t, r, http.StatusOK)
			r.decode(t, &got)
			if r.header.Get("ETag") != `"3"` || got.ExpiresAt != nil || !slices.Equal(got.Permissions, []string{"read"}) || string(got.Metadata) != "{}" {
				t.Fatalf("after the second patch: %+v", got)
			}
			// {} changes nothing: the key as it is, at its version.
			r = e.patch(path, e.root, `{}`)
			want(t, r, http.StatusOK)
			var same keyBody
			r.decode(t, &same)
			if r.header.Get("ETag") != `"3"` || same.UpdatedAt != got.UpdatedAt || same.Name != "after" {
				t.Fatalf("{}: ETag %s, %+v", r.header.Get("ETag"), same)
			}
			// The same values again change nothing either.
			r = e.patch(path, e.root, `{"name":"after"}`)
			want(t, r, http.StatusOK)
			if r.header.Get("ETag") != `"3"` {
				t.Errorf("a patch to the same name moved the ETag to %s", r.header.Get("ETag"))
			}
			// What the answer says is what GET says.
			read, etag := e.getKey(path, e.root)
			if etag != `"3"` || read.Name != "after" || string(read.Metadata) != "{}" {
				t.Errorf("GET after patches: %s %+v", etag, read)
			}
		})
	}
	t.Run("a manage key of the organization", func(t *testing.T) {
		admin := e.createKey("acme", "admin", "read", "write", "manage")
		k := e.createKey("acme", "target", "read")
		r := e.patch("/api_keys/"+k.ID, admin.Key, `{"permissions":["read","write"]}`)
		want(t, r, http.StatusOK)
		// A key may grant only permissions it holds itself.
		r = e.patch("/api_keys/"+k.ID, admin.Key, `{"permissions":["read","delete"]}`)
		want(t, r, http.StatusForbidden)
		if p := r.problem(t); !strings.Contains(p.Detail, "delete") {
			t.Errorf("403 does not name the permission: %s", p.Detail)
		}
		// It may keep one it does not hold that the key already has.
		other := e.createKey("acme", "other", "read", "delete")
		want(t, e.patch("/orgs/acme/api_keys/"+other.ID, admin.Key, `{"permissions":["delete","read","write"]}`), http.StatusOK)
	})
}

func TestPatchErrors(t *testing.T) {
	e := newEnvAt(t, newFakeClock(t0))
	k := e.createWith("target", []string{"read"}, nil)
	reader := e.createKey("acme", "reader", "read")
	globex := e.createKey("globex", "globex admin", "read", "manage")
	path := "/orgs/acme/api_keys/" + k.ID
	mp := "application/merge-patch+json"
	tests := []struct {
		name        string
		path        string
		key         string
		body        string
		contentType string
		headers     []string
		status      int
		field       string // a field the problem must name
		reason      string // a substring of its reason
	}{
		{"text", path, e.root, `{}`, "text/plain", nil, 415, "", ""},
		{"no content type", path, e.root, `{}`, "-", nil, 415, "", ""},
		{"JSON Patch", path, e.root, `[{"op":"replace","path":"/name","value":"x"}]`, "application/json-patch+json", nil, 415, "", ""},
		{"merge patch with a charset", path, e.root, `{}`, mp + "; charset=utf-8", nil, 200, "", ""},
		{"null name", path, e.root, `{"name":null}`, mp, nil, 400, "name", "null"},
		{"null permissions", path, e.root, `{"permissions":null}`, mp, nil, 400, "permissions", "null"},
		{"null enabled", path, e.root, `{"enabled":null}`, mp, nil, 400, "enabled", "null"},
		{"id", path, e.root, `{"id":"key-1"}`, mp, nil, 400, "id", "cannot be changed"},
		{"created_at", path, e.root, `{"created_at":"2020-01-01T00:00:00Z"}`, mp, nil, 400, "created_at", "cannot be changed"},
		{"org_id", path, e.root, `{"org_id":"globex"}`, mp, nil, 400, "org_id", "cannot be changed"},
		{"hint", path, e.root, `{"hint":"x"}`, mp, nil, 400, "hint", "cannot be changed"},
		{"state", path, e.root, `{"state":"active"}`, mp, nil, 400, "state", "read-only"},
		{"key", path, e.root, `{"key":"x"}`, mp, nil, 400, "key", "rotate"},
		{"unknown field", path, e.root, `{"admin":true}`, mp, nil, 400, "admin", "not a known field"},
		{"name twice", path, e.root, `{"name":"a","name":"b"}`, mp, nil, 400, "name", "more than once"},
		{"case variant", path, e.root, `{"Name":"a"}`, mp, nil, 400, "Name", "case-sensitive"},
		{"case variant beside the name", path, e.root, `{"name":"a","NAME":"b"}`, mp, nil, 400, "name", "more than once"},
		{"name a number", path, e.root, `{"name":5}`, mp, nil, 400, "name", "a string"},
		{"blank name", path, e.root, `{"name":"  "}`, mp, nil, 400, "name", "required"},
		{"name shaped like a secret", path, e.root, `{"name":"` + scannerShaped + `"}`, mp, nil, 400, "name", ""},
		{"permissions a string", path, e.root, `{"permissions":"read"}`, mp, nil, 400, "permissions", "array"},
		{"no permissions", path, e.root, `{"permissions":[]}`, mp, nil, 400, "permissions", "at least one"},
		{"unknown permission", path, e.root, `{"permissions":["admin"]}`, mp, nil, 400, "permissions", "unknown"},
		{"enabled a string", path, e.root, `{"enabled":"false"}`, mp, nil, 400, "enabled", "boolean"},
		{"expiry in the past", path, e.root, `{"expires_at":"2031-03-04T09:00:00Z"}`, mp, nil, 400, "expires_at", "future"},
		{"expiry not a time", path, e.root, `{"expires_at":"soon"}`, mp, nil, 400, "expires_at", "RFC 3339"},
		{"expiry a number", path, e.root, `{"expires_at":5}`, mp, nil, 400, "expires_at", "RFC 3339"},
		{"expiry in the year 10000 in UTC", path, e.root, `{"expires_at":"9999-12-31T23:59:59.5-00:01"}`, mp, nil, 400, "expires_at", "9999"},
		{"metadata a number", path, e.root, `{"metadata":5}`, mp, nil, 400, "metadata", "object"},
		{"metadata too large", path, e.root, `{"metadata":{"a":"` + strings.Repeat("x", 9<<10) + `"}}`, mp, nil, 400, "metadata", "8192"},
		{"several at once", path, e.root, `{"name":null,"id":"x","enabled":1}`, mp, nil, 400, "enabled", ""},
		{"not an object", path, e.root, `[]`, mp, nil, 400, "", ""},
		{"null body", path, e.root, `null`, mp, nil, 400, "", ""},
		{"empty body", path, e.root, ``, mp, nil, 400, "", ""},
		{"trailing data", path, e.root, `{}{}`, mp, nil, 400, "", ""},
		{"body over 64 KiB", path, e.root, `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, mp, nil, 413, "", ""},
		{"bad If-Match", path, e.root, `{}`, mp, []string{"If-Match", "3"}, 400, "If-Match", ""},
		{"stale If-Match", path, e.root, `{"name":"x"}`, mp, []string{"If-Match", `"7"`}, 412, "", ""},
		{"no key", path, "", `{}`, mp, nil, 401, "", ""},
		{"a key without manage", path, reader.Key, `{}`, mp, nil, 403, "", ""},
		{"caller-scoped, a key without manage", "/api_keys/" + k.ID, reader.Key, `{}`, mp, nil, 403, "", ""},
		{"another organization's key", "/api_keys/" + k.ID, globex.Key, `{"name":"mine"}`, mp, nil, 404, "", ""},
		{"another organization in the path", path, globex.Key, `{"name":"mine"}`, mp, nil, 404, "", ""},
		{"unknown key", "/orgs/acme/api_keys/key-42", e.root, `{}`, mp, nil, 404, "", ""},
		{"malformed key id", "/orgs/acme/api_keys/key-x", e.root, `{}`, mp, nil, 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := slices.Clone(tt.headers)
			switch tt.contentType {
			case "-":
				headers = append(headers, "Content-Type", "")
			default:
				headers = append(headers, "Content-Type", tt.contentType)
			}
			r := e.req("PATCH", tt.path, tt.key, tt.body, headers...)
			want(t, r, tt.status)
			if tt.status == 200 {
				return
			}
			p := r.problem(t)
			if tt.field != "" && !strings.Contains(p.fieldErr(tt.field), tt.reason) || tt.field != "" && p.fieldErr(tt.field) == "" {
				t.Errorf("problem does not name %q saying %q: %+v", tt.field, tt.reason, p)
			}
			if tt.status == 415 && r.header.Get("Accept-Patch") == "" {
				t.Error("415 without Accept-Patch")
			}
		})
	}
	// Nothing the bad requests sent was written.
	got, etag := e.getKey(path, e.root)
	if etag != `"1"` || got.Name != "target" {
		t.Errorf("after the bad patches: ETag %s, %+v", etag, got)
	}
}

// TestIfMatch: two writers read a key; the first to write wins, the
// second gets 412, reads again and succeeds. Every write to one key honours
// If-Match.
func TestIfMatch(t *testing.T) {
	e := newEnvAt(t, newFakeClock(t0))
	for shape := range keyPaths("") {
		t.Run(shape, func(t *testing.T) {
			k := e.createWith("shared", []string{"read"}, nil)
			path := keyPaths(k.ID)[shape]
			_, etagA := e.getKey(path, e.root)
			_, etagB := e.getKey(path, e.root)
			r := e.patch(path, e.root, `{"name":"A"}`, "If-Match", etagA)
			want(t, r, http.StatusOK)
			newTag := r.header.Get("ETag")
			if newTag == etagA {
				t.Fatalf("ETag did not change: %s", newTag)
			}
			r = e.patch(path, e.root, `{"name":"B"}`, "If-Match", etagB)
			want(t, r, http.StatusPreconditionFailed)
			if p := r.problem(t); p.Type != "urn:keyward:problem:precondition-failed" {
				t.Errorf("412 type %q", p.Type)
			}
			got, etagB2 := e.getKey(path, e.root)
			if got.Name != "A" || etagB2 != newTag {
				t.Fatalf("after the 412: %s %+v", etagB2, got)
			}
			want(t, e.patch(path, e.root, `{"name":"B"}`, "If-Match", etagB2), http.StatusOK)

			// Every conditional write: a stale tag is 412 and changes
			// nothing; a current one (among others, or *) is honoured.
			stale := etagA
			for _, action := range []string{"/disable", "/enable", "/rotate"} {
				r := e.req("POST", path+action, e.root, nil, "If-Match", stale)
				want(t, r, http.StatusPreconditionFailed)
				r.problem(t)
			}
			want(t, e.req("DELETE", path, e.root, nil, "If-Match", stale), http.StatusPreconditionFailed)
			_, cur := e.getKey(path, e.root)
			want(t, e.req("POST", path+"/disable", e.root, nil, "If-Match", stale+", "+cur), http.StatusOK)
			_, cur = e.getKey(path, e.root)
			want(t, e.req("POST", path+"/enable", e.root, nil, "If-Match", "W/"+cur), http.StatusPreconditionFailed)
			want(t, e.req("POST", path+"/enable", e.root, nil, "If-Match", "*"), http.StatusOK)
			_, cur = e.getKey(path, e.root)
			r = e.req("POST", path+"/rotate", e.root, nil, "If-Match", cur)
			want(t, r, http.StatusOK)
			var rotated keyBody
			r.decode(t, &rotated)
			e.secrets = append(e.secrets, rotated.Key)
			cur = r.header.Get("ETag")
			want(t, e.req("DELETE", path, e.root, nil, "If-Match", cur), http.StatusOK)
			restore := "/orgs/acme/api_keys/" + k.ID + "/restore"
			want(t, e.req("POST", restore, e.root, nil, "If-Match", cur), http.StatusPreconditionFailed)
			want(t, e.req("POST", restore, e.root, nil, "If-Match", "bogus"), http.StatusBadRequest)
			r = e.req("POST", restore, e.root, nil)
			want(t, r, http.StatusOK)
			if r.header.Get("ETag") == cur {
				t.Error("restore did not move the ETag")
			}
		})
	}
}

// TestIfMatchRFC9110: If-Match as RFC 9110 reads it. A well-formed entity
// tag this server never issued ("abc", "0") simply does not match (412,
// not 400); empty list elements are skipped; "*" matches a key that
// exists, but not a deleted one, so it does not restore; only a header
// that is not an entity-tag list at all is a 400 naming If-Match.
func TestIfMatchRFC9110(t *testing.T) {
	e := newEnv(t)
	k := e.createKey("acme", "conditional", "read")
	path := "/orgs/acme/api_keys/" + k.ID
	for _, tag := range []string{`"abc"`, `"0"`, `"-1"`, `"3.5"`, `""`, `"abc", "0"`, `W/"1"`} {
		r := e.patch(path, e.root, `{"name":"never"}`, "If-Match", tag)
		want(t, r, http.StatusPreconditionFailed)
		if p := r.problem(t); p.Type != "urn:keyward:problem:precondition-failed" {
			t.Errorf("If-Match %s: %+v", tag, p)
		}
		want(t, e.req("DELETE", path, e.root, nil, "If-Match", tag), http.StatusPreconditionFailed)
	}
	if got, _ := e.getKey(path, e.root); got.Name != "conditional" || got.State != "active" {
		t.Fatalf("a tag that does not match changed the key: %+v", got)
	}
	for _, header := range []string{"3", "bogus", `"1`, `W/1`, `"1" "2"`} {
		r := e.patch(path, e.root, `{}`, "If-Match", header)
		want(t, r, http.StatusBadRequest)
		if r.problem(t).fieldErr("If-Match") == "" {
			t.Errorf("If-Match %s: the 400 does not name If-Match", header)
		}
	}
	_, cur := e.getKey(path, e.root)
	want(t, e.patch(path, e.root, `{"name":"listed"}`, "If-Match", `, "abc",, `+cur+` ,`), http.StatusOK)
	want(t, e.req("POST", path+"/disable", e.root, nil, "If-Match", "*"), http.StatusOK)
	want(t, e.req("DELETE", path, e.root, nil, "If-Match", "*"), http.StatusOK)
	restore := path + "/restore"
	want(t, e.req("POST", restore, e.root, nil, "If-Match", "*"), http.StatusPreconditionFailed)
	want(t, e.req("POST", restore, e.root, nil, "If-Match", `"abc"`), http.StatusPreconditionFailed)
	want(t, e.req("POST", restore, e.root, nil, "If-Match", "bogus"), http.StatusBadRequest)
	want(t, e.req("POST", restore, e.root, nil), http.StatusOK)
}

func TestRotateWithGrace(t *testing.T) {
	clock := newFakeClock(t0)
	e := newEnvAt(t, clock)
	for shape := range keyPaths("") {
		t.Run(shape, func(t *testing.T) {
			k := e.createWith("rotating", []string{"read"}, map[string]any{"metadata": map[string]string{"plan": "pro"}})
			path := keyPaths(k.ID)[shape]
			old := k.Key
			r := e.req("POST", path+"/rotate", e.root, `{"grace_period":"90s"}`)
			want(t, r, http.StatusOK)
			var rot keyBody
			r.decode(t, &rot)
			e.secrets = append(e.secrets, rot.Key)
			if rot.ID != k.ID || rot.Name != k.Name || string(rot.Metadata) != `{"plan":"pro"}` || rot.Key == old ||
				!secretRE.MatchString(rot.Key) || rot.Hint == k.Hint || rot.Hint != rot.Key[:7]+"..."+rot.Key[len(rot.Key)-4:] {
				t.Fatalf("rotated: %+v", rot)
			}
			end := clock.Now().Add(90 * time.Second)
			if rot.PreviousSecretExpiresAt == nil || *rot.PreviousSecretExpiresAt != end.Format(time.RFC3339Nano) {
				t.Errorf("previous_secret_expires_at %v, want %s", rot.PreviousSecretExpiresAt, end.Format(time.RFC3339Nano))
			}
			if r.header.Get("Cache-Control") != "no-store" || r.header.Get("ETag") != `"2"` {
				t.Errorf("headers %v", r.header)
			}

			v := e.verify(map[string]any{"key": old})
			if v.Code != "VALID" || v.SecretExpiresAt == nil || *v.SecretExpiresAt != *rot.PreviousSecretExpiresAt || v.KeyID != k.ID || string(v.Metadata) != `{"plan":"pro"}` {
				t.Errorf("old secret in its grace period: %+v", v)
			}
			if v := e.verify(map[string]any{"key": rot.Key}); v.Code != "VALID" || v.SecretExpiresAt != nil {
				t.Errorf("new secret: %+v", v)
			}
			clock.Set(end.Add(-time.Microsecond))
			if v := e.verify(map[string]any{"key": old}); v.Code != "VALID" {
				t.Errorf("old secret just before the end: %+v", v)
			}
			clock.Set(end)
			if v := e.verify(map[string]any{"key": old}); v.Code != "NOT_FOUND" || v.KeyID != "" || v.Metadata != nil {
				t.Errorf("old secret at the end of its grace period: %+v", v)
			}
			if v := e.verify(map[string]any{"key": rot.Key}); v.Code != "VALID" {
				t.Errorf("new secret after the grace period: %+v", v)
			}

			// Without a body: no grace period; the secret before stops at once.
			r = e.req("POST", path+"/rotate", e.root, nil)
			want(t, r, http.StatusOK)
			var again keyBody
			r.decode(t, &again)
			e.secrets = append(e.secrets, again.Key)
			if again.PreviousSecretExpiresAt != nil || !strings.Contains(string(r.body), `"previous_secret_expires_at":null`) {
				t.Errorf("rotation without grace: %s", again.Key[:3])
			}
			if v := e.verify(map[string]any{"key": rot.Key}); v.Code != "NOT_FOUND" {
				t.Errorf("the secret before a rotation without grace: %+v", v)
			}
			// {} and an explicit zero are the same.
			for _, body := range []string{`{}`, `{"grace_period":"0s"}`, `{"grace_period":"7d"}`} {
				r = e.req("POST", path+"/rotate", e.root, body)
				want(t, r, http.StatusOK)
				var k keyBody
				r.decode(t, &k)
				e.secrets = append(e.secrets, k.Key)
			}
		})
	}
	k := e.createKey("acme", "errors", "read")
	path := "/orgs/acme/api_keys/" + k.ID + "/rotate"
	for _, tt := range []struct {
		name, body, contentType string
		status                  int
		field                   string
	}{
		{"more than 7 days", `{"grace_period":"8d"}`, "application/json", 400, "grace_period"},
		{"negative", `{"grace_period":"-1s"}`, "application/json", 400, "grace_period"},
		{"not a duration", `{"grace_period":"a while"}`, "application/json", 400, "grace_period"},
		{"a number", `{"grace_period":90}`, "application/json", 400, "grace_period"},
		{"unknown field", `{"grace":"1h"}`, "application/json", 400, "grace"},
		{"case variant", `{"Grace_Period":"1h"}`, "application/json", 400, "Grace_Period"},
		{"not JSON", `grace=1h`, "application/x-www-form-urlencoded", 415, ""},
		{"malformed", `{"grace_period":`, "application/json", 400, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.req("POST", path, e.root, tt.body, "Content-Type", tt.contentType)
			want(t, r, tt.status)
			if p := r.problem(t); tt.field != "" && p.fieldErr(tt.field) == "" {
				t.Errorf("problem does not name %s: %+v", tt.field, p)
			}
		})
	}
	// Nothing the bad requests sent rotated the key.
	if v := e.verify(map[string]any{"key": k.Key}); v.Code != "VALID" {
		t.Errorf("after bad rotations: %+v", v)
	}
	want(t, e.req("POST", "/orgs/acme/api_keys/key-42/rotate", e.root, nil), http.StatusNotFound)
	reader := e.createKey("acme", "reader", "read")
	want(t, e.req("POST", "/api_keys/"+k.ID+"/rotate", reader.Key, nil), http.StatusForbidden)
	want(t, e.req("POST", "/api_keys/"+k.ID+"/rotate", "", nil), http.StatusUnauthorized)
}

// TestVerifyStatesAtTheSecond: DISABLED and EXPIRED, exactly when they
// begin and end, by the service's clock.
func TestVerifyStatesAtTheSecond(t *testing.T) {
	clock := newFakeClock(t0)
	e := newEnvAt(t, clock)
	exp := t0.Add(time.Hour)
	k := e.createWith("expiring", []string{"read"}, map[string]any{"expires_at": exp.Format(time.RFC3339), "metadata": map[string]any{"tier": 2}})
	v := e.verify(map[string]any{"key": k.Key})
	if v.Code != "VALID" || v.ExpiresAt == nil || *v.ExpiresAt != "2031-03-04T11:00:00Z" || string(v.Metadata) != `{"tier":2}` {
		t.Errorf("valid: %+v", v)
	}
	plain := e.createKey("acme", "plain", "read")
	if v := e.verify(map[string]any{"key": plain.Key}); v.ExpiresAt != nil || string(v.Metadata) != "{}" || v.SecretExpiresAt != nil {
		t.Errorf("a key without expiry or metadata: %+v", v)
	}

	r := e.req("POST", "/orgs/acme/api_keys/"+k.ID+"/disable", e.root, nil)
	want(t, r, http.StatusOK)
	var got keyBody
	r.decode(t, &got)
	if got.Enabled || got.State != "disabled" {
		t.Errorf("disabled: %+v", got)
	}
	v = e.verify(map[string]any{"key": k.Key, "permissions": []string{"manage"}})
	if v.Code != "DISABLED" || v.Valid || v.KeyID != k.ID || v.Name != "expiring" || string(v.Metadata) != `{"tier":2}` {
		t.Errorf("disabled: %+v", v)
	}
	// A disabled key does not authenticate either.
	want(t, e.req("GET", "/api_keys", k.Key, nil), http.StatusUnauthorized)
	// Disabling again changes nothing.
	r = e.req("POST", "/api_keys/"+k.ID+"/disable", e.root, `{}`)
	want(t, r, http.StatusOK)
	if r.header.Get("ETag") != `"2"` {
		t.Errorf("a second disable moved the ETag to %s", r.header.Get("ETag"))
	}
	r = e.req("POST", "/api_keys/"+k.ID+"/enable", e.root, nil)
	want(t, r, http.StatusOK)
	r.decode(t, &got)
	if !got.Enabled || got.State != "active" {
		t.Errorf("enabled: %+v", got)
	}
	if v := e.verify(map[string]any{"key": k.Key}); v.Code != "VALID" {
		t.Errorf("enabled: %+v", v)
	}
	// PATCH enabled is the same switch.
	want(t, e.patch("/orgs/acme/api_keys/"+k.ID, e.root, `{"enabled":false}`), http.StatusOK)
	if v := e.verify(map[string]any{"key": k.Key}); v.Code != "DISABLED" {
		t.Errorf("patched disabled: %+v", v)
	}
	want(t, e.patch("/orgs/acme/api_keys/"+k.ID, e.root, `{"enabled":true}`), http.StatusOK)

	clock.Set(exp.Add(-time.Nanosecond))
	if v := e.verify(map[string]any{"key": k.Key}); v.Code != "VALID" {
		t.Errorf("a nanosecond before its expiry: %+v", v)
	}
	clock.Set(exp)
	v = e.verify(map[string]any{"key": k.Key})
	if v.Code != "EXPIRED" || v.Valid || v.KeyID != k.ID || v.ExpiresAt == nil || *v.ExpiresAt != "2031-03-04T11:00:00Z" {
		t.Errorf("at its expiry: %+v", v)
	}
	if got, _ := e.getKey("/orgs/acme/api_keys/"+k.ID, e.root); got.State != "expired" || !got.Enabled {
		t.Errorf("GET at its expiry: %+v", got)
	}
	// Disabled comes before expired.
	want(t, e.req("POST", "/orgs/acme/api_keys/"+k.ID+"/disable", e.root, nil), http.StatusOK)
	if v := e.verify(map[string]any{"key": k.Key}); v.Code != "DISABLED" {
		t.Errorf("disabled and expired: %+v", v)
	}
	// A new expiry in the future brings it back, once enabled.
	want(t, e.patch("/orgs/acme/api_keys/"+k.ID, e.root, `{"expires_at":"2032-01-01T00:00:00Z","enabled":true}`), http.StatusOK)
	if v := e.verify(map[string]any{"key": k.Key}); v.Code != "VALID" {
		t.Errorf("a new expiry: %+v", v)
	}
	// A body on disable or enable may only be {}.
	want(t, e.req("POST", "/orgs/acme/api_keys/"+k.ID+"/enable", e.root, `{"enabled":true}`), http.StatusBadRequest)
	want(t, e.req("POST", "/orgs/acme/api_keys/"+k.ID+"/disable", e.root, `x`, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType)
}

func TestRestore(t *testing.T) {
	clock := newFakeClock(t0)
	e := newEnvAt(t, clock)
	for shape := range keyPaths("") {
		t.Run(shape, func(t *testing.T) {
			k := e.createWith("restorable", []string{"read"}, map[string]any{"metadata": map[string]int{"n": 1}})
			path := keyPaths(k.ID)[shape]
			restore := path + "/restore"
			if shape == "caller" {
				// A root key must name the organization: a deleted key
				// is not found by its id alone.
				want(t, e.req("DELETE", path, e.root, nil), http.StatusOK)
				r := e.req("POST", restore, e.root, nil)
				want(t, r, http.StatusBadRequest)
				if r.problem(t).fieldErr("organization_id") == "" {
					t.Error("the 400 does not name organization_id")
				}
				restore += "?organization_id=acme"
			} else {
				want(t, e.req("DELETE", path, e.root, nil), http.StatusOK)
			}
			want(t, e.req("GET", path, e.root, nil), http.StatusNotFound)
			if v := e.verify(map[string]any{"key": k.Key}); v.Code != "NOT_FOUND" {
				t.Errorf("deleted: %+v", v)
			}
			r := e.req("POST", restore, e.root, nil)
			want(t, r, http.StatusOK)
			var got keyBody
			r.decode(t, &got)
			if got.State != "active" || got.DeletedAt != nil || got.ID != k.ID || string(got.Metadata) != `{"n":1}` || r.header.Get("ETag") != `"3"` {
				t.Errorf("restored: %s %+v", r.header.Get("ETag"), got)
			}
			if v := e.verify(map[string]any{"key": k.Key}); v.Code != "VALID" {
				t.Errorf("restored: %+v", v)
			}
			r = e.req("POST", restore, e.root, nil)
			want(t, r, http.StatusConflict)
			r.problem(t)
		})
	}
	t.Run("after the retention period", func(t *testing.T) {
		k := e.createKey("acme", "gone", "read")
		want(t, e.req("DELETE", "/orgs/acme/api_keys/"+k.ID, e.root, nil), http.StatusOK)
		clock.Advance(30*24*time.Hour + time.Second)
		want(t, e.req("POST", "/orgs/acme/api_keys/"+k.ID+"/restore", e.root, nil), http.StatusNotFound)
	})
	t.Run("by a manage key, and not another organization's", func(t *testing.T) {
		admin := e.createKey("acme", "admin", "read", "manage")
		globex := e.createKey("globex", "globex admin", "read", "manage")
		k := e.createKey("acme", "victim", "read")
		want(t, e.req("DELETE", "/api_keys/"+k.ID, admin.Key, nil), http.StatusOK)
		want(t, e.req("POST", "/api_keys/"+k.ID+"/restore", globex.Key, nil), http.StatusNotFound)
		want(t, e.req("POST", "/orgs/acme/api_keys/"+k.ID+"/restore", globex.Key, nil), http.StatusNotFound)
		want(t, e.req("POST", "/api_keys/"+k.ID+"/restore", admin.Key, nil), http.StatusOK)
	})
	want(t, e.req("POST", "/orgs/acme/api_keys/key-42/restore", e.root, nil), http.StatusNotFound)
}

func TestListStates(t *testing.T) {
	clock := newFakeClock(t0)
	e := newEnvAt(t, clock)
	active := e.createKey("acme", "active", "read")
	disabled := e.createKey("acme", "disabled", "read")
	expired := e.createWith("expired", []string{"read"}, map[string]any{"expires_at": t0.Add(time.Minute).Format(time.RFC3339)})
	deleted := e.createKey("acme", "deleted", "read")
	want(t, e.req("POST", "/orgs/acme/api_keys/"+disabled.ID+"/disable", e.root, nil), http.StatusOK)
	want(t, e.req("DELETE", "/orgs/acme/api_keys/"+deleted.ID, e.root, nil), http.StatusOK)
	clock.Advance(time.Minute)
	ids := func(path string) []string {
		t.Helper()
		r := e.req("GET", path, e.root, nil)
		want(t, r, http.StatusOK)
		var list []keyBody
		r.decode(t, &list)
		var out []string
		for _, k := range list {
			out = append(out, k.State+":"+k.ID)
		}
		slices.Sort(out)
		return out
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", []string{"active:" + active.ID}},
		{"state=active", []string{"active:" + active.ID}},
		{"state=disabled", []string{"disabled:" + disabled.ID}},
		{"state=expired", []string{"expired:" + expired.ID}},
		{"state=deleted", []string{"deleted:" + deleted.ID}},
		{"state=all", []string{"active:" + active.ID, "deleted:" + deleted.ID, "disabled:" + disabled.ID, "expired:" + expired.ID}},
	} {
		for _, path := range []string{"/orgs/acme/api_keys?" + tt.query, "/api_keys?organization_id=acme&" + tt.query} {
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if got := ids(path); !slices.Equal(got, want) {
				t.Errorf("%s: %v, want %v", path, got, want)
			}
		}
	}
	r := e.req("GET", "/orgs/acme/api_keys?state=all&limit=1", e.root, nil)
	want(t, r, http.StatusOK)
	if link := r.header.Get("Link"); !strings.Contains(link, "state=all") {
		t.Errorf("the next page's Link %q loses the state", link)
	}
	for _, q := range []string{"state=gone", "state=", "state=ACTIVE"} {
		r := e.req("GET", "/api_keys?organization_id=acme&"+q, e.root, nil)
		want(t, r, http.StatusBadRequest)
		if r.problem(t).fieldErr("state") == "" {
			t.Errorf("%s: the 400 does not name state", q)
		}
	}
}

// A listing renders each key's state at the instant its state filter was
// evaluated, not at a later reading of the clock: with a clock that moves
// an hour on every reading, a key whose expiry falls between two readings
// is listed by ?state=active as active, or by ?state=expired as expired,
// never by one as the other.
func TestListStateAtTheFilterInstant(t *testing.T) {
	clock := newFakeClock(t0)
	var ticking atomic.Bool
	const step = time.Hour
	e := newEnvWith(t, func(svc *keyward.Service) {
		svc.Now = func() time.Time {
			now := clock.Now()
			if ticking.Load() {
				clock.Advance(step)
			}
			return now
		}
	})
	exp := t0.Add(time.Minute)
	k := e.createWith("expiring", []string{"read"}, map[string]any{"expires_at": exp.Format(time.RFC3339)})
	seen := map[string]int{}
	for _, state := range []string{"active", "expired"} {
		// Whichever reading of the clock the listing's filter is, one of
		// these starts puts it just before the expiry and the next reading
		// just after it.
		for j := range 6 {
			ticking.Store(false)
			clock.Set(exp.Add(-step/2 - time.Duration(j)*step))
			ticking.Store(true)
			r := e.req("GET", "/orgs/acme/api_keys?state="+state, e.root, nil)
			ticking.Store(false)
			want(t, r, http.StatusOK)
			var list []keyBody
			r.decode(t, &list)
			for _, got := range list {
				if got.ID != k.ID {
					continue
				}
				seen[state]++
				if got.State != state {
					t.Errorf("?state=%s (start %d hours before) lists the key as %q", state, j, got.State)
				}
			}
		}
	}
	if seen["active"] == 0 || seen["expired"] == 0 {
		t.Errorf("the key was listed %v: the clock never crossed its expiry inside a listing", seen)
	}
}

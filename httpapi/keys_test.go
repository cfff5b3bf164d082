package httpapi_test

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

var secretRE = regexp.MustCompile(`^` + keyward.SecretPattern + `$`)

// TestOrgScopedSeedExamples walks the first seed document: create, list,
// get and delete a key in an organization.
func TestOrgScopedSeedExamples(t *testing.T) {
	e := newEnv(t)
	before := time.Now().UTC().Add(-time.Second)

	r := e.req("POST", "/orgs/acme/api_keys", e.root, map[string]any{"name": "New API Key", "permissions": []string{"read", "write"}})
	want(t, r, http.StatusCreated)
	var created keyBody
	r.decode(t, &created)
	e.secrets = append(e.secrets, created.Key)
	if created.Name != "New API Key" || !slices.Equal(created.Permissions, []string{"read", "write"}) || created.OrgID != "acme" {
		t.Fatalf("created %+v", created)
	}
	if !regexp.MustCompile(`^key-[1-9][0-9]*$`).MatchString(created.ID) {
		t.Errorf("id %q is not key-<n>", created.ID)
	}
	if !secretRE.MatchString(created.Key) {
		t.Errorf("secret does not match %s", keyward.SecretPattern)
	}
	if want := created.Key[:7] + "..." + created.Key[len(created.Key)-4:]; created.Hint != want {
		t.Errorf("hint %q, want %q", created.Hint, want)
	}
	at, err := time.Parse(time.RFC3339, created.CreatedAt)
	if err != nil || !strings.HasSuffix(created.CreatedAt, "Z") || at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("created_at %q is not a current RFC 3339 UTC time", created.CreatedAt)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	if got := r.header.Get("Location"); got != "/orgs/acme/api_keys/"+created.ID {
		t.Errorf("Location %q", got)
	}

	r = e.req("GET", "/orgs/acme/api_keys", e.root, nil)
	want(t, r, http.StatusOK)
	if strings.Contains(string(r.body), created.Key) || strings.Contains(string(r.body), `"key"`) {
		t.Fatal("the list shows a secret")
	}
	var list []keyBody
	r.decode(t, &list)
	if len(list) != 1 || list[0].ID != created.ID || list[0].Name != created.Name || list[0].CreatedAt != created.CreatedAt {
		t.Fatalf("list %+v", list)
	}

	r = e.req("GET", "/orgs/acme/api_keys/"+created.ID, e.root, nil)
	want(t, r, http.StatusOK)
	var got keyBody
	r.decode(t, &got)
	created.Key = ""
	if !equalKeys(got, created) {
		t.Fatalf("get %+v, want %+v", got, created)
	}
	// The bare number is the same id.
	want(t, e.req("GET", "/orgs/acme/api_keys/"+strings.TrimPrefix(created.ID, "key-"), e.root, nil), http.StatusOK)

	r = e.req("DELETE", "/orgs/acme/api_keys/"+created.ID, e.root, nil)
	want(t, r, http.StatusOK)
	if string(r.body) != `{"message":"API key deleted successfully"}`+"\n" {
		t.Errorf("delete body %s", r.body)
	}
	r = e.req("GET", "/orgs/acme/api_keys/"+created.ID, e.root, nil)
	want(t, r, http.StatusNotFound)
	r.problem(t)
	want(t, e.req("DELETE", "/orgs/acme/api_keys/"+created.ID, e.root, nil), http.StatusNotFound)
	r = e.req("GET", "/orgs/acme/api_keys", e.root, nil)
	want(t, r, http.StatusOK)
	if string(r.body) != "[]\n" {
		t.Errorf("list after delete: %s", r.body)
	}
}

func equalKeys(a, b keyBody) bool {
	return a.ID == b.ID && a.Name == b.Name && a.CreatedAt == b.CreatedAt && slices.Equal(a.Permissions, b.Permissions) &&
		a.OrgID == b.OrgID && a.Hint == b.Hint && a.Key == b.Key
}

// TestCallerScopedSeedExamples walks the second seed document: key_name,
// key_scope and organization_id, the caller's own organization.
func TestCallerScopedSeedExamples(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"key_name": "Backend API Key", "key_scope": []string{"READ", "CREATE", "UPDATE", "DELETE", "MANAGE"}, "organization_id": 432}
	r := e.req("POST", "/api_keys", e.root, body)
	want(t, r, http.StatusCreated)
	var admin keyBody
	r.decode(t, &admin)
	e.secrets = append(e.secrets, admin.Key)
	if admin.OrgID != "432" || admin.Name != "Backend API Key" ||
		!slices.Equal(admin.Permissions, []string{"read", "create", "update", "delete", "manage"}) {
		t.Fatalf("created %+v", admin)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Location") != "/orgs/432/api_keys/"+admin.ID {
		t.Errorf("headers %v", r.header)
	}

	// The org's own manage key works without naming its organization, and
	// accepts name/permissions as synonyms and organization_id as a string.
	r = e.req("POST", "/api_keys", admin.Key, map[string]any{"name": "reader", "permissions": []string{"read", "READ"}, "organization_id": "432"})
	want(t, r, http.StatusCreated)
	var reader keyBody
	r.decode(t, &reader)
	e.secrets = append(e.secrets, reader.Key)
	if reader.OrgID != "432" || !slices.Equal(reader.Permissions, []string{"read"}) {
		t.Fatalf("created %+v", reader)
	}

	r = e.req("GET", "/api_keys", admin.Key, nil)
	want(t, r, http.StatusOK)
	var list []keyBody
	r.decode(t, &list)
	if len(list) != 2 || list[0].ID != reader.ID || list[1].ID != admin.ID {
		t.Fatalf("list, newest first: %+v", list)
	}
	num := strings.TrimPrefix(reader.ID, "key-")
	want(t, e.req("GET", "/api_keys/"+num, admin.Key, nil), http.StatusOK)
	want(t, e.req("GET", "/api_keys/"+reader.ID+"?organization_id=432", e.root, nil), http.StatusOK)
	r = e.req("GET", "/api_keys", e.root, nil)
	want(t, r, http.StatusBadRequest)
	if r.problem(t).fieldErr("organization_id") == "" {
		t.Error("a root list without organization_id should name the field")
	}

	r = e.req("DELETE", "/api_keys/"+num, admin.Key, nil)
	want(t, r, http.StatusOK)
	want(t, e.req("GET", "/api_keys/"+num, admin.Key, nil), http.StatusNotFound)
	// The deleted key fails on the very next request.
	want(t, e.req("GET", "/api_keys", reader.Key, nil), http.StatusUnauthorized)
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	k := e.createKey("acme", "admin", "manage")
	valid := k.Key
	tampered := valid[:10] + string(rune(valid[10]^1)) + valid[11:]
	unknown := keyward.NewSecret().Reveal() // well-formed, never stored

	tests := []struct {
		name    string
		headers []string
		want    int
	}{
		{"no credential", nil, http.StatusUnauthorized},
		{"bearer", []string{"Authorization", "Bearer " + valid}, http.StatusOK},
		{"bearer, lower-case scheme", []string{"Authorization", "bearer " + valid}, http.StatusOK},
		{"x-api-key", []string{"X-API-Key", valid}, http.StatusOK},
		{"basic scheme", []string{"Authorization", "Basic " + valid}, http.StatusUnauthorized},
		{"empty bearer", []string{"Authorization", "Bearer "}, http.StatusUnauthorized},
		{"malformed", []string{"Authorization", "Bearer not-a-key"}, http.StatusUnauthorized},
		{"bad checksum", []string{"Authorization", "Bearer " + tampered}, http.StatusUnauthorized},
		{"unknown", []string{"X-API-Key", unknown}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.req("GET", "/orgs/acme/api_keys", "", nil, tt.headers...)
			want(t, r, tt.want)
			if tt.want == http.StatusUnauthorized {
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
				r.problem(t)
			}
		})
	}

	t.Run("every key-management route needs a key", func(t *testing.T) {
		for _, rt := range [][2]string{
			{"GET", "/orgs/acme/api_keys"}, {"POST", "/orgs/acme/api_keys"}, {"GET", "/orgs/acme/api_keys/" + k.ID},
			{"DELETE", "/orgs/acme/api_keys/" + k.ID}, {"GET", "/api_keys"}, {"POST", "/api_keys"},
			{"GET", "/api_keys/" + k.ID}, {"DELETE", "/api_keys/" + k.ID},
		} {
			r := e.req(rt[0], rt[1], "", nil)
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s %s without a key: %d", rt[0], rt[1], r.status)
			}
		}
		want(t, e.req("GET", "/orgs/acme/api_keys/"+k.ID, e.root, nil), http.StatusOK) // still there
	})

	t.Run("a deleted key fails on the next request", func(t *testing.T) {
		victim := e.createKey("acme", "victim", "manage")
		want(t, e.req("GET", "/orgs/acme/api_keys", victim.Key, nil), http.StatusOK)
		want(t, e.req("DELETE", "/orgs/acme/api_keys/"+victim.ID, valid, nil), http.StatusOK)
		want(t, e.req("GET", "/orgs/acme/api_keys", victim.Key, nil), http.StatusUnauthorized)
	})
}

func TestAuthorization(t *testing.T) {
	e := newEnv(t)
	admin := e.createKey("acme", "admin", "manage")
	reader := e.createKey("acme", "reader", "read", "write")
	other := e.createKey("globex", "other", "manage", "read")

	t.Run("without manage is forbidden in its own org", func(t *testing.T) {
		for _, rt := range [][2]string{
			{"GET", "/orgs/acme/api_keys"}, {"GET", "/orgs/acme/api_keys/" + admin.ID},
			{"DELETE", "/orgs/acme/api_keys/" + admin.ID}, {"GET", "/api_keys"},
		} {
			r := e.req(rt[0], rt[1], reader.Key, nil)
			want(t, r, http.StatusForbidden)
			r.problem(t)
		}
		r := e.req("POST", "/orgs/acme/api_keys", reader.Key, map[string]any{"name": "x", "permissions": []string{"read"}})
		want(t, r, http.StatusForbidden)
		want(t, e.req("GET", "/orgs/acme/api_keys/"+admin.ID, e.root, nil), http.StatusOK) // not deleted
	})

	t.Run("another organization looks exactly like none", func(t *testing.T) {
		// admin (acme) asks about globex, which exists, and nowhere, which
		// does not: the answers must be indistinguishable.
		pairs := [][2][2]string{
			{{"GET", "/orgs/globex/api_keys"}, {"GET", "/orgs/nowhere/api_keys"}},
			{{"GET", "/orgs/globex/api_keys/" + other.ID}, {"GET", "/orgs/nowhere/api_keys/" + other.ID}},
			{{"DELETE", "/orgs/globex/api_keys/" + other.ID}, {"DELETE", "/orgs/nowhere/api_keys/" + other.ID}},
			{{"GET", "/api_keys?organization_id=globex"}, {"GET", "/api_keys?organization_id=nowhere"}},
			{{"GET", "/api_keys/" + other.ID}, {"GET", "/api_keys/key-1"}},
		}
		for _, p := range pairs {
			a := e.req(p[0][0], p[0][1], admin.Key, nil)
			b := e.req(p[1][0], p[1][1], admin.Key, nil)
			want(t, a, http.StatusNotFound)
			want(t, b, http.StatusNotFound)
			pa, pb := a.problem(t), b.problem(t)
			if pa.Type != pb.Type || pa.Title != pb.Title || pa.Detail != pb.Detail {
				t.Errorf("%s tells itself apart from %s: %+v vs %+v", p[0][1], p[1][1], pa, pb)
			}
		}
		// Also for a key without manage: 404, not 403, outside its org.
		want(t, e.req("GET", "/orgs/globex/api_keys", reader.Key, nil), http.StatusNotFound)
		for _, body := range []map[string]any{
			{"name": "x", "permissions": []string{"read"}},
		} {
			want(t, e.req("POST", "/orgs/globex/api_keys", admin.Key, body), http.StatusNotFound)
			want(t, e.req("POST", "/api_keys", admin.Key, map[string]any{"key_name": "x", "key_scope": []string{"read"}, "organization_id": "globex"}), http.StatusNotFound)
		}
		want(t, e.req("GET", "/orgs/globex/api_keys/"+other.ID, e.root, nil), http.StatusOK) // untouched
		r := e.req("GET", "/orgs/globex/api_keys", e.root, nil)
		var list []keyBody
		r.decode(t, &list)
		if len(list) != 1 {
			t.Errorf("globex has %d keys, want 1: a refused create wrote something", len(list))
		}
	})

	t.Run("a manage key manages its own organization", func(t *testing.T) {
		r := e.req("POST", "/orgs/acme/api_keys", admin.Key, map[string]any{"name": "made by admin", "permissions": []string{"manage"}})
		want(t, r, http.StatusCreated)
		var k keyBody
		r.decode(t, &k)
		e.secrets = append(e.secrets, k.Key)
		want(t, e.req("DELETE", "/orgs/acme/api_keys/"+k.ID, admin.Key, nil), http.StatusOK)
	})

	t.Run("a key grants only permissions it holds", func(t *testing.T) {
		// admin holds manage alone: it cannot mint a key that reads, let
		// alone one with every permission; a key holding manage and read
		// can grant either.
		for _, perms := range [][]string{{"read"}, {"manage", "write"}, {"read", "write", "create", "update", "delete", "manage"}} {
			for _, path := range []string{"/orgs/acme/api_keys", "/api_keys"} {
				r := e.req("POST", path, admin.Key, map[string]any{"name": "escalation", "permissions": perms})
				want(t, r, http.StatusForbidden)
				if p := r.problem(t); !strings.Contains(p.Detail, "does not hold") {
					t.Errorf("escalation refused with %q", p.Detail)
				}
			}
		}
		r := e.req("POST", "/api_keys", other.Key, map[string]any{"name": "subset", "permissions": []string{"READ"}})
		want(t, r, http.StatusCreated)
		var k keyBody
		r.decode(t, &k)
		e.secrets = append(e.secrets, k.Key)
		r = e.req("GET", "/orgs/acme/api_keys?limit=1000", e.root, nil)
		var list []keyBody
		r.decode(t, &list)
		for _, k := range list {
			if k.Name == "escalation" {
				t.Errorf("a refused escalation created key %s", k.ID)
			}
		}
	})

	t.Run("a root key reaches one key by its id alone", func(t *testing.T) {
		k := e.createKey("globex", "by id", "read")
		r := e.req("GET", "/api_keys/"+k.ID, e.root, nil)
		want(t, r, http.StatusOK)
		var got keyBody
		r.decode(t, &got)
		if got.ID != k.ID || got.OrgID != "globex" {
			t.Errorf("GET /api_keys/%s with a root key: %+v", k.ID, got)
		}
		// Naming the wrong organization is still not found.
		want(t, e.req("GET", "/api_keys/"+k.ID+"?organization_id=acme", e.root, nil), http.StatusNotFound)
		want(t, e.req("DELETE", "/api_keys/"+k.ID, e.root, nil), http.StatusOK)
		want(t, e.req("GET", "/api_keys/"+k.ID, e.root, nil), http.StatusNotFound)
		want(t, e.req("DELETE", "/api_keys/"+k.ID, e.root, nil), http.StatusNotFound)
		// Lists and creates still need the organization named.
		r = e.req("GET", "/api_keys", e.root, nil)
		want(t, r, http.StatusBadRequest)
		if p := r.problem(t); p.fieldErr("organization_id") == "" {
			t.Errorf("list with a root key and no organization: %+v", p)
		}
	})
}

func TestPagination(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := 0; i < 7; i++ {
		ids = append(ids, e.createKey("acme", "k", "read").ID)
	}
	slices.Reverse(ids) // newest first
	e.createKey("other", "elsewhere", "read")

	var seen []string
	next := "/orgs/acme/api_keys?limit=3"
	pages := 0
	for next != "" {
		r := e.req("GET", next, e.root, nil)
		want(t, r, http.StatusOK)
		var page []keyBody
		r.decode(t, &page)
		if len(page) > 3 {
			t.Fatalf("page of %d keys with limit 3", len(page))
		}
		for _, k := range page {
			seen = append(seen, k.ID)
		}
		next = ""
		if link := r.header.Get("Link"); link != "" {
			m := regexp.MustCompile(`^<([^>]+)>; rel="next"$`).FindStringSubmatch(link)
			if m == nil {
				t.Fatalf("Link %q", link)
			}
			next = m[1]
		}
		if pages++; pages > 10 {
			t.Fatal("pagination does not end")
		}
	}
	if !slices.Equal(seen, ids) {
		t.Fatalf("paged through %v, want %v", seen, ids)
	}
	if pages != 3 {
		t.Errorf("%d pages, want 3", pages)
	}
	// The default page holds them all, with no Link.
	r := e.req("GET", "/orgs/acme/api_keys", e.root, nil)
	if r.header.Get("Link") != "" {
		t.Errorf("Link on the last page: %q", r.header.Get("Link"))
	}
	// Caller-scoped listing keeps organization_id in the next link.
	r = e.req("GET", "/api_keys?organization_id=acme&limit=5", e.root, nil)
	want(t, r, http.StatusOK)
	if link := r.header.Get("Link"); !strings.Contains(link, "organization_id=acme") {
		t.Errorf("Link %q lost organization_id", link)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	k := e.createKey("acme", "existing", "read")
	good := `{"name":"n","permissions":["read"]}`
	tests := []struct {
		name        string
		method      string
		path        string
		body        string
		contentType string
		status      int
		field       string // a field the problem must name
		detail      string // a substring of the detail
	}{
		{"malformed JSON", "POST", "/orgs/acme/api_keys", `{"name":`, "", 400, "", "not valid JSON"},
		{"not an object", "POST", "/orgs/acme/api_keys", `[1,2]`, "", 400, "", "JSON object"},
		{"empty body", "POST", "/orgs/acme/api_keys", ``, "", 400, "", "required"},
		{"trailing data", "POST", "/orgs/acme/api_keys", good + `{}`, "", 400, "", "exactly one"},
		{"wrong type: name", "POST", "/orgs/acme/api_keys", `{"name":5,"permissions":["read"]}`, "", 400, "name", ""},
		{"wrong type: permissions", "POST", "/orgs/acme/api_keys", `{"name":"n","permissions":"read"}`, "", 400, "permissions", ""},
		{"unknown field", "POST", "/orgs/acme/api_keys", `{"name":"n","permissions":["read"],"admin":true}`, "", 400, "admin", ""},
		{"missing name", "POST", "/orgs/acme/api_keys", `{"permissions":["read"]}`, "", 400, "name", ""},
		{"missing permissions", "POST", "/orgs/acme/api_keys", `{"name":"n"}`, "", 400, "permissions", ""},
		{"empty permissions", "POST", "/orgs/acme/api_keys", `{"name":"n","permissions":[]}`, "", 400, "permissions", ""},
		{"unknown permission", "POST", "/orgs/acme/api_keys", `{"name":"n","permissions":["read","admin"]}`, "", 400, "permissions", ""},
		{"blank name", "POST", "/orgs/acme/api_keys", `{"name":"   ","permissions":["read"]}`, "", 400, "name", ""},
		{"long name", "POST", "/orgs/acme/api_keys", `{"name":"` + strings.Repeat("x", 201) + `","permissions":["read"]}`, "", 400, "name", ""},
		{"control character in name", "POST", "/orgs/acme/api_keys", `{"name":"a\u0007b","permissions":["read"]}`, "", 400, "name", ""},
		{"caller-scoped: both names", "POST", "/api_keys", `{"key_name":"a","name":"b","key_scope":["read"],"organization_id":1}`, "", 400, "name", ""},
		{"caller-scoped: float org", "POST", "/api_keys", `{"key_name":"a","key_scope":["read"],"organization_id":4.5}`, "", 400, "organization_id", ""},
		{"caller-scoped: bool org", "POST", "/api_keys", `{"key_name":"a","key_scope":["read"],"organization_id":true}`, "", 400, "organization_id", ""},
		{"caller-scoped: bad org string", "POST", "/api_keys", `{"key_name":"a","key_scope":["read"],"organization_id":"a b"}`, "", 400, "organization_id", ""},
		{"caller-scoped: root without org", "POST", "/api_keys", `{"key_name":"a","key_scope":["read"]}`, "", 400, "organization_id", ""},
		{"caller-scoped: scope a string", "POST", "/api_keys", `{"key_name":"a","key_scope":"READ,MANAGE","organization_id":1}`, "", 400, "key_scope", ""},
		{"text content type", "POST", "/orgs/acme/api_keys", good, "text/plain", 415, "", ""},
		{"no content type", "POST", "/orgs/acme/api_keys", good, "-", 415, "", ""},
		{"body over 64 KiB", "POST", "/orgs/acme/api_keys", `{"name":"` + strings.Repeat("x", 70<<10) + `","permissions":["read"]}`, "", 413, "", ""},
		{"limit zero", "GET", "/orgs/acme/api_keys?limit=0", "", "", 400, "limit", ""},
		{"limit too big", "GET", "/orgs/acme/api_keys?limit=1001", "", "", 400, "limit", ""},
		{"limit not a number", "GET", "/orgs/acme/api_keys?limit=ten", "", "", 400, "limit", ""},
		{"bad cursor", "GET", "/orgs/acme/api_keys?cursor=xyz", "", "", 400, "cursor", ""},
		{"bad key id", "GET", "/orgs/acme/api_keys/key-abc", "", "", 404, "", ""},
		{"key id too big", "GET", "/orgs/acme/api_keys/9007199254740993", "", "", 404, "", ""},
		{"bad org id", "GET", "/orgs/" + strings.Repeat("a", 65) + "/api_keys", "", "", 404, "", ""},
		{"unknown route", "GET", "/nope", "", "", 404, "", ""},
		{"unknown key", "GET", "/orgs/acme/api_keys/key-42", "", "", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := []string{}
			switch tt.contentType {
			case "":
				headers = append(headers, "Content-Type", "application/json")
			case "-":
				headers = append(headers, "Content-Type", "")
			default:
				headers = append(headers, "Content-Type", tt.contentType)
			}
			var body any
			if tt.method == "POST" {
				body = tt.body
			}
			r := e.req(tt.method, tt.path, e.root, body, headers...)
			want(t, r, tt.status)
			p := r.problem(t)
			if tt.field != "" && p.fieldErr(tt.field) == "" {
				t.Errorf("problem does not name field %q: %+v", tt.field, p)
			}
			if tt.detail != "" && !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q does not say %q", p.Detail, tt.detail)
			}
			if r.status == 400 && tt.name == "unknown permission" && !strings.Contains(p.fieldErr("permissions"), "manage") {
				t.Errorf("unknown permission error does not list the allowed values: %q", p.fieldErr("permissions"))
			}
		})
	}
	// Nothing the bad requests sent was written.
	r := e.req("GET", "/orgs/acme/api_keys", e.root, nil)
	var list []keyBody
	r.decode(t, &list)
	if len(list) != 1 || list[0].ID != k.ID {
		t.Fatalf("after bad requests acme holds %d keys, want only the first", len(list))
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t)
	r := e.req("PUT", "/orgs/acme/api_keys", e.root, `{}`)
	want(t, r, http.StatusMethodNotAllowed)
	r.problem(t)
	allow := r.header.Get("Allow")
	for _, m := range []string{"GET", "POST"} {
		if !strings.Contains(allow, m) {
			t.Errorf("Allow %q lacks %s", allow, m)
		}
	}
	want(t, e.req("PUT", "/api_keys/key-1", e.root, `{}`), http.StatusMethodNotAllowed)
}

package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/sqlite"
)

// fuzzAPI is the real API on a real SQLite file, built once per fuzzing
// process (each worker is one), with the root key that every fuzzed
// request carries.
type fuzzAPI struct {
	h    http.Handler
	root string
}

func newFuzzAPI(f *testing.F) *fuzzAPI {
	f.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "keyward.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		f.Fatal(err)
	}
	svc := keyward.NewService(db)
	// A loaded machine may make a write slow; a fuzzed request must not
	// fail for that, only for what it holds.
	svc.LookupTimeout, svc.WriteTimeout = 0, 0
	_, root, ok, err := svc.Bootstrap(ctx)
	if err != nil || !ok {
		f.Fatalf("bootstrap: created=%v err=%v", ok, err)
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	return &fuzzAPI{h: httpapi.NewHandler(logger, svc, db), root: root.Reveal()}
}

// do serves one request with the root key and returns the response.
func (a *fuzzAPI) do(method, path, rawQuery string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	r.URL.RawQuery = rawQuery
	r.RequestURI = r.URL.RequestURI()
	r.Header.Set("Authorization", "Bearer "+a.root)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

// anySecretText matches the start of anything shaped like a secret. An
// error never holds one: not even a client's own, echoed back.
var anySecretText = regexp.MustCompile(keyward.SecretPrefix + `[0-9A-Za-z]`)

// checkFuzzedAnswer fails unless w is one of the statuses allowed, and,
// for an error, a problem document that quotes nothing shaped like a
// secret.
func checkFuzzedAnswer(t *testing.T, w *httptest.ResponseRecorder, allowed ...int) {
	t.Helper()
	ok := false
	for _, s := range allowed {
		ok = ok || w.Code == s
	}
	if !ok {
		t.Fatalf("status %d, want one of %v: %s", w.Code, allowed, w.Body)
	}
	if w.Code < 400 {
		return
	}
	var p struct {
		Status int    `json:"status"`
		Type   string `json:"type"`
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Status != w.Code || p.Type == "" {
		t.Fatalf("status %d with %q: not a problem document: %s", w.Code, ct, w.Body)
	}
	if loc := anySecretText.FindIndex(w.Body.Bytes()); loc != nil {
		t.Fatalf("the problem quotes something shaped like a secret: %s", w.Body)
	}
}

// checkCreated fails unless a 201 holds a key that every rule allows: a
// valid name and permissions, the organization asked for, a secret.
func checkCreated(t *testing.T, w *httptest.ResponseRecorder, org string) {
	t.Helper()
	var k keyBody
	if err := json.Unmarshal(w.Body.Bytes(), &k); err != nil {
		t.Fatalf("201 body: %v", err)
	}
	if name, err := keyward.ParseName(k.Name); err != nil || name != k.Name {
		t.Fatalf("created a key named %q, which ParseName refuses or changes (%v)", k.Name, err)
	}
	for _, r := range k.Name {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			t.Fatalf("created a key named %q, holding %U", k.Name, r)
		}
	}
	if _, err := keyward.ParseOrgID(k.OrgID); err != nil || org != "" && k.OrgID != org {
		t.Fatalf("created a key in organization %q (%v), want %q", k.OrgID, err, org)
	}
	if want := "/orgs/" + k.OrgID + "/api_keys/" + k.ID; w.Header().Get("Location") != want {
		t.Fatalf("Location %q, want %q", w.Header().Get("Location"), want)
	}
	if ps, err := keyward.ParsePermissions(k.Permissions); err != nil || len(ps) != len(k.Permissions) {
		t.Fatalf("created a key with permissions %q (%v)", k.Permissions, err)
	}
	if !secretRE.MatchString(k.Key) {
		t.Fatalf("created a key whose secret does not match %s", keyward.SecretPattern)
	}
}

// scannerShaped is what a secret scanner reports as a key, written so
// that this file holds no such thing.
const scannerShaped = "kw_" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM"

// createSeeds are bodies for both creates: valid ones, and the shapes
// that have been, or could be, read otherwise than they look.
var createSeeds = []string{
	`{"name":"n","permissions":["read"]}`,
	`{"key_name":"Backend API Key","key_scope":["READ","CREATE","UPDATE","DELETE","MANAGE"],"organization_id":432}`,
	`{"name":"a","NAME":"b","permissions":["read"]}`,
	`{"NAME":"x","permissions":["read"]}`,
	`{"name":"a","name":"b","permissions":["read"]}`,
	`{"name":"a","permissions":["manage"],"PERMISSIONS":[]}`,
	`{"key_name":"a","key_scope":["read"],"organization_id":"acme","\u212Aey_name":"b"}`,
	`{"key_name":"a","key_scope":["read"],"organization_id":{"a":1,"A":2}}`,
	`{"key_name":"a","key_scope":["read"],"organization_id":".."}`,
	`{"key_name":"a","key_scope":["read"],"organization_id":-1}`,
	`{"key_name":"a","key_scope":["read"],"organization_id":1e3}`,
	`{"key_name":"a","name":"b","key_scope":["read"],"organization_id":1}`,
	`{"name":"invoice\u202egpj.exe","permissions":["read"]}`,
	`{"name":"a\u2028b","permissions":["read"]}`,
	`{"name":"\ufeffx","permissions":["read"]}`,
	`{"name":"` + scannerShaped + `","permissions":["read"]}`,
	`{"name":"n","permissions":["` + scannerShaped + `"]}`,
	`{"name":"n","permissions":["read"],"` + scannerShaped + `":1}`,
	`{"name":"n","permissions":["read"]}{}`,
	`null`, `[]`, `{}`, `{"name":`, "\xff", `{"name":"\xff","permissions":["read"]}`,
}

// FuzzOrgKeyCreate: POST /orgs/acme/api_keys, through the real handler
// and store, answers 201 with a key every rule allows, or a 4xx problem
// that quotes no secret; never a 5xx.
func FuzzOrgKeyCreate(f *testing.F) {
	for _, s := range createSeeds {
		f.Add([]byte(s))
	}
	api := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := api.do("POST", "/orgs/acme/api_keys", "", body)
		checkFuzzedAnswer(t, w, http.StatusCreated, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
		if w.Code == http.StatusCreated {
			checkCreated(t, w, "acme")
		}
	})
}

// FuzzCallerKeyCreate: POST /api_keys, as FuzzOrgKeyCreate. The root key
// must name the organization, so a valid body names one.
func FuzzCallerKeyCreate(f *testing.F) {
	for _, s := range createSeeds {
		f.Add([]byte(s))
	}
	api := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := api.do("POST", "/api_keys", "", body)
		checkFuzzedAnswer(t, w, http.StatusCreated, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
		if w.Code == http.StatusCreated {
			checkCreated(t, w, "")
		}
	})
}

// FuzzKeyListQuery: any query string on the two lists answers 200 or a
// 400 problem, never a 5xx; a next page's link takes only the parameters
// the list does.
func FuzzKeyListQuery(f *testing.F) {
	cursor := (&keyward.Cursor{CreatedAt: time.Now(), ID: 1}).Encode()
	for _, s := range []string{
		"", "limit=1", "limit=1000", "limit=0", "limit=1&limit=2", "LIMIT=1", "limit=%zz", "limit=1;cursor=x",
		"cursor=" + cursor, "cursor=" + cursor + "&cursor=" + cursor, "cursor=", "organization_id=acme",
		"organization_id=..", "organization_id=acme&organization_id=acme", "name=x", "=", "&&", "a%=1",
		"organization_id=acme&limit=1&cursor=" + cursor, "limit=+1", "limit=01", "limit=1e3", "limit=-1",
	} {
		f.Add(s)
	}
	api := newFuzzAPI(f)
	for range 3 { // keys to page through
		api.do("POST", "/orgs/acme/api_keys", "", []byte(`{"name":"k","permissions":["read"]}`))
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		if strings.ContainsAny(rawQuery, "# \t\r\n") || !isURLText(rawQuery) {
			return // not a query string a request line can carry
		}
		for _, path := range []string{"/orgs/acme/api_keys", "/api_keys"} {
			w := api.do("GET", path, rawQuery, nil)
			checkFuzzedAnswer(t, w, http.StatusOK, http.StatusBadRequest)
			if link := w.Header().Get("Link"); link != "" {
				r := api.do("GET", path, linkQuery(t, link), nil)
				checkFuzzedAnswer(t, r, http.StatusOK)
			}
		}
	})
}

// isURLText reports whether s is printable ASCII, as a request line is.
func isURLText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// linkQuery returns the query string of a Link: <url>; rel="next".
func linkQuery(t *testing.T, link string) string {
	t.Helper()
	target, ok := strings.CutPrefix(link, "<")
	target, _, ok2 := strings.Cut(target, ">")
	_, q, ok3 := strings.Cut(target, "?")
	if !ok || !ok2 || !ok3 {
		t.Fatalf("Link %q", link)
	}
	return q
}

// updateSeeds are PATCH bodies: valid ones, each kind of error, and the
// shapes that could be read otherwise than they look.
var updateSeeds = []string{
	`{}`,
	`{"name":"renamed"}`,
	`{"permissions":["read","WRITE"]}`,
	`{"metadata":{"plan":"pro","nested":{"a":[1,2]}}}`,
	`{"metadata":{"plan":null}}`,
	`{"metadata":null}`,
	`{"expires_at":"2999-01-01T00:00:00Z"}`,
	`{"expires_at":null}`,
	`{"enabled":false}`,
	`{"enabled":true,"name":"x","permissions":["manage"],"metadata":{},"expires_at":null}`,
	`{"name":null}`, `{"permissions":null}`, `{"enabled":null}`,
	`{"id":"key-1"}`, `{"key":"x"}`, `{"state":"deleted"}`,
	`{"name":"a","NAME":"b"}`, `{"Name":"a"}`, `{"name":"a","name":"b"}`, `{"\u212Aey":"x"}`,
	`{"metadata":{"a":1,"a":2}}`, `{"metadata":{"a":1,"A":2}}`, `{"metadata":[1]}`, `{"metadata":"x"}`,
	`{"metadata":{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}}`,
	`{"metadata":{"k":"` + scannerShaped + `"}}`,
	`{"expires_at":"2000-01-01T00:00:00Z"}`, `{"expires_at":"0000-01-01T00:00:00Z"}`, `{"expires_at":"9999-12-31T23:59:59.999999999-23:59"}`,
	`{"expires_at":1e400}`, `{"enabled":"true"}`, `{"permissions":[]}`, `{"permissions":["admin"]}`,
	`{"name":"invoice\u202egpj.exe"}`, `{"name":"` + scannerShaped + `"}`,
	`null`, `[]`, `""`, `{`, `{}{}`, "\xff", `{"name":"\xff"}`,
}

// FuzzUpdateBody: PATCH /orgs/acme/api_keys/{key_id}, through the real
// handler and store, answers 200 with a key every rule allows, or a 4xx
// problem that quotes no secret; never a 5xx.
func FuzzUpdateBody(f *testing.F) {
	for _, s := range updateSeeds {
		f.Add([]byte(s))
	}
	api := newFuzzAPI(f)
	w := api.do("POST", "/orgs/acme/api_keys", "", []byte(`{"name":"target","permissions":["read"]}`))
	if w.Code != http.StatusCreated {
		f.Fatalf("create: %d %s", w.Code, w.Body)
	}
	var k keyBody
	if err := json.Unmarshal(w.Body.Bytes(), &k); err != nil {
		f.Fatal(err)
	}
	path := "/orgs/acme/api_keys/" + k.ID
	f.Fuzz(func(t *testing.T, body []byte) {
		w := api.do("PATCH", path, "", body)
		checkFuzzedAnswer(t, w, http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
		if w.Code != http.StatusOK {
			return
		}
		var got keyBody
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("200 body: %v", err)
		}
		if name, err := keyward.ParseName(got.Name); err != nil || name != got.Name || got.ID != k.ID || got.OrgID != "acme" {
			t.Fatalf("patched to a key named %q (%v), id %s, org %s", got.Name, err, got.ID, got.OrgID)
		}
		if ps, err := keyward.ParsePermissions(got.Permissions); err != nil || len(ps) != len(got.Permissions) {
			t.Fatalf("patched to permissions %q (%v)", got.Permissions, err)
		}
		if md, err := keyward.ParseMetadata(got.Metadata); err != nil || len(got.Metadata) > keyward.MaxMetadataSize {
			t.Fatalf("patched to metadata of %d bytes that ParseMetadata refuses (%v, %q)", len(got.Metadata), err, md)
		}
		if w.Header().Get("ETag") == "" {
			t.Fatal("a 200 without an ETag")
		}
	})
}

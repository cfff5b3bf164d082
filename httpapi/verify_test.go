package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

type verifyBody struct {
	Valid       bool     `json:"valid"`
	Code        string   `json:"code"`
	KeyID       string   `json:"key_id"`
	OrgID       string   `json:"org_id"`
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`

	Metadata        json.RawMessage `json:"metadata"`
	ExpiresAt       *string         `json:"expires_at"`
	SecretExpiresAt *string         `json:"secret_expires_at"`
}

func (e *env) verify(body any) verifyBody {
	e.t.Helper()
	r := e.req("POST", "/verify", "", body)
	want(e.t, r, http.StatusOK)
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		e.t.Errorf("verify Cache-Control %q", cc)
	}
	var v verifyBody
	r.decode(e.t, &v)
	if v.Valid != (v.Code == "VALID") {
		e.t.Errorf("valid=%v with code %s", v.Valid, v.Code)
	}
	return v
}

// TestVerifyOutcomes covers each code, with and without permissions.
func TestVerifyOutcomes(t *testing.T) {
	e := newEnv(t)
	k := e.createKey("acme", "Backend ✓", "read", "write")
	valid := k.Key
	tampered := valid[:10] + string(rune(valid[10]^1)) + valid[11:]

	v := e.verify(map[string]any{"key": valid})
	if !v.Valid || v.KeyID != k.ID || v.OrgID != "acme" || v.Name != "Backend ✓" || strings.Join(v.Permissions, ",") != "read,write" {
		t.Errorf("valid key: %+v", v)
	}
	if v := e.verify(map[string]any{"key": valid, "permissions": []string{"write"}}); v.Code != "VALID" {
		t.Errorf("held permission: %+v", v)
	}
	if v := e.verify(map[string]any{"key": valid, "permissions": []string{"READ", "write"}}); v.Code != "VALID" {
		t.Errorf("held permissions, any case: %+v", v)
	}
	if v := e.verify(map[string]any{"key": valid, "permissions": []string{}}); v.Code != "VALID" {
		t.Errorf("empty permissions: %+v", v)
	}
	v = e.verify(map[string]any{"key": valid, "permissions": []string{"write", "manage"}})
	if v.Code != "INSUFFICIENT_PERMISSIONS" || v.Valid || v.KeyID != k.ID {
		t.Errorf("missing permission: %+v", v)
	}
	// Permissions are matched literally: manage does not imply write.
	admin := e.createKey("acme", "admin", "manage")
	if v := e.verify(map[string]any{"key": admin.Key, "permissions": []string{"write"}}); v.Code != "INSUFFICIENT_PERMISSIONS" {
		t.Errorf("manage implied write: %+v", v)
	}
	// A root key is the operator's credential, never a customer's key.
	if v := e.verify(map[string]any{"key": e.root}); v.Valid || v.Code != "NOT_FOUND" || v.KeyID != "" || v.OrgID != "" {
		t.Errorf("root key: %+v", v)
	}

	// Everything that is not a live key is NOT_FOUND, and says nothing else.
	deleted := e.createKey("acme", "gone", "read")
	want(t, e.req("DELETE", "/orgs/acme/api_keys/"+deleted.ID, e.root, nil), http.StatusOK)
	for name, key := range map[string]string{
		"empty":        "",
		"malformed":    "not-a-key",
		"bad checksum": tampered,
		"unknown":      keyward.NewSecret().Reveal(),
		"deleted":      deleted.Key,
	} {
		r := e.req("POST", "/verify", "", map[string]any{"key": key, "permissions": []string{"read"}})
		want(t, r, http.StatusOK)
		if got := strings.TrimSpace(string(r.body)); got != `{"valid":false,"code":"NOT_FOUND"}` {
			t.Errorf("%s key: %s", name, got)
		}
	}
}

// TestVerifyBadRequests: a malformed request is a 400 problem, not an
// outcome, and needs no credential to be told so.
func TestVerifyBadRequests(t *testing.T) {
	e := newEnv(t)
	k := e.createKey("acme", "k", "read")
	for name, tc := range map[string]struct {
		body   any
		status int
		field  string
	}{
		"no key":             {map[string]any{"permissions": []string{"read"}}, 400, "key"},
		"key not a string":   {`{"key": 42}`, 400, "key"},
		"unknown permission": {map[string]any{"key": k.Key, "permissions": []string{"admin"}}, 400, "permissions"},
		"unknown field":      {map[string]any{"key": k.Key, "keys": "x"}, 400, "keys"},
		"not JSON":           {`{"key":`, 400, ""},
		"too large":          {`{"key":"` + strings.Repeat("a", 70<<10) + `"}`, 413, ""},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.req("POST", "/verify", "", tc.body)
			want(t, r, tc.status)
			p := r.problem(t)
			if tc.field != "" && p.fieldErr(tc.field) == "" {
				t.Errorf("problem %+v does not name field %q", p, tc.field)
			}
		})
	}
	r := e.req("POST", "/verify", "", nil, "Content-Type", "text/plain")
	want(t, r, http.StatusUnsupportedMediaType)
	r = e.req("GET", "/verify", "", nil)
	want(t, r, http.StatusMethodNotAllowed)
	if r.header.Get("Allow") == "" {
		t.Error("405 without Allow")
	}
}

// TestVerifyDeleteEvictsAtOnce: with the key cached, a delete on this
// instance makes the very next verification fail.
func TestVerifyDeleteEvictsAtOnce(t *testing.T) {
	e := newEnv(t)
	k := e.createKey("acme", "k", "read")
	for range 3 {
		if v := e.verify(map[string]any{"key": k.Key}); !v.Valid {
			t.Fatalf("live key: %+v", v)
		}
	}
	if st := e.cache.Stats(); st.Hits == 0 {
		t.Fatalf("verification did not use the cache: %+v", st)
	}
	want(t, e.req("DELETE", "/orgs/acme/api_keys/"+k.ID, e.root, nil), http.StatusOK)
	if v := e.verify(map[string]any{"key": k.Key}); v.Code != "NOT_FOUND" {
		t.Fatalf("deleted key still verifies: %+v", v)
	}
	want(t, e.req("GET", "/orgs/acme/api_keys", k.Key, nil), http.StatusUnauthorized)
}

// TestVerifySharesAuthenticationPath: a flood of verifications of one key
// and management requests made with it reach the store once.
func TestVerifySharesAuthenticationPath(t *testing.T) {
	e := newEnv(t)
	k := e.createKey("acme", "admin", "manage")
	e.settle() // the create's echo through the feed is in
	before := e.cache.Stats()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			r := e.req("POST", "/verify", "", map[string]any{"key": k.Key})
			want(t, r, http.StatusOK)
		})
	}
	wg.Wait()
	want(t, e.req("GET", "/orgs/acme/api_keys", k.Key, nil), http.StatusOK)
	after := e.cache.Stats()
	if loads := after.Loads - before.Loads; loads != 1 {
		t.Errorf("%d store lookups for one key, want 1 (stats %+v)", loads, after)
	}
}

// TestLastUsedAt: a key's last_used_at is null until it is used and the
// uses are flushed, then the time of its latest use.
func TestLastUsedAt(t *testing.T) {
	e := newEnv(t)
	base := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	now := base
	var mu sync.Mutex
	e.svc.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }

	k := e.createKey("acme", "k", "read")
	get := func() keyBody {
		t.Helper()
		var got keyBody
		e.req("GET", "/orgs/acme/api_keys/"+k.ID, e.root, nil).decode(t, &got)
		return got
	}
	if got := get(); got.LastUsedAt != nil {
		t.Fatalf("new key last_used_at %q", *got.LastUsedAt)
	}
	set(base.Add(time.Minute))
	e.verify(map[string]any{"key": k.Key})
	set(base.Add(2 * time.Minute))
	e.verify(map[string]any{"key": k.Key, "permissions": []string{"write"}}) // refused, but a use
	if got := get(); got.LastUsedAt != nil {
		t.Fatalf("last_used_at written before a flush: %q", *got.LastUsedAt)
	}
	if err := e.lastUsed.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := get()
	if got.LastUsedAt == nil || *got.LastUsedAt != "2026-05-06T07:10:09Z" {
		t.Fatalf("last_used_at %v, want the latest use", got.LastUsedAt)
	}
	var list []keyBody
	e.req("GET", "/orgs/acme/api_keys", e.root, nil).decode(t, &list)
	for _, l := range list {
		if l.ID == k.ID && (l.LastUsedAt == nil || *l.LastUsedAt != *got.LastUsedAt) {
			t.Errorf("listed last_used_at %v", l.LastUsedAt)
		}
	}
}

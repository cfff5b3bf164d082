package keyward_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
)

// newService returns a Service over a fresh, migrated SQLite file.
func newService(t *testing.T) *keyward.Service {
	t.Helper()
	s, _ := newServiceAndStore(t)
	return s
}

// newServiceAndStore returns a Service and the SQLite store under it.
func newServiceAndStore(t *testing.T) (*keyward.Service, *sqlite.DB) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return keyward.NewService(db), db
}

func mustRoot(t *testing.T, s *keyward.Service) *keyward.Key {
	t.Helper()
	k, _, err := s.CreateRootKey(context.Background(), "root")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKey(t *testing.T, s *keyward.Service, caller *keyward.Key, org keyward.OrgID, perms ...keyward.Permission) (*keyward.Key, keyward.Secret) {
	t.Helper()
	k, secret, err := s.CreateKey(context.Background(), caller, org, keyward.NewKey{Name: "k", Permissions: perms})
	if err != nil {
		t.Fatal(err)
	}
	return k, secret
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := keyward.ErrorCode(err); got != code {
		t.Errorf("%s: code %q (%v), want %q", what, got, err, code)
	}
}

// TestServiceAuthorization checks who may do what: a root key manages every
// organization; a key with manage manages its own; a key without manage is
// forbidden; a key of another organization sees only "not found".
func TestServiceAuthorization(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	root := mustRoot(t, s)
	acmeAdmin, _ := mustKey(t, s, root, "acme", keyward.PermManage)
	acmeReader, _ := mustKey(t, s, root, "acme", keyward.PermRead)
	other, _ := mustKey(t, s, root, "globex", keyward.PermManage)
	target, _ := mustKey(t, s, root, "acme", keyward.PermRead)

	if _, err := s.Key(ctx, acmeAdmin, "acme", target.ID); err != nil {
		t.Errorf("manage key in its own org: %v", err)
	}
	_, err := s.Key(ctx, acmeReader, "acme", target.ID)
	wantCode(t, "key without manage", err, keyward.EFORBIDDEN)
	_, err = s.Key(ctx, other, "acme", target.ID)
	wantCode(t, "key of another org", err, keyward.ENOTFOUND)
	_, err = s.Key(ctx, other, "acme", keyward.KeyID(12345))
	wantCode(t, "missing key in another org", err, keyward.ENOTFOUND)
	_, err = s.Key(ctx, nil, "acme", target.ID)
	wantCode(t, "no caller", err, keyward.EUNAUTHORIZED)
	err = s.DeleteKey(ctx, other, "acme", target.ID)
	wantCode(t, "delete from another org", err, keyward.ENOTFOUND)
	if _, err := s.Key(ctx, root, "acme", target.ID); err != nil {
		t.Errorf("a failed delete changed the key: %v", err)
	}
	_, _, err = s.CreateKey(ctx, acmeReader, "acme", keyward.NewKey{Name: "x", Permissions: []keyward.Permission{keyward.PermRead}})
	wantCode(t, "create without manage", err, keyward.EFORBIDDEN)
}

// TestServiceRootKeysUnreachable checks that no API path reaches the root
// keys by naming the empty organization they live in, even for a root key.
func TestServiceRootKeysUnreachable(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	root := mustRoot(t, s)
	_, err := s.Key(ctx, root, "", root.ID)
	wantCode(t, "get root key by empty org", err, keyward.EINVALID)
	_, err = s.ListKeys(ctx, root, "", nil, 10)
	wantCode(t, "list empty org", err, keyward.EINVALID)
	err = s.DeleteKey(ctx, root, "", root.ID)
	wantCode(t, "delete root key by empty org", err, keyward.EINVALID)
	_, _, err = s.CreateKey(ctx, root, "", keyward.NewKey{Name: "x", Permissions: []keyward.Permission{keyward.PermRead}})
	wantCode(t, "create in empty org", err, keyward.EINVALID)
	if _, err := s.Key(ctx, root, "bad org!", root.ID); keyward.ErrorCode(err) != keyward.EINVALID {
		t.Errorf("malformed org: %v", err)
	}
}

// TestServiceAuthenticate checks that a live key authenticates and that a
// deleted, unknown or malformed one is refused the same way.
func TestServiceAuthenticate(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	root := mustRoot(t, s)
	k, secret := mustKey(t, s, root, "acme", keyward.PermRead)

	got, err := s.Authenticate(ctx, secret.Reveal())
	if err != nil || got.ID != k.ID {
		t.Fatalf("Authenticate live key: %v, %v", got, err)
	}
	if err := s.DeleteKey(ctx, root, "acme", k.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Authenticate(ctx, secret.Reveal())
	wantCode(t, "deleted key", err, keyward.EUNAUTHORIZED)
	_, err = s.Authenticate(ctx, keyward.NewSecret().Reveal())
	wantCode(t, "unknown key", err, keyward.EUNAUTHORIZED)
	_, err = s.Authenticate(ctx, "kw_nope")
	wantCode(t, "malformed key", err, keyward.EUNAUTHORIZED)
	err = s.DeleteKey(ctx, root, "acme", k.ID)
	wantCode(t, "second delete", err, keyward.ENOTFOUND)
}

// TestServiceListPages walks a listing page by page: every key once, newest
// first, and the last page has no next cursor.
func TestServiceListPages(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := 0
	s.Now = func() time.Time { n++; return base.Add(time.Duration(n) * time.Second) }
	root := mustRoot(t, s)
	var made []keyward.KeyID
	for range 7 {
		k, _ := mustKey(t, s, root, "acme", keyward.PermRead)
		made = append(made, k.ID)
	}
	var seen []keyward.KeyID
	var after *keyward.Cursor
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("listing does not end")
		}
		p, err := s.ListKeys(ctx, root, "acme", after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range p.Keys {
			seen = append(seen, k.ID)
		}
		if p.Next == nil {
			break
		}
		after = p.Next
	}
	if len(seen) != len(made) {
		t.Fatalf("listed %d keys, made %d", len(seen), len(made))
	}
	for i := range made {
		if seen[i] != made[len(made)-1-i] {
			t.Fatalf("listing order %v, want newest first of %v", seen, made)
		}
	}
	for _, bad := range []int{0, -1, keyward.MaxPageLimit + 1} {
		_, err := s.ListKeys(ctx, root, "acme", nil, bad)
		wantCode(t, "limit out of range", err, keyward.EINVALID)
	}
}

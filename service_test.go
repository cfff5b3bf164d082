package keyward_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keycache"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/storetest"
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
	return newServiceAt(t, filepath.Join(t.TempDir(), "keyward.db"))
}

// newServiceAt returns a Service and the SQLite store under it, on a new,
// migrated database file at path.
func newServiceAt(t *testing.T, path string) (*keyward.Service, *sqlite.DB) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
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

// mustRootSecret creates a root key and returns its secret.
func mustRootSecret(t *testing.T, s *keyward.Service) string {
	t.Helper()
	_, secret, err := s.CreateRootKey(context.Background(), "root")
	if err != nil {
		t.Fatal(err)
	}
	return secret.Reveal()
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
	err = s.DeleteKey(ctx, other, "acme", target.ID, nil)
	wantCode(t, "delete from another org", err, keyward.ENOTFOUND)
	if _, err := s.Key(ctx, root, "acme", target.ID); err != nil {
		t.Errorf("a failed delete changed the key: %v", err)
	}
	_, _, err = s.CreateKey(ctx, acmeReader, "acme", keyward.NewKey{Name: "x", Permissions: []keyward.Permission{keyward.PermRead}})
	wantCode(t, "create without manage", err, keyward.EFORBIDDEN)
}

// TestServiceRootKeysUnreachable checks that no API path reaches the root
// keys, which live in the empty organization, even for a root key: by id
// alone they are not found, and a list or create must name an organization.
func TestServiceRootKeysUnreachable(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	root := mustRoot(t, s)
	_, err := s.Key(ctx, root, "", root.ID)
	wantCode(t, "get root key by id alone", err, keyward.ENOTFOUND)
	_, err = s.ListKeys(ctx, root, "", "", nil, 10)
	wantCode(t, "list empty org", err, keyward.EINVALID)
	err = s.DeleteKey(ctx, root, "", root.ID, nil)
	wantCode(t, "delete root key by id alone", err, keyward.ENOTFOUND)
	if _, err := s.Authenticate(ctx, mustRootSecret(t, s)); err != nil {
		t.Fatalf("a root key stopped working: %v", err)
	}
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
	if err := s.DeleteKey(ctx, root, "acme", k.ID, nil); err != nil {
		t.Fatal(err)
	}
	_, err = s.Authenticate(ctx, secret.Reveal())
	wantCode(t, "deleted key", err, keyward.EUNAUTHORIZED)
	_, err = s.Authenticate(ctx, keyward.NewSecret().Reveal())
	wantCode(t, "unknown key", err, keyward.EUNAUTHORIZED)
	_, err = s.Authenticate(ctx, "kw_nope")
	wantCode(t, "malformed key", err, keyward.EUNAUTHORIZED)
	err = s.DeleteKey(ctx, root, "acme", k.ID, nil)
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
		p, err := s.ListKeys(ctx, root, "acme", "", after, 3)
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
		_, err := s.ListKeys(ctx, root, "acme", "", nil, bad)
		wantCode(t, "limit out of range", err, keyward.EINVALID)
	}
}

// A key without an organization named acts in its own; a root key names
// one, or for one key finds it by id alone.
func TestServiceScope(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	root := mustRoot(t, s)
	admin, _ := mustKey(t, s, root, "acme", keyward.PermManage, keyward.PermRead)
	k, _, err := s.CreateKey(ctx, admin, "", keyward.NewKey{Name: "own org", Permissions: []keyward.Permission{keyward.PermRead}})
	if err != nil || k.OrgID != "acme" {
		t.Fatalf("create with no org named: %v, %v", k, err)
	}
	if got, err := s.Key(ctx, root, "", k.ID); err != nil || got.OrgID != "acme" {
		t.Errorf("root key, one key by id alone: %v, %v", got, err)
	}
	_, err = s.Key(ctx, root, "globex", k.ID)
	wantCode(t, "root key naming the wrong org", err, keyward.ENOTFOUND)
	_, err = s.Key(ctx, root, "", keyward.KeyID(424242))
	wantCode(t, "root key, unknown id", err, keyward.ENOTFOUND)
	_, _, err = s.CreateKey(ctx, root, "", keyward.NewKey{Name: "x", Permissions: []keyward.Permission{keyward.PermRead}})
	wantCode(t, "root key creating in no org", err, keyward.EINVALID)
	if err := s.DeleteKey(ctx, root, "", k.ID, nil); err != nil {
		t.Errorf("root key, delete by id alone: %v", err)
	}
}

// A key grants only permissions it holds; a root key grants any.
func TestServiceNoEscalation(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	root := mustRoot(t, s)
	admin, _ := mustKey(t, s, root, "acme", keyward.PermManage, keyward.PermRead)
	for _, perms := range [][]keyward.Permission{
		{keyward.PermWrite},
		{keyward.PermRead, keyward.PermDelete},
		keyward.AllPermissions,
	} {
		_, _, err := s.CreateKey(ctx, admin, "acme", keyward.NewKey{Name: "x", Permissions: perms})
		wantCode(t, "granting "+join(perms), err, keyward.EFORBIDDEN)
	}
	for _, perms := range [][]keyward.Permission{{keyward.PermRead}, {keyward.PermManage}, {keyward.PermRead, keyward.PermManage}} {
		if _, _, err := s.CreateKey(ctx, admin, "acme", keyward.NewKey{Name: "x", Permissions: perms}); err != nil {
			t.Errorf("granting %s, which it holds: %v", join(perms), err)
		}
	}
	if _, _, err := s.CreateKey(ctx, root, "acme", keyward.NewKey{Name: "x", Permissions: keyward.AllPermissions}); err != nil {
		t.Errorf("root key granting every permission: %v", err)
	}
	p, err := s.ListKeys(ctx, root, "acme", "", nil, 100)
	if err != nil || len(p.Keys) != 5 {
		t.Fatalf("acme has %d keys after 4 creates allowed, want 5 (with admin): %v", len(p.Keys), err)
	}
}

func join(ps []keyward.Permission) string {
	s := ""
	for _, p := range ps {
		s += string(p) + " "
	}
	return s
}

// A root key verifies as NOT_FOUND: it is the operator's credential for
// the management API, never a customer's key.
func TestServiceVerifyRootKey(t *testing.T) {
	s := newService(t)
	v, err := s.Verify(context.Background(), mustRootSecret(t, s), nil)
	if err != nil || v.Valid() || v.Code != keyward.VerifyNotFound || v.Key != nil {
		t.Errorf("Verify(root key) = %+v, %v; want NOT_FOUND and no key", v, err)
	}
}

// A store that does not answer within the deadline fails the request with
// EUNAVAILABLE; a request whose own context ends does not (the client went
// away: nothing unavailable about the store).
func TestServiceDeadlines(t *testing.T) {
	store := &silentStore{}
	s := keyward.NewService(store)
	s.LookupTimeout, s.WriteTimeout = 20*time.Millisecond, 30*time.Millisecond
	cached := keyward.NewService(keycache.New(store, keycache.Options{LoadTimeout: 20 * time.Millisecond, Unshared: true}))
	root := &keyward.Key{ID: 1, Root: true, Permissions: keyward.AllPermissions}
	ctx := context.Background()
	calls := map[string]func(ctx context.Context) error{
		// Authenticate sets no deadline of its own (a timer on every
		// verification): the cache in front of the store bounds its
		// lookups, and the service reports that as unavailable.
		"Authenticate through the cache": func(ctx context.Context) error {
			_, err := cached.Authenticate(ctx, keyward.NewSecret().Reveal())
			return err
		},
		"Key":      func(ctx context.Context) error { _, err := s.Key(ctx, root, "acme", 5); return err },
		"KeyByID":  func(ctx context.Context) error { _, err := s.Key(ctx, root, "", 5); return err },
		"ListKeys": func(ctx context.Context) error { _, err := s.ListKeys(ctx, root, "acme", "", nil, 10); return err },
		"CreateKey": func(ctx context.Context) error {
			_, _, err := s.CreateKey(ctx, root, "acme", keyward.NewKey{Name: "x", Permissions: []keyward.Permission{keyward.PermRead}})
			return err
		},
		"DeleteKey": func(ctx context.Context) error { return s.DeleteKey(ctx, root, "acme", 5, nil) },
		"UpdateKey": func(ctx context.Context) error {
			_, err := s.UpdateKey(ctx, root, "acme", 5, keyward.KeyPatch{Enabled: new(bool)})
			return err
		},
		"RotateKey":  func(ctx context.Context) error { _, _, err := s.RotateKey(ctx, root, "acme", 5, 0, nil); return err },
		"RestoreKey": func(ctx context.Context) error { _, err := s.RestoreKey(ctx, root, "acme", 5, nil); return err },
		"ListAuditEvents": func(ctx context.Context) error {
			_, err := s.ListAuditEvents(ctx, root, "acme", keyward.AuditFilter{Limit: 10})
			return err
		},
		"Bootstrap": func(ctx context.Context) error { _, _, _, err := s.Bootstrap(ctx); return err },
	}
	for name, call := range calls {
		err := call(ctx)
		wantCode(t, name+" on a silent store", err, keyward.EUNAVAILABLE)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s on a silent store: %v does not wrap the deadline", name, err)
		}
		gone, cancel := context.WithCancel(ctx)
		cancel()
		err = call(gone)
		if code := keyward.ErrorCode(err); code == keyward.EUNAVAILABLE || !errors.Is(err, context.Canceled) {
			t.Errorf("%s for a client that went away: %v (code %q), want the cancellation, not EUNAVAILABLE", name, err, code)
		}
	}
}

// silentStore is a store that never answers: every call waits for its
// context to end.
type silentStore struct{ keyward.KeyStore }

func (silentStore) wait(ctx context.Context) error {
	<-ctx.Done()
	return fmt.Errorf("silent store: %w", ctx.Err())
}
func (s silentStore) CreateKey(ctx context.Context, _ *keyward.Key, _ *keyward.AuditEvent) error {
	return s.wait(ctx)
}
func (s silentStore) BootstrapRootKey(ctx context.Context, _ *keyward.Key, _ *keyward.AuditEvent) (bool, error) {
	return false, s.wait(ctx)
}
func (s silentStore) KeyByHash(ctx context.Context, _ keyward.SecretHash) (*keyward.Key, error) {
	return nil, s.wait(ctx)
}
func (s silentStore) Key(ctx context.Context, _ keyward.OrgID, _ keyward.KeyID) (*keyward.Key, error) {
	return nil, s.wait(ctx)
}
func (s silentStore) KeyByID(ctx context.Context, _ keyward.KeyID) (*keyward.Key, error) {
	return nil, s.wait(ctx)
}
func (s silentStore) ListKeys(ctx context.Context, _ keyward.KeyFilter) ([]*keyward.Key, error) {
	return nil, s.wait(ctx)
}
func (s silentStore) ListAuditEvents(ctx context.Context, _ keyward.AuditFilter) ([]*keyward.AuditEvent, error) {
	return nil, s.wait(ctx)
}
func (s silentStore) UpdateKey(ctx context.Context, _ keyward.OrgID, _ keyward.KeyID, _ keyward.KeyUpdate) (*keyward.Key, error) {
	return nil, s.wait(ctx)
}

// Deleted keys are pruned once the retention period has passed since
// their deletion, however many there are, and not before.
func TestServicePrune(t *testing.T) {
	ctx := context.Background()
	s, db := newServiceAndStore(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	s.DeletedKeyRetention = 24 * time.Hour
	root := mustRoot(t, s)
	var old []*keyward.Key
	for range 1203 { // more than one batch
		k := storetest.NewKey("acme")
		old = append(old, k)
	}
	if err := db.ImportKeys(ctx, old); err != nil {
		t.Fatal(err)
	}
	for _, k := range old {
		if err := s.DeleteKey(ctx, root, "acme", k.ID, nil); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(12 * time.Hour)
	recent, _ := mustKey(t, s, root, "acme", keyward.PermRead)
	if err := s.DeleteKey(ctx, root, "acme", recent.ID, nil); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Prune(ctx); err != nil || p.DeletedKeys != 0 {
		t.Fatalf("prune before the retention passed: %+v, %v", p, err)
	}
	now = now.Add(12*time.Hour + time.Second)
	if p, err := s.Prune(ctx); err != nil || p.DeletedKeys != len(old) {
		t.Fatalf("prune after the retention passed: %+v, %v; want %d", p, err, len(old))
	}
	now = now.Add(12 * time.Hour)
	if p, err := s.Prune(ctx); err != nil || p.DeletedKeys != 1 {
		t.Fatalf("prune of the last deleted key: %+v, %v; want 1", p, err)
	}
	if _, err := s.Key(ctx, root, "acme", recent.ID); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("a pruned key: %v", err)
	}
}

// TestServiceRefusesBadNames: every key's name goes through ParseName,
// root keys' included, and a refused name creates nothing.
func TestServiceRefusesBadNames(t *testing.T) {
	s, db := newServiceAndStore(t)
	root := mustRoot(t, s)
	ctx := context.Background()
	for _, tt := range []struct{ name, in string }{
		{"right-to-left override", "invoice\u202egpj.exe"},
		{"zero-width space", "ad\u200bmin"},
		{"line separator", "a\u2028b"},
		{"a secret", keyward.NewSecret().Reveal()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.CreateRootKey(ctx, tt.in)
			wantCode(t, "CreateRootKey", err, keyward.EINVALID)
			_, _, err = s.CreateKey(ctx, root, "acme", keyward.NewKey{Name: tt.in, Permissions: []keyward.Permission{keyward.PermRead}})
			wantCode(t, "CreateKey", err, keyward.EINVALID)
			if f := keyward.ErrorFields(err); len(f) != 1 || f[0].Field != "name" {
				t.Errorf("CreateKey: fields %+v, want one about the name", f)
			}
		})
	}
	for _, f := range []keyward.KeyFilter{{Root: true, Limit: 10}, {OrgID: "acme", Limit: 10}} {
		keys, err := db.ListKeys(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 1, false: 0}[f.Root]; len(keys) != want {
			t.Errorf("%+v: %d keys, want %d: a refused name was stored", f, len(keys), want)
		}
	}
}

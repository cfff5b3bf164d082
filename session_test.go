package keyward_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// ConsoleSignIn admits an active key that may manage keys, and binds the
// session to the secret presented; ConsoleCaller then admits the session
// only while its key may still sign in with that secret.
func TestConsoleSignInAndCaller(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	s := newService(t)
	s.Now = func() time.Time { return time.Unix(0, now.Load()).UTC() }
	ctx := context.Background()
	root := mustRoot(t, s)
	mk := func(perms ...keyward.Permission) (*keyward.Key, string) {
		t.Helper()
		k, secret, err := s.CreateKey(ctx, root, "acme", keyward.NewKey{Name: "k", Permissions: perms})
		if err != nil {
			t.Fatal(err)
		}
		return k, secret.Reveal()
	}

	_, reader := mk(keyward.PermRead)
	if _, _, err := s.ConsoleSignIn(ctx, reader); keyward.ErrorCode(err) != keyward.EFORBIDDEN {
		t.Errorf("sign in without manage: %v, want forbidden", err)
	}
	for _, bad := range []string{"", "kw_nope", keyward.NewSecret().Reveal()} {
		if _, _, err := s.ConsoleSignIn(ctx, bad); keyward.ErrorCode(err) != keyward.EUNAUTHORIZED {
			t.Errorf("sign in with %q: %v, want unauthorized", bad, err)
		}
	}

	admin, secret := mk(keyward.PermRead, keyward.PermManage)
	k, binding, err := s.ConsoleSignIn(ctx, secret)
	if err != nil || k.ID != admin.ID {
		t.Fatalf("sign in: %v, %v", k, err)
	}
	caller := func() error {
		_, err := s.ConsoleCaller(ctx, admin.ID, binding)
		return err
	}
	if err := caller(); err != nil {
		t.Fatalf("ConsoleCaller right after sign-in: %v", err)
	}
	if _, err := s.ConsoleCaller(ctx, admin.ID, [32]byte{1}); keyward.ErrorCode(err) != keyward.EUNAUTHORIZED {
		t.Errorf("ConsoleCaller with another binding: %v", err)
	}

	// A rotation with a grace period keeps the session until it ends.
	if _, _, err := s.RotateKey(ctx, root, "acme", admin.ID, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	if err := caller(); err != nil {
		t.Errorf("within the grace period: %v", err)
	}
	now.Add(int64(time.Hour))
	if err := caller(); keyward.ErrorCode(err) != keyward.EUNAUTHORIZED {
		t.Errorf("after the grace period: %v, want unauthorized", err)
	}

	// Disabled, then deleted: the session is over.
	other, secret2 := mk(keyward.PermRead, keyward.PermManage)
	_, b2, err := s.ConsoleSignIn(ctx, secret2)
	if err != nil {
		t.Fatal(err)
	}
	off := false
	if _, err := s.UpdateKey(ctx, root, "acme", other.ID, keyward.KeyPatch{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsoleCaller(ctx, other.ID, b2); keyward.ErrorCode(err) != keyward.EUNAUTHORIZED {
		t.Errorf("disabled: %v", err)
	}
	if err := s.DeleteKey(ctx, root, "acme", other.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsoleCaller(ctx, other.ID, b2); keyward.ErrorCode(err) != keyward.EUNAUTHORIZED {
		t.Errorf("deleted: %v", err)
	}
}

// SearchKeys finds keys by name in the caller's organization only, and
// refuses a search longer than any name.
func TestSearchKeys(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	root := mustRoot(t, s)
	for _, c := range []struct {
		org  keyward.OrgID
		name string
	}{{"acme", "Backend prod"}, {"acme", "frontend"}, {"globex", "backend"}} {
		if _, _, err := s.CreateKey(ctx, root, c.org, keyward.NewKey{Name: c.name, Permissions: []keyward.Permission{keyward.PermRead}}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := s.SearchKeys(ctx, root, "acme", keyward.KeySearch{Name: "BACKEND", Limit: 10})
	if err != nil || len(p.Keys) != 1 || p.Keys[0].Name != "Backend prod" {
		t.Fatalf("search acme for BACKEND: %v, %v", p, err)
	}
	long := make([]byte, keyward.MaxNameSearchLen+1)
	for i := range long {
		long[i] = 'a'
	}
	if _, err := s.SearchKeys(ctx, root, "acme", keyward.KeySearch{Name: string(long), Limit: 10}); keyward.ErrorCode(err) != keyward.EINVALID {
		t.Errorf("a search longer than any name: %v", err)
	}
}

package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// A stored key comes back, by id and by hash, equal in every field.
func testCreateKeyRoundTrip(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	reversed := slices.Clone(keyward.AllPermissions)
	slices.Reverse(reversed)
	keys := []*keyward.Key{
		// Permissions out of the documentation's order: the order given is kept.
		newKey(t, acme, base, keyward.PermWrite, keyward.PermRead, keyward.PermManage),
		newKey(t, acme, base, keyward.PermDelete),
		// All six, reversed.
		newKey(t, globex, base.Add(-365*24*time.Hour), reversed...),
		// The time of day now, with its microseconds.
		newKey(t, acme, time.Now()),
	}
	keys[1].Name = "a"
	keys[2].Name = "Ключ для продакшена, 生产密钥 — \"quoted\" 'and' \\ backslash %s"
	for _, k := range keys {
		create(t, s, k)
	}
	for _, k := range keys {
		checkLive(t, s, k)
	}
}

// A root key is stored in the empty organization with Root set.
func testCreateRootKeyRoundTrip(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	root := newRootKey(t, base)
	create(t, s, root)
	checkLive(t, s, root)
}

// A taken id is a conflict, whatever the organization, and the refused key
// is not stored.
func testCreateKeyDuplicateID(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	a := newKey(t, acme, base)
	create(t, s, a)
	for _, org := range []keyward.OrgID{acme, globex, ""} {
		b := newKey(t, org, base.Add(time.Second))
		b.ID = a.ID
		if org == "" {
			b.Root = true
		}
		err := s.CreateKey(t.Context(), b, nil)
		checkCode(t, fmt.Sprintf("CreateKey with a taken id in org %q", org), err, keyward.ECONFLICT)
		_, err = s.KeyByHash(t.Context(), b.Hash)
		checkCode(t, "KeyByHash of the refused key", err, keyward.ENOTFOUND)
	}
	checkLive(t, s, a)
	checkList(t, "ListKeys after refused creates", list(t, s, keyward.KeyFilter{OrgID: acme}), []*keyward.Key{a})
}

// A taken secret hash is a conflict, and the refused key is not stored.
func testCreateKeyDuplicateHash(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	a := newKey(t, acme, base)
	create(t, s, a)
	for _, org := range []keyward.OrgID{acme, globex} {
		b := newKey(t, org, base.Add(time.Second))
		b.Hash = a.Hash
		err := s.CreateKey(t.Context(), b, nil)
		checkCode(t, fmt.Sprintf("CreateKey with a taken hash in org %q", org), err, keyward.ECONFLICT)
		_, err = s.Key(t.Context(), b.OrgID, b.ID)
		checkCode(t, "Key of the refused key", err, keyward.ENOTFOUND)
	}
	checkLive(t, s, a)
	checkList(t, "ListKeys after refused creates", list(t, s, keyward.KeyFilter{OrgID: acme}), []*keyward.Key{a})
}

// The id and hash of a deleted key stay taken.
func testCreateKeyDuplicateOfDeletedKey(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	a := newKey(t, acme, base)
	create(t, s, a)
	remove(t, s, a, base.Add(time.Minute))

	sameID := newKey(t, acme, base.Add(time.Hour))
	sameID.ID = a.ID
	checkCode(t, "CreateKey with a deleted key's id", s.CreateKey(t.Context(), sameID, nil), keyward.ECONFLICT)

	sameHash := newKey(t, acme, base.Add(time.Hour))
	sameHash.Hash = a.Hash
	checkCode(t, "CreateKey with a deleted key's hash", s.CreateKey(t.Context(), sameHash, nil), keyward.ECONFLICT)

	// Neither refused key came to life, nor did the deleted one.
	checkGone(t, s, a)
	checkGone(t, s, sameID)
	checkGone(t, s, sameHash)
	if got := list(t, s, keyward.KeyFilter{OrgID: acme}); len(got) != 0 {
		t.Errorf("ListKeys after refused creates: %v, want none", ids(got))
	}
}

// The store keeps no reference to the key it was given, nor hands out one
// to what it holds: changing either changes nothing stored.
func testCreateKeyKeepsNoReference(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base, keyward.PermRead, keyward.PermWrite)
	want := clone(k)
	create(t, s, k)
	k.Name = "changed"
	k.Permissions[0] = keyward.PermManage
	k.Hint = "changed"

	got, err := s.Key(t.Context(), want.OrgID, want.ID)
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	checkKey(t, "Key after the caller changed its key", got, want)
	got.Name = "changed again"
	got.Permissions[0] = keyward.PermDelete
	got.Hash[0] ^= 0xff
	checkLive(t, s, want)
}

// Keys created from many goroutines at once are all stored and listed.
func testCreateKeyConcurrent(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	const goroutines, perGoroutine = 16, 4
	keys := make([]*keyward.Key, goroutines*perGoroutine)
	for i := range keys {
		// Some share a creation time, as keys created in the same
		// microsecond do.
		keys[i] = newKey(t, acme, base.Add(time.Duration(i/3)*time.Microsecond))
	}
	errs := make([]error, len(keys))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for i := g * perGoroutine; i < (g+1)*perGoroutine; i++ {
				errs[i] = s.CreateKey(t.Context(), keys[i], nil)
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("CreateKey(%v): %v", keys[i].ID, err)
		}
	}
	checkList(t, "ListKeys after concurrent creates", list(t, s, keyward.KeyFilter{OrgID: acme}), newestFirst(keys))
	for _, k := range keys {
		got, err := s.KeyByHash(t.Context(), k.Hash)
		if err != nil {
			t.Errorf("KeyByHash(hash of %v): %v", k.ID, err)
			continue
		}
		checkKey(t, "KeyByHash", got, k)
	}
}

// Key finds a key only in its own organization, and only a live one.
func testKeyNotFound(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	a := newKey(t, acme, base)
	create(t, s, a)
	create(t, s, newKey(t, globex, base))
	tests := []struct {
		name string
		org  keyward.OrgID
		id   keyward.KeyID
	}{
		{"another organization", globex, a.ID},
		{"an organization differing in case", upper, a.ID},
		{"an organization that has no keys", "initech", a.ID},
		{"the root organization", "", a.ID},
		{"an unknown id", acme, keyward.NewKeyID()},
		{"id 0", acme, 0},
	}
	for _, tt := range tests {
		got, err := s.Key(t.Context(), tt.org, tt.id)
		checkCode(t, "Key in "+tt.name, err, keyward.ENOTFOUND)
		if got != nil {
			t.Errorf("Key in %s returned key %v", tt.name, got.ID)
		}
	}
	checkLive(t, s, a)
}

// A root key is found in the empty organization and no other.
func testKeyRootKeyOnlyInEmptyOrg(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	root := newRootKey(t, base)
	create(t, s, root)
	create(t, s, newKey(t, acme, base))
	got, err := s.Key(t.Context(), acme, root.ID)
	checkCode(t, "Key of a root key in an organization", err, keyward.ENOTFOUND)
	if got != nil {
		t.Errorf("Key of a root key in an organization returned key %v", got.ID)
	}
	checkLive(t, s, root)
}

// KeyByHash finds nothing for a hash no key has.
func testKeyByHashNotFound(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	for _, k := range []*keyward.Key{newKey(t, acme, base), newRootKey(t, base)} {
		create(t, s, k)
	}
	for name, h := range map[string]keyward.SecretHash{
		"an unknown secret": keyward.NewSecret().Hash(),
		"the zero hash":     {},
	} {
		got, err := s.KeyByHash(t.Context(), h)
		checkCode(t, "KeyByHash of "+name, err, keyward.ENOTFOUND)
		if got != nil {
			t.Errorf("KeyByHash of %s returned key %v", name, got.ID)
		}
	}
}

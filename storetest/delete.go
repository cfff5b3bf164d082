package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// Delete marks the live key id of org deleted at the given time through
// UpdateKey, as the service does, and returns it as it now stands; it
// fails with ENOTFOUND if there is no such live key. It writes no audit
// event.
func Delete(ctx context.Context, s keyward.KeyStore, org keyward.OrgID, id keyward.KeyID, at time.Time) (*keyward.Key, error) {
	return s.UpdateKey(ctx, org, id, func(k keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
		if k.DeletedAt != nil {
			return k, nil, keyward.Errorf(keyward.ENOTFOUND, "API key not found")
		}
		k.DeletedAt = &at
		k.Previous = nil
		k.UpdatedAt = at
		return k, nil, nil
	})
}

// deletedAs returns k as Delete at the given time leaves it: deleted and
// updated then, one version on, without a previous secret.
func deletedAs(k *keyward.Key, at time.Time) *keyward.Key {
	want := clone(k)
	want.DeletedAt = &at
	want.UpdatedAt = at
	want.Version++
	want.Previous = nil
	return want
}

// DeleteKey returns the key with DeletedAt set to the given time; the key
// is then found neither by id nor by hash, and no longer listed.
func testDeleteKeyReturnsTombstone(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base, keyward.PermRead, keyward.PermManage)
	other := newKey(t, acme, base.Add(time.Second))
	create(t, s, k)
	create(t, s, other)

	at := base.Add(36 * time.Hour).Add(123 * time.Microsecond)
	got, err := Delete(t.Context(), s, acme, k.ID, at)
	if err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	want := deletedAs(k, at)
	checkKey(t, "DeleteKey's result", got, want)

	checkGone(t, s, k)
	checkList(t, "ListKeys after DeleteKey", list(t, s, keyward.KeyFilter{OrgID: acme}), []*keyward.Key{other})
	checkLive(t, s, other)
}

// A key is deleted once: deleting it again is ENOTFOUND, and leaves it as
// the first delete left it.
func testDeleteKeyTwice(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	create(t, s, k)
	remove(t, s, k, base.Add(time.Hour))
	got, err := Delete(t.Context(), s, acme, k.ID, base.Add(2*time.Hour))
	checkCode(t, "second DeleteKey", err, keyward.ENOTFOUND)
	if got != nil {
		t.Errorf("second DeleteKey returned key %v", got.ID)
	}
	checkGone(t, s, k)
}

// DeleteKey in the wrong organization, or of an unknown id, is ENOTFOUND
// and deletes nothing.
func testDeleteKeyWrongOrgOrID(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	create(t, s, k)
	create(t, s, newKey(t, globex, base))
	tests := []struct {
		name string
		org  keyward.OrgID
		id   keyward.KeyID
	}{
		{"another organization", globex, k.ID},
		{"an organization differing in case", upper, k.ID},
		{"the root organization", "", k.ID},
		{"an unknown id", acme, keyward.NewKeyID()},
	}
	for _, tt := range tests {
		got, err := Delete(t.Context(), s, tt.org, tt.id, base.Add(time.Hour))
		checkCode(t, "DeleteKey in "+tt.name, err, keyward.ENOTFOUND)
		if got != nil {
			t.Errorf("DeleteKey in %s returned key %v", tt.name, got.ID)
		}
	}
	checkLive(t, s, k)
	checkList(t, "ListKeys after refused deletes", list(t, s, keyward.KeyFilter{OrgID: acme}), []*keyward.Key{k})
}

// A root key is deleted in the empty organization, and in no other.
func testDeleteKeyRootKey(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	root := newRootKey(t, base)
	create(t, s, root)
	_, err := Delete(t.Context(), s, acme, root.ID, base.Add(time.Hour))
	checkCode(t, "DeleteKey of a root key in an organization", err, keyward.ENOTFOUND)
	checkLive(t, s, root)

	at := base.Add(2 * time.Hour)
	got, err := Delete(t.Context(), s, "", root.ID, at)
	if err != nil {
		t.Fatalf("DeleteKey of a root key: %v", err)
	}
	want := deletedAs(root, at)
	checkKey(t, "DeleteKey's result", got, want)
	checkGone(t, s, root)
	if got := list(t, s, keyward.KeyFilter{Root: true}); len(got) != 0 {
		t.Errorf("ListKeys(root) after deleting the root key: %v, want none", ids(got))
	}
}

// Of many concurrent deletes of one key, exactly one succeeds; the others
// are ENOTFOUND.
func testDeleteKeyConcurrent(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	create(t, s, k)

	const n = 16
	type result struct {
		at  time.Time
		key *keyward.Key
		err error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		results[i].at = base.Add(time.Hour + time.Duration(i)*time.Microsecond)
		wg.Go(func() {
			<-start
			results[i].key, results[i].err = Delete(t.Context(), s, acme, k.ID, results[i].at)
		})
	}
	close(start)
	wg.Wait()

	won := 0
	for _, r := range results {
		if r.err != nil {
			checkCode(t, "a losing concurrent DeleteKey", r.err, keyward.ENOTFOUND)
			continue
		}
		won++
		want := deletedAs(k, r.at)
		checkKey(t, "the winning DeleteKey's result", r.key, want)
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent deletes succeeded, want exactly 1", won, n)
	}
	checkGone(t, s, k)
}

package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TouchKeys sets LastUsedAt, to the microsecond, as Key, KeyByHash and
// ListKeys then report; an older use never moves it back.
func testTouchKeysRecordsLatest(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	untouched := newKey(t, acme, base.Add(time.Second))
	create(t, s, k)
	create(t, s, untouched)

	first := base.Add(time.Hour).Add(7 * time.Microsecond)
	touch(t, s, keyward.KeyUse{ID: k.ID, At: first})
	want := clone(k)
	want.LastUsedAt = &first
	checkLive(t, s, want)

	// Two uses of one key in one batch, out of order, and an older use in
	// a later batch: the latest wins.
	later := first.Add(time.Minute)
	touch(t, s, keyward.KeyUse{ID: k.ID, At: later}, keyward.KeyUse{ID: k.ID, At: first.Add(time.Second)})
	touch(t, s, keyward.KeyUse{ID: k.ID, At: base})
	want.LastUsedAt = &later
	checkLive(t, s, want)
	checkList(t, "ListKeys after TouchKeys", list(t, s, keyward.KeyFilter{OrgID: acme}), []*keyward.Key{untouched, want})
}

// TouchKeys ignores ids that do not exist, still recording the others, and
// accepts an empty batch.
func testTouchKeysUnknownAndEmpty(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	create(t, s, k)
	if err := s.TouchKeys(t.Context(), nil); err != nil {
		t.Fatalf("TouchKeys(nil): %v", err)
	}
	at := base.Add(time.Hour)
	touch(t, s, keyward.KeyUse{ID: keyward.KeyID(1), At: at}, keyward.KeyUse{ID: k.ID, At: at})
	want := clone(k)
	want.LastUsedAt = &at
	checkLive(t, s, want)
}

// TouchKeys on a deleted key keeps it deleted.
func testTouchKeysDeletedKey(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	create(t, s, k)
	remove(t, s, k, base.Add(time.Hour))
	touch(t, s, keyward.KeyUse{ID: k.ID, At: base.Add(2 * time.Hour)})
	checkGone(t, s, k)
}

// A key created with a last use (as an import brings one) reports it, and
// TouchKeys moves it on from there, never back.
func testTouchKeysCreatedUsed(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	used := base.Add(time.Hour)
	k.LastUsedAt = &used
	create(t, s, k)
	checkLive(t, s, k)
	touch(t, s, keyward.KeyUse{ID: k.ID, At: base})
	checkLive(t, s, k)
	later := used.Add(time.Minute)
	touch(t, s, keyward.KeyUse{ID: k.ID, At: later})
	want := clone(k)
	want.LastUsedAt = &later
	checkLive(t, s, want)
}

// touch records uses and fails the test if that fails.
func touch(t *testing.T, s keyward.KeyStore, uses ...keyward.KeyUse) {
	t.Helper()
	if err := s.TouchKeys(t.Context(), uses); err != nil {
		t.Fatalf("TouchKeys: %v", err)
	}
}

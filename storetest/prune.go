package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// PruneDeletedKeys removes the records of keys deleted before the cut,
// oldest first and at most the limit per call, with their last uses; live
// keys and keys deleted after the cut stay.
func testPruneDeletedKeys(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	live := newKey(t, acme, base)
	create(t, s, live)
	var old []*keyward.Key
	for i := range 5 {
		k := newKey(t, acme, base)
		create(t, s, k)
		if err := s.TouchKeys(t.Context(), []keyward.KeyUse{{ID: k.ID, At: base.Add(time.Minute)}}); err != nil {
			t.Fatalf("TouchKeys: %v", err)
		}
		remove(t, s, k, base.Add(time.Duration(i+1)*time.Hour))
		old = append(old, k)
	}
	recent := newKey(t, globex, base)
	create(t, s, recent)
	remove(t, s, recent, base.Add(48*time.Hour))
	cut := base.Add(24 * time.Hour)

	n, err := s.PruneDeletedKeys(t.Context(), cut, 3)
	if err != nil || n != 3 {
		t.Fatalf("PruneDeletedKeys(limit 3) = %d, %v; want 3", n, err)
	}
	// The oldest three are gone for good: their ids and hashes are free.
	for _, k := range old[:3] {
		again := newKey(t, acme, base)
		again.ID, again.Hash = k.ID, k.Hash
		create(t, s, again)
		remove(t, s, again, base.Add(72*time.Hour))
	}
	// The other two are still there: a create with their id conflicts.
	for _, k := range old[3:] {
		again := newKey(t, acme, base)
		again.ID = k.ID
		checkCode(t, "CreateKey with the id of a key deleted but not yet pruned", s.CreateKey(t.Context(), again, nil), keyward.ECONFLICT)
	}
	if n, err := s.PruneDeletedKeys(t.Context(), cut, 100); err != nil || n != 2 {
		t.Fatalf("PruneDeletedKeys again = %d, %v; want the 2 left before the cut", n, err)
	}
	if n, err := s.PruneDeletedKeys(t.Context(), cut, 100); err != nil || n != 0 {
		t.Fatalf("PruneDeletedKeys with nothing left = %d, %v", n, err)
	}
	checkLive(t, s, live)
	again := newKey(t, globex, base)
	again.ID = recent.ID
	checkCode(t, "CreateKey with the id of a key deleted after the cut", s.CreateKey(t.Context(), again, nil), keyward.ECONFLICT)
	if n, err := s.PruneDeletedKeys(t.Context(), cut, 0); err != nil || n != 0 {
		t.Errorf("PruneDeletedKeys with limit 0 = %d, %v; want nothing done", n, err)
	}
}

// A store whose every key was deleted and pruned is still a store that
// was used: it takes no bootstrap root key.
func testPruneKeepsStoreUsed(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newRootKey(t, base) // as keyward root-key create makes one, with no bootstrap
	create(t, s, k)
	remove(t, s, k, base.Add(time.Hour))
	if n, err := s.PruneDeletedKeys(t.Context(), base.Add(2*time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("PruneDeletedKeys = %d, %v; want 1", n, err)
	}
	if bootstrap(t, s, newRootKey(t, base)) {
		t.Error("BootstrapRootKey stored a root key in a store whose keys were pruned")
	}
}

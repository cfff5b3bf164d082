package storetest

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// KeyByID finds a live key by its id alone, whatever its organization,
// root keys included (with Root set); a deleted or unknown id is not found.
func testKeyByIDAnyOrganization(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	a, g, root, gone := newKey(t, acme, base), newKey(t, globex, base), newRootKey(t, base), newKey(t, upper, base)
	for _, k := range []*keyward.Key{a, g, root, gone} {
		create(t, s, k)
	}
	remove(t, s, gone, base.Add(time.Hour))
	for _, k := range []*keyward.Key{a, g, root} {
		got, err := s.KeyByID(t.Context(), k.ID)
		if err != nil {
			t.Errorf("KeyByID(%v): %v", k.ID, err)
			continue
		}
		checkKey(t, "KeyByID", got, k)
	}
	for _, id := range []keyward.KeyID{gone.ID, keyward.NewKeyID()} {
		got, err := s.KeyByID(t.Context(), id)
		checkCode(t, "KeyByID of a deleted or unknown id", err, keyward.ENOTFOUND)
		if got != nil {
			t.Errorf("KeyByID(%v) returned key %v", id, got.ID)
		}
	}
}

package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// importer is a store that takes keys in bulk (for imports and
// benchmarks), all or none.
type importer interface {
	ImportKeys(ctx context.Context, keys []*keyward.Key) error
}

// A batch is stored whole, last uses included, or, when one key conflicts,
// not at all.
func testImportKeysAllOrNone(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	imp, ok := s.(importer)
	if !ok {
		t.Skip("the store does not import keys in bulk")
	}
	a, b := newKey(t, acme, base), newKey(t, acme, base.Add(time.Second))
	used := base.Add(time.Hour)
	b.LastUsedAt = &used
	if err := imp.ImportKeys(t.Context(), []*keyward.Key{a, b}); err != nil {
		t.Fatalf("ImportKeys: %v", err)
	}
	checkLive(t, s, a)
	checkLive(t, s, b)

	c, dup := newKey(t, acme, base), newKey(t, acme, base)
	dup.Hash = a.Hash
	err := imp.ImportKeys(t.Context(), []*keyward.Key{c, dup})
	checkCode(t, "ImportKeys with a taken hash", err, keyward.ECONFLICT)
	checkGone(t, s, c)
	checkList(t, "ListKeys after a failed import", list(t, s, keyward.KeyFilter{OrgID: acme}), newestFirst([]*keyward.Key{a, b}))
}

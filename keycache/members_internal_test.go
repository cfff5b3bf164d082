package keycache

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward"
)

// The set holds exactly what was added, across growths, duplicates
// included once, in at most three places of four.
func TestMemberSet(t *testing.T) {
	var m memberSet
	rng := rand.New(rand.NewPCG(1, 2))
	added := make(map[uint64]bool)
	for i := range 10_000 {
		fp := rng.Uint64() | 1
		if i%10 == 0 && len(added) > 0 {
			for old := range added { // a duplicate
				fp = old
				break
			}
		}
		m.add(fp)
		added[fp] = true
		if m.n != len(added) {
			t.Fatalf("after %d adds: n = %d, want %d", i+1, m.n, len(added))
		}
		if 4*m.n > 3*len(m.table) {
			t.Fatalf("after %d adds: %d of %d places used", i+1, m.n, len(m.table))
		}
	}
	for fp := range added {
		if !m.has(fp) {
			t.Fatalf("lost %x", fp)
		}
	}
	for range 10_000 {
		if fp := rng.Uint64() | 1; !added[fp] && m.has(fp) {
			t.Fatalf("has %x, never added", fp)
		}
	}
	var empty memberSet
	if empty.has(1) {
		t.Error("an empty set has 1")
	}
}

// notFoundStore knows no key, counts its lookups, and holds no hash.
type notFoundStore struct {
	keyward.KeyStore
	lookups atomic.Int64
}

func (s *notFoundStore) KeyByHash(context.Context, keyward.SecretHash) (*keyward.Key, error) {
	s.lookups.Add(1)
	return nil, keyward.Errorf(keyward.ENOTFOUND, "key not found")
}

func (s *notFoundStore) SecretHashes(context.Context, func(keyward.SecretHash)) error { return nil }

// A made-up hash whose fingerprint matches a stored one's costs one store
// lookup, and is then remembered as unknown as any other.
func TestMemberFingerprintCollision(t *testing.T) {
	store := &notFoundStore{}
	c := New(store, Options{Members: true, Unshared: true})
	if err := c.LoadMembers(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := keyward.NewSecret().Hash()
	sh := c.shard(h)
	sh.mu.Lock()
	sh.members.add(c.fingerprint(h)) // as if a stored hash had h's fingerprint
	sh.mu.Unlock()
	for range 3 {
		if _, err := c.KeyByHash(t.Context(), h); keyward.ErrorCode(err) != keyward.ENOTFOUND {
			t.Fatalf("KeyByHash: %v", err)
		}
	}
	if n := store.lookups.Load(); n != 1 {
		t.Errorf("%d store lookups, want 1", n)
	}
	if s := c.Stats(); s.MemberHits != 1 || s.NegHits != 2 {
		t.Errorf("Stats = %+v; want 1 member hit, then 2 remembered unknowns", s)
	}
}

package keycache_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keycache"
)

func (s *gatedStore) LiveKeys(ctx context.Context, after keyward.KeyID, limit int) ([]*keyward.Key, error) {
	keys, err := s.KeyStore.LiveKeys(ctx, after, limit)
	if err == nil && s.duringLiveKeys != nil {
		s.duringLiveKeys()
	}
	return keys, err
}

// waitWarm waits until the cache's first fill has ended.
func waitWarm(t *testing.T, c *keycache.Store) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for c.Warming() {
		if time.Now().After(deadline) {
			t.Fatalf("cache still warming after %v: %+v", patience, c.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// newFillEnv is a shared cache with Options.Fill in front of a store
// holding keys, filled as serve fills it: by the load that a feed's
// Reset starts. It is warming until then.
func newFillEnv(t *testing.T, opt keycache.Options, add func(e *env)) *env {
	t.Helper()
	opt.Members, opt.Fill = true, true
	e := newSharedEnv(t, opt)
	t.Cleanup(func() { e.cache.Close() })
	if !e.cache.Warming() {
		t.Fatal("Warming before the first fill: false, want true")
	}
	add(e)
	e.cache.Reset()
	waitWarm(t, e.cache)
	keycache.ConfirmAt(e.cache, e.clock.now())
	return e
}

// A fill caches every live key, over several pages, under each of its
// hashes, as the store has it: lookups then read the store no more. A
// deleted key is not cached, and still reads the store.
func TestFillCachesLiveKeys(t *testing.T) {
	var keys []*keyward.Key
	var deleted, rotated *keyward.Key
	e := newFillEnv(t, keycache.Options{Size: 10_000}, func(e *env) {
		keys = e.addKeys(t, 2500) // three pages
		rotated = e.add(t, newKeyWith("globex", func(k *keyward.Key) {
			k.Previous = &keyward.PreviousSecret{Hash: madeUp(), ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)}
		}))
		deleted = e.add(t, newKey("acme", "deleted", keyward.PermRead))
		if _, err := e.db.UpdateKey(t.Context(), deleted.OrgID, deleted.ID, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
			at := time.Now().UTC().Truncate(time.Microsecond)
			old.DeletedAt = &at
			return old, nil, nil
		}); err != nil {
			t.Fatalf("delete: %v", err)
		}
	})
	if s := e.cache.Stats(); s.Entries != len(keys)+2 || s.Evictions != 0 {
		t.Fatalf("after the fill: %+v; want %d entries (a rotated key's two hashes), no eviction", s, len(keys)+2)
	}
	for _, k := range append(keys, rotated) {
		for _, h := range k.Hashes() {
			got := e.get(t, h)
			checkKey(t, got, e.stored(t, h))
			e.wantCalls(t, h, 0)
		}
	}
	e.getNotFound(t, deleted.Hash)
	e.wantCalls(t, deleted.Hash, 1)
}

// A fill stops when the cache is full: it pushes no key out.
func TestFillStopsWhenFull(t *testing.T) {
	const size = 300
	e := newFillEnv(t, keycache.Options{Size: size}, func(e *env) { e.addKeys(t, 1500) })
	s := e.cache.Stats()
	if s.Entries == 0 || s.Entries > size || s.Evictions != 0 {
		t.Fatalf("after the fill: %+v; want at most %d entries and no eviction", s, size)
	}
}

// A key changed while its page was read is not cached from that page
// (its shard's generation moved): its first lookup reads the store and
// finds the change.
func TestFillSkipsKeysChangedDuringTheRead(t *testing.T) {
	var k *keyward.Key
	var e *env
	e = newFillEnv(t, keycache.Options{Size: 1000}, func(env *env) {
		e = env
		k = e.add(t, newKey("acme", "before", keyward.PermRead))
		e.store.duringLiveKeys = func() {
			e.store.duringLiveKeys = nil
			// What another instance's rename and the feed's news of it do.
			if _, err := e.db.UpdateKey(context.Background(), k.OrgID, k.ID, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
				old.Name = "after"
				return old, nil, nil
			}); err != nil {
				t.Errorf("UpdateKey: %v", err)
			}
			e.cache.Invalidate(k.Hash)
		}
	})
	if got := e.get(t, k.Hash); got.Name != "after" {
		t.Fatalf("Name = %q after a change made during the fill's read, want %q", got.Name, "after")
	}
	e.wantCalls(t, k.Hash, 1)
}

// Keys put by a fill go stale between half the TTL and the TTL: not all
// at once, and never later than the TTL.
func TestFillSpreadsExpiry(t *testing.T) {
	const ttl = time.Hour
	var keys []*keyward.Key
	e := newFillEnv(t, keycache.Options{Size: 1000, TTL: ttl}, func(e *env) { keys = e.addKeys(t, 200) })
	e.clock.advance(ttl/2 - time.Second)
	keycache.ConfirmAt(e.cache, e.clock.now())
	for _, k := range keys {
		e.get(t, k.Hash)
		e.wantCalls(t, k.Hash, 0)
	}
	e.clock.advance(ttl / 4)
	keycache.ConfirmAt(e.cache, e.clock.now())
	stale := 0
	for _, k := range keys {
		e.get(t, k.Hash)
		stale += e.store.callsFor(k.Hash)
	}
	if stale == 0 || stale == len(keys) {
		t.Errorf("three quarters of the TTL after the fill, %d of %d keys were read again; want some, not all", stale, len(keys))
	}
	e.clock.advance(ttl/4 + 2*time.Second)
	keycache.ConfirmAt(e.cache, e.clock.now())
	for _, k := range keys {
		before := e.store.callsFor(k.Hash)
		e.get(t, k.Hash)
		if e.store.callsFor(k.Hash) == before && before == 0 {
			t.Fatalf("key %v still served from the fill past the TTL", k.ID)
		}
	}
}

// Without Options.Fill the cache is never warming; with it, it stops
// warming once the background loads stop, fill or no fill (serve calls
// StopLoading when the feed cannot start: no reset will come).
func TestWarming(t *testing.T) {
	if c := newSharedEnv(t, keycache.Options{Members: true}).cache; c.Warming() {
		t.Error("Warming without Options.Fill: true")
	}
	e := newSharedEnv(t, keycache.Options{Members: true, Fill: true})
	if !e.cache.Warming() {
		t.Fatal("Warming before any fill: false")
	}
	e.cache.StopLoading()
	if e.cache.Warming() {
		t.Error("Warming after StopLoading: true")
	}
}

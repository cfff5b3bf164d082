// Package keycache is the hot path of verification: an in-process cache of
// key records in front of a keyward.KeyStore, shared by /verify and by the
// management API's authentication.
//
// It wraps a store and answers KeyByHash from memory when it can:
//
//   - Entries are bounded by count (Options.Size) and by age (Options.TTL,
//     the last line of defence should an invalidation be missed); a full
//     cache evicts with the CLOCK algorithm, a cheap approximation of
//     least-recently-used.
//   - On a miss, exactly one store lookup runs per secret hash, shared by
//     every concurrent request for it (singleflight).
//   - Unknown hashes are remembered for Options.NegativeTTL in a separate,
//     separately bounded table, so a flood of made-up keys neither reaches
//     the database nor pushes real keys out of the cache.
//   - A delete through the cache evicts the key before it returns; Evict and
//     Purge let other instances' deletes (PostgreSQL notifications) do the
//     same.
//
// The cache must not make the latency tail worse. A Go heap of a million
// pointer-rich records costs tens of milliseconds of garbage-collection work
// at the p99, so records here hold no pointers: each shard keeps fixed-size
// slots in one slice, an index map of integers, and the variable-length text
// (organization, name, hint, permissions) in one byte arena. The garbage
// collector sees a handful of pointers per shard, whatever the entry count.
package keycache

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
	"golang.org/x/sync/singleflight"
)

// Defaults for Options.
const (
	DefaultSize        = 100_000
	DefaultTTL         = 30 * time.Second
	DefaultNegativeTTL = 5 * time.Second
)

// Options configure a cache. Zero values take the defaults.
type Options struct {
	// Size bounds the number of keys cached.
	Size int
	// TTL bounds how long a key is served from memory before it is looked
	// up again.
	TTL time.Duration
	// NegativeSize bounds the number of unknown hashes remembered; by
	// default a quarter of Size.
	NegativeSize int
	// NegativeTTL is how long an unknown hash is remembered.
	NegativeTTL time.Duration
	// LoadTimeout bounds one store lookup shared by several requests (it
	// cannot use any one request's context). Default 10s.
	LoadTimeout time.Duration
}

// Store is a keyward.KeyStore whose KeyByHash is served from the cache.
// A key it returns carries no LastUsedAt (that is the store's to report);
// every other method goes to the wrapped store, and DeleteKey also evicts.
type Store struct {
	keyward.KeyStore
	shards      []shard
	mask        uint64
	ttl, negTTL int64 // nanoseconds
	loadTimeout time.Duration
	now         func() int64 // monotonic nanoseconds

	group singleflight.Group

	hits, negHits, misses, loads, evictions atomic.Uint64
}

var _ keyward.KeyStore = (*Store)(nil)

// New returns a cache in front of store.
func New(store keyward.KeyStore, opt Options) *Store {
	if opt.Size <= 0 {
		opt.Size = DefaultSize
	}
	if opt.TTL <= 0 {
		opt.TTL = DefaultTTL
	}
	if opt.NegativeSize <= 0 {
		opt.NegativeSize = max(opt.Size/4, 1)
	}
	if opt.NegativeTTL <= 0 {
		opt.NegativeTTL = DefaultNegativeTTL
	}
	if opt.LoadTimeout <= 0 {
		opt.LoadTimeout = 10 * time.Second
	}
	// Many shards keep lock contention away; a small cache gets one shard
	// so that its bound is exact.
	n := 1
	for n < 64 && opt.Size/(n*2) >= 256 {
		n *= 2
	}
	start := time.Now()
	c := &Store{
		KeyStore:    store,
		shards:      make([]shard, n),
		mask:        uint64(n - 1),
		ttl:         int64(opt.TTL),
		negTTL:      int64(opt.NegativeTTL),
		loadTimeout: opt.LoadTimeout,
		now:         func() int64 { return int64(time.Since(start)) },
	}
	for i := range c.shards {
		c.shards[i].init(share(opt.Size, n, i), share(opt.NegativeSize, n, i))
	}
	return c
}

// share is shard i's part of total split over n shards: the parts differ
// by at most one and add up to total, so that the shards together hold
// at most total.
func share(total, n, i int) int {
	if i < total%n {
		return total/n + 1
	}
	return total / n
}

// prefix is the first 8 bytes of a hash: the index key. SHA-256 output is
// uniform, so these bits both pick the shard and key its map; the full
// hash in the slot decides a match.
func prefix(h keyward.SecretHash) uint64 { return binary.LittleEndian.Uint64(h[:8]) }

func (c *Store) shard(h keyward.SecretHash) *shard {
	return &c.shards[binary.LittleEndian.Uint64(h[8:16])&c.mask]
}

// KeyByHash returns the live key with hash h, from memory when it is
// there, or else from one store lookup shared by all concurrent callers.
func (c *Store) KeyByHash(ctx context.Context, h keyward.SecretHash) (*keyward.Key, error) {
	sh := c.shard(h)
	now := c.now()
	sh.mu.Lock()
	k, found, known := sh.get(h, now)
	gen := sh.gen
	sh.mu.Unlock()
	switch {
	case found:
		c.hits.Add(1)
		return k, nil
	case known:
		c.negHits.Add(1)
		return nil, errNotFound
	}
	c.misses.Add(1)
	return c.load(ctx, sh, h, gen)
}

var errNotFound = keyward.Errorf(keyward.ENOTFOUND, "key not found")

// loaded is the shared result of one lookup.
type loaded struct {
	key *keyward.Key
}

// load looks h up in the store, once for all concurrent callers, and
// caches the answer unless h's shard was invalidated since gen (read when
// the lookup was decided): a key evicted while it was being loaded is not
// put back from a read older than the delete.
func (c *Store) load(ctx context.Context, sh *shard, h keyward.SecretHash, gen uint64) (*keyward.Key, error) {
	// Requests that arrive after an invalidation do not join a lookup that
	// began before it: the generation is part of the flight's name.
	var name [40]byte
	copy(name[:32], h[:])
	binary.LittleEndian.PutUint64(name[32:], gen)
	ch := c.group.DoChan(string(name[:]), func() (any, error) {
		c.loads.Add(1)
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.loadTimeout)
		defer cancel()
		k, err := c.KeyStore.KeyByHash(lctx, h)
		notFound := keyward.ErrorCode(err) == keyward.ENOTFOUND
		if err != nil && !notFound {
			return nil, err
		}
		sh.mu.Lock()
		if now := c.now(); sh.gen == gen {
			if notFound {
				sh.putNegative(h, now+c.negTTL)
			} else if sh.put(k, now+c.ttl, now) {
				c.evictions.Add(1)
			}
		}
		sh.mu.Unlock()
		if notFound {
			return loaded{}, nil
		}
		return loaded{key: k}, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		l := r.Val.(loaded)
		if l.key == nil {
			return nil, errNotFound
		}
		// Each caller gets its own copy: the shared record must not be
		// changed by one of them under the others.
		k := *l.key
		k.Permissions = slices.Clone(l.key.Permissions) // nil stays nil
		k.LastUsedAt = nil
		return &k, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("key lookup: %w", ctx.Err())
	}
}

// CreateKey stores k and forgets any earlier "unknown" answer for its hash.
func (c *Store) CreateKey(ctx context.Context, k *keyward.Key) error {
	err := c.KeyStore.CreateKey(ctx, k)
	if err == nil {
		c.Evict(k.Hash)
	}
	return err
}

// DeleteKey deletes the key in the store and evicts it before returning,
// so that the next request with it fails.
func (c *Store) DeleteKey(ctx context.Context, org keyward.OrgID, id keyward.KeyID, at time.Time) (*keyward.Key, error) {
	k, err := c.KeyStore.DeleteKey(ctx, org, id, at)
	if err == nil {
		c.Evict(k.Hash)
	}
	return k, err
}

// Evict forgets whatever the cache knows of hash h.
func (c *Store) Evict(h keyward.SecretHash) {
	sh := c.shard(h)
	sh.mu.Lock()
	sh.gen++
	sh.remove(h)
	sh.mu.Unlock()
}

// Purge forgets everything: used when invalidations may have been missed.
func (c *Store) Purge() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.gen++
		sh.reset()
		sh.mu.Unlock()
	}
}

// Stats are the cache's counters since it was made.
type Stats struct {
	Entries   int    // keys cached now
	Negatives int    // unknown hashes remembered now
	Hits      uint64 // lookups answered with a cached key
	NegHits   uint64 // lookups answered with a remembered "unknown"
	Misses    uint64 // lookups that went to a shared store lookup
	Loads     uint64 // store lookups made (at most Misses)
	Evictions uint64 // keys pushed out to make room
}

// Stats returns the cache's counters.
func (c *Store) Stats() Stats {
	s := Stats{
		Hits: c.hits.Load(), NegHits: c.negHits.Load(), Misses: c.misses.Load(),
		Loads: c.loads.Load(), Evictions: c.evictions.Load(),
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		s.Entries += len(sh.index)
		s.Negatives += len(sh.neg)
		sh.mu.Unlock()
	}
	return s
}

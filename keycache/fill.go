package keycache

// Filling the cache at start.
//
// A cache that starts empty sends every first verification of a key to
// the store: after a restart or a deploy, a platform's whole traffic
// misses at once, at the store's speed (about 45 µs a lookup in SQLite,
// a round trip in PostgreSQL), until each key has been asked for once.
// With Options.Fill, the cache reads the live keys into memory itself,
// page by page in id order (KeyStore.LiveKeys), right after it loads the
// membership set: at start, and again after each reset of the feed,
// which empties the cache. It stops when the store has no more keys or
// the cache is full; it never pushes a key out to make room.
//
// Each page is cached only where nothing was invalidated while it was
// read: the generation of every shard is taken before the read, and a
// key is put in only if its shard's generation has not moved since. A key
// changed while its page was read is not cached from that page; a change
// committed after the put reaches it through the feed and removes it, as
// for any cached key. A key already cached (a lookup got there first) is
// left as it is.
//
// Entries put by a fill go stale at random times between half the TTL
// and the TTL, so that a million keys read in one go do not all go to
// the store again in the same second.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/keyward/keyward"
)

// fillPage is how many keys one read of a fill returns: a few
// milliseconds of the store's time, so that no read snapshot is held long
// and the generations taken before it rarely move.
const fillPage = 1000

// has reports whether h is cached (fresh or not).
func (sh *shard) has(h keyward.SecretHash) bool {
	i, ok := sh.index.get(prefix(h), sh.slots)
	return ok && sh.slots[i].hash.Equal(h)
}

// room reports whether the shard can take a key without evicting one.
func (sh *shard) room() int { return len(sh.free) + cap(sh.slots) - len(sh.slots) }

// Fill reads the store's live keys into the cache until the store has no
// more, the cache is full, ctx is done, or the feed resets the cache
// (which starts a fill of its own), and returns how many entries it put.
// A cache with Options.Fill calls it by itself after each load of the
// membership set; it is exported for a program that fills an Unshared
// cache, or fills it again.
func (c *Store) Fill(ctx context.Context) (int, error) {
	epoch := c.members.epoch.Load()
	gens := make([]uint64, len(c.shards))
	var after keyward.KeyID
	n := 0
	for {
		if c.members.epoch.Load() != epoch {
			return n, nil // reset: whatever was put is gone, and a new fill comes
		}
		room := 0
		for i := range c.shards {
			sh := &c.shards[i]
			sh.mu.Lock()
			gens[i] = sh.gen
			room += sh.room()
			sh.mu.Unlock()
		}
		if room == 0 {
			return n, nil
		}
		keys, err := c.store.LiveKeys(ctx, after, fillPage)
		if err != nil {
			return n, fmt.Errorf("fill the cache: %w", err)
		}
		now := c.now()
		for _, k := range keys {
			k.LastUsedAt = nil
			for _, h := range k.Hashes() {
				i := c.shardIndex(h)
				sh := &c.shards[i]
				expires := now + c.ttl/2 + rand.Int64N(c.ttl/2+1)
				sh.mu.Lock()
				if sh.gen == gens[i] && sh.room() > 0 && !sh.has(h) {
					sh.put(h, k, expires, now)
					n++
				}
				sh.mu.Unlock()
			}
		}
		if len(keys) < fillPage {
			return n, nil
		}
		after = keys[len(keys)-1].ID
	}
}

// fillAfterLoad fills the cache after a load of the membership set, if
// Options.Fill asks for it, and marks the first fill done whatever its
// outcome: a cache that cannot be filled still serves, from the store.
func (c *Store) fillAfterLoad(ctx context.Context) {
	if !c.fillOn {
		return
	}
	defer c.fillDone()
	start := time.Now()
	n, err := c.Fill(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.members.log.Warn("keyward: could not fill the verification cache; keys not yet cached are read from the database when first verified",
				"err", err, "cached", n)
		}
		return
	}
	c.members.log.Info("keyward: filled the verification cache from the database",
		"keys", n, "duration", time.Since(start).Round(time.Millisecond))
}

// fillDone marks the first fill over.
func (c *Store) fillDone() { c.warm.Do(func() { close(c.warmed) }) }

// Warming reports whether the cache is still being filled for the first
// time (Options.Fill): a readiness check can hold traffic off until it
// is warm. It is false without Options.Fill, once the first fill has
// ended (or failed), and once the background loads have stopped
// (StopLoading: the feed will not reset the cache, so no fill comes).
func (c *Store) Warming() bool {
	select {
	case <-c.warmed:
		return false
	default:
		return c.members.stop.Err() == nil
	}
}

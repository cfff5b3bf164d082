package keycache

// The membership set: what keeps made-up keys away from the store.
//
// The secret's checksum is public (CRC32), so anyone can make well-formed
// keys by the million, and before this set each one cost a store lookup.
// The cache now holds a 64-bit fingerprint of every secret hash the store
// holds, current and previous, of live and deleted keys: loaded from the
// store (KeyStore.SecretHashes) once the invalidation feed watches, and
// kept current by the feed, which passes on every create as well as every
// change, and by the cache's own writes. A lookup that misses the cache
// and whose fingerprint is not in the set is of a hash that no key
// acknowledged before the feed's last confirmation has. So:
//
//   - If the feed has confirmed a time after the request came, every key
//     acknowledged before the request was sent is in the set: the hash is
//     unknown, answered from memory.
//   - Otherwise the hash may be a key created a moment ago on another
//     instance whose news is still on its way. The cache spends a token of
//     a per-instance bucket of "unknown-hash lookups" (Options.
//     UnknownLookups a second) to read the store at once, so that such a
//     key verifies without delay; with no token left it waits for the feed
//     to confirm past the request's arrival, at most the staleness bound
//     (and the request's context), and then answers from the set. If the
//     feed does not confirm in time (a partition), the answer is
//     EUNAVAILABLE, never "unknown" for a key that might exist.
//
// So a flood of made-up keys, however fast and however many, costs the
// store at most the bucket's rate, and each of its requests waits for the
// next confirmation (a fraction of the bound) unless the bucket pays.
//
// Fingerprints are keyed with a random seed of the process (hash/maphash),
// not a prefix of the hash: a prefix could be searched for offline, by
// making secrets until one's hash starts like a stored key's, and each
// such find would cost the store a lookup. A fingerprint that matches by
// chance (about one in 2^64/N) costs one lookup, and the answer is then
// remembered as unknown for NegativeTTL as any other.
//
// The set only grows until the process restarts: the fingerprints of
// deleted keys stay (a restore brings them back), and so do those of keys
// pruned for good. It costs 8 bytes per place, with at most three places
// in four used: 11 to 21 bytes per hash, 16 MiB at a million keys.
//
// Before the set is loaded, and while it is reloaded after the feed
// resets (it may have missed creates), lookups behave as without it:
// every miss reads the store, once per hash.

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// DefaultUnknownLookups is the default of Options.UnknownLookups.
const DefaultUnknownLookups = 100

// memberSet is a shard's part of the membership set: fingerprints in open
// addressing with linear probing over one slice, 0 marking an empty place
// (a fingerprint of 0 is stored as 1). No pointer per entry, so the
// garbage collector sees one slice per shard; it is guarded by the shard's
// lock.
type memberSet struct {
	table []uint64 // len is 0 or a power of two
	n     int      // places used
}

// minMemberTable is the size of a shard's first table.
const minMemberTable = 64

// has reports whether fp is in the set.
func (m *memberSet) has(fp uint64) bool {
	if len(m.table) == 0 {
		return false
	}
	mask := uint64(len(m.table) - 1)
	for i := fp & mask; ; i = (i + 1) & mask {
		switch m.table[i] {
		case fp:
			return true
		case 0:
			return false
		}
	}
}

// add puts fp in the set, growing the table to keep it at most three
// quarters full (linear probing slows fast past that).
func (m *memberSet) add(fp uint64) {
	if 4*(m.n+1) > 3*len(m.table) {
		m.grow()
	}
	mask := uint64(len(m.table) - 1)
	for i := fp & mask; ; i = (i + 1) & mask {
		switch m.table[i] {
		case fp:
			return
		case 0:
			m.table[i] = fp
			m.n++
			return
		}
	}
}

// grow doubles the table.
func (m *memberSet) grow() {
	old := m.table
	m.table = make([]uint64, max(minMemberTable, 2*len(old)))
	m.n = 0
	for _, fp := range old {
		if fp != 0 {
			m.add(fp)
		}
	}
}

// membership is the cache's state of the membership set beyond the
// shards' tables.
type membership struct {
	on   bool // Options.Members
	seed maphash.Seed
	log  *slog.Logger

	// The set is complete when ready equals epoch: a load begun after the
	// feed's latest Reset has finished. Reset raises epoch; a load stores
	// the epoch it began in, if no later load has stored a later one.
	epoch, ready atomic.Uint64

	// The background loader: at most one at a time; again asks it to load
	// once more (a Reset came while it loaded).
	mu            sync.Mutex
	loading       bool
	again         bool
	stop          context.Context // done once the cache is closed
	cancel        context.CancelFunc
	loaderStopped chan struct{} // closed by a loader that stops; nil while none ran

	bucket tokenBucket

	// confirmed is closed, and replaced, whenever the feed confirms a later
	// time: requests waiting for a confirmation past their arrival wake.
	confirmed atomic.Pointer[chan struct{}]

	hits, misses, fromMemory, lookups, waits, unavailable, refusals, loads, loadErrors atomic.Uint64
}

func (m *membership) init(opt Options) {
	m.on = opt.Members
	m.seed = maphash.MakeSeed()
	m.log = opt.Logger
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.epoch.Store(1) // ready is 0: not complete before a load
	m.stop, m.cancel = context.WithCancel(context.Background())
	ch := make(chan struct{})
	m.confirmed.Store(&ch)
	rate := opt.UnknownLookups
	if rate == 0 {
		rate = DefaultUnknownLookups
	}
	m.bucket.init(rate)
}

// complete reports whether the set holds every hash stored, but those
// created since the feed's last confirmation.
func (m *membership) complete() bool { return m.on && m.ready.Load() == m.epoch.Load() }

// fingerprint is h's fingerprint in the set: never 0.
func (c *Store) fingerprint(h keyward.SecretHash) uint64 {
	fp := maphash.Bytes(c.members.seed, h[:])
	if fp == 0 {
		fp = 1
	}
	return fp
}

// addMembers puts hashes in the set, if the cache keeps one.
func (c *Store) addMembers(hashes ...keyward.SecretHash) {
	if !c.members.on {
		return
	}
	for _, h := range hashes {
		sh := c.shard(h)
		fp := c.fingerprint(h)
		sh.mu.Lock()
		sh.members.add(fp)
		sh.mu.Unlock()
	}
}

// LoadMembers reads every secret hash from the store into the membership
// set (Options.Members), and marks the set complete unless the feed reset
// the cache meanwhile. A cache with a feed loads it by itself each time
// the feed resets it (its start, a reconnection); one that is Unshared has
// no feed, and is loaded by calling this once, before it serves.
func (c *Store) LoadMembers(ctx context.Context) error {
	m := &c.members
	if !m.on {
		return nil
	}
	epoch := m.epoch.Load()
	start := time.Now()
	n := 0
	err := c.store.SecretHashes(ctx, func(h keyward.SecretHash) {
		c.addMembers(h)
		n++
	})
	if err != nil {
		m.loadErrors.Add(1)
		return fmt.Errorf("load the membership set: %w", err)
	}
	for {
		r := m.ready.Load()
		if r >= epoch || m.ready.CompareAndSwap(r, epoch) {
			break
		}
	}
	m.loads.Add(1)
	m.log.Info("keyward: loaded the set of every key's hash; lookups of unknown keys no longer reach the database",
		"hashes", n, "duration", time.Since(start).Round(time.Millisecond), "complete", m.complete())
	return nil
}

// Bounds on the pauses of the background loader between failed loads.
const (
	minLoadBackoff = 100 * time.Millisecond
	maxLoadBackoff = 5 * time.Second
)

// reloadMembers loads the set in the background, once more if a load is
// already running, and again after a pause while loads fail, until one
// succeeds or the cache is closed.
func (c *Store) reloadMembers() {
	m := &c.members
	if !m.on {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stop.Err() != nil {
		return
	}
	if m.loading {
		m.again = true
		return
	}
	m.loading = true
	stopped := make(chan struct{})
	m.loaderStopped = stopped
	go func() {
		defer close(stopped)
		pause := minLoadBackoff
		for {
			m.mu.Lock()
			m.again = false
			m.mu.Unlock()
			err := c.LoadMembers(m.stop)
			if err == nil {
				c.fillAfterLoad(m.stop)
			}
			m.mu.Lock()
			switch {
			case m.stop.Err() != nil, err == nil && !m.again:
				m.loading = false
				m.mu.Unlock()
				return
			case m.again:
				m.mu.Unlock()
				pause = minLoadBackoff
				continue
			}
			m.mu.Unlock()
			m.log.Warn("keyward: cannot load the set of every key's hash; unknown keys are looked up in the database meanwhile",
				"err", err, "retry_in", pause)
			select {
			case <-m.stop.Done():
				m.mu.Lock()
				m.loading = false
				m.mu.Unlock()
				return
			case <-time.After(pause):
			}
			pause = min(2*pause, maxLoadBackoff)
		}
	}()
}

// StopLoading stops loading the membership set in the background, for
// good, and waits for a load under way to end: for a program that closes
// the store itself. Close calls it.
func (c *Store) StopLoading() {
	m := &c.members
	m.mu.Lock()
	m.cancel()
	stopped := m.loaderStopped
	m.mu.Unlock()
	if stopped != nil {
		<-stopped
	}
}

// wakeWaiters wakes the requests waiting for a confirmation.
func (m *membership) wakeWaiters() {
	ch := make(chan struct{})
	close(*m.confirmed.Swap(&ch))
}

// confirmedAsOf is the latest time, on the cache's clock, as of which the
// feed has confirmed (see Confirm); for an unshared cache, always.
func (c *Store) confirmedAsOf() int64 {
	until := c.trustedUntil.Load()
	if until == math.MaxInt64 {
		return math.MaxInt64 // unshared: nothing is written but through the cache
	}
	return until - c.bound
}

// waitConfirmed waits until the feed has confirmed as of arrival, and
// reports whether it did within the staleness bound after arrival (and
// before ctx was done).
func (c *Store) waitConfirmed(ctx context.Context, arrival int64) bool {
	var timer *time.Timer
	for {
		ch := *c.members.confirmed.Load() // before the check: a confirmation after it closes ch
		if c.confirmedAsOf() >= arrival {
			return true
		}
		left := arrival + c.bound - c.now()
		if left <= 0 {
			return false
		}
		if timer == nil {
			timer = time.NewTimer(time.Duration(left))
			defer timer.Stop()
		}
		select {
		case <-ch:
		case <-timer.C:
			return c.confirmedAsOf() >= arrival
		case <-ctx.Done():
			return false
		}
	}
}

var (
	// errUnconfirmed answers a lookup of a hash not in the set when the
	// feed does not confirm in time: the key may have been created
	// elsewhere, and the cache cannot say that it does not exist.
	errUnconfirmed = keyward.Errorf(keyward.EUNAVAILABLE, "cannot tell whether the key exists: changes made elsewhere are not reaching this instance; try again")
	// errUnknownRefused refuses, under keyward.WithKnownKeysOnly, a
	// lookup of a hash the cache knows nothing of.
	errUnknownRefused = keyward.Errorf(keyward.ETHROTTLED, "too many failed requests: only keys known to exist are answered; try again later")
)

// unknown answers a lookup of h that missed the cache and whose
// fingerprint fp is not in the complete set; arrival is when the lookup
// came, and gen is h's shard's generation then.
func (c *Store) unknown(ctx context.Context, sh *shard, h keyward.SecretHash, fp uint64, gen uint64, arrival int64, trusted bool) (*keyward.Key, error) {
	m := &c.members
	if c.confirmedAsOf() >= arrival {
		m.fromMemory.Add(1)
		return nil, errNotFound
	}
	if m.bucket.take(arrival) {
		// Perhaps a key created a moment ago elsewhere: read it now.
		m.lookups.Add(1)
		var epoch uint64
		if !trusted {
			epoch = 1 + uint64(arrival/c.bound)
		}
		return c.load(ctx, sh, h, gen, epoch)
	}
	m.waits.Add(1)
	if !c.waitConfirmed(ctx, arrival) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("key lookup: %w", err)
		}
		m.unavailable.Add(1)
		return nil, errUnconfirmed
	}
	// Every key acknowledged before the request came has reached the set.
	sh.mu.Lock()
	in := sh.members.has(fp)
	gen = sh.gen
	sh.mu.Unlock()
	if !in && m.complete() {
		m.fromMemory.Add(1)
		return nil, errNotFound
	}
	// Created meanwhile, or the feed reset and the set is being reloaded:
	// the store answers, as for any miss.
	c.misses.Add(1)
	return c.load(ctx, sh, h, gen, 0)
}

// tokenBucket bounds the store lookups of unknown hashes: a generic cell
// rate algorithm on one atomic, so that taking a token costs no lock.
type tokenBucket struct {
	interval  int64 // nanoseconds per token; 0: no tokens ever
	tolerance int64 // (burst-1) * interval
	tat       atomic.Int64
}

// init gives the bucket perSecond tokens a second (none if negative), with
// a burst of a tenth of a second's worth, at least one.
func (b *tokenBucket) init(perSecond int) {
	b.tat.Store(math.MinInt64 / 2) // full, whatever the clock reads
	if perSecond <= 0 {
		return
	}
	b.interval = int64(time.Second) / int64(perSecond)
	burst := max(1, int64(perSecond)/10)
	b.tolerance = (burst - 1) * b.interval
}

// take takes a token at now, if there is one.
func (b *tokenBucket) take(now int64) bool {
	if b.interval == 0 {
		return false
	}
	for {
		tat := b.tat.Load()
		if tat > now+b.tolerance {
			return false
		}
		if b.tat.CompareAndSwap(tat, max(tat, now)+b.interval) {
			return true
		}
	}
}

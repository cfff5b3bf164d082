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
//   - With Options.Members, the cache keeps a set of every secret hash the
//     store holds, so that made-up keys, however many and however well
//     formed, reach the store at most Options.UnknownLookups times a
//     second, while a key created a moment ago on another instance still
//     verifies at once (members.go says how).
//   - With Options.Fill, the cache reads the store's live keys into itself
//     after each load of that set, at start and after every reset of the
//     feed, until it is full (fill.go): a restart does not send every
//     key's first verification to the store.
//   - A delete through the cache forgets the key before it returns.
//     Changes made by other processes arrive through the store's
//     invalidation feed (keyward.InvalidationFeed); the cache hears it as a
//     keyward.InvalidationWatcher.
//   - Staleness is bounded: the cache answers from memory only while the
//     feed has confirmed, within Options.StalenessBound, that every change
//     made anywhere has reached it. When the feed falls silent (a partition,
//     a lost connection), every lookup of a key reads the store, and one the
//     store cannot answer fails: a key changed elsewhere is never trusted
//     for longer than the bound, whatever the network does. (A hash
//     remembered as unknown is still refused from memory: that answer can
//     only refuse.)
//
// The cache must not make the latency tail worse. A Go heap of a million
// pointer-rich records costs tens of milliseconds of garbage-collection work
// at the p99, so records here hold no pointers: each shard keeps fixed-size
// slots in one slice, an index table of integers (index.go), and the
// variable-length text (organization, name, hint, permissions, rate limits
// and credits) in one byte arena. The garbage collector sees a handful of
// pointers per shard, whatever the entry count.
package keycache

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
	"golang.org/x/sync/singleflight"
)

// Defaults for Options.
const (
	DefaultSize           = 100_000
	DefaultTTL            = 5 * time.Minute
	DefaultNegativeTTL    = 5 * time.Second
	DefaultStalenessBound = time.Second
	DefaultLoadTimeout    = keyward.DefaultLookupTimeout
)

// Options configure a cache. Zero values take the defaults.
type Options struct {
	// Size bounds the number of keys cached.
	Size int
	// TTL bounds how long a key is served from memory before it is looked
	// up again, whatever the feed says: a last line of defence.
	TTL time.Duration
	// NegativeSize bounds the number of unknown hashes remembered; by
	// default a quarter of Size.
	NegativeSize int
	// NegativeTTL is how long an unknown hash is remembered.
	NegativeTTL time.Duration
	// LoadTimeout bounds one store lookup shared by several requests (it
	// cannot use any one request's context).
	LoadTimeout time.Duration
	// StalenessBound is the longest a change made by another process may
	// go unseen: the cache answers from memory only until this long after
	// the invalidation feed's last confirmation (see Confirm).
	StalenessBound time.Duration
	// Unshared declares that nothing but this cache writes to the store,
	// so that what it holds is trusted without a feed. It is for a store
	// that only this process can open (tests, an embedded store); a store
	// that other processes share needs a feed.
	Unshared bool
	// Members keeps the membership set of every secret hash stored
	// (members.go), loaded whenever the feed resets the cache (or, when
	// Unshared, by LoadMembers), so that unknown hashes do not reach the
	// store. Its memory is about 16 bytes per key stored.
	Members bool
	// UnknownLookups bounds the store lookups a second, made at once, of
	// hashes not in the membership set (DefaultUnknownLookups if zero,
	// none if negative), with a burst of a tenth of a second's worth.
	// Past it, such a lookup waits for the feed instead (members.go).
	UnknownLookups int
	// Fill reads the store's live keys into the cache after each load of
	// the membership set (so needs Members), until the cache is full
	// (fill.go): a restart does not send every key's first verification
	// to the store.
	Fill bool
	// Logger hears when the membership set is loaded, or cannot be, and
	// when the cache is filled (nil: nothing is logged).
	Logger *slog.Logger
}

// Store is a keyward.KeyStore whose KeyByHash is served from the cache. A
// key it returns carries no LastUsedAt (that is the store's to report). It
// forwards every other method to the wrapped store, each one explicitly:
// a method added to keyward.KeyStore does not compile here until it is
// decided whether it changes a verify answer and must invalidate.
//
// It is the keyward.InvalidationWatcher of the store's feed: run the feed
// with it, or nothing it holds is trusted (see Options.StalenessBound).
type Store struct {
	store       keyward.KeyStore
	shards      []shard
	mask        uint64
	ttl, negTTL int64 // nanoseconds
	bound       int64 // nanoseconds
	loadTimeout time.Duration
	start       time.Time    // the zero of now, with its monotonic reading
	now         func() int64 // monotonic nanoseconds since start
	// trustedUntil is the now() until which cached answers may be given:
	// the feed's last confirmation plus the bound. Only ever raised.
	trustedUntil atomic.Int64

	group singleflight.Group

	hits, negHits, misses, bypasses, loads, evictions atomic.Uint64

	members membership // the membership set's state (members.go)

	fillOn bool          // Options.Fill (fill.go)
	warm   sync.Once     // closes warmed
	warmed chan struct{} // closed once the first fill has ended, or at once without Fill
}

var (
	_ keyward.KeyStore            = (*Store)(nil)
	_ keyward.InvalidationWatcher = (*Store)(nil)
)

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
		opt.LoadTimeout = DefaultLoadTimeout
	}
	if opt.StalenessBound <= 0 {
		opt.StalenessBound = DefaultStalenessBound
	}
	// Many shards keep lock contention away; a small cache gets one shard
	// so that its bound is exact.
	n := 1
	for n < 64 && opt.Size/(n*2) >= 256 {
		n *= 2
	}
	start := time.Now()
	c := &Store{
		store:       store,
		shards:      make([]shard, n),
		mask:        uint64(n - 1),
		ttl:         int64(opt.TTL),
		negTTL:      int64(opt.NegativeTTL),
		bound:       int64(opt.StalenessBound),
		loadTimeout: opt.LoadTimeout,
		start:       start,
		now:         func() int64 { return int64(time.Since(start)) },
	}
	if opt.Unshared {
		c.trustedUntil.Store(math.MaxInt64)
	}
	c.members.init(opt)
	c.fillOn = opt.Fill && opt.Members
	c.warmed = make(chan struct{})
	if !c.fillOn {
		c.fillDone()
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

func (c *Store) shard(h keyward.SecretHash) *shard { return &c.shards[c.shardIndex(h)] }

// shardIndex is the index of h's shard.
func (c *Store) shardIndex(h keyward.SecretHash) uint64 {
	return binary.LittleEndian.Uint64(h[8:16]) & c.mask
}

// KeyByHash returns the live key with hash h, from memory when it is
// there and the feed is confirmed, or else from one store lookup shared by
// all concurrent callers. While the feed is not confirmed, a hash
// remembered as unknown is still answered from memory: that answer refuses
// a key, which a change made elsewhere can only make wrong the safe way.
// A hash that is in no key's set (Options.Members) is answered as
// members.go says. Under keyward.WithKnownKeysOnly, a lookup of a hash
// neither cached, nor remembered as unknown, nor in the complete set is
// refused at once with ETHROTTLED.
func (c *Store) KeyByHash(ctx context.Context, h keyward.SecretHash) (*keyward.Key, error) {
	sh := c.shard(h)
	now := c.now()
	trusted := now < c.trustedUntil.Load()
	var fp uint64
	member := true
	sh.mu.Lock()
	k, found, known := sh.get(h, now)
	gen := sh.gen
	if !known && c.members.on {
		fp = c.fingerprint(h)
		member = sh.members.has(fp)
	}
	sh.mu.Unlock()
	if found && trusted {
		c.hits.Add(1)
		return k, nil
	}
	complete := c.members.complete() // off the hit path: two atomic loads
	switch {
	case known && !found:
		c.negHits.Add(1)
		return nil, errNotFound
	case !found && !(complete && member) && keyward.KnownKeysOnly(ctx):
		c.members.refusals.Add(1)
		return nil, errUnknownRefused
	case !found && complete:
		if !member {
			c.members.misses.Add(1)
			return c.unknown(ctx, sh, h, fp, gen, now, trusted)
		}
		c.members.hits.Add(1)
	}
	if !trusted {
		c.bypasses.Add(1)
		return c.load(ctx, sh, h, gen, 1+uint64(now/c.bound))
	}
	c.misses.Add(1)
	return c.load(ctx, sh, h, gen, 0)
}

var errNotFound = keyward.Errorf(keyward.ENOTFOUND, "key not found")

// loaded is the shared result of one lookup.
type loaded struct {
	key *keyward.Key
}

// load looks h up in the store, once for all concurrent callers, and
// caches the answer unless h's shard was invalidated since gen (read when
// the lookup was decided): a key invalidated while it was being loaded is
// not put back from a read older than the change, and after a Reset
// nothing read before it is kept.
//
// A caller that the feed does not vouch for (epoch is not 0) must not take
// the answer of a lookup that began long before it came: that lookup may
// have read the key before a delete made elsewhere, which no invalidation
// has yet reported. It joins only lookups begun in the same span of the
// staleness bound as it came (epoch is 1 + now/bound), so that any answer
// it gets was read at most a bound before it asked.
//
// An answer read while the feed is not confirmed is cached all the same:
// it is as fresh as the store, and the invalidations that follow it reach
// the cache, in order, before the feed confirms again.
func (c *Store) load(ctx context.Context, sh *shard, h keyward.SecretHash, gen, epoch uint64) (*keyward.Key, error) {
	// Requests that arrive after an invalidation do not join a lookup that
	// began before it: the generation is part of the flight's name.
	var name [48]byte
	copy(name[:32], h[:])
	binary.LittleEndian.PutUint64(name[32:], gen)
	binary.LittleEndian.PutUint64(name[40:], epoch)
	ch := c.group.DoChan(string(name[:]), func() (any, error) {
		c.loads.Add(1)
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.loadTimeout)
		defer cancel()
		k, err := c.store.KeyByHash(lctx, h)
		notFound := keyward.ErrorCode(err) == keyward.ENOTFOUND
		if err != nil && !notFound {
			return nil, err
		}
		sh.mu.Lock()
		if now := c.now(); sh.gen == gen {
			if notFound {
				sh.putNegative(h, now+c.negTTL)
			} else if sh.put(h, k, now+c.ttl, now) {
				c.evictions.Add(1)
			}
		}
		sh.mu.Unlock()
		if notFound {
			return loaded{}, nil
		}
		// The store vouches that h exists: should the set have missed it
		// (a key imported in bulk, which travels no feed), it has it now.
		c.addMembers(h)
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
		k := l.key.Clone() // nil slices stay nil
		k.LastUsedAt = nil
		return k, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("key lookup: %w", ctx.Err())
	}
}

// CreateKey stores k and forgets any earlier "unknown" answer for its
// hashes, which join the membership set: whether or not the store
// acknowledged the create (its outcome may be unknown), so that the next
// request here finds the key if it was made.
func (c *Store) CreateKey(ctx context.Context, k *keyward.Key, ev *keyward.AuditEvent) error {
	err := c.store.CreateKey(ctx, k, ev)
	c.created(k, err)
	return err
}

// created notes the create of k, which failed with err or not.
func (c *Store) created(k *keyward.Key, err error) {
	if k == nil {
		return
	}
	c.addMembers(k.Hashes()...)
	if err == nil {
		for _, h := range k.Hashes() {
			c.Invalidate(h)
		}
	}
}

// CreateKeyIdempotent stores k and the record of the write that made it,
// as CreateKey does.
func (c *Store) CreateKeyIdempotent(ctx context.Context, k *keyward.Key, rec *keyward.IdempotencyRecord, ev *keyward.AuditEvent) error {
	err := c.store.CreateKeyIdempotent(ctx, k, rec, ev)
	c.created(k, err)
	return err
}

// IdempotencyRecord reads the store: records change no verify answer.
func (c *Store) IdempotencyRecord(ctx context.Context, id [32]byte) (*keyward.IdempotencyRecord, error) {
	return c.store.IdempotencyRecord(ctx, id)
}

// PruneIdempotencyRecords removes expired records from the store.
func (c *Store) PruneIdempotencyRecords(ctx context.Context, expiredBefore time.Time, limit int) (int, error) {
	return c.store.PruneIdempotencyRecords(ctx, expiredBefore, limit)
}

// BootstrapRootKey stores k if the store is new, as CreateKey does.
func (c *Store) BootstrapRootKey(ctx context.Context, k *keyward.Key, ev *keyward.AuditEvent) (bool, error) {
	ok, err := c.store.BootstrapRootKey(ctx, k, ev)
	if ok || err != nil {
		c.created(k, err)
	}
	return ok, err
}

// UpdateKey changes the key in the store and, before returning, forgets
// it under every hash it had before the change and has after, so that the
// next request here sees the change; the store's invalidation feed tells
// the other instances. It forgets them also when the update fails after
// reaching the store: a write whose outcome is unknown (a timeout at
// commit) may have happened.
func (c *Store) UpdateKey(ctx context.Context, org keyward.OrgID, id keyward.KeyID, update keyward.KeyUpdate) (*keyward.Key, error) {
	var seen []keyward.SecretHash // every hash of every version update saw
	k, err := c.store.UpdateKey(ctx, org, id, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
		seen = append(seen, old.Hashes()...)
		nk, ev, err := update(old)
		if err == nil {
			seen = append(seen, nk.Hashes()...)
		}
		return nk, ev, err
	})
	if k != nil {
		seen = append(seen, k.Hashes()...)
	}
	for _, h := range seen {
		c.Invalidate(h)
	}
	return k, err
}

// ListAuditEvents reads the store.
func (c *Store) ListAuditEvents(ctx context.Context, f keyward.AuditFilter) ([]*keyward.AuditEvent, error) {
	return c.store.ListAuditEvents(ctx, f)
}

// PruneAuditEvents removes old audit events from the store.
func (c *Store) PruneAuditEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	return c.store.PruneAuditEvents(ctx, before, limit)
}

// Key reads the store: the management API's reads are not cached.
func (c *Store) Key(ctx context.Context, org keyward.OrgID, id keyward.KeyID) (*keyward.Key, error) {
	return c.store.Key(ctx, org, id)
}

// KeyByID reads the store.
func (c *Store) KeyByID(ctx context.Context, id keyward.KeyID) (*keyward.Key, error) {
	return c.store.KeyByID(ctx, id)
}

// ListKeys reads the store.
func (c *Store) ListKeys(ctx context.Context, f keyward.KeyFilter) ([]*keyward.Key, error) {
	return c.store.ListKeys(ctx, f)
}

// PruneDeletedKeys removes deleted keys' records from the store: a key
// already deleted has no verify answer to change.
func (c *Store) PruneDeletedKeys(ctx context.Context, deletedBefore time.Time, limit int) (int, error) {
	return c.store.PruneDeletedKeys(ctx, deletedBefore, limit)
}

// TouchKeys records uses in the store; a key's last use is not part of a
// verify answer, and cached keys carry none.
func (c *Store) TouchKeys(ctx context.Context, uses []keyward.KeyUse) error {
	return c.store.TouchKeys(ctx, uses)
}

// RecordUsage records uses and verification counts in the store; neither
// is part of a verify answer.
func (c *Store) RecordUsage(ctx context.Context, uses []keyward.KeyUse, counts []keyward.UsageCount) error {
	return c.store.RecordUsage(ctx, uses, counts)
}

// KeyUsage reads a key's verification counts from the store: they are
// not cached.
func (c *Store) KeyUsage(ctx context.Context, id keyward.KeyID, since, until time.Time) ([]keyward.UsageCount, error) {
	return c.store.KeyUsage(ctx, id, since, until)
}

// PruneKeyUsage removes old verification counts from the store.
func (c *Store) PruneKeyUsage(ctx context.Context, before time.Time, limit int) (int, error) {
	return c.store.PruneKeyUsage(ctx, before, limit)
}

// SpendCredits spends credits in the store: what a key has left is not
// cached (a spend is no change to the key, and nothing is invalidated).
func (c *Store) SpendCredits(ctx context.Context, id keyward.KeyID, cost int64, now time.Time) (keyward.CreditSpend, error) {
	return c.store.SpendCredits(ctx, id, cost, now)
}

// LiveKeys reads the store: it is what the cache is filled from.
func (c *Store) LiveKeys(ctx context.Context, after keyward.KeyID, limit int) ([]*keyward.Key, error) {
	return c.store.LiveKeys(ctx, after, limit)
}

// SecretHashes reads the store: it is what the membership set is loaded
// from, not an answer the cache could give.
func (c *Store) SecretHashes(ctx context.Context, each func(keyward.SecretHash)) error {
	return c.store.SecretHashes(ctx, each)
}

// Ping pings the store.
func (c *Store) Ping(ctx context.Context) error { return c.store.Ping(ctx) }

// Close stops loading the membership set (StopLoading) and closes the
// wrapped store.
func (c *Store) Close() error {
	c.StopLoading()
	return c.store.Close()
}

// Invalidate forgets whatever the cache knows of hash h, and adds h to the
// membership set: a hash the feed names may be a new key's.
func (c *Store) Invalidate(h keyward.SecretHash) {
	sh := c.shard(h)
	var fp uint64
	if c.members.on {
		fp = c.fingerprint(h)
	}
	sh.mu.Lock()
	sh.gen++
	sh.remove(h)
	if c.members.on {
		sh.members.add(fp)
	}
	sh.mu.Unlock()
}

// Reset forgets everything, and keeps no answer of a lookup that began
// before it: invalidations may have been missed. The membership set may
// have missed creates: it is complete again once it has been loaded anew,
// which Reset starts in the background.
func (c *Store) Reset() {
	c.members.epoch.Add(1)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.gen++
		sh.reset()
		sh.mu.Unlock()
	}
	c.reloadMembers()
}

// Confirm trusts what the cache holds until the staleness bound after
// asOf: the feed has passed on every invalidation committed before asOf.
// asOf must carry a monotonic clock reading (time.Now does).
func (c *Store) Confirm(asOf time.Time) { c.confirmAt(int64(asOf.Sub(c.start))) }

// confirmAt is Confirm with asOf on the cache's clock (c.now).
func (c *Store) confirmAt(asOf int64) {
	until := asOf + c.bound
	for {
		cur := c.trustedUntil.Load()
		if until <= cur {
			return
		}
		if c.trustedUntil.CompareAndSwap(cur, until) {
			c.members.wakeWaiters()
			return
		}
	}
}

// Trusted reports whether the cache answers from memory now: the feed
// confirmed within the staleness bound, or the store is unshared.
func (c *Store) Trusted() bool { return c.now() < c.trustedUntil.Load() }

// Confirmed returns the latest time the feed has confirmed (see Confirm),
// or the zero time if it never has, or the store is unshared.
func (c *Store) Confirmed() time.Time {
	until := c.trustedUntil.Load()
	if until == 0 || until == math.MaxInt64 {
		return time.Time{}
	}
	return c.start.Add(time.Duration(until - c.bound))
}

// Stats are the cache's counters since it was made.
type Stats struct {
	Entries   int    // keys cached now
	Negatives int    // unknown hashes remembered now
	Hits      uint64 // lookups answered with a cached key
	NegHits   uint64 // lookups answered with a remembered "unknown"
	Misses    uint64 // lookups that went to a shared store lookup
	Bypasses  uint64 // lookups that went to the store as the feed was not confirmed
	Loads     uint64 // store lookups made (at most Misses+Bypasses+UnknownLookups)
	Evictions uint64 // keys pushed out to make room

	// The membership set (Options.Members).
	Members          int    // hashes in the set (fingerprints: a few may stand for two)
	MemberBytes      int    // memory of the set's tables
	MembersComplete  bool   // loaded since the feed's last reset: unknown hashes are answered from it
	MemberLoads      uint64 // loads of the set finished
	MemberLoadErrors uint64 // loads of the set that failed (tried again)
	MemberHits       uint64 // misses of the cache whose hash is in the set: read from the store
	MemberMisses     uint64 // misses whose hash is in no key's set: one of the next four
	// UnknownFromMemory: answered "unknown" from the set, as the feed had
	// confirmed past the request.
	UnknownFromMemory uint64
	// UnknownLookups: read from the store at once, with a token of the
	// bucket (Options.UnknownLookups).
	UnknownLookups uint64
	// UnknownWaits: waited for the feed to confirm past the request's
	// arrival (then answered from the set, or UnknownUnavailable).
	UnknownWaits uint64
	// UnknownUnavailable: refused with EUNAVAILABLE, as the feed did not
	// confirm within the staleness bound.
	UnknownUnavailable uint64
	// UnknownRefused: lookups under keyward.WithKnownKeysOnly of hashes
	// the cache knows nothing of, refused with ETHROTTLED.
	UnknownRefused uint64
}

// Stats returns the cache's counters.
func (c *Store) Stats() Stats {
	m := &c.members
	s := Stats{
		Hits: c.hits.Load(), NegHits: c.negHits.Load(), Misses: c.misses.Load(),
		Bypasses: c.bypasses.Load(), Loads: c.loads.Load(), Evictions: c.evictions.Load(),
		MembersComplete: m.complete(), MemberLoads: m.loads.Load(), MemberLoadErrors: m.loadErrors.Load(),
		MemberHits: m.hits.Load(), MemberMisses: m.misses.Load(),
		UnknownFromMemory: m.fromMemory.Load(), UnknownLookups: m.lookups.Load(), UnknownWaits: m.waits.Load(),
		UnknownUnavailable: m.unavailable.Load(), UnknownRefused: m.refusals.Load(),
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		s.Entries += sh.index.len()
		s.Negatives += len(sh.neg)
		s.Members += sh.members.n
		s.MemberBytes += 8 * len(sh.members.table)
		sh.mu.Unlock()
	}
	return s
}

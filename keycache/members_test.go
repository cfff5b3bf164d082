package keycache_test

import (
	"context"
	"crypto/rand"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keycache"
)

// madeUp returns the hash of a made-up key: well-formed, stored nowhere.
func madeUp() keyward.SecretHash { return keyward.NewSecret().Hash() }

// waitComplete waits until the cache's membership set is complete.
func waitComplete(t *testing.T, c *keycache.Store) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !c.Stats().MembersComplete {
		if time.Now().After(deadline) {
			t.Fatalf("membership set not complete after %v: %+v", patience, c.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// newMembersEnv is a cache with a membership set in front of a gated
// SQLite store, as serve runs it: shared, confirmed by hand, its set
// loaded by a Reset (as a feed's start does). keys are stored first.
func newMembersEnv(t *testing.T, opt keycache.Options, keys ...*keyward.Key) *env {
	t.Helper()
	opt.Members = true
	e := newSharedEnv(t, opt)
	for _, k := range keys {
		e.add(t, k)
	}
	e.cache.Reset()
	waitComplete(t, e.cache)
	t.Cleanup(func() { e.cache.Close() })
	return e
}

// lookupCode looks h up and returns the error's code ("" for a key).
func (e *env) lookupCode(ctx context.Context, h keyward.SecretHash) string {
	_, err := e.cache.KeyByHash(ctx, h)
	return keyward.ErrorCode(err)
}

// The set is loaded from the store with every hash, current and previous,
// live and deleted; a hash in it is read from the store, one not in it
// is answered from memory once the feed has confirmed past the request.
func TestMembersAnswerUnknownFromMemory(t *testing.T) {
	live := newKey("acme", "live", keyward.PermRead)
	rotated := newKey("acme", "rotated", keyward.PermRead)
	rotated.Previous = &keyward.PreviousSecret{Hash: madeUp(), ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)}
	e := newMembersEnv(t, keycache.Options{UnknownLookups: -1}, live, rotated)
	if s := e.cache.Stats(); s.Members != 3 || s.MemberLoads != 1 {
		t.Fatalf("after the load: %+v; want 3 hashes in the set, 1 load", s)
	}
	keycache.ConfirmAt(e.cache, e.clock.now())

	for _, h := range []keyward.SecretHash{live.Hash, rotated.Hash, rotated.Previous.Hash} {
		if _, err := e.cache.KeyByHash(t.Context(), h); err != nil {
			t.Fatalf("a stored hash: %v", err)
		}
		e.wantCalls(t, h, 1)
	}
	unknown := madeUp()
	for range 3 {
		if code := e.lookupCode(t.Context(), unknown); code != keyward.ENOTFOUND {
			t.Fatalf("a made-up hash: %q, want %s", code, keyward.ENOTFOUND)
		}
	}
	e.wantCalls(t, unknown, 0)
	s := e.cache.Stats()
	if s.MemberHits != 3 || s.MemberMisses != 3 || s.UnknownFromMemory != 3 || s.Loads != 3 || s.UnknownWaits != 0 {
		t.Errorf("Stats = %+v; want 3 member hits and 3 loads for the keys, 3 made-up hashes answered from memory without waiting", s)
	}
}

// A request that comes after the feed's last confirmation waits for the
// next one, and is answered from the set then: a key created elsewhere
// before the request, whose news the feed brings with that confirmation,
// is found; a made-up one is not, and costs the store nothing.
func TestMembersWaitForConfirmationPastArrival(t *testing.T) {
	e := newMembersEnv(t, keycache.Options{UnknownLookups: -1})
	keycache.ConfirmAt(e.cache, e.clock.now())
	e.clock.advance(time.Millisecond) // the requests come after the confirmation

	elsewhere := e.add(t, newKey("acme", "created elsewhere", keyward.PermRead))
	unknown := madeUp()
	found := e.goGet(t.Context(), elsewhere.Hash)
	notFound := e.goGet(t.Context(), unknown)
	waitFor(t, "two waits", func() bool { return e.cache.Stats().UnknownWaits == 2 })

	// A confirmation of a time before the requests came wakes them, but
	// does not answer them.
	keycache.ConfirmAt(e.cache, e.clock.now()-int64(time.Microsecond))
	select {
	case r := <-found:
		t.Fatalf("answered on a confirmation older than the request: %v", r.err)
	case r := <-notFound:
		t.Fatalf("answered on a confirmation older than the request: %v", r.err)
	case <-time.After(20 * time.Millisecond):
	}

	// The feed passes the create on, then confirms.
	e.cache.Invalidate(elsewhere.Hash)
	keycache.ConfirmAt(e.cache, e.clock.now())
	if r := await(t, found); r.err != nil {
		t.Fatalf("a key created elsewhere before the request: %v", r.err)
	} else {
		checkKey(t, r.key, e.stored(t, elsewhere.Hash))
	}
	if r := await(t, notFound); keyward.ErrorCode(r.err) != keyward.ENOTFOUND {
		t.Fatalf("a made-up key: %v, want %s", r.err, keyward.ENOTFOUND)
	}
	e.wantCalls(t, unknown, 0)
	e.wantCalls(t, elsewhere.Hash, 1)
	if s := e.cache.Stats(); s.UnknownFromMemory != 1 || s.UnknownUnavailable != 0 {
		t.Errorf("Stats = %+v; want 1 unknown answered from memory", s)
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", patience, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// The bucket pays for store lookups of unknown hashes at once, at its rate
// and no faster: a key created a moment ago elsewhere verifies without
// waiting for the feed, while the bucket has tokens.
func TestMembersBucket(t *testing.T) {
	const rate = 20 // a second: a burst of 2, one token each 50ms
	e := newMembersEnv(t, keycache.Options{UnknownLookups: rate})
	keycache.ConfirmAt(e.cache, e.clock.now())
	e.clock.advance(time.Millisecond)

	elsewhere := e.add(t, newKey("acme", "created elsewhere", keyward.PermRead))
	if _, err := e.cache.KeyByHash(t.Context(), elsewhere.Hash); err != nil {
		t.Fatalf("a key created elsewhere a moment ago, with a token: %v", err)
	}
	if code := e.lookupCode(t.Context(), madeUp()); code != keyward.ENOTFOUND {
		t.Fatalf("a made-up key, with the second token: %q", code)
	}
	// The bucket is empty: the next waits (for a confirmation the test
	// gives once it waits).
	third := e.goGet(t.Context(), madeUp())
	waitFor(t, "a wait", func() bool { return e.cache.Stats().UnknownWaits == 1 })
	keycache.ConfirmAt(e.cache, e.clock.now())
	if r := await(t, third); keyward.ErrorCode(r.err) != keyward.ENOTFOUND {
		t.Fatalf("a made-up key, after the wait: %v", r.err)
	}
	// A token comes back every 1/rate.
	e.clock.advance(time.Second / rate)
	if code := e.lookupCode(t.Context(), madeUp()); code != keyward.ENOTFOUND {
		t.Fatalf("a made-up key, with a new token: %q", code)
	}
	s := e.cache.Stats()
	if s.UnknownLookups != 3 || s.UnknownWaits != 1 || s.Loads != 3 {
		t.Errorf("Stats = %+v; want 3 lookups paid by the bucket (3 loads), 1 wait", s)
	}
	// The key the store found joined the set (the feed may never bring
	// it: a bulk import travels none); the made-up ones did not.
	if s.Members != 1 {
		t.Errorf("%d hashes in the set, want the one key found", s.Members)
	}
}

// If the feed does not confirm past the request within the staleness
// bound (a partition), the answer is EUNAVAILABLE: the key may have been
// created elsewhere, so "unknown" would be a guess.
func TestMembersUnavailableWhenFeedSilent(t *testing.T) {
	const bound = 100 * time.Millisecond
	e := newMembersEnv(t, keycache.Options{UnknownLookups: -1, StalenessBound: bound})
	keycache.ConfirmAt(e.cache, e.clock.now())
	e.clock.advance(time.Millisecond)
	unknown := madeUp()
	start := time.Now()
	_, err := e.cache.KeyByHash(t.Context(), unknown)
	if keyward.ErrorCode(err) != keyward.EUNAVAILABLE {
		t.Fatalf("a made-up key with the feed silent: %v, want %s", err, keyward.EUNAVAILABLE)
	}
	if waited := time.Since(start); waited < bound/2 || waited > patience {
		t.Errorf("waited %v; want about the bound, %v", waited, bound)
	}
	e.wantCalls(t, unknown, 0)

	// The request's context bounds the wait too.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := e.cache.KeyByHash(ctx, madeUp()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with the request's context ending first: %v, want its error", err)
	}
	if s := e.cache.Stats(); s.UnknownUnavailable != 1 || s.UnknownWaits != 2 || s.UnknownFromMemory != 0 {
		t.Errorf("Stats = %+v; want 2 waits, 1 unavailable", s)
	}
}

// Until the set is loaded, and after the feed resets the cache until it is
// loaded again, lookups go to the store as without a set; the reload
// takes in the keys created meanwhile, which the feed may have missed.
func TestMembersBeforeLoadAndAfterReset(t *testing.T) {
	e := newSharedEnv(t, keycache.Options{Members: true, UnknownLookups: -1})
	t.Cleanup(func() { e.cache.Close() })
	keycache.ConfirmAt(e.cache, e.clock.now())
	unknown := madeUp()
	if code := e.lookupCode(t.Context(), unknown); code != keyward.ENOTFOUND {
		t.Fatalf("before the load: %q", code)
	}
	e.wantCalls(t, unknown, 1)

	missed := e.add(t, newKey("acme", "created while the feed was down", keyward.PermRead))
	e.cache.Reset()
	waitComplete(t, e.cache)
	keycache.ConfirmAt(e.cache, e.clock.now())
	e.clock.advance(time.Millisecond)
	if _, err := e.cache.KeyByHash(t.Context(), missed.Hash); err != nil {
		t.Fatalf("a key the feed missed, after the reload: %v", err)
	}
	if s := e.cache.Stats(); s.MemberLoads != 1 || s.MemberHits != 1 {
		t.Errorf("Stats = %+v; want 1 load of the set, the key found in it", s)
	}
}

// The cache's own writes put their keys in the set, acknowledged or not:
// an unshared cache, whose set nothing else feeds, finds them at once.
func TestMembersOwnWrites(t *testing.T) {
	e := newEnv(t, keycache.Options{Members: true, UnknownLookups: -1})
	before := e.add(t, newKey("acme", "before", keyward.PermRead))
	if err := e.cache.LoadMembers(t.Context()); err != nil {
		t.Fatal(err)
	}
	k := newKey("acme", "through the cache", keyward.PermRead)
	if err := e.cache.CreateKey(t.Context(), k, nil); err != nil {
		t.Fatal(err)
	}
	root := newKey("", "root", keyward.AllPermissions...)
	if _, err := e.cache.BootstrapRootKey(t.Context(), root, nil); err != nil {
		t.Fatal(err)
	}
	next := keyward.NewSecret().Hash()
	if _, err := e.cache.UpdateKey(t.Context(), k.OrgID, k.ID, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
		old.Previous = &keyward.PreviousSecret{Hash: old.Hash, ExpiresAt: time.Now().Add(time.Hour)}
		old.Hash = next
		return old, nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]keyward.SecretHash{"stored before the load": before.Hash, "created": k.Hash, "rotated to": next} {
		if _, err := e.cache.KeyByHash(t.Context(), h); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Nothing else writes to an unshared store: an unknown hash is
	// answered from memory at once.
	unknown := madeUp()
	if code := e.lookupCode(t.Context(), unknown); code != keyward.ENOTFOUND {
		t.Fatalf("a made-up key: %q", code)
	}
	e.wantCalls(t, unknown, 0)
	// A key written behind the cache's back is, rightly, unknown to it.
	behind := e.add(t, newKey("acme", "behind", keyward.PermRead))
	if code := e.lookupCode(t.Context(), behind.Hash); code != keyward.ENOTFOUND {
		t.Fatalf("a key written behind an unshared cache: %q", code)
	}
}

// Under keyward.WithKnownKeysOnly, the cache answers what it knows: a
// cached key, a remembered unknown, and a hash in its set, read from the
// store as ever (a key not cached, or whose entry went stale); a hash it
// knows nothing of is refused with ETHROTTLED at once, with no lookup and
// no wait.
func TestKnownKeysOnly(t *testing.T) {
	const ttl = 10 * time.Second
	e := newMembersEnv(t, keycache.Options{TTL: ttl, UnknownLookups: -1})
	cached := e.add(t, newKey("acme", "cached", keyward.PermRead))
	cold := e.add(t, newKey("acme", "cold", keyward.PermRead))
	e.cache.Invalidate(cached.Hash) // as the feed passes the creates on
	e.cache.Invalidate(cold.Hash)
	keycache.ConfirmAt(e.cache, e.clock.now())
	e.get(t, cached.Hash)
	gone := madeUp()
	if code := e.lookupCode(t.Context(), gone); code != keyward.ENOTFOUND { // from the set
		t.Fatalf("a made-up key: %q", code)
	}
	e.clock.advance(time.Millisecond) // past the confirmation: a made-up key would wait

	ctx := keyward.WithKnownKeysOnly(t.Context())
	for name, h := range map[string]keyward.SecretHash{"a cached key": cached.Hash, "a key not cached": cold.Hash} {
		if k, err := e.cache.KeyByHash(ctx, h); err != nil {
			t.Fatalf("%s, known keys only: %v", name, err)
		} else {
			checkKey(t, k, e.stored(t, h))
		}
	}
	e.wantCalls(t, cold.Hash, 1)
	start := time.Now()
	unknown := madeUp()
	if code := e.lookupCode(ctx, unknown); code != keyward.ETHROTTLED {
		t.Errorf("a made-up key, known keys only: %q, want %s", code, keyward.ETHROTTLED)
	}
	if d := time.Since(start); d > keycache.DefaultStalenessBound/2 {
		t.Errorf("the refusal took %v: it waited", d)
	}
	e.wantCalls(t, unknown, 0)
	// A cached entry past its TTL is read again, as the key exists.
	e.clock.advance(ttl)
	keycache.ConfirmAt(e.cache, e.clock.now())
	if _, err := e.cache.KeyByHash(ctx, cached.Hash); err != nil {
		t.Errorf("a cached key past its TTL, known keys only: %v", err)
	}
	e.wantCalls(t, cached.Hash, 2)
	if s := e.cache.Stats(); s.UnknownRefused != 1 || s.UnknownWaits != 0 {
		t.Errorf("Stats = %+v; want 1 refusal, no wait", s)
	}

	// Without a complete set, only memory vouches for a key.
	bare := newSharedEnv(t, keycache.Options{})
	k := bare.add(t, newKey("acme", "k", keyward.PermRead))
	keycache.ConfirmAt(bare.cache, bare.clock.now())
	if code := bare.lookupCode(ctx, k.Hash); code != keyward.ETHROTTLED {
		t.Errorf("a key not cached, no set, known keys only: %q, want %s", code, keyward.ETHROTTLED)
	}
	bare.get(t, k.Hash)
	if _, err := bare.cache.KeyByHash(ctx, k.Hash); err != nil {
		t.Errorf("a cached key, no set, known keys only: %v", err)
	}
}

// A flood of distinct made-up keys from many goroutines reaches the store
// at most the bucket's burst plus its rate over the flood's length.
func TestMembersFloodBound(t *testing.T) {
	const rate = 50
	opt := keycache.Options{Members: true, UnknownLookups: rate, StalenessBound: 200 * time.Millisecond}
	e := newSharedEnv(t, opt)
	t.Cleanup(func() { e.cache.Close() })
	keycache.SetClock(e.cache, keycache.RealClock(e.cache)) // real time: the bucket refills as it goes
	real := e.add(t, newKey("acme", "real", keyward.PermRead))
	e.cache.Reset()
	waitComplete(t, e.cache)
	stop := make(chan struct{})
	confirmed := make(chan struct{})
	go func() { // a feed confirming every 20ms
		defer close(confirmed)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				e.cache.Confirm(time.Now())
			}
		}
	}()
	start := time.Now()
	errs := make(chan error, 64)
	for range 64 {
		go func() {
			for time.Since(start) < 500*time.Millisecond {
				if code := e.lookupCode(t.Context(), madeUp()); code != keyward.ENOTFOUND {
					errs <- errors.New(code)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 64 {
		if err := <-errs; err != nil {
			t.Fatalf("a made-up key: %v", err)
		}
	}
	elapsed := time.Since(start)
	if _, err := e.cache.KeyByHash(t.Context(), real.Hash); err != nil {
		t.Fatalf("the real key after the flood: %v", err)
	}
	close(stop)
	<-confirmed
	s := e.cache.Stats()
	bound := uint64(rate*elapsed.Seconds()) + rate/10 + 1
	t.Logf("%d made-up lookups in %v: %d store lookups (bound %d), %d from memory, %d waits", s.MemberMisses, elapsed, s.UnknownLookups, bound, s.UnknownFromMemory, s.UnknownWaits)
	if s.UnknownLookups > bound || s.Loads > bound+1 {
		t.Errorf("Stats = %+v; want at most %d store lookups", s, bound)
	}
}

// The set's memory at a million keys, as Stats reports it and as the heap
// sees it.
func TestMembersMemoryAtAMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("a million hashes")
	}
	const n = 1_000_000
	store := &hashesStore{n: n}
	var before, after runtime.MemStats
	c := keycache.New(store, keycache.Options{Members: true, Unshared: true, Size: n})
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := c.LoadMembers(t.Context()); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	s := c.Stats()
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("membership set of %d hashes: %d bytes of tables (%.1f bytes/hash); the heap grew by %d bytes (%.1f bytes/hash)",
		s.Members, s.MemberBytes, float64(s.MemberBytes)/n, heap, float64(heap)/n)
	if s.Members < n-10 || s.Members > n { // a few fingerprints may coincide
		t.Errorf("%d hashes in the set, want %d", s.Members, n)
	}
	if s.MemberBytes > 24*n {
		t.Errorf("the set takes %d bytes, over 24 per hash", s.MemberBytes)
	}
	runtime.KeepAlive(c)
}

// hashesStore yields n random hashes and nothing else.
type hashesStore struct {
	keyward.KeyStore
	n int
}

func (s *hashesStore) SecretHashes(ctx context.Context, each func(keyward.SecretHash)) error {
	var h keyward.SecretHash
	for range s.n {
		_, _ = rand.Read(h[:])
		each(h)
	}
	return nil
}

package keycache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keycache"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/storetest"
)

// patience bounds how long a test waits for something that must happen
// (a goroutine reaching a point, a blocked call returning). It only turns
// a hang into a failure; no result depends on it.
const patience = 30 * time.Second

// gatedStore is the real SQLite store with a KeyByHash that counts its
// calls and, on demand, holds them until released or fails them.
type gatedStore struct {
	keyward.KeyStore

	mu        sync.Mutex
	calls     map[keyward.SecretHash]int
	gate      chan struct{} // non-nil: KeyByHash waits for it to close
	readFirst bool          // read the store before waiting at the gate
	fail      error         // returned instead of the store's answer

	total   atomic.Int64
	entered chan keyward.SecretHash // one value per call, as it starts

	// duringLiveKeys, if set, runs in each LiveKeys call after the page
	// was read and before it is returned (fill_test.go).
	duringLiveKeys func()
}

func newGatedStore(s keyward.KeyStore) *gatedStore {
	return &gatedStore{
		KeyStore: s,
		calls:    make(map[keyward.SecretHash]int),
		entered:  make(chan keyward.SecretHash, 4096),
	}
}

func (s *gatedStore) KeyByHash(ctx context.Context, h keyward.SecretHash) (*keyward.Key, error) {
	s.mu.Lock()
	s.calls[h]++
	gate, readFirst, fail := s.gate, s.readFirst, s.fail
	s.mu.Unlock()
	s.total.Add(1)
	var (
		k   *keyward.Key
		err error
	)
	if readFirst {
		// A read that happens before whatever the test does while the
		// call is held: its answer is stale when the call returns. It is
		// made before the call says it entered, so that the test acts
		// only after it.
		k, err = s.KeyStore.KeyByHash(ctx, h)
	}
	select {
	case s.entered <- h:
	default: // nobody is counting this many
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		return nil, fail
	}
	if !readFirst {
		k, err = s.KeyStore.KeyByHash(ctx, h)
	}
	return k, err
}

// callsFor returns how many times KeyByHash was called with h.
func (s *gatedStore) callsFor(h keyward.SecretHash) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[h]
}

// hold makes KeyByHash calls from now on wait until the returned release
// is called (also at the end of the test). With readFirst, each call reads
// the store before it waits.
func (s *gatedStore) hold(t *testing.T, readFirst bool) (release func()) {
	t.Helper()
	gate := make(chan struct{})
	s.mu.Lock()
	s.gate, s.readFirst = gate, readFirst
	s.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			s.mu.Lock()
			s.gate, s.readFirst = nil, false
			s.mu.Unlock()
			close(gate)
		})
	}
	t.Cleanup(release)
	return release
}

func (s *gatedStore) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

// waitEntered waits until n more KeyByHash calls have started.
func (s *gatedStore) waitEntered(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(patience)
	for range n {
		select {
		case <-s.entered:
		case <-timeout:
			t.Fatalf("KeyByHash was not called %d times within %v", n, patience)
		}
	}
}

// fakeClock is the cache's clock under the test's control.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() int64              { return c.ns.Load() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// env is a cache in front of a gated, real SQLite store.
type env struct {
	db    *sqlite.DB
	store *gatedStore
	cache *keycache.Store
	clock *fakeClock
}

// newEnv opens a fresh SQLite database and puts a cache with options opt
// in front of it, as the store's only writer (Options.Unshared), so that it
// trusts what it holds without a feed. The cache's clock stands still
// until the test moves it.
func newEnv(t testing.TB, opt keycache.Options) *env {
	t.Helper()
	opt.Unshared = true
	return newSharedEnv(t, opt)
}

// newSharedEnv is newEnv with opt as given: unless opt.Unshared, the cache
// trusts what it holds only as the test confirms it (keycache.ConfirmAt).
func newSharedEnv(t testing.TB, opt keycache.Options) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() }) // a test may have closed it already
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	e := &env{db: db, store: newGatedStore(db), clock: &fakeClock{}}
	e.clock.ns.Store(int64(time.Hour)) // anything but zero
	e.cache = keycache.New(e.store, opt)
	keycache.SetClock(e.cache, e.clock.now)
	return e
}

// newKey returns a new, valid key of org (a root key if org is "").
func newKey(org keyward.OrgID, name string, perms ...keyward.Permission) *keyward.Key {
	return storetest.NewKey(org, storetest.Name(name), storetest.Permissions(perms...))
}

// newKeyWith returns a new, valid key of org, holding read, changed by f.
func newKeyWith(org keyward.OrgID, f func(k *keyward.Key)) *keyward.Key {
	k := newKey(org, "k", keyward.PermRead)
	f(k)
	return k
}

// add stores k directly in the database, bypassing the cache.
func (e *env) add(t testing.TB, k *keyward.Key) *keyward.Key {
	t.Helper()
	if err := e.db.CreateKey(context.Background(), k, nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return k
}

// addKeys stores n new keys of org "acme" directly in the database, with
// the lifecycle's fields varied among them: metadata of several sizes or
// none, a creator or none, an expiry or none, some disabled; and some
// with a rate limit, some with credits, with or without a refill.
func (e *env) addKeys(t testing.TB, n int) []*keyward.Key {
	t.Helper()
	keys := make([]*keyward.Key, n)
	base := time.Now().UTC().Truncate(time.Microsecond)
	for i := range keys {
		k := newKey("acme", fmt.Sprintf("key %d", i), keyward.PermRead, keyward.PermWrite)
		if i%3 > 0 {
			k.Metadata = fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("é", i%200))
		}
		switch i % 4 {
		case 1:
			k.CreatedBy = "cli"
		case 2, 3:
			k.CreatedBy = keyward.KeyID(1000 + i).String()
		}
		if i%5 == 0 {
			at := base.Add(time.Duration(i+1) * time.Hour)
			k.ExpiresAt = &at
		}
		k.Disabled = i%7 == 3
		if i%6 == 1 {
			k.RateLimits = []keyward.RateLimit{{Name: "requests", Limit: int64(100 + i), Duration: time.Minute}}
		}
		if i%4 == 2 {
			k.Credits = &keyward.Credits{Remaining: int64(i), RefilledAt: base}
			if i%8 == 2 {
				k.Credits.Refill = &keyward.Refill{Amount: 1000, Interval: keyward.RefillDaily}
			}
		}
		keys[i] = e.add(t, k)
	}
	return keys
}

// stored returns the store's own record of the key with hash h.
func (e *env) stored(t testing.TB, h keyward.SecretHash) *keyward.Key {
	t.Helper()
	k, err := e.db.KeyByHash(context.Background(), h)
	if err != nil {
		t.Fatalf("store KeyByHash: %v", err)
	}
	return k
}

// get looks h up through the cache and fails the test on an error.
func (e *env) get(t testing.TB, h keyward.SecretHash) *keyward.Key {
	t.Helper()
	k, err := e.cache.KeyByHash(context.Background(), h)
	if err != nil {
		t.Fatalf("KeyByHash: %v", err)
	}
	if k == nil {
		t.Fatal("KeyByHash returned no key and no error")
	}
	return k
}

// getNotFound looks h up through the cache and fails the test unless the
// answer is ENOTFOUND.
func (e *env) getNotFound(t testing.TB, h keyward.SecretHash) {
	t.Helper()
	k, err := e.cache.KeyByHash(context.Background(), h)
	if code := keyward.ErrorCode(err); code != keyward.ENOTFOUND {
		t.Fatalf("KeyByHash = %s, %v (code %q); want %s", describe(k), err, code, keyward.ENOTFOUND)
	}
	if k != nil {
		t.Fatalf("KeyByHash returned %s along with ENOTFOUND", describe(k))
	}
}

// wantCalls fails the test unless the store was asked for h n times.
func (e *env) wantCalls(t testing.TB, h keyward.SecretHash, n int) {
	t.Helper()
	if got := e.store.callsFor(h); got != n {
		t.Fatalf("store KeyByHash called %d times for the key, want %d", got, n)
	}
}

// describe prints every field of k, the hashes included (Key's own
// formatting redacts them).
func describe(k *keyward.Key) string {
	if k == nil {
		return "<nil>"
	}
	t := func(p *time.Time) string {
		if p == nil {
			return "nil"
		}
		return p.Format(time.RFC3339Nano) + " " + p.Location().String()
	}
	prev := "nil"
	if k.Previous != nil {
		prev = fmt.Sprintf("{Hash:%x ExpiresAt:%s}", k.Previous.Hash[:], t(&k.Previous.ExpiresAt))
	}
	credits := "nil"
	if c := k.Credits; c != nil {
		credits = fmt.Sprintf("{Remaining:%d RefilledAt:%s Refill:%+v}", c.Remaining, t(&c.RefilledAt), c.Refill)
		if c.Refill != nil {
			credits = fmt.Sprintf("{Remaining:%d RefilledAt:%s Refill:%+v}", c.Remaining, t(&c.RefilledAt), *c.Refill)
		}
	}
	return fmt.Sprintf("{ID:%d OrgID:%q Root:%v Name:%q Permissions:%#v Hash:%x Hint:%q CreatedAt:%s LastUsedAt:%s DeletedAt:%s "+
		"ExpiresAt:%s Disabled:%v Metadata:%q UpdatedAt:%s CreatedBy:%q Version:%d Previous:%s RateLimits:%#v Credits:%s}",
		k.ID, k.OrgID, k.Root, k.Name, k.Permissions, k.Hash[:], k.Hint, t(&k.CreatedAt), t(k.LastUsedAt), t(k.DeletedAt),
		t(k.ExpiresAt), k.Disabled, k.Metadata, t(&k.UpdatedAt), k.CreatedBy, k.Version, prev, k.RateLimits, credits)
}

// checkKey fails the test unless got is want in every field but
// LastUsedAt, which the cache leaves nil.
func checkKey(t testing.TB, got, want *keyward.Key) {
	t.Helper()
	if got == nil {
		t.Errorf("got no key, want %s", describe(want))
		return
	}
	if got.LastUsedAt != nil {
		t.Errorf("LastUsedAt = %v, want nil from the cache", got.LastUsedAt)
	}
	w := *want
	w.LastUsedAt = nil
	g := *got
	g.LastUsedAt = nil
	// reflect.DeepEqual also tells nil Permissions from empty ones, and
	// sees any field added to Key later that the cache does not carry.
	if !reflect.DeepEqual(g, w) || !g.CreatedAt.Equal(w.CreatedAt) || g.CreatedAt.Location() != time.UTC {
		t.Errorf("got  %s\nwant %s", describe(&g), describe(&w))
	}
}

// waitForWaiters waits until n goroutines are waiting inside the cache
// for a shared store lookup (blocked in Store.load's select). A goroutine
// there has joined a flight, so a test can release the store knowing that
// nobody will start another one.
func waitForWaiters(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(patience)
	buf := make([]byte, 1<<20)
	for {
		m := runtime.Stack(buf, true)
		if m == len(buf) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		got := 0
		for g := range bytes.SplitSeq(buf[:m], []byte("\n\n")) {
			header, _, _ := bytes.Cut(g, []byte("\n"))
			if bytes.Contains(header, []byte("[select")) && bytes.Contains(g, []byte("keycache.(*Store).load(")) {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines waiting for a shared lookup after %v, want %d", got, patience, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// result is one lookup's answer, from a goroutine.
type result struct {
	key *keyward.Key
	err error
}

// goGet looks h up with ctx in a new goroutine.
func (e *env) goGet(ctx context.Context, h keyward.SecretHash) <-chan result {
	ch := make(chan result, 1)
	go func() {
		k, err := e.cache.KeyByHash(ctx, h)
		ch <- result{k, err}
	}()
	return ch
}

// await returns a goroutine's answer.
func await(t testing.TB, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(patience):
		t.Fatalf("lookup did not return within %v", patience)
		return result{}
	}
}

// A cached key is served from memory, as the store holds it in every
// field but LastUsedAt.
func TestHitServesFromMemory(t *testing.T) {
	tests := []struct {
		name string
		key  *keyward.Key
	}{
		{"organization key, non-ASCII name", newKey("acme", "Clé d’accès — 東京 🔑", keyward.PermManage, keyward.PermRead, keyward.PermDelete)},
		{"root key", newKey("", "root", keyward.AllPermissions...)},
		{"every permission, reversed", newKey("acme.eu-west_1", "ops", keyward.PermManage, keyward.PermDelete, keyward.PermUpdate, keyward.PermCreate, keyward.PermWrite, keyward.PermRead)},
		{"no permissions", newKey("acme", "empty")},
		{"longest name", newKey(keyward.OrgID(strings.Repeat("o", keyward.MaxOrgIDLen)), strings.Repeat("🔑", keyward.MaxNameLen), keyward.PermRead)},
		{"created before 1970, odd microseconds", func() *keyward.Key {
			k := newKey("acme", "old", keyward.PermWrite)
			k.CreatedAt = time.Date(1969, 12, 31, 23, 59, 59, 999_999_000, time.UTC)
			return k
		}()},
		{"created with every microsecond digit", func() *keyward.Key {
			k := newKey("acme", "precise", keyward.PermWrite)
			k.CreatedAt = time.Date(2024, 2, 29, 12, 34, 56, 123_456_000, time.UTC)
			return k
		}()},
		{"every rate limit it may have, and credits refilled monthly", func() *keyward.Key {
			k := newKey("acme", "limited", keyward.PermRead)
			for i := range keyward.MaxRateLimits {
				k.RateLimits = append(k.RateLimits, keyward.RateLimit{
					Name:     fmt.Sprintf("%s%d", strings.Repeat("l", keyward.MaxRateLimitNameLen-2), 10+i),
					Limit:    keyward.MaxRateLimit - int64(i),
					Duration: keyward.MaxRateLimitDuration - time.Duration(i)*time.Millisecond,
				})
			}
			k.Credits = &keyward.Credits{Remaining: keyward.MaxCredits, RefilledAt: time.Date(2024, 2, 29, 0, 0, 0, 1000, time.UTC),
				Refill: &keyward.Refill{Amount: keyward.MaxCredits, Interval: keyward.RefillMonthly}}
			return k
		}()},
		{"one rate limit, no credits", newKeyWith("acme", func(k *keyward.Key) {
			k.RateLimits = []keyward.RateLimit{{Name: "a", Limit: 1, Duration: 1500 * time.Millisecond}}
		})},
		{"credits at zero, no refill, no rate limit", newKeyWith("acme", func(k *keyward.Key) {
			k.Credits = &keyward.Credits{Remaining: 0, RefilledAt: time.Date(1969, 12, 31, 23, 59, 59, 999_999_000, time.UTC)}
		})},
		{"root key, credits refilled daily", newKeyWith("", func(k *keyward.Key) {
			k.Credits = &keyward.Credits{Remaining: 7, RefilledAt: k.CreatedAt, Refill: &keyward.Refill{Amount: 10, Interval: keyward.RefillDaily}}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, keycache.Options{})
			e.add(t, tt.key)
			// The store reports a use; the cache must not.
			if err := e.db.TouchKeys(t.Context(), []keyward.KeyUse{{ID: tt.key.ID, At: time.Now()}}); err != nil {
				t.Fatalf("TouchKeys: %v", err)
			}
			want := e.stored(t, tt.key.Hash)
			if want.LastUsedAt == nil {
				t.Fatal("store reports no LastUsedAt after TouchKeys")
			}
			roundTrip := *want
			roundTrip.LastUsedAt = nil
			checkKey(t, &roundTrip, tt.key) // the store keeps the key as given

			checkKey(t, e.get(t, tt.key.Hash), want) // miss: from the store
			e.wantCalls(t, tt.key.Hash, 1)
			const n = 100
			for range n {
				checkKey(t, e.get(t, tt.key.Hash), want) // hits
				if t.Failed() {
					t.FailNow()
				}
			}
			e.wantCalls(t, tt.key.Hash, 1)
			if s := e.cache.Stats(); s.Hits != n || s.Misses != 1 || s.Loads != 1 || s.Entries != 1 {
				t.Errorf("Stats = %+v; want %d hits, 1 miss, 1 load, 1 entry", s, n)
			}
		})
	}
}

// Callers own the keys they get: changing one changes neither the cache
// nor another caller's copy.
func TestReturnedKeysAreCopies(t *testing.T) {
	e := newEnv(t, keycache.Options{})
	k := newKey("acme", "mine", keyward.PermRead, keyward.PermWrite, keyward.PermManage)
	k.RateLimits = []keyward.RateLimit{{Name: "requests", Limit: 100, Duration: time.Minute}, {Name: "burst", Limit: 5, Duration: time.Second}}
	k.Credits = &keyward.Credits{Remaining: 50, RefilledAt: k.CreatedAt, Refill: &keyward.Refill{Amount: 50, Interval: keyward.RefillDaily}}
	e.add(t, k)
	want := e.stored(t, k.Hash)

	scribble := func(k *keyward.Key) {
		k.Permissions[0] = "scribbled"
		k.Permissions = append(k.Permissions[:1], keyward.PermDelete)
		k.Name, k.OrgID, k.Root, k.ID = "scribbled", "other", true, 1
		k.Hash[0] ^= 0xff
		now := time.Now()
		k.LastUsedAt, k.DeletedAt = &now, &now
		k.RateLimits[0].Limit, k.RateLimits[1].Name = 1, "scribbled"
		k.RateLimits = append(k.RateLimits[:1], keyward.RateLimit{Name: "more"})
		k.Credits.Remaining, k.Credits.RefilledAt = 0, now
		k.Credits.Refill.Amount, k.Credits.Refill.Interval = 1, "scribbled"
	}
	first := e.get(t, k.Hash) // from the store
	scribble(first)
	second := e.get(t, k.Hash) // from memory
	checkKey(t, second, want)
	scribble(second)
	checkKey(t, e.get(t, k.Hash), want)

	// Two callers sharing one store lookup get separate copies.
	e.cache.Invalidate(k.Hash)
	release := e.store.hold(t, false)
	a := e.goGet(t.Context(), k.Hash)
	b := e.goGet(t.Context(), k.Hash)
	waitForWaiters(t, 2)
	release()
	ra, rb := await(t, a), await(t, b)
	if ra.err != nil || rb.err != nil {
		t.Fatalf("KeyByHash: %v, %v", ra.err, rb.err)
	}
	scribble(ra.key)
	checkKey(t, rb.key, want)
	checkKey(t, e.get(t, k.Hash), want)
}

// Concurrent lookups of one uncached hash make one store lookup, whose
// answer they all get.
func TestSingleflight(t *testing.T) {
	const n = 64
	for _, known := range []bool{true, false} {
		t.Run(fmt.Sprintf("known=%v", known), func(t *testing.T) {
			e := newEnv(t, keycache.Options{})
			k := newKey("acme", "shared", keyward.PermRead)
			if known {
				e.add(t, k)
			}
			release := e.store.hold(t, false)
			results := make([]<-chan result, n)
			for i := range results {
				results[i] = e.goGet(t.Context(), k.Hash)
			}
			waitForWaiters(t, n) // every caller has joined a flight
			release()
			for _, ch := range results {
				r := await(t, ch)
				if known {
					if r.err != nil {
						t.Fatalf("KeyByHash: %v", r.err)
					}
					checkKey(t, r.key, k)
				} else if code := keyward.ErrorCode(r.err); code != keyward.ENOTFOUND || r.key != nil {
					t.Fatalf("KeyByHash = %s, %v; want %s", describe(r.key), r.err, keyward.ENOTFOUND)
				}
			}
			e.wantCalls(t, k.Hash, 1)
			if s := e.cache.Stats(); s.Misses != n || s.Loads != 1 {
				t.Errorf("Stats = %+v; want %d misses, 1 load", s, n)
			}
			// The answer is remembered.
			if known {
				checkKey(t, e.get(t, k.Hash), k)
			} else {
				e.getNotFound(t, k.Hash)
			}
			e.wantCalls(t, k.Hash, 1)
		})
	}
}

// A caller that gives up returns at once with its context's error, while
// the shared lookup goes on and serves the others, and the cache.
func TestCancelledWaiter(t *testing.T) {
	for _, initiator := range []bool{true, false} {
		t.Run(fmt.Sprintf("cancelled caller started the lookup=%v", initiator), func(t *testing.T) {
			e := newEnv(t, keycache.Options{})
			k := e.add(t, newKey("acme", "patient", keyward.PermRead))
			release := e.store.hold(t, false)

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var quitter, stayer <-chan result
			if initiator {
				quitter = e.goGet(ctx, k.Hash)
				e.store.waitEntered(t, 1)
				stayer = e.goGet(t.Context(), k.Hash)
			} else {
				stayer = e.goGet(t.Context(), k.Hash)
				e.store.waitEntered(t, 1)
				quitter = e.goGet(ctx, k.Hash)
			}
			waitForWaiters(t, 2)
			cancel()
			// The store is still held: the quitter cannot have waited for it.
			r := await(t, quitter)
			if !errors.Is(r.err, context.Canceled) || r.key != nil {
				t.Fatalf("cancelled KeyByHash = %s, %v; want an error wrapping context.Canceled", describe(r.key), r.err)
			}
			select {
			case r := <-stayer:
				t.Fatalf("the other caller returned (%v) before the store answered", r.err)
			default:
			}

			release()
			r = await(t, stayer)
			if r.err != nil {
				t.Fatalf("KeyByHash: %v", r.err)
			}
			checkKey(t, r.key, k)
			checkKey(t, e.get(t, k.Hash), k) // cached by the shared lookup
			e.wantCalls(t, k.Hash, 1)
		})
	}
}

// A failed store lookup is returned to its callers and not remembered.
func TestStoreErrorsNotCached(t *testing.T) {
	unavailable := keyward.Errorf(keyward.EUNAVAILABLE, "database busy")

	t.Run("unavailable", func(t *testing.T) {
		e := newEnv(t, keycache.Options{})
		k := e.add(t, newKey("acme", "k", keyward.PermRead))
		unknown := keyward.NewSecret().Hash()
		e.store.setFail(unavailable)
		for i := 1; i <= 3; i++ {
			for _, h := range []keyward.SecretHash{k.Hash, unknown} {
				got, err := e.cache.KeyByHash(t.Context(), h)
				if keyward.ErrorCode(err) != keyward.EUNAVAILABLE || got != nil {
					t.Fatalf("KeyByHash = %s, %v; want %s", describe(got), err, keyward.EUNAVAILABLE)
				}
				e.wantCalls(t, h, i)
			}
		}
		if s := e.cache.Stats(); s.Entries != 0 || s.Negatives != 0 {
			t.Fatalf("Stats = %+v after failed lookups; want nothing cached", s)
		}
		e.store.setFail(nil)
		checkKey(t, e.get(t, k.Hash), k)
		e.getNotFound(t, unknown)
		e.wantCalls(t, k.Hash, 4)
		e.wantCalls(t, unknown, 4)
	})

	t.Run("closed store", func(t *testing.T) {
		e := newEnv(t, keycache.Options{})
		k := e.add(t, newKey("acme", "k", keyward.PermRead))
		if err := e.db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for i := 1; i <= 2; i++ {
			got, err := e.cache.KeyByHash(t.Context(), k.Hash)
			if err == nil || keyward.ErrorCode(err) == keyward.ENOTFOUND || got != nil {
				t.Fatalf("KeyByHash on a closed store = %s, %v; want a failure other than %s", describe(got), err, keyward.ENOTFOUND)
			}
			e.wantCalls(t, k.Hash, i)
		}
		if s := e.cache.Stats(); s.Entries != 0 || s.Negatives != 0 {
			t.Fatalf("Stats = %+v after failed lookups; want nothing cached", s)
		}
	})

	t.Run("load timeout", func(t *testing.T) {
		// The store does not answer in time: the lookup's own deadline
		// (LoadTimeout) ends it, and that failure is not remembered either.
		e := newEnv(t, keycache.Options{LoadTimeout: time.Nanosecond})
		k := e.add(t, newKey("acme", "k", keyward.PermRead))
		e.store.hold(t, false)
		for i := 1; i <= 2; i++ {
			got, err := e.cache.KeyByHash(t.Context(), k.Hash)
			if !errors.Is(err, context.DeadlineExceeded) || got != nil {
				t.Fatalf("KeyByHash = %s, %v; want an error wrapping context.DeadlineExceeded", describe(got), err)
			}
			e.wantCalls(t, k.Hash, i)
		}
		if s := e.cache.Stats(); s.Entries != 0 || s.Negatives != 0 {
			t.Fatalf("Stats = %+v after failed lookups; want nothing cached", s)
		}
	})
}

// An unknown hash is asked of the store once, then answered from memory
// until NegativeTTL has passed.
func TestNegativeCache(t *testing.T) {
	const negTTL = 5 * time.Second
	e := newEnv(t, keycache.Options{NegativeTTL: negTTL, TTL: time.Hour})
	h := keyward.NewSecret().Hash()
	e.getNotFound(t, h)
	e.wantCalls(t, h, 1)
	for range 10 {
		e.getNotFound(t, h)
	}
	e.wantCalls(t, h, 1)
	if s := e.cache.Stats(); s.NegHits != 10 || s.Negatives != 1 || s.Entries != 0 {
		t.Errorf("Stats = %+v; want 10 negative hits, 1 negative, no entry", s)
	}

	e.clock.advance(negTTL - 1)
	e.getNotFound(t, h)
	e.wantCalls(t, h, 1)
	e.clock.advance(1)
	e.getNotFound(t, h)
	e.wantCalls(t, h, 2)
	e.getNotFound(t, h) // remembered again
	e.wantCalls(t, h, 2)
}

// The table of unknown hashes stays within NegativeSize.
func TestNegativeCacheBound(t *testing.T) {
	tests := []struct {
		size, negSize, unknown int
	}{
		{size: 100, negSize: 10, unknown: 500},        // one shard
		{size: 100_000, negSize: 10, unknown: 1000},   // fewer unknown hashes than shards
		{size: 100_000, negSize: 100, unknown: 3000},  // between one and two per shard
		{size: 100_000, negSize: 1000, unknown: 5000}, // many per shard
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("size=%d,negative=%d", tt.size, tt.negSize), func(t *testing.T) {
			e := newEnv(t, keycache.Options{Size: tt.size, NegativeSize: tt.negSize})
			for range tt.unknown {
				e.getNotFound(t, keyward.NewSecret().Hash())
				if n := e.cache.Stats().Negatives; n > tt.negSize {
					t.Fatalf("%d unknown hashes remembered, want at most NegativeSize %d", n, tt.negSize)
				}
			}
			if n := e.cache.Stats().Negatives; n < tt.negSize/2 {
				t.Errorf("%d unknown hashes remembered after %d lookups; want about NegativeSize %d", n, tt.unknown, tt.negSize)
			}
		})
	}
}

// A flood of unknown hashes pushes no real key out of a full cache.
func TestNegativeFloodKeepsKeys(t *testing.T) {
	const size = 100
	e := newEnv(t, keycache.Options{Size: size, NegativeSize: 10})
	keys := e.addKeys(t, size)
	for _, k := range keys {
		e.get(t, k.Hash)
	}
	before := e.cache.Stats()
	if before.Entries != size {
		t.Fatalf("Entries = %d after caching %d keys into a cache of %d", before.Entries, size, size)
	}
	for range 2000 {
		e.getNotFound(t, keyward.NewSecret().Hash())
	}
	after := e.cache.Stats()
	if after.Entries != size || after.Evictions != before.Evictions {
		t.Fatalf("after the flood: %d entries, %d evictions; want %d entries, %d evictions", after.Entries, after.Evictions, size, before.Evictions)
	}
	for _, k := range keys {
		checkKey(t, e.get(t, k.Hash), k)
		e.wantCalls(t, k.Hash, 1)
	}
}

// Creating a key through the cache forgets that its hash was unknown.
func TestCreateKeyClearsNegative(t *testing.T) {
	e := newEnv(t, keycache.Options{})
	k := newKey("acme", "late", keyward.PermRead)
	e.getNotFound(t, k.Hash)
	e.getNotFound(t, k.Hash)
	e.wantCalls(t, k.Hash, 1) // the second answer came from memory
	if err := e.cache.CreateKey(t.Context(), k, nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	checkKey(t, e.get(t, k.Hash), k)
	e.wantCalls(t, k.Hash, 2)

	// A create that fails forgets nothing it should not.
	if err := e.cache.CreateKey(t.Context(), k, nil); keyward.ErrorCode(err) != keyward.ECONFLICT {
		t.Fatalf("second CreateKey = %v, want %s", err, keyward.ECONFLICT)
	}
	checkKey(t, e.get(t, k.Hash), k)
	e.wantCalls(t, k.Hash, 2)
}

// Deleting a key through the cache evicts it before DeleteKey returns.
func TestDeleteKeyEvicts(t *testing.T) {
	for _, root := range []bool{false, true} {
		t.Run(fmt.Sprintf("root=%v", root), func(t *testing.T) {
			e := newEnv(t, keycache.Options{})
			org := keyward.OrgID("acme")
			if root {
				org = ""
			}
			k := e.add(t, newKey(org, "doomed", keyward.AllPermissions...))
			other := e.add(t, newKey("acme", "bystander", keyward.PermRead))
			e.get(t, k.Hash)
			e.get(t, other.Hash)
			checkKey(t, e.get(t, k.Hash), k) // a hit
			e.wantCalls(t, k.Hash, 1)

			deleted, err := storetest.Delete(t.Context(), e.cache, k.OrgID, k.ID, time.Now())
			if err != nil {
				t.Fatalf("DeleteKey: %v", err)
			}
			if deleted.Hash != k.Hash || deleted.DeletedAt == nil {
				t.Fatalf("DeleteKey returned %s", describe(deleted))
			}
			e.getNotFound(t, k.Hash)
			e.wantCalls(t, k.Hash, 2) // the store was asked, and said so
			e.getNotFound(t, k.Hash)
			e.wantCalls(t, k.Hash, 2) // and that is remembered

			checkKey(t, e.get(t, other.Hash), other) // untouched
			e.wantCalls(t, other.Hash, 1)

			if _, err := storetest.Delete(t.Context(), e.cache, k.OrgID, k.ID, time.Now()); keyward.ErrorCode(err) != keyward.ENOTFOUND {
				t.Fatalf("second DeleteKey = %v, want %s", err, keyward.ENOTFOUND)
			}
		})
	}
}

// An invalidation while a lookup is in flight keeps that lookup's (stale)
// answer out of the cache.
func TestInvalidationDuringLoad(t *testing.T) {
	t.Run("Invalidate", func(t *testing.T) {
		e := newEnv(t, keycache.Options{})
		k := e.add(t, newKey("acme", "k", keyward.PermRead))
		release := e.store.hold(t, true)
		ch := e.goGet(t.Context(), k.Hash)
		e.store.waitEntered(t, 1)
		e.cache.Invalidate(k.Hash)
		release()
		if r := await(t, ch); r.err != nil {
			t.Fatalf("KeyByHash: %v", r.err)
		}
		if s := e.cache.Stats(); s.Entries != 0 {
			t.Fatalf("Entries = %d; the lookup begun before Invalidate was cached", s.Entries)
		}
		checkKey(t, e.get(t, k.Hash), k)
		e.wantCalls(t, k.Hash, 2)
	})

	t.Run("Reset", func(t *testing.T) {
		e := newEnv(t, keycache.Options{})
		k := e.add(t, newKey("acme", "k", keyward.PermRead))
		release := e.store.hold(t, true)
		ch := e.goGet(t.Context(), k.Hash)
		e.store.waitEntered(t, 1)
		e.cache.Reset()
		release()
		if r := await(t, ch); r.err != nil {
			t.Fatalf("KeyByHash: %v", r.err)
		}
		checkKey(t, e.get(t, k.Hash), k)
		e.wantCalls(t, k.Hash, 2)
	})

	t.Run("DeleteKey", func(t *testing.T) {
		// The held lookup read the key before the delete: its answer is
		// stale, and must not outlive the delete in the cache.
		e := newEnv(t, keycache.Options{})
		k := e.add(t, newKey("acme", "k", keyward.PermRead))
		release := e.store.hold(t, true)
		ch := e.goGet(t.Context(), k.Hash)
		e.store.waitEntered(t, 1)
		if _, err := storetest.Delete(t.Context(), e.cache, k.OrgID, k.ID, time.Now()); err != nil {
			t.Fatalf("DeleteKey: %v", err)
		}
		release()
		if r := await(t, ch); r.err != nil {
			t.Fatalf("KeyByHash: %v", r.err) // began before the delete: may see the key
		}
		e.getNotFound(t, k.Hash)
		e.wantCalls(t, k.Hash, 2)
	})

	t.Run("CreateKey", func(t *testing.T) {
		// The held lookup read "not found" before the create: that answer
		// must not be remembered.
		e := newEnv(t, keycache.Options{})
		k := newKey("acme", "k", keyward.PermRead)
		release := e.store.hold(t, true)
		ch := e.goGet(t.Context(), k.Hash)
		e.store.waitEntered(t, 1)
		if err := e.cache.CreateKey(t.Context(), k, nil); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		release()
		if r := await(t, ch); keyward.ErrorCode(r.err) != keyward.ENOTFOUND {
			t.Fatalf("KeyByHash = %v, want the stale %s", r.err, keyward.ENOTFOUND)
		}
		if s := e.cache.Stats(); s.Negatives != 0 {
			t.Fatalf("Negatives = %d; the lookup begun before CreateKey was remembered", s.Negatives)
		}
		checkKey(t, e.get(t, k.Hash), k)
		e.wantCalls(t, k.Hash, 2)
	})
}

// A lookup that arrives after Invalidate does not join a store lookup begun
// before it: it makes its own, whose answer is cached.
func TestRequestAfterInvalidateStartsOwnLoad(t *testing.T) {
	e := newEnv(t, keycache.Options{})
	k := e.add(t, newKey("acme", "k", keyward.PermRead))
	release := e.store.hold(t, true)
	before := e.goGet(t.Context(), k.Hash)
	e.store.waitEntered(t, 1)
	e.cache.Invalidate(k.Hash)
	after := e.goGet(t.Context(), k.Hash)
	waitForWaiters(t, 2) // both in flights while the first is still held
	release()
	for _, ch := range []<-chan result{before, after} {
		if r := await(t, ch); r.err != nil {
			t.Fatalf("KeyByHash: %v", r.err)
		}
	}
	e.wantCalls(t, k.Hash, 2)
	checkKey(t, e.get(t, k.Hash), k) // the second lookup's answer was cached
	e.wantCalls(t, k.Hash, 2)
}

// Reset forgets every key and every unknown hash.
func TestReset(t *testing.T) {
	e := newEnv(t, keycache.Options{})
	keys := e.addKeys(t, 20)
	unknown := make([]keyward.SecretHash, 5)
	for i := range unknown {
		unknown[i] = keyward.NewSecret().Hash()
		e.getNotFound(t, unknown[i])
	}
	for _, k := range keys {
		e.get(t, k.Hash)
	}
	if s := e.cache.Stats(); s.Entries != len(keys) || s.Negatives != len(unknown) {
		t.Fatalf("Stats = %+v; want %d entries, %d negatives", s, len(keys), len(unknown))
	}
	e.cache.Reset()
	if s := e.cache.Stats(); s.Entries != 0 || s.Negatives != 0 {
		t.Fatalf("Stats = %+v after Reset; want nothing cached", s)
	}
	for _, k := range keys {
		checkKey(t, e.get(t, k.Hash), k)
		e.wantCalls(t, k.Hash, 2)
	}
	for _, h := range unknown {
		e.getNotFound(t, h)
		e.wantCalls(t, h, 2)
	}
	// The cache works as before.
	for _, k := range keys {
		checkKey(t, e.get(t, k.Hash), k)
		e.wantCalls(t, k.Hash, 2)
	}
	// A purge empties the cache in place: a full cache is not allocated
	// twice over while the old one awaits the collector.
	if n := testing.AllocsPerRun(3, e.cache.Reset); n != 0 {
		t.Errorf("Reset allocated %v times; want none", n)
	}
}

// A key is served from memory for TTL, then looked up again: a change the
// cache was not told of is seen within TTL.
func TestTTL(t *testing.T) {
	const ttl = time.Minute
	e := newEnv(t, keycache.Options{TTL: ttl})
	k := e.add(t, newKey("acme", "k", keyward.PermRead))
	e.get(t, k.Hash)
	e.wantCalls(t, k.Hash, 1)
	e.clock.advance(ttl - 1)
	checkKey(t, e.get(t, k.Hash), k)
	e.wantCalls(t, k.Hash, 1)
	e.clock.advance(1)
	checkKey(t, e.get(t, k.Hash), k)
	e.wantCalls(t, k.Hash, 2)
	checkKey(t, e.get(t, k.Hash), k) // cached again, for a new TTL
	e.wantCalls(t, k.Hash, 2)

	// Deleted behind the cache's back (another process, no
	// notification): served until TTL, and not after.
	if _, err := storetest.Delete(t.Context(), e.db, k.OrgID, k.ID, time.Now()); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	e.clock.advance(ttl - 1)
	checkKey(t, e.get(t, k.Hash), k)
	e.clock.advance(1)
	e.getNotFound(t, k.Hash)
	e.wantCalls(t, k.Hash, 3)
	if s := e.cache.Stats(); s.Entries != 0 {
		t.Errorf("Entries = %d after the key expired and was found deleted", s.Entries)
	}
}

// A full cache stays within Size, and CLOCK keeps a key in use while
// keys used once come and go.
func TestBoundAndClockEviction(t *testing.T) {
	const size, cold = 100, 1000
	e := newEnv(t, keycache.Options{Size: size})
	if n := keycache.NumShards(e.cache); n != 1 {
		t.Fatalf("a cache of %d has %d shards, want 1", size, n)
	}
	hot := e.add(t, newKey("acme", "hot", keyward.PermRead))
	keys := e.addKeys(t, cold)
	e.get(t, hot.Hash)
	for i, k := range keys {
		e.get(t, k.Hash)                     // a miss that caches k, evicting once the cache is full
		checkKey(t, e.get(t, hot.Hash), hot) // a hit: hot is used between any two insertions
		if n := e.cache.Stats().Entries; n > size {
			t.Fatalf("after %d keys: %d entries, want at most %d", i+2, n, size)
		}
	}
	s := e.cache.Stats()
	if s.Entries != size || s.Evictions != 1+cold-size {
		t.Fatalf("Stats = %+v; want %d entries and %d evictions", s, size, 1+cold-size)
	}
	e.wantCalls(t, hot.Hash, 1) // never evicted
	// Among keys used once, the oldest went first: the newest size-1 are
	// all still cached; the first was pushed out long ago.
	for _, k := range keys[cold-(size-1):] {
		checkKey(t, e.get(t, k.Hash), k)
		e.wantCalls(t, k.Hash, 1)
	}
	checkKey(t, e.get(t, keys[0].Hash), keys[0])
	e.wantCalls(t, keys[0].Hash, 2)
}

// A large cache is sharded, and its shards together hold at most Size
// keys.
func TestShardedBound(t *testing.T) {
	if n := keycache.NumShards(keycache.New(nil, keycache.Options{Size: 100_000})); n <= 1 {
		t.Errorf("a cache of 100000 has %d shard(s), want several", n)
	}
	// 515 keys over 2 shards: 258 + 257, not 2 × 258.
	const size = 515
	e := newEnv(t, keycache.Options{Size: size})
	if n := keycache.NumShards(e.cache); n <= 1 {
		t.Fatalf("a cache of %d has %d shard(s), want several", size, n)
	}
	keys := e.addKeys(t, 2*size)
	for _, k := range keys {
		checkKey(t, e.get(t, k.Hash), k)
	}
	// Each shard saw far more keys than it holds (binomially, hundreds of
	// standard deviations more): every one is full.
	if s := e.cache.Stats(); s.Entries != size || s.Evictions != uint64(len(keys)-size) {
		t.Fatalf("Stats = %+v; want %d entries, %d evictions", s, size, len(keys)-size)
	}
	// Whatever is cached is right.
	for _, k := range keys {
		checkKey(t, e.get(t, k.Hash), k)
	}
}

// A key whose fields do not fit the compact encoding is returned as the
// store has it, and is not cached.
func TestUnencodableKeysNotCached(t *testing.T) {
	tests := []struct {
		name string
		key  *keyward.Key
	}{
		{"unknown permission", newKey("acme", "k", keyward.PermRead, "superpower")},
		{"long organization", newKey(keyward.OrgID(strings.Repeat("o", 256)), "k", keyward.PermRead)},
		{"long name", newKey("acme", strings.Repeat("n", 1<<16), keyward.PermRead)},
		{"long hint", func() *keyward.Key {
			k := newKey("acme", "k", keyward.PermRead)
			k.Hint = strings.Repeat("h", 256)
			return k
		}()},
		{"many permissions", newKey("acme", "k", func() []keyward.Permission {
			ps := make([]keyward.Permission, 256)
			for i := range ps {
				ps[i] = keyward.AllPermissions[i%len(keyward.AllPermissions)]
			}
			return ps
		}()...)},
		{"many rate limits", newKeyWith("acme", func(k *keyward.Key) {
			for i := range 256 {
				k.RateLimits = append(k.RateLimits, keyward.RateLimit{Name: fmt.Sprint(i), Limit: 1, Duration: time.Second})
			}
		})},
		{"long rate limit name", newKeyWith("acme", func(k *keyward.Key) {
			k.RateLimits = []keyward.RateLimit{{Name: strings.Repeat("n", 256), Limit: 1, Duration: time.Second}}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, keycache.Options{})
			e.add(t, tt.key)
			fine := e.add(t, newKey("acme", "fine", keyward.PermRead))
			for i := 1; i <= 3; i++ {
				checkKey(t, e.get(t, tt.key.Hash), tt.key)
				e.wantCalls(t, tt.key.Hash, i)
			}
			e.get(t, fine.Hash)
			if s := e.cache.Stats(); s.Entries != 1 {
				t.Fatalf("Entries = %d; want only the encodable key cached", s.Entries)
			}
			checkKey(t, e.get(t, fine.Hash), fine)
			e.wantCalls(t, fine.Hash, 1)
		})
	}
}

// Lookups, deletes, evictions and purges at once: no lookup ever returns
// another key's record, and none that starts after a delete through the
// cache has returned finds the deleted key. Run it with -race.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, keycache.Options{Size: 64})
	keys := e.addKeys(t, 200)
	want := make(map[keyward.SecretHash]*keyward.Key, len(keys))
	// deleting is set before DeleteKey is called, deleted once it returns.
	type state struct{ deleting, deleted atomic.Bool }
	states := make(map[keyward.SecretHash]*state, len(keys))
	for _, k := range keys {
		want[k.Hash] = k
		states[k.Hash] = new(state)
	}
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 1500 {
				k := keys[rng.IntN(len(keys))]
				st := states[k.Hash]
				wasDeleted := st.deleted.Load()
				got, err := e.cache.KeyByHash(ctx, k.Hash)
				switch {
				case err == nil:
					if wasDeleted {
						t.Errorf("a lookup begun after DeleteKey returned found key %d", k.ID)
						return
					}
					checkKey(t, got, want[k.Hash])
				case keyward.ErrorCode(err) == keyward.ENOTFOUND:
					if !st.deleting.Load() {
						t.Errorf("live key %d not found", k.ID)
						return
					}
				default:
					t.Errorf("KeyByHash: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i, k := range keys[:50] {
			st := states[k.Hash]
			st.deleting.Store(true)
			if _, err := storetest.Delete(ctx, e.cache, k.OrgID, k.ID, time.Now()); err != nil {
				t.Errorf("DeleteKey: %v", err)
				return
			}
			st.deleted.Store(true)
			e.cache.Invalidate(keys[len(keys)-1-i].Hash)
			if i%10 == 0 {
				e.cache.Reset()
			}
		}
	})
	wg.Wait()
	if s := e.cache.Stats(); s.Entries > 64 {
		t.Errorf("Entries = %d, want at most 64", s.Entries)
	}
}

// A cache of a shared store answers from memory only while the feed has
// confirmed within the staleness bound: before the first confirmation, and
// once the last one is older than the bound, every lookup reads the store,
// so that a key changed by another process is never trusted longer.
func TestStalenessBound(t *testing.T) {
	const bound = time.Second
	e := newSharedEnv(t, keycache.Options{StalenessBound: bound})
	k := e.add(t, newKey("acme", "k", keyward.PermRead))

	// Never confirmed: each lookup goes to the store.
	checkKey(t, e.get(t, k.Hash), k)
	checkKey(t, e.get(t, k.Hash), k)
	e.wantCalls(t, k.Hash, 2)
	if e.cache.Trusted() {
		t.Fatal("Trusted before any confirmation")
	}

	// Confirmed now: the answer read while unconfirmed was kept, and is
	// served from memory until the bound has passed.
	keycache.ConfirmAt(e.cache, e.clock.now())
	checkKey(t, e.get(t, k.Hash), k)
	e.clock.advance(bound - time.Nanosecond)
	checkKey(t, e.get(t, k.Hash), k)
	e.wantCalls(t, k.Hash, 2)

	// Another process deletes the key and the feed goes silent: once the
	// bound has passed since the last confirmation, the store answers.
	if _, err := storetest.Delete(t.Context(), e.db, k.OrgID, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(time.Nanosecond)
	if e.cache.Trusted() {
		t.Fatal("Trusted at the bound")
	}
	e.getNotFound(t, k.Hash)
	e.wantCalls(t, k.Hash, 3)
	if s := e.cache.Stats(); s.Bypasses != 3 || s.Hits != 2 {
		t.Errorf("Stats = %+v; want 3 bypasses and 2 hits", s)
	}

	// An older confirmation does not move trust back.
	keycache.ConfirmAt(e.cache, e.clock.now()-2*int64(bound))
	if e.cache.Trusted() {
		t.Fatal("an old confirmation restored trust")
	}
}

// While the feed is silent, a store that cannot answer fails the lookup:
// the cached answer, which may be stale, is not given instead.
func TestUnconfirmedFailsWithTheStore(t *testing.T) {
	e := newSharedEnv(t, keycache.Options{})
	k := e.add(t, newKey("acme", "k", keyward.PermRead))
	keycache.ConfirmAt(e.cache, e.clock.now())
	checkKey(t, e.get(t, k.Hash), k)
	e.clock.advance(keycache.DefaultStalenessBound)
	unavailable := &keyward.Error{Code: keyward.EUNAVAILABLE, Message: "database unavailable"}
	e.store.setFail(unavailable)
	got, err := e.cache.KeyByHash(t.Context(), k.Hash)
	if keyward.ErrorCode(err) != keyward.EUNAVAILABLE || got != nil {
		t.Fatalf("KeyByHash with the feed silent and the store down = %s, %v; want EUNAVAILABLE", describe(got), err)
	}
	// Once the feed confirms again, memory answers even with the store down.
	keycache.ConfirmAt(e.cache, e.clock.now())
	checkKey(t, e.get(t, k.Hash), k)
}

// Every change the cache makes through its store forgets the key's hash at
// once, whether it was cached or remembered as unknown.
func TestWritesInvalidate(t *testing.T) {
	e := newEnv(t, keycache.Options{})
	root := newKey("", "root", keyward.AllPermissions...)
	e.getNotFound(t, root.Hash)
	if ok, err := e.cache.BootstrapRootKey(t.Context(), root, nil); err != nil || !ok {
		t.Fatalf("BootstrapRootKey = %v, %v", ok, err)
	}
	checkKey(t, e.get(t, root.Hash), root)

	k := newKey("acme", "k", keyward.PermRead)
	e.getNotFound(t, k.Hash) // remembered as unknown
	if err := e.cache.CreateKey(t.Context(), k, nil); err != nil {
		t.Fatal(err)
	}
	checkKey(t, e.get(t, k.Hash), k)
	if _, err := storetest.Delete(t.Context(), e.cache, k.OrgID, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.getNotFound(t, k.Hash)

	idem := newKey("acme", "idempotent", keyward.PermRead)
	e.getNotFound(t, idem.Hash)
	rec := &keyward.IdempotencyRecord{ID: [32]byte{7}, KeyID: idem.ID, Sealed: []byte("sealed"), CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := e.cache.CreateKeyIdempotent(t.Context(), idem, rec, nil); err != nil {
		t.Fatal(err)
	}
	checkKey(t, e.get(t, idem.Hash), idem)
}

// While the feed is silent, a lookup does not take the answer of one that
// began more than a bound before it: that one may have read the key before
// a delete made elsewhere, of which no invalidation can have come. (A
// lookup begun within the bound may be joined: its answer is fresh
// enough.)
func TestUnconfirmedJoinsNoOldLookup(t *testing.T) {
	const bound = time.Second
	e := newSharedEnv(t, keycache.Options{StalenessBound: bound})
	k := e.add(t, newKey("acme", "k", keyward.PermRead))
	release := e.store.hold(t, true) // each lookup reads, then waits
	first := e.goGet(t.Context(), k.Hash)
	e.store.waitEntered(t, 1)

	// Another process deletes the key; nothing tells this one.
	if _, err := storetest.Delete(t.Context(), e.db, k.OrgID, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	joined := e.goGet(t.Context(), k.Hash) // same span of the bound: may share the first read
	waitBypasses(t, e, 2)
	e.clock.advance(bound)
	late := e.goGet(t.Context(), k.Hash) // a bound later: must read again
	waitBypasses(t, e, 3)                // it has chosen its lookup
	release()

	if r := await(t, first); r.err != nil || r.key == nil {
		t.Errorf("the first lookup, begun before the delete: %v, %v", r.key, r.err)
	}
	if r := await(t, joined); r.err != nil && keyward.ErrorCode(r.err) != keyward.ENOTFOUND {
		t.Errorf("a lookup within the bound: %v", r.err)
	}
	r := await(t, late)
	if keyward.ErrorCode(r.err) != keyward.ENOTFOUND || r.key != nil {
		t.Errorf("a lookup a bound after an old one began answered %s, %v; want ENOTFOUND from a read of its own", describe(r.key), r.err)
	}
	e.wantCalls(t, k.Hash, 2)
}

// waitBypasses waits until the cache has sent n lookups to the store
// unconfirmed.
func waitBypasses(t *testing.T, e *env, n uint64) {
	t.Helper()
	for deadline := time.Now().Add(patience); e.cache.Stats().Bypasses < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d bypasses within %v, want %d", e.cache.Stats().Bypasses, patience, n)
		}
	}
}

// A rotated key is cached under each of its secrets: looked up by its
// previous secret, the key comes back whole (its current hash, and the
// previous one with the end of its grace period), from memory the second
// time. An update forgets the key under every hash it had and has, so the
// next lookup of each reads the store.
func TestUpdateKeyEvictsEveryHash(t *testing.T) {
	e := newEnv(t, keycache.Options{})
	k := e.add(t, newKey("acme", "rotating", keyward.PermRead))
	old := k.Hash
	e.get(t, old)
	e.wantCalls(t, old, 1)

	fresh := keyward.NewSecret().Hash()
	end := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
	rotated, err := e.cache.UpdateKey(t.Context(), "acme", k.ID, func(k keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
		k.Previous = &keyward.PreviousSecret{Hash: k.Hash, ExpiresAt: end}
		k.Hash = fresh
		k.Metadata = `{"tier":"gold"}`
		return k, nil, nil
	})
	if err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	byOld := e.get(t, old) // forgotten: read again
	e.wantCalls(t, old, 2)
	checkKey(t, byOld, rotated)
	checkKey(t, e.get(t, old), rotated) // a hit, built from the slot
	e.wantCalls(t, old, 2)
	checkKey(t, e.get(t, fresh), rotated)
	checkKey(t, e.get(t, fresh), rotated)
	e.wantCalls(t, fresh, 1)

	// Ending the grace period forgets both entries.
	disabled, err := e.cache.UpdateKey(t.Context(), "acme", k.ID, func(k keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
		k.Previous = nil
		k.Disabled = true
		return k, nil, nil
	})
	if err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	e.getNotFound(t, old)
	e.wantCalls(t, old, 3)
	checkKey(t, e.get(t, fresh), disabled)
	e.wantCalls(t, fresh, 2)

	// A failed update forgets the key all the same: a write that fails
	// at its commit may have happened, and one more read costs little.
	boom := errors.New("boom")
	if _, err := e.cache.UpdateKey(t.Context(), "acme", k.ID, func(k keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
		return k, nil, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("UpdateKey with a failing updater: %v", err)
	}
	checkKey(t, e.get(t, fresh), disabled)
	e.wantCalls(t, fresh, 3)
}

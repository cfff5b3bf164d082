package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// someLimits returns rate limits that test a backend's encoding of them:
// out of name order, names at the edges of what ParseRateLimits allows,
// limits from 1 to MaxRateLimit, durations from 1s to 31 days, one of them
// in milliseconds.
func someLimits() []keyward.RateLimit {
	return []keyward.RateLimit{
		{Name: "requests", Limit: 100, Duration: time.Minute},
		{Name: "a", Limit: 1, Duration: keyward.MinRateLimitDuration},
		{Name: "burst.per_1500ms-x", Limit: keyward.MaxRateLimit, Duration: 1500 * time.Millisecond},
		{Name: strings.Repeat("z", keyward.MaxRateLimitNameLen), Limit: 7, Duration: keyward.MaxRateLimitDuration},
	}
}

// Refills used by these tests.
var (
	daily   = &keyward.Refill{Amount: 1000, Interval: keyward.RefillDaily}
	monthly = &keyward.Refill{Amount: keyward.MaxCredits, Interval: keyward.RefillMonthly}
)

// Rate limits and credits come back as they were stored, through every
// way of storing a key (CreateKey, CreateKeyIdempotent, BootstrapRootKey,
// ImportKeys where the store has it) and every way of reading one (Key,
// KeyByHash, KeyByID, ListKeys with and without states): the limits in
// their order, credits with or without a refill, none as none.
func testCreateKeyLimitsRoundTrip(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	keys := []*keyward.Key{
		NewKey(acme, CreatedAt(base), RateLimits(someLimits()...), Credits(1000, daily)),
		NewKey(acme, CreatedAt(base.Add(time.Microsecond)), Credits(0, nil)),
		NewKey(acme, CreatedAt(base.Add(2*time.Microsecond)), Credits(keyward.MaxCredits, monthly), RefilledAt(base.Add(-time.Hour))),
		NewKey(acme, CreatedAt(base.Add(3*time.Microsecond)), RateLimits(someLimits()[2])),
		NewKey(acme, CreatedAt(base.Add(4*time.Microsecond))),                                                                            // neither
		NewKey(acme, CreatedAt(base.Add(5*time.Microsecond)), Disabled(), func(k *keyward.Key) { k.RateLimits = []keyward.RateLimit{} }), // none, as an empty list
		NewKey("", CreatedAt(base), RateLimits(someLimits()[1:]...), Credits(3, daily)),
	}
	for _, k := range keys {
		create(t, s, k)
	}
	idem := NewKey(acme, CreatedAt(base.Add(6*time.Microsecond)), RateLimits(someLimits()[0]), Credits(5, monthly))
	if err := s.CreateKeyIdempotent(t.Context(), idem, newRecord(idem, base), nil); err != nil {
		t.Fatalf("CreateKeyIdempotent: %v", err)
	}
	keys = append(keys, idem)
	if imp, ok := s.(importer); ok {
		imported := []*keyward.Key{
			NewKey(acme, CreatedAt(base.Add(7*time.Microsecond)), RateLimits(someLimits()...), Credits(9, daily), RefilledAt(base.Add(time.Minute))),
			NewKey(acme, CreatedAt(base.Add(8*time.Microsecond)), Credits(0, monthly)),
		}
		if err := imp.ImportKeys(t.Context(), imported); err != nil {
			t.Fatalf("ImportKeys: %v", err)
		}
		keys = append(keys, imported...)
	}
	var orgKeys []*keyward.Key
	for _, k := range keys {
		checkLive(t, s, k)
		got, err := s.KeyByID(t.Context(), k.ID)
		if err != nil {
			t.Fatalf("KeyByID(%v): %v", k.ID, err)
		}
		checkKey(t, "KeyByID", got, k)
		checkKey(t, "ListKeys of every state", record(t, s, k), k)
		if !k.Root {
			orgKeys = append(orgKeys, k)
		}
	}
	checkList(t, "ListKeys", list(t, s, keyward.KeyFilter{OrgID: acme}), newestFirst(orgKeys))
	checkList(t, "ListKeys of root keys", list(t, s, keyward.KeyFilter{Root: true}), []*keyward.Key{keys[6]})

	empty := newStore(t)
	root := NewKey("", CreatedAt(base), RateLimits(someLimits()...), Credits(1, monthly))
	if !bootstrap(t, empty, root) {
		t.Fatal("BootstrapRootKey on an empty store = false, want true")
	}
	checkLive(t, empty, root)
}

// spend calls SpendCredits and fails the test if that fails.
func spend(t *testing.T, s keyward.KeyStore, k *keyward.Key, cost int64, now time.Time) keyward.CreditSpend {
	t.Helper()
	r, err := s.SpendCredits(t.Context(), k.ID, cost, now)
	if err != nil {
		t.Fatalf("SpendCredits(%v, %d, %v): %v", k.ID, cost, now, err)
	}
	return r
}

// checkSpend checks a spend's answer: limited, ok or not, and the credits
// after it, remaining and as stored.
func checkSpend(t *testing.T, what string, got keyward.CreditSpend, ok bool, want keyward.Credits) {
	t.Helper()
	if !got.Limited || got.OK != ok || got.Remaining != want.Remaining {
		t.Errorf("%s: Limited %v, OK %v, Remaining %d; want true, %v, %d", what, got.Limited, got.OK, got.Remaining, ok, want.Remaining)
	}
	checkCredits(t, what+": Credits", &got.Credits, &want)
}

// withCredits returns a copy of k with credits c, as the store should now
// hold it.
func withCredits(k *keyward.Key, c keyward.Credits) *keyward.Key {
	w := clone(k)
	w.Credits = &c
	if c.Refill != nil {
		r := *c.Refill
		w.Credits.Refill = &r
	}
	return w
}

// SpendCredits takes exactly the cost while enough remain, and refuses
// a cost greater than what remains, spending nothing; a cost of 0 spends
// nothing and says where the key stands. Each spend is what every read
// then reports, and no other key's credits move.
func testSpendCreditsExact(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := NewKey(acme, CreatedAt(base), Credits(10, nil))
	other := NewKey(acme, CreatedAt(base), Credits(10, nil))
	big := NewKey(globex, CreatedAt(base), Credits(keyward.MaxCredits, nil))
	for _, x := range []*keyward.Key{k, other, big} {
		create(t, s, x)
	}
	at := base.Add(time.Hour)
	credits := func(n int64) keyward.Credits { return keyward.Credits{Remaining: n, RefilledAt: k.Credits.RefilledAt} }
	steps := []struct {
		cost, left int64
		ok         bool
	}{
		{3, 7, true},
		{8, 7, false}, // more than remain: nothing spent
		{0, 7, true},
		{7, 0, true}, // exactly what remains
		{1, 0, false},
		{0, 0, true}, // nothing costs nothing, even at zero
	}
	for i, st := range steps {
		what := fmt.Sprintf("spend %d of %d", i+1, st.cost)
		checkSpend(t, what, spend(t, s, k, st.cost, at), st.ok, credits(st.left))
		checkLive(t, s, withCredits(k, credits(st.left)))
	}
	checkLive(t, s, other)

	// A negative cost, which would add credits, is refused. (The service
	// never asks for one; the store does not mint credits if it did.)
	_, err := s.SpendCredits(t.Context(), other.ID, -5, at)
	checkCode(t, "SpendCredits of a negative cost", err, keyward.EINVALID)
	checkLive(t, s, other)

	// The largest cost from the most credits: no precision lost.
	r := spend(t, s, big, keyward.MaxCost, at)
	want := keyward.Credits{Remaining: keyward.MaxCredits - keyward.MaxCost, RefilledAt: big.Credits.RefilledAt}
	checkSpend(t, "the largest cost from the most credits", r, true, want)
	checkLive(t, s, withCredits(big, want))
}

// A refill due is applied at the start of its period, midnight UTC, and
// not before: the credits are set to the refill's amount (not added to),
// once however many periods have passed, and then the cost is taken. A
// refused spend, or one of cost 0, still applies the refill due, and
// stores it.
func testSpendCreditsRefillDaily(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	refill := &keyward.Refill{Amount: 10, Interval: keyward.RefillDaily}
	k := NewKey(acme, CreatedAt(base), Credits(2, refill)) // set at base, 2025-03-14 15:09:26.535897
	create(t, s, k)
	day := func(d int) time.Time { return time.Date(2025, time.March, 14+d, 0, 0, 0, 0, time.UTC) }
	plus2 := time.FixedZone("UTC+2", 2*3600)
	credits := func(n int64, at time.Time) keyward.Credits {
		return keyward.Credits{Remaining: n, Refill: refill, RefilledAt: at}
	}
	steps := []struct {
		name       string
		cost       int64
		now        time.Time
		ok         bool
		left       int64
		refilledAt time.Time
	}{
		{"the same day", 1, base.Add(time.Minute), true, 1, k.Credits.RefilledAt},
		{"the last microsecond of the day", 5, day(1).Add(-time.Microsecond), false, 1, k.Credits.RefilledAt},
		// 01:00 at UTC+2 is 23:00 UTC: still the same day.
		{"another zone's next day", 5, time.Date(2025, time.March, 15, 1, 0, 0, 0, plus2), false, 1, k.Credits.RefilledAt},
		{"midnight", 5, day(1), true, 5, day(1)},
		{"later that day", 1, day(2).Add(-time.Second), true, 4, day(1)},
		{"refused at the next midnight", 11, day(2), false, 10, day(2)},
		{"after a week away, refilled once", 0, day(9).Add(time.Hour), true, 10, day(9)},
		{"the same day again", 10, day(9).Add(2 * time.Hour), true, 0, day(9)},
	}
	for _, st := range steps {
		want := credits(st.left, st.refilledAt)
		checkSpend(t, st.name, spend(t, s, k, st.cost, st.now), st.ok, want)
		checkLive(t, s, withCredits(k, want))
	}
}

// A monthly refill is due on the first of each month at midnight UTC,
// whatever the month's length.
func testSpendCreditsRefillMonthly(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	refill := &keyward.Refill{Amount: 100, Interval: keyward.RefillMonthly}
	set := time.Date(2025, time.January, 31, 12, 0, 0, 0, time.UTC)
	k := NewKey(acme, CreatedAt(set), Credits(0, refill))
	create(t, s, k)
	first := func(m time.Month) time.Time { return time.Date(2025, m, 1, 0, 0, 0, 0, time.UTC) }
	steps := []struct {
		name       string
		cost       int64
		now        time.Time
		ok         bool
		left       int64
		refilledAt time.Time
	}{
		{"the last second of January", 1, first(time.February).Add(-time.Second), false, 0, set},
		{"February the first", 1, first(time.February), true, 99, first(time.February)},
		{"February the 28th, late", 1, first(time.March).Add(-time.Microsecond), true, 98, first(time.February)},
		{"March the first", 30, first(time.March), true, 70, first(time.March)},
		{"in June, refilled once", 100, time.Date(2025, time.June, 15, 8, 0, 0, 0, time.UTC), true, 0, first(time.June)},
		{"in June again", 1, time.Date(2025, time.June, 30, 23, 0, 0, 0, time.UTC), false, 0, first(time.June)},
	}
	for _, st := range steps {
		want := keyward.Credits{Remaining: st.left, Refill: refill, RefilledAt: st.refilledAt}
		checkSpend(t, st.name, spend(t, s, k, st.cost, st.now), st.ok, want)
		checkLive(t, s, withCredits(k, want))
	}
}

// A key without credits is not limited: SpendCredits spends nothing,
// says so (Limited false), and the key is as it was, its rate limits
// included.
func testSpendCreditsUnlimited(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	for _, k := range []*keyward.Key{
		NewKey(acme, CreatedAt(base)),
		NewKey(acme, CreatedAt(base), RateLimits(someLimits()...)),
		NewKey("", CreatedAt(base)),
	} {
		create(t, s, k)
		for _, cost := range []int64{0, 1, keyward.MaxCost} {
			if r := spend(t, s, k, cost, base.Add(time.Hour)); r.Limited {
				t.Errorf("SpendCredits(%d) of a key without credits: %+v, want Limited false", cost, r)
			}
		}
		checkLive(t, s, k)
	}
}

// SpendCredits of an unknown id, or of a deleted key, is ENOTFOUND and
// spends nothing; a root key's credits are spent like any other's.
func testSpendCreditsNotFound(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	gone := NewKey(acme, CreatedAt(base), Credits(10, daily))
	root := NewKey("", CreatedAt(base), Credits(10, nil))
	create(t, s, gone)
	create(t, s, root)
	remove(t, s, gone, base.Add(time.Minute))
	for name, id := range map[string]keyward.KeyID{"an unknown key": keyward.NewKeyID(), "a deleted key": gone.ID} {
		r, err := s.SpendCredits(t.Context(), id, 1, base.Add(48*time.Hour))
		checkCode(t, "SpendCredits of "+name, err, keyward.ENOTFOUND)
		if r.Limited || r.OK {
			t.Errorf("SpendCredits of %s answered %+v with its error", name, r)
		}
	}
	// Not refilled either, though a refill was due.
	checkKey(t, "the deleted key", record(t, s, gone), deletedAs(gone, base.Add(time.Minute)))
	checkSpend(t, "a root key's", spend(t, s, root, 4, base.Add(time.Hour)), true, keyward.Credits{Remaining: 6, RefilledAt: root.Credits.RefilledAt})
}

// A spend is use, not a change: the key's version, UpdatedAt and last use
// stay as they were, and no audit event is written, whether the spend
// takes credits, refills them or is refused. An update afterwards keeps
// the credits as spent, and counts the version from where it was.
func testSpendCreditsNoChange(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	refill := &keyward.Refill{Amount: 10, Interval: keyward.RefillDaily}
	k := NewKey(acme, CreatedAt(base), Credits(5, refill), Version(3), UpdatedAt(base.Add(time.Minute)), RateLimits(someLimits()[0]))
	create(t, s, k)
	used := base.Add(2 * time.Minute)
	touch(t, s, keyward.KeyUse{ID: k.ID, At: used})
	k.LastUsedAt = &used
	next := time.Date(2025, time.March, 15, 0, 0, 0, 0, time.UTC)
	spend(t, s, k, 2, base.Add(time.Hour))    // takes
	spend(t, s, k, 7, base.Add(2*time.Hour))  // refused
	spend(t, s, k, 4, next.Add(time.Hour))    // refills, then takes
	spend(t, s, k, 0, next.Add(2*time.Hour))  // looks
	spend(t, s, k, 11, next.Add(3*time.Hour)) // refused
	want := withCredits(k, keyward.Credits{Remaining: 6, Refill: refill, RefilledAt: next})
	checkLive(t, s, want) // Version, UpdatedAt and LastUsedAt as they were
	if evs := events(t, s, keyward.AuditFilter{OrgID: acme}); len(evs) != 0 {
		t.Errorf("spends wrote %d audit events", len(evs))
	}

	renamed := update(t, s, k, nil, func(k *keyward.Key) { k.Name = "renamed" })
	want.Name, want.Version = "renamed", k.Version+1
	checkKey(t, "the key updated after spends", renamed, want)
}

// Concurrent spends, through two handles on one store (two processes),
// never take more than the key has: from a key with 100 credits, spends of
// 1 until refused succeed exactly 100 times, each seeing what the one
// before left, even with updates of the key running meanwhile (an update
// writes back the credits it read, so it must read them under the same
// lock as a spend).
func testSpendCreditsConcurrent(t *testing.T, s *suite) {
	store := s.newStore(t)
	stores := []keyward.KeyStore{store, s.reopen(t, store)}
	const credits, spenders, updates = 100, 8, 10
	k := NewKey(acme, CreatedAt(base), Credits(credits, nil))
	create(t, store, k)
	at := base.Add(time.Hour)
	lefts := make([][]int64, spenders) // what each successful spend left
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range spenders {
		wg.Go(func() {
			<-start
			st := stores[i%len(stores)]
			for {
				r, err := st.SpendCredits(t.Context(), k.ID, 1, at)
				if err != nil {
					t.Errorf("spender %d: SpendCredits: %v", i, err)
					return
				}
				if !r.Limited {
					t.Errorf("spender %d: SpendCredits: not limited", i)
					return
				}
				if !r.OK {
					if r.Remaining != 0 {
						t.Errorf("spender %d: refused with %d left", i, r.Remaining)
					}
					return
				}
				lefts[i] = append(lefts[i], r.Remaining)
			}
		})
	}
	wg.Go(func() {
		<-start
		for i := range updates {
			if _, err := stores[i%len(stores)].UpdateKey(t.Context(), acme, k.ID, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
				old.Name = fmt.Sprintf("update %d", i)
				return old, nil, nil
			}); err != nil {
				t.Errorf("UpdateKey %d: %v", i, err)
			}
		}
	})
	close(start)
	wg.Wait()
	all := slices.Concat(lefts...)
	slices.Sort(all)
	if len(all) != credits {
		t.Errorf("%d spends of 1 succeeded from %d credits, want exactly %d", len(all), credits, credits)
	}
	for i, left := range all {
		if left != int64(i) {
			t.Errorf("the successful spends left, in order, %d at position %d: want each of 0 to %d once", left, i, credits-1)
			break
		}
	}
	got, err := store.KeyByID(t.Context(), k.ID)
	if err != nil {
		t.Fatalf("KeyByID: %v", err)
	}
	if got.Credits == nil || got.Credits.Remaining != 0 || got.Version != 1+updates || got.Name != fmt.Sprintf("update %d", updates-1) {
		t.Errorf("after the spends and updates: credits %s, version %d, name %q; want 0 left, version %d, the last update's name",
			showCredits(got.Credits), got.Version, got.Name, 1+updates)
	}
}

// A spend, made by this process or another, changes no verify answer
// (the key's fields a cache holds stay), so nothing travels the
// invalidation feed.
func testFeedSpendInvalidatesNothing(t *testing.T, s *suite) {
	store := s.newStore(t)
	other := s.reopen(t, store)
	w := watch(t, store)
	w.WaitFor(t, "the first confirmation", func(ev []Event) bool { return ConfirmedAfter(ev, time.Time{}) >= 0 })
	k := NewKey(acme, CreatedAt(base), Credits(3, daily))
	create(t, other, k)
	expectInvalidations(t, w, "a create", k.Hashes()...) // a create travels the feed
	for _, st := range []keyward.KeyStore{store, other} {
		spend(t, st, k, 1, base.Add(time.Hour))
		spend(t, st, k, 5, base.Add(time.Hour))    // refused
		spend(t, st, k, 1, base.Add(48*time.Hour)) // a refill
	}
	expectInvalidations(t, w, "spends")
}

// Spends of several keys at once, among creates (some refused) and spends
// of unknown, deleted and unlimited keys, each get their own answer: a
// store that makes them together (in one transaction, one batch) must
// neither let one's failure undo or fail another, nor mix up their
// answers.
func testSpendCreditsMixed(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	many := NewKey(acme, CreatedAt(base), Credits(1000, nil))
	few := NewKey(acme, CreatedAt(base), Credits(10, daily))
	unlimited := NewKey(acme, CreatedAt(base), RateLimits(someLimits()[0]))
	gone := NewKey(acme, CreatedAt(base), Credits(10, nil))
	for _, k := range []*keyward.Key{many, few, unlimited, gone} {
		create(t, s, k)
	}
	remove(t, s, gone, base.Add(time.Minute))
	unknown := NewKey(acme, CreatedAt(base), Credits(10, nil)) // never stored
	at := base.Add(time.Hour)

	type outcome struct {
		ok, refused, unlimited, notFound int
	}
	const workers, rounds = 4, 25
	targets := []*keyward.Key{many, few, unlimited, gone, unknown}
	outcomes := make([][workers]outcome, len(targets))
	created := make([][]error, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for ti, k := range targets {
		for w := range workers {
			wg.Go(func() {
				<-start
				o := &outcomes[ti][w]
				for range rounds {
					r, err := s.SpendCredits(t.Context(), k.ID, 1, at)
					switch {
					case keyward.ErrorCode(err) == keyward.ENOTFOUND:
						o.notFound++
					case err != nil:
						t.Errorf("SpendCredits(%v): %v", k.ID, err)
						return
					case !r.Limited:
						o.unlimited++
					case r.OK:
						o.ok++
					default:
						o.refused++
					}
				}
			})
		}
	}
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range rounds {
				k := NewKey(globex, CreatedAt(base), Credits(int64(i), nil))
				if i%5 == 4 {
					k.Hash = many.Hash // taken: refused
				}
				created[w] = append(created[w], s.CreateKey(t.Context(), k, nil))
			}
		})
	}
	close(start)
	wg.Wait()

	sum := func(ti int) outcome {
		var o outcome
		for _, x := range outcomes[ti] {
			o.ok, o.refused, o.unlimited, o.notFound = o.ok+x.ok, o.refused+x.refused, o.unlimited+x.unlimited, o.notFound+x.notFound
		}
		return o
	}
	const n = workers * rounds
	for ti, want := range []outcome{{ok: n}, {ok: 10, refused: n - 10}, {unlimited: n}, {notFound: n}, {notFound: n}} {
		if got := sum(ti); got != want {
			t.Errorf("spends of key %d: %+v, want %+v", ti, got, want)
		}
	}
	checkLive(t, s, withCredits(many, keyward.Credits{Remaining: 1000 - n, RefilledAt: many.Credits.RefilledAt}))
	checkLive(t, s, withCredits(few, keyward.Credits{Remaining: 0, Refill: daily, RefilledAt: few.Credits.RefilledAt}))
	checkLive(t, s, unlimited)
	checkKey(t, "the deleted key", record(t, s, gone), deletedAs(gone, base.Add(time.Minute)))
	checkGone(t, s, unknown)
	stored := 0
	for w := range created {
		for i, err := range created[w] {
			switch {
			case i%5 == 4:
				checkCode(t, "CreateKey with a taken hash", err, keyward.ECONFLICT)
			case err != nil:
				t.Errorf("CreateKey: %v", err)
			default:
				stored++
			}
		}
	}
	if got := list(t, s, keyward.KeyFilter{OrgID: globex}); len(got) != stored || stored != workers*rounds*4/5 {
		t.Errorf("%d keys of globex listed, %d creates acknowledged; want %d", len(got), stored, workers*rounds*4/5)
	}
}

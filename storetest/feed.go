package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// feedInterval is how often the feeds of these tests confirm.
const feedInterval = 20 * time.Millisecond

// watch runs the feed of store into a new Watcher until the test ends; the
// cleanup checks that it returns nil once stopped. It skips the test if
// the store has no feed.
func watch(t *testing.T, store keyward.KeyStore) *Watcher {
	t.Helper()
	w := NewWatcher()
	watchWith(t, store, w)
	return w
}

// watchWith is watch into the watcher w.
func watchWith(t *testing.T, store keyward.KeyStore, w keyward.InvalidationWatcher) {
	t.Helper()
	feed, ok := store.(keyward.InvalidationFeed)
	if !ok {
		t.Skip("the store has no invalidation feed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- feed.WatchInvalidations(ctx, w, feedInterval) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("WatchInvalidations: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("WatchInvalidations did not return within 30s of its context's end")
		}
	})
}

// A feed resets its watcher as it starts, before it confirms anything
// (whatever was held before may be stale), and then confirms again and
// again, each time a later time.
func testFeedResetsThenConfirms(t *testing.T, s *suite) {
	w := watch(t, s.newStore(t))
	ev := w.WaitFor(t, "three confirmations", func(ev []Event) bool { return w.Count("confirm", keyward.SecretHash{}) >= 3 })
	if ev[0].Kind != "reset" {
		t.Errorf("the feed began with %v, want a reset first", ev)
	}
	var last time.Time
	for _, e := range ev {
		if e.Kind == "reset" && !last.IsZero() {
			t.Errorf("a reset after the feed confirmed, on a healthy store: %v", ev)
		}
		if e.Kind == "confirm" {
			if !e.AsOf.After(last) {
				t.Errorf("confirmation of %v after one of %v", e.AsOf, last)
			}
			last = e.AsOf
		}
	}
}

// The feed's guarantee: every create and every delete committed through
// any handle on the database reaches the watcher before the feed confirms
// a time after it was acknowledged. Creates travel the feed as changes do:
// a cache keeps the set of every hash that exists, and refuses from memory
// one that is not in it once the feed has confirmed past the request.
func testFeedChangesBeforeConfirmation(t *testing.T, s *suite) {
	store := s.newStore(t)
	other := s.reopen(t, store) // another process
	w := watch(t, store)
	w.WaitFor(t, "the first confirmation", func(ev []Event) bool { return ConfirmedAfter(ev, time.Time{}) >= 0 })
	for round, writer := range []keyward.KeyStore{other, store, other} {
		// A key created with a previous secret too (an import of a
		// rotated key): both its hashes travel.
		k := NewKey(acme, CreatedAt(base), Previous(base.Add(time.Hour)))
		create(t, writer, k)
		created := time.Now()
		ev := w.WaitFor(t, "a confirmation after the create", func(ev []Event) bool { return ConfirmedAfter(ev, created) >= 0 })
		for _, h := range k.Hashes() {
			if n := countInvalidations(ev[:ConfirmedAfter(ev, created)], h); n != 1 {
				t.Errorf("round %d: %d invalidations of a hash of the key before the confirmation of a time after its create, want 1: %v", round, n, ev)
			}
		}
		remove(t, writer, k, base.Add(time.Hour))
		deleted := time.Now()
		ev = w.WaitFor(t, "a confirmation after the delete", func(ev []Event) bool { return ConfirmedAfter(ev, deleted) >= 0 })
		if n := countInvalidations(ev[:ConfirmedAfter(ev, deleted)], k.Hash); n != 2 {
			t.Errorf("round %d: %d invalidations of the key before the confirmation of a time after its delete, want 2 (its create, its delete): %v", round, n, ev)
		}
	}
	// A root key made by the bootstrap travels too.
	fresh := s.newStore(t)
	fw := watch(t, fresh)
	fw.WaitFor(t, "the first confirmation", func(ev []Event) bool { return ConfirmedAfter(ev, time.Time{}) >= 0 })
	root := newRootKey(t, base)
	if !bootstrap(t, s.reopen(t, fresh), root) {
		t.Fatal("BootstrapRootKey of a new store stored nothing")
	}
	booted := time.Now()
	ev := fw.WaitFor(t, "a confirmation after the bootstrap", func(ev []Event) bool { return ConfirmedAfter(ev, booted) >= 0 })
	if n := countInvalidations(ev[:ConfirmedAfter(ev, booted)], root.Hash); n != 1 {
		t.Errorf("%d invalidations of the bootstrapped root key before the confirmation of a time after it, want 1: %v", n, ev)
	}

	// Nothing else is passed on: a delete that finds no key, a create
	// refused as a conflict.
	taken := newKey(t, acme, base)
	create(t, other, taken)
	afterTaken := time.Now()
	w.WaitFor(t, "a confirmation after the create", func(ev []Event) bool { return ConfirmedAfter(ev, afterTaken) >= 0 })
	before := len(w.Events())
	if _, err := Delete(t.Context(), other, globex, keyward.NewKeyID(), base); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Fatalf("DeleteKey of no key: %v", err)
	}
	dup := newKey(t, acme, base)
	dup.ID = taken.ID
	checkCode(t, "CreateKey with a taken id", other.CreateKey(t.Context(), dup, nil), keyward.ECONFLICT)
	done := time.Now()
	ev = w.WaitFor(t, "a confirmation after the refused changes", func(ev []Event) bool { return ConfirmedAfter(ev, done) >= 0 })
	for _, e := range ev[before:ConfirmedAfter(ev, done)] {
		if e.Kind == "invalidate" {
			t.Errorf("the feed passed on a change that alters no verify answer: %v", e)
		}
	}
}

// A watcher that observes lags hears, right after each invalidation of a
// change, how long after its commit the change reached it: at least zero,
// and at most the time since the writer began the change (the same
// machine's clock in these tests; the bound only catches a lag read in
// the wrong unit, or from the wrong field). A watcher that does not
// observe lags is told the same invalidations (the other tests).
func testFeedReportsLag(t *testing.T, s *suite) {
	store := s.newStore(t)
	other := s.reopen(t, store) // another process
	w := NewLagWatcher()
	watchWith(t, store, w)
	w.WaitFor(t, "the first confirmation", func(ev []Event) bool { return ConfirmedAfter(ev, time.Time{}) >= 0 })
	for round, writer := range []keyward.KeyStore{other, store} {
		began := time.Now()
		k := NewKey(acme, CreatedAt(base), Previous(base.Add(time.Hour)))
		create(t, writer, k)
		remove(t, writer, k, base.Add(time.Hour))
		done := time.Now()
		ev := w.WaitFor(t, "a confirmation after the delete", func(ev []Event) bool { return ConfirmedAfter(ev, done) >= 0 })
		heard := time.Since(began)
		ev = ev[:ConfirmedAfter(ev, done)]
		invalidations, positive := 0, 0
		for i, e := range ev {
			if e.Kind != "invalidate" || !slices.Contains(k.Hashes(), e.Hash) {
				continue
			}
			invalidations++
			if i+1 >= len(ev) || ev[i+1].Kind != "lag" {
				t.Errorf("round %d: invalidation %d of the key is not followed by its lag: %v", round, i, ev)
				continue
			}
			lag := ev[i+1].Lag
			if lag < 0 || lag > heard {
				t.Errorf("round %d: lag %v, want between 0 and %v (the time since the change began)", round, lag, heard)
			}
			if lag > 0 {
				positive++
			}
		}
		if want := len(k.Hashes()) + 1; invalidations < want { // both hashes created, at least one deleted
			t.Errorf("round %d: %d invalidations of the key, want at least %d: %v", round, invalidations, want, ev)
		}
		if positive == 0 {
			t.Errorf("round %d: every lag was 0: %v", round, ev)
		}
	}
}

// countInvalidations returns how many invalidations of h ev holds.
func countInvalidations(ev []Event, h keyward.SecretHash) int {
	n := 0
	for _, e := range ev {
		if e.Kind == "invalidate" && e.Hash == h {
			n++
		}
	}
	return n
}

// The feed returns nil once its context ends.
func testFeedStopsWithContext(t *testing.T, s *suite) {
	store := s.newStore(t)
	feed, ok := store.(keyward.InvalidationFeed)
	if !ok {
		t.Skip("the store has no invalidation feed")
	}
	ctx, cancel := context.WithCancel(t.Context())
	w := NewWatcher()
	done := make(chan error, 1)
	go func() { done <- feed.WatchInvalidations(ctx, w, feedInterval) }()
	w.WaitFor(t, "the first confirmation", func(ev []Event) bool { return ConfirmedAfter(ev, time.Time{}) >= 0 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("WatchInvalidations after its context ended: %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("WatchInvalidations did not return within 30s of its context's end")
	}
}

package storetest

import (
	"context"
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
	feed, ok := store.(keyward.InvalidationFeed)
	if !ok {
		t.Skip("the store has no invalidation feed")
	}
	w := NewWatcher()
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
	return w
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

// The feed's guarantee: every delete committed through any handle on the
// database reaches the watcher before the feed confirms a time after the
// delete was acknowledged. A create is not passed on: no process can have
// looked up a secret that did not exist.
func testFeedChangesBeforeConfirmation(t *testing.T, s *suite) {
	store := s.newStore(t)
	other := s.reopen(t, store) // another process
	w := watch(t, store)
	w.WaitFor(t, "the first confirmation", func(ev []Event) bool { return ConfirmedAfter(ev, time.Time{}) >= 0 })
	for round, writer := range []keyward.KeyStore{other, store, other} {
		k := newKey(t, acme, base)
		create(t, writer, k)
		remove(t, writer, k, base.Add(time.Hour))
		deleted := time.Now()
		ev := w.WaitFor(t, "a confirmation after the delete", func(ev []Event) bool { return ConfirmedAfter(ev, deleted) >= 0 })
		n := 0
		for _, e := range ev[:ConfirmedAfter(ev, deleted)] {
			if e.Kind == "invalidate" && e.Hash == k.Hash {
				n++
			}
		}
		if n != 1 {
			t.Errorf("round %d: %d invalidations of the key before the confirmation of a time after its delete, want 1: %v", round, n, ev)
		}
	}
	// Nothing else is passed on: a delete that finds no key, a create
	// refused as a conflict, a create.
	before := len(w.Events())
	if _, err := Delete(t.Context(), other, globex, keyward.NewKeyID(), base); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Fatalf("DeleteKey of no key: %v", err)
	}
	taken := newKey(t, acme, base)
	create(t, other, taken)
	dup := newKey(t, acme, base)
	dup.ID = taken.ID
	checkCode(t, "CreateKey with a taken id", other.CreateKey(t.Context(), dup, nil), keyward.ECONFLICT)
	done := time.Now()
	ev := w.WaitFor(t, "a confirmation after the refused changes", func(ev []Event) bool { return ConfirmedAfter(ev, done) >= 0 })
	for _, e := range ev[before:ConfirmedAfter(ev, done)] {
		if e.Kind == "invalidate" {
			t.Errorf("the feed passed on a change that alters no verify answer: %v", e)
		}
	}
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

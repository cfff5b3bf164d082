package storetest

import (
	"encoding/hex"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// Watcher is a keyward.InvalidationWatcher that records what a feed tells
// it, in order, for tests of a feed: "reset", "invalidate <hex of the
// hash>", and "confirm" (with the time confirmed, in Confirmed).
type Watcher struct {
	mu     sync.Mutex
	events []Event
	added  chan struct{}
}

// Event is one call a feed made to a Watcher.
type Event struct {
	Kind string             // "reset", "invalidate", "confirm" or "lag" ("mark": a test's own bookmark)
	Hash keyward.SecretHash // for "invalidate"
	AsOf time.Time          // for "confirm"
	Lag  time.Duration      // for "lag"
}

// String is how the event reads in a test's failure.
func (e Event) String() string {
	if e.Kind == "invalidate" {
		return "invalidate " + hex.EncodeToString(e.Hash[:4])
	}
	if e.Kind == "lag" {
		return "lag " + e.Lag.String()
	}
	return e.Kind
}

var _ keyward.InvalidationWatcher = (*Watcher)(nil)

// NewWatcher returns an empty Watcher.
func NewWatcher() *Watcher { return &Watcher{added: make(chan struct{}, 1)} }

func (w *Watcher) add(e Event) {
	w.mu.Lock()
	w.events = append(w.events, e)
	w.mu.Unlock()
	select {
	case w.added <- struct{}{}:
	default:
	}
}

// Invalidate records an invalidation.
func (w *Watcher) Invalidate(h keyward.SecretHash) { w.add(Event{Kind: "invalidate", Hash: h}) }

// Reset records a reset.
func (w *Watcher) Reset() { w.add(Event{Kind: "reset"}) }

// Confirm records a confirmation.
func (w *Watcher) Confirm(asOf time.Time) { w.add(Event{Kind: "confirm", AsOf: asOf}) }

// LagWatcher is a Watcher that is also a keyward.InvalidationLagObserver:
// it records each lag a feed reports as a "lag" event.
type LagWatcher struct{ *Watcher }

// NewLagWatcher returns a new, empty LagWatcher.
func NewLagWatcher() LagWatcher { return LagWatcher{NewWatcher()} }

// InvalidationLag records a lag.
func (w LagWatcher) InvalidationLag(lag time.Duration) { w.add(Event{Kind: "lag", Lag: lag}) }

// Events returns what was recorded so far.
func (w *Watcher) Events() []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.events)
}

// Count returns how many events of kind were recorded (for "invalidate",
// of hash h only).
func (w *Watcher) Count(kind string, h keyward.SecretHash) int {
	n := 0
	for _, e := range w.Events() {
		if e.Kind == kind && (kind != "invalidate" || e.Hash == h) {
			n++
		}
	}
	return n
}

// WaitFor waits until ok holds for the events so far and returns them,
// failing the test if it has not within a generous bound (which only turns
// a hang into a failure).
func (w *Watcher) WaitFor(t testing.TB, what string, ok func(events []Event) bool) []Event {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		if events := w.Events(); ok(events) {
			return events
		}
		select {
		case <-w.added:
		case <-deadline.C:
			t.Fatalf("waited 30s for %s; events: %v", what, w.Events())
		}
	}
}

// ConfirmedAfter returns the index of the first confirmation of a time
// after t, or -1.
func ConfirmedAfter(events []Event, t time.Time) int {
	for i, e := range events {
		if e.Kind == "confirm" && e.AsOf.After(t) {
			return i
		}
	}
	return -1
}

// Index returns the index of the first invalidation of h, or -1.
func Index(events []Event, h keyward.SecretHash) int {
	for i, e := range events {
		if e.Kind == "invalidate" && e.Hash == h {
			return i
		}
	}
	return -1
}

package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/storetest"
)

// watch runs db.WatchInvalidations into a new Watcher until the test ends,
// and waits for its first confirmation. The cleanup checks that it returns
// nil once stopped.
func watch(t *testing.T, db *sqlite.DB) *storetest.Watcher {
	t.Helper()
	w := storetest.NewWatcher()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.WatchInvalidations(ctx, w, 10*time.Millisecond) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("WatchInvalidations returned %v once stopped", err)
		}
	})
	w.WaitFor(t, "the first confirmation", func(ev []storetest.Event) bool { return len(ev) >= 2 })
	if ev := w.Events(); ev[0].Kind != "reset" || ev[1].Kind != "confirm" {
		t.Fatalf("a new watch began with %v, want [reset confirm ...]", ev)
	}
	return w
}

// While the log cannot be read, nothing is confirmed (so a cache stops
// trusting what it holds within its bound); the watch does not give up.
func TestWatchInvalidationsStopsConfirmingOnFailure(t *testing.T) {
	db, _ := openTestDB(t)
	w := watch(t, db)
	db.Close()
	time.Sleep(50 * time.Millisecond) // reads in flight finish
	last := w.Count("confirm", [32]byte{})
	time.Sleep(100 * time.Millisecond) // several reads, all failing
	if n := w.Count("confirm", [32]byte{}); n != last {
		t.Errorf("%d confirmations while the database was closed", n-last)
	}
}

// On a database that cannot be read, the watch fails at once rather than
// confirming nothing forever.
func TestWatchInvalidationsCannotStart(t *testing.T) {
	db, _ := openTestDB(t)
	db.Close()
	if err := db.WatchInvalidations(context.Background(), storetest.NewWatcher(), 0); err == nil {
		t.Fatal("WatchInvalidations on a closed database returned nil")
	}
}

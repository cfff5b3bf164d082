package sqlite_test

import (
	"context"
	"github.com/keyward/keyward/internal/syncbuf"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
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

// A watch that cannot start (the file not yet migrated) says so, once,
// confirms nothing, and starts as soon as it can; on a closed database it
// returns at once.
func TestWatchInvalidationsStartsWhenItCan(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	var logs syncBuffer
	db, err := sqlite.Open(t.Context(), path, sqlite.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := storetest.NewWatcher()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- db.WatchInvalidations(ctx, w, 10*time.Millisecond) }()
	time.Sleep(100 * time.Millisecond) // several attempts
	if ev := w.Events(); len(ev) != 0 {
		t.Fatalf("a watch that cannot start told its watcher %v", ev)
	}
	if n := strings.Count(logs.String(), "cannot read the invalidation log"); n != 1 {
		t.Errorf("%d warnings while it could not start, want 1:\n%s", n, logs.String())
	}
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	ev := w.WaitFor(t, "the first confirmation", func(ev []storetest.Event) bool { return len(ev) >= 2 })
	if ev[0].Kind != "reset" || ev[1].Kind != "confirm" {
		t.Errorf("a watch that started late began with %v, want [reset confirm ...]", ev)
	}
	if !strings.Contains(logs.String(), "reading the invalidation log again") {
		t.Errorf("no word that the watch recovered:\n%s", logs.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("WatchInvalidations returned %v once stopped", err)
	}

	db.Close()
	if err := db.WatchInvalidations(context.Background(), storetest.NewWatcher(), 0); err != nil {
		t.Errorf("WatchInvalidations on a closed database: %v, want nil at once", err)
	}
}

// syncBuffer is a log sink safe for the goroutines that write to it.
type syncBuffer = syncbuf.Buffer

// The invalidation log is pruned, so that it does not grow with every
// change; a reader that had not read what was pruned is reset (it cannot
// know what it missed), and one that had is not.
func TestInvalidationLogPruning(t *testing.T) {
	ctx := t.Context()
	db, path := openTestDB(t)
	for range 5 {
		k := storetest.NewKey("acme")
		if err := db.CreateKey(ctx, k, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := storetest.Delete(ctx, db, "acme", k.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	ahead := storetest.NewWatcher()
	pos, err := db.ReadInvalidations(ctx, 0, ahead)
	if err != nil || pos != 10 {
		t.Fatalf("read the log: position %d, %v; want 10 (an entry for each create and each delete)", pos, err)
	}
	if n, err := db.PruneInvalidations(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("pruning entries older than an hour removed %d, %v; want none", n, err)
	}
	n, err := db.PruneInvalidations(ctx, time.Now().Add(time.Second))
	if err != nil || n != 10 {
		t.Fatalf("pruning every entry removed %d, %v; want 10", n, err)
	}
	var left int
	write, _ := db.Pools()
	if err := write.QueryRowContext(ctx, `SELECT count(*) FROM key_invalidations`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d entries left after pruning, %v", left, err)
	}

	// A reader that had read everything goes on without a reset.
	pos, err = db.ReadInvalidations(ctx, pos, ahead)
	if err != nil || pos != 10 || ahead.Count("reset", keyward.SecretHash{}) != 0 {
		t.Errorf("a reader that was up to date: position %d, %v, events %v", pos, err, ahead.Events())
	}
	// One that had not is reset, and carries on from where the pruning
	// stopped, with what came after it.
	k := storetest.NewKey("acme")
	other := openAt(t, path)
	if err := other.CreateKey(ctx, k, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := storetest.Delete(ctx, other, "acme", k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	behind := storetest.NewWatcher()
	pos, err = db.ReadInvalidations(ctx, 3, behind)
	if err != nil || pos != 12 {
		t.Fatalf("a reader behind the pruning: position %d, %v; want 12", pos, err)
	}
	if ev := behind.Events(); len(ev) != 3 || ev[0].Kind != "reset" || ev[1].Kind != "invalidate" || ev[1].Hash != k.Hash || ev[2].Kind != "invalidate" || ev[2].Hash != k.Hash {
		t.Errorf("a reader behind the pruning heard %v, want a reset, then the key created and deleted since", ev)
	}
}

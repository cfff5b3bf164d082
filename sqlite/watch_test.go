package sqlite_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
)

// hashes collects what WatchRevocations reports.
type hashes struct {
	mu     sync.Mutex
	got    []keyward.SecretHash
	resets int
}

func (h *hashes) evict(x keyward.SecretHash) { h.mu.Lock(); h.got = append(h.got, x); h.mu.Unlock() }
func (h *hashes) reset()                     { h.mu.Lock(); h.resets++; h.mu.Unlock() }
func (h *hashes) snapshot() ([]keyward.SecretHash, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]keyward.SecretHash(nil), h.got...), h.resets
}

// waitFor polls cond; the deadline only bounds a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWatchRevocationsSeesOtherProcesses: a delete made through another
// handle on the file (as keyward root-key revoke would make it) is
// reported; deletes made before the watch began are not.
func TestWatchRevocationsSeesOtherProcesses(t *testing.T) {
	ctx := context.Background()
	watcher, path := openTestDB(t)
	other := openAt(t, path)
	before := newKey(t, "acme")
	k := newKey(t, "acme")
	for _, x := range []*keyward.Key{before, k} {
		if err := other.CreateKey(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := other.DeleteKey(ctx, "acme", before.ID, time.Now()); err != nil {
		t.Fatal(err)
	}

	var h hashes
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- watcher.WatchRevocations(wctx, h.evict, h.reset) }()
	waitWatching(t, other, &h)

	if _, err := other.DeleteKey(ctx, "acme", k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the revocation to be reported", func() bool {
		got, _ := h.snapshot()
		return slices.Contains(got, k.Hash)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("WatchRevocations returned %v", err)
	}
	got, resets := h.snapshot()
	if slices.Contains(got, before.Hash) {
		t.Error("a revocation from before the watch began was reported")
	}
	if resets != 1 {
		t.Errorf("%d resets on a healthy database, want 1 (at the start)", resets)
	}
}

// waitWatching returns once the watch reporting to h has taken its
// starting point: it deletes probe keys through db until one is reported.
func waitWatching(t *testing.T, db *sqlite.DB, h *hashes) {
	t.Helper()
	ctx := context.Background()
	waitFor(t, "the watch to start", func() bool {
		probe := newKey(t, "probe")
		if err := db.CreateKey(ctx, probe); err != nil {
			t.Fatal(err)
		}
		if _, err := db.DeleteKey(ctx, "probe", probe.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * sqlite.WatchInterval)
		got, _ := h.snapshot()
		return len(got) > 0
	})
}

// TestWatchRevocationsResetsOnFailure: when the log cannot be read, the
// watcher says so (reset), since revocations may be going unseen.
func TestWatchRevocationsResetsOnFailure(t *testing.T) {
	db, _ := openTestDB(t)
	var h hashes
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- db.WatchRevocations(ctx, h.evict, h.reset) }()
	waitWatching(t, db, &h)
	_, startResets := h.snapshot()
	db.Close()
	waitFor(t, "a reset after the database failed", func() bool {
		_, resets := h.snapshot()
		return resets > startResets
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("WatchRevocations returned %v after being stopped", err)
	}
}

// TestWatchRevocationsCannotStart: on a database that cannot be read, the
// watch fails at once rather than reporting nothing.
func TestWatchRevocationsCannotStart(t *testing.T) {
	db, _ := openTestDB(t)
	db.Close()
	err := db.WatchRevocations(context.Background(), func(keyward.SecretHash) {}, func() {})
	if err == nil {
		t.Fatal("WatchRevocations on a closed database returned nil")
	}
}

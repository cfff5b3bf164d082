package sqlite_test

import (
	"context"
	"sync"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/storetest"
)

// TestGroupCommitIsolatesConflicts: creates committed together still
// succeed or fail one by one: each key whose hash another create also
// uses is stored once, and every other key is stored.
func TestGroupCommitIsolatesConflicts(t *testing.T) {
	ctx := context.Background()
	db, _ := openTestDB(t)
	const n = 64
	keys := make([]*keyward.Key, n)
	for i := range keys {
		keys[i] = storetest.NewKey("acme")
		if i%2 == 1 {
			keys[i].Hash = keys[i-1].Hash // pairs share a hash
		}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range keys {
		wg.Go(func() { <-start; errs[i] = db.CreateKey(ctx, keys[i], nil) })
	}
	close(start)
	wg.Wait()
	for i := 0; i < n; i += 2 {
		a, b := errs[i], errs[i+1]
		if (a == nil) == (b == nil) {
			t.Fatalf("pair %d: errors %v and %v, want exactly one success", i/2, a, b)
		}
		if c := keyward.ErrorCode(a) + keyward.ErrorCode(b); c != keyward.ECONFLICT {
			t.Errorf("pair %d: failure code %q, want %q", i/2, c, keyward.ECONFLICT)
		}
		winner := keys[i]
		if a != nil {
			winner = keys[i+1]
		}
		got, err := db.KeyByHash(ctx, winner.Hash)
		if err != nil || got.ID != winner.ID {
			t.Errorf("pair %d: stored key %v, %v; want the one acknowledged", i/2, got, err)
		}
	}
}

// TestCloseWithCreatesInFlight: Close while creates are queued answers
// every one (stored, or an error) and does not hang.
func TestCloseWithCreatesInFlight(t *testing.T) {
	path := t.TempDir() + "/k.db"
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	keys := make([]*keyward.Key, 200)
	errs := make([]error, len(keys))
	for i := range keys {
		keys[i] = storetest.NewKey("acme")
		wg.Go(func() { errs[i] = db.CreateKey(context.Background(), keys[i], nil) })
	}
	db.Close()
	wg.Wait()
	// Every acknowledged create is on disk.
	db2 := openAt(t, path)
	for i, k := range keys {
		if errs[i] != nil {
			continue
		}
		if _, err := db2.KeyByHash(t.Context(), k.Hash); err != nil {
			t.Errorf("acknowledged create %d lost: %v", i, err)
		}
	}
}

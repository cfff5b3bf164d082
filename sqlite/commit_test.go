package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

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

// TestConcurrentCreatesWithEvents guards the group commit's prepared
// statements: 64 goroutines each create 20 keys at once, every create with
// its audit event (some keys with a last use), and every one that does not
// reuse a hash succeeds and is stored with its event; each that does fails
// with ECONFLICT, and its event, rolled back with it under its savepoint,
// is not stored. Every statement of a batch ends up prepared.
func TestConcurrentCreatesWithEvents(t *testing.T) {
	ctx := t.Context()
	db, _ := openTestDB(t)
	const goroutines, perGoroutine = 64, 20
	type create struct {
		key      *keyward.Key
		ev       *keyward.AuditEvent
		conflict bool // reuses the hash of a key the same goroutine stored before
		err      error
	}
	creates := make([][]create, goroutines)
	at := time.Now().UTC().Truncate(time.Microsecond)
	for g := range creates {
		org := keyward.OrgID(fmt.Sprintf("org-%d", g%4))
		creates[g] = make([]create, perGoroutine)
		for i := range creates[g] {
			k := storetest.NewKey(org, storetest.Metadata(fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)), storetest.CreatedBy("cli"))
			c := create{key: k, conflict: i%10 == 9}
			if c.conflict {
				k.Hash = creates[g][i-1].key.Hash
			}
			if i%3 == 0 {
				used := at.Add(time.Duration(i) * time.Second)
				k.LastUsedAt = &used
			}
			c.ev = &keyward.AuditEvent{
				ID: keyward.NewEventID(), At: at.Add(time.Duration(g*perGoroutine+i) * time.Microsecond),
				OrgID: org, Actor: "cli", Action: keyward.ActionCreate, KeyID: k.ID,
				RequestID: fmt.Sprintf("req-%d-%d", g, i), ClientIP: "192.0.2.1", UserAgent: "test",
			}
			creates[g][i] = c
		}
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range creates {
		wg.Go(func() {
			<-start
			for i := range creates[g] {
				c := &creates[g][i]
				c.err = db.CreateKey(ctx, c.key, c.ev)
			}
		})
	}
	close(start)
	wg.Wait()

	want := make(map[keyward.OrgID]map[keyward.EventID]*keyward.AuditEvent)
	stored := 0
	for g := range creates {
		for i, c := range creates[g] {
			if c.conflict {
				if code := keyward.ErrorCode(c.err); code != keyward.ECONFLICT {
					t.Errorf("create %d of goroutine %d, reusing a hash: %v (code %q), want %s", i, g, c.err, code, keyward.ECONFLICT)
				}
				continue
			}
			if c.err != nil {
				t.Errorf("create %d of goroutine %d: %v", i, g, c.err)
				continue
			}
			stored++
			got, err := db.KeyByHash(ctx, c.key.Hash)
			if err != nil || got.ID != c.key.ID || got.Metadata != c.key.Metadata || got.CreatedBy != "cli" ||
				(got.LastUsedAt == nil) != (c.key.LastUsedAt == nil) || got.LastUsedAt != nil && !got.LastUsedAt.Equal(*c.key.LastUsedAt) {
				t.Errorf("create %d of goroutine %d: stored %+v, %v; want %+v", i, g, got, err, c.key)
			}
			if want[c.ev.OrgID] == nil {
				want[c.ev.OrgID] = make(map[keyward.EventID]*keyward.AuditEvent)
			}
			want[c.ev.OrgID][c.ev.ID] = c.ev
		}
	}
	listed := 0
	for org, evs := range want {
		got, err := db.ListAuditEvents(ctx, keyward.AuditFilter{OrgID: org, Limit: 10 * goroutines * perGoroutine})
		if err != nil {
			t.Fatalf("ListAuditEvents(%s): %v", org, err)
		}
		if len(got) != len(evs) {
			t.Errorf("%s: %d events listed, want %d", org, len(got), len(evs))
		}
		for _, e := range got {
			w, ok := evs[e.ID]
			if !ok {
				t.Errorf("%s: event %v listed, which no successful create wrote (key %v)", org, e.ID, e.KeyID)
				continue
			}
			if e.KeyID != w.KeyID || !e.At.Equal(w.At) || e.RequestID != w.RequestID || e.Action != w.Action || e.Actor != w.Actor {
				t.Errorf("%s: event %+v listed, want %+v", org, e, w)
			}
			listed++
		}
	}
	if want := goroutines * perGoroutine * 9 / 10; stored != want || listed != want {
		t.Errorf("%d keys stored and %d events listed, want %d of each", stored, listed, want)
	}
	for _, q := range sqlite.CreateQueries {
		if !db.IsPrepared(q) {
			t.Errorf("after the creates, the writer has not prepared %q", q)
		}
	}
}

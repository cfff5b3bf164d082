package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// An open store answers Ping.
func testPing(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	create(t, s, newKey(t, acme, base))
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping of a store with a key: %v", err)
	}
}

// With a cancelled context every call fails, with an error that is no
// answer about the keys (not ENOTFOUND, not ECONFLICT), writes nothing, and
// leaves the store working.
func testContextCancelled(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	live := NewKey(acme, CreatedAt(base), Credits(10, nil))
	create(t, s, live)
	// Every call once with a live context first, so that the calls below
	// meet a store in use, with whatever it prepares or caches ready.
	checkLive(t, s, live)
	list(t, s, keyward.KeyFilter{OrgID: acme})
	spend(t, s, live, 0, base)
	empty := newStore(t)
	if err := empty.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(what string, err error) {
		t.Helper()
		switch code := keyward.ErrorCode(err); code {
		case "":
			t.Errorf("%s with a cancelled context: no error", what)
		case keyward.ENOTFOUND, keyward.ECONFLICT:
			t.Errorf("%s with a cancelled context: %v (code %q), want an error that is no answer about the keys", what, err, code)
		}
	}

	k, err := s.Key(ctx, acme, live.ID)
	check("Key", err)
	if k != nil {
		t.Errorf("Key with a cancelled context returned key %v", k.ID)
	}
	k, err = s.KeyByHash(ctx, live.Hash)
	check("KeyByHash", err)
	if k != nil {
		t.Errorf("KeyByHash with a cancelled context returned key %v", k.ID)
	}
	_, err = s.ListKeys(ctx, keyward.KeyFilter{OrgID: acme, Limit: 10})
	check("ListKeys", err)
	fresh := newKey(t, acme, base.Add(time.Second))
	check("CreateKey", s.CreateKey(ctx, fresh, nil))
	_, err = Delete(ctx, s, acme, live.ID, base.Add(time.Hour))
	check("DeleteKey", err)
	root := newRootKey(t, base)
	ok, err := empty.BootstrapRootKey(ctx, root, nil)
	check("BootstrapRootKey", err)
	if ok {
		t.Errorf("BootstrapRootKey with a cancelled context = true")
	}
	r, err := s.SpendCredits(ctx, live.ID, 1, base.Add(time.Hour))
	check("SpendCredits", err)
	if r.Limited || r.OK {
		t.Errorf("SpendCredits with a cancelled context answered %+v", r)
	}
	if err := s.Ping(ctx); err == nil {
		t.Errorf("Ping with a cancelled context: no error")
	}

	// Nothing was written, and both stores still work.
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping after the cancelled calls: %v", err)
	}
	checkGone(t, s, fresh)
	checkLive(t, s, live)
	checkList(t, "ListKeys after the cancelled calls", list(t, s, keyward.KeyFilter{OrgID: acme}), []*keyward.Key{live})
	if !bootstrap(t, empty, root) {
		t.Errorf("BootstrapRootKey after a cancelled one = false, want true")
	}
}

// When a context ends while calls are in flight, every write that was
// acknowledged stands, none that was refused shows, and the store keeps
// working.
func testContextCancelledMidway(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	type outcome struct {
		created []*keyward.Key // acknowledged, never deleted
		deleted []*keyward.Key // acknowledged create and delete
		unsure  []*keyward.Key // acknowledged create, failed delete
		refused []*keyward.Key // failed create
	}
	const workers = 4
	outcomes := make([]outcome, workers)
	var acked atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			o := &outcomes[w]
			var prev *keyward.Key // created by the previous round, to delete
			for i := 0; ctx.Err() == nil; i++ {
				k := newKey(t, acme, base.Add(time.Duration(w*1_000_000+i)*time.Microsecond))
				if err := s.CreateKey(ctx, k, nil); err != nil {
					o.refused = append(o.refused, k)
					continue
				}
				acked.Add(1)
				if got, err := s.KeyByHash(ctx, k.Hash); err == nil && got.ID != k.ID {
					t.Errorf("KeyByHash returned key %v, want %v", got.ID, k.ID)
				}
				if prev != nil {
					if _, err := Delete(ctx, s, acme, prev.ID, base.Add(time.Hour)); err == nil {
						o.deleted = append(o.deleted, prev)
						acked.Add(1)
					} else {
						o.unsure = append(o.unsure, prev)
					}
					prev = nil
				} else {
					prev = k
					continue
				}
				o.created = append(o.created, k)
			}
			if prev != nil {
				o.created = append(o.created, prev)
			}
		})
	}
	// Cancel once some calls have been acknowledged, or after a while.
	for deadline := time.Now().Add(2 * time.Second); acked.Load() < 20 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()

	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping after the cancellation: %v", err)
	}
	listed := make(map[keyward.KeyID]bool)
	for _, k := range list(t, s, keyward.KeyFilter{OrgID: acme}) {
		listed[k.ID] = true
	}
	for _, o := range outcomes {
		for _, k := range o.created {
			checkLive(t, s, k)
			if !listed[k.ID] {
				t.Errorf("acknowledged key %v is not listed", k.ID)
			}
			delete(listed, k.ID)
		}
		for _, k := range o.deleted {
			checkGone(t, s, k)
		}
		for _, k := range o.refused {
			if listed[k.ID] {
				t.Logf("key %v was stored though CreateKey failed", k.ID) // allowed: the failure may have come after the commit
			}
			delete(listed, k.ID)
		}
		for _, k := range o.unsure {
			delete(listed, k.ID)
		}
	}
	for id := range listed {
		t.Errorf("ListKeys returned key %v, which no acknowledged create made or a delete removed", id)
	}
	create(t, s, newKey(t, acme, base.Add(-time.Hour)))
}

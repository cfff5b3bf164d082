package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// bootstrap calls BootstrapRootKey and fails the test on an error.
func bootstrap(t *testing.T, s keyward.KeyStore, k *keyward.Key) bool {
	t.Helper()
	ok, err := s.BootstrapRootKey(t.Context(), k, nil)
	if err != nil {
		t.Fatalf("BootstrapRootKey: %v", err)
	}
	return ok
}

// A store that never held a key stores the bootstrap root key.
func testBootstrapEmptyStore(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	root := newRootKey(t, base)
	if !bootstrap(t, s, root) {
		t.Fatal("BootstrapRootKey on an empty store = false, want true")
	}
	got, err := s.KeyByHash(t.Context(), root.Hash)
	if err != nil {
		t.Fatalf("KeyByHash of the bootstrap key: %v", err)
	}
	if !got.Root || got.OrgID != "" {
		t.Errorf("bootstrap key: Root %v, OrgID %q; want a root key", got.Root, got.OrgID)
	}
	checkLive(t, s, root)
	checkList(t, "ListKeys(root)", list(t, s, keyward.KeyFilter{Root: true}), []*keyward.Key{root})
}

// A store is bootstrapped once: a second bootstrap stores nothing, even
// after the first root key is deleted.
func testBootstrapOnce(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	first := newRootKey(t, base)
	if !bootstrap(t, s, first) {
		t.Fatal("first BootstrapRootKey = false, want true")
	}
	second := newRootKey(t, base.Add(time.Hour))
	if bootstrap(t, s, second) {
		t.Error("second BootstrapRootKey = true, want false")
	}
	checkGone(t, s, second)
	checkList(t, "ListKeys(root)", list(t, s, keyward.KeyFilter{Root: true}), []*keyward.Key{first})

	remove(t, s, first, base.Add(2*time.Hour))
	third := newRootKey(t, base.Add(3*time.Hour))
	if bootstrap(t, s, third) {
		t.Error("BootstrapRootKey after the bootstrap key was deleted = true, want false")
	}
	checkGone(t, s, third)
}

// A store that holds or held any key is not bootstrapped.
func testBootstrapAfterAnyKey(t *testing.T, newStore newStoreFunc) {
	tests := []struct {
		name  string
		setup func(t *testing.T, s keyward.KeyStore)
	}{
		{"an organization's key", func(t *testing.T, s keyward.KeyStore) {
			create(t, s, newKey(t, acme, base))
		}},
		{"a root key", func(t *testing.T, s keyward.KeyStore) {
			create(t, s, newRootKey(t, base))
		}},
		{"a deleted key", func(t *testing.T, s keyward.KeyStore) {
			k := newKey(t, acme, base)
			create(t, s, k)
			remove(t, s, k, base.Add(time.Minute))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			tt.setup(t, s)
			root := newRootKey(t, base.Add(time.Hour))
			if bootstrap(t, s, root) {
				t.Errorf("BootstrapRootKey on a store with %s = true, want false", tt.name)
			}
			checkGone(t, s, root)
		})
	}
}

// Of several bootstraps at once, exactly one stores its key.
func testBootstrapConcurrent(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	const n = 8
	keys := make([]*keyward.Key, n)
	oks := make([]bool, n)
	errs := make([]error, n)
	for i := range keys {
		keys[i] = newRootKey(t, base)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			oks[i], errs[i] = s.BootstrapRootKey(t.Context(), keys[i], nil)
		})
	}
	close(start)
	wg.Wait()

	var winners []*keyward.Key
	for i := range n {
		if errs[i] != nil {
			t.Errorf("concurrent BootstrapRootKey: %v", errs[i])
		}
		if oks[i] {
			winners = append(winners, keys[i])
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent bootstraps reported true, want exactly 1", len(winners), n)
	}
	checkList(t, "ListKeys(root)", list(t, s, keyward.KeyFilter{Root: true}), winners)
	checkLive(t, s, winners[0])
}

// The bootstrap writes its audit event with the key, and a bootstrap that
// stores nothing writes none.
func testBootstrapWritesEvent(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	root := newRootKey(t, base)
	ev := newEvent("", root.ID, base, keyward.ActionCreate)
	if ok, err := s.BootstrapRootKey(t.Context(), root, ev); err != nil || !ok {
		t.Fatalf("BootstrapRootKey = %v, %v", ok, err)
	}
	again := newRootKey(t, base)
	if ok, err := s.BootstrapRootKey(t.Context(), again, newEvent("", again.ID, base, keyward.ActionCreate)); err != nil || ok {
		t.Fatalf("second BootstrapRootKey = %v, %v", ok, err)
	}
	evs := events(t, s, keyward.AuditFilter{})
	if len(evs) != 1 || evs[0].ID != ev.ID || evs[0].KeyID != root.ID {
		t.Errorf("events after the bootstrap: %d, want its one", len(evs))
	}
}

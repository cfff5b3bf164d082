package storetest

import (
	"sync"
	"testing"

	"github.com/keyward/keyward"
)

// Several processes starting at once on a new database each open and
// migrate it, and exactly one of them bootstraps it.
func testConcurrentStartup(t *testing.T, s *suite) {
	addr := s.NewDatabase(t)
	const n = 4
	stores := make([]keyward.KeyStore, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = s.Open(t, addr)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("process %d: %v", i, errs[i])
		}
	}
	oks := make([]bool, n)
	for i := range n {
		wg.Go(func() {
			oks[i], errs[i] = stores[i].BootstrapRootKey(t.Context(), newRootKey(t, base), nil)
		})
	}
	wg.Wait()
	won := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("process %d: BootstrapRootKey: %v", i, errs[i])
		}
		if oks[i] {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d processes bootstrapped, want exactly 1", won)
	}
	if roots := list(t, stores[0], keyward.KeyFilter{Root: true}); len(roots) != 1 {
		t.Errorf("%d root keys after the bootstraps, want 1", len(roots))
	}
}

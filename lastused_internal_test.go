package keyward

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// touchStore records the batches TouchKeys is given.
type touchStore struct {
	KeyStore
	mu      sync.Mutex
	batches []int
	written map[KeyID]bool
}

func (s *touchStore) TouchKeys(_ context.Context, uses []KeyUse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, len(uses))
	for _, u := range uses {
		s.written[u.ID] = true
	}
	return nil
}

// A paced flush waits between batches, never after the last, and a wait
// cut short leaves the uses not yet written pending for the next flush.
func TestFlushPacing(t *testing.T) {
	store := &touchStore{written: map[KeyID]bool{}}
	u := NewLastUsedRecorder(store)
	const n = 2*lastUsedBatch + 5000
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		u.Record(KeyID(i+1), at)
	}
	var waits []time.Duration
	if _, err := u.flush(t.Context(), func(_ context.Context, worked time.Duration) error {
		waits = append(waits, worked)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(store.batches) != 3 || len(waits) != 2 || len(store.written) != n {
		t.Fatalf("%d batches, %d waits, %d keys written; want 3, 2, %d", len(store.batches), len(waits), len(store.written), n)
	}
	for _, w := range waits {
		if w <= 0 {
			t.Errorf("a wait was told the batch took %v", w)
		}
	}

	// Cut short after the first batch: the rest stays pending, and a
	// flush at once writes it.
	clear(store.written)
	store.batches = nil
	for i := range n {
		u.Record(KeyID(i+1), at.Add(time.Second))
	}
	stop := errors.New("shutting down")
	if _, err := u.flush(t.Context(), func(context.Context, time.Duration) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("flush with a failing wait: %v", err)
	}
	if got := u.Pending(); got != n-lastUsedBatch || len(store.written) != lastUsedBatch {
		t.Fatalf("after a cut flush: %d pending, %d written; want %d, %d", got, len(store.written), n-lastUsedBatch, lastUsedBatch)
	}
	if err := u.Flush(t.Context()); err != nil || len(store.written) != n || u.Pending() != 0 {
		t.Fatalf("the next flush: %v, %d written, %d pending", err, len(store.written), u.Pending())
	}
}

// Writing takes FlushDuty of a paced flush's time: the pause after a batch
// is nineteen times the batch's.
func TestFlushPause(t *testing.T) {
	if got := pause(50 * time.Millisecond); got != 950*time.Millisecond {
		t.Errorf("pause after 50ms = %v, want 950ms", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := pace(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("pace with a cancelled context: %v", err)
	}
}

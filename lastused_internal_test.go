package keyward

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"
)

// touchStore records the batches RecordUsage is given.
type touchStore struct {
	KeyStore
	mu      sync.Mutex
	batches []int
	written map[KeyID]bool
	counts  []UsageCount
}

func (s *touchStore) RecordUsage(_ context.Context, uses []KeyUse, counts []UsageCount) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, len(uses)+len(counts))
	for _, u := range uses {
		s.written[u.ID] = true
	}
	s.counts = append(s.counts, counts...)
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

// failStore fails every RecordUsage.
type failStore struct{ KeyStore }

func (failStore) RecordUsage(context.Context, []KeyUse, []UsageCount) error {
	return errors.New("database down")
}

// Verifications are counted per key, UTC hour and outcome: one recorded
// just after the hour with a clock read just before it (out of order)
// goes to its own hour; a key's counts of several hours are written
// apart; a failed flush keeps them, to be written once, not twice; a
// disabled or expired key's verification is counted but is no use, and
// Record is a use without a count.
func TestRecorderCountsByHour(t *testing.T) {
	h0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	u := NewLastUsedRecorder(failStore{})
	u.RecordVerification(1, h0.Add(59*time.Minute), VerifyValid)
	u.RecordVerification(1, h0.Add(61*time.Minute), VerifyRateLimited)
	u.RecordVerification(1, h0.Add(59*time.Minute+59*time.Second), VerifyValid) // late, of the hour before
	u.RecordVerification(1, h0.Add(62*time.Minute), VerifyRateLimited)
	u.RecordVerification(2, h0, VerifyDisabled)
	u.RecordVerification(2, h0, VerifyExpired)
	u.RecordVerification(2, h0, VerifyNotFound) // not counted, a use
	u.Record(3, h0)                             // a use, not counted
	u.RecordVerification(4, h0, VerifyInsufficientPermissions)
	u.RecordVerification(4, h0, VerifyUsageExceeded)
	if err := u.Flush(t.Context()); err == nil {
		t.Fatal("a flush to a failing store succeeded")
	}
	u.RecordVerification(1, h0.Add(90*time.Minute), VerifyValid) // after the failed flush

	store := &touchStore{written: map[KeyID]bool{}}
	u.store = store
	if err := u.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	h1 := h0.Add(time.Hour)
	want := []UsageCount{
		{ID: 1, Hour: h0, Counts: VerifyCounts{Valid: 2}},
		{ID: 1, Hour: h1, Counts: VerifyCounts{Valid: 1, RateLimited: 2}},
		{ID: 2, Hour: h0, Counts: VerifyCounts{Disabled: 1, Expired: 1}},
		{ID: 4, Hour: h0, Counts: VerifyCounts{InsufficientPermissions: 1, UsageExceeded: 1}},
	}
	if len(store.counts) != len(want) {
		t.Fatalf("counts written: %+v\nwant %+v", store.counts, want)
	}
	for i, c := range store.counts {
		if c.ID != want[i].ID || !c.Hour.Equal(want[i].Hour) || c.Hour.Location() != time.UTC || c.Counts != want[i].Counts {
			t.Errorf("count %d: %+v, want %+v", i, c, want[i])
		}
	}
	for id, used := range map[KeyID]bool{1: true, 2: true, 3: true, 4: true} {
		if store.written[id] != used {
			t.Errorf("key %d: use written %v, want %v", id, store.written[id], used)
		}
	}
	if u.Pending() != 0 {
		t.Errorf("Pending after the flush = %d", u.Pending())
	}
}

// A key disabled or expired, and used only so, writes no use.
func TestRecorderRefusedKeyIsNoUse(t *testing.T) {
	store := &touchStore{written: map[KeyID]bool{}}
	u := NewLastUsedRecorder(store)
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	u.RecordVerification(5, at, VerifyDisabled)
	u.RecordVerification(6, at, VerifyExpired)
	if err := u.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(store.written) != 0 || len(store.counts) != 2 {
		t.Errorf("uses written %v, %d counts; want none, 2", store.written, len(store.counts))
	}
}

// A flush's batches hold at most lastUsedBatch rows, uses and counts
// together, and every one is written.
func TestRecorderBatchesCounts(t *testing.T) {
	store := &touchStore{written: map[KeyID]bool{}}
	u := NewLastUsedRecorder(store)
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	const n = lastUsedBatch + 10
	for i := range n {
		u.RecordVerification(KeyID(i+1), at, VerifyValid) // a use and a count each
	}
	if err := u.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(store.batches) != 3 || store.batches[0] != lastUsedBatch || len(store.counts) != n || len(store.written) != n {
		t.Errorf("batches %v, %d counts, %d uses; want 3 batches of at most %d, %d and %d", store.batches, len(store.counts), len(store.written), lastUsedBatch, n, n)
	}
}

// A counter that would pass 32 bits spills instead of wrapping.
func TestRecorderCounterDoesNotWrap(t *testing.T) {
	store := &touchStore{written: map[KeyID]bool{}}
	u := NewLastUsedRecorder(store)
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	u.RecordVerification(1, at, VerifyValid)
	sh := &u.shards[1]
	e := sh.pending[1]
	e.n[0] = math.MaxUint32
	sh.pending[1] = e
	u.RecordVerification(1, at, VerifyValid)
	if err := u.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, c := range store.counts {
		total += c.Counts.Valid
	}
	if total != math.MaxUint32+1 {
		t.Errorf("valid counted %d, want %d", total, int64(math.MaxUint32)+1)
	}
}

// Counting a verification of a key already pending allocates nothing: it
// runs on every verification.
func TestRecordVerificationAllocates(t *testing.T) {
	u := NewLastUsedRecorder(&touchStore{written: map[KeyID]bool{}})
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	u.RecordVerification(42, at, VerifyValid)
	if n := testing.AllocsPerRun(1000, func() {
		at = at.Add(time.Millisecond)
		u.RecordVerification(42, at, VerifyValid)
		u.RecordVerification(42, at, VerifyRateLimited)
	}); n != 0 {
		t.Errorf("RecordVerification allocates %v times a run, want 0", n)
	}
}

func BenchmarkRecordVerification(b *testing.B) {
	u := NewLastUsedRecorder(&touchStore{written: map[KeyID]bool{}})
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		u.RecordVerification(KeyID(i%1000+1), at, VerifyValid)
	}
}

// When a key's verifications move on to a new hour, its entry counts the
// new hour and the past one waits apart, once: memory grows by a key's
// hour, not by a verification.
func TestRecorderNewHourInEntry(t *testing.T) {
	u := NewLastUsedRecorder(&touchStore{written: map[KeyID]bool{}})
	h0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	u.RecordVerification(7, h0, VerifyValid)
	for i := range 100 {
		u.RecordVerification(7, h0.Add(time.Hour+time.Duration(i)*time.Second), VerifyValid)
	}
	if n := u.Pending(); n != 2 {
		t.Errorf("Pending = %d after 100 verifications of a new hour, want 2 (the entry, and the past hour apart)", n)
	}
}

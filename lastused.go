package keyward

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// DefaultLastUsedInterval is how often recorded key uses are written.
const DefaultLastUsedInterval = 60 * time.Second

// lastUsedShards spreads Record's lock: it runs on every verification.
const lastUsedShards = 16

// lastUsedBatch bounds one TouchKeys transaction. Large batches in id order
// share the store's pages and syncs: a flush after a million keys were
// used costs a few hundred transactions, not a thousand.
const lastUsedBatch = 10_000

// LastUsedRecorder remembers when each key was last used and writes those
// times to the store in batches, so that verification costs no write: each
// key gets at most one write per flush, however often it was used, and the
// time written is its latest use.
type LastUsedRecorder struct {
	store  KeyStore
	shards [lastUsedShards]struct {
		mu      sync.Mutex
		pending map[KeyID]int64 // unix microseconds of the latest use
	}
	flushMu sync.Mutex // one flush at a time

	// OnFlush, if set before Run, hears each flush Run makes (periodic,
	// and the last one at shutdown): how many keys it wrote, how long it
	// took (pauses of a paced flush included), and its error, if any. For
	// metrics; it must return quickly.
	OnFlush func(keys int, took time.Duration, err error)
}

// NewLastUsedRecorder returns a recorder writing to store. Call Run to flush
// it periodically, or Flush.
func NewLastUsedRecorder(store KeyStore) *LastUsedRecorder {
	u := &LastUsedRecorder{store: store}
	for i := range u.shards {
		u.shards[i].pending = make(map[KeyID]int64)
	}
	return u
}

// Record notes that key id was used at t.
func (u *LastUsedRecorder) Record(id KeyID, t time.Time) {
	us := t.UnixMicro()
	sh := &u.shards[uint64(id)%lastUsedShards]
	sh.mu.Lock()
	if us > sh.pending[id] {
		sh.pending[id] = us
	}
	sh.mu.Unlock()
}

// Pending returns how many keys have uses not yet written.
func (u *LastUsedRecorder) Pending() int {
	n := 0
	for i := range u.shards {
		sh := &u.shards[i]
		sh.mu.Lock()
		n += len(sh.pending)
		sh.mu.Unlock()
	}
	return n
}

// FlushDuty is the share of the time a flush made by Run spends writing:
// after each batch it waits (1-FlushDuty)/FlushDuty times as long as the
// batch took. A flush of at most one batch (lastUsedBatch keys) never
// waits. A flush of a few keys ends at once; one of a million keys
// used since the last (after a bulk load, or a verification of every key)
// spreads over its interval instead of taking a CPU for seconds, so that
// background work stays under a tenth of a CPU when no requests come (at
// 0.1, the bench measured 16%: the writes' garbage and the WAL's
// checkpoints come on top).
const FlushDuty = 0.05

// Flush writes every pending use, at once. Uses it could not write stay
// pending, to be written by the next flush.
func (u *LastUsedRecorder) Flush(ctx context.Context) error {
	_, err := u.flush(ctx, nil)
	return err
}

// pause is how long pace waits after a batch that took worked.
func pause(worked time.Duration) time.Duration {
	return time.Duration(float64(worked) * (1 - FlushDuty) / FlushDuty)
}

// pace waits, after a batch that took worked, so that writing takes
// FlushDuty of the time; it returns early with ctx's error.
func pace(ctx context.Context, worked time.Duration) error {
	t := time.NewTimer(pause(worked))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush writes every pending use, calling wait (if not nil) between
// batches with how long the batch took, and returns how many keys it
// wrote. If a write or a wait fails, the uses not yet written stay
// pending.
func (u *LastUsedRecorder) flush(ctx context.Context, wait func(ctx context.Context, worked time.Duration) error) (int, error) {
	u.flushMu.Lock()
	defer u.flushMu.Unlock()
	// 16 bytes a use: after a million keys were used, this list is the
	// flush's largest allocation. KeyUses are made a batch at a time.
	type use struct{ id, us int64 }
	var uses []use
	for i := range u.shards {
		sh := &u.shards[i]
		sh.mu.Lock()
		taken := sh.pending
		// A fresh map, not one sized like the last: a burst of uses must
		// not hold its memory for good.
		sh.pending = make(map[KeyID]int64)
		sh.mu.Unlock()
		if uses == nil {
			uses = make([]use, 0, len(taken)*lastUsedShards)
		}
		for id, us := range taken {
			uses = append(uses, use{int64(id), us})
		}
	}
	// In id order: neighbouring rows share pages, in SQLite's b-tree and
	// PostgreSQL's index alike.
	slices.SortFunc(uses, func(a, b use) int { return cmp.Compare(a.id, b.id) })
	batch := make([]KeyUse, 0, min(len(uses), lastUsedBatch))
	keep := func() { // the uses not written stay pending
		for _, x := range uses {
			u.Record(KeyID(x.id), time.UnixMicro(x.us))
		}
	}
	written := 0
	for len(uses) > 0 {
		start := time.Now()
		n := min(len(uses), lastUsedBatch)
		batch = batch[:0]
		for _, x := range uses[:n] {
			batch = append(batch, KeyUse{ID: KeyID(x.id), At: time.UnixMicro(x.us).UTC()})
		}
		if err := u.store.TouchKeys(ctx, batch); err != nil {
			keep()
			return written, err
		}
		uses = uses[n:]
		written += n
		if wait != nil && len(uses) > 0 {
			if err := wait(ctx, time.Since(start)); err != nil {
				keep()
				return written, err
			}
		}
	}
	return written, nil
}

// Run flushes every interval, each flush paced by FlushDuty, until ctx is
// done, then flushes what is left at once (bounded by a few seconds) so
// that a graceful shutdown loses no use. onError, if not nil, hears each
// failed flush (not one cut short by the shutdown).
func (u *LastUsedRecorder) Run(ctx context.Context, interval time.Duration, onError func(error)) {
	if interval <= 0 {
		interval = DefaultLastUsedInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	report := func(err error) {
		if err != nil && onError != nil {
			onError(err)
		}
	}
	for {
		select {
		case <-tick.C:
			if err := u.observed(ctx, pace); ctx.Err() == nil {
				report(err)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			report(u.observed(fctx, nil))
			cancel()
			return
		}
	}
}

// observed is flush, reported to OnFlush.
func (u *LastUsedRecorder) observed(ctx context.Context, wait func(ctx context.Context, worked time.Duration) error) error {
	if u.OnFlush == nil {
		_, err := u.flush(ctx, wait)
		return err
	}
	start := time.Now()
	n, err := u.flush(ctx, wait)
	u.OnFlush(n, time.Since(start), err)
	return err
}

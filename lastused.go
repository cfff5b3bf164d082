package keyward

import (
	"cmp"
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// DefaultLastUsedInterval is how often recorded key uses are written.
const DefaultLastUsedInterval = 60 * time.Second

// lastUsedShards spreads Record's lock: it runs on every verification.
const lastUsedShards = 16

// lastUsedBatch bounds one RecordUsage transaction, in rows: uses and
// counts together. Large batches in id order
// share the store's pages and syncs: a flush after a million keys were
// used costs a few hundred transactions, not a thousand.
const lastUsedBatch = 10_000

// LastUsedRecorder remembers when each key was last used, and counts each
// key's verifications per UTC hour by outcome, and writes both to the
// store in batches (KeyStore.RecordUsage), so that verification costs no
// write: each key gets at most one write of its last use and one of each
// hour's counts per flush, however often it was used, and the time
// written is its latest use. A crash loses what was recorded since the
// last flush, at most one interval's.
type LastUsedRecorder struct {
	store  KeyStore
	shards [lastUsedShards]struct {
		mu      sync.Mutex
		pending map[KeyID]pendingUse
		// spill holds counts the key's entry cannot: an hour before its
		// entry's (a verification whose clock read came just before the
		// hour, recorded just after), the hour its entry held when the
		// next began, and what a failed flush could not write.
		spill []hourCount
	}
	flushMu sync.Mutex // one flush at a time

	// OnFlush, if set before Run, hears each flush Run makes (periodic,
	// and the last one at shutdown): how many keys' last uses it wrote,
	// how long it took (pauses of a paced flush included), and its error,
	// if any. For metrics; it must return quickly.
	OnFlush func(keys int, took time.Duration, err error)
}

// pendingUse is what a key's verifications since the last flush left to
// write: 40 bytes, so that a million keys used in an interval cost
// tens of megabytes, not hundreds.
type pendingUse struct {
	us       int64 // unix microseconds of the latest use, if used
	hour     int32 // unix hours of the hour counted in n, if counting
	used     bool
	counting bool
	n        counters
}

// counters count verifications by outcome, indexed as countIndex says.
// 32 bits are plenty for one key's hour between two flushes; a counter
// that would wrap spills instead (see record).
type counters = [len(countedCodes)]uint32

// hourCount is one key's counts of one hour, as the recorder keeps them.
type hourCount struct {
	id   int64
	hour int32
	n    counters
}

// unixHour returns the unix hour (hours since 1970, rounded down) of us,
// unix microseconds.
func unixHour(us int64) int32 {
	const perHour = int64(time.Hour / time.Microsecond)
	h := us / perHour
	if us%perHour < 0 {
		h--
	}
	return int32(h)
}

// NewLastUsedRecorder returns a recorder writing to store. Call Run to flush
// it periodically, or Flush.
func NewLastUsedRecorder(store KeyStore) *LastUsedRecorder {
	u := &LastUsedRecorder{store: store}
	for i := range u.shards {
		u.shards[i].pending = make(map[KeyID]pendingUse)
	}
	return u
}

// Record notes that key id was used at t, without counting a
// verification: the management API's authentications are uses of the
// key, not verifications of it.
func (u *LastUsedRecorder) Record(id KeyID, t time.Time) {
	u.record(id, t, -1, true)
}

// RecordVerification counts a verification of key id at t in its UTC
// hour, by its outcome code, and notes a use of the key, unless the key
// was disabled or expired (a refused key was not used). An outcome
// VerifyCounts does not count (NOT_FOUND) is only a use. It runs on every
// verification and allocates nothing, but for a key's first record since
// the last flush (its map entry) and its first of a new hour (a spill).
func (u *LastUsedRecorder) RecordVerification(id KeyID, t time.Time, code VerifyCode) {
	u.record(id, t, countIndex(code), code != VerifyDisabled && code != VerifyExpired)
}

// record notes a use of id at t if use, and counts a verification with
// the counter i if i is not -1.
func (u *LastUsedRecorder) record(id KeyID, t time.Time, i int, use bool) {
	us := t.UnixMicro()
	hour := unixHour(us)
	sh := &u.shards[uint64(id)%lastUsedShards]
	sh.mu.Lock()
	e := sh.pending[id]
	if use && (!e.used || us > e.us) {
		e.us, e.used = us, true
	}
	if i >= 0 {
		switch {
		case !e.counting:
			e.hour, e.counting = hour, true
		case hour > e.hour:
			sh.spill = append(sh.spill, hourCount{int64(id), e.hour, e.n})
			e.hour, e.n = hour, counters{}
		}
		if hour == e.hour && e.n[i] < math.MaxUint32 {
			e.n[i]++
		} else {
			c := hourCount{id: int64(id), hour: hour}
			c.n[i] = 1
			sh.spill = append(sh.spill, c)
		}
	}
	sh.pending[id] = e
	sh.mu.Unlock()
}

// Pending returns how many keys have uses or counts not yet written (a
// key counts again for each past hour whose counts wait apart).
func (u *LastUsedRecorder) Pending() int {
	n := 0
	for i := range u.shards {
		sh := &u.shards[i]
		sh.mu.Lock()
		n += len(sh.pending) + len(sh.spill)
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

// flush writes every pending use and count, calling wait (if not nil)
// between batches with how long the batch took, and returns how many
// keys' last uses it wrote. If a write or a wait fails, the uses and
// counts not yet written stay pending.
func (u *LastUsedRecorder) flush(ctx context.Context, wait func(ctx context.Context, worked time.Duration) error) (int, error) {
	u.flushMu.Lock()
	defer u.flushMu.Unlock()
	// 16 bytes a use and 40 a key's hour: after a million keys were used,
	// these lists are the flush's largest allocations. KeyUses and
	// UsageCounts are made a batch at a time.
	type use struct{ id, us int64 }
	var uses []use
	var counts []hourCount
	for i := range u.shards {
		sh := &u.shards[i]
		sh.mu.Lock()
		taken, spilled := sh.pending, sh.spill
		// A fresh map, not one sized like the last: a burst of uses must
		// not hold its memory for good.
		sh.pending, sh.spill = make(map[KeyID]pendingUse), nil
		sh.mu.Unlock()
		if uses == nil {
			uses = make([]use, 0, len(taken)*lastUsedShards)
			counts = make([]hourCount, 0, len(taken)*lastUsedShards)
		}
		for id, e := range taken {
			if e.used {
				uses = append(uses, use{int64(id), e.us})
			}
			if e.counting {
				counts = append(counts, hourCount{int64(id), e.hour, e.n})
			}
		}
		counts = append(counts, spilled...)
	}
	// In id order: neighbouring rows share pages, in SQLite's b-tree and
	// PostgreSQL's index alike.
	slices.SortFunc(uses, func(a, b use) int { return cmp.Compare(a.id, b.id) })
	counts = coalesce(counts)
	batch := make([]KeyUse, 0, min(len(uses), lastUsedBatch))
	countBatch := make([]UsageCount, 0, min(len(counts), lastUsedBatch))
	keep := func() { // the uses and counts not written stay pending
		for _, x := range uses {
			u.Record(KeyID(x.id), time.UnixMicro(x.us))
		}
		for _, c := range counts {
			sh := &u.shards[uint64(c.id)%lastUsedShards]
			sh.mu.Lock()
			sh.spill = append(sh.spill, c)
			sh.mu.Unlock()
		}
	}
	written := 0
	for len(uses) > 0 || len(counts) > 0 {
		start := time.Now()
		// Up to lastUsedBatch rows, uses and counts together, in id
		// order: a key's use and its counts go in one transaction.
		n, m := 0, 0
		for n+m < lastUsedBatch && (n < len(uses) || m < len(counts)) {
			if m == len(counts) || (n < len(uses) && uses[n].id <= counts[m].id) {
				n++
			} else {
				m++
			}
		}
		batch, countBatch = batch[:0], countBatch[:0]
		for _, x := range uses[:n] {
			batch = append(batch, KeyUse{ID: KeyID(x.id), At: time.UnixMicro(x.us).UTC()})
		}
		for _, c := range counts[:m] {
			countBatch = append(countBatch, UsageCount{
				ID: KeyID(c.id), Hour: time.Unix(int64(c.hour)*3600, 0).UTC(), Counts: verifyCountsOf(&c.n),
			})
		}
		if err := u.store.RecordUsage(ctx, batch, countBatch); err != nil {
			keep()
			return written, err
		}
		uses, counts = uses[n:], counts[m:]
		written += n
		if wait != nil && (len(uses) > 0 || len(counts) > 0) {
			if err := wait(ctx, time.Since(start)); err != nil {
				keep()
				return written, err
			}
		}
	}
	return written, nil
}

// coalesce sorts counts by key and hour and adds up those of the same
// key and hour, but for a counter that would wrap, and returns what is
// left.
func coalesce(counts []hourCount) []hourCount {
	slices.SortFunc(counts, func(a, b hourCount) int {
		return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.hour, b.hour))
	})
	out := counts[:0]
	for _, c := range counts {
		if k := len(out) - 1; k >= 0 && out[k].id == c.id && out[k].hour == c.hour && fits(&out[k].n, &c.n) {
			for i := range c.n {
				out[k].n[i] += c.n[i]
			}
			continue
		}
		out = append(out, c)
	}
	return out
}

// fits reports whether a + b wraps no counter.
func fits(a, b *counters) bool {
	for i := range a {
		if a[i] > math.MaxUint32-b[i] {
			return false
		}
	}
	return true
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

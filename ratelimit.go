package keyward

import (
	"context"
	"sync"
	"time"
)

// MemoryRateLimiter counts rate limits in this process's memory: exact for
// one instance, the embedded default. Instances that share a database
// need a shared limiter (package redis), or each would allow a key its
// whole limit.
//
// Counters are sharded by key, each shard under its own lock; a counter
// lives for its window and is swept once the window has ended, so memory
// follows the keys used in their current windows, not all keys.
type MemoryRateLimiter struct {
	shards [64]limiterShard
}

type limiterShard struct {
	mu       sync.Mutex
	counters map[limitID]*windowCount
	takes    int // since the last sweep
}

// limitID names one limit of one key.
type limitID struct {
	id   KeyID
	name string
}

// windowCount is what a limit has spent in one window.
type windowCount struct {
	window   int64 // the window's number (RateLimit.Window)
	duration time.Duration
	end      time.Time
	used     int64
}

// sweepEvery is how many takes a shard serves between sweeps of its ended
// windows.
const sweepEvery = 4096

// NewMemoryRateLimiter returns an empty in-memory limiter.
func NewMemoryRateLimiter() *MemoryRateLimiter {
	m := &MemoryRateLimiter{}
	for i := range m.shards {
		m.shards[i].counters = make(map[limitID]*windowCount)
	}
	return m
}

// Take spends cost of each of key id's limits, all or none.
func (m *MemoryRateLimiter) Take(_ context.Context, id KeyID, limits []RateLimit, cost int64, now time.Time) ([]LimitState, bool, error) {
	sh := &m.shards[uint64(id)%uint64(len(m.shards))]
	states := make([]LimitState, len(limits))
	counts := make([]*windowCount, len(limits))
	ok := true
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.takes++; sh.takes >= sweepEvery {
		sh.sweep(now)
	}
	for i, l := range limits {
		n, end := l.Window(now)
		c := sh.counters[limitID{id, l.Name}]
		if c == nil {
			c = &windowCount{}
			sh.counters[limitID{id, l.Name}] = c
		}
		if c.window != n || c.duration != l.Duration {
			*c = windowCount{window: n, duration: l.Duration, end: end}
		}
		counts[i] = c
		states[i] = LimitState{Name: l.Name, Limit: l.Limit, Remaining: max(l.Limit-c.used, 0), Reset: end}
		if states[i].Remaining < cost {
			states[i].Exceeded = true
			ok = false
		}
	}
	if ok {
		for i, c := range counts {
			c.used += cost
			states[i].Remaining -= cost
		}
	}
	return states, ok, nil
}

// sweep forgets the counters of windows that have ended.
func (sh *limiterShard) sweep(now time.Time) {
	sh.takes = 0
	for k, c := range sh.counters {
		if !now.Before(c.end) {
			delete(sh.counters, k)
		}
	}
}

// Len returns the number of counters held, for tests and metrics.
func (m *MemoryRateLimiter) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += len(sh.counters)
		sh.mu.Unlock()
	}
	return n
}

// exhaustedCredits remembers keys whose credits ran out: a key at zero is
// then refused from memory, without a write, until its next refill or
// until it changes (an update that adds credits raises its Version).
type exhaustedCredits struct {
	mu sync.Mutex
	m  map[KeyID]exhaustion
}

type exhaustion struct {
	version   int64
	remaining int64
	until     time.Time // the next refill; zero for none
}

// maxExhausted bounds the keys remembered; past it, the memory starts
// again (a forgotten key costs one write to be remembered again).
const maxExhausted = 100_000

func (e *exhaustedCredits) get(k *Key, cost int64, now time.Time) (int64, bool) {
	e.mu.Lock()
	x, ok := e.m[k.ID]
	e.mu.Unlock()
	if !ok || x.version != k.Version || x.remaining >= cost || (!x.until.IsZero() && !now.Before(x.until)) {
		return 0, false
	}
	return x.remaining, true
}

func (e *exhaustedCredits) put(k *Key, c Credits, now time.Time) {
	x := exhaustion{version: k.Version, remaining: c.Remaining}
	if c.Refill != nil {
		x.until = c.Refill.NextPeriod(now)
	}
	e.mu.Lock()
	if e.m == nil || len(e.m) >= maxExhausted {
		e.m = make(map[KeyID]exhaustion)
	}
	e.m[k.ID] = x
	e.mu.Unlock()
}

func (e *exhaustedCredits) forget(id KeyID) {
	e.mu.Lock()
	delete(e.m, id)
	e.mu.Unlock()
}

// spendCredits spends cost of k's credits in the store, unless k is
// remembered as having too few. It returns what is left, whether it was
// spent, and whether the key still has credits at all (an update may
// have removed them since k was read).
func (s *Service) spendCredits(ctx context.Context, k *Key, cost int64, now time.Time) (left int64, ok, limited bool, err error) {
	if left, refused := s.spent.get(k, cost, now); refused {
		return left, false, true, nil
	}
	r, err := write(ctx, s, func(ctx context.Context) (CreditSpend, error) { return s.store.SpendCredits(ctx, k.ID, cost, now) })
	if err != nil {
		return 0, false, false, err
	}
	if !r.Limited {
		return 0, true, false, nil
	}
	if r.OK {
		s.spent.forget(k.ID)
	} else {
		s.spent.put(k, r.Credits, now)
	}
	return r.Remaining, r.OK, true, nil
}

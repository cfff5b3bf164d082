package redis

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keyward/keyward"
)

// leaseHorizon is how long a lease should last: it is sized to the key's
// local rate of use over the last one, so that a key costs about one
// round trip a second on each instance, whatever its rate. (Its size
// changes by at most a factor of two from one grant to the next, so that
// a burst does not lease a large share of a limit at once.)
const leaseHorizon = time.Second

// expiryMargin is how long a counter outlives its window in Redis, so
// that instances whose clocks are slightly behind still find it.
const expiryMargin = 10 * time.Second

// idleTicks is how many times in the idle time the limiter looks for
// idle leases: a key's lease goes back between the idle time and a
// quarter more after its last use. Take notes a use by the tick it falls
// in, not by reading the clock.
const idleTicks = 4

// giveBackBatch bounds the give-backs sent in one pipeline.
const giveBackBatch = 1000

type shard struct {
	mu      sync.Mutex
	entries map[keyward.KeyID]*entry
}

// entry is what this instance knows of one key's limits.
type entry struct {
	mu      sync.Mutex
	id      keyward.KeyID
	leases  []*lease // one per limit name seen, in the order seen
	fetch   *fetch   // the grant in flight for this key, if any
	lastUse int64    // Limiter.ticks at the last Take
	dead    bool     // forgotten: Take must look the key up again
}

// lease is one limit's current window, as this instance knows it.
type lease struct {
	name     string
	duration time.Duration
	window   int64     // the window's number (keyward.RateLimit.Window)
	end      time.Time // when it ends
	limit    int64     // as last given to Take

	units     int64 // granted to this instance and not spent
	handedOut int64 // the window's count in Redis, as last known
	synced    bool  // handedOut was read from Redis in this window
	checked   int64 // mono() of Redis's last answer about this window
	spent     int64 // units spent since then
	ask       int64 // the next grant to ask for, before bounds
}

// fetch is a grant in flight: verifications of the same key wait for it
// rather than make one of their own.
type fetch struct {
	done chan struct{}
	err  error // set before done is closed
}

// remaining is what is left of the limit in the window, as this instance
// knows: what Redis has not handed out, and what this instance holds.
func (le *lease) remaining() int64 {
	if !le.synced {
		return le.limit
	}
	return min(max(le.limit-le.handedOut, 0)+le.units, le.limit)
}

// exhausted reports whether Redis has handed out the whole limit, as far
// as this instance knows. (A grant short of what was asked leaves it so.)
func (le *lease) exhausted() bool { return le.synced && le.handedOut >= le.limit }

// covers reports whether the lease can pay cost without asking Redis.
func (le *lease) covers(cost int64) bool { return le.synced && le.units >= cost }

// Take spends cost units of each of key id's limits in the windows that
// hold at now, all or none, from this instance's leases, asking Redis for
// more only when a lease is short. It returns an error only when ctx ends
// while it waits for another verification's call to Redis; when Redis
// fails, the failure mode decides.
func (l *Limiter) Take(ctx context.Context, id keyward.KeyID, limits []keyward.RateLimit, cost int64, now time.Time) ([]keyward.LimitState, bool, error) {
	l.stats.takes.Add(1)
	e := l.lock(id)
	var buf [keyward.MaxRateLimits]*lease
	var failure error // of the grant this Take made or waited for
	for {
		if e.dead {
			// Forgotten while this Take waited: what it holds went back.
			e.mu.Unlock()
			e = l.lock(id)
		}
		e.lastUse = l.ticks.Load()
		ls := e.current(buf[:0], limits, now, &l.stats)
		if coverAll(ls, cost) { // the common case: no clock, no Redis
			states, ok := settle(ls, limits, cost)
			e.mu.Unlock()
			return states, ok, nil
		}
		t := l.mono()
		down := failure != nil || !l.available(t)
		refused, short := false, false
		for _, le := range ls {
			switch {
			case le.covers(cost):
			case le.exhausted() && (t-le.checked < int64(l.idle) || down):
				// Used up in this window: only another instance giving
				// units back can change that, which is worth asking
				// about now and then, but no reason to fail open.
				refused = true
			default:
				short = true
			}
		}
		// All or none: a limit that Redis has said is used up refuses
		// the others without a round trip, and what they hold stays.
		if refused || !short {
			states, ok := settle(ls, limits, cost)
			e.mu.Unlock()
			return states, ok, nil
		}
		if down {
			states, ok := l.degrade(ls, limits, cost)
			e.mu.Unlock()
			return states, ok, nil
		}
		if f := e.fetch; f != nil {
			e.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, false, fmt.Errorf("wait for Redis: %w", ctx.Err())
			}
			e.mu.Lock()
			failure = f.err
			continue
		}
		failure = l.grant(ctx, e, ls, cost, now)
	}
}

// lock returns what is known of key id, creating it if need be, locked.
func (l *Limiter) lock(id keyward.KeyID) *entry {
	sh := &l.shards[uint64(id)%uint64(len(l.shards))]
	for {
		sh.mu.Lock()
		e := sh.entries[id]
		if e == nil {
			e = &entry{id: id}
			sh.entries[id] = e
		}
		sh.mu.Unlock()
		e.mu.Lock()
		if !e.dead {
			return e
		}
		e.mu.Unlock()
	}
}

// coverAll reports whether every lease can pay cost without Redis.
func coverAll(ls []*lease, cost int64) bool {
	for _, le := range ls {
		if !le.covers(cost) {
			return false
		}
	}
	return true
}

// current appends to ls the leases of limits in the windows that hold at now,
// starting a new window where one has ended (what was held of the old
// one is counted as expired). A lease already in a later window than
// now's is kept: verifications given slightly different times at a
// window's end must not move it back and forth.
func (e *entry) current(ls []*lease, limits []keyward.RateLimit, now time.Time, c *counters) []*lease {
	for _, rl := range limits {
		var le *lease
		for _, x := range e.leases {
			if x.name == rl.Name {
				le = x
				break
			}
		}
		if le == nil {
			le = &lease{name: rl.Name, ask: 1}
			e.leases = append(e.leases, le)
		}
		n, end := rl.Window(now)
		if le.duration != rl.Duration || n > le.window {
			if le.units > 0 {
				c.expired.Add(le.units)
			}
			ask := le.ask
			if le.duration != rl.Duration {
				ask = 1
			}
			*le = lease{name: rl.Name, duration: rl.Duration, window: n, end: end, ask: ask}
		}
		le.limit = rl.Limit
		ls = append(ls, le)
	}
	return ls
}

// settle spends cost from every lease if each covers it. It reports a
// limit as exceeded when Redis has handed out the rest of it.
func settle(ls []*lease, limits []keyward.RateLimit, cost int64) ([]keyward.LimitState, bool) {
	states := make([]keyward.LimitState, len(ls))
	ok := true
	for i, le := range ls {
		states[i] = keyward.LimitState{Name: limits[i].Name, Limit: limits[i].Limit, Remaining: le.remaining(), Reset: le.end}
		if !le.covers(cost) {
			ok = false
			states[i].Exceeded = le.exhausted()
		}
	}
	if ok {
		for i, le := range ls {
			le.units -= cost
			le.spent += cost
			states[i].Remaining = max(states[i].Remaining-cost, 0)
		}
	}
	return states, ok
}

// degrade decides without Redis, which is down, by the failure mode.
// Leases that cover cost pay it either way, if admitted: they were
// granted.
func (l *Limiter) degrade(ls []*lease, limits []keyward.RateLimit, cost int64) ([]keyward.LimitState, bool) {
	states := make([]keyward.LimitState, len(ls))
	for i, le := range ls {
		states[i] = keyward.LimitState{Name: limits[i].Name, Limit: limits[i].Limit, Remaining: le.remaining(), Reset: le.end}
	}
	if l.mode == FailClosed {
		l.stats.failClosed.Add(1)
		for i, le := range ls {
			if !le.covers(cost) {
				states[i].Remaining, states[i].Exceeded = 0, true
			}
		}
		return states, false
	}
	l.stats.failOpen.Add(1)
	for i, le := range ls {
		if le.covers(cost) {
			le.units -= cost
			le.spent += cost
		}
		states[i].Remaining = max(states[i].Remaining-cost, 0)
	}
	return states, true
}

// counterKey names the counter of lease le of key id in Redis.
func (l *Limiter) counterKey(id keyward.KeyID, le *lease) string {
	b := make([]byte, 0, len(l.prefix)+len(le.name)+48)
	b = append(b, l.prefix...)
	b = append(b, '{')
	b = strconv.AppendInt(b, int64(id), 10)
	b = append(b, "}:"...)
	b = append(b, le.name...)
	b = append(b, ':')
	b = strconv.AppendInt(b, le.duration.Milliseconds(), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, le.window, 10)
	return string(b)
}

// grant asks Redis for units of e's leases that cannot pay cost, in one
// round trip. It is called with e.mu held, and releases it meanwhile;
// other verifications of the key wait for it (e.fetch).
func (l *Limiter) grant(ctx context.Context, e *entry, ls []*lease, cost int64, now time.Time) error {
	type ask struct {
		le       *lease
		window   int64
		duration time.Duration
	}
	t := l.mono()
	var asks []ask
	var keys []string
	var args []any
	for _, le := range ls {
		if le.covers(cost) {
			continue
		}
		want := le.next(cost, t)
		ttl := le.end.Sub(now) + expiryMargin
		asks = append(asks, ask{le, le.window, le.duration})
		keys = append(keys, l.counterKey(e.id, le))
		args = append(args, want, le.limit, ttl.Milliseconds())
	}
	f := &fetch{done: make(chan struct{})}
	e.fetch = f
	e.mu.Unlock()

	var got []int64
	err := l.call(ctx, func(ctx context.Context) error {
		var err error
		got, err = grantScript.Run(ctx, l.client, keys, args...).Int64Slice()
		if err == nil && len(got) != 2*len(keys) {
			err = fmt.Errorf("grant script answered %d numbers for %d counters", len(got), len(keys))
		}
		return err
	})

	e.mu.Lock()
	e.fetch, f.err = nil, err
	close(f.done)
	if err != nil {
		return err
	}
	t = l.mono()
	for i, a := range asks {
		granted, count := got[2*i], got[2*i+1]
		l.stats.granted.Add(granted)
		le := a.le
		if le.window != a.window || le.duration != a.duration {
			// A verification with a later time began the next window
			// meanwhile: this one is over.
			l.stats.expired.Add(granted)
			continue
		}
		le.units += granted
		le.handedOut, le.synced, le.checked, le.spent = count, true, t, 0
	}
	return nil
}

// next returns the units to ask Redis for so that the lease can pay
// cost: at least what it lacks, and otherwise what the key's local rate
// of use since the last grant calls for over leaseHorizon, but never more
// than a quarter of what Redis has left, so that other instances get
// their share and the units left unspent at the window's end stay few.
// A cost of 0 asks for nothing: it only learns where the limit stands.
func (le *lease) next(cost int64, t int64) int64 {
	if cost == 0 {
		return 0
	}
	if le.synced {
		elapsed := max(t-le.checked, 1)
		target := int64(float64(le.spent) * float64(leaseHorizon) / float64(elapsed))
		le.ask = min(max(target, le.ask/2, 1), le.ask*2, keyward.MaxRateLimit)
	}
	left := le.limit
	if le.synced {
		left = max(le.limit-le.handedOut, 0)
	}
	return max(cost-le.units, min(le.ask, left/4))
}

// run gives back idle leases until Close.
func (l *Limiter) run() {
	defer close(l.stopped)
	tick := time.NewTicker(max(l.idle/idleTicks, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
			l.ticks.Add(1)
			if l.available(l.mono()) {
				l.giveBack(false)
			}
		}
	}
}

// giveBack gives back the units of keys unused for the idle time (of all
// keys, if all), and forgets those keys: what this instance knew of them
// is no older than the idle time, after which it would ask Redis anyway.
func (l *Limiter) giveBack(all bool) {
	type back struct {
		keys []string
		args []any
	}
	var backs []back
	now := l.ticks.Load()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for id, e := range sh.entries {
			if !e.mu.TryLock() {
				continue // in use: not idle
			}
			if e.fetch == nil && (all || now-e.lastUse > idleTicks) {
				var b back
				for _, le := range e.leases {
					if le.units > 0 {
						b.keys = append(b.keys, l.counterKey(id, le))
						b.args = append(b.args, le.units)
						le.units = 0
					}
				}
				if len(b.keys) > 0 {
					backs = append(backs, b)
				}
				e.dead = true
				delete(sh.entries, id)
			}
			e.mu.Unlock()
		}
		sh.mu.Unlock()
	}
	for len(backs) > 0 {
		batch := backs[:min(len(backs), giveBackBatch)]
		backs = backs[len(batch):]
		var units int64
		for _, b := range batch {
			for _, a := range b.args {
				units += a.(int64)
			}
		}
		err := l.call(context.Background(), func(ctx context.Context) error {
			// EVALSHA, and the whole script only where Redis lacks it (a
			// restart flushed it): a pipeline cannot fall back by itself.
			cmds := make([]*goredis.Cmd, len(batch))
			pipe := l.client.Pipeline()
			for i, b := range batch {
				cmds[i] = returnScript.EvalSha(ctx, pipe, b.keys, b.args...)
			}
			_, err := pipe.Exec(ctx)
			if err == nil {
				return nil
			}
			pipe = l.client.Pipeline()
			again := 0
			for i, cmd := range cmds {
				switch {
				case goredis.HasErrorPrefix(cmd.Err(), "NOSCRIPT"):
					returnScript.Eval(ctx, pipe, batch[i].keys, batch[i].args...)
					again++
				case cmd.Err() != nil:
					return cmd.Err()
				}
			}
			if again == 0 {
				return err
			}
			_, err = pipe.Exec(ctx)
			return err
		})
		if err != nil {
			// Lost until their windows end: fewer admitted, never more.
			l.stats.expired.Add(units)
			continue
		}
		l.stats.returned.Add(units)
	}
}

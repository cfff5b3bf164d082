package httpapi

// The failure throttle: a client address that fails again and again (keys
// that /verify answers NOT_FOUND, management requests refused 401) is
// slowed down and then refused with 429 Too Many Requests, Retry-After,
// so that guessing keys costs more than it can win.
//
// Each address has a token bucket of failures: Burst tokens, one more
// every Refill. A failure takes one; while none is left the address is
// throttled: its requests are made under keyward.WithKnownKeysOnly, so
// that the verification cache answers only for keys it knows to exist (in
// memory, or in its set of every stored hash, read from the database as
// ever) and refuses every other at once, without a lookup or a wait. A
// request whose key exists is answered as usual, whatever its outcome (a
// disabled key is DISABLED): a platform's backend that forwards its users'
// keys from one address goes on verifying its users' real keys, cached or
// not (a cached key's entry also expires, every TTL), while the made-up
// ones among them are refused. Any other request, one that fails (a
// made-up or malformed key, a refused credential) or that the cache
// refused, is answered 429, held for Hold first (see below), and takes no
// token: the address is let through again as tokens come back, whatever
// it does meanwhile.
//
// The address is the connection's (RemoteAddr): IPv4 addresses one by
// one, IPv6 by /64, the block a single host or subscriber usually holds.
// No forwarding header (X-Forwarded-For, Forwarded) is read: anyone can
// write one. Behind a proxy or load balancer, every client therefore
// shares the proxy's address, and one client's failures throttle them
// all; raise Burst there, or turn the throttle off and throttle at the
// proxy.
//
// The table of addresses is bounded: sharded, at most MaxAddresses
// entries, each 24 bytes and a map's overhead; an address whose bucket is
// full again is as good as absent and is dropped as new ones come, and
// when the table is full the least indebted of a few sampled is dropped
// to make room. So an attacker with more addresses than the table holds
// is throttled less, never more: the bound on the database lies elsewhere
// (keycache's membership set).
//
// Hold: a throttled failure's answer waits before it is written, until
// the address may fail again (its Retry-After) and Hold at most, so that a
// flood over kept-alive connections runs at one request per connection
// per Hold, not at the speed of the server (a 429 costs about what a
// verification does). At most MaxHeld answers wait at once; past that one
// is written at once, with "Connection: close", so that a flood over more
// connections than that pays a new connection for each try. Measured on
// the bench's flood (64 connections, a 2-core machine shared with other
// work, so roughly): without a hold the 429s ran at 6,400-8,300/s and the
// legitimate traffic kept 38-40% of its rate; held 250ms, 260/s and 63-104%
// (68-85% in a closer A/B); held 1s, 64/s and 90-95%.

import (
	"context"
	"hash/maphash"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

// Defaults of FailureThrottleOptions.
const (
	DefaultFailureBurst  = 20
	DefaultFailureRefill = time.Second
	DefaultMaxAddresses  = 65536
	DefaultHold          = time.Second
	DefaultMaxHeld       = 1024
)

// FailureThrottleOptions configure a FailureThrottle. Zero values take the
// defaults.
type FailureThrottleOptions struct {
	// Burst is how many failures an address may make at once before it
	// is throttled.
	Burst int
	// Refill is how often an address earns back one failure.
	Refill time.Duration
	// MaxAddresses bounds the addresses tracked at once.
	MaxAddresses int
	// Hold is how long a throttled failure's 429 waits before it is
	// written; negative for not at all.
	Hold time.Duration
	// MaxHeld bounds the 429s waiting at once.
	MaxHeld int
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// FailureThrottle counts each client address's failures and throttles
// those that fail too often. Give it to NewHandler with WithFailureThrottle.
type FailureThrottle struct {
	interval  int64 // nanoseconds per token
	tolerance int64 // (burst-1) * interval
	hold      time.Duration
	maxHeld   int64
	now       func() time.Time
	epoch     time.Time

	seed     maphash.Seed
	shards   [throttleShards]throttleShard
	perShard int
	tracked  atomic.Int64 // entries in the table: 0 means nobody is throttled
	held     atomic.Int64 // 429s waiting now

	failures, throttled, answered, closed atomic.Uint64
}

// throttleShards is how many locks the table is split over.
const throttleShards = 64

// throttleShard is one lock's part of the table: each address's
// theoretical arrival time (GCRA), in nanoseconds since the throttle's
// epoch: its bucket is full when it is at or before now, and empty when
// it is more than the tolerance after now.
type throttleShard struct {
	mu  sync.Mutex
	tat map[[16]byte]int64
	_   [40]byte // keeps the shards' locks off each other's cache lines
}

// NewFailureThrottle returns a throttle with the given options.
func NewFailureThrottle(o FailureThrottleOptions) *FailureThrottle {
	if o.Burst <= 0 {
		o.Burst = DefaultFailureBurst
	}
	if o.Refill <= 0 {
		o.Refill = DefaultFailureRefill
	}
	if o.MaxAddresses <= 0 {
		o.MaxAddresses = DefaultMaxAddresses
	}
	if o.Hold == 0 {
		o.Hold = DefaultHold
	}
	if o.MaxHeld <= 0 {
		o.MaxHeld = DefaultMaxHeld
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	t := &FailureThrottle{
		interval:  int64(o.Refill),
		tolerance: int64(o.Burst-1) * int64(o.Refill),
		hold:      max(o.Hold, 0),
		maxHeld:   int64(o.MaxHeld),
		now:       o.Now,
		epoch:     o.Now(),
		seed:      maphash.MakeSeed(),
		perShard:  max(1, o.MaxAddresses/throttleShards),
	}
	for i := range t.shards {
		t.shards[i].tat = make(map[[16]byte]int64)
	}
	return t
}

// FailureThrottleStats are a throttle's counters since it was made.
type FailureThrottleStats struct {
	Addresses int    // addresses tracked now (with failures not yet forgiven)
	Failures  uint64 // failures counted
	Throttled uint64 // requests answered 429
	Answered  uint64 // requests of throttled addresses answered all the same (keys that exist)
	Closed    uint64 // 429s written at once with Connection: close, as too many were held
	Held      int    // 429s waiting now
}

// Stats returns the throttle's counters.
func (t *FailureThrottle) Stats() FailureThrottleStats {
	return FailureThrottleStats{
		Addresses: int(t.tracked.Load()), Failures: t.failures.Load(), Throttled: t.throttled.Load(),
		Answered: t.answered.Load(), Closed: t.closed.Load(), Held: int(t.held.Load()),
	}
}

// clientKey is the throttle's key of the request's address: the IPv4
// address, or the /64 of an IPv6 one; false if RemoteAddr is no address.
func clientKey(r *http.Request) ([16]byte, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return [16]byte{}, false
	}
	a := ap.Addr().Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64) // cannot fail: a has no zone, 64 is in range
		a = p.Addr()
	}
	return a.As16(), true
}

func (t *FailureThrottle) shard(k [16]byte) *throttleShard {
	return &t.shards[maphash.Bytes(t.seed, k[:])%throttleShards]
}

func (t *FailureThrottle) clock() int64 { return int64(t.now().Sub(t.epoch)) }

// wait returns how long address k must wait before it may fail again: 0
// if it is not throttled.
func (t *FailureThrottle) wait(k [16]byte, now int64) time.Duration {
	sh := t.shard(k)
	sh.mu.Lock()
	tat, ok := sh.tat[k]
	sh.mu.Unlock()
	if !ok || tat <= now+t.tolerance {
		return 0
	}
	return time.Duration(tat - t.tolerance - now)
}

// fail takes a token of address k's bucket.
func (t *FailureThrottle) fail(k [16]byte, now int64) {
	t.failures.Add(1)
	sh := t.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tat, ok := sh.tat[k]
	if !ok {
		t.makeRoom(sh, now)
		t.tracked.Add(1)
	}
	sh.tat[k] = max(tat, now) + t.interval
}

// makeRoom drops, of a few entries of sh, those whose bucket is full again
// (so that stale entries go as new ones come) and, if sh is still full,
// the least indebted of them. Go's map iteration starts anywhere, so these
// are a sample.
func (t *FailureThrottle) makeRoom(sh *throttleShard, now int64) {
	look := 2 // a few, to drop stale entries as new ones come
	if len(sh.tat) >= t.perShard {
		look = 8 // enough to find one little indebted
	}
	var (
		victim [16]byte
		least  int64
		found  bool
	)
	for k, tat := range sh.tat {
		if look--; look < 0 {
			break
		}
		if tat <= now {
			delete(sh.tat, k)
			t.tracked.Add(-1)
			continue
		}
		if !found || tat < least {
			victim, least, found = k, tat, true
		}
	}
	if len(sh.tat) >= t.perShard && found {
		delete(sh.tat, victim)
		t.tracked.Add(-1)
	}
}

// failureNoter is a response writer that a handler can tell that the
// request failed in a way the throttle counts, though its answer is no
// error (a /verify answered NOT_FOUND).
type failureNoter interface{ noteFailure() }

// noteFailure tells the throttle, through w, that the request failed.
func noteFailure(w http.ResponseWriter) {
	if f, ok := w.(failureNoter); ok {
		f.noteFailure()
	}
}

// failed reports whether the request that sw answered failed as the
// throttle counts: a refused credential, or a failure a handler noted.
func failed(sw *statusWriter) bool { return sw.failed || sw.status == http.StatusUnauthorized }

// wrap throttles the requests of next. Without a throttle it is next. It
// needs the statusWriter of observe, which every request has; without
// one, it passes the request on.
//
// While no address has failed lately (the table is empty), a request
// costs one atomic load more; otherwise its address is looked up.
func (t *FailureThrottle) wrap(next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw, ok := w.(*statusWriter)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if t.tracked.Load() == 0 {
			next.ServeHTTP(w, r)
			if failed(sw) {
				if k, ok := clientKey(r); ok {
					t.fail(k, t.clock())
				}
			}
			return
		}
		k, ok := clientKey(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if wait := t.wait(k, t.clock()); wait > 0 {
			t.serveThrottled(sw, r, next, wait)
			return
		}
		next.ServeHTTP(w, r)
		if failed(sw) {
			t.fail(k, t.clock())
		}
	})
}

// serveThrottled serves a request of a throttled address from memory, or
// answers 429 once it is clear that it cannot.
func (t *FailureThrottle) serveThrottled(sw *statusWriter, r *http.Request, next http.Handler, wait time.Duration) {
	tw := &throttledWriter{statusWriter: sw}
	ctx := keyward.WithKnownKeysOnly(r.Context())
	next.ServeHTTP(tw, r.WithContext(ctx))
	if !tw.refused {
		t.answered.Add(1)
		return
	}
	if r.Context().Err() != nil {
		noteOutcome(sw, statusClientClosed, context.Cause(r.Context()))
		return
	}
	t.throttled.Add(1)
	h := sw.Header()
	if t.hold > 0 && t.held.Add(1) <= t.maxHeld {
		hold := time.NewTimer(min(t.hold, wait))
		select {
		case <-hold.C:
		case <-r.Context().Done():
		}
		hold.Stop()
		t.held.Add(-1)
	} else if t.hold > 0 {
		t.held.Add(-1)
		t.closed.Add(1)
		h.Set("Connection", "close")
	}
	h.Del("WWW-Authenticate")
	h.Del("Allow")
	h.Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
	writeProblem(sw, r, http.StatusTooManyRequests,
		"too many failed requests from this address: only keys that exist are answered; retry after the time in Retry-After", nil)
}

// throttledWriter is the response writer of a throttled address's request:
// it swallows an answer that fails (a 401, a 429 from the cache, a
// failure a handler noted) for the 429 that replaces it, and lets any
// other through.
type throttledWriter struct {
	*statusWriter
	refused bool
	wrote   bool
}

func (w *throttledWriter) noteFailure() {
	if !w.wrote {
		w.refused = true
	}
}

func (w *throttledWriter) WriteHeader(status int) {
	if w.refused || w.wrote {
		return
	}
	if status == http.StatusUnauthorized || status == http.StatusTooManyRequests {
		w.refused = true
		return
	}
	w.wrote = true
	w.statusWriter.WriteHeader(status)
}

func (w *throttledWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.refused {
		return len(b), nil
	}
	return w.statusWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *throttledWriter) Unwrap() http.ResponseWriter { return w.statusWriter }

// Wait returns how long the address of r must wait before it may fail
// again: 0 if it is not throttled. It and Fail let another handler than
// the API's (the web console's sign-in) count its failures in the same
// table, so that an address guessing keys is slowed down wherever it
// tries them.
func (t *FailureThrottle) Wait(r *http.Request) time.Duration {
	if t == nil || t.tracked.Load() == 0 {
		return 0
	}
	k, ok := clientKey(r)
	if !ok {
		return 0
	}
	return t.wait(k, t.clock())
}

// Fail counts a failure of the address of r.
func (t *FailureThrottle) Fail(r *http.Request) {
	if t == nil {
		return
	}
	if k, ok := clientKey(r); ok {
		t.fail(k, t.clock())
	}
}

package redis_test

import (
	"context"
	"github.com/keyward/keyward/internal/syncbuf"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/redistest"
	"github.com/keyward/keyward/redis"
)

// newLimiter returns a limiter on the Redis at url whose counters live
// under prefix, closed when the test ends. Unless opts say otherwise, it
// fails closed and gives Redis two seconds: on a machine slowed down (the
// race detector, other work), a slow answer must not turn into
// admissions failing open, which would hide what the tests measure, the
// leases. (Once, under -race on a loaded machine, it did: 268% of a limit
// admitted in one run, at the default 100ms, failing open.)
func newLimiter(t testing.TB, url, prefix string, opts ...redis.Option) *redis.Limiter {
	t.Helper()
	defaults := []redis.Option{redis.WithKeyPrefix(prefix), redis.WithFailureMode(redis.FailClosed), redis.WithTimeout(2 * time.Second)}
	l, err := redis.New(url, append(defaults, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// take calls l.Take and fails the test on an error.
func take(t testing.TB, l *redis.Limiter, id keyward.KeyID, limits []keyward.RateLimit, cost int64, now time.Time) ([]keyward.LimitState, bool) {
	t.Helper()
	states, ok, err := l.Take(context.Background(), id, limits, cost, now)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	if len(states) != len(limits) {
		t.Fatalf("Take returned %d states for %d limits", len(states), len(limits))
	}
	return states, ok
}

// windowStart returns the start of the window of duration d after the one
// that holds now.
func windowStart(d time.Duration) time.Time {
	ms := d.Milliseconds()
	return time.UnixMilli((time.Now().UnixMilli()/ms + 1) * ms)
}

// hammer has goroutines goroutines on each limiter take cost units of
// key id's limits tries times each, all at once, at now, and returns how
// many each limiter admitted.
func hammer(t *testing.T, ls []*redis.Limiter, id keyward.KeyID, limits []keyward.RateLimit, cost int64, now time.Time, goroutines, tries int) []int64 {
	t.Helper()
	admitted := make([]atomic.Int64, len(ls))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, l := range ls {
		for range goroutines {
			wg.Go(func() {
				<-start
				for range tries {
					_, ok, err := l.Take(context.Background(), id, limits, cost, now)
					if err != nil {
						t.Errorf("Take: %v", err)
						return
					}
					if ok {
						admitted[i].Add(1)
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	out := make([]int64, len(ls))
	for i := range admitted {
		out[i] = admitted[i].Load()
	}
	return out
}

// TestTwoInstancesExact: two limiters with clients of their own, sharing
// one Redis, hammered on one key from many goroutines each, admit no more
// than the limit between them, and (hammered on until the end) close to
// all of it: what they do not admit is what one of them held unspent.
func TestTwoInstancesExact(t *testing.T) {
	url := redistest.URL(t)
	tests := []struct {
		name  string
		limit int64
		cost  int64
	}{
		{"limit 1000, cost 1", 1000, 1},
		{"limit 1000, cost 3", 1000, 3},
		{"limit 10, cost 1", 10, 1},
		{"limit 100000, cost 1", 100_000, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := redistest.Prefix(t, url)
			now := time.Now()
			limits := []keyward.RateLimit{{Name: "requests", Limit: tt.limit, Duration: time.Hour}}
			for run := range 3 {
				a, b := newLimiter(t, url, prefix), newLimiter(t, url, prefix)
				id := keyward.KeyID(run + 1)
				// Enough tries that each instance alone could spend the
				// whole limit twice over.
				tries := int(2*tt.limit/tt.cost/8) + 10
				got := hammer(t, []*redis.Limiter{a, b}, id, limits, tt.cost, now, 8, tries)
				units := (got[0] + got[1]) * tt.cost
				sa, sb := a.Stats(), b.Stats()
				t.Logf("run %d: admitted %d + %d = %d units of %d (%.2f%%); round trips %d + %d for %d + %d takes; errors %d + %d",
					run, got[0]*tt.cost, got[1]*tt.cost, units, tt.limit, 100*float64(units)/float64(tt.limit),
					sa.RoundTrips, sb.RoundTrips, sa.Takes, sb.Takes, sa.Errors, sb.Errors)
				if units > tt.limit {
					t.Errorf("run %d: admitted %d units, over the limit of %d", run, units, tt.limit)
				}
				if units < tt.limit*9/10 {
					t.Errorf("run %d: admitted %d units, under 90%% of the limit of %d", run, units, tt.limit)
				}
				// Hammered to the end, every instance spends what it
				// holds: what is left is less than one cost per instance.
				if tt.limit-units >= 2*tt.cost {
					t.Errorf("run %d: %d units of %d never admitted", run, tt.limit-units, tt.limit)
				}
			}
		})
	}
}

// TestAllOrNone: a verification that one limit refuses spends nothing of
// the others.
func TestAllOrNone(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	now := time.Now()
	a := newLimiter(t, url, prefix)
	limits := []keyward.RateLimit{
		{Name: "minute", Limit: 5, Duration: time.Minute},
		{Name: "burst", Limit: 3, Duration: time.Hour},
	}
	for i := range 3 {
		if _, ok := take(t, a, 1, limits, 1, now); !ok {
			t.Fatalf("take %d refused", i+1)
		}
	}
	states, ok := take(t, a, 1, limits, 1, now)
	if ok {
		t.Fatal("fourth take admitted over a limit of 3")
	}
	if s := states[0]; s.Remaining != 2 || s.Exceeded || s.Limit != 5 || s.Name != "minute" {
		t.Errorf("minute after the refusal: %+v, want 2 remaining, not exceeded", s)
	}
	if s := states[1]; s.Remaining != 0 || !s.Exceeded || s.Limit != 3 || s.Name != "burst" {
		t.Errorf("burst after the refusal: %+v, want 0 remaining, exceeded", s)
	}
	_, minuteEnd := limits[0].Window(now)
	if !states[0].Reset.Equal(minuteEnd) {
		t.Errorf("minute resets at %v, want %v", states[0].Reset, minuteEnd)
	}
	// What a held of "minute" goes back to Redis when it closes: another
	// instance then has exactly the two units the refusal did not spend.
	a.Close()
	b := newLimiter(t, url, prefix)
	minute := limits[:1]
	for i := range 2 {
		if _, ok := take(t, b, 1, minute, 1, now); !ok {
			t.Fatalf("take %d of the two left refused", i+1)
		}
	}
	if _, ok := take(t, b, 1, minute, 1, now); ok {
		t.Fatal("admitted a sixth of a limit of 5")
	}
}

// TestCosts: a cost of 0 spends nothing and says where the key stands; a
// cost above 1 spends that many, all or none; a cost above what is left
// is refused and spends nothing, and units fetched for it serve later.
func TestCosts(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	now := time.Now()
	l := newLimiter(t, url, prefix)
	other := newLimiter(t, url, prefix)
	limits := []keyward.RateLimit{{Name: "units", Limit: 10, Duration: time.Hour}}

	// Another instance spends 2 first: a cost of 0 learns of it.
	take(t, other, 7, limits, 2, now)
	other.Close()

	steps := []struct {
		cost          int64
		ok            bool
		wantRemaining int64
		wantExceeded  bool
	}{
		{0, true, 8, false},
		{3, true, 5, false},
		{0, true, 5, false},
		{6, false, 5, true},
		{5, true, 0, false},
		{0, true, 0, false},
		{1, false, 0, true},
	}
	for i, s := range steps {
		states, ok := take(t, l, 7, limits, s.cost, now)
		if ok != s.ok || states[0].Remaining != s.wantRemaining || states[0].Exceeded != s.wantExceeded {
			t.Fatalf("step %d, cost %d: ok %v, %+v; want ok %v, %d remaining, exceeded %v",
				i, s.cost, ok, states[0], s.ok, s.wantRemaining, s.wantExceeded)
		}
	}
}

// TestWindowsReset: a limit used up in one window is whole again in the
// next, and each answer says when its window ends.
func TestWindowsReset(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	l := newLimiter(t, url, prefix)
	limits := []keyward.RateLimit{{Name: "second", Limit: 3, Duration: time.Second}}
	t0 := windowStart(time.Second).Add(100 * time.Millisecond)
	for i := range 3 {
		if _, ok := take(t, l, 1, limits, 1, t0); !ok {
			t.Fatalf("take %d refused", i+1)
		}
	}
	states, ok := take(t, l, 1, limits, 1, t0.Add(800*time.Millisecond))
	if ok {
		t.Fatal("fourth take in the window admitted")
	}
	if want := t0.Add(900 * time.Millisecond); !states[0].Reset.Equal(want) {
		t.Errorf("reset %v, want %v", states[0].Reset, want)
	}
	t1 := t0.Add(900 * time.Millisecond)
	states, ok = take(t, l, 1, limits, 1, t1)
	if !ok || states[0].Remaining != 2 || !states[0].Reset.Equal(t1.Add(time.Second)) {
		t.Fatalf("first take of the next window: ok %v, %+v", ok, states[0])
	}
	// A verification given a time of the window before, as may happen
	// at the boundary, counts in the new window rather than reopen the old.
	if _, ok := take(t, l, 1, limits, 1, t1.Add(-time.Millisecond)); !ok {
		t.Fatal("late take refused")
	}
	if s, _ := take(t, l, 1, limits, 0, t1); s[0].Remaining != 1 {
		t.Fatalf("after two takes in the new window: %+v", s[0])
	}
}

// TestIdleLeasesGoBack: units an instance leased and stopped using go back
// to Redis after the idle time, and another instance then spends them.
func TestIdleLeasesGoBack(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	now := time.Now()
	const idle = 300 * time.Millisecond
	a := newLimiter(t, url, prefix, redis.WithIdleReturn(idle))
	b := newLimiter(t, url, prefix, redis.WithIdleReturn(idle))
	limits := []keyward.RateLimit{{Name: "requests", Limit: 100, Duration: time.Hour}}
	for i := range 50 {
		if _, ok := take(t, a, 1, limits, 1, now); !ok {
			t.Fatalf("a: take %d refused", i+1)
		}
	}
	held := a.Stats().Granted - 50
	if held <= 0 {
		t.Fatalf("a holds no lease after 50 quick takes (granted %d): leases do not grow", a.Stats().Granted)
	}
	admitted := 0
	for {
		if _, ok := take(t, b, 1, limits, 1, now); !ok {
			break
		}
		admitted++
	}
	if admitted != 50-int(held) {
		t.Fatalf("b admitted %d while a held %d, want %d", admitted, held, 50-held)
	}
	deadline := time.Now().Add(10 * idle)
	for a.Stats().Returned != held {
		if time.Now().After(deadline) {
			t.Fatalf("a gave back %d of the %d units it held, %v after its last use", a.Stats().Returned, held, 10*idle)
		}
		time.Sleep(idle / 10)
	}
	// b asks Redis again once its idle time has passed since it learned
	// that the limit was used up.
	time.Sleep(idle)
	for {
		if _, ok := take(t, b, 1, limits, 1, now); !ok {
			break
		}
		admitted++
	}
	if admitted != 50 {
		t.Fatalf("b admitted %d in all, want the 50 that a did not spend", admitted)
	}
}

// TestFewRoundTrips: a hot key costs a few round trips, not one per
// verification.
func TestFewRoundTrips(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	now := time.Now()
	l := newLimiter(t, url, prefix)
	limits := []keyward.RateLimit{{Name: "requests", Limit: keyward.MaxRateLimit, Duration: time.Hour}}
	got := hammer(t, []*redis.Limiter{l}, 1, limits, 1, now, 8, 5000)
	s := l.Stats()
	t.Logf("%d takes, %d admitted, %d round trips: %.5f per take", s.Takes, got[0], s.RoundTrips, float64(s.RoundTrips)/float64(s.Takes))
	if got[0] != s.Takes {
		t.Errorf("admitted %d of %d under a limit of %d", got[0], s.Takes, int64(keyward.MaxRateLimit))
	}
	if s.RoundTrips*100 > s.Takes {
		t.Errorf("%d round trips for %d takes: over one in a hundred", s.RoundTrips, s.Takes)
	}
}

// deadURL returns a redis:// URL at which nothing listens.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "redis://" + addr + "/0"
}

// TestRedisDown: with Redis unreachable, fail-open admits and fail-closed
// refuses, each counted; after a failure Redis is left alone for the
// backoff, so that verifications do not each wait out a timeout.
func TestRedisDown(t *testing.T) {
	limits := []keyward.RateLimit{{Name: "requests", Limit: 5, Duration: time.Minute}}
	tests := []struct {
		mode redis.FailureMode
		ok   bool
	}{
		{redis.FailOpen, true},
		{redis.FailClosed, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			l := newLimiter(t, deadURL(t), "kwtest:", redis.WithFailureMode(tt.mode), redis.WithBackoff(time.Minute))
			now := time.Now()
			for i := range 3 {
				start := time.Now()
				states, ok := take(t, l, 1, limits, 1, now)
				if ok != tt.ok {
					t.Fatalf("take %d: ok %v, want %v", i, ok, tt.ok)
				}
				if !tt.ok && (states[0].Remaining != 0 || !states[0].Exceeded) {
					t.Errorf("take %d, fail-closed: %+v, want nothing remaining, exceeded", i, states[0])
				}
				if tt.ok && states[0].Remaining != 4 {
					t.Errorf("take %d, fail-open: %+v, want what is known, less the cost", i, states[0])
				}
				if i > 0 && time.Since(start) > 20*time.Millisecond {
					t.Errorf("take %d during the backoff took %v", i, time.Since(start))
				}
			}
			s := l.Stats()
			if s.RoundTrips != 1 || s.Errors != 1 {
				t.Errorf("%d round trips and %d errors for three takes, want one of each (the backoff)", s.RoundTrips, s.Errors)
			}
			if tt.ok && s.FailOpenAdmitted != 3 || !tt.ok && s.FailClosedRefused != 3 {
				t.Errorf("stats %+v, want the three decisions counted", s)
			}
		})
	}
}

// TestRecovery: Redis goes away and comes back (through a proxy the test
// stops and starts, and freezes, as a network that drops packets would):
// meanwhile the failure mode decides, within the timeout; once Redis
// answers, limits are enforced again, without a restart.
func TestRecovery(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	proxy := pgtest.NewProxy(t, url)
	const backoff = 200 * time.Millisecond
	var log syncBuffer
	logger := slog.New(slog.NewJSONHandler(&log, nil))
	l := newLimiter(t, proxy.URL, prefix, redis.WithTimeout(redis.DefaultTimeout), redis.WithBackoff(backoff), redis.WithLogger(logger))
	now := time.Now()
	limits := []keyward.RateLimit{{Name: "requests", Limit: 2, Duration: time.Hour}}
	if _, ok := take(t, l, 1, limits, 1, now); !ok {
		t.Fatal("refused with Redis up")
	}

	proxy.Stop()
	if _, ok := take(t, l, 2, limits, 1, now); ok {
		t.Fatal("fail-closed admitted with Redis down")
	}
	proxy.Start()
	waitEnforced(t, l, limits, now, 3, 10*time.Second)

	proxy.Freeze()
	time.Sleep(backoff)
	start := time.Now()
	_, ok := take(t, l, 100, limits, 1, now)
	if elapsed := time.Since(start); ok || elapsed > redis.DefaultTimeout+200*time.Millisecond {
		t.Fatalf("with Redis silent: ok %v after %v, want a refusal within the %v timeout", ok, elapsed, redis.DefaultTimeout)
	}
	proxy.Thaw()
	waitEnforced(t, l, limits, now, 101, 10*time.Second)
	if s := l.Stats(); s.FailClosedRefused < 2 || s.Errors < 2 {
		t.Errorf("stats after two outages: %+v", s)
	}
	if out := log.String(); strings.Count(out, "Redis answers again") != 2 || !strings.Contains(out, "fail-closed") {
		t.Errorf("want each outage's end logged, and the mode named:\n%s", out)
	}
}

// waitEnforced waits, up to within, until l enforces limits (of 2) on a
// fresh key from id on: two takes admitted, the third refused, without a
// failure. It returns once one key has shown it.
func waitEnforced(t *testing.T, l *redis.Limiter, limits []keyward.RateLimit, now time.Time, id keyward.KeyID, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for ; ; id += 1000 {
		before := l.Stats()
		_, ok1 := take(t, l, id, limits, 1, now)
		_, ok2 := take(t, l, id, limits, 1, now)
		_, ok3 := take(t, l, id, limits, 1, now)
		after := l.Stats()
		if after.Errors == before.Errors && ok1 && ok2 && !ok3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("limits not enforced %v after Redis came back: %+v", within, after)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAccuracyOverRealWindows: two instances verify one key on the real
// clock through several windows of one second, faster than the limit
// allows, one of them three times as fast as the other: in every window
// they admit no more than the limit together, and, in every window they
// cover whole, at least 90% of it.
func TestAccuracyOverRealWindows(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about four seconds")
	}
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	a, b := newLimiter(t, url, prefix), newLimiter(t, url, prefix)
	rl := keyward.RateLimit{Name: "requests", Limit: 500, Duration: time.Second}
	limits := []keyward.RateLimit{rl}
	first := windowStart(time.Second)
	time.Sleep(time.Until(first))
	const windows = 3
	end := first.Add(windows * time.Second)

	var mu sync.Mutex
	admitted := map[int64]int64{} // window number -> admitted
	var wg sync.WaitGroup
	for i, l := range []*redis.Limiter{a, a, a, b} {
		wg.Go(func() {
			for {
				now := time.Now()
				if !now.Before(end) {
					return
				}
				_, ok, err := l.Take(context.Background(), 1, limits, 1, now)
				if err != nil {
					t.Errorf("Take: %v", err)
					return
				}
				if ok {
					n, _ := rl.Window(now)
					mu.Lock()
					admitted[n]++
					mu.Unlock()
				}
				// About 4,000 verifications a second per goroutine:
				// each instance alone would use the limit up.
				time.Sleep(time.Duration(200+50*i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	n0, _ := rl.Window(first)
	for n := n0; n < n0+windows; n++ {
		got := admitted[n]
		t.Logf("window %d: admitted %d of %d (%.1f%%)", n-n0, got, rl.Limit, 100*float64(got)/float64(rl.Limit))
		if got > rl.Limit {
			t.Errorf("window %d: admitted %d, over the limit of %d", n-n0, got, rl.Limit)
		}
		if got < rl.Limit*9/10 {
			t.Errorf("window %d: admitted %d, under 90%% of the limit of %d", n-n0, got, rl.Limit)
		}
	}
	sa, sb := a.Stats(), b.Stats()
	t.Logf("a: %d takes, %d round trips, %d units expired unspent; b: %d takes, %d round trips, %d units expired unspent",
		sa.Takes, sa.RoundTrips, sa.Expired, sb.Takes, sb.RoundTrips, sb.Expired)
}

// syncBuffer is a log sink safe for the goroutines that write to it.
type syncBuffer = syncbuf.Buffer

// TestOutageLog: an outage is logged once every few seconds however many
// calls fail, and never with the URL's password, whether the limiter
// writes the line or go-redis does.
func TestOutageLog(t *testing.T) {
	const password = "pw-of-the-cache"
	var log syncBuffer
	logger := slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	redis.LogLibraryTo(logger)
	t.Cleanup(func() { redis.LogLibraryTo(slog.New(slog.DiscardHandler)) })
	dead := strings.Replace(deadURL(t), "redis://", "redis://:"+password+"@", 1)
	l := newLimiter(t, dead, "kwtest:", redis.WithFailureMode(redis.FailOpen), redis.WithBackoff(0), redis.WithLogger(logger))
	if err := l.Ping(context.Background()); err == nil || strings.Contains(err.Error(), password) {
		t.Fatalf("Ping: %v", err)
	}
	limits := []keyward.RateLimit{{Name: "requests", Limit: 5, Duration: time.Minute}}
	for i := range 5 {
		if _, ok := take(t, l, keyward.KeyID(i+1), limits, 1, time.Now()); !ok {
			t.Fatal("fail-open refused")
		}
	}
	if s := l.Stats(); s.Errors != 6 || s.FailOpenAdmitted != 5 {
		t.Errorf("stats %+v, want 6 errors (a ping and five takes, no backoff) and 5 admitted", s)
	}
	out := log.String()
	if n := strings.Count(out, "Redis does not answer"); n != 1 {
		t.Errorf("%d outage lines for six failures within a second, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "go-redis: ") {
		t.Errorf("go-redis's own lines are not routed to the logger:\n%s", out)
	}
	if strings.Contains(out, password) {
		t.Errorf("the log shows the password:\n%s", out)
	}
}

// TestUsedUpStaysRefused: a limit that Redis said was used up in this
// window stays refused while Redis is down, even failing open: only
// units given back could change that, and there is no sign of any. (What
// this instance knows of a key goes with the key's idle time.)
func TestUsedUpStaysRefused(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t, url)
	proxy := pgtest.NewProxy(t, url)
	const idle = 100 * time.Millisecond
	l := newLimiter(t, proxy.URL, prefix, redis.WithFailureMode(redis.FailOpen), redis.WithIdleReturn(idle))
	now := time.Now()
	limits := []keyward.RateLimit{{Name: "requests", Limit: 2, Duration: time.Hour}}
	for i := range 2 {
		if _, ok := take(t, l, 1, limits, 1, now); !ok {
			t.Fatalf("take %d refused", i+1)
		}
	}
	if _, ok := take(t, l, 1, limits, 1, now); ok {
		t.Fatal("third take of a limit of 2 admitted")
	}
	proxy.Stop()
	// Past the time to ask Redis again, the key in use all along (a key
	// unused for the idle time is forgotten, and then fails open).
	for end := time.Now().Add(3 * idle); time.Now().Before(end); time.Sleep(idle / 4) {
		states, ok := take(t, l, 1, limits, 1, now)
		if ok || !states[0].Exceeded || states[0].Remaining != 0 {
			t.Fatalf("used-up limit with Redis down, failing open: ok %v, %+v; want refused", ok, states[0])
		}
	}
	if s := l.Stats(); s.Errors == 0 {
		t.Fatalf("Redis was not asked again: %+v", s)
	}
	// A key Redis was never asked about fails open.
	if _, ok := take(t, l, 2, limits, 1, now); !ok {
		t.Fatal("fail-open refused a fresh key with Redis down")
	}
	if s := l.Stats(); s.FailOpenAdmitted != 1 {
		t.Errorf("stats %+v, want one admitted failing open", s)
	}
}

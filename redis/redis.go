// Package redis shares keys' rate limits among the instances of Keyward
// that use one Redis: its Limiter is a keyward.RateLimiter under which a
// key's limit holds for the key, however many instances verify it.
//
// # Leases
//
// Redis holds, for each limit of each key and each of its windows, the
// number of units handed out to instances in that window. An instance
// asks for units in advance (a lease) and spends them locally, so that a
// verification costs no round trip while its key's lease lasts. A Lua
// script grants min(asked, limit - handed out) units atomically, so the
// units handed out in a window never exceed the limit and no instance
// ever admits more than it was granted: across instances the limit holds
// exactly. What it costs is under-admission: units leased to an instance
// that does not spend them before the window ends are lost to the others.
// Leases are therefore small at first and grow only with a key's local
// rate of use (doubling while they run out quickly, never more than a
// quarter of what Redis has left), and an instance gives back what a key
// has not used after IdleReturn without use, and when it closes.
//
// Concurrent verifications of one key share one round trip. Once Redis
// has handed out a limit's whole window, the key is refused from memory;
// Redis is asked again at most once per IdleReturn, in case another
// instance gave units back.
//
// # Redis down
//
// Each call to Redis has a deadline (WithTimeout). When a verification
// needs units the lease cannot supply and Redis does not answer, the
// failure mode decides: FailOpen admits (the limit is not enforced while
// Redis is down), FailClosed refuses (the verdict is RATE_LIMITED, the
// limit reported with nothing remaining). Units already leased are spent
// either way: they were granted; and a limit Redis has said is used up
// in this window stays refused either way, as long as this instance
// remembers it (while the key is in use). After a failure, Redis is not called
// again for WithBackoff, so that a dead Redis does not add a timeout to
// every verification; the first call after that which succeeds ends the
// outage, without a restart. Stats counts the decisions.
//
// # Keys in Redis
//
// A counter is named prefix + "{" + key id + "}:" + limit name + ":" +
// duration in ms + ":" + window number, where the window number counts
// windows of the duration since the Unix epoch (keyward.RateLimit.Window).
// The key id is a hash tag, so that the limits of one key share a slot of
// a Redis Cluster and one script can grant them all. A counter expires
// shortly after its window ends. Windows are reckoned from the time each
// instance is given (its clock): instances whose clocks disagree by d may
// together admit more than the limit in the first d of a window.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/keyward/keyward"
)

var _ keyward.RateLimiter = (*Limiter)(nil)

// FailureMode says what a verification that needs Redis gets when Redis
// does not answer.
type FailureMode string

// Failure modes.
const (
	// FailOpen admits: a key's limit is not enforced while Redis is down
	// (beyond the units this instance holds already).
	FailOpen FailureMode = "open"
	// FailClosed refuses: the verification answers RATE_LIMITED.
	FailClosed FailureMode = "closed"
)

// ParseFailureMode reads "open" or "closed".
func ParseFailureMode(s string) (FailureMode, error) {
	switch m := FailureMode(strings.ToLower(strings.TrimSpace(s))); m {
	case FailOpen, FailClosed:
		return m, nil
	}
	return "", fmt.Errorf("failure mode %q: want open or closed", s)
}

// Defaults of the options.
const (
	DefaultKeyPrefix   = "keyward:rl:"
	DefaultTimeout     = 100 * time.Millisecond
	DefaultBackoff     = time.Second
	DefaultIdleReturn  = time.Second
	DefaultFailureMode = FailOpen
)

// failureLogEvery bounds how often an outage is logged.
const failureLogEvery = 5 * time.Second

// Limiter counts keys' uses against their rate limits in Redis, with
// local leases. Create it with New; it is safe for concurrent use. Close
// gives its leases back.
type Limiter struct {
	client   *goredis.Client
	addr     string // host:port, for messages
	password string // kept out of every message
	prefix   string
	timeout  time.Duration
	backoff  time.Duration
	idle     time.Duration
	mode     FailureMode
	logger   *slog.Logger

	start  time.Time    // mono() counts from here
	ticks  atomic.Int64 // of run's clock, every idle/idleTicks
	shards [64]shard

	downUntil atomic.Int64 // mono() before which Redis is not called
	down      atomic.Bool  // in an outage, since the last success
	lastLog   atomic.Int64 // mono() of the last outage log line, plus one
	stats     counters

	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

// An Option configures New.
type Option func(*Limiter)

// WithKeyPrefix starts the name of every counter in Redis with prefix
// (DefaultKeyPrefix if not given), so that several deployments, or tests,
// can share one Redis.
func WithKeyPrefix(prefix string) Option { return func(l *Limiter) { l.prefix = prefix } }

// WithTimeout bounds each call to Redis (DefaultTimeout if not given).
// It is what a verification may wait for Redis, beyond waiting for a
// call another verification of the same key started.
func WithTimeout(d time.Duration) Option { return func(l *Limiter) { l.timeout = d } }

// WithFailureMode chooses what happens when Redis does not answer
// (DefaultFailureMode if not given).
func WithFailureMode(m FailureMode) Option { return func(l *Limiter) { l.mode = m } }

// WithBackoff sets how long Redis is left alone after a failure
// (DefaultBackoff if not given).
func WithBackoff(d time.Duration) Option { return func(l *Limiter) { l.backoff = d } }

// WithIdleReturn sets how long a key's lease may go unused before it is
// given back (DefaultIdleReturn if not given); it is also how often a
// limit that Redis said was used up is asked about again.
func WithIdleReturn(d time.Duration) Option { return func(l *Limiter) { l.idle = d } }

// WithLogger has the limiter log outages (at most one line every few
// seconds) and recoveries.
func WithLogger(logger *slog.Logger) Option { return func(l *Limiter) { l.logger = logger } }

// New returns a limiter on the Redis at rawURL (redis://[user:password@]
// host:port[/db], rediss:// for TLS, or unix://). It does not connect:
// the first verification that needs Redis does (see Ping). Neither its
// errors nor its log lines show the URL's password.
func New(rawURL string, opts ...Option) (*Limiter, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url's error quotes the whole URL, password and all.
		return nil, errors.New("redis URL: does not parse as a URL")
	}
	password, _ := u.User.Password()
	if password != "" {
		passwords.Store(password, true)
	}
	l := &Limiter{
		password: password,
		prefix:   DefaultKeyPrefix,
		timeout:  DefaultTimeout,
		backoff:  DefaultBackoff,
		idle:     DefaultIdleReturn,
		mode:     DefaultFailureMode,
		logger:   slog.New(slog.DiscardHandler),
		start:    time.Now(),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	for _, opt := range opts {
		opt(l)
	}
	switch {
	case l.timeout <= 0:
		return nil, fmt.Errorf("redis: timeout %v: must be positive", l.timeout)
	case l.backoff < 0:
		return nil, fmt.Errorf("redis: backoff %v: must not be negative", l.backoff)
	case l.idle <= 0:
		return nil, fmt.Errorf("redis: idle return %v: must be positive", l.idle)
	case l.mode != FailOpen && l.mode != FailClosed:
		return nil, fmt.Errorf("redis: failure mode %q: want open or closed", l.mode)
	}
	o, err := goredis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %s", l.scrub(err.Error()))
	}
	l.addr = o.Addr
	if o.ClientName == "" {
		o.ClientName = "keyward"
	}
	// Every call carries the deadline WithTimeout gives it, and that
	// deadline governs: the socket's, the dial's and the wait for a
	// pooled connection. One dial per call, not five: a verification
	// must not wait out a dead Redis several times.
	o.ContextTimeoutEnabled = true
	o.DialerRetries = 1
	o.PoolTimeout = l.timeout
	// One retry, on a fresh connection, covers a pooled connection that
	// Redis closed (a restart). Retrying a grant whose answer was lost can
	// only lose units, never hand out too many.
	o.MaxRetries = 1
	// No push notifications to handle: nothing to negotiate at connect.
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	l.client = goredis.NewClient(o)
	for i := range l.shards {
		l.shards[i].entries = make(map[keyward.KeyID]*entry)
	}
	go l.run()
	return l, nil
}

// Addr returns the address of the Redis server, host:port, for messages.
func (l *Limiter) Addr() string { return l.addr }

// Ping checks that Redis answers within the limiter's timeout. A failure
// counts as one of Take's (the backoff starts), but is left to the caller
// to report.
func (l *Limiter) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	l.stats.roundTrips.Add(1)
	err := l.client.Ping(ctx).Err()
	if err != nil {
		l.markDown()
		return fmt.Errorf("redis %s: %s", l.addr, l.scrub(err.Error()))
	}
	l.succeeded()
	return nil
}

// Close stops the limiter: it gives back every unspent lease (within the
// timeout) and closes the connections. Take must not be called after.
func (l *Limiter) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.stopped
		l.giveBack(true)
		err = l.client.Close()
	})
	return err
}

// Stats are the limiter's counts since it was created.
type Stats struct {
	// Takes is the number of calls to Take.
	Takes int64
	// RoundTrips is the number of calls to Redis: grants, give-backs
	// and pings (a pipeline counts once).
	RoundTrips int64
	// Errors is the number of calls to Redis that failed or timed out.
	Errors int64
	// FailOpenAdmitted is the number of verifications admitted because
	// Redis did not answer (FailOpen).
	FailOpenAdmitted int64
	// FailClosedRefused is the number of verifications refused because
	// Redis did not answer (FailClosed).
	FailClosedRefused int64
	// Granted is the number of units Redis granted to this instance.
	Granted int64
	// Returned is the number of units this instance gave back.
	Returned int64
	// Expired is the number of units this instance held, unspent, when
	// their window ended: its share of the under-admission.
	Expired int64
}

type counters struct {
	takes, roundTrips, errors, failOpen, failClosed, granted, returned, expired atomic.Int64
}

// Stats returns the limiter's counts.
func (l *Limiter) Stats() Stats {
	c := &l.stats
	return Stats{
		Takes: c.takes.Load(), RoundTrips: c.roundTrips.Load(), Errors: c.errors.Load(),
		FailOpenAdmitted: c.failOpen.Load(), FailClosedRefused: c.failClosed.Load(),
		Granted: c.granted.Load(), Returned: c.returned.Load(), Expired: c.expired.Load(),
	}
}

// mono returns the time since the limiter started, on the monotonic
// clock: for leases' ages and the backoff, which must not follow the
// wall clock, nor the time Take is given.
func (l *Limiter) mono() int64 { return int64(time.Since(l.start)) }

// available reports whether Redis may be called at t.
func (l *Limiter) available(t int64) bool { return t >= l.downUntil.Load() }

// failed records a failed call to Redis: no call is made for the backoff,
// and the outage is logged, at most once every failureLogEvery.
func (l *Limiter) failed(err error) {
	t := l.markDown()
	last := l.lastLog.Load()
	if last != 0 && t-(last-1) < int64(failureLogEvery) || !l.lastLog.CompareAndSwap(last, t+1) {
		return
	}
	s := l.Stats()
	what := "admitting verifications that need it (fail-open)"
	if l.mode == FailClosed {
		what = "refusing verifications that need it (fail-closed)"
	}
	l.logger.Warn("rate limiter: Redis does not answer; "+what,
		"addr", l.addr, "err", l.scrub(err.Error()), "retry_after", l.backoff,
		"errors", s.Errors, "fail_open_admitted", s.FailOpenAdmitted, "fail_closed_refused", s.FailClosedRefused)
}

// markDown counts a failed call and starts the backoff. It returns the
// time of the failure.
func (l *Limiter) markDown() int64 {
	t := l.mono()
	l.stats.errors.Add(1)
	l.downUntil.Store(t + int64(l.backoff))
	l.down.Store(true)
	return t
}

// succeeded records a call to Redis that worked, ending an outage.
func (l *Limiter) succeeded() {
	if l.down.Load() && l.down.CompareAndSwap(true, false) {
		s := l.Stats()
		l.logger.Info("rate limiter: Redis answers again", "addr", l.addr,
			"errors", s.Errors, "fail_open_admitted", s.FailOpenAdmitted, "fail_closed_refused", s.FailClosedRefused)
	}
}

// scrub removes the URL's password from msg.
func (l *Limiter) scrub(msg string) string { return scrub(msg, l.password) }

// scrub removes password from msg, as written and as escaped.
func scrub(msg, password string) string {
	if password == "" {
		return msg
	}
	for _, form := range []string{url.QueryEscape(password), url.PathEscape(password), password} {
		msg = strings.ReplaceAll(msg, form, "xxxxx")
	}
	return msg
}

// call runs f with a context bounded by the limiter's timeout, detached
// from ctx's cancellation: a call that several verifications wait for
// must not fail because the first of them gave up.
func (l *Limiter) call(ctx context.Context, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
	defer cancel()
	l.stats.roundTrips.Add(1)
	if err := f(ctx); err != nil {
		l.failed(err)
		return err
	}
	l.succeeded()
	return nil
}

// passwords holds the password of every limiter's URL, so that go-redis's
// own log lines, routed by LogLibraryTo, are scrubbed of them too.
var passwords sync.Map // string -> bool

// LogLibraryTo sends go-redis's own log lines to logger at debug level,
// scrubbed of the passwords of every limiter's URL. go-redis writes them
// to stderr by default, in a format of its own, one per failed dial; the
// limiter logs what matters of an outage itself, at most once every few
// seconds. It sets go-redis's logger for the whole process.
func LogLibraryTo(logger *slog.Logger) {
	goredis.SetLogger(libraryLog{logger})
}

type libraryLog struct{ logger *slog.Logger }

func (g libraryLog) Printf(ctx context.Context, format string, v ...any) {
	if !g.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	msg := fmt.Sprintf(format, v...)
	passwords.Range(func(p, _ any) bool {
		msg = scrub(msg, p.(string))
		return true
	})
	g.logger.DebugContext(ctx, "go-redis: "+strings.TrimPrefix(msg, "redis: "))
}

package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward"
)

var _ keyward.InvalidationFeed = (*DB)(nil)

// NotifyChannel is the channel on which every change to a key (UpdateKey:
// an update, a disable or enable, a rotation, a delete, a restore) is
// announced, in the changing transaction, once for each secret hash the
// key had before the change or has after it (Key.Hashes), with the
// lower-case hex of the hash as the payload: the
// notification is delivered when the change commits, and never for one
// that does not. Notifications are per database, not per schema: a watcher
// hears the changes of every store in the database.
const NotifyChannel = "keyward_keys"

// CommittedChannel carries, in the same transaction and right before a
// change's notifications on NotifyChannel, the database server's time
// (Unix microseconds) and how many hashes follow, as "<time> <count>", so
// that a watcher measures how long a change took to reach it (see
// keyward.InvalidationLagObserver). A channel of its own, rather than a
// longer payload on NotifyChannel: a watcher of an earlier version, which
// listens to NotifyChannel only, hears exactly what it always heard, so
// that versions mix during a rolling deploy.
const CommittedChannel = "keyward_keys_committed"

// heartbeatPrefix starts the name of the channel on which a watcher's
// session sends its heartbeats to itself; a random suffix per session
// keeps other watchers from hearing them.
const heartbeatPrefix = "keyward_heartbeat_"

// ListenerSuffix is added to the store's application_name to name the
// watcher's session, so that pg_stat_activity tells it from the pool's.
const ListenerSuffix = "-listener"

// The watcher's pauses before it reconnects: from minBackoff, doubling up
// to maxBackoff, each with jitter. A connection that stayed up for
// maxBackoff starts the count again.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// Bounds on the watcher's waits. A heartbeat that has not come back within
// the reply timeout (twice the interval at which the cache must be
// confirmed, and at least minReplyTimeout) means the connection is lost,
// whether or not it was closed; connecting and LISTEN must be done within
// connectTimeout.
const (
	minReplyTimeout = 2 * time.Second
	connectTimeout  = 5 * time.Second
)

// defaultInterval is how often Watch confirms when it is not told: a
// quarter of a one-second staleness bound.
const defaultInterval = 250 * time.Millisecond

// A WatchOption configures Watch.
type WatchOption func(*watchConfig)

type watchConfig struct {
	logger *slog.Logger
	// The bounds above; tests shorten them.
	replyTimeout, connectTimeout time.Duration
}

// WatchLogger has Watch log to l when it loses its connection (with the
// error), when it listens again, and when it ignores a malformed
// notification. It logs no hash and no payload. Without it Watch logs
// nothing.
func WatchLogger(l *slog.Logger) WatchOption {
	return func(c *watchConfig) { c.logger = l }
}

// WatchInvalidations is Watch with the logger given to Open (WithLogger).
func (db *DB) WatchInvalidations(ctx context.Context, w keyward.InvalidationWatcher, interval time.Duration) error {
	return db.Watch(ctx, w, interval, WatchLogger(db.logger))
}

// Watch passes on the changes of keys, committed by any process, that
// alter a verify answer, so that a cache of keys can forget them: it calls
// w.Invalidate with each secret hash of each key changed (see
// NotifyChannel), once the change is committed. It runs until ctx is done or the DB is closed,
// and then returns nil; it returns an error only if w is nil.
//
// It proves that it hears every change with a heartbeat: every interval it
// sends a notification to itself, on a channel of its session's own, and
// when that comes back it calls w.Confirm with the time it was sent.
// Notifications reach a listening session in the order their transactions
// committed, so by then every change committed before the heartbeat was
// sent has been passed on. A connection that drops, cannot be made (within
// 5s), or goes silent (no heartbeat back within twice the interval, and at
// least 2s) stops the confirmations, so that the cache stops trusting what
// it holds within its staleness bound; Watch then waits (50ms at first,
// doubling up to 2s, with jitter), reconnects, and once it listens again
// calls w.Reset, for whatever changed in between, before it confirms
// anything. It resets w after its first LISTEN too, as what was cached
// before then may have changed unheard.
//
// Watch has a connection of its own, outside the pool, with the pool's
// settings and the application_name ListenerSuffix marks; it needs a
// session of its own, so a pooler in front of the server must pool
// sessions, not transactions. The watcher's calls run on Watch's
// goroutine, one at a time, and should return quickly: notifications wait
// while they run. A payload that is not the hex of a hash is ignored.
//
// If w is a keyward.InvalidationLagObserver, it hears the lag of each hash
// announced after a notification on CommittedChannel (by this version's
// writers): from the database server's clock at the change, just before
// its commit, to the return of w.Invalidate on this instance's clock.
func (db *DB) Watch(ctx context.Context, w keyward.InvalidationWatcher, interval time.Duration, opts ...WatchOption) error {
	if w == nil {
		return errors.New("watch invalidations: no watcher")
	}
	if interval <= 0 {
		interval = defaultInterval
	}
	cfg := watchConfig{
		replyTimeout:   max(2*interval, minReplyTimeout),
		connectTimeout: connectTimeout,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	log := cfg.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	// Close stops every Watch and waits for it. Taking a place among the
	// watchers under the lock that Close takes to stop them makes sure
	// that none is added once Close is waiting.
	db.mu.Lock()
	if db.closing.Err() != nil {
		db.mu.Unlock()
		return nil
	}
	db.listeners.Add(1)
	db.mu.Unlock()
	defer db.listeners.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(db.closing, cancel)()

	lags, _ := w.(keyward.InvalidationLagObserver)
	s := &watcher{
		config:      db.pool.Config().ConnConfig, // a copy
		w:           w,
		lags:        lags,
		interval:    interval,
		watchConfig: cfg,
		log:         log,
	}
	s.config.RuntimeParams["application_name"] += ListenerSuffix

	pause := minBackoff
	for sessions := 0; ; sessions++ {
		listened, err := s.session(ctx, sessions > 0)
		if ctx.Err() != nil {
			return nil
		}
		// No reset here: the confirmations have stopped, so the cache's
		// trust runs out by itself within its bound, and the next session
		// resets it once it listens again. Resetting now would only send
		// every verification to a database that may well be down too.
		if listened >= maxBackoff {
			pause = minBackoff
		}
		wait := jitter(pause)
		log.Warn("keyward: not listening for changed keys; reconnecting",
			"channel", NotifyChannel, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		pause = min(2*pause, maxBackoff)
	}
}

// watcher is one Watch's state.
type watcher struct {
	config   *pgx.ConnConfig
	w        keyward.InvalidationWatcher
	lags     keyward.InvalidationLagObserver // nil if w is not one
	interval time.Duration
	watchConfig
	log *slog.Logger

	// committed holds, by the server process that sent them, the time of
	// the change whose hashes come next and how many are still to come.
	// Each sender's notifications arrive in order, a transaction's
	// together; a sender is one session, of one writer's version.
	committed map[uint32]committedAt
}

// committedAt is a change's time, announced on CommittedChannel, and the
// number of its hashes not yet heard.
type committedAt struct {
	at   time.Time
	left int
}

// session connects, listens and passes notifications on until the
// connection fails, which it returns, or ctx is done. It reports how long
// it listened. again says that an earlier session failed, for the log.
func (s *watcher) session(ctx context.Context, again bool) (listened time.Duration, err error) {
	connectCtx, cancel := context.WithTimeout(ctx, s.connectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(connectCtx, s.config)
	if err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		// ctx may be done; closing tells the server goodbye all the same,
		// unless it does not answer.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(ctx)
	}()
	heartbeat := heartbeatPrefix + randomHex(8)
	listen := `LISTEN ` + pgx.Identifier{NotifyChannel}.Sanitize() + `; LISTEN ` + pgx.Identifier{heartbeat}.Sanitize()
	if s.lags != nil {
		listen += `; LISTEN ` + pgx.Identifier{CommittedChannel}.Sanitize()
	}
	s.committed = make(map[uint32]committedAt)
	if _, err := conn.Exec(connectCtx, listen,
		pgx.QueryExecModeSimpleProtocol, // several statements: one round trip
	); err != nil {
		return 0, fmt.Errorf("listen: %w", err)
	}
	cancel()
	start := time.Now()
	// From here on every change committed is heard: whatever was cached
	// before may have missed one, and no lookup begun before this point
	// may be kept (the cache's generations see to that).
	s.w.Reset()
	if again {
		s.log.Info("keyward: listening for changed keys again", "channel", NotifyChannel)
	}

	for beat := 1; ; beat++ {
		sent := time.Now()
		if err := s.beat(ctx, conn, heartbeat, strconv.Itoa(beat)); err != nil {
			if ctx.Err() != nil {
				return time.Since(start), nil
			}
			return time.Since(start), err
		}
		s.w.Confirm(sent)
		if err := s.passOn(ctx, conn, sent.Add(s.interval)); err != nil {
			if ctx.Err() != nil {
				return time.Since(start), nil
			}
			return time.Since(start), err
		}
	}
}

// passOn passes on the notifications that come until the deadline, when
// the next heartbeat is due.
func (s *watcher) passOn(ctx context.Context, conn *pgx.Conn, deadline time.Time) error {
	waitCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for {
		n, err := conn.WaitForNotification(waitCtx)
		switch {
		case err == nil:
			s.handle(n)
		case ctx.Err() == nil && waitCtx.Err() != nil && pgconn.Timeout(err):
			return nil // time for the next heartbeat; the connection stays usable
		default:
			return fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// beat sends heartbeat payload to the session itself and waits for it to
// come back, passing on every notification that comes before it, within
// the reply timeout.
func (s *watcher) beat(ctx context.Context, conn *pgx.Conn, channel, payload string) error {
	ctx, cancel := context.WithTimeout(ctx, s.replyTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, payload); err != nil {
		return fmt.Errorf("send heartbeat: %w", err)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for heartbeat: %w", err)
		}
		if n.Channel == channel && n.Payload == payload {
			return nil
		}
		s.handle(n)
	}
}

// handle passes one notification on; heartbeats are not changes.
func (s *watcher) handle(n *pgconn.Notification) {
	switch n.Channel {
	case NotifyChannel:
	case CommittedChannel:
		if c, ok := parseCommitted(n.Payload); ok {
			s.committed[n.PID] = c
		} else {
			delete(s.committed, n.PID)
		}
		return
	default:
		return // an earlier heartbeat, come late
	}
	h, ok := parseHash(n.Payload)
	if !ok {
		s.log.Warn("keyward: ignored a malformed notification of a changed key",
			"channel", n.Channel, "payload_bytes", len(n.Payload))
		return
	}
	s.w.Invalidate(h)
	if c, ok := s.committed[n.PID]; ok && s.lags != nil {
		s.lags.InvalidationLag(keyward.LagSince(c.at, time.Now()))
		if c.left--; c.left > 0 {
			s.committed[n.PID] = c
		} else {
			delete(s.committed, n.PID)
		}
	}
}

// parseCommitted decodes a payload of CommittedChannel: "<unix
// microseconds> <count>".
func parseCommitted(payload string) (committedAt, bool) {
	t, count, ok := strings.Cut(payload, " ")
	if !ok {
		return committedAt{}, false
	}
	us, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return committedAt{}, false
	}
	left, err := strconv.Atoi(count)
	if err != nil || left <= 0 {
		return committedAt{}, false
	}
	return committedAt{at: time.UnixMicro(us), left: left}, true
}

// parseHash decodes a notification's payload: the hex of a secret hash.
func parseHash(payload string) (keyward.SecretHash, bool) {
	var h keyward.SecretHash
	if len(payload) != hex.EncodedLen(len(h)) {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(payload)); err != nil {
		return keyward.SecretHash{}, false
	}
	return h, true
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

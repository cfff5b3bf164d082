package postgres

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward"
)

// NotifyChannel is the channel on which DeleteKey announces each delete,
// with the lower-case hex of the deleted key's secret hash as the payload,
// when the delete is committed. Notifications are per database, not per
// schema: a listener hears the deletes of every store in the database.
const NotifyChannel = "keyward_keys"

// ListenerSuffix is added to the store's application_name to name Listen's
// session, so that pg_stat_activity tells it from the pool's.
const ListenerSuffix = "-listener"

// The listener's pauses before it reconnects: from minBackoff, doubling up
// to maxBackoff, each with jitter. A connection that stayed up for
// maxBackoff starts the count again.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// A listener whose connection has been silent for checkInterval sends a
// ping, and reconnects if no answer comes within checkTimeout: a connection
// whose peer vanished without closing it would otherwise wait for a
// notification forever, and every delete would be missed. For the same
// reason connecting and LISTEN must be done within connectTimeout.
const (
	checkInterval  = 15 * time.Second
	checkTimeout   = 5 * time.Second
	connectTimeout = 10 * time.Second
)

// A ListenOption configures Listen.
type ListenOption func(*listenConfig)

type listenConfig struct {
	onListening func()
	logger      *slog.Logger
	// The durations above; tests shorten them.
	checkInterval, checkTimeout, connectTimeout time.Duration
}

// OnListening has Listen call f each time its LISTEN succeeds, right after
// onReset: from then on, every delete committed is passed to onEvict. Tests
// use it to know when the listener is live.
func OnListening(f func()) ListenOption {
	return func(c *listenConfig) { c.onListening = f }
}

// ListenLogger has Listen log to l when it loses its connection (with the
// error), when it listens again, and when it ignores a malformed
// notification. It logs no hash and no payload. Without it Listen logs
// nothing.
func ListenLogger(l *slog.Logger) ListenOption {
	return func(c *listenConfig) { c.logger = l }
}

// Listen passes on the deletes of keys, so that a cache of keys can evict
// them: it calls onEvict with the secret hash of each key deleted, by any
// process, once the delete is committed. It runs until ctx is done or the
// DB is closed, and then returns nil; it returns an error only if onEvict
// is nil.
//
// Listen has a connection of its own, outside the pool, with the pool's
// settings and the application_name ListenerSuffix marks; it needs a
// session of its own, so a pooler in front of the server must pool
// sessions, not transactions. When that connection fails, cannot be made
// (within 10s), or stops answering (a connection silent for 15s is pinged,
// and must answer within 5s), deletes may be missed until it is back:
// Listen then calls onReset, so that the caller forgets every key it
// holds, waits (50ms at first, doubling up to 2s, with jitter),
// reconnects, and calls onReset again once it listens again, for whatever
// was deleted in between. It calls onReset after its first LISTEN too, as
// keys cached before then may have been deleted unheard.
//
// The callbacks run on Listen's goroutine, one at a time, and should
// return quickly: notifications wait while they run. A payload that is not
// the hex of a hash is ignored.
func (db *DB) Listen(ctx context.Context, onEvict func(keyward.SecretHash), onReset func(), opts ...ListenOption) error {
	if onEvict == nil {
		return errors.New("listen: onEvict is nil")
	}
	cfg := listenConfig{
		onListening:    func() {},
		checkInterval:  checkInterval,
		checkTimeout:   checkTimeout,
		connectTimeout: connectTimeout,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	if onReset == nil {
		onReset = func() {}
	}
	if cfg.onListening == nil {
		cfg.onListening = func() {}
	}
	log := cfg.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	// Close stops every Listen and waits for it. Taking a place among the
	// listeners under the lock that Close takes to stop them makes sure
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

	l := &listener{
		config:       db.pool.Config().ConnConfig, // a copy
		onEvict:      onEvict,
		onReset:      onReset,
		listenConfig: cfg,
		log:          log,
	}
	l.config.RuntimeParams["application_name"] += ListenerSuffix

	pause := minBackoff
	for sessions := 0; ; sessions++ {
		listened, err := l.session(ctx, sessions > 0)
		if ctx.Err() != nil {
			return nil
		}
		onReset()
		if listened >= maxBackoff {
			pause = minBackoff
		}
		wait := jitter(pause)
		log.Warn("keyward: not listening for deleted keys; reconnecting",
			"channel", NotifyChannel, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		pause = min(2*pause, maxBackoff)
	}
}

// listener is one Listen's state.
type listener struct {
	config  *pgx.ConnConfig
	onEvict func(keyward.SecretHash)
	onReset func()
	listenConfig
	log *slog.Logger
}

// session connects, listens and passes notifications on until the
// connection fails, which it returns, or ctx is done. It reports how long
// it listened. again says that an earlier session failed, for the log.
func (l *listener) session(ctx context.Context, again bool) (listened time.Duration, err error) {
	connectCtx, cancel := context.WithTimeout(ctx, l.connectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(connectCtx, l.config)
	if err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		// ctx may be done; closing tells the server goodbye all the same.
		ctx, cancel := context.WithTimeout(context.Background(), l.checkTimeout)
		defer cancel()
		conn.Close(ctx)
	}()
	if _, err := conn.Exec(connectCtx, `LISTEN `+pgx.Identifier{NotifyChannel}.Sanitize()); err != nil {
		return 0, fmt.Errorf("listen: %w", err)
	}
	cancel()
	start := time.Now()
	l.onReset()
	l.onListening()
	if again {
		l.log.Info("keyward: listening for deleted keys again", "channel", NotifyChannel)
	}

	for {
		waitCtx, cancel := context.WithTimeout(ctx, l.checkInterval)
		n, err := conn.WaitForNotification(waitCtx)
		silent := waitCtx.Err() != nil
		cancel()
		switch {
		case err == nil:
			l.handle(n)
		case ctx.Err() != nil:
			return time.Since(start), nil
		case silent && pgconn.Timeout(err):
			// No notification for a while: check that the server is
			// still there. A notification that arrives meanwhile is kept
			// for the next wait.
			pingCtx, cancel := context.WithTimeout(ctx, l.checkTimeout)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return time.Since(start), nil
				}
				return time.Since(start), fmt.Errorf("check connection: %w", err)
			}
		default:
			return time.Since(start), fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// handle passes one notification on.
func (l *listener) handle(n *pgconn.Notification) {
	if n.Channel != NotifyChannel {
		return
	}
	h, ok := parseHash(n.Payload)
	if !ok {
		l.log.Warn("keyward: ignored a malformed notification of a deleted key",
			"channel", n.Channel, "payload_bytes", len(n.Payload))
		return
	}
	l.onEvict(h)
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

var _ keyward.RevocationFeed = (*DB)(nil)

// WatchRevocations is Listen as the domain's RevocationFeed: deletes on any
// instance reach evict through NOTIFY, and reset is called whenever
// notifications may have been missed.
func (db *DB) WatchRevocations(ctx context.Context, evict func(keyward.SecretHash), reset func()) error {
	return db.Listen(ctx, evict, reset)
}

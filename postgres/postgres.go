// Package postgres stores Keyward's API keys in PostgreSQL, with
// jackc/pgx v5 and its pool, pgxpool. It implements keyward.KeyStore and
// passes the conformance suite in package storetest.
//
// Any number of keyward processes may share one database. The server does
// what SQLite's write lock does in package sqlite: a unique violation
// settles a race between two creates; UpdateKey reads a key with a row
// lock, so that concurrent updates of a key queue; TouchKeys locks its rows in id order, so that two batches
// cannot deadlock; BootstrapRootKey holds a table lock while it checks that
// the store is new, so that of several processes starting at once exactly
// one bootstraps it. Migrate holds a session advisory lock, so that several
// processes migrating one schema at once queue.
//
// The tables live in the first schema of the connection's search_path,
// which the URL may set (search_path=name, sent to the server as a
// run-time setting), so that several stores, or tests, can share one
// database. Goose's version table lives beside them.
//
// KeyByHash, the check on every request, is one statement of two index
// probes (the secret's hash, then a rotated key's previous one). pgx
// prepares each statement once per connection and caches it (its default
// query mode), so the lookup is one round trip. Behind a pooler that
// cannot hold prepared statements, such as PgBouncer in transaction mode,
// set default_query_exec_mode=exec (or simple_protocol) in the URL; Migrate
// and Watch need sessions of their own all the same (a session advisory
// lock, a LISTEN), so call them on a DB opened on the server itself.
//
// Every acknowledged write is durable: a connection whose server runs with
// synchronous_commit=off has it turned back on (see Open), as a lost delete
// would bring a revoked key back to life.
//
// A cache of keys in front of the store learns of the changes made by
// every process through PostgreSQL's LISTEN/NOTIFY: UpdateKey notifies
// NotifyChannel in the changing transaction, and Watch passes each
// changed key's hash on, with heartbeats that prove it hears them all (see
// feed.go).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward"
)

// Compile-time check that DB is a KeyStore.
var _ keyward.KeyStore = (*DB)(nil)

// DB is a Keyward store in a PostgreSQL database. Open it, call Migrate,
// then use it as a keyward.KeyStore from any number of goroutines; several
// processes may share the database.
type DB struct {
	pool   *pgxpool.Pool
	logger *slog.Logger // for WatchInvalidations; may be nil

	// closing is done once Close is called; it stops every Watch.
	// Watch joins listeners, and Close cancels closing, under mu.
	mu        sync.Mutex
	closing   context.Context
	close     context.CancelFunc
	listeners sync.WaitGroup

	spends spender // the batches of SpendCredits (limits.go)
}

// DefaultApplicationName is the application_name of the store's sessions
// when the URL sets none, as pg_stat_activity shows it. Watch's session
// has the same name with ListenerSuffix added.
const DefaultApplicationName = "keyward"

// openTimeout bounds how long Open waits for a server that does not answer
// yet, such as one starting beside keyward.
const openTimeout = 10 * time.Second

// Open connects to the PostgreSQL server at url, a postgres:// URL (or a
// libpq key=value string), and checks that it answers, waiting up to ten
// seconds, or until ctx is done, for one that is unreachable or still
// starting. It does not touch the schema; call Migrate for that.
//
// The pool's settings come from the URL, as pgxpool reads them
// (pool_max_conns, pool_max_conn_lifetime, ...); any other parameter that
// is not a connection setting, such as search_path or statement_timeout, is
// sent to the server as a run-time setting of every session.
func Open(ctx context.Context, url string, opts ...OpenOption) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message masks the URL's password.
		return nil, fmt.Errorf("open database: %w", err)
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = DefaultApplicationName
	}
	cfg.AfterConnect = ensureDurableCommits

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := ping(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	db := &DB{pool: pool}
	for _, opt := range opts {
		opt(db)
	}
	db.closing, db.close = context.WithCancel(context.Background())
	db.startSpender()
	return db, nil
}

// An OpenOption configures Open.
type OpenOption func(*DB)

// WithLogger has the store log what its invalidation feed does (see
// WatchLogger).
func WithLogger(l *slog.Logger) OpenOption {
	return func(db *DB) { db.logger = l }
}

// ensureDurableCommits turns synchronous_commit back on for a new
// connection whose server (or URL) turned it off: with it off, a commit is
// acknowledged before it is on disk. Any other value (on, local,
// remote_write, remote_apply) waits for the local flush and is kept.
func ensureDurableCommits(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx,
		`SELECT set_config('synchronous_commit', 'on', false) WHERE current_setting('synchronous_commit') = 'off'`,
		pgx.QueryExecModeSimpleProtocol, // one round trip, nothing cached
	)
	return err
}

// ping checks that pool answers. While the server is unreachable, or
// refuses connections for now (starting up, too many clients), it tries
// again with a growing pause, until openTimeout or ctx ends; any other
// failure (a bad password, a missing database) is returned at once.
func ping(ctx context.Context, pool *pgxpool.Pool) error {
	deadline := time.Now().Add(openTimeout)
	pause := 50 * time.Millisecond
	var last error // the last failure not caused by ctx
	for {
		err := mapError(ctx, pool.Ping(ctx))
		if err == nil {
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			if last == nil {
				return err
			}
			return fmt.Errorf("%w; last attempt: %w", ctxErr, last)
		}
		last = err
		if keyward.ErrorCode(err) != keyward.EUNAVAILABLE || time.Now().Add(pause).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last attempt: %w", ctx.Err(), last)
		case <-time.After(jitter(pause)):
		}
		pause = min(2*pause, time.Second)
	}
}

// jitter returns a random duration between d/2 and d, so that processes
// that lost the server at the same moment do not return in step.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// Pool returns the connection pool, for callers that need the server for
// something the store does not do. Its connections run in the store's
// schema; writing to the store's tables through it bypasses the store.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Close stops every Watch, waits for them to return, and closes the pool,
// waiting for the connections in use to be released. It always returns nil.
func (db *DB) Close() error {
	db.mu.Lock()
	db.close()
	db.mu.Unlock()
	db.listeners.Wait()
	<-db.spends.finished
	db.pool.Close()
	return nil
}

// Ping reports whether the database answers, with a round trip to the
// server on a connection of the pool.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("ping database: %w", withContext(ctxErr, err))
		}
		return &keyward.Error{Code: keyward.EUNAVAILABLE, Message: "database unavailable", Err: fmt.Errorf("ping database: %w", err)}
	}
	return nil
}

// errKeyNotFound is what every lookup of a missing or deleted key returns.
func errKeyNotFound() error { return keyward.Errorf(keyward.ENOTFOUND, "API key not found") }

// mapError turns the driver's answers into the domain's error codes where
// one applies: no row is ENOTFOUND, a taken id or hash is ECONFLICT, a
// server that cannot be reached, or drops or refuses the connection, is
// EUNAVAILABLE, as is a conflict with another transaction that trying again
// resolves. A call cut short by its context returns an error wrapping the
// context's error, never an answer about the keys. Anything else is
// returned as it is, for the caller to wrap. The server's messages name the
// constraint, never the value (pgx leaves the DETAIL out of a PgError's
// Error), so no hash reaches a message.
func mapError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		// Whatever the driver made of it (no rows, a closed connection),
		// the call was cut short: that is no answer about the key.
		return withContext(ctxErr, err)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return errKeyNotFound()
	}
	if e, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch {
		case e.Code == "23505" && e.ConstraintName == "audit_events_pkey": // unique_violation
			return &keyward.Error{Code: keyward.ECONFLICT, Message: "an audit event with this id already exists", Err: err}
		case e.Code == "23505":
			return &keyward.Error{Code: keyward.ECONFLICT, Message: "an API key with this id or secret already exists", Err: err}
		case unavailableCode(e.Code):
			return errUnavailable(err)
		case busyCode(e.Code):
			return &keyward.Error{Code: keyward.EUNAVAILABLE, Message: "database busy, try again", Err: err}
		}
		return err
	}
	if connectionLost(err) {
		return errUnavailable(err)
	}
	return err
}

// errUnavailable is EUNAVAILABLE for a server that cannot be reached.
func errUnavailable(err error) error {
	return &keyward.Error{Code: keyward.EUNAVAILABLE, Message: "database unavailable", Err: err}
}

// withContext returns err, wrapping ctxErr too if it does not already.
func withContext(ctxErr, err error) error {
	if errors.Is(err, ctxErr) {
		return err
	}
	return fmt.Errorf("%w: %w", ctxErr, err)
}

// unavailableCode reports whether a SQLSTATE says that the server cannot
// serve the session: it is shutting down, starting, out of connections or
// other resources, or read-only (a standby, as after a failover).
func unavailableCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"): // connection_exception
		return true
	case strings.HasPrefix(code, "53"): // insufficient_resources: too_many_connections, disk_full, ...
		return true
	}
	switch code {
	case "57P01", // admin_shutdown, as pg_terminate_backend
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now
		"57P04", // database_dropped
		"57P05", // idle_session_timeout
		"25006": // read_only_sql_transaction
		return true
	}
	return false
}

// busyCode reports whether a SQLSTATE says that the statement lost to
// another transaction or ran out of time, so that it may succeed if tried
// again.
func busyCode(code string) bool {
	switch code {
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"55P03", // lock_not_available (lock_timeout)
		"57014": // query_canceled (statement_timeout; a ctx's end is handled before)
		return true
	}
	return false
}

// connectionLost reports whether err, which is not the server's answer,
// says that the connection could not be made or broke.
func connectionLost(err error) bool {
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	return errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		pgconn.Timeout(err)
}

// PoolStats reports the connection pool: a wait is an acquire that found
// no idle connection.
func (db *DB) PoolStats() []keyward.PoolStats {
	s := db.pool.Stat()
	return []keyward.PoolStats{{Name: "pool", InUse: int(s.AcquiredConns()), Idle: int(s.IdleConns()),
		Max: int(s.MaxConns()), WaitCount: s.EmptyAcquireCount(), WaitDuration: s.EmptyAcquireWaitTime()}}
}

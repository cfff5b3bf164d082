// Package sqlite stores Keyward's API keys in one SQLite database file, with
// the pure-Go driver modernc.org/sqlite (no cgo). It implements
// keyward.KeyStore and passes the conformance suite in package storetest.
//
// A DB holds two connection pools on the file. The writer is exactly one
// connection whose transactions begin IMMEDIATE: writers queue on SQLite's
// write lock from their first statement, instead of failing with SQLITE_BUSY
// when a read transaction tries to upgrade to a write. The readers are
// several query_only connections that, in WAL mode, read concurrently with
// the writer and with each other; KeyByHash, the check on every request,
// runs there.
//
// Every connection runs with synchronous=FULL, so a write is acknowledged
// only once it is on disk: a lost delete would bring a revoked key back to
// life.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Compile-time check that DB is a KeyStore.
var _ keyward.KeyStore = (*DB)(nil)

// DB is a Keyward store on a SQLite database file. Open it, call Migrate,
// then use it as a keyward.KeyStore from any number of goroutines; several
// processes may share the file.
type DB struct {
	write *sql.DB // one connection; transactions begin IMMEDIATE
	read  *sql.DB // query_only connections

	// byHash is KeyByHash's statement, prepared on the reader pool at its
	// first use (the table exists only once Migrate has run).
	mu     sync.Mutex // serializes preparing byHash
	byHash atomic.Pointer[sql.Stmt]
	// writeStmts holds the writer's prepared statements by query
	// (prepareWrites), prepared under mu.
	writeStmts sync.Map
	// readStmts holds the readers' prepared statements of listings by
	// query (query), prepared under mu: a listing's text is one of a few
	// dozen, and parsing it cost a sixth of a page of 100 keys.
	readStmts sync.Map

	commit *committer // group commit of CreateKey (commit.go)

	logger *slog.Logger // what the invalidation feed reports; never nil

	// closing is done once Close is called; it stops every watch.
	closing     context.Context
	stopClosing context.CancelFunc
}

// An OpenOption configures Open.
type OpenOption func(*DB)

// WithLogger has the store log what its invalidation feed does: when it
// cannot read the log (and so confirms nothing), and when it can again.
// It logs no hash. Without it the store logs nothing.
func WithLogger(l *slog.Logger) OpenOption {
	return func(db *DB) {
		if l != nil {
			db.logger = l
		}
	}
}

// pragmas run on every connection of both pools, in this order:
// busy_timeout first so that the others wait for a lock rather than fail.
var pragmas = []string{
	"busy_timeout(10000)",
	"journal_mode(WAL)",
	// FULL syncs the WAL on every commit: an acknowledged write survives a
	// power loss, not only a crash of the process.
	"synchronous(FULL)",
	"foreign_keys(1)",
}

// Open opens the database file at path, creating it with mode 0600 (it
// holds key hashes) if it does not exist, and checks that both pools
// answer. It does not touch the schema; call Migrate for that.
func Open(ctx context.Context, path string, opts ...OpenOption) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		// Two pools on an in-memory database would be two databases.
		return nil, fmt.Errorf("open database: %q is not a file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// SQLite would create the file with the process umask's default mode
	// (often 0644); create it first so that only its owner can read it.
	// SQLite gives the -wal and -shm files the mode of the database file.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}

	db := &DB{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(db)
	}
	db.closing, db.stopClosing = context.WithCancel(context.Background())
	// The writer is opened and pinged first, so that it is the connection
	// that switches a new file to WAL.
	// Its page cache is larger than the readers' (8 MiB, against SQLite's
	// 2 MiB default): batched last_used_at writes touch pages all over the
	// table, and one connection's cache costs memory once. Not more: the
	// driver's allocator gives each page about twice its size, outside
	// the Go heap and its memory limit (32 MiB here cost 70 MB of RSS).
	db.write, err = sql.Open("sqlite", dsn(abs, url.Values{"_txlock": {"immediate"}, "_pragma": {"cache_size(-8192)"}}))
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxLifetime(0)
	db.write.SetConnMaxIdleTime(0)
	if err := ping(ctx, db.write); err != nil {
		db.write.Close()
		return nil, fmt.Errorf("open database: writer: %w", err)
	}

	// Each reader keeps SQLite's default 2 MiB of pages: enough for the
	// interior pages of the hash index and of the table on a million keys
	// (1.4 MiB), so a verification that misses Keyward's cache reads
	// about two pages from the file. More (8 MiB was tried) saves a few
	// microseconds of system calls per lookup and costs each reader twice
	// its size in RSS, outside the Go heap (see the writer's).
	readers := max(4, runtime.GOMAXPROCS(0))
	db.read, err = sql.Open("sqlite", dsn(abs, url.Values{"_pragma": {"query_only(1)", "cache_size(-2048)"}}))
	if err != nil {
		db.write.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	// As many idle connections as open ones, so that connections (and
	// their prepared statements) are kept rather than reopened under load.
	db.read.SetMaxOpenConns(readers)
	db.read.SetMaxIdleConns(readers)
	db.read.SetConnMaxLifetime(0)
	db.read.SetConnMaxIdleTime(0)
	if err := ping(ctx, db.read); err != nil {
		db.read.Close()
		db.write.Close()
		return nil, fmt.Errorf("open database: reader: %w", err)
	}
	db.startCommitter()
	return db, nil
}

// openTimeout bounds how long Open waits for another process that holds
// the file locked, as busy_timeout bounds every later wait.
const openTimeout = 10 * time.Second

// ping opens a first connection of pool, which runs the pragmas. Switching
// a new file to WAL needs an exclusive lock and, when several processes
// open one new file at once, can fail with SQLITE_BUSY without waiting for
// busy_timeout; ping then tries again, until openTimeout.
func ping(ctx context.Context, pool *sql.DB) error {
	deadline := time.Now().Add(openTimeout)
	for {
		err := pool.PingContext(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED: a
// lock held by another connection.
func isBusy(err error) bool {
	e, ok := errors.AsType[*sqlite.Error](err)
	return ok && (e.Code()&0xff == sqlite3.SQLITE_BUSY || e.Code()&0xff == sqlite3.SQLITE_LOCKED)
}

// dsn returns the modernc.org/sqlite data source name for the file at the
// absolute path abs: a file: URI, so that any character may appear in the
// path, carrying the common pragmas and then extra's parameters.
func dsn(abs string, extra url.Values) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	for k, vs := range extra {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	// Refuse "double-quoted strings" as string literals, so that a
	// misspelt column name is an error rather than a constant.
	q.Set("_dqs", "0")
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:/C:/dir/keyward.db
	}
	return "file:" + (&url.URL{Path: p}).EscapedPath() + "?" + q.Encode()
}

// Close closes both pools. Whatever is in flight fails.
func (db *DB) Close() error {
	db.stopClosing()
	db.stopCommitter()
	var errs []error
	db.mu.Lock()
	if stmt := db.byHash.Swap(nil); stmt != nil {
		errs = append(errs, stmt.Close())
	}
	for _, m := range []*sync.Map{&db.writeStmts, &db.readStmts} {
		m.Range(func(q, stmt any) bool {
			errs = append(errs, stmt.(*sql.Stmt).Close())
			m.Delete(q)
			return true
		})
	}
	db.mu.Unlock()
	// The writer is closed last: the last connection to close checkpoints
	// the WAL into the database file.
	errs = append(errs, db.read.Close(), db.write.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// Ping reports whether the database answers, with a query that reads the
// file rather than only checking out a connection.
func (db *DB) Ping(ctx context.Context) error {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("ping database: %w", err)
		}
		return &keyward.Error{Code: keyward.EUNAVAILABLE, Message: "database unavailable", Err: fmt.Errorf("ping database: %w", err)}
	}
	return nil
}

// errKeyNotFound is what every lookup of a missing or deleted key returns.
func errKeyNotFound() error { return keyward.Errorf(keyward.ENOTFOUND, "API key not found") }

// mapError turns the driver's answers into the domain's error codes where
// one applies: no row is ENOTFOUND, a taken id or hash is ECONFLICT, a lock
// held past the busy timeout is EUNAVAILABLE. A call cut short by its
// context returns an error wrapping the context's error (whatever the
// driver made of it: no rows, an interrupted statement), never an answer
// about the keys. Anything else is returned as it is, for the caller to
// wrap. The SQLite messages name the column, never the value, so no hash
// reaches a message.
func mapError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(err, ctxErr) {
			return err
		}
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return errKeyNotFound()
	}
	if e, ok := errors.AsType[*sqlite.Error](err); ok {
		switch code := e.Code(); {
		// The primary key and each hash column's UNIQUE index (secret_hash,
		// prev_secret_hash), each on its own: a previous secret's hash is
		// not checked against other keys' current ones (see
		// KeyStore.UpdateKey).
		case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &keyward.Error{Code: keyward.ECONFLICT, Message: "an API key with this id or secret already exists", Err: err}
		case isBusy(err):
			return &keyward.Error{Code: keyward.EUNAVAILABLE, Message: "database busy, try again", Err: err}
		}
	}
	return err
}

// query runs a read-only query through a statement prepared once on the
// reader pool (each reader connection prepares it at its first use) and
// kept, rather than parsed at each call.
func (db *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	stmt, ok := db.readStmts.Load(q)
	if !ok {
		db.mu.Lock()
		if stmt, ok = db.readStmts.Load(q); !ok {
			s, err := db.read.PrepareContext(ctx, q)
			if err != nil {
				db.mu.Unlock()
				return nil, err
			}
			db.readStmts.Store(q, s)
			stmt = s
		}
		db.mu.Unlock()
	}
	return stmt.(*sql.Stmt).QueryContext(ctx, args...)
}

// PoolStats reports the writer's connection and the readers' pool.
func (db *DB) PoolStats() []keyward.PoolStats {
	stats := func(name string, d *sql.DB) keyward.PoolStats {
		s := d.Stats()
		return keyward.PoolStats{Name: name, InUse: s.InUse, Idle: s.Idle, Max: s.MaxOpenConnections,
			WaitCount: s.WaitCount, WaitDuration: s.WaitDuration}
	}
	return []keyward.PoolStats{stats("write", db.write), stats("read", db.read)}
}

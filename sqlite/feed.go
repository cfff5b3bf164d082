package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

var _ keyward.InvalidationFeed = (*DB)(nil)

// MaxPollInterval is how often, at the least, WatchInvalidations reads the
// invalidation log.
const MaxPollInterval = 100 * time.Millisecond

// The invalidation log keeps each entry for logRetention (by the time the
// writing process stamped it with), far longer than any watcher that is
// still trusted can take to read it; every watcher prunes older entries
// every logPruneInterval. A watcher that falls further behind finds out
// (key_invalidations_pruned) and resets.
const (
	logRetention     = time.Minute
	logPruneInterval = time.Minute
)

// queryInvalidations reads the log past a position: each entry and, if
// entries past the position were pruned unread, first a row whose seq is
// minus the last pruned one. One statement, so one snapshot.
const queryInvalidations = `SELECT seq, secret_hash, changed_at FROM key_invalidations WHERE seq > ?1
	UNION ALL
	SELECT -through, NULL, NULL FROM key_invalidations_pruned WHERE through > ?1
	ORDER BY 1`

// WatchInvalidations passes on the invalidations logged from now on, by
// this process or any other on the same file, by reading the invalidation
// log every interval (at most MaxPollInterval): one indexed read of the
// entries past the last one seen. Each read that succeeds confirms, as of
// its start, that every entry committed before has been passed on; a read
// that fails confirms nothing (so that a cache's trust runs out), and the
// next one takes up where the last good one stopped. If w is a
// keyward.InvalidationLagObserver, it hears each entry's lag: from the
// time the writing process stamped it with, in its transaction, to the
// return of w.Invalidate. It resets w once it
// has its starting point, and again if it finds that entries it had not
// read were pruned. If it cannot start (the file unreadable, not yet
// migrated), it tries again every interval. Beside the reads, once a
// minute, it prunes entries older than a minute, so that the log does not
// grow; a busy writer delays that, never the reads. It returns nil once
// ctx is done or the DB is closed.
func (db *DB) WatchInvalidations(ctx context.Context, w keyward.InvalidationWatcher, interval time.Duration) error {
	if interval <= 0 || interval > MaxPollInterval {
		interval = MaxPollInterval
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(db.closing, cancel)()

	var pruning sync.WaitGroup
	defer pruning.Wait()
	pruning.Go(func() { db.pruneLog(ctx) })

	var (
		stmt    *sql.Stmt // nil until the watch has its starting point
		last    int64
		failing bool
	)
	defer func() {
		if stmt != nil {
			stmt.Close()
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		start := time.Now()
		var err error
		if stmt == nil {
			if stmt, last, err = db.startWatch(ctx); err == nil {
				// Whatever was cached before this point may have changed
				// unseen; what changes from now on is past last.
				w.Reset()
			}
		} else {
			last, err = invalidatedAfter(ctx, stmt, last, w)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			failing = true
			db.logger.Warn("keyward: cannot read the invalidation log; the cache is not confirmed, and verifications read the database", "err", err)
		case err == nil:
			if failing {
				failing = false
				db.logger.Info("keyward: reading the invalidation log again")
			}
			w.Confirm(start)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// startWatch returns the statement that reads the log, and the position
// from which a new watch reads it: the last entry now.
func (db *DB) startWatch(ctx context.Context) (*sql.Stmt, int64, error) {
	var last int64
	if err := db.read.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM key_invalidations`).Scan(&last); err != nil {
		return nil, 0, fmt.Errorf("watch invalidations: %w", mapError(ctx, err))
	}
	// Prepared once: parsing the query on every read cost more CPU than
	// running it.
	stmt, err := db.read.PrepareContext(ctx, queryInvalidations)
	if err != nil {
		return nil, 0, fmt.Errorf("watch invalidations: %w", mapError(ctx, err))
	}
	return stmt, last, nil
}

// pruneLog prunes the invalidation log every logPruneInterval until ctx
// is done. A failure (the writer busy) is tried again next time.
func (db *DB) pruneLog(ctx context.Context) {
	tick := time.NewTicker(logPruneInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			pctx, cancel := context.WithTimeout(ctx, logPruneInterval/2)
			_, _ = db.pruneInvalidations(pctx, time.Now().Add(-logRetention))
			cancel()
		}
	}
}

// invalidatedAfter passes on each entry of the log after seq and returns
// the position it reached. If entries after seq were pruned unread, it
// resets w first.
func invalidatedAfter(ctx context.Context, stmt *sql.Stmt, seq int64, w keyward.InvalidationWatcher) (int64, error) {
	rows, err := stmt.QueryContext(ctx, seq)
	if err != nil {
		return seq, err
	}
	defer rows.Close()
	type entry struct {
		h  keyward.SecretHash
		at int64 // unix microseconds, by the writer's clock
	}
	var entries []entry
	gap := false
	last := seq
	for rows.Next() {
		var n int64
		var b []byte
		var at sql.NullInt64
		if err := rows.Scan(&n, &b, &at); err != nil {
			return seq, err
		}
		if n < 0 { // the pruning went past seq: this row comes first
			gap, last = true, -n
			continue
		}
		e := entry{at: at.Int64}
		copy(e.h[:], b)
		entries = append(entries, e)
		last = n
	}
	if err := rows.Err(); err != nil {
		return seq, err
	}
	if gap {
		// Entries this watcher never read are gone: forget everything.
		// Those still there are passed on all the same (it is cheap).
		w.Reset()
	}
	lags, _ := w.(keyward.InvalidationLagObserver)
	for _, e := range entries {
		w.Invalidate(e.h)
		if lags != nil {
			lags.InvalidationLag(keyward.LagSince(time.UnixMicro(e.at), time.Now()))
		}
	}
	return last, nil
}

// pruneInvalidations removes the log's entries up to the last one made
// before the given time, and records how far it pruned, so that a watcher
// that had not read them knows. It returns how many it removed.
func (db *DB) pruneInvalidations(ctx context.Context, before time.Time) (int64, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune invalidation log: %w", mapError(ctx, err))
	}
	defer tx.Rollback()
	var through sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(seq) FROM key_invalidations WHERE changed_at < ?`, before.UnixMicro()).Scan(&through); err != nil {
		return 0, fmt.Errorf("prune invalidation log: %w", mapError(ctx, err))
	}
	if !through.Valid {
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM key_invalidations WHERE seq <= ?`, through.Int64)
	if err != nil {
		return 0, fmt.Errorf("prune invalidation log: %w", mapError(ctx, err))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO key_invalidations_pruned (id, through) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET through = max(through, excluded.through)`, through.Int64); err != nil {
		return 0, fmt.Errorf("prune invalidation log: %w", mapError(ctx, err))
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("prune invalidation log: %w", mapError(ctx, err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}

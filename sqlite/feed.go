package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

var _ keyward.InvalidationFeed = (*DB)(nil)

// MaxPollInterval is how often, at the least, WatchInvalidations reads the
// invalidation log.
const MaxPollInterval = 100 * time.Millisecond

// The invalidation log keeps each entry for logRetention, far longer than
// any watcher that is still trusted can take to read it; every watcher
// prunes older entries every logPruneInterval. A watcher that falls
// further behind finds out (key_invalidations_pruned) and resets.
const (
	logRetention     = time.Minute
	logPruneInterval = time.Minute
)

// queryInvalidations reads the log past a position: each entry and, if
// entries past the position were pruned unread, first a row whose seq is
// minus the last pruned one. One statement, so one snapshot.
const queryInvalidations = `SELECT seq, secret_hash FROM key_invalidations WHERE seq > ?1
	UNION ALL
	SELECT -through, NULL FROM key_invalidations_pruned WHERE through > ?1
	ORDER BY 1`

// WatchInvalidations passes on the invalidations logged from now on, by
// this process or any other on the same file, by reading the invalidation
// log every interval (at most MaxPollInterval): one indexed read of the
// entries past the last one seen. Each read that succeeds confirms, as of
// its start, that every entry committed before has been passed on; a read
// that fails confirms nothing, and the next one takes up where the last
// good one stopped. It resets w as it starts, and again if it finds that
// entries it had not read were pruned: it prunes entries older than a
// minute itself, once a minute, so that the log does not grow.
func (db *DB) WatchInvalidations(ctx context.Context, w keyward.InvalidationWatcher, interval time.Duration) error {
	if interval <= 0 || interval > MaxPollInterval {
		interval = MaxPollInterval
	}
	start := time.Now()
	var last int64
	if err := db.read.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM key_invalidations`).Scan(&last); err != nil {
		return fmt.Errorf("watch invalidations: %w", mapError(ctx, err))
	}
	// Prepared once: parsing the query on every read cost more CPU than
	// running it.
	stmt, err := db.read.PrepareContext(ctx, queryInvalidations)
	if err != nil {
		return fmt.Errorf("watch invalidations: %w", mapError(ctx, err))
	}
	defer stmt.Close()
	// Whatever was cached before this point may have changed unseen; what
	// changed since start is past last, for the first read to pass on.
	w.Reset()
	w.Confirm(start)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	prune := time.NewTicker(logPruneInterval)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-prune.C:
			// A failure (the file busy) is tried again next time.
			_, _ = db.pruneInvalidations(ctx, time.Now().Add(-logRetention))
			continue
		case <-tick.C:
		}
		start := time.Now()
		next, err := invalidatedAfter(ctx, stmt, last, w)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			continue // unconfirmed: the cache's trust runs out if this goes on
		}
		last = next
		w.Confirm(start)
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
	var hashes []keyward.SecretHash
	gap := false
	last := seq
	for rows.Next() {
		var n int64
		var b []byte
		if err := rows.Scan(&n, &b); err != nil {
			return seq, err
		}
		if n < 0 { // the pruning went past seq: this row comes first
			gap, last = true, -n
			continue
		}
		var h keyward.SecretHash
		copy(h[:], b)
		hashes = append(hashes, h)
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
	for _, h := range hashes {
		w.Invalidate(h)
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

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

var _ keyward.RevocationFeed = (*DB)(nil)

// WatchInterval is how often WatchRevocations reads the revocation log:
// the longest a key revoked by another process stays in this one's cache.
const WatchInterval = 100 * time.Millisecond

// WatchRevocations reports the keys revoked from now on, by this process
// or any other on the same file, by polling the revocation log every
// WatchInterval: one indexed read of the rows past the last one seen. It
// calls reset once it has its starting point, and again if a read fails,
// as revocations may have gone unseen, and goes on polling.
func (db *DB) WatchRevocations(ctx context.Context, evict func(keyward.SecretHash), reset func()) error {
	var last int64
	if err := db.read.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM key_revocations`).Scan(&last); err != nil {
		return fmt.Errorf("watch revocations: %w", mapError(ctx, err))
	}
	// Whatever was cached before this point may have been revoked unseen.
	// Prepared once: parsing the query on every poll cost more CPU than
	// running it.
	stmt, err := db.read.PrepareContext(ctx, `SELECT seq, secret_hash FROM key_revocations WHERE seq > ? ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("watch revocations: %w", mapError(ctx, err))
	}
	defer stmt.Close()
	reset()
	tick := time.NewTicker(WatchInterval)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		next, err := revokedAfter(ctx, stmt, last, evict)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			if !failing {
				reset()
			}
			failing = true
		default:
			if failing {
				reset() // whatever happened while failing is now forgotten
			}
			failing = false
			last = next
		}
	}
}

// revokedAfter calls evict for each revocation after seq and returns the
// last seq seen.
func revokedAfter(ctx context.Context, stmt *sql.Stmt, seq int64, evict func(keyward.SecretHash)) (int64, error) {
	rows, err := stmt.QueryContext(ctx, seq)
	if err != nil {
		return seq, err
	}
	defer rows.Close()
	var hashes []keyward.SecretHash
	last := seq
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&last, &b); err != nil {
			return seq, err
		}
		var h keyward.SecretHash
		copy(h[:], b)
		hashes = append(hashes, h)
	}
	if err := rows.Err(); err != nil {
		return seq, err
	}
	for _, h := range hashes {
		evict(h)
	}
	return last, nil
}

package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/keyward/keyward"
)

// querySecretHashes reads every secret hash, current and previous, in one
// statement: one snapshot.
const querySecretHashes = `SELECT secret_hash FROM api_keys
	UNION ALL
	SELECT prev_secret_hash FROM api_keys WHERE prev_secret_hash IS NOT NULL`

// SecretHashes passes every secret hash of every key record, live or
// deleted, current or previous, to each, from one snapshot. The rows are
// streamed as the server sends them, not held all at once.
func (db *DB) SecretHashes(ctx context.Context, each func(keyward.SecretHash)) error {
	rows, err := db.pool.Query(ctx, querySecretHashes)
	if err != nil {
		return fmt.Errorf("read secret hashes: %w", mapError(ctx, err))
	}
	defer rows.Close()
	var b pgtype.DriverBytes // the connection's buffer, valid until Next: no copy per row
	for rows.Next() {
		if err := rows.Scan(&b); err != nil {
			return fmt.Errorf("read secret hashes: %w", mapError(ctx, err))
		}
		var h keyward.SecretHash
		if len(b) != len(h) {
			return fmt.Errorf("read secret hashes: a stored hash of %d bytes", len(b))
		}
		copy(h[:], b)
		each(h)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read secret hashes: %w", mapError(ctx, err))
	}
	return nil
}

// queryLiveKeys reads a page of live keys in id order, through the
// primary key: the last use is not read (NULL in its place).
const queryLiveKeys = `SELECT ` + cacheColumns + ` FROM api_keys
	WHERE id > $1 AND deleted_at IS NULL ORDER BY id LIMIT $2`

// liveKeysPlan pins queryLiveKeys' plan to a walk of the primary key,
// for the transaction: a table that grew faster than autovacuum looked at
// it (a bulk import) is planned as the small table it was, and a page
// then sorts every live row found through the live-keys index, 400 ms a
// page at 300,000 keys instead of 2. Sorts and bitmap scans are refused,
// which leaves the ordered index scan, whatever the statistics say.
const liveKeysPlan = `SELECT set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true)`

// LiveKeys returns at most limit live keys after id after, in id order,
// from one read-only transaction.
func (db *DB) LiveKeys(ctx context.Context, after keyward.KeyID, limit int) ([]*keyward.Key, error) {
	if limit < 1 {
		return nil, keyward.Errorf(keyward.EINVALID, "limit must be at least 1")
	}
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("read live keys: %w", mapError(ctx, err))
	}
	defer rollback(ctx, tx)
	if _, err := tx.Exec(ctx, liveKeysPlan); err != nil {
		return nil, fmt.Errorf("read live keys: %w", mapError(ctx, err))
	}
	rows, err := tx.Query(ctx, queryLiveKeys, int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("read live keys: %w", mapError(ctx, err))
	}
	defer rows.Close()
	keys := make([]*keyward.Key, 0, min(limit, 1000))
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("read live keys: %w", mapError(ctx, err))
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read live keys: %w", mapError(ctx, err))
	}
	rows.Close()
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("read live keys: %w", mapError(ctx, err))
	}
	return keys, nil
}

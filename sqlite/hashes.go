package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/keyward/keyward"
)

// querySecretHashes reads every secret hash, current and previous, each
// from its UNIQUE index alone (narrower than the table), in one statement:
// one read transaction, so one snapshot.
const querySecretHashes = `SELECT secret_hash FROM api_keys
	UNION ALL
	SELECT prev_secret_hash FROM api_keys WHERE prev_secret_hash IS NOT NULL`

// SecretHashes passes every secret hash of every key record, live or
// deleted, current or previous, to each, from one snapshot of the
// database on a reader connection. A million keys take about a second;
// the writer is not held meanwhile (WAL readers do not block it).
func (db *DB) SecretHashes(ctx context.Context, each func(keyward.SecretHash)) error {
	rows, err := db.read.QueryContext(ctx, querySecretHashes)
	if err != nil {
		return fmt.Errorf("read secret hashes: %w", mapError(ctx, err))
	}
	defer rows.Close()
	var b sql.RawBytes // the driver's buffer, valid until Next: no copy per row
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
// primary key (the rowid): the last use is not read (NULL in its place).
const queryLiveKeys = `SELECT ` + cacheColumns + ` FROM api_keys
	WHERE id > ? AND deleted_at IS NULL ORDER BY id LIMIT ?`

// LiveKeys returns at most limit live keys after id after, in id order,
// from one reader transaction.
func (db *DB) LiveKeys(ctx context.Context, after keyward.KeyID, limit int) ([]*keyward.Key, error) {
	if limit < 1 {
		return nil, keyward.Errorf(keyward.EINVALID, "limit must be at least 1")
	}
	rows, err := db.read.QueryContext(ctx, queryLiveKeys, int64(after), limit)
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
	return keys, nil
}

package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// CreateKeyIdempotent stores k, rec and ev (if not nil) in one
// transaction (through the group commit, as CreateKey), replacing an
// expired record with rec's id.
func (db *DB) CreateKeyIdempotent(ctx context.Context, k *keyward.Key, rec *keyward.IdempotencyRecord, ev *keyward.AuditEvent) error {
	if rec == nil {
		return fmt.Errorf("create key: no idempotency record")
	}
	return db.enqueueCreate(ctx, k, rec, ev)
}

// insertIdempotency stores rec, replacing a record with its id that
// expired by rec.CreatedAt; a live one makes it fail with a constraint
// violation.
// insertIdempotency's statements.
const (
	replaceExpiredIdempotencyQuery = `DELETE FROM key_idempotency WHERE id = ? AND expires_at <= ?`
	insertIdempotencyQuery         = `INSERT INTO key_idempotency (id, request, key_id, sealed, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`
)

func insertIdempotency(ctx context.Context, tx execer, rec *keyward.IdempotencyRecord) error {
	if _, err := tx.ExecContext(ctx, replaceExpiredIdempotencyQuery,
		rec.ID[:], rec.CreatedAt.UnixMicro()); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, insertIdempotencyQuery,
		rec.ID[:], rec.Request[:], int64(rec.KeyID), rec.Sealed, rec.CreatedAt.UnixMicro(), rec.ExpiresAt.UnixMicro())
	return err
}

// IdempotencyRecord returns the record with the given id, or ENOTFOUND.
func (db *DB) IdempotencyRecord(ctx context.Context, id [32]byte) (*keyward.IdempotencyRecord, error) {
	rec := &keyward.IdempotencyRecord{ID: id}
	var request []byte
	var keyID, created, expires int64
	err := db.read.QueryRowContext(ctx,
		`SELECT request, key_id, sealed, created_at, expires_at FROM key_idempotency WHERE id = ?`, id[:],
	).Scan(&request, &keyID, &rec.Sealed, &created, &expires)
	if err != nil {
		return nil, fmt.Errorf("find idempotency record: %w", mapError(ctx, err))
	}
	if len(request) != len(rec.Request) {
		return nil, fmt.Errorf("find idempotency record: stored request fingerprint has %d bytes", len(request))
	}
	copy(rec.Request[:], request)
	rec.KeyID = keyward.KeyID(keyID)
	rec.CreatedAt, rec.ExpiresAt = fromMicros(created), fromMicros(expires)
	return rec, nil
}

// PruneIdempotencyRecords removes at most limit records that expired
// before the given time, oldest first.
func (db *DB) PruneIdempotencyRecords(ctx context.Context, expiredBefore time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	res, err := db.write.ExecContext(ctx, `DELETE FROM key_idempotency WHERE id IN
		(SELECT id FROM key_idempotency WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`,
		expiredBefore.UnixMicro(), limit)
	if err != nil {
		return 0, fmt.Errorf("prune idempotency records: %w", mapError(ctx, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune idempotency records: %w", err)
	}
	return int(n), nil
}

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// CreateKeyIdempotent stores k, rec and ev (nil for none) in one
// transaction, replacing an expired record with rec's id.
func (db *DB) CreateKeyIdempotent(ctx context.Context, k *keyward.Key, rec *keyward.IdempotencyRecord, ev *keyward.AuditEvent) error {
	if rec == nil {
		return fmt.Errorf("create key: no idempotency record")
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("create key: %w", mapError(ctx, err))
	}
	defer rollback(ctx, tx)
	if _, err := tx.Exec(ctx, `DELETE FROM key_idempotency WHERE id = $1 AND expires_at <= $2`,
		rec.ID[:], micros(rec.CreatedAt)); err != nil {
		return fmt.Errorf("create key: %w", mapError(ctx, err))
	}
	if _, err := tx.Exec(ctx, `INSERT INTO key_idempotency (id, request, key_id, sealed, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		rec.ID[:], rec.Request[:], int64(rec.KeyID), rec.Sealed, micros(rec.CreatedAt), micros(rec.ExpiresAt)); err != nil {
		return fmt.Errorf("create key: %w", mapError(ctx, err))
	}
	if err := insertKey(ctx, tx, k); err != nil {
		return fmt.Errorf("create key: %w", mapError(ctx, err))
	}
	if ev != nil {
		if err := insertEvent(ctx, tx, ev); err != nil {
			return fmt.Errorf("create key: %w", mapError(ctx, err))
		}
	}
	if err := notifyCreated(ctx, tx, k); err != nil {
		return fmt.Errorf("create key: %w", mapError(ctx, err))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("create key: %w", mapError(ctx, err))
	}
	return nil
}

// IdempotencyRecord returns the record with the given id, or ENOTFOUND.
func (db *DB) IdempotencyRecord(ctx context.Context, id [32]byte) (*keyward.IdempotencyRecord, error) {
	rec := &keyward.IdempotencyRecord{ID: id}
	var request []byte
	var keyID int64
	err := db.pool.QueryRow(ctx,
		`SELECT request, key_id, sealed, created_at, expires_at FROM key_idempotency WHERE id = $1`, id[:],
	).Scan(&request, &keyID, &rec.Sealed, &rec.CreatedAt, &rec.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("find idempotency record: %w", mapError(ctx, err))
	}
	if len(request) != len(rec.Request) {
		return nil, fmt.Errorf("find idempotency record: stored request fingerprint has %d bytes", len(request))
	}
	copy(rec.Request[:], request)
	rec.KeyID = keyward.KeyID(keyID)
	rec.CreatedAt, rec.ExpiresAt = rec.CreatedAt.UTC(), rec.ExpiresAt.UTC()
	return rec, nil
}

// PruneIdempotencyRecords removes at most limit records that expired
// before the given time, oldest first.
func (db *DB) PruneIdempotencyRecords(ctx context.Context, expiredBefore time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM key_idempotency WHERE id IN
		(SELECT id FROM key_idempotency WHERE expires_at < $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		micros(expiredBefore), limit)
	if err != nil {
		return 0, fmt.Errorf("prune idempotency records: %w", mapError(ctx, err))
	}
	return int(tag.RowsAffected()), nil
}

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// RecordUsage writes a flush of recorded uses and verification counts in
// one transaction: the uses as TouchKeys does, then the counts, each added
// to its key's hour in key_verifications. Both statements lock their rows
// in key order (and hour order), the uses' first, so that flushes of
// several processes wait for each other instead of deadlocking.
func (db *DB) RecordUsage(ctx context.Context, uses []keyward.KeyUse, counts []keyward.UsageCount) error {
	if len(counts) == 0 {
		if err := touchKeys(ctx, db.pool, uses); err != nil {
			return fmt.Errorf("record usage: %w", mapError(ctx, err))
		}
		return nil
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("record usage: %w", mapError(ctx, err))
	}
	defer rollback(ctx, tx)
	if err := touchKeys(ctx, tx, uses); err != nil {
		return fmt.Errorf("record usage: %w", mapError(ctx, err))
	}
	if err := countVerifications(ctx, tx, counts); err != nil {
		return fmt.Errorf("record usage: %w", mapError(ctx, err))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("record usage: %w", mapError(ctx, err))
	}
	return nil
}

// countVerifications adds counts to key_verifications in one statement.
// ON CONFLICT may not touch a row twice in one statement, so the counts
// of one key and hour are added up first; the join with api_keys ignores
// ids that do not exist.
func countVerifications(ctx context.Context, q querier, counts []keyward.UsageCount) error {
	n := len(counts)
	ids, hours := make([]int64, n), make([]time.Time, n)
	var cols [6][]int64
	for i := range cols {
		cols[i] = make([]int64, n)
	}
	for i, c := range counts {
		ids[i], hours[i] = int64(c.ID), micros(c.Hour)
		v := c.Counts
		cols[0][i], cols[1][i], cols[2][i] = v.Valid, v.Disabled, v.Expired
		cols[3][i], cols[4][i], cols[5][i] = v.InsufficientPermissions, v.RateLimited, v.UsageExceeded
	}
	_, err := q.Exec(ctx,
		`INSERT INTO key_verifications AS v (key_id, hour, valid, disabled, expired, insufficient_permissions, rate_limited, usage_exceeded)
		SELECT k.id, t.hour, sum(t.valid), sum(t.disabled), sum(t.expired), sum(t.insufficient_permissions), sum(t.rate_limited), sum(t.usage_exceeded)
		FROM unnest($1::bigint[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[])
			AS t (id, hour, valid, disabled, expired, insufficient_permissions, rate_limited, usage_exceeded)
		JOIN api_keys AS k ON k.id = t.id
		GROUP BY k.id, t.hour
		ORDER BY k.id, t.hour
		ON CONFLICT (key_id, hour) DO UPDATE SET
			valid = v.valid + excluded.valid,
			disabled = v.disabled + excluded.disabled,
			expired = v.expired + excluded.expired,
			insufficient_permissions = v.insufficient_permissions + excluded.insufficient_permissions,
			rate_limited = v.rate_limited + excluded.rate_limited,
			usage_exceeded = v.usage_exceeded + excluded.usage_exceeded`,
		ids, hours, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5])
	return err
}

// KeyUsage returns key id's stored counts of the hours from since to
// until, read through the primary key in hour order.
func (db *DB) KeyUsage(ctx context.Context, id keyward.KeyID, since, until time.Time) ([]keyward.UsageCount, error) {
	rows, err := db.pool.Query(ctx, `SELECT hour, valid, disabled, expired, insufficient_permissions, rate_limited, usage_exceeded
		FROM key_verifications WHERE key_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour`,
		int64(id), micros(since), micros(until))
	if err != nil {
		return nil, fmt.Errorf("key usage: %w", mapError(ctx, err))
	}
	defer rows.Close()
	var out []keyward.UsageCount
	for rows.Next() {
		c := keyward.UsageCount{ID: id}
		v := &c.Counts
		if err := rows.Scan(&c.Hour, &v.Valid, &v.Disabled, &v.Expired, &v.InsufficientPermissions, &v.RateLimited, &v.UsageExceeded); err != nil {
			return nil, fmt.Errorf("key usage: %w", mapError(ctx, err))
		}
		c.Hour = c.Hour.UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("key usage: %w", mapError(ctx, err))
	}
	return out, nil
}

// PruneKeyUsage removes at most limit of the counts of hours before the
// given time, oldest first, found through the index on hour. Rows a flush
// holds are left for the next call.
func (db *DB) PruneKeyUsage(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM key_verifications WHERE (key_id, hour) IN (
			SELECT key_id, hour FROM key_verifications WHERE hour < $1
			ORDER BY hour LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		micros(before), limit)
	if err != nil {
		return 0, fmt.Errorf("prune key usage: %w", mapError(ctx, err))
	}
	return int(tag.RowsAffected()), nil
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// RecordUsage writes a flush of recorded uses and verification counts in
// one transaction: the uses as TouchKeys does, and each count added to
// its key's hour in key_verifications. SQLite upserts row by row, so a key
// and hour given twice is added twice.
func (db *DB) RecordUsage(ctx context.Context, uses []keyward.KeyUse, counts []keyward.UsageCount) error {
	if len(uses) == 0 && len(counts) == 0 {
		return nil
	}
	if err := db.recordUsage(ctx, uses, counts); err != nil {
		return fmt.Errorf("record usage: %w", err)
	}
	return nil
}

// countRows is how many counts one statement adds: eight parameters
// each.
const countRows = 128

// countVerifications adds counts to key_verifications, countRows a
// statement.
func countVerifications(ctx context.Context, tx *sql.Tx, counts []keyward.UsageCount) error {
	var full *sql.Stmt // the statement for countRows counts, prepared once
	args := make([]any, 0, 8*min(len(counts), countRows))
	for len(counts) > 0 {
		n := min(len(counts), countRows)
		args = args[:0]
		for _, c := range counts[:n] {
			v := c.Counts
			args = append(args, int64(c.ID), c.Hour.Unix(),
				v.Valid, v.Disabled, v.Expired, v.InsufficientPermissions, v.RateLimited, v.UsageExceeded)
		}
		counts = counts[n:]
		var err error
		if n == countRows && full == nil {
			if full, err = tx.PrepareContext(ctx, countQuery(countRows)); err != nil {
				return err
			}
			defer full.Close()
		}
		if n == countRows {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, countQuery(n), args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// countQuery is the upsert of n counts, each bound as (id, hour in unix
// seconds, then the six counters in the table's order). The join with
// api_keys drops ids that do not exist. (WHERE true keeps ON CONFLICT from
// being read as the join's ON.)
func countQuery(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO key_verifications (key_id, hour, valid, disabled, expired, insufficient_permissions, rate_limited, usage_exceeded)
		SELECT k.id, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8 FROM (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(`) AS v JOIN api_keys AS k ON k.id = v.column1 WHERE true
		ON CONFLICT (key_id, hour) DO UPDATE SET
			valid = valid + excluded.valid,
			disabled = disabled + excluded.disabled,
			expired = expired + excluded.expired,
			insufficient_permissions = insufficient_permissions + excluded.insufficient_permissions,
			rate_limited = rate_limited + excluded.rate_limited,
			usage_exceeded = usage_exceeded + excluded.usage_exceeded`)
	return b.String()
}

// KeyUsage returns key id's stored counts of the hours from since to
// until, read through the primary key in hour order.
func (db *DB) KeyUsage(ctx context.Context, id keyward.KeyID, since, until time.Time) ([]keyward.UsageCount, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT hour, valid, disabled, expired, insufficient_permissions, rate_limited, usage_exceeded
		FROM key_verifications WHERE key_id = ? AND hour >= ? AND hour < ? ORDER BY hour`,
		int64(id), since.Unix(), until.Unix())
	if err != nil {
		return nil, fmt.Errorf("key usage: %w", mapError(ctx, err))
	}
	defer rows.Close()
	var out []keyward.UsageCount
	for rows.Next() {
		c := keyward.UsageCount{ID: id}
		var hour int64
		v := &c.Counts
		if err := rows.Scan(&hour, &v.Valid, &v.Disabled, &v.Expired, &v.InsufficientPermissions, &v.RateLimited, &v.UsageExceeded); err != nil {
			return nil, fmt.Errorf("key usage: %w", mapError(ctx, err))
		}
		c.Hour = time.Unix(hour, 0).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("key usage: %w", mapError(ctx, err))
	}
	return out, nil
}

// PruneKeyUsage removes at most limit of the counts of hours before the
// given time, oldest first, found through the index on hour.
func (db *DB) PruneKeyUsage(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	res, err := db.write.ExecContext(ctx, `DELETE FROM key_verifications WHERE (key_id, hour) IN (
			SELECT key_id, hour FROM key_verifications WHERE hour < ? ORDER BY hour LIMIT ?)`,
		before.Unix(), limit)
	if err != nil {
		return 0, fmt.Errorf("prune key usage: %w", mapError(ctx, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune key usage: %w", err)
	}
	return int(n), nil
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// sqlRateLimits is ls as the rate_limits column holds it: a compact JSON
// array, or NULL for none. A duration that is not whole milliseconds
// (which ParseRateLimits refuses) is refused rather than rounded.
func sqlRateLimits(ls []keyward.RateLimit) (any, error) {
	b, err := keyward.EncodeRateLimits(ls)
	if b == nil || err != nil {
		return nil, err
	}
	return string(b), nil
}

// parseRateLimits decodes the rate_limits column.
func parseRateLimits(s string) ([]keyward.RateLimit, error) {
	return keyward.DecodeRateLimits([]byte(s))
}

// sqlCredits is c as its four columns: all NULL for none, and the refill's
// two NULL for no refill.
func sqlCredits(c *keyward.Credits) (remaining, refilledAt, amount, interval any) {
	if c == nil {
		return nil, nil, nil, nil
	}
	remaining, refilledAt = c.Remaining, c.RefilledAt.UnixMicro()
	if c.Refill != nil {
		amount, interval = c.Refill.Amount, string(c.Refill.Interval)
	}
	return remaining, refilledAt, amount, interval
}

// scanCredits builds credits from their columns, remaining not NULL.
func scanCredits(remaining, refilledAt, amount sql.NullInt64, interval sql.NullString) (*keyward.Credits, error) {
	if !refilledAt.Valid {
		return nil, fmt.Errorf("remaining without the time it was set")
	}
	c := &keyward.Credits{Remaining: remaining.Int64, RefilledAt: fromMicros(refilledAt.Int64)}
	switch {
	case amount.Valid && interval.Valid:
		c.Refill = &keyward.Refill{Amount: amount.Int64, Interval: keyward.RefillInterval(interval.String)}
	case amount.Valid || interval.Valid:
		return nil, fmt.Errorf("a refill without its amount or its interval")
	}
	return c, nil
}

// The statements of a spend of credits.
const (
	selectCreditsQuery = `SELECT credits_remaining, credits_refilled_at, credits_refill_amount, credits_refill_interval
		FROM api_keys WHERE id = ? AND deleted_at IS NULL`
	updateCreditsQuery = `UPDATE api_keys SET credits_remaining = ?, credits_refilled_at = ? WHERE id = ?`
)

// spendQueries are the statements a spend runs, prepared once.
var spendQueries = []string{selectCreditsQuery, updateCreditsQuery}

// spendTx runs statements in the writer's transaction: a *sql.Tx, or a
// preparedTx.
type spendTx interface {
	execer
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// spendCredits spends cost of key id's credits at now in tx: it reads the
// credits, has keyward.Credits.Spend decide (the one rule of refills, the
// same on every backend), and writes them back if the spend changed them
// (a refusal without a refill due writes nothing). Only the credits'
// columns are written: not the version, not updated_at.
func spendCredits(ctx context.Context, tx spendTx, id keyward.KeyID, cost int64, now time.Time) (keyward.CreditSpend, error) {
	var (
		remaining, refilledAt, amount sql.NullInt64
		interval                      sql.NullString
	)
	if err := tx.QueryRowContext(ctx, selectCreditsQuery, int64(id)).Scan(&remaining, &refilledAt, &amount, &interval); err != nil {
		return keyward.CreditSpend{}, err
	}
	if !remaining.Valid {
		return keyward.CreditSpend{}, nil // unlimited: nothing to spend
	}
	cur, err := scanCredits(remaining, refilledAt, amount, interval)
	if err != nil {
		return keyward.CreditSpend{}, fmt.Errorf("key %v: stored credits: %w", id, err)
	}
	next, ok := cur.Spend(cost, now)
	// Stored as microseconds: the answer says what the row holds.
	next.RefilledAt = next.RefilledAt.Truncate(time.Microsecond)
	if next.Remaining != cur.Remaining || !next.RefilledAt.Equal(cur.RefilledAt) {
		if _, err := tx.ExecContext(ctx, updateCreditsQuery, next.Remaining, next.RefilledAt.UnixMicro(), int64(id)); err != nil {
			return keyward.CreditSpend{}, err
		}
	}
	return keyward.CreditSpend{Limited: true, OK: ok, Remaining: next.Remaining, Credits: next}, nil
}

// SpendCredits spends cost of the credits of live key id at now (see
// keyward.KeyStore). The spend joins the committer's queue (commit.go):
// each batch of writes is one IMMEDIATE transaction of the writer, which
// holds SQLite's write lock from its start, so spends, from this process
// or another on the file, run one after another, each reading what the
// last wrote; and a batch's spends share one sync of the WAL. It returns
// once the spend is durable. A spend whose context ends before its
// transaction begins is not made; one whose context ends while it runs
// returns the context's error, and may have been made.
func (db *DB) SpendCredits(ctx context.Context, id keyward.KeyID, cost int64, now time.Time) (keyward.CreditSpend, error) {
	if cost < 0 {
		return keyward.CreditSpend{}, errNegativeCost // it would add credits
	}
	req := &writeRequest{ctx: ctx, spend: &spendRequest{id: id, cost: cost, now: now}, done: make(chan error, 1)}
	if err := db.enqueue(req); err != nil {
		return keyward.CreditSpend{}, err
	}
	return req.spend.result, nil
}

// errNegativeCost refuses a spend that would add credits: the service
// never asks for one (VerifyCost takes 0 to keyward.MaxCost).
var errNegativeCost = keyward.Errorf(keyward.EINVALID, "spend credits: a cost must not be negative")

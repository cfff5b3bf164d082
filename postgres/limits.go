package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// storedLimit is one rate limit as the rate_limits column holds it, in a
// JSON array: the duration in whole milliseconds (as SQLite's).
type storedLimit struct {
	Name       string `json:"name"`
	Limit      int64  `json:"limit"`
	DurationMS int64  `json:"duration_ms"`
}

// rateLimitsValue is ls as the rate_limits column takes it: a JSON array,
// or NULL for none. A duration that is not whole milliseconds (which
// ParseRateLimits refuses) is refused rather than rounded.
func rateLimitsValue(ls []keyward.RateLimit) (*string, error) {
	if len(ls) == 0 {
		return nil, nil
	}
	out := make([]storedLimit, len(ls))
	for i, l := range ls {
		if l.Duration%time.Millisecond != 0 {
			return nil, fmt.Errorf("rate limit %d: duration %v is not a whole number of milliseconds", i+1, l.Duration)
		}
		out[i] = storedLimit{Name: l.Name, Limit: l.Limit, DurationMS: l.Duration.Milliseconds()}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// parseRateLimits decodes the rate_limits column.
func parseRateLimits(b []byte) ([]keyward.RateLimit, error) {
	var stored []storedLimit
	if err := json.Unmarshal(b, &stored); err != nil {
		return nil, err
	}
	if len(stored) == 0 {
		return nil, fmt.Errorf("an empty list")
	}
	ls := make([]keyward.RateLimit, len(stored))
	for i, l := range stored {
		ls[i] = keyward.RateLimit{Name: l.Name, Limit: l.Limit, Duration: time.Duration(l.DurationMS) * time.Millisecond}
	}
	return ls, nil
}

// creditsValues is c as its four columns: all NULL for none, and the
// refill's two NULL for no refill.
func creditsValues(c *keyward.Credits) (remaining *int64, refilledAt *time.Time, amount *int64, interval *string) {
	if c == nil {
		return nil, nil, nil, nil
	}
	remaining, refilledAt = &c.Remaining, microsOrNull(&c.RefilledAt)
	if c.Refill != nil {
		iv := string(c.Refill.Interval)
		amount, interval = &c.Refill.Amount, &iv
	}
	return remaining, refilledAt, amount, interval
}

// creditsColumns are the credits' columns as scanned.
type creditsColumns struct {
	remaining  *int64
	refilledAt *time.Time
	amount     *int64
	interval   *string
}

// credits builds the credits the columns hold: nil for none.
func (c *creditsColumns) credits() (*keyward.Credits, error) {
	switch {
	case c.remaining == nil && c.refilledAt == nil && c.amount == nil && c.interval == nil:
		return nil, nil
	case c.remaining == nil || c.refilledAt == nil:
		return nil, fmt.Errorf("remaining without the time it was set, or the reverse")
	case (c.amount == nil) != (c.interval == nil):
		return nil, fmt.Errorf("a refill without its amount or its interval")
	}
	cr := &keyward.Credits{Remaining: *c.remaining, RefilledAt: c.refilledAt.UTC()}
	if c.amount != nil {
		cr.Refill = &keyward.Refill{Amount: *c.amount, Interval: keyward.RefillInterval(*c.interval)}
	}
	return cr, nil
}

// The statements of SpendCredits. FOR NO KEY UPDATE, as UpdateKey's: a
// spend queues behind an update of the key and the reverse (an update
// writes back the credits it read), but not behind TouchKeys' foreign-key
// checks.
const (
	selectCreditsForUpdate = `SELECT credits_remaining, credits_refilled_at, credits_refill_amount, credits_refill_interval
		FROM api_keys WHERE id = $1 AND deleted_at IS NULL
		FOR NO KEY UPDATE`
	updateCredits = `UPDATE api_keys SET credits_remaining = $2, credits_refilled_at = $3 WHERE id = $1`
)

// SpendCredits spends cost of the credits of live key id at now (see
// keyward.KeyStore), in one transaction: it reads the credits and locks
// the key's row, lets keyward.Credits.Spend decide (the one rule of
// refills, the same on every backend), and writes back the credits'
// columns if the spend changed them. Concurrent spends of a key, from any
// process, queue on the row's lock, each reading what the last wrote. The
// version and updated_at are not written, and nothing is notified.
func (db *DB) SpendCredits(ctx context.Context, id keyward.KeyID, cost int64, now time.Time) (keyward.CreditSpend, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return keyward.CreditSpend{}, fmt.Errorf("spend credits: %w", mapError(ctx, err))
	}
	defer rollback(ctx, tx)
	var cols creditsColumns
	if err := tx.QueryRow(ctx, selectCreditsForUpdate, int64(id)).Scan(&cols.remaining, &cols.refilledAt, &cols.amount, &cols.interval); err != nil {
		return keyward.CreditSpend{}, fmt.Errorf("spend credits: %w", mapError(ctx, err))
	}
	cur, err := cols.credits()
	if err != nil {
		return keyward.CreditSpend{}, fmt.Errorf("spend credits: key %v: stored credits: %w", id, err)
	}
	if cur == nil {
		return keyward.CreditSpend{}, nil // unlimited: nothing to spend
	}
	next, ok := cur.Spend(cost, now)
	next.RefilledAt = micros(next.RefilledAt) // as the row holds it
	if next.Remaining != cur.Remaining || !next.RefilledAt.Equal(cur.RefilledAt) {
		if _, err := tx.Exec(ctx, updateCredits, int64(id), next.Remaining, next.RefilledAt); err != nil {
			return keyward.CreditSpend{}, fmt.Errorf("spend credits: %w", mapError(ctx, err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return keyward.CreditSpend{}, fmt.Errorf("spend credits: %w", mapError(ctx, err))
	}
	return keyward.CreditSpend{Limited: true, OK: ok, Remaining: next.Remaining, Credits: next}, nil
}

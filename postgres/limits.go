package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyward/keyward"
)

// rateLimitsValue is ls as the rate_limits column takes it: a JSON array,
// or NULL for none. A duration that is not whole milliseconds (which
// ParseRateLimits refuses) is refused rather than rounded.
func rateLimitsValue(ls []keyward.RateLimit) (*string, error) {
	b, err := keyward.EncodeRateLimits(ls)
	if b == nil || err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// parseRateLimits decodes the rate_limits column.
func parseRateLimits(b []byte) ([]keyward.RateLimit, error) { return keyward.DecodeRateLimits(b) }

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

// Spends of credits are batched. A spend locks its key's row until its
// transaction commits, and a commit waits for the WAL's flush: spent one
// transaction each, a key's credits take at most one spend per flush (360
// a second were measured on one key, with 64 callers), and every spend
// costs a flush. Instead, one goroutine per DB takes every spend waiting
// at the moment and makes them in one transaction: it locks the rows of
// their keys, in id order (so that batches of several processes, which
// lock in the same order, queue rather than deadlock), has
// keyward.Credits.Spend decide each spend in the order they came, each
// from what the one before left, and writes each key's credits back once.

// maxSpendBatch bounds the spends of one transaction.
const maxSpendBatch = 256

// spendRequest is one SpendCredits waiting for the batch that makes it.
type spendRequest struct {
	ctx    context.Context
	id     keyward.KeyID
	cost   int64
	now    time.Time
	result keyward.CreditSpend // set, or err, before done is closed
	err    error
	done   chan struct{}
}

// spender is the batching goroutine's queue.
type spender struct {
	queue    chan *spendRequest
	finished chan struct{} // closed when the goroutine ends
}

// startSpender starts the goroutine that makes the spends; it ends once
// db.closing is done.
func (db *DB) startSpender() {
	db.spends = spender{queue: make(chan *spendRequest, maxSpendBatch), finished: make(chan struct{})}
	go db.runSpender()
}

func (db *DB) runSpender() {
	defer close(db.spends.finished)
	batch := make([]*spendRequest, 0, maxSpendBatch)
	for {
		select {
		case r := <-db.spends.queue:
			batch = append(batch[:0], r)
		case <-db.closing.Done():
			return
		}
	more:
		for len(batch) < maxSpendBatch {
			select {
			case r := <-db.spends.queue:
				batch = append(batch, r)
			default:
				break more
			}
		}
		db.spendBatch(batch)
	}
}

// errNegativeCost refuses a spend that would add credits: the service
// never asks for one (VerifyCost takes 0 to keyward.MaxCost).
var errNegativeCost = keyward.Errorf(keyward.EINVALID, "spend credits: a cost must not be negative")

// errClosed answers a spend made on, or left waiting by, a closed DB.
var errClosed = errors.New("database closed")

// SpendCredits spends cost of the credits of live key id at now (see
// keyward.KeyStore), in a transaction that locks the key's row (FOR NO
// KEY UPDATE, as UpdateKey does: an update writes back the credits it
// read, so a spend and an update of a key must queue behind each other)
// and that may make other spends too (see spendBatch). Concurrent spends
// of a key, from any process, each read what the last wrote. The version
// and updated_at are not written, and nothing is notified. It returns
// once the spend is committed. A spend whose context ends before its batch
// begins is not made; one whose context ends while its batch runs returns
// the context's error, and may have been made.
func (db *DB) SpendCredits(ctx context.Context, id keyward.KeyID, cost int64, now time.Time) (keyward.CreditSpend, error) {
	if cost < 0 {
		return keyward.CreditSpend{}, errNegativeCost // it would add credits
	}
	if err := ctx.Err(); err != nil {
		return keyward.CreditSpend{}, fmt.Errorf("spend credits: %w", err)
	}
	r := &spendRequest{ctx: ctx, id: id, cost: cost, now: now, done: make(chan struct{})}
	select {
	case db.spends.queue <- r:
	case <-ctx.Done():
		return keyward.CreditSpend{}, fmt.Errorf("spend credits: %w", ctx.Err())
	case <-db.closing.Done():
		return keyward.CreditSpend{}, fmt.Errorf("spend credits: %w", errClosed)
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		return keyward.CreditSpend{}, fmt.Errorf("spend credits: %w", ctx.Err())
	case <-db.spends.finished:
		select {
		case <-r.done: // answered before the goroutine ended
		default:
			return keyward.CreditSpend{}, fmt.Errorf("spend credits: %w", errClosed)
		}
	}
	if r.err != nil {
		return keyward.CreditSpend{}, fmt.Errorf("spend credits: %w", r.err)
	}
	return r.result, nil
}

// The statements of a batch of spends.
const (
	selectCreditsForUpdate = `SELECT id, credits_remaining, credits_refilled_at, credits_refill_amount, credits_refill_interval
		FROM api_keys WHERE id = ANY($1) AND deleted_at IS NULL
		ORDER BY id
		FOR NO KEY UPDATE`
	updateCredits = `UPDATE api_keys AS k SET credits_remaining = v.remaining, credits_refilled_at = v.refilled_at
		FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) AS v (id, remaining, refilled_at)
		WHERE k.id = v.id`
)

// spendBatch makes a batch of spends in one transaction and answers each.
// Spends whose context has ended are refused unmade. The transaction
// belongs to no one spend: it runs until the last deadline among them
// (without one, if a spend has none), or until the DB is closed.
func (db *DB) spendBatch(batch []*spendRequest) {
	live := make([]*spendRequest, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := batchContext(db.closing, live)
	defer cancel()
	if err := db.spendInTx(ctx, live); err != nil {
		if db.closing.Err() != nil {
			// Cut short by Close, not by a caller giving up.
			err = fmt.Errorf("%w (%v)", errClosed, err)
		}
		for _, r := range live {
			r.err, r.result = mapError(r.ctx, err), keyward.CreditSpend{}
		}
	}
	for _, r := range live {
		close(r.done)
	}
}

// batchContext returns the context of a batch of spends: parent's, ending
// at the latest of the spends' deadlines if every one has a deadline.
func batchContext(parent context.Context, spends []*spendRequest) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, r := range spends {
		d, ok := r.ctx.Deadline()
		if !ok {
			return context.WithCancel(parent)
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(parent, latest)
}

// keyCredits are one key's credits in a batch: as read, and as the
// batch's spends have left them so far (nil for a key without credits).
type keyCredits struct {
	read, cur *keyward.Credits
}

// spendInTx makes spends in one transaction, setting each one's result
// or error; it returns an error, and sets none, if the transaction fails.
func (db *DB) spendInTx(ctx context.Context, spends []*spendRequest) error {
	ids := make([]int64, 0, len(spends))
	for _, r := range spends {
		ids = append(ids, int64(r.id))
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)

	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer rollback(ctx, tx)
	rows, err := tx.Query(ctx, selectCreditsForUpdate, ids)
	if err != nil {
		return err
	}
	keys := make(map[keyward.KeyID]*keyCredits, len(ids))
	for rows.Next() {
		var id int64
		var cols creditsColumns
		if err := rows.Scan(&id, &cols.remaining, &cols.refilledAt, &cols.amount, &cols.interval); err != nil {
			rows.Close()
			return err
		}
		c, err := cols.credits()
		if err != nil {
			rows.Close()
			return fmt.Errorf("key %v: stored credits: %w", keyward.KeyID(id), err)
		}
		keys[keyward.KeyID(id)] = &keyCredits{read: c, cur: c}
	}
	if err := rows.Err(); err != nil {
		return err
	}

	for _, r := range spends {
		k, ok := keys[r.id]
		switch {
		case !ok:
			r.err = errKeyNotFound()
		case k.cur == nil:
			r.result = keyward.CreditSpend{} // unlimited: nothing to spend
		default:
			next, spent := k.cur.Spend(r.cost, r.now)
			next.RefilledAt = micros(next.RefilledAt) // as the row holds it
			k.cur = &next
			r.result = keyward.CreditSpend{Limited: true, OK: spent, Remaining: next.Remaining, Credits: next}
		}
	}

	var changed []int64
	var remaining []int64
	var refilledAt []time.Time
	for _, id := range ids {
		k := keys[keyward.KeyID(id)]
		if k == nil || k.cur == nil || k.cur.Remaining == k.read.Remaining && k.cur.RefilledAt.Equal(k.read.RefilledAt) {
			continue
		}
		changed = append(changed, id)
		remaining = append(remaining, k.cur.Remaining)
		refilledAt = append(refilledAt, k.cur.RefilledAt)
	}
	if len(changed) > 0 {
		if _, err := tx.Exec(ctx, updateCredits, changed, remaining, refilledAt); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

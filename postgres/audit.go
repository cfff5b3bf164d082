package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// eventColumns are the columns of an audit event, in the order insertEvent
// writes them and scanEvent reads them.
const eventColumns = `id, org_id, at, actor, action, key_id, request_id, client_ip, user_agent, changes`

// insertEvent writes ev, in the transaction of the change it records.
func insertEvent(ctx context.Context, q querier, ev *keyward.AuditEvent) error {
	_, err := q.Exec(ctx, `INSERT INTO audit_events (`+eventColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		int64(ev.ID), string(ev.OrgID), micros(ev.At), ev.Actor, string(ev.Action), int64(ev.KeyID),
		ev.RequestID, ev.ClientIP, ev.UserAgent, textOrNull(keyward.MarshalChanges(ev.Changes)),
	)
	return err
}

// ListAuditEvents returns f.OrgID's audit events that match f, newest
// first by time and then id, after f.After, at most f.Limit of them (a
// Limit below 1 sets no limit): through audit_events_by_key for one key's
// events, audit_events_by_org otherwise, walked in order and stopped at
// the limit.
func (db *DB) ListAuditEvents(ctx context.Context, f keyward.AuditFilter) ([]*keyward.AuditEvent, error) {
	q, args := listEventsQuery(f)
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", mapError(ctx, err))
	}
	defer rows.Close()
	evs := make([]*keyward.AuditEvent, 0, min(max(f.Limit, 0), 100))
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("list audit events: %w", mapError(ctx, err))
		}
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events: %w", mapError(ctx, err))
	}
	return evs, nil
}

// listEventsQuery returns ListAuditEvents' statement and its arguments.
func listEventsQuery(f keyward.AuditFilter) (string, []any) {
	q := `SELECT ` + eventColumns + ` FROM audit_events WHERE org_id = $1`
	args := []any{string(f.OrgID)}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.KeyID != 0 {
		q += ` AND key_id = ` + arg(int64(f.KeyID))
	}
	if f.Action != "" {
		q += ` AND action = ` + arg(string(f.Action))
	}
	if f.Since != nil {
		q += ` AND at >= ` + arg(micros(*f.Since))
	}
	if f.Until != nil {
		q += ` AND at < ` + arg(micros(*f.Until))
	}
	if f.After != nil {
		// A row comparison: the index range starts just past the cursor.
		q += ` AND (at, id) < (` + arg(micros(f.After.At)) + `, ` + arg(int64(f.After.ID)) + `)`
	}
	var limit *int64 // NULL: no limit
	if f.Limit >= 1 {
		n := int64(f.Limit)
		limit = &n
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ` + arg(limit)
	return q, args
}

// queryPrunableEvents finds at most $2 events older than $1, oldest first,
// through audit_events_at.
const queryPrunableEvents = `SELECT id FROM audit_events WHERE at < $1 ORDER BY at LIMIT $2`

// PruneAuditEvents removes, in one statement, at most limit audit events
// older than before, oldest first. Rows another transaction holds are left
// for the next call.
func (db *DB) PruneAuditEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM audit_events WHERE id IN
		(`+queryPrunableEvents+` FOR UPDATE SKIP LOCKED)`,
		micros(before), limit)
	if err != nil {
		return 0, fmt.Errorf("prune audit events: %w", mapError(ctx, err))
	}
	return int(tag.RowsAffected()), nil
}

// scanEvent reads one row of eventColumns into a new AuditEvent.
func scanEvent(row pgx.Row) (*keyward.AuditEvent, error) {
	var (
		ev          keyward.AuditEvent
		id, keyID   int64
		org, action string
		changes     *string
	)
	if err := row.Scan(&id, &org, &ev.At, &ev.Actor, &action, &keyID,
		&ev.RequestID, &ev.ClientIP, &ev.UserAgent, &changes); err != nil {
		return nil, err
	}
	ev.ID, ev.OrgID, ev.Action, ev.KeyID = keyward.EventID(id), keyward.OrgID(org), keyward.AuditAction(action), keyward.KeyID(keyID)
	ev.At = ev.At.UTC()
	if changes != nil {
		c, err := keyward.UnmarshalChanges(*changes)
		if err != nil {
			return nil, fmt.Errorf("audit event %v: stored %w", ev.ID, err)
		}
		ev.Changes = c
	}
	return &ev, nil
}

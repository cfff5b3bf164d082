package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

// eventColumns are the columns of an audit event, in the order scanEvent
// reads them and insertEvent writes them.
const eventColumns = `id, org_id, at, actor, action, key_id, request_id, client_ip, user_agent, changes`

// insertEventQuery is insertEvent's statement.
const insertEventQuery = `INSERT INTO audit_events (` + eventColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertEvent stores ev in the transaction of the change it records.
func insertEvent(ctx context.Context, tx execer, ev *keyward.AuditEvent) error {
	_, err := tx.ExecContext(ctx, insertEventQuery,
		int64(ev.ID), string(ev.OrgID), ev.At.UnixMicro(), ev.Actor, string(ev.Action), int64(ev.KeyID),
		ev.RequestID, ev.ClientIP, ev.UserAgent, sqlText(keyward.MarshalChanges(ev.Changes)))
	return err
}

// ListAuditEvents returns the events of f.OrgID that match f, newest first
// by time and then id, after f.After, at most f.Limit of them (a Limit
// below 1 sets no limit). An organization's events are read from
// audit_events_by_org, one key's from audit_events_by_key, in the order
// asked for, so SQLite stops at the limit without sorting.
func (db *DB) ListAuditEvents(ctx context.Context, f keyward.AuditFilter) ([]*keyward.AuditEvent, error) {
	q, args := listEventsQuery(f)
	rows, err := db.query(ctx, q, args...)
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
	q := `SELECT ` + eventColumns + ` FROM audit_events WHERE org_id = ?`
	args := []any{string(f.OrgID)}
	if f.KeyID != 0 {
		// Without statistics, SQLite may prefer the organization's index
		// when the times bound a range on it: a key's few events among
		// an organization's many are found faster by key.
		q = `SELECT ` + eventColumns + ` FROM audit_events INDEXED BY audit_events_by_key WHERE org_id = ? AND key_id = ?`
		args = append(args, int64(f.KeyID))
	}
	if f.Action != "" {
		q += ` AND action = ?`
		args = append(args, string(f.Action))
	}
	if f.Since != nil {
		q += ` AND at >= ?`
		args = append(args, f.Since.UnixMicro())
	}
	if f.Until != nil {
		q += ` AND at < ?`
		args = append(args, f.Until.UnixMicro())
	}
	if f.After != nil {
		q += ` AND (at, id) < (?, ?)`
		args = append(args, f.After.At.UnixMicro(), int64(f.After.ID))
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ?`
	limit := int64(f.Limit)
	if limit < 1 {
		limit = -1 // SQLite: no limit
	}
	return q, append(args, limit)
}

// scanEvent reads one row of eventColumns into a new AuditEvent.
func scanEvent(s rowScanner) (*keyward.AuditEvent, error) {
	var (
		ev            keyward.AuditEvent
		id, at, keyID int64
		org, action   string
		changes       sql.NullString
	)
	if err := s.Scan(&id, &org, &at, &ev.Actor, &action, &keyID, &ev.RequestID, &ev.ClientIP, &ev.UserAgent, &changes); err != nil {
		return nil, err
	}
	ev.ID, ev.OrgID, ev.At = keyward.EventID(id), keyward.OrgID(org), fromMicros(at)
	ev.Action, ev.KeyID = keyward.AuditAction(action), keyward.KeyID(keyID)
	var err error
	if ev.Changes, err = keyward.UnmarshalChanges(changes.String); err != nil {
		return nil, fmt.Errorf("event %v: %w", ev.ID, err)
	}
	return &ev, nil
}

// pruneEventsQuery selects the events PruneAuditEvents removes: the oldest
// first, from the time index alone (it holds seq, the rowid).
const pruneEventsQuery = `SELECT seq FROM audit_events WHERE at < ? ORDER BY at LIMIT ?`

// PruneAuditEvents removes at most limit events older than the given
// time, oldest first, through audit_events_by_time.
func (db *DB) PruneAuditEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	res, err := db.write.ExecContext(ctx, `DELETE FROM audit_events WHERE seq IN (`+pruneEventsQuery+`)`,
		before.UnixMicro(), limit)
	if err != nil {
		return 0, fmt.Errorf("prune audit events: %w", mapError(ctx, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune audit events: %w", err)
	}
	return int(n), nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

var _ keyward.SessionStore = (*DB)(nil)

// CreateSession stores s; a taken id is ECONFLICT.
func (db *DB) CreateSession(ctx context.Context, s *keyward.Session) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO console_sessions (id, key_id, org_id, binding, csrf, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		s.ID[:], int64(s.KeyID), string(s.OrgID), s.Binding[:], s.CSRF, micros(s.CreatedAt), micros(s.ExpiresAt))
	if err = mapError(ctx, err); keyward.ErrorCode(err) == keyward.ECONFLICT {
		return &keyward.Error{Code: keyward.ECONFLICT, Message: "a session with this id already exists", Err: err}
	}
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// Session returns the session with the given id, or ENOTFOUND.
func (db *DB) Session(ctx context.Context, id keyward.SessionID) (*keyward.Session, error) {
	s := &keyward.Session{ID: id}
	var keyID int64
	var org string
	var binding []byte
	err := db.pool.QueryRow(ctx,
		`SELECT key_id, org_id, binding, csrf, created_at, expires_at FROM console_sessions WHERE id = $1`, id[:],
	).Scan(&keyID, &org, &binding, &s.CSRF, &s.CreatedAt, &s.ExpiresAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && ctx.Err() == nil:
		return nil, keyward.Errorf(keyward.ENOTFOUND, "session not found")
	case err != nil:
		return nil, fmt.Errorf("find session: %w", mapError(ctx, err))
	case len(binding) != len(s.Binding):
		return nil, fmt.Errorf("find session: stored binding has %d bytes", len(binding))
	}
	copy(s.Binding[:], binding)
	s.KeyID, s.OrgID = keyward.KeyID(keyID), keyward.OrgID(org)
	s.CreatedAt, s.ExpiresAt = s.CreatedAt.UTC(), s.ExpiresAt.UTC()
	return s, nil
}

// DeleteSession removes the session with the given id, if there is one.
func (db *DB) DeleteSession(ctx context.Context, id keyward.SessionID) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM console_sessions WHERE id = $1`, id[:]); err != nil {
		return fmt.Errorf("delete session: %w", mapError(ctx, err))
	}
	return nil
}

// PruneSessions removes at most limit sessions that expired before the
// given time, oldest first.
func (db *DB) PruneSessions(ctx context.Context, expiredBefore time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM console_sessions WHERE id IN
		(SELECT id FROM console_sessions WHERE expires_at < $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		micros(expiredBefore), limit)
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", mapError(ctx, err))
	}
	return int(tag.RowsAffected()), nil
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward"
)

var _ keyward.SessionStore = (*DB)(nil)

// errSessionNotFound is Session's answer for an id no session has.
func errSessionNotFound() error { return keyward.Errorf(keyward.ENOTFOUND, "session not found") }

// CreateSession stores s; a taken id is ECONFLICT.
func (db *DB) CreateSession(ctx context.Context, s *keyward.Session) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO console_sessions (id, key_id, org_id, binding, csrf, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.ID[:], int64(s.KeyID), string(s.OrgID), s.Binding[:], s.CSRF, s.CreatedAt.UnixMicro(), s.ExpiresAt.UnixMicro())
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
	var keyID, created, expires int64
	var org string
	var binding []byte
	err := db.read.QueryRowContext(ctx,
		`SELECT key_id, org_id, binding, csrf, created_at, expires_at FROM console_sessions WHERE id = ?`, id[:],
	).Scan(&keyID, &org, &binding, &s.CSRF, &created, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows) && ctx.Err() == nil:
		return nil, errSessionNotFound()
	case err != nil:
		return nil, fmt.Errorf("find session: %w", mapError(ctx, err))
	case len(binding) != len(s.Binding):
		return nil, fmt.Errorf("find session: stored binding has %d bytes", len(binding))
	}
	copy(s.Binding[:], binding)
	s.KeyID, s.OrgID = keyward.KeyID(keyID), keyward.OrgID(org)
	s.CreatedAt, s.ExpiresAt = fromMicros(created), fromMicros(expires)
	return s, nil
}

// DeleteSession removes the session with the given id, if there is one.
func (db *DB) DeleteSession(ctx context.Context, id keyward.SessionID) error {
	if _, err := db.write.ExecContext(ctx, `DELETE FROM console_sessions WHERE id = ?`, id[:]); err != nil {
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
	res, err := db.write.ExecContext(ctx, `DELETE FROM console_sessions WHERE id IN
		(SELECT id FROM console_sessions WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`,
		expiredBefore.UnixMicro(), limit)
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", mapError(ctx, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", err)
	}
	return int(n), nil
}

-- A log of revocations, so that a server notices keys revoked by another
-- process on the same file (keyward root-key revoke, or a second server)
-- and drops them from its cache. seq grows in commit order: SQLite has one
-- writer at a time, and AUTOINCREMENT never reuses a value.

-- +goose Up
CREATE TABLE key_revocations (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	secret_hash BLOB    NOT NULL CHECK (length(secret_hash) = 32),
	revoked_at  INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE key_revocations;

-- Sessions of the web console (issue 13). Numbered 11, not 10, to leave
-- room for the hourly verification counts built at the same time.
--
-- id is the SHA-256 of the random token the browser's cookie holds, never
-- the token: this table alone opens no session. binding is a digest of
-- the hash of the secret the session signed in with
-- (keyward.SecretBinding), so that a rotation ends the session without a
-- copy of the key's hash here. csrf is the session's synchronizer token.
-- Times are unix microseconds.

-- +goose Up
CREATE TABLE console_sessions (
	id         BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 32),
	key_id     INTEGER NOT NULL,
	org_id     TEXT    NOT NULL,
	binding    BLOB    NOT NULL CHECK (length(binding) = 32),
	csrf       TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
-- A change that refuses a key removes its sessions (keyward.EndsSessions).
CREATE INDEX console_sessions_key ON console_sessions (key_id);

-- +goose Down
DROP INDEX console_sessions_key;
DROP INDEX console_sessions_expiry;
DROP TABLE console_sessions;

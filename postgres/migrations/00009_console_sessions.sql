-- Sessions of the web console (issue 13), as SQLite's migration 11.
-- Numbered 9, not 8, to leave room for the hourly verification counts
-- built at the same time.
--
-- id is the SHA-256 of the random token the browser's cookie holds, never
-- the token: this table alone opens no session. binding is a digest of
-- the hash of the secret the session signed in with
-- (keyward.SecretBinding), so that a rotation ends the session without a
-- copy of the key's hash here. csrf is the session's synchronizer token.

-- +goose Up
CREATE TABLE console_sessions (
	id         bytea       NOT NULL,
	key_id     bigint      NOT NULL,
	org_id     text        NOT NULL,
	binding    bytea       NOT NULL,
	csrf       text        NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	CONSTRAINT console_sessions_pkey PRIMARY KEY (id),
	CONSTRAINT console_sessions_id_length CHECK (length(id) = 32),
	CONSTRAINT console_sessions_binding_length CHECK (length(binding) = 32)
);

CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
-- A change that refuses a key removes its sessions (keyward.EndsSessions).
CREATE INDEX console_sessions_key ON console_sessions (key_id);

-- +goose Down
DROP TABLE console_sessions;

-- The first schema: API keys and the once-ever bootstrap marker.

-- +goose Up

-- One row per key ever issued. A revoked key stays as a tombstone
-- (deleted_at set) so that its id and secret hash are never reused.
--
-- id is chosen at random by the service (a positive integer below 2^53) and
-- is the rowid. permissions is the comma-joined list of lower-case names, in
-- the order given. secret_hash is the SHA-256 of the secret, never the secret.
-- Times are unix microseconds, UTC. STRICT makes SQLite refuse a value of the
-- wrong type instead of storing it as given.
CREATE TABLE api_keys (
	id           INTEGER PRIMARY KEY CHECK (id > 0 AND id < 9007199254740992),
	org_id       TEXT    NOT NULL,
	root         INTEGER NOT NULL DEFAULT 0 CHECK (root IN (0, 1)),
	name         TEXT    NOT NULL,
	permissions  TEXT    NOT NULL,
	secret_hash  BLOB    NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
	hint         TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER NULL,
	deleted_at   INTEGER NULL,
	-- A root key has no organization; every other key has one.
	CHECK ((root = 1 AND org_id = '') OR (root = 0 AND org_id <> ''))
) STRICT;

-- The listing: one organization's (or the root) live keys, newest first.
-- Partial, so tombstones cost the listing nothing.
CREATE INDEX api_keys_live_by_org
	ON api_keys (org_id, root, created_at DESC, id DESC)
	WHERE deleted_at IS NULL;

-- At most one row, written by the one bootstrap that ever succeeds, so that
-- a store is bootstrapped once even after its first root key is deleted.
CREATE TABLE keyward_bootstrap (
	id              INTEGER PRIMARY KEY CHECK (id = 1),
	bootstrapped_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE keyward_bootstrap;
DROP INDEX api_keys_live_by_org;
DROP TABLE api_keys;

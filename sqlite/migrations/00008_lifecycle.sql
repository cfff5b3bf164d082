-- The key lifecycle: expiry, disabling, metadata, rotation with a grace
-- period, restore, versions for conditional writes, and the audit log.
--
-- The new api_keys columns are added in place (ALTER TABLE ADD COLUMN
-- rewrites no row): a NOT NULL column needs a default for the rows that
-- exist, and every insert of this version writes each column explicitly.
-- Times are unix microseconds, UTC, as elsewhere. metadata is the compact
-- JSON object exactly as the service made it, NULL for none; created_by is
-- NULL for a key made before Keyward recorded who made it.
--
-- prev_secret_hash is a rotated key's previous secret's hash, which
-- verifies until prev_expires_at; both are set or neither is.

-- +goose Up
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER NULL;
ALTER TABLE api_keys ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
ALTER TABLE api_keys ADD COLUMN metadata TEXT NULL CHECK (metadata <> '');
ALTER TABLE api_keys ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN created_by TEXT NULL CHECK (created_by <> '');
ALTER TABLE api_keys ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1);
ALTER TABLE api_keys ADD COLUMN prev_secret_hash BLOB NULL CHECK (length(prev_secret_hash) = 32);
ALTER TABLE api_keys ADD COLUMN prev_expires_at INTEGER NULL
	CHECK ((prev_expires_at IS NULL) = (prev_secret_hash IS NULL));

-- A key that existed before has changed only by its creation.
UPDATE api_keys SET updated_at = created_at;

-- KeyByHash finds a key by its previous secret too. Partial: most keys
-- have none.
CREATE UNIQUE INDEX api_keys_prev_secret_hash ON api_keys (prev_secret_hash)
	WHERE prev_secret_hash IS NOT NULL;

-- Listing deleted keys (state=deleted, or all), newest first, as
-- api_keys_live_by_org lists the live ones.
CREATE INDEX api_keys_deleted_by_org
	ON api_keys (org_id, root, created_at DESC, id DESC)
	WHERE deleted_at IS NOT NULL;

-- One row per management action, written in the transaction of the change.
-- id is the random EventID; the table is keyed by seq, SQLite's own rowid,
-- so that each event is appended rather than written at a random place
-- (a create writes one: a random key would cost creates a page each).
-- Events are read by organization, key and time, never by id alone, so id
-- has no index of its own. org_id is '' for an event about a root key.
-- changes is keyward.MarshalChanges' object, NULL for none. No foreign key
-- to api_keys: an event outlives the record of a key pruned after its
-- deletion, and is pruned by its own retention.
CREATE TABLE audit_events (
	seq        INTEGER PRIMARY KEY,
	id         INTEGER NOT NULL CHECK (id > 0 AND id < 9007199254740992),
	org_id     TEXT    NOT NULL,
	at         INTEGER NOT NULL,
	actor      TEXT    NOT NULL,
	action     TEXT    NOT NULL,
	key_id     INTEGER NOT NULL,
	request_id TEXT    NOT NULL,
	client_ip  TEXT    NOT NULL,
	user_agent TEXT    NOT NULL,
	changes    TEXT    NULL
) STRICT;

-- An organization's events, newest first, and one key's.
CREATE INDEX audit_events_by_org ON audit_events (org_id, at DESC, id DESC);
CREATE INDEX audit_events_by_key ON audit_events (org_id, key_id, at, id);
-- Pruning, oldest first.
CREATE INDEX audit_events_by_time ON audit_events (at);

-- +goose Down
-- The older schema knows no disabled or expired key: dropping the columns
-- would make such a key verify again. It is deleted instead (deleted_at,
-- unix microseconds, now), which revokes it for good, as PostgreSQL's down
-- migration does; a key expiring later will not expire there. Previous
-- secrets stop verifying.
UPDATE api_keys SET deleted_at = CAST(unixepoch('subsec') * 1000000 AS INTEGER)
	WHERE deleted_at IS NULL
	AND (disabled = 1 OR expires_at <= CAST(unixepoch('subsec') * 1000000 AS INTEGER));
DROP INDEX audit_events_by_time;
DROP INDEX audit_events_by_key;
DROP INDEX audit_events_by_org;
DROP TABLE audit_events;
DROP INDEX api_keys_deleted_by_org;
DROP INDEX api_keys_prev_secret_hash;
ALTER TABLE api_keys DROP COLUMN prev_expires_at;
ALTER TABLE api_keys DROP COLUMN prev_secret_hash;
ALTER TABLE api_keys DROP COLUMN version;
ALTER TABLE api_keys DROP COLUMN created_by;
ALTER TABLE api_keys DROP COLUMN updated_at;
ALTER TABLE api_keys DROP COLUMN metadata;
ALTER TABLE api_keys DROP COLUMN disabled;
ALTER TABLE api_keys DROP COLUMN expires_at;

-- The key lifecycle: expiry, disabling, metadata, versions, rotation with a
-- grace period, and the audit log of management actions.
--
-- Every new column of api_keys has a value that leaves an existing key as
-- it was: enabled, never expiring, without metadata, at version 1, changed
-- last when it was created, made by no one recorded, without a previous
-- secret.
--
-- The same checks as SQLite's migration 8: no empty metadata or creator
-- (NULL is none), a version from 1, a previous secret whole or absent.
--
-- metadata is text, not jsonb: the service hands over a compact JSON object
-- and answers with it byte for byte, member order included, which jsonb
-- does not keep. NULL is no metadata (the domain's "").
--
-- prev_secret_hash is a rotated key's former secret hash, which verifies
-- until prev_expires_at; both are set or neither. KeyByHash finds a key by
-- either hash, each through a unique index.

-- +goose Up
ALTER TABLE api_keys
	ADD COLUMN expires_at       timestamptz NULL,
	ADD COLUMN disabled         boolean     NOT NULL DEFAULT false,
	ADD COLUMN metadata         text        NULL,
	ADD COLUMN updated_at       timestamptz NULL,
	ADD COLUMN created_by       text        NULL,
	ADD COLUMN version          bigint      NOT NULL DEFAULT 1,
	ADD COLUMN prev_secret_hash bytea       NULL,
	ADD COLUMN prev_expires_at  timestamptz NULL,
	ADD CONSTRAINT api_keys_metadata_not_empty CHECK (metadata <> ''),
	ADD CONSTRAINT api_keys_created_by_not_empty CHECK (created_by <> ''),
	ADD CONSTRAINT api_keys_version_positive CHECK (version >= 1),
	ADD CONSTRAINT api_keys_prev_secret_hash_length CHECK (length(prev_secret_hash) = 32),
	ADD CONSTRAINT api_keys_prev_secret_complete CHECK ((prev_secret_hash IS NULL) = (prev_expires_at IS NULL));

UPDATE api_keys SET updated_at = created_at;

ALTER TABLE api_keys ALTER COLUMN updated_at SET NOT NULL;

-- Partial: most keys have no previous secret, and a NULL finds nothing.
CREATE UNIQUE INDEX api_keys_prev_secret_hash_key
	ON api_keys (prev_secret_hash)
	WHERE prev_secret_hash IS NOT NULL;

-- The listing of deleted keys, newest first, beside api_keys_live_by_org,
-- which holds only live ones: a listing of both merges the two in order.
CREATE INDEX api_keys_deleted_by_org
	ON api_keys (org_id, root, created_at DESC, id DESC)
	WHERE deleted_at IS NOT NULL;

-- One row per management action on a key, written in the transaction of
-- the change. id is drawn at random by the service, as a key's is. Events
-- outlive the keys they name (no foreign key): a pruned key's history is
-- kept until the events' own retention ends. org_id is "" for events about
-- root keys. changes is the object keyward.MarshalChanges writes, NULL for
-- none. No secret and no hash is ever written here.
CREATE TABLE audit_events (
	id         bigint      NOT NULL,
	org_id     text        COLLATE "C" NOT NULL,
	at         timestamptz NOT NULL,
	actor      text        NOT NULL,
	action     text        NOT NULL,
	key_id     bigint      NOT NULL,
	request_id text        NOT NULL,
	client_ip  text        NOT NULL,
	user_agent text        NOT NULL,
	changes    text        NULL,
	CONSTRAINT audit_events_pkey PRIMARY KEY (id),
	CONSTRAINT audit_events_id_range CHECK (id > 0 AND id < 9007199254740992)
);

-- An organization's events, newest first; and one key's.
CREATE INDEX audit_events_by_org ON audit_events (org_id, at DESC, id DESC);
CREATE INDEX audit_events_by_key ON audit_events (org_id, key_id, at DESC, id DESC);
-- Pruning, oldest first.
CREATE INDEX audit_events_at ON audit_events (at);

-- +goose Down
-- The older schema knows no disabled or expired key: such a key would
-- verify again there. It is deleted instead, which revokes it for good; a
-- key expiring later will not expire there. Previous secrets stop
-- verifying.
UPDATE api_keys SET deleted_at = now()
	WHERE deleted_at IS NULL AND (disabled OR expires_at <= now());
DROP TABLE audit_events;
DROP INDEX api_keys_deleted_by_org;
DROP INDEX api_keys_prev_secret_hash_key;
ALTER TABLE api_keys
	DROP CONSTRAINT api_keys_prev_secret_complete,
	DROP CONSTRAINT api_keys_prev_secret_hash_length,
	DROP CONSTRAINT api_keys_metadata_not_empty,
	DROP CONSTRAINT api_keys_version_positive,
	DROP CONSTRAINT api_keys_created_by_not_empty,
	DROP COLUMN prev_expires_at,
	DROP COLUMN prev_secret_hash,
	DROP COLUMN version,
	DROP COLUMN created_by,
	DROP COLUMN updated_at,
	DROP COLUMN metadata,
	DROP COLUMN disabled,
	DROP COLUMN expires_at;

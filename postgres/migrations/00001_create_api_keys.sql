-- The first schema: API keys and the once-ever bootstrap marker. Tables are
-- created in the first schema of the search_path, as is goose's version
-- table.

-- +goose Up

-- One row per key ever issued. A revoked key stays as a tombstone
-- (deleted_at set) so that its id and secret hash are never reused.
--
-- id is chosen at random by the service (a positive integer below 2^53).
-- org_id is compared byte for byte (COLLATE "C"): organization ids are
-- ASCII and case-sensitive, and an index in the "C" collation does not
-- depend on the operating system's locale data, whose changes can corrupt
-- an index. permissions holds the lower-case names, in the order given.
-- secret_hash is the SHA-256 of the secret, never the secret. Times keep
-- microseconds, as timestamptz does.
CREATE TABLE api_keys (
	id           bigint      NOT NULL,
	org_id       text        COLLATE "C" NOT NULL,
	root         boolean     NOT NULL DEFAULT false,
	name         text        NOT NULL,
	permissions  text[]      NOT NULL,
	secret_hash  bytea       NOT NULL,
	hint         text        NOT NULL,
	created_at   timestamptz NOT NULL,
	last_used_at timestamptz NULL,
	deleted_at   timestamptz NULL,
	CONSTRAINT api_keys_pkey PRIMARY KEY (id),
	CONSTRAINT api_keys_secret_hash_key UNIQUE (secret_hash),
	CONSTRAINT api_keys_id_range CHECK (id > 0 AND id < 9007199254740992),
	CONSTRAINT api_keys_secret_hash_length CHECK (length(secret_hash) = 32),
	-- A root key has no organization; every other key has one.
	CONSTRAINT api_keys_root_has_no_org CHECK ((root AND org_id = '') OR (NOT root AND org_id <> ''))
);

-- The listing: one organization's (or the root) live keys, newest first.
-- Partial, so tombstones cost the listing nothing.
CREATE INDEX api_keys_live_by_org
	ON api_keys (org_id, root, created_at DESC, id DESC)
	WHERE deleted_at IS NULL;

-- At most one row, written by the one bootstrap that ever succeeds, so that
-- a store is bootstrapped once even after its first root key is deleted.
CREATE TABLE keyward_bootstrap (
	id              smallint    NOT NULL,
	bootstrapped_at timestamptz NOT NULL,
	CONSTRAINT keyward_bootstrap_pkey PRIMARY KEY (id),
	CONSTRAINT keyward_bootstrap_one_row CHECK (id = 1)
);

-- +goose Down
DROP TABLE keyward_bootstrap;
DROP INDEX api_keys_live_by_org;
DROP TABLE api_keys;

-- Last uses of keys move out of api_keys into a narrow table of their own.
--
-- A flush of recorded uses (every 60 s by default) may touch every key that
-- was used in that time. In api_keys, each touched row became a new version
-- of the wide row (and, as last_used_at is in no index, at best a HOT
-- update): a million used keys rewrote the table and left as many dead
-- tuples for vacuum. Here a row is an id and a time, so the same flush
-- writes a small fraction of that, and never a page of the key records that
-- verification reads.
--
-- A key that was never used has no row. Keys are never removed (a deleted
-- key stays as a tombstone), so a row never outlives its key; the foreign
-- key holds that.

-- +goose Up
CREATE TABLE key_usage (
	id           bigint      NOT NULL,
	last_used_at timestamptz NOT NULL,
	CONSTRAINT key_usage_pkey PRIMARY KEY (id),
	CONSTRAINT key_usage_id_fkey FOREIGN KEY (id) REFERENCES api_keys (id)
);

INSERT INTO key_usage (id, last_used_at)
	SELECT id, last_used_at FROM api_keys WHERE last_used_at IS NOT NULL;

ALTER TABLE api_keys DROP COLUMN last_used_at;

-- +goose Down
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz NULL;

UPDATE api_keys AS k SET last_used_at = u.last_used_at FROM key_usage AS u WHERE u.id = k.id;

DROP TABLE key_usage;

-- Last uses of keys move out of api_keys into a narrow table of their own.
--
-- A flush of recorded uses (every 60 s by default) may touch every key that
-- was used in that time. In api_keys, each touched row rewrote its page of
-- the wide table: a million used keys rewrote the whole table through the
-- WAL on every flush. Here a row is an id and a time, so the same flush
-- writes a twentieth of the pages, and never a page of the key records that
-- verification reads.
--
-- A key that was never used has no row. Keys are never removed (a deleted
-- key stays as a tombstone), so a row never outlives its key.

-- +goose Up
CREATE TABLE key_usage (
	id           INTEGER PRIMARY KEY REFERENCES api_keys (id),
	last_used_at INTEGER NOT NULL
) STRICT;

INSERT INTO key_usage (id, last_used_at)
	SELECT id, last_used_at FROM api_keys WHERE last_used_at IS NOT NULL;

ALTER TABLE api_keys DROP COLUMN last_used_at;

-- +goose Down
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER NULL;

UPDATE api_keys SET last_used_at = (SELECT u.last_used_at FROM key_usage AS u WHERE u.id = api_keys.id);

DROP TABLE key_usage;

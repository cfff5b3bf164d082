-- Verifications of each key counted per UTC hour, by outcome (issue 13:
-- the console's usage chart and GET .../api_keys/{key_id}/usage).
--
-- A row is a key's hour: only hours with a verification have one, and a
-- flush of recorded verifications (every 60 s by default, with the last
-- uses) adds its counts to the row of each key and hour it saw. One
-- counter column per outcome of a key that exists (a NOT_FOUND names no
-- key), not a row per outcome: a key's hour is one row, and SQLite writes
-- a 0 or a 1 in no byte at all. WITHOUT ROWID: the primary key is the
-- table, so a row is stored once, in (key_id, hour) order, which is the
-- order a key's chart reads and a flush writes.
--
-- hour is the hour's start in unix seconds (a multiple of 3600), not
-- microseconds as elsewhere: four bytes a row instead of eight, on the
-- table that grows with every key's every hour. Rows older than the usage
-- retention are pruned through the index on hour; a key removed for good
-- (PruneDeletedKeys) takes its rows with it.

-- +goose Up
CREATE TABLE key_verifications (
	key_id                   INTEGER NOT NULL REFERENCES api_keys (id),
	hour                     INTEGER NOT NULL CHECK (hour % 3600 = 0),
	valid                    INTEGER NOT NULL DEFAULT 0 CHECK (valid >= 0),
	disabled                 INTEGER NOT NULL DEFAULT 0 CHECK (disabled >= 0),
	expired                  INTEGER NOT NULL DEFAULT 0 CHECK (expired >= 0),
	insufficient_permissions INTEGER NOT NULL DEFAULT 0 CHECK (insufficient_permissions >= 0),
	rate_limited             INTEGER NOT NULL DEFAULT 0 CHECK (rate_limited >= 0),
	usage_exceeded           INTEGER NOT NULL DEFAULT 0 CHECK (usage_exceeded >= 0),
	PRIMARY KEY (key_id, hour)
) STRICT, WITHOUT ROWID;

CREATE INDEX key_verifications_hour ON key_verifications (hour);

-- +goose Down
DROP TABLE key_verifications;

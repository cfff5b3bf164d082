-- Verifications of each key counted per UTC hour, by outcome (issue 13:
-- the console's usage chart and GET .../api_keys/{key_id}/usage).
--
-- A row is a key's hour: only hours with a verification have one, and a
-- flush of recorded verifications (every 60 s by default, with the last
-- uses, in the same transaction) adds its counts to the row of each key
-- and hour it saw. One counter column per outcome of a key that exists (a
-- NOT_FOUND names no key), not a row per outcome: a key's hour is one
-- tuple. An update changes only counters, in no index, so it can be a HOT
-- update. Rows older than the usage retention are pruned through the
-- index on hour; a key removed for good (PruneDeletedKeys) takes its rows
-- with it, and the foreign key holds that no row outlives its key.

-- +goose Up
CREATE TABLE key_verifications (
	key_id                   bigint      NOT NULL,
	hour                     timestamptz NOT NULL,
	valid                    bigint      NOT NULL DEFAULT 0,
	disabled                 bigint      NOT NULL DEFAULT 0,
	expired                  bigint      NOT NULL DEFAULT 0,
	insufficient_permissions bigint      NOT NULL DEFAULT 0,
	rate_limited             bigint      NOT NULL DEFAULT 0,
	usage_exceeded           bigint      NOT NULL DEFAULT 0,
	CONSTRAINT key_verifications_pkey PRIMARY KEY (key_id, hour),
	CONSTRAINT key_verifications_key_id_fkey FOREIGN KEY (key_id) REFERENCES api_keys (id),
	CONSTRAINT key_verifications_hour_check CHECK (hour = date_trunc('hour', hour, 'UTC')),
	CONSTRAINT key_verifications_counts_check CHECK (
		valid >= 0 AND disabled >= 0 AND expired >= 0 AND insufficient_permissions >= 0
		AND rate_limited >= 0 AND usage_exceeded >= 0)
);

CREATE INDEX key_verifications_hour ON key_verifications (hour);

-- +goose Down
DROP TABLE key_verifications;

-- Records of idempotent writes (creates made with an Idempotency-Key),
-- kept for 24 hours so that a client repeating a write it got no answer to
-- gets the first answer instead of a second key. id is the SHA-256 of the
-- caller's key id and the client's idempotency key, never the key itself;
-- sealed is the answer encrypted under a key derived from the idempotency
-- key, which Keyward does not keep: this table alone opens nothing.

-- +goose Up
CREATE TABLE key_idempotency (
	id         BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 32),
	request    BLOB    NOT NULL CHECK (length(request) = 32),
	key_id     INTEGER NOT NULL,
	sealed     BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX key_idempotency_expiry ON key_idempotency (expires_at);

-- +goose Down
DROP INDEX key_idempotency_expiry;
DROP TABLE key_idempotency;

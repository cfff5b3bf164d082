-- Records of idempotent writes (creates made with an Idempotency-Key),
-- kept for 24 hours so that a client repeating a write it got no answer to
-- gets the first answer instead of a second key. id is the SHA-256 of the
-- caller's key id and the client's idempotency key, never the key itself;
-- sealed is the answer encrypted under a key derived from the idempotency
-- key, which Keyward does not keep: this table alone opens nothing.

-- +goose Up
CREATE TABLE key_idempotency (
	id         bytea       NOT NULL,
	request    bytea       NOT NULL,
	key_id     bigint      NOT NULL,
	sealed     bytea       NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	CONSTRAINT key_idempotency_pkey PRIMARY KEY (id),
	CONSTRAINT key_idempotency_id_length CHECK (length(id) = 32),
	CONSTRAINT key_idempotency_request_length CHECK (length(request) = 32)
);

CREATE INDEX key_idempotency_expiry ON key_idempotency (expires_at);

-- +goose Down
DROP TABLE key_idempotency;

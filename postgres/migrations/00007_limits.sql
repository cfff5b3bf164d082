-- Rate limits and usage credits (issue 11), as SQLite's migration 9.
--
-- Every new column is nullable: a key made before has no rate limit and no
-- credits, which is what NULL says, and adding the columns rewrites no
-- row.
--
-- rate_limits is the key's limits as a JSON array, in the key's order, each
-- {"name": ..., "limit": ..., "duration_ms": ...}; NULL for none (never an
-- empty array). jsonb, as nothing needs it byte for byte: the store reads
-- it back into the domain's type.
--
-- credits_remaining is what the key may still spend, as stored (a refill
-- due is applied by the next spend); credits_refilled_at when it was last
-- set; both are set or neither (NULL: the key is unlimited).
-- credits_refill_amount and credits_refill_interval say how the credits
-- are refilled: both or neither, and only on a key with credits.

-- +goose Up
ALTER TABLE api_keys
	ADD COLUMN rate_limits             jsonb       NULL,
	ADD COLUMN credits_remaining       bigint      NULL,
	ADD COLUMN credits_refilled_at     timestamptz NULL,
	ADD COLUMN credits_refill_amount   bigint      NULL,
	ADD COLUMN credits_refill_interval text        NULL,
	ADD CONSTRAINT api_keys_rate_limits_list
		CHECK (jsonb_typeof(rate_limits) = 'array' AND jsonb_array_length(rate_limits) > 0),
	ADD CONSTRAINT api_keys_credits_not_negative CHECK (credits_remaining >= 0),
	ADD CONSTRAINT api_keys_credits_complete
		CHECK ((credits_remaining IS NULL) = (credits_refilled_at IS NULL)),
	ADD CONSTRAINT api_keys_credits_refill_positive CHECK (credits_refill_amount >= 1),
	ADD CONSTRAINT api_keys_credits_refill_interval
		CHECK (credits_refill_interval IN ('daily', 'monthly')),
	ADD CONSTRAINT api_keys_credits_refill_complete
		CHECK ((credits_refill_amount IS NULL) = (credits_refill_interval IS NULL)),
	ADD CONSTRAINT api_keys_credits_refill_has_credits
		CHECK (credits_refill_amount IS NULL OR credits_remaining IS NOT NULL);

-- +goose Down
-- The older schema knows no limits or credits: its keys are unlimited, and
-- so every key is after this migration (a key whose credits ran out
-- verifies again). The limits and credits are lost.
ALTER TABLE api_keys
	DROP CONSTRAINT api_keys_credits_refill_has_credits,
	DROP CONSTRAINT api_keys_credits_refill_complete,
	DROP CONSTRAINT api_keys_credits_refill_interval,
	DROP CONSTRAINT api_keys_credits_refill_positive,
	DROP CONSTRAINT api_keys_credits_complete,
	DROP CONSTRAINT api_keys_credits_not_negative,
	DROP CONSTRAINT api_keys_rate_limits_list,
	DROP COLUMN credits_refill_interval,
	DROP COLUMN credits_refill_amount,
	DROP COLUMN credits_refilled_at,
	DROP COLUMN credits_remaining,
	DROP COLUMN rate_limits;

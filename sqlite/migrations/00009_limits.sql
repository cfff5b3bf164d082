-- Rate limits and usage credits (issue 11).
--
-- The new api_keys columns are nullable and added in place (ALTER TABLE
-- ADD COLUMN rewrites no row): a key made before has no rate limit and no
-- credits, which is what NULL says.
--
-- rate_limits is the key's limits as a compact JSON array, in the key's
-- order, each {"name": ..., "limit": ..., "duration_ms": ...}; NULL for
-- none (never an empty array: one spelling per value). The limits are
-- only read with the key, never searched, so they need no columns of their
-- own.
--
-- credits_remaining is what the key may still spend, as stored (a refill
-- due is applied by the next spend); credits_refilled_at, unix
-- microseconds, when it was last set; both are set or neither (NULL: the
-- key is unlimited). credits_refill_amount and credits_refill_interval
-- say how the credits are refilled: both or neither, and only on a key
-- with credits.
--
-- Each column's checks name only itself and the columns added before it,
-- so that the down migration can drop them in the reverse order.

-- +goose Up
ALTER TABLE api_keys ADD COLUMN rate_limits TEXT NULL
	CHECK (json_array_length(rate_limits) > 0);
ALTER TABLE api_keys ADD COLUMN credits_remaining INTEGER NULL
	CHECK (credits_remaining >= 0);
ALTER TABLE api_keys ADD COLUMN credits_refilled_at INTEGER NULL
	CHECK ((credits_refilled_at IS NULL) = (credits_remaining IS NULL));
ALTER TABLE api_keys ADD COLUMN credits_refill_amount INTEGER NULL
	CHECK (credits_refill_amount >= 1)
	CHECK (credits_refill_amount IS NULL OR credits_remaining IS NOT NULL);
ALTER TABLE api_keys ADD COLUMN credits_refill_interval TEXT NULL
	CHECK (credits_refill_interval IN ('daily', 'monthly'))
	CHECK ((credits_refill_interval IS NULL) = (credits_refill_amount IS NULL));

-- +goose Down
-- The older schema knows no limits or credits: its keys are unlimited, and
-- so every key is after this migration (a key whose credits ran out
-- verifies again). The limits and credits are lost.
ALTER TABLE api_keys DROP COLUMN credits_refill_interval;
ALTER TABLE api_keys DROP COLUMN credits_refill_amount;
ALTER TABLE api_keys DROP COLUMN credits_refilled_at;
ALTER TABLE api_keys DROP COLUMN credits_remaining;
ALTER TABLE api_keys DROP COLUMN rate_limits;

-- key_usage is renamed key_last_used: it holds each key's last use, and
-- "usage" is kept for what usage limits will count.

-- +goose Up
ALTER TABLE key_usage RENAME TO key_last_used;
ALTER TABLE key_last_used RENAME CONSTRAINT key_usage_pkey TO key_last_used_pkey;
ALTER TABLE key_last_used RENAME CONSTRAINT key_usage_id_fkey TO key_last_used_id_fkey;

-- +goose Down
ALTER TABLE key_last_used RENAME CONSTRAINT key_last_used_id_fkey TO key_usage_id_fkey;
ALTER TABLE key_last_used RENAME CONSTRAINT key_last_used_pkey TO key_usage_pkey;
ALTER TABLE key_last_used RENAME TO key_usage;

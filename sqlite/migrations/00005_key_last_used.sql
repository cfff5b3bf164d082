-- key_usage is renamed key_last_used: it holds each key's last use, and
-- "usage" is kept for what usage limits will count.

-- +goose Up
ALTER TABLE key_usage RENAME TO key_last_used;

-- +goose Down
ALTER TABLE key_last_used RENAME TO key_usage;

-- Deleted keys' records are removed once the retention period has passed
-- (see PruneDeletedKeys); this index finds them without reading the live
-- keys.

-- +goose Up
CREATE INDEX api_keys_deleted ON api_keys (deleted_at) WHERE deleted_at IS NOT NULL;

-- +goose Down
DROP INDEX api_keys_deleted;

-- The revocation log becomes the invalidation feed's log: it is to record
-- every change that alters a verify answer (today a delete; later updates,
-- disables, rotations), not only revocations, so that the caches of other processes on the file forget
-- what changed. It is pruned (see Prune); key_invalidations_pruned records
-- how far, so that a watcher that fell behind the pruning knows it missed
-- entries and forgets everything it cached.

-- +goose Up
ALTER TABLE key_revocations RENAME TO key_invalidations;
ALTER TABLE key_invalidations RENAME COLUMN revoked_at TO changed_at;

-- At most one row: every entry with seq <= through has been pruned.
CREATE TABLE key_invalidations_pruned (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	through INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE key_invalidations_pruned;
ALTER TABLE key_invalidations RENAME COLUMN changed_at TO revoked_at;
ALTER TABLE key_invalidations RENAME TO key_revocations;

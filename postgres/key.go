package postgres

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward"
)

// keyColumns are the columns of a key, in the order scanKey reads them, as
// selected from (or returned by a change to) api_keys. The last use lives in
// key_last_used, a row per used key, found through its primary key.
const keyColumns = `id, org_id, root, name, permissions, secret_hash, hint, created_at,
	(SELECT u.last_used_at FROM key_last_used AS u WHERE u.id = api_keys.id), deleted_at`

// insertColumns are api_keys' own columns, as insertKey and ImportKeys
// write them.
var insertColumns = []string{"id", "org_id", "root", "name", "permissions", "secret_hash", "hint", "created_at", "deleted_at"}

// queryKeyByHash finds a live key by its secret hash, through the unique
// index on secret_hash.
const queryKeyByHash = `SELECT ` + keyColumns + ` FROM api_keys WHERE secret_hash = $1 AND deleted_at IS NULL`

// queryKey finds a live key by id, through the primary key.
const queryKey = `SELECT ` + keyColumns + ` FROM api_keys
	WHERE id = $1 AND org_id = $2 AND root = $3 AND deleted_at IS NULL`

// queryKeyByID finds a live key by id alone, through the primary key.
const queryKeyByID = `SELECT ` + keyColumns + ` FROM api_keys WHERE id = $1 AND deleted_at IS NULL`

// CreateKey stores k. It fails with ECONFLICT if k's id or secret hash is
// taken, by a live key or a deleted one.
func (db *DB) CreateKey(ctx context.Context, k *keyward.Key) error {
	if err := insertKey(ctx, db.pool, k); err != nil {
		return fmt.Errorf("create key: %w", mapError(ctx, err))
	}
	return nil
}

// ImportKeys stores many new keys in one transaction, all or none, with
// COPY: for bulk loads (imports, benchmarks). Like CreateKey it fails with
// ECONFLICT if an id or secret hash is taken.
//
// A process that looked up an imported key's secret before the import (it
// was made elsewhere) and remembered it as unknown goes on refusing it for
// up to its cache's NegativeTTL (5 s by default).
func (db *DB) ImportKeys(ctx context.Context, keys []*keyward.Key) error {
	rows := make([][]any, len(keys))
	var used [][]any
	for i, k := range keys {
		if k == nil {
			return fmt.Errorf("import keys: no key")
		}
		rows[i] = insertValues(k)
		if k.LastUsedAt != nil {
			used = append(used, []any{int64(k.ID), micros(*k.LastUsedAt)})
		}
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("import keys: %w", mapError(ctx, err))
	}
	defer rollback(ctx, tx)
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"api_keys"}, insertColumns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("import keys: %w", mapError(ctx, err))
	}
	if len(used) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"key_last_used"}, []string{"id", "last_used_at"}, pgx.CopyFromRows(used)); err != nil {
			return fmt.Errorf("import keys: %w", mapError(ctx, err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("import keys: %w", mapError(ctx, err))
	}
	return nil
}

// BootstrapRootKey stores k, a root key, only if the database has never held
// a key and never been bootstrapped.
//
// A store once used stays used (keys are never removed, and the bootstrap
// leaves a record), so a first look without a lock settles every call but
// those on a new store. These take a SHARE ROW EXCLUSIVE lock on api_keys,
// which no two transactions hold at once and which waits for, and then
// holds off, every transaction writing to the table; the look again under
// the lock then sees every key committed, and of several processes
// bootstrapping one store exactly one stores its key.
func (db *DB) BootstrapRootKey(ctx context.Context, k *keyward.Key) (bool, error) {
	if k == nil || !k.Root || k.OrgID != "" {
		return false, fmt.Errorf("bootstrap root key: the key is not a root key")
	}
	used, err := everUsed(ctx, db.pool)
	if err != nil {
		return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
	}
	if used {
		return false, nil
	}

	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
	}
	defer rollback(ctx, tx)
	if _, err := tx.Exec(ctx, `LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
	}
	// In READ COMMITTED, this statement's snapshot is taken after the lock
	// is granted, so it sees every key a writer committed before.
	used, err = everUsed(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
	}
	if used {
		return false, nil
	}
	if _, err := tx.Exec(ctx,
		`INSERT INTO keyward_bootstrap (id, bootstrapped_at) VALUES (1, $1)`, micros(k.CreatedAt),
	); err != nil {
		return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
	}
	if err := insertKey(ctx, tx, k); err != nil {
		return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
	}
	return true, nil
}

// KeyByHash returns the live key whose secret hashes to h, or ENOTFOUND.
// It runs on every authenticated request: one statement, which pgx
// prepares once per connection, through the unique index on secret_hash.
func (db *DB) KeyByHash(ctx context.Context, h keyward.SecretHash) (*keyward.Key, error) {
	k, err := scanKey(db.pool.QueryRow(ctx, queryKeyByHash, h[:]))
	if err != nil {
		return nil, fmt.Errorf("find key by hash: %w", mapError(ctx, err))
	}
	return k, nil
}

// Key returns the live key id of org, or ENOTFOUND. Root keys are in the
// empty organization.
func (db *DB) Key(ctx context.Context, org keyward.OrgID, id keyward.KeyID) (*keyward.Key, error) {
	k, err := scanKey(db.pool.QueryRow(ctx, queryKey, int64(id), string(org), org == ""))
	if err != nil {
		return nil, fmt.Errorf("get key: %w", mapError(ctx, err))
	}
	return k, nil
}

// KeyByID returns the live key id, whatever its organization, or
// ENOTFOUND.
func (db *DB) KeyByID(ctx context.Context, id keyward.KeyID) (*keyward.Key, error) {
	k, err := scanKey(db.pool.QueryRow(ctx, queryKeyByID, int64(id)))
	if err != nil {
		return nil, fmt.Errorf("get key by id: %w", mapError(ctx, err))
	}
	return k, nil
}

// ListKeys returns f.OrgID's live keys (or, with f.Root, the live root
// keys), newest first by creation time and then id, after f.After, at most
// f.Limit of them; a Limit below 1 sets no limit.
func (db *DB) ListKeys(ctx context.Context, f keyward.KeyFilter) ([]*keyward.Key, error) {
	q, args := listKeysQuery(f)
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", mapError(ctx, err))
	}
	defer rows.Close()
	keys := make([]*keyward.Key, 0, min(max(f.Limit, 0), 100))
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", mapError(ctx, err))
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", mapError(ctx, err))
	}
	return keys, nil
}

// DeleteKey marks the live key id of org deleted at the given time and
// returns it as it now stands, or fails with ENOTFOUND. The check and the
// change are one statement, so of two concurrent deletes exactly one finds
// the key live (the other waits for its row lock, then sees it deleted).
//
// The same transaction notifies NotifyChannel with the key's hash, so that
// every Watch hears of the delete once it is committed, and never of one
// that is not.
func (db *DB) DeleteKey(ctx context.Context, org keyward.OrgID, id keyward.KeyID, at time.Time) (*keyward.Key, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("delete key: %w", mapError(ctx, err))
	}
	defer rollback(ctx, tx)
	k, err := scanKey(tx.QueryRow(ctx,
		`UPDATE api_keys SET deleted_at = $1
		WHERE id = $2 AND org_id = $3 AND root = $4 AND deleted_at IS NULL
		RETURNING `+keyColumns,
		micros(at), int64(id), string(org), org == "",
	))
	if err != nil {
		return nil, fmt.Errorf("delete key: %w", mapError(ctx, err))
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, hex.EncodeToString(k.Hash[:])); err != nil {
		return nil, fmt.Errorf("delete key: %w", mapError(ctx, err))
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("delete key: %w", mapError(ctx, err))
	}
	return k, nil
}

// TouchKeys records uses of keys in one statement, never moving a key's
// last use back. The uses go to key_last_used, a narrow table, so that the key
// records verification reads are never rewritten; the join with api_keys
// ignores ids that do not exist.
//
// Each key's latest use in the batch is found first, and the rows are
// upserted in id order, so that batches of several processes, which lock
// the same rows in the same order, wait for each other instead of
// deadlocking.
func (db *DB) TouchKeys(ctx context.Context, uses []keyward.KeyUse) error {
	if len(uses) == 0 {
		return nil
	}
	latest := make(map[int64]time.Time, len(uses))
	for _, u := range uses {
		at := micros(u.At)
		if t, ok := latest[int64(u.ID)]; !ok || at.After(t) {
			latest[int64(u.ID)] = at
		}
	}
	ids := slices.Sorted(maps.Keys(latest))
	ats := make([]time.Time, len(ids))
	for i, id := range ids {
		ats[i] = latest[id]
	}

	if _, err := db.pool.Exec(ctx,
		`INSERT INTO key_last_used AS u (id, last_used_at)
		SELECT k.id, t.at
		FROM unnest($1::bigint[], $2::timestamptz[]) AS t (id, at)
		JOIN api_keys AS k ON k.id = t.id
		ORDER BY k.id
		ON CONFLICT (id) DO UPDATE SET last_used_at = greatest(u.last_used_at, excluded.last_used_at)`,
		ids, ats,
	); err != nil {
		return fmt.Errorf("touch keys: %w", mapError(ctx, err))
	}
	return nil
}

// rollbackTimeout bounds the rollback of a transaction that failed.
const rollbackTimeout = 5 * time.Second

// rollback rolls tx back unless it has been committed. It runs even when
// ctx is done, so that the connection goes back to the pool clean rather
// than being closed, but not for longer than rollbackTimeout.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	_ = tx.Rollback(ctx) // after Commit, pgx.ErrTxClosed; otherwise the failure the caller returns says more
}

// listKeysQuery returns ListKeys' statement and its arguments. The
// condition on deleted_at matches the partial index's, and the order its
// order, so the server walks the index and stops at the limit, without
// sorting.
func listKeysQuery(f keyward.KeyFilter) (string, []any) {
	q := `SELECT ` + keyColumns + ` FROM api_keys
		WHERE org_id = $1 AND root = $2 AND deleted_at IS NULL`
	args := []any{string(f.OrgID), f.Root}
	if f.After != nil {
		// A row comparison: the index range starts just past the cursor.
		q += ` AND (created_at, id) < ($3, $4)`
		args = append(args, micros(f.After.CreatedAt), int64(f.After.ID))
	}
	q += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args)+1)
	var limit *int64 // NULL: no limit
	if f.Limit >= 1 {
		n := int64(f.Limit)
		limit = &n
	}
	return q, append(args, limit)
}

// querier is a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// insertKey inserts k as a new row, and its last use, if it has one, in
// the same statement: on the pool, that is one transaction. A new key
// needs no notification: no process can have looked up, and remembered as
// unknown, a secret that did not exist (and a NOTIFY would serialize the
// commits of every create on the server's notification queue).
func insertKey(ctx context.Context, q querier, k *keyward.Key) error {
	if k == nil {
		return fmt.Errorf("no key")
	}
	insert := `INSERT INTO api_keys (` + strings.Join(insertColumns, ", ") + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	args := insertValues(k)
	if k.LastUsedAt != nil {
		insert = `WITH k AS (` + insert + ` RETURNING id)
			INSERT INTO key_last_used (id, last_used_at) SELECT id, $10 FROM k`
		args = append(args, micros(*k.LastUsedAt))
	}
	_, err := q.Exec(ctx, insert, args...)
	return err
}

// insertValues are k's values of insertColumns.
func insertValues(k *keyward.Key) []any {
	perms := make([]string, len(k.Permissions)) // never nil: NOT NULL
	for i, p := range k.Permissions {
		perms[i] = string(p)
	}
	return []any{
		int64(k.ID), string(k.OrgID), k.Root, k.Name, perms, k.Hash[:], k.Hint,
		micros(k.CreatedAt), microsOrNull(k.DeletedAt),
	}
}

// PruneDeletedKeys removes, in one statement, the records of at most limit
// keys deleted before the given time, oldest first, and their last uses.
// It also records the store as bootstrapped, if it is not: with every
// record gone, a store must still not take a new root key. Rows another
// transaction holds are left for the next call.
func (db *DB) PruneDeletedKeys(ctx context.Context, deletedBefore time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	tag, err := db.pool.Exec(ctx, `WITH gone AS (
			SELECT id FROM api_keys WHERE deleted_at IS NOT NULL AND deleted_at < $1
			ORDER BY deleted_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
		), used AS (
			DELETE FROM key_last_used WHERE id IN (SELECT id FROM gone)
		), marked AS (
			INSERT INTO keyward_bootstrap (id, bootstrapped_at)
			SELECT 1, now() WHERE EXISTS (SELECT FROM gone)
			ON CONFLICT (id) DO NOTHING
		)
		DELETE FROM api_keys WHERE id IN (SELECT id FROM gone)`,
		micros(deletedBefore), limit)
	if err != nil {
		return 0, fmt.Errorf("prune deleted keys: %w", mapError(ctx, err))
	}
	return int(tag.RowsAffected()), nil
}

// everUsed reports whether the database has been bootstrapped or holds a
// key, live or deleted (PruneDeletedKeys marks the store bootstrapped
// before it removes any).
func everUsed(ctx context.Context, q querier) (bool, error) {
	var used bool
	err := q.QueryRow(ctx,
		`SELECT EXISTS (SELECT FROM keyward_bootstrap) OR EXISTS (SELECT FROM api_keys)`,
	).Scan(&used)
	return used, err
}

// scanKey reads one row of keyColumns into a new Key.
func scanKey(row pgx.Row) (*keyward.Key, error) {
	var (
		k                 keyward.Key
		id                int64
		org               string
		perms             []string
		hash              []byte
		createdAt         time.Time
		lastUsed, deleted *time.Time
	)
	if err := row.Scan(&id, &org, &k.Root, &k.Name, &perms, &hash, &k.Hint, &createdAt, &lastUsed, &deleted); err != nil {
		return nil, err
	}
	k.ID = keyward.KeyID(id)
	if len(hash) != len(k.Hash) {
		return nil, fmt.Errorf("key %v: stored secret hash has %d bytes, want %d", k.ID, len(hash), len(k.Hash))
	}
	copy(k.Hash[:], hash)
	k.OrgID = keyward.OrgID(org)
	if len(perms) > 0 {
		k.Permissions = make([]keyward.Permission, len(perms))
		for i, p := range perms {
			k.Permissions[i] = keyward.Permission(p)
		}
	}
	k.CreatedAt = createdAt.UTC()
	if lastUsed != nil {
		t := lastUsed.UTC()
		k.LastUsedAt = &t
	}
	if deleted != nil {
		t := deleted.UTC()
		k.DeletedAt = &t
	}
	return &k, nil
}

// micros is t in UTC, its nanoseconds below the microsecond dropped, as a
// timestamptz keeps it: whatever the query mode, the value stored is the
// value truncated, never rounded up.
func micros(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// microsOrNull is micros(*t), or NULL for nil.
func microsOrNull(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	m := micros(*t)
	return &m
}

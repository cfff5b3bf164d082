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
const keyColumns = keyHead + `(SELECT u.last_used_at FROM key_last_used AS u WHERE u.id = api_keys.id) AS last_used_at, ` + keyTail

// cacheColumns are keyColumns without the last use (NULL in its place),
// for reads whose keys go to a cache, which keeps no last use.
const cacheColumns = keyHead + `NULL::timestamptz AS last_used_at, ` + keyTail

// keyHead and keyTail are the columns before and after the last use.
const (
	keyHead = `id, org_id, root, name, permissions, secret_hash, hint, created_at, `
	keyTail = `deleted_at, expires_at, disabled, metadata, updated_at, created_by, version,
		prev_secret_hash, prev_expires_at, rate_limits, credits_remaining, credits_refilled_at,
		credits_refill_amount, credits_refill_interval`
)

// insertColumns are api_keys' own columns, as insertKey and ImportKeys
// write them.
var insertColumns = []string{
	"id", "org_id", "root", "name", "permissions", "secret_hash", "hint", "created_at", "deleted_at",
	"expires_at", "disabled", "metadata", "updated_at", "created_by", "version", "prev_secret_hash", "prev_expires_at",
	"rate_limits", "credits_remaining", "credits_refilled_at", "credits_refill_amount", "credits_refill_interval",
}

// queryKeyByHash finds a live key by its secret hash or by its previous
// secret's, each through its unique index: the first branch is read first,
// so a key found by its current secret costs one index probe.
const queryKeyByHash = `SELECT ` + keyColumns + ` FROM api_keys WHERE secret_hash = $1 AND deleted_at IS NULL
	UNION ALL
	SELECT ` + keyColumns + ` FROM api_keys WHERE prev_secret_hash = $1 AND deleted_at IS NULL
	LIMIT 1`

// queryKey finds a live key by id, through the primary key.
const queryKey = `SELECT ` + keyColumns + ` FROM api_keys
	WHERE id = $1 AND org_id = $2 AND root = $3 AND deleted_at IS NULL`

// queryKeyByID finds a live key by id alone, through the primary key.
const queryKeyByID = `SELECT ` + keyColumns + ` FROM api_keys WHERE id = $1 AND deleted_at IS NULL`

// queryKeyForUpdate reads a key, live or deleted, for UpdateKey, and locks
// its row until the transaction ends. FOR NO KEY UPDATE, not FOR UPDATE:
// it holds off every other update of the key, but not the foreign-key
// checks of TouchKeys, which take KEY SHARE locks on the keys they touch.
const queryKeyForUpdate = `SELECT ` + keyColumns + ` FROM api_keys
	WHERE id = $1 AND org_id = $2 AND root = $3
	FOR NO KEY UPDATE`

// updateKey writes UpdateKey's change: the mutable columns, in
// updateValues' order after the id, and the next version.
const updateKey = `UPDATE api_keys SET
	name = $2, permissions = $3, secret_hash = $4, hint = $5, deleted_at = $6,
	expires_at = $7, disabled = $8, metadata = $9, updated_at = $10,
	prev_secret_hash = $11, prev_expires_at = $12, rate_limits = $13, credits_remaining = $14,
	credits_refilled_at = $15, credits_refill_amount = $16, credits_refill_interval = $17,
	version = version + 1
	WHERE id = $1
	RETURNING ` + keyColumns

// CreateKey stores k and, in the same transaction, ev, the audit event of
// its creation (nil for none), and announces its hashes on NotifyChannel
// (notifyCreated). It fails with ECONFLICT if k's id or secret hash is
// taken, by a live key or a deleted one.
func (db *DB) CreateKey(ctx context.Context, k *keyward.Key, ev *keyward.AuditEvent) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("create key: %w", mapError(ctx, err))
	}
	defer rollback(ctx, tx)
	if err := insertKey(ctx, tx, k); err != nil {
		return fmt.Errorf("create key: %w", mapError(ctx, err))
	}
	if ev != nil {
		if err := insertEvent(ctx, tx, ev); err != nil {
			return fmt.Errorf("create key: %w", mapError(ctx, err))
		}
	}
	if err := notifyCreated(ctx, tx, k); err != nil {
		return fmt.Errorf("create key: %w", mapError(ctx, err))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("create key: %w", mapError(ctx, err))
	}
	return nil
}

// ImportKeys stores many new keys in one transaction, all or none, with
// COPY: for bulk loads (imports, benchmarks). Like CreateKey it fails with
// ECONFLICT if an id or secret hash is taken.
//
// An import announces nothing on NotifyChannel (a million notifications
// would fill the server's queue): a keyward instance already running
// learns of an imported key only when it looks one up that its cache's
// membership set does not hold, which it does at a bounded rate
// (--max-unknown-lookups); past that rate it refuses the others
// (NOT_FOUND) until it has looked them up, or restarts. Import into a
// database no instance serves yet, or restart the instances after.
func (db *DB) ImportKeys(ctx context.Context, keys []*keyward.Key) error {
	rows := make([][]any, len(keys))
	var used [][]any
	for i, k := range keys {
		if err := checkNewKey(k); err != nil {
			return fmt.Errorf("import keys: %w", err)
		}
		v, err := insertValues(k)
		if err != nil {
			return fmt.Errorf("import keys: %w", err)
		}
		rows[i] = v
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
func (db *DB) BootstrapRootKey(ctx context.Context, k *keyward.Key, ev *keyward.AuditEvent) (bool, error) {
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
	if ev != nil {
		if err := insertEvent(ctx, tx, ev); err != nil {
			return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
		}
	}
	if err := notifyCreated(ctx, tx, k); err != nil {
		return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
	}
	return true, nil
}

// KeyByHash returns the live key whose secret, or previous secret (in a
// grace period or not: the service decides), hashes to h, or ENOTFOUND. It
// runs on every authenticated request: one statement, which pgx prepares
// once per connection, through the unique indexes on secret_hash and
// prev_secret_hash.
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

// ListKeys returns f.OrgID's keys (or, with f.Root, the root keys) in the
// states f.States at f.Now (every live key if States is nil), newest first
// by creation time and then id, after f.After, at most f.Limit of them; a
// Limit below 1 sets no limit.
func (db *DB) ListKeys(ctx context.Context, f keyward.KeyFilter) ([]*keyward.Key, error) {
	q, args, err := listKeysQuery(f)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	if q == "" {
		return []*keyward.Key{}, nil
	}
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

// UpdateKey changes key id of org, live or deleted, with update, in one
// transaction (keyward.KeyStore's contract). It reads the row and locks it
// (concurrent updates of the key queue behind the lock, and each reads
// what the one before wrote), calls update, writes the mutable fields it
// returns with the next version, the audit event it returns, and a
// notification on NotifyChannel for every hash the key had before and has
// after (Key.Hashes), so that every Watch hears of the change once it is
// committed, and never of one that is not. If update fails nothing is
// written, and its error is returned, wrapped.
func (db *DB) UpdateKey(ctx context.Context, org keyward.OrgID, id keyward.KeyID, update keyward.KeyUpdate) (*keyward.Key, error) {
	if update == nil {
		return nil, fmt.Errorf("update key: no update")
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("update key: %w", mapError(ctx, err))
	}
	defer rollback(ctx, tx)
	old, err := scanKey(tx.QueryRow(ctx, queryKeyForUpdate, int64(id), string(org), org == ""))
	if err != nil {
		return nil, fmt.Errorf("update key: %w", mapError(ctx, err))
	}
	// Taken before update runs, which may change what old points to.
	hashes := old.Hashes()
	was := old.Clone()
	k, ev, err := update(*old.Clone())
	if err != nil {
		return nil, fmt.Errorf("update key: %w", err)
	}
	// ID, OrgID, Root, CreatedAt, CreatedBy and LastUsedAt are not
	// written: the row keeps them whatever update returned.
	values, err := updateValues(old.ID, &k)
	if err != nil {
		return nil, fmt.Errorf("update key: %w", err)
	}
	updated, err := scanKey(tx.QueryRow(ctx, updateKey, values...))
	if err != nil {
		return nil, fmt.Errorf("update key: %w", mapError(ctx, err))
	}
	if ev != nil {
		if err := insertEvent(ctx, tx, ev); err != nil {
			return nil, fmt.Errorf("update key: %w", mapError(ctx, err))
		}
	}
	if err := notify(ctx, tx, append(hashes, updated.Hashes()...)); err != nil {
		return nil, fmt.Errorf("update key: %w", mapError(ctx, err))
	}
	if keyward.EndsSessions(was, updated) {
		if _, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE key_id = $1`, int64(updated.ID)); err != nil {
			return nil, fmt.Errorf("update key: end console sessions: %w", mapError(ctx, err))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("update key: %w", mapError(ctx, err))
	}
	return updated, nil
}

// notify announces on NotifyChannel, in tx, that the keys with the given
// hashes changed: one notification per distinct hash, in one statement,
// after one on CommittedChannel that gives the database's time and their
// number (see CommittedChannel).
func notify(ctx context.Context, tx pgx.Tx, hashes []keyward.SecretHash) error {
	payloads := make([]string, 0, len(hashes))
	for _, h := range hashes {
		if p := hex.EncodeToString(h[:]); !slices.Contains(payloads, p) {
			payloads = append(payloads, p)
		}
	}
	_, err := tx.Exec(ctx, notifyQuery, CommittedChannel, NotifyChannel, len(payloads), payloads)
	return err
}

// notifyQuery sends, in order (PostgreSQL evaluates pg_notify after the
// sort), the time and count on $1, then each payload of $4 on $2.
const notifyQuery = `SELECT pg_notify(c, p) FROM (
		SELECT $1::text AS c,
			(extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text || ' ' || $3::int AS p,
			0::bigint AS i
		UNION ALL
		SELECT $2::text, p, i FROM unnest($4::text[]) WITH ORDINALITY AS t (p, i)
	) AS n ORDER BY i`

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
	if err := touchKeys(ctx, db.pool, uses); err != nil {
		return fmt.Errorf("touch keys: %w", mapError(ctx, err))
	}
	return nil
}

// touchKeys upserts uses into key_last_used in one statement.
func touchKeys(ctx context.Context, q querier, uses []keyward.KeyUse) error {
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

	_, err := q.Exec(ctx,
		`INSERT INTO key_last_used AS u (id, last_used_at)
		SELECT k.id, t.at
		FROM unnest($1::bigint[], $2::timestamptz[]) AS t (id, at)
		JOIN api_keys AS k ON k.id = t.id
		ORDER BY k.id
		ON CONFLICT (id) DO UPDATE SET last_used_at = greatest(u.last_used_at, excluded.last_used_at)`,
		ids, ats,
	)
	return err
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

// listKeysQuery returns ListKeys' statement and its arguments, or no
// statement for a filter that selects nothing (an empty, non-nil States).
//
// Live keys are read through api_keys_live_by_org, deleted ones through
// api_keys_deleted_by_org; each branch's condition on deleted_at matches
// its partial index's and its order the index's order, so the server walks
// the index and stops at the limit, without sorting. A listing of live and
// deleted keys is the two branches, merged in order (a Merge Append). The
// state of a live key, which depends on the time, filters the index's
// rows.
func listKeysQuery(f keyward.KeyFilter) (string, []any, error) {
	live, deleted, err := stateConditions(f.States)
	if err != nil {
		return "", nil, err
	}
	args := []any{string(f.OrgID), f.Root}
	var cursor string
	if f.After != nil {
		// A row comparison: the index range starts just past the cursor.
		cursor = ` AND (created_at, id) < ($3, $4)`
		args = append(args, micros(f.After.CreatedAt), int64(f.After.ID))
	}
	if live != "" && strings.Contains(live, "$now") {
		args = append(args, micros(f.Now))
		live = strings.ReplaceAll(live, "$now", fmt.Sprintf("$%d", len(args)))
	}
	if f.Name != "" {
		// lower() under the "C" collation folds ASCII letters only, as
		// SQLite's does and the contract asks.
		args = append(args, f.Name)
		cursor += fmt.Sprintf(` AND strpos(lower(name COLLATE "C"), lower($%d COLLATE "C")) > 0`, len(args))
	}
	var limit *int64 // NULL: no limit
	if f.Limit >= 1 {
		n := int64(f.Limit)
		limit = &n
	}
	args = append(args, limit)
	order := fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args))
	branch := func(cond string) string {
		return `SELECT ` + keyColumns + ` FROM api_keys
		WHERE org_id = $1 AND root = $2 AND ` + cond + cursor
	}
	switch {
	case live != "" && deleted:
		// A UNION ALL in a subquery, each branch in order, is one
		// relation of two parts that the planner can merge in order (a
		// UNION ALL at the top is appended, then sorted; and a branch
		// without its ORDER BY is planned as if its order did not matter).
		return `SELECT * FROM ((` + branch(live) + order + `) UNION ALL (` + branch(`deleted_at IS NOT NULL`) + order + `)) AS k` + order, args, nil
	case live != "":
		return branch(live) + order, args, nil
	case deleted:
		return branch(`deleted_at IS NOT NULL`) + order, args, nil
	}
	return "", nil, nil
}

// stateConditions returns the condition on a live key's row that selects
// the live states among states (none if it selects no live key), with
// $now standing for the time the states are at, and whether states
// selects deleted keys. nil states selects every live key.
func stateConditions(states []keyward.KeyState) (live string, deleted bool, err error) {
	if states == nil {
		return `deleted_at IS NULL`, false, nil
	}
	var active, disabled, expired bool
	for _, s := range states {
		switch s {
		case keyward.StateActive:
			active = true
		case keyward.StateDisabled:
			disabled = true
		case keyward.StateExpired:
			expired = true
		case keyward.StateDeleted:
			deleted = true
		default:
			return "", false, keyward.Invalid("invalid key filter", keyward.FieldError{Field: "state", Reason: fmt.Sprintf("unknown state %q", s)})
		}
	}
	// As keyward.Key.State decides, with the expiry exclusive: a key is
	// expired at its expires_at.
	var conds []string
	switch {
	case active && disabled && expired:
		conds = nil // every live key
	case active && expired:
		conds = []string{`NOT disabled`}
	default:
		if active {
			conds = append(conds, `(NOT disabled AND (expires_at IS NULL OR expires_at > $now))`)
		}
		if expired {
			conds = append(conds, `(NOT disabled AND expires_at <= $now)`)
		}
		if disabled {
			conds = append(conds, `disabled`)
		}
	}
	if !active && !disabled && !expired {
		return "", deleted, nil
	}
	live = `deleted_at IS NULL`
	if len(conds) > 0 {
		live += ` AND (` + strings.Join(conds, ` OR `) + `)`
	}
	return live, deleted, nil
}

// querier is a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// insertKey inserts k as a new row, and its last use, if it has one, in
// the same statement. It announces nothing: the create that calls it does
// (notifyCreated), in its transaction.
func insertKey(ctx context.Context, q querier, k *keyward.Key) error {
	if err := checkNewKey(k); err != nil {
		return err
	}
	params := make([]string, len(insertColumns))
	for i := range params {
		params[i] = fmt.Sprintf("$%d", i+1)
	}
	insert := `INSERT INTO api_keys (` + strings.Join(insertColumns, ", ") + `) VALUES (` + strings.Join(params, ", ") + `)`
	args, err := insertValues(k)
	if err != nil {
		return err
	}
	if k.LastUsedAt != nil {
		insert = `WITH k AS (` + insert + ` RETURNING id)
			INSERT INTO key_last_used (id, last_used_at) SELECT id, $` + fmt.Sprint(len(args)+1) + ` FROM k`
		args = append(args, micros(*k.LastUsedAt))
	}
	_, err = q.Exec(ctx, insert, args...)
	return err
}

// checkNewKey refuses what no new key can be, before any statement runs,
// as SQLite's insertKey does: no key at all, or a version below 1 (which
// the schema's api_keys_version_positive refuses too, less clearly).
func checkNewKey(k *keyward.Key) error {
	if k == nil {
		return fmt.Errorf("no key")
	}
	if k.Version < 1 {
		return fmt.Errorf("key %v: version %d; a key's version starts at 1", k.ID, k.Version)
	}
	return nil
}

// insertValues are k's values of insertColumns.
func insertValues(k *keyward.Key) ([]any, error) {
	limits, err := rateLimitsValue(k.RateLimits)
	if err != nil {
		return nil, err
	}
	prevHash, prevExpires := previousValues(k.Previous)
	remaining, refilledAt, amount, interval := creditsValues(k.Credits)
	return []any{
		int64(k.ID), string(k.OrgID), k.Root, k.Name, permissionNames(k.Permissions), k.Hash[:], k.Hint,
		micros(k.CreatedAt), microsOrNull(k.DeletedAt),
		microsOrNull(k.ExpiresAt), k.Disabled, textOrNull(k.Metadata), micros(k.UpdatedAt),
		textOrNull(k.CreatedBy), k.Version, prevHash, prevExpires,
		limits, remaining, refilledAt, amount, interval,
	}, nil
}

// updateValues are updateKey's arguments: the id of the key to change,
// then k's values of the columns an update writes.
func updateValues(id keyward.KeyID, k *keyward.Key) ([]any, error) {
	limits, err := rateLimitsValue(k.RateLimits)
	if err != nil {
		return nil, err
	}
	prevHash, prevExpires := previousValues(k.Previous)
	remaining, refilledAt, amount, interval := creditsValues(k.Credits)
	return []any{
		int64(id), k.Name, permissionNames(k.Permissions), k.Hash[:], k.Hint, microsOrNull(k.DeletedAt),
		microsOrNull(k.ExpiresAt), k.Disabled, textOrNull(k.Metadata), micros(k.UpdatedAt),
		prevHash, prevExpires, limits, remaining, refilledAt, amount, interval,
	}, nil
}

// permissionNames is ps as the permissions column holds it: never nil, as
// the column is NOT NULL.
func permissionNames(ps []keyward.Permission) []string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = string(p)
	}
	return names
}

// previousValues are the values of prev_secret_hash and prev_expires_at:
// both NULL for none.
func previousValues(p *keyward.PreviousSecret) (hash []byte, expires *time.Time) {
	if p == nil {
		return nil, nil
	}
	return p.Hash[:], microsOrNull(&p.ExpiresAt)
}

// textOrNull is s, or NULL for "": the columns whose empty value is NULL.
func textOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// PruneDeletedKeys removes, in one statement, the records of at most limit
// keys deleted before the given time, oldest first, and their last uses
// and verification counts. It also records the store as bootstrapped, if it is not: with every
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
		), counted AS (
			DELETE FROM key_verifications WHERE key_id IN (SELECT id FROM gone)
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
		k                    keyward.Key
		id                   int64
		org                  string
		perms                []string
		hash, prevHash       []byte
		createdAt, updatedAt time.Time
		lastUsed, deleted    *time.Time
		expires, prevExpires *time.Time
		metadata, createdBy  *string
		limits               []byte
		credits              creditsColumns
	)
	if err := row.Scan(&id, &org, &k.Root, &k.Name, &perms, &hash, &k.Hint, &createdAt, &lastUsed, &deleted,
		&expires, &k.Disabled, &metadata, &updatedAt, &createdBy, &k.Version, &prevHash, &prevExpires,
		&limits, &credits.remaining, &credits.refilledAt, &credits.amount, &credits.interval,
	); err != nil {
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
	k.UpdatedAt = updatedAt.UTC()
	k.LastUsedAt = utcOrNil(lastUsed)
	k.DeletedAt = utcOrNil(deleted)
	k.ExpiresAt = utcOrNil(expires)
	if metadata != nil {
		k.Metadata = *metadata
	}
	if createdBy != nil {
		k.CreatedBy = *createdBy
	}
	if prevHash != nil {
		p := &keyward.PreviousSecret{}
		if len(prevHash) != len(p.Hash) || prevExpires == nil {
			return nil, fmt.Errorf("key %v: stored previous secret is incomplete", k.ID)
		}
		copy(p.Hash[:], prevHash)
		p.ExpiresAt = prevExpires.UTC()
		k.Previous = p
	}
	if limits != nil {
		ls, err := parseRateLimits(limits)
		if err != nil {
			return nil, fmt.Errorf("key %v: stored rate limits: %w", k.ID, err)
		}
		k.RateLimits = ls
	}
	c, err := credits.credits()
	if err != nil {
		return nil, fmt.Errorf("key %v: stored credits: %w", k.ID, err)
	}
	k.Credits = c
	return &k, nil
}

// utcOrNil is *t in UTC, or nil.
func utcOrNil(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
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

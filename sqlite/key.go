package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// keyColumns are the columns of a key, in the order scanKey reads them, as
// selected from (or returned by a change to) api_keys. The last use lives in
// key_last_used, a row per used key, found through its primary key.
const keyColumns = keyHead + `(SELECT u.last_used_at FROM key_last_used AS u WHERE u.id = api_keys.id), ` + keyTail

// cacheColumns are keyColumns without the last use (NULL in its place),
// for reads whose keys go to a cache, which keeps no last use.
const cacheColumns = keyHead + `NULL, ` + keyTail

// keyHead and keyTail are the columns before and after the last use.
const (
	keyHead = `id, org_id, root, name, permissions, secret_hash, hint, created_at, `
	keyTail = `deleted_at, expires_at, disabled, metadata, updated_at, created_by, version,
		prev_secret_hash, prev_expires_at, rate_limits, credits_remaining, credits_refilled_at,
		credits_refill_amount, credits_refill_interval`
)

// insertColumns are api_keys' own columns, as insertKey writes them.
const insertColumns = `id, org_id, root, name, permissions, secret_hash, hint, created_at, deleted_at,
	expires_at, disabled, metadata, updated_at, created_by, version, prev_secret_hash, prev_expires_at,
	rate_limits, credits_remaining, credits_refilled_at, credits_refill_amount, credits_refill_interval`

// queryKeyByHash finds a live key by its secret hash or by its previous
// secret's hash: two SELECTs, each through its UNIQUE index (an OR of the
// two columns would read the whole table), the current secret first. Each
// column is unique on its own, so each SELECT finds at most one row. A
// previous secret's hash is not checked against other keys' current ones
// (see KeyStore.UpdateKey): should one key's secret hash be another's
// previous one, the key whose current secret it is is found, and LIMIT 1
// drops the other.
const queryKeyByHash = `SELECT ` + keyColumns + ` FROM api_keys WHERE secret_hash = ?1 AND deleted_at IS NULL
	UNION ALL
	SELECT ` + keyColumns + ` FROM api_keys WHERE prev_secret_hash = ?1 AND deleted_at IS NULL
	LIMIT 1`

// queryKey finds a live key by id, through the primary key.
const queryKey = `SELECT ` + keyColumns + ` FROM api_keys
	WHERE id = ? AND org_id = ? AND root = ? AND deleted_at IS NULL`

// queryKeyByID finds a live key by id alone, through the primary key.
const queryKeyByID = `SELECT ` + keyColumns + ` FROM api_keys WHERE id = ? AND deleted_at IS NULL`

// queryKeyRecord finds the record of key id of org, live or deleted, for
// UpdateKey.
const queryKeyRecord = `SELECT ` + keyColumns + ` FROM api_keys WHERE id = ? AND org_id = ? AND root = ?`

// ImportKeys stores many new keys in one transaction: all or none. It is
// for bulk loads (imports, benchmarks); like CreateKey it fails with
// ECONFLICT if an id or secret hash is taken.
//
// An import writes nothing to the invalidation log (a million entries
// would be a million more rows to write and prune): a keyward instance
// already running learns of an imported key only when it looks one up
// that its cache's membership set does not hold, which it does at a
// bounded rate (--max-unknown-lookups); past that rate it refuses the
// others (NOT_FOUND) until it has looked them up, or restarts. Import into
// a database no instance serves yet, or restart the instances after.
func (db *DB) ImportKeys(ctx context.Context, keys []*keyward.Key) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("import keys: %w", mapError(ctx, err))
	}
	defer tx.Rollback()
	for _, k := range keys {
		if err := insertKey(ctx, tx, k); err != nil {
			return fmt.Errorf("import keys: %w", mapError(ctx, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("import keys: %w", mapError(ctx, err))
	}
	return nil
}

// BootstrapRootKey stores k, a root key, only if the database has never held
// a key and never been bootstrapped. The check and the write share one
// IMMEDIATE transaction, which holds SQLite's write lock from its start, so
// of several processes bootstrapping one file exactly one stores its key.
func (db *DB) BootstrapRootKey(ctx context.Context, k *keyward.Key, ev *keyward.AuditEvent) (bool, error) {
	if k == nil || !k.Root || k.OrgID != "" {
		return false, fmt.Errorf("bootstrap root key: the key is not a root key")
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
	}
	defer tx.Rollback()
	used, err := everUsed(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
	}
	if used {
		return false, nil
	}
	if err := markBootstrapped(ctx, tx, k.CreatedAt, false); err != nil {
		return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
	}
	if err := insertKey(ctx, tx, k); err != nil {
		return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
	}
	if err := logCreated(ctx, tx, k); err != nil {
		return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
	}
	if ev != nil {
		if err := insertEvent(ctx, tx, ev); err != nil {
			return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("bootstrap root key: %w", mapError(ctx, err))
	}
	return true, nil
}

// KeyByHash returns the live key whose secret, or previous secret, hashes
// to h, or ENOTFOUND. It runs on every authenticated request: one
// statement, prepared once per reader connection, through the unique
// indexes on secret_hash and prev_secret_hash.
func (db *DB) KeyByHash(ctx context.Context, h keyward.SecretHash) (*keyward.Key, error) {
	stmt, err := db.keyByHashStmt(ctx)
	if err != nil {
		return nil, fmt.Errorf("find key by hash: %w", mapError(ctx, err))
	}
	k, err := scanKey(stmt.QueryRowContext(ctx, h[:]))
	if err != nil {
		return nil, fmt.Errorf("find key by hash: %w", mapError(ctx, err))
	}
	return k, nil
}

// keyByHashStmt returns KeyByHash's prepared statement, preparing it on
// first use: at Open the table may not exist yet.
func (db *DB) keyByHashStmt(ctx context.Context) (*sql.Stmt, error) {
	if stmt := db.byHash.Load(); stmt != nil {
		return stmt, nil
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if stmt := db.byHash.Load(); stmt != nil {
		return stmt, nil
	}
	stmt, err := db.read.PrepareContext(ctx, queryKeyByHash)
	if err != nil {
		return nil, err
	}
	db.byHash.Store(stmt)
	return stmt, nil
}

// Key returns the live key id of org, or ENOTFOUND. Root keys are in the
// empty organization.
func (db *DB) Key(ctx context.Context, org keyward.OrgID, id keyward.KeyID) (*keyward.Key, error) {
	k, err := scanKey(db.read.QueryRowContext(ctx, queryKey, int64(id), string(org), sqlBool(org == "")))
	if err != nil {
		return nil, fmt.Errorf("get key: %w", mapError(ctx, err))
	}
	return k, nil
}

// KeyByID returns the live key id, whatever its organization, or
// ENOTFOUND.
func (db *DB) KeyByID(ctx context.Context, id keyward.KeyID) (*keyward.Key, error) {
	k, err := scanKey(db.read.QueryRowContext(ctx, queryKeyByID, int64(id)))
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
	rows, err := db.query(ctx, q, args...)
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

// UpdateKey changes the record of key id of org, live or deleted, in one
// write transaction: it reads the record, passes a copy to update, and
// writes back what update returns (its mutable fields), with the version
// one more, the audit event update returns, and an entry in the
// invalidation log for every hash the key had and has. The IMMEDIATE
// transaction holds SQLite's write lock from its start, so concurrent
// updates of one key run one after another, each reading what the last
// wrote. If update fails, nothing is written and its error is returned as
// it is.
func (db *DB) UpdateKey(ctx context.Context, org keyward.OrgID, id keyward.KeyID, update keyward.KeyUpdate) (*keyward.Key, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("update key: %w", mapError(ctx, err))
	}
	defer tx.Rollback()
	old, err := scanKey(tx.QueryRowContext(ctx, queryKeyRecord, int64(id), string(org), sqlBool(org == "")))
	if err != nil {
		return nil, fmt.Errorf("update key: %w", mapError(ctx, err))
	}
	// The updater gets a copy: what it changes in place (a permission, the
	// previous secret) must not change old, whose hashes are invalidated.
	k, ev, err := update(*old.Clone())
	if err != nil {
		return nil, err
	}
	got, err := writeKey(ctx, tx, old, &k)
	if err != nil {
		return nil, fmt.Errorf("update key: %w", mapError(ctx, err))
	}
	if ev != nil {
		if err := insertEvent(ctx, tx, ev); err != nil {
			return nil, fmt.Errorf("update key: %w", mapError(ctx, err))
		}
	}
	for _, h := range changedHashes(old, got) {
		if err := logInvalidation(ctx, tx, h); err != nil {
			return nil, fmt.Errorf("update key: %w", mapError(ctx, err))
		}
	}
	if keyward.EndsSessions(old, got) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE key_id = ?`, int64(got.ID)); err != nil {
			return nil, fmt.Errorf("update key: end console sessions: %w", mapError(ctx, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("update key: %w", mapError(ctx, err))
	}
	return got, nil
}

// writeKey writes k's mutable fields over the record old, with the
// version one more than old's, and returns the record as it now stands.
// ID, OrgID, Root, CreatedAt, CreatedBy and LastUsedAt stay old's.
func writeKey(ctx context.Context, tx *sql.Tx, old, k *keyward.Key) (*keyward.Key, error) {
	perms, err := joinPermissions(k.Permissions)
	if err != nil {
		return nil, err
	}
	limits, err := sqlRateLimits(k.RateLimits)
	if err != nil {
		return nil, err
	}
	prevHash, prevExpires := sqlPrevious(k.Previous)
	remaining, refilledAt, amount, interval := sqlCredits(k.Credits)
	return scanKey(tx.QueryRowContext(ctx, `UPDATE api_keys SET
		name = ?, permissions = ?, secret_hash = ?, hint = ?, deleted_at = ?, expires_at = ?,
		disabled = ?, metadata = ?, updated_at = ?, prev_secret_hash = ?, prev_expires_at = ?,
		rate_limits = ?, credits_remaining = ?, credits_refilled_at = ?, credits_refill_amount = ?,
		credits_refill_interval = ?, version = version + 1
		WHERE id = ?
		RETURNING `+keyColumns,
		k.Name, perms, k.Hash[:], k.Hint, sqlMicros(k.DeletedAt), sqlMicros(k.ExpiresAt),
		sqlBool(k.Disabled), sqlText(k.Metadata), k.UpdatedAt.UnixMicro(), prevHash, prevExpires,
		limits, remaining, refilledAt, amount, interval,
		int64(old.ID),
	))
}

// changedHashes returns, once each, every hash under which old or k can
// be looked up: a change forgets the key under all of them.
func changedHashes(old, k *keyward.Key) []keyward.SecretHash {
	var hs []keyward.SecretHash
	for _, h := range append(old.Hashes(), k.Hashes()...) {
		if !slices.Contains(hs, h) {
			hs = append(hs, h)
		}
	}
	return hs
}

// TouchKeys records uses of keys in one transaction, never moving a
// key's last use back. The uses go to key_last_used, a narrow table whose pages
// a flush of many uses shares; a key's own row is only read (to ignore an
// id that does not exist), never written. In id order, as Flush sends them,
// consecutive uses read and write the same pages.
//
// touchRows uses go in each statement: a statement per use would cost more
// in the driver than in SQLite.
func (db *DB) TouchKeys(ctx context.Context, uses []keyward.KeyUse) error {
	if len(uses) == 0 {
		return nil
	}
	if err := db.recordUsage(ctx, uses, nil); err != nil {
		return fmt.Errorf("touch keys: %w", err)
	}
	return nil
}

// recordUsage writes uses (as TouchKeys) and counts (as RecordUsage) in
// one transaction.
func (db *DB) recordUsage(ctx context.Context, uses []keyward.KeyUse, counts []keyward.UsageCount) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return mapError(ctx, err)
	}
	defer tx.Rollback()
	if err := touchKeys(ctx, tx, uses); err != nil {
		return mapError(ctx, err)
	}
	if err := countVerifications(ctx, tx, counts); err != nil {
		return mapError(ctx, err)
	}
	if err := tx.Commit(); err != nil {
		return mapError(ctx, err)
	}
	return nil
}

// touchKeys upserts uses into key_last_used, touchRows a statement.
func touchKeys(ctx context.Context, tx *sql.Tx, uses []keyward.KeyUse) error {
	var full *sql.Stmt // the statement for touchRows uses, prepared once
	args := make([]any, 0, 2*min(len(uses), touchRows))
	for len(uses) > 0 {
		n := min(len(uses), touchRows)
		args = args[:0]
		for _, u := range uses[:n] {
			args = append(args, int64(u.ID), u.At.UnixMicro())
		}
		uses = uses[n:]
		var err error
		if n == touchRows && full == nil {
			if full, err = tx.PrepareContext(ctx, touchQuery(touchRows)); err != nil {
				return err
			}
			defer full.Close()
		}
		if n == touchRows {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, touchQuery(n), args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// touchRows is how many uses one TouchKeys statement records.
const touchRows = 256

// touchQuery is the upsert of n uses, each bound as (id, unix microseconds).
// The join with api_keys drops ids that do not exist. SQLite upserts row by
// row, so a key used twice in the batch keeps the later use. (WHERE true
// keeps ON CONFLICT from being read as the join's ON.)
func touchQuery(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO key_last_used (id, last_used_at)
		SELECT k.id, v.column2 FROM (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?)")
	}
	b.WriteString(`) AS v JOIN api_keys AS k ON k.id = v.column1 WHERE true
		ON CONFLICT (id) DO UPDATE SET last_used_at = max(last_used_at, excluded.last_used_at)`)
	return b.String()
}

// listKeysQuery returns ListKeys' statement and its arguments. Without
// States, the condition on deleted_at matches the partial index's, and the
// order its order, so SQLite walks the index and stops at the limit,
// without sorting. With States, the live keys (in the states asked for, at
// f.Now) and the deleted ones are each read from their partial index in
// that order, and the two merged: still no sort, and no table scan.
func listKeysQuery(f keyward.KeyFilter) (string, []any) {
	args := []any{string(f.OrgID), sqlBool(f.Root)}
	var cursor string
	if f.After != nil {
		// A row value: the index range starts just past the cursor.
		cursor = ` AND (created_at, id) < (?3, ?4)`
		args = append(args, f.After.CreatedAt.UnixMicro(), int64(f.After.ID))
	} else {
		args = append(args, nil, nil) // ?3 and ?4, unused
	}
	limit := int64(f.Limit)
	if limit < 1 {
		limit = -1 // SQLite: no limit
	}
	args = append(args, limit, f.Now.UnixMicro()) // ?5, ?6
	from := ` FROM api_keys WHERE org_id = ?1 AND root = ?2`
	if f.Name != "" {
		// SQLite's lower() folds ASCII letters only, as the contract
		// asks; the search reads the organization's keys in order until
		// the page is full.
		args = append(args, f.Name) // ?7
		from += ` AND instr(lower(name), lower(?7)) > 0`
	}
	const order = ` ORDER BY created_at DESC, id DESC LIMIT ?5`
	if f.States == nil {
		return `SELECT ` + keyColumns + from + ` AND deleted_at IS NULL` + cursor + order, args
	}
	var live []string
	deleted := false
	for _, st := range f.States {
		var c string
		switch st {
		case keyward.StateActive:
			c = `(disabled = 0 AND (expires_at IS NULL OR expires_at > ?6))`
		case keyward.StateDisabled:
			c = `disabled = 1`
		case keyward.StateExpired:
			c = `(disabled = 0 AND expires_at <= ?6)`
		case keyward.StateDeleted:
			deleted = true
			continue
		default:
			c = `false` // a state no key is in
		}
		if !slices.Contains(live, c) {
			live = append(live, c)
		}
	}
	var parts []string
	if len(live) > 0 {
		cond := ` AND (` + strings.Join(live, ` OR `) + `)`
		if len(live) == 3 && !slices.Contains(live, `false`) {
			cond = `` // every live state: every live key
		}
		parts = append(parts, `SELECT `+keyColumns+from+` AND deleted_at IS NULL`+cond+cursor)
	}
	if deleted {
		parts = append(parts, `SELECT `+keyColumns+from+` AND deleted_at IS NOT NULL`+cursor)
	}
	if len(parts) == 0 {
		parts = append(parts, `SELECT `+keyColumns+from+` AND false`)
	}
	return strings.Join(parts, ` UNION ALL `) + order, args
}

// insertKey inserts k as a new row, and its last use, if it has one. It
// logs nothing: the create that calls it does (logCreated).
// insertKeyQuery and insertLastUsedQuery are insertKey's statements.
const (
	insertKeyQuery      = `INSERT INTO api_keys (` + insertColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertLastUsedQuery = `INSERT INTO key_last_used (id, last_used_at) VALUES (?, ?)`
)

func insertKey(ctx context.Context, tx execer, k *keyward.Key) error {
	if k == nil {
		return fmt.Errorf("no key")
	}
	perms, err := joinPermissions(k.Permissions)
	if err != nil {
		return err
	}
	if k.Version < 1 {
		return fmt.Errorf("key %v: version %d; a key's version starts at 1", k.ID, k.Version)
	}
	limits, err := sqlRateLimits(k.RateLimits)
	if err != nil {
		return err
	}
	prevHash, prevExpires := sqlPrevious(k.Previous)
	remaining, refilledAt, amount, interval := sqlCredits(k.Credits)
	if _, err := tx.ExecContext(ctx, insertKeyQuery,
		int64(k.ID), string(k.OrgID), sqlBool(k.Root), k.Name, perms, k.Hash[:], k.Hint,
		k.CreatedAt.UnixMicro(), sqlMicros(k.DeletedAt),
		sqlMicros(k.ExpiresAt), sqlBool(k.Disabled), sqlText(k.Metadata), k.UpdatedAt.UnixMicro(),
		sqlText(k.CreatedBy), k.Version, prevHash, prevExpires,
		limits, remaining, refilledAt, amount, interval,
	); err != nil {
		return err
	}
	if k.LastUsedAt != nil {
		if _, err := tx.ExecContext(ctx, insertLastUsedQuery,
			int64(k.ID), k.LastUsedAt.UnixMicro()); err != nil {
			return err
		}
	}
	return nil
}

// logInvalidation appends h to the invalidation log, in the transaction of
// the change, so that other processes' caches forget the key once the
// change is committed, and never before (see WatchInvalidations). The
// entry is stamped with this process's clock, not the change's own time
// (which a caller may set in the past), as the pruning goes by it.
func logInvalidation(ctx context.Context, tx *sql.Tx, h keyward.SecretHash) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO key_invalidations (secret_hash, changed_at) VALUES (?, ?)`, h[:], time.Now().UnixMicro())
	return err
}

// PruneDeletedKeys removes, in one transaction, the records of at most
// limit keys deleted before the given time, oldest first, and their last
// uses and verification counts. It first records the store as bootstrapped, if it is not: with
// every record gone, a store must still not take a new root key.
func (db *DB) PruneDeletedKeys(ctx context.Context, deletedBefore time.Time, limit int) (int, error) {
	if limit < 1 {
		return 0, nil
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune deleted keys: %w", mapError(ctx, err))
	}
	defer tx.Rollback()
	// The same ordered, limited selection in each statement of one
	// transaction: the same keys.
	const gone = `SELECT id FROM api_keys WHERE deleted_at IS NOT NULL AND deleted_at < ?1 ORDER BY deleted_at, id LIMIT ?2`
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM (`+gone+`)`, deletedBefore.UnixMicro(), limit).Scan(&n); err != nil {
		return 0, fmt.Errorf("prune deleted keys: %w", mapError(ctx, err))
	}
	if n == 0 {
		return 0, nil
	}
	if err := markBootstrapped(ctx, tx, time.Now(), true); err != nil {
		return 0, fmt.Errorf("prune deleted keys: %w", mapError(ctx, err))
	}
	for _, q := range []string{
		`DELETE FROM key_last_used WHERE id IN (` + gone + `)`,
		`DELETE FROM key_verifications WHERE key_id IN (` + gone + `)`,
		`DELETE FROM api_keys WHERE id IN (` + gone + `)`,
	} {
		if _, err := tx.ExecContext(ctx, q, deletedBefore.UnixMicro(), limit); err != nil {
			return 0, fmt.Errorf("prune deleted keys: %w", mapError(ctx, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("prune deleted keys: %w", mapError(ctx, err))
	}
	return int(n), nil
}

// everUsed reports whether the database has been bootstrapped or holds a
// key, live or deleted (PruneDeletedKeys marks the store bootstrapped
// before it removes any).
func everUsed(ctx context.Context, tx *sql.Tx) (bool, error) {
	var used bool
	err := tx.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM keyward_bootstrap) OR EXISTS (SELECT 1 FROM api_keys)`,
	).Scan(&used)
	return used, err
}

// markBootstrapped records that the one bootstrap has happened; the table's
// single allowed id makes a second record a constraint violation, unless
// ifNot, when a store already marked is left as it is.
func markBootstrapped(ctx context.Context, tx *sql.Tx, at time.Time, ifNot bool) error {
	q := `INSERT INTO keyward_bootstrap (id, bootstrapped_at) VALUES (1, ?)`
	if ifNot {
		q = `INSERT OR IGNORE INTO keyward_bootstrap (id, bootstrapped_at) VALUES (1, ?)`
	}
	_, err := tx.ExecContext(ctx, q, at.UnixMicro())
	return err
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// scanKey reads one row of keyColumns into a new Key.
func scanKey(s rowScanner) (*keyward.Key, error) {
	var (
		k                                  keyward.Key
		id, createdAt, updatedAt           int64
		org, perms                         string
		hash, prevHash                     []byte
		lastUsed, deleted, expires, prevAt sql.NullInt64
		metadata, createdBy                sql.NullString
		limits, interval                   sql.NullString
		remaining, refilledAt, amount      sql.NullInt64
	)
	if err := s.Scan(&id, &org, &k.Root, &k.Name, &perms, &hash, &k.Hint, &createdAt, &lastUsed, &deleted,
		&expires, &k.Disabled, &metadata, &updatedAt, &createdBy, &k.Version, &prevHash, &prevAt,
		&limits, &remaining, &refilledAt, &amount, &interval); err != nil {
		return nil, err
	}
	k.ID = keyward.KeyID(id)
	if len(hash) != len(k.Hash) {
		return nil, fmt.Errorf("key %v: stored secret hash has %d bytes, want %d", k.ID, len(hash), len(k.Hash))
	}
	copy(k.Hash[:], hash)
	k.OrgID = keyward.OrgID(org)
	k.Permissions = splitPermissions(perms)
	k.CreatedAt = fromMicros(createdAt)
	k.LastUsedAt = optMicros(lastUsed)
	k.DeletedAt = optMicros(deleted)
	k.ExpiresAt = optMicros(expires)
	k.Metadata = metadata.String
	k.UpdatedAt = fromMicros(updatedAt)
	k.CreatedBy = createdBy.String
	if prevAt.Valid {
		p := &keyward.PreviousSecret{ExpiresAt: fromMicros(prevAt.Int64)}
		if len(prevHash) != len(p.Hash) {
			return nil, fmt.Errorf("key %v: stored previous secret hash has %d bytes, want %d", k.ID, len(prevHash), len(p.Hash))
		}
		copy(p.Hash[:], prevHash)
		k.Previous = p
	}
	if limits.Valid {
		ls, err := parseRateLimits(limits.String)
		if err != nil {
			return nil, fmt.Errorf("key %v: stored rate limits: %w", k.ID, err)
		}
		k.RateLimits = ls
	}
	if remaining.Valid {
		c, err := scanCredits(remaining, refilledAt, amount, interval)
		if err != nil {
			return nil, fmt.Errorf("key %v: stored credits: %w", k.ID, err)
		}
		k.Credits = c
	}
	return &k, nil
}

// joinPermissions encodes permissions as the permissions column holds them:
// comma-joined, in order. A name that would not come back unchanged is
// refused.
func joinPermissions(ps []keyward.Permission) (string, error) {
	s := make([]string, len(ps))
	for i, p := range ps {
		if p == "" || strings.Contains(string(p), ",") {
			return "", fmt.Errorf("permission %q cannot be stored", p)
		}
		s[i] = string(p)
	}
	return strings.Join(s, ","), nil
}

// splitPermissions decodes the permissions column.
func splitPermissions(s string) []keyward.Permission {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	ps := make([]keyward.Permission, len(parts))
	for i, p := range parts {
		ps[i] = keyward.Permission(p)
	}
	return ps
}

// sqlBool is b as the 0 or 1 of an INTEGER column.
func sqlBool(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// sqlMicros is *t as unix microseconds, or NULL for nil.
func sqlMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// optMicros is the UTC time of a nullable column of unix microseconds.
func optMicros(us sql.NullInt64) *time.Time {
	if !us.Valid {
		return nil
	}
	t := fromMicros(us.Int64)
	return &t
}

// sqlText is s, or NULL for "".
func sqlText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// sqlPrevious is a previous secret as its two columns: NULL and NULL for
// none.
func sqlPrevious(p *keyward.PreviousSecret) (hash, expires any) {
	if p == nil {
		return nil, nil
	}
	return p.Hash[:], p.ExpiresAt.UnixMicro()
}

// fromMicros is the UTC time of unix microseconds.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

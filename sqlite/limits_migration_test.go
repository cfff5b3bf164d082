package sqlite_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/storetest"
)

// Migration 9 leaves the keys that exist as they were, with no rate limit
// and no credits: found by hash, not limited by SpendCredits, and given
// credits by an update, which they then spend. Its down migration drops
// the columns and leaves the keys readable at version 8.
func TestMigrateLimitsKeepsKeys(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if err := db.MigrateTo(ctx, 8); err != nil {
		t.Fatalf("migrate to 8: %v", err)
	}
	write, _ := db.Pools()
	created := time.Date(2026, 5, 4, 3, 2, 1, 123456000, time.UTC)
	k := storetest.NewKey("acme", storetest.CreatedAt(created), storetest.Permissions(keyward.PermRead, keyward.PermWrite),
		storetest.Name("old key"), storetest.Metadata(`{"a":1}`), storetest.Version(4))
	k.Hint = "hint"
	if _, err := write.ExecContext(ctx, `INSERT INTO api_keys
		(id, org_id, root, name, permissions, secret_hash, hint, created_at, metadata, updated_at, version)
		VALUES (?, 'acme', 0, 'old key', 'read,write', ?, 'hint', ?, '{"a":1}', ?, 4)`,
		int64(k.ID), k.Hash[:], created.UnixMicro(), created.UnixMicro()); err != nil {
		t.Fatalf("insert a version 8 row: %v", err)
	}

	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if v, err := db.SchemaVersion(ctx); err != nil || v < 9 {
		t.Fatalf("SchemaVersion after Migrate = %d, %v; want 9 or later", v, err)
	}
	got, err := db.KeyByHash(ctx, k.Hash)
	if err != nil {
		t.Fatalf("KeyByHash of a key made before limits: %v", err)
	}
	if got.ID != k.ID || got.Name != k.Name || got.Version != 4 || got.Metadata != k.Metadata || !got.UpdatedAt.Equal(created) {
		t.Errorf("KeyByHash = %+v; want the key as inserted", got)
	}
	if got.RateLimits != nil || got.Credits != nil {
		t.Errorf("a key made before limits: RateLimits %v, Credits %+v; want none", got.RateLimits, got.Credits)
	}
	if r, err := db.SpendCredits(ctx, k.ID, 1, created.Add(time.Hour)); err != nil || r.Limited {
		t.Errorf("SpendCredits of a key made before credits = %+v, %v; want not limited", r, err)
	}

	upd, err := db.UpdateKey(ctx, "acme", k.ID, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
		old.RateLimits = []keyward.RateLimit{{Name: "requests", Limit: 10, Duration: time.Minute}}
		old.Credits = &keyward.Credits{Remaining: 2, RefilledAt: created}
		return old, nil, nil
	})
	if err != nil {
		t.Fatalf("UpdateKey of a migrated key: %v", err)
	}
	if upd.Version != 5 || len(upd.RateLimits) != 1 || upd.Credits == nil || upd.Credits.Remaining != 2 {
		t.Errorf("UpdateKey of a migrated key: %+v; want version 5 with its limit and 2 credits", upd)
	}
	if r, err := db.SpendCredits(ctx, k.ID, 2, created.Add(time.Hour)); err != nil || !r.OK || r.Remaining != 0 {
		t.Errorf("SpendCredits once given credits = %+v, %v; want 0 left", r, err)
	}

	if err := db.MigrateDownTo(ctx, 8); err != nil {
		t.Fatalf("migrate down to 8: %v", err)
	}
	var name string
	if err := write.QueryRowContext(ctx, `SELECT name FROM api_keys WHERE secret_hash = ? AND deleted_at IS NULL`, k.Hash[:]).Scan(&name); err != nil || name != "old key" {
		t.Errorf("after migrating down, the key's row: %q, %v", name, err)
	}
	var n int
	if err := write.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('api_keys')
		WHERE name IN ('rate_limits', 'credits_remaining', 'credits_refilled_at', 'credits_refill_amount', 'credits_refill_interval')`).Scan(&n); err != nil || n != 0 {
		t.Errorf("after migrating down, %d of the columns of limits remain (%v)", n, err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if got, err := db.KeyByHash(ctx, k.Hash); err != nil || got.Credits != nil || got.RateLimits != nil {
		t.Errorf("after migrating down and up: %+v, %v; want the key, without limits", got, err)
	}
}

// The schema refuses limits and credits that no key can have, whoever
// writes them: an empty or malformed list of limits, negative credits,
// half a refill, a refill without credits, an unknown interval, credits
// without the time they were set or the reverse.
func TestLimitsConstraints(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := t.Context()
	k := storetest.NewKey("acme", storetest.Credits(5, &keyward.Refill{Amount: 5, Interval: keyward.RefillDaily}))
	if err := db.CreateKey(ctx, k, nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	write, _ := db.Pools()
	for _, c := range []struct{ name, set string }{
		{"an empty list of limits", `rate_limits = '[]'`},
		{"limits that are not JSON", `rate_limits = 'requests'`},
		{"limits that are no list", `rate_limits = '{"name":"a"}'`},
		{"negative credits", `credits_remaining = -1`},
		{"credits without the time they were set", `credits_refilled_at = NULL`},
		{"no credits, with a time they were set", `credits_remaining = NULL, credits_refill_amount = NULL, credits_refill_interval = NULL`},
		{"a refill without credits", `credits_remaining = NULL, credits_refilled_at = NULL`},
		{"a refill without an interval", `credits_refill_interval = NULL`},
		{"a refill without an amount", `credits_refill_amount = NULL`},
		{"a refill of nothing", `credits_refill_amount = 0`},
		{"an unknown interval", `credits_refill_interval = 'weekly'`},
	} {
		_, err := write.ExecContext(ctx, `UPDATE api_keys SET `+c.set+` WHERE id = ?`, int64(k.ID))
		if err == nil || !strings.Contains(err.Error(), "CHECK constraint failed") && !strings.Contains(err.Error(), "malformed JSON") {
			t.Errorf("%s: %v, want a failed check", c.name, err)
		}
	}
	for _, set := range []string{
		`rate_limits = '[{"name":"a","limit":1,"duration_ms":1000}]'`,
		`credits_refill_amount = NULL, credits_refill_interval = NULL`,
		`credits_remaining = NULL, credits_refilled_at = NULL`,
	} {
		if _, err := write.ExecContext(ctx, `UPDATE api_keys SET `+set+` WHERE id = ?`, int64(k.ID)); err != nil {
			t.Errorf("%s: %v", set, err)
		}
	}
}

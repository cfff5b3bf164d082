package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/storetest"
)

// A database at schema version 6 with keys in it migrates to limits and
// credits: each key is as it was, with no rate limit and no credits, not
// limited by SpendCredits, and given credits by an update, which it then
// spends; and the down migration drops the columns, leaving the keys
// readable at version 6.
func TestMigrateForwardLimits(t *testing.T) {
	ctx := t.Context()
	db, err := postgres.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if err := db.MigrateTo(ctx, 6); err != nil {
		t.Fatalf("migrate to 6: %v", err)
	}
	live, gone := lifecycleKey("acme"), lifecycleKey("acme")
	live.Version = 3
	deletedAt := at.Add(2 * time.Hour)
	for _, k := range []struct {
		k       *keyward.Key
		deleted *time.Time
	}{{live, nil}, {gone, &deletedAt}} {
		if _, err := db.Pool().Exec(ctx, `INSERT INTO api_keys
			(id, org_id, root, name, permissions, secret_hash, hint, created_at, deleted_at,
			expires_at, metadata, updated_at, created_by, version)
			VALUES ($1, 'acme', false, $2, '{read}', $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			int64(k.k.ID), k.k.Name, k.k.Hash[:], k.k.Hint, k.k.CreatedAt, k.deleted,
			k.k.ExpiresAt, k.k.Metadata, k.k.UpdatedAt, k.k.CreatedBy, k.k.Version); err != nil {
			t.Fatalf("insert a version 6 key: %v", err)
		}
	}

	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	got, err := db.KeyByHash(ctx, live.Hash)
	if err != nil {
		t.Fatalf("KeyByHash after migrating: %v", err)
	}
	checkFullKey(t, "a key of version 6", got, live) // no limits, no credits
	if r, err := db.SpendCredits(ctx, live.ID, 1, at.Add(time.Hour)); err != nil || r.Limited {
		t.Errorf("SpendCredits of a key of version 6 = %+v, %v; want not limited", r, err)
	}
	if _, err := db.SpendCredits(ctx, gone.ID, 1, at.Add(time.Hour)); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("SpendCredits of a deleted key of version 6: %v, want ENOTFOUND", err)
	}
	keys, err := db.ListKeys(ctx, keyward.KeyFilter{OrgID: "acme", States: []keyward.KeyState{keyward.StateDeleted}, Now: at})
	if err != nil || len(keys) != 1 || keys[0].ID != gone.ID || keys[0].RateLimits != nil || keys[0].Credits != nil {
		t.Errorf("deleted keys after migrating: %v, %v; want the one deleted, without limits", keys, err)
	}

	limits := []keyward.RateLimit{{Name: "requests", Limit: 10, Duration: time.Minute}}
	upd, err := db.UpdateKey(ctx, "acme", live.ID, set(func(k *keyward.Key) {
		k.RateLimits = limits
		k.Credits = &keyward.Credits{Remaining: 2, RefilledAt: at}
	}, nil))
	if err != nil {
		t.Fatalf("UpdateKey of a migrated key: %v", err)
	}
	want := live.Clone()
	want.Version, want.RateLimits, want.Credits = 4, limits, &keyward.Credits{Remaining: 2, RefilledAt: at}
	checkFullKey(t, "UpdateKey of a key of version 6", upd, want)
	if r, err := db.SpendCredits(ctx, live.ID, 2, at.Add(time.Hour)); err != nil || !r.OK || r.Remaining != 0 {
		t.Errorf("SpendCredits once given credits = %+v, %v; want 0 left", r, err)
	}

	if err := db.MigrateDownTo(ctx, 6); err != nil {
		t.Fatalf("migrate down to 6: %v", err)
	}
	var name string
	var columns int
	if err := db.Pool().QueryRow(ctx, `SELECT
		(SELECT name FROM api_keys WHERE id = $1 AND deleted_at IS NULL),
		(SELECT count(*) FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = 'api_keys'
			AND (column_name = 'rate_limits' OR column_name LIKE 'credits%'))`, int64(live.ID),
	).Scan(&name, &columns); err != nil {
		t.Fatal(err)
	}
	if name != live.Name || columns != 0 {
		t.Errorf("after migrating down: the key's name %q, %d columns of limits; want %q, none", name, columns, live.Name)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	want.Version, want.RateLimits, want.Credits = 4, nil, nil
	if got, err := db.KeyByHash(ctx, live.Hash); err != nil {
		t.Errorf("KeyByHash after migrating down and up: %v", err)
	} else {
		checkFullKey(t, "after migrating down and up", got, want)
	}
}

// The schema refuses limits and credits that no key can have, whoever
// writes them: an empty list of limits or one that is no list, negative
// credits, half a refill, a refill without credits, an unknown interval,
// credits without the time they were set or the reverse.
func TestLimitsConstraints(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := t.Context()
	k := storetest.NewKey("acme", storetest.Credits(5, &keyward.Refill{Amount: 5, Interval: keyward.RefillDaily}))
	if err := db.CreateKey(ctx, k, nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	for _, c := range []struct{ name, set string }{
		{"an empty list of limits", `rate_limits = '[]'`},
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
		_, err := db.Pool().Exec(ctx, `UPDATE api_keys SET `+c.set+` WHERE id = $1`, int64(k.ID))
		if err == nil || !strings.Contains(err.Error(), "violates check constraint") {
			t.Errorf("%s: %v, want a violated check", c.name, err)
		}
	}
	for _, set := range []string{
		`rate_limits = '[{"name":"a","limit":1,"duration_ms":1000}]'`,
		`credits_refill_amount = NULL, credits_refill_interval = NULL`,
		`credits_remaining = NULL, credits_refilled_at = NULL`,
	} {
		if _, err := db.Pool().Exec(ctx, `UPDATE api_keys SET `+set+` WHERE id = $1`, int64(k.ID)); err != nil {
			t.Errorf("%s: %v", set, err)
		}
	}
}

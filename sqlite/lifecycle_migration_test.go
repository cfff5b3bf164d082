package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/storetest"
)

// Migration 8 gives the keys that exist the lifecycle's defaults: changed
// last at their creation, at version 1, enabled, without expiry, metadata,
// creator or previous secret; they are found by hash as before, and can be
// updated. Its down migration leaves them readable at version 7.
func TestMigrateLifecycleKeepsKeys(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if err := db.MigrateTo(ctx, 7); err != nil {
		t.Fatalf("migrate to 7: %v", err)
	}
	write, _ := db.Pools()
	k := storetest.NewKey("acme", storetest.Permissions(keyward.PermRead, keyward.PermWrite))
	created := time.Date(2026, 5, 4, 3, 2, 1, 123456000, time.UTC)
	if _, err := write.ExecContext(ctx, `INSERT INTO api_keys
		(id, org_id, root, name, permissions, secret_hash, hint, created_at)
		VALUES (?, 'acme', 0, 'old key', 'read,write', ?, 'hint', ?)`,
		int64(k.ID), k.Hash[:], created.UnixMicro()); err != nil {
		t.Fatalf("insert a version 7 row: %v", err)
	}

	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if v, err := db.SchemaVersion(ctx); err != nil || v < 8 {
		t.Fatalf("SchemaVersion after Migrate = %d, %v; want 8 or later", v, err)
	}
	got, err := db.KeyByHash(ctx, k.Hash)
	if err != nil {
		t.Fatalf("KeyByHash of a key made before the lifecycle: %v", err)
	}
	switch {
	case got.ID != k.ID || got.Name != "old key" || !got.CreatedAt.Equal(created):
		t.Errorf("KeyByHash = %v %q created %v; want %v %q created %v", got.ID, got.Name, got.CreatedAt, k.ID, "old key", created)
	case !got.UpdatedAt.Equal(created):
		t.Errorf("UpdatedAt = %v, want the creation time %v", got.UpdatedAt, created)
	case got.Version != 1:
		t.Errorf("Version = %d, want 1", got.Version)
	case got.Disabled || got.ExpiresAt != nil || got.Metadata != "" || got.CreatedBy != "" || got.Previous != nil:
		t.Errorf("migrated key: Disabled %v, ExpiresAt %v, Metadata %q, CreatedBy %q, Previous %v; want enabled, none of the others",
			got.Disabled, got.ExpiresAt, got.Metadata, got.CreatedBy, got.Previous)
	case got.State(time.Now()) != keyward.StateActive:
		t.Errorf("State = %s, want active", got.State(time.Now()))
	}

	upd, err := db.UpdateKey(ctx, "acme", k.ID, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
		old.Disabled = true
		old.UpdatedAt = created.Add(time.Hour)
		return old, nil, nil
	})
	if err != nil {
		t.Fatalf("UpdateKey of a migrated key: %v", err)
	}
	if upd.Version != 2 || !upd.Disabled {
		t.Errorf("UpdateKey of a migrated key: Version %d, Disabled %v; want 2, true", upd.Version, upd.Disabled)
	}

	if err := db.MigrateDownTo(ctx, 7); err != nil {
		t.Fatalf("migrate down to 7: %v", err)
	}
	var name string
	if err := write.QueryRowContext(ctx, `SELECT name FROM api_keys WHERE secret_hash = ?`, k.Hash[:]).Scan(&name); err != nil || name != "old key" {
		t.Errorf("after migrating down, the key's row: %q, %v", name, err)
	}
	var n int
	if err := write.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'audit_events'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("audit_events remains after migrating down (%d, %v)", n, err)
	}
}

// Migration 8's down migration deletes the keys the older schema would
// bring back to life: a disabled key and an expired one are deleted (at
// the time of the migration), as PostgreSQL's down migration does; an
// active key, one expiring later, and a rotated one stay live; a key
// deleted before keeps its deletion time.
func TestMigrateLifecycleDownDeletesDisabledAndExpired(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	later, earlier, longAgo := now.Add(time.Hour), now.Add(-time.Second), now.Add(-48*time.Hour)
	keys := map[string]*keyward.Key{
		"active":   storetest.NewKey("acme"),
		"disabled": storetest.NewKey("acme", storetest.Disabled()),
		"expired":  storetest.NewKey("acme", storetest.ExpiresAt(earlier)),
		"expiring": storetest.NewKey("acme", storetest.ExpiresAt(later)),
		"rotated":  storetest.NewKey("acme"),
		"deleted":  storetest.NewKey("acme", storetest.Disabled()),
		"root":     storetest.NewKey("", storetest.Disabled()),
	}
	keys["rotated"].Previous = &keyward.PreviousSecret{Hash: keyward.NewSecret().Hash(), ExpiresAt: later}
	keys["deleted"].DeletedAt = &longAgo
	var all []*keyward.Key
	for _, k := range keys {
		all = append(all, k)
	}
	if err := db.ImportKeys(ctx, all); err != nil {
		t.Fatalf("ImportKeys: %v", err)
	}

	before := time.Now()
	if err := db.MigrateDownTo(ctx, 7); err != nil {
		t.Fatalf("migrate down to 7: %v", err)
	}
	after := time.Now()
	write, _ := db.Pools()
	for name, k := range keys {
		var deletedAt sql.NullInt64
		if err := write.QueryRowContext(ctx, `SELECT deleted_at FROM api_keys WHERE id = ?`, int64(k.ID)).Scan(&deletedAt); err != nil {
			t.Fatalf("%s key's row after migrating down: %v", name, err)
		}
		switch name {
		case "active", "expiring", "rotated":
			if deletedAt.Valid {
				t.Errorf("%s key: deleted at %v by the down migration, want it live", name, time.UnixMicro(deletedAt.Int64))
			}
		case "deleted":
			if !deletedAt.Valid || deletedAt.Int64 != longAgo.UnixMicro() {
				t.Errorf("key deleted before: deleted_at %v, want its own %d", deletedAt, longAgo.UnixMicro())
			}
		default: // disabled, expired: deleted now
			// unixepoch('subsec') has millisecond precision.
			lo, hi := before.Truncate(time.Millisecond).UnixMicro(), after.UnixMicro()
			if !deletedAt.Valid || deletedAt.Int64 < lo || deletedAt.Int64 > hi {
				t.Errorf("%s key: deleted_at %v, want within the down migration [%d, %d]", name, deletedAt, lo, hi)
			}
		}
	}

	// Version 7 finds the live keys by hash, and no other.
	for name, k := range keys {
		var n int
		if err := write.QueryRowContext(ctx, `SELECT count(*) FROM api_keys WHERE secret_hash = ? AND deleted_at IS NULL`, k.Hash[:]).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if live := name == "active" || name == "expiring" || name == "rotated"; (n == 1) != live {
			t.Errorf("%s key: %d live rows at version 7, want live %v", name, n, live)
		}
	}
}

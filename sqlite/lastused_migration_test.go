package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/storetest"
)

// Migration 3 moves last uses from api_keys.last_used_at into key_usage,
// keeping every one, and its down migration moves them back.
func TestMigrateMovesLastUses(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if err := db.MigrateTo(ctx, 2); err != nil {
		t.Fatalf("migrate to 2: %v", err)
	}
	write, _ := db.Pools()
	used, unused := storetest.NewKey("acme"), storetest.NewKey("acme")
	at := time.Date(2026, 5, 4, 3, 2, 1, 123456000, time.UTC)
	for _, k := range []struct {
		id   int64
		hash []byte
		last any
	}{{int64(used.ID), used.Hash[:], at.UnixMicro()}, {int64(unused.ID), unused.Hash[:], nil}} {
		if _, err := write.ExecContext(ctx, `INSERT INTO api_keys
			(id, org_id, root, name, permissions, secret_hash, hint, created_at, last_used_at)
			VALUES (?, 'acme', 0, 'k', 'read', ?, 'hint', 1, ?)`, k.id, k.hash, k.last); err != nil {
			t.Fatalf("insert a version 2 row: %v", err)
		}
	}

	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	got, err := db.Key(ctx, "acme", used.ID)
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) {
		t.Errorf("after migrating up, LastUsedAt = %v, want %v", got.LastUsedAt, at)
	}
	got, err = db.Key(ctx, "acme", unused.ID)
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	if got.LastUsedAt != nil {
		t.Errorf("after migrating up, a key never used has LastUsedAt %v", got.LastUsedAt)
	}
	var n int
	if err := write.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('api_keys') WHERE name = 'last_used_at'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("api_keys still has last_used_at after migrating up (%d, %v)", n, err)
	}

	if err := db.MigrateDownTo(ctx, 2); err != nil {
		t.Fatalf("migrate down to 2: %v", err)
	}
	var last *int64
	if err := write.QueryRowContext(ctx, `SELECT last_used_at FROM api_keys WHERE id = ?`, int64(used.ID)).Scan(&last); err != nil {
		t.Fatalf("read last_used_at after migrating down: %v", err)
	}
	if last == nil || *last != at.UnixMicro() {
		t.Errorf("after migrating down, last_used_at = %v, want %d", last, at.UnixMicro())
	}
	if err := write.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'key_usage'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("key_usage remains after migrating down (%d, %v)", n, err)
	}
}

package postgres_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/storetest"
)

// Migration 2 moves last uses from api_keys.last_used_at into key_usage,
// keeping every one, and its down migration moves them back.
func TestMigrateMovesLastUses(t *testing.T) {
	ctx := t.Context()
	rawURL := pgtest.URL(t)
	db, err := postgres.Open(ctx, rawURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if err := db.MigrateTo(ctx, 1); err != nil {
		t.Fatalf("migrate to 1: %v", err)
	}
	raw, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer raw.Close(ctx)
	used, unused := storetest.NewKey("acme"), storetest.NewKey("acme")
	at := time.Date(2026, 5, 4, 3, 2, 1, 123456000, time.UTC)
	for _, k := range []struct {
		id   int64
		hash []byte
		last *time.Time
	}{{int64(used.ID), used.Hash[:], &at}, {int64(unused.ID), unused.Hash[:], nil}} {
		if _, err := raw.Exec(ctx, `INSERT INTO api_keys
			(id, org_id, root, name, permissions, secret_hash, hint, created_at, last_used_at)
			VALUES ($1, 'acme', false, 'k', '{read}', $2, 'hint', now(), $3)`, k.id, k.hash, k.last); err != nil {
			t.Fatalf("insert a version 1 row: %v", err)
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
	if err := raw.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'api_keys' AND column_name = 'last_used_at'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("api_keys still has last_used_at after migrating up (%d, %v)", n, err)
	}

	if err := db.MigrateDownTo(ctx, 1); err != nil {
		t.Fatalf("migrate down to 1: %v", err)
	}
	var last *time.Time
	if err := raw.QueryRow(ctx, `SELECT last_used_at FROM api_keys WHERE id = $1`, int64(used.ID)).Scan(&last); err != nil {
		t.Fatalf("read last_used_at after migrating down: %v", err)
	}
	if last == nil || !last.Equal(at) {
		t.Errorf("after migrating down, last_used_at = %v, want %v", last, at)
	}
	if err := raw.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name = 'key_usage'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("key_usage remains after migrating down (%d, %v)", n, err)
	}
}

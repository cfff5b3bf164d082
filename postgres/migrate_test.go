package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/storetest"
)

// Open leaves the schema alone; Migrate creates it, and running it again
// changes nothing.
func TestMigrate(t *testing.T) {
	rawURL := pgtest.URL(t)
	db, err := postgres.Open(t.Context(), rawURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if v, err := db.SchemaVersion(t.Context()); v != 0 || err != nil {
		t.Errorf("SchemaVersion of a new schema = %d, %v; want 0, nil", v, err)
	}
	if got := dump(t, rawURL); got != "" {
		t.Errorf("Open wrote to a new schema:\n%s", got)
	}

	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	v, err := db.SchemaVersion(t.Context())
	if v < 1 || err != nil {
		t.Fatalf("SchemaVersion after Migrate = %d, %v; want at least 1", v, err)
	}
	migrated := dump(t, rawURL)
	for _, want := range []string{
		"TABLE api_keys", "TABLE keyward_bootstrap", "TABLE goose_db_version",
		"INDEX api_keys_live_by_org: CREATE INDEX api_keys_live_by_org ON %s.api_keys USING btree (org_id, root, created_at DESC, id DESC) WHERE (deleted_at IS NULL)",
		"INDEX api_keys_secret_hash_key: CREATE UNIQUE INDEX",
		"CONSTRAINT api_keys_root_has_no_org",
	} {
		if !strings.Contains(migrated, strings.ReplaceAll(want, "%s", schemaOf(t, rawURL))) {
			t.Errorf("schema after Migrate lacks %s:\n%s", want, migrated)
		}
	}

	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if got := dump(t, rawURL); got != migrated {
		t.Errorf("second Migrate changed the database:\n%s\nwas:\n%s", got, migrated)
	}
	if v2, err := db.SchemaVersion(t.Context()); v2 != v || err != nil {
		t.Errorf("SchemaVersion after a second Migrate = %d, %v; want %d", v2, err, v)
	}
}

// Several processes migrating one new schema at once all succeed, and the
// schema is as one migration leaves it.
func TestMigrateConcurrent(t *testing.T) {
	want := func() string {
		rawURL := pgtest.URL(t)
		openAt(t, rawURL)
		return strings.ReplaceAll(dump(t, rawURL), schemaOf(t, rawURL), "SCHEMA")
	}()

	rawURL := pgtest.URL(t)
	const n = 4
	dbs := make([]*postgres.DB, n)
	for i := range dbs {
		db, err := postgres.Open(t.Context(), rawURL)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer db.Close()
		dbs[i] = db
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() {
			<-start
			errs[i] = db.Migrate(t.Context())
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
	}
	if got := strings.ReplaceAll(dump(t, rawURL), schemaOf(t, rawURL), "SCHEMA"); got != want {
		t.Errorf("after concurrent Migrates:\n%s\nwant, as after one:\n%s", got, want)
	}
}

// A database migrated by a newer keyward is refused, and left as it was.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	db, rawURL := openTestDB(t)
	if err := db.CreateKey(t.Context(), storetest.NewKey("acme"), nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	known, err := db.SchemaVersion(t.Context())
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	newer := known + 98
	if _, err := db.Pool().Exec(t.Context(),
		`INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, newer); err != nil {
		t.Fatalf("stamp a newer version: %v", err)
	}
	before := dump(t, rawURL)

	other, err := postgres.Open(t.Context(), rawURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer other.Close()
	err = other.Migrate(t.Context())
	want := fmt.Sprintf("database schema version %d is newer than this keyward binary supports (%d); upgrade keyward", newer, known)
	if err == nil || err.Error() != want {
		t.Errorf("Migrate of a newer database: %v, want %q", err, want)
	}
	if v, err := other.SchemaVersion(t.Context()); v != newer || err != nil {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, newer)
	}
	if after := dump(t, rawURL); after != before {
		t.Errorf("refused Migrate changed the database:\n%s\nwas:\n%s", after, before)
	}
}

// A search_path that names no existing schema is refused with a message
// that says so.
func TestMigrateWithoutSchema(t *testing.T) {
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", "keyward_no_such_schema")
	u.RawQuery = q.Encode()
	db, err := postgres.Open(t.Context(), u.String())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if err := db.Migrate(t.Context()); err == nil || !strings.Contains(err.Error(), "search_path") {
		t.Errorf("Migrate with no schema: %v, want an error about the search_path", err)
	}
}

// schemaOf returns the schema of a test URL.
func schemaOf(t testing.TB, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("search_path")
}

// dump returns the definition of everything in the schema of rawURL and
// the rows of every table, read with a connection of its own, as text to
// compare.
func dump(t testing.TB, rawURL string) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var b strings.Builder
	var tables []string
	rows, err := conn.Query(t.Context(), `
		SELECT 'TABLE', c.relname, '' FROM pg_class c
			WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
		UNION ALL
		SELECT 'COLUMN', c.relname || '.' || a.attname,
				format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END ||
				coalesce(' COLLATE ' || (SELECT collname FROM pg_collation WHERE oid = a.attcollation AND a.attcollation <> 100), '')
			FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
			WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
		UNION ALL
		SELECT 'INDEX', indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
		UNION ALL
		SELECT 'CONSTRAINT', conname, pg_get_constraintdef(oid) FROM pg_constraint
			WHERE connamespace = current_schema()::regnamespace
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var kind, name, def string
		if err := rows.Scan(&kind, &name, &def); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s: %s\n", kind, name, def)
		if kind == "TABLE" {
			tables = append(tables, name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		// Every column but goose's own timestamps and ids, which differ
		// between two schemas migrated alike.
		cols := "*"
		if table == "goose_db_version" {
			cols = "version_id, is_applied"
		}
		rows, err := conn.Query(t.Context(), `SELECT `+cols+` FROM `+pgx.Identifier{table}.Sanitize()+` ORDER BY 1, 2`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s: %v\n", table, vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

package sqlite_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/storetest"
)

// Open leaves the schema alone; Migrate creates it, and running it again
// changes nothing.
func TestMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if v, err := db.SchemaVersion(t.Context()); v != 0 || err != nil {
		t.Errorf("SchemaVersion of a new file = %d, %v; want 0, nil", v, err)
	}
	if got := dump(t, path); got != "" {
		t.Errorf("Open wrote to a new file:\n%s", got)
	}

	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	v, err := db.SchemaVersion(t.Context())
	if v < 1 || err != nil {
		t.Fatalf("SchemaVersion after Migrate = %d, %v; want at least 1", v, err)
	}
	migrated := dump(t, path)
	for _, want := range []string{"TABLE api_keys", "INDEX api_keys_live_by_org", "TABLE keyward_bootstrap"} {
		if !strings.Contains(migrated, want) {
			t.Errorf("schema after Migrate lacks %s:\n%s", want, migrated)
		}
	}

	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if got := dump(t, path); got != migrated {
		t.Errorf("second Migrate changed the database:\n%s\nwas:\n%s", got, migrated)
	}
	if v2, err := db.SchemaVersion(t.Context()); v2 != v || err != nil {
		t.Errorf("SchemaVersion after a second Migrate = %d, %v; want %d", v2, err, v)
	}
}

// A database migrated by a newer keyward is refused, and left as it was.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	db, path := openTestDB(t)
	if err := db.CreateKey(t.Context(), storetest.NewKey("acme"), nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	known, err := db.SchemaVersion(t.Context())
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	newer := known + 98
	raw := openRaw(t, path)
	if _, err := raw.ExecContext(t.Context(),
		`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, 1)`, newer); err != nil {
		t.Fatalf("stamp a newer version: %v", err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	before := dump(t, path)
	fileBefore, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	db, err = sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	err = db.Migrate(t.Context())
	want := fmt.Sprintf("database schema version %d is newer than this keyward binary supports (%d); upgrade keyward", newer, known)
	if err == nil || err.Error() != want {
		t.Errorf("Migrate of a newer database: %v, want %q", err, want)
	}
	if v, err := db.SchemaVersion(t.Context()); v != newer || err != nil {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, newer)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	if after := dump(t, path); after != before {
		t.Errorf("refused Migrate changed the database:\n%s\nwas:\n%s", after, before)
	}
	fileAfter, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fileAfter, fileBefore) {
		t.Error("refused Migrate changed the database file")
	}
}

// dump returns the schema and the rows of every table in the file at path,
// read with a connection of its own, as text to compare.
func dump(t *testing.T, path string) string {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var b strings.Builder
	var tables []string
	withoutRowid := map[string]bool{} // read in primary key order, which is their only order
	rows, err := raw.QueryContext(t.Context(),
		`SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var typ, name, def string
		if err := rows.Scan(&typ, &name, &def); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s: %s\n", strings.ToUpper(typ), name, def)
		if typ == "table" {
			tables = append(tables, name)
			withoutRowid[name] = strings.Contains(def, "WITHOUT ROWID")
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	for _, table := range tables {
		order := ` ORDER BY rowid`
		if withoutRowid[table] {
			order = ``
		}
		rows, err := raw.QueryContext(t.Context(), `SELECT * FROM "`+table+`"`+order)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s: %v\n", table, vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return b.String()
}

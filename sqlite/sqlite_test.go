package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	driver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
	"github.com/keyward/keyward/storetest"
)

// openTestDB opens and migrates a new database in a file under
// t.TempDir(), closed when the test ends. It returns the file's path too.
func openTestDB(t testing.TB) (*sqlite.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyward.db")
	return openAt(t, path), path
}

// openAt opens and migrates the database at path, closed when the test
// ends.
func openAt(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// openRaw opens the file with the driver alone, outside package sqlite, as
// another program (or an operator's sqlite3 shell) would.
func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatalf("open raw: %v", err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		NewDatabase: func(t *testing.T) string { return filepath.Join(t.TempDir(), "keyward.db") },
		Open: func(t *testing.T, path string) (keyward.KeyStore, error) {
			db, err := sqlite.Open(t.Context(), path)
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { db.Close() })
			return db, db.Migrate(t.Context())
		},
	})
}

// Every connection of both pools runs with the pragmas the durability and
// concurrency of the store rely on.
func TestPragmas(t *testing.T) {
	db, _ := openTestDB(t)
	write, read := db.Pools()
	if got := write.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool: at most %d connections, want 1", got)
	}
	pools := []struct {
		name      string
		db        *sql.DB
		conns     int
		queryOnly int
		cacheSize string // negative: KiB
	}{
		{"writer", write, 1, 0, "-8192"},
		{"reader", read, read.Stats().MaxOpenConnections, 1, "-2048"},
	}
	for _, p := range pools {
		t.Run(p.name, func(t *testing.T) {
			if p.conns < 1 {
				t.Fatalf("pool allows %d connections", p.conns)
			}
			// Hold every connection of the pool at once, so that each
			// check runs on a different one.
			conns := make([]*sql.Conn, p.conns)
			for i := range conns {
				c, err := p.db.Conn(t.Context())
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				defer c.Close()
				conns[i] = c
			}
			for i, c := range conns {
				for _, want := range []struct {
					pragma string
					value  string
				}{
					{"journal_mode", "wal"},
					{"synchronous", "2"}, // FULL
					{"busy_timeout", "10000"},
					{"foreign_keys", "1"},
					{"query_only", map[int]string{0: "0", 1: "1"}[p.queryOnly]},
					{"cache_size", p.cacheSize},
				} {
					var got string
					if err := c.QueryRowContext(t.Context(), "PRAGMA "+want.pragma).Scan(&got); err != nil {
						t.Fatalf("connection %d: PRAGMA %s: %v", i, want.pragma, err)
					}
					if got != want.value {
						t.Errorf("connection %d: PRAGMA %s = %q, want %q", i, want.pragma, got, want.value)
					}
				}
			}
		})
	}
}

// A writer transaction takes the write lock at BEGIN, so writers queue
// rather than fail on upgrading a read lock; readers cannot write.
func TestTransactionsBeginImmediate(t *testing.T) {
	db, path := openTestDB(t)
	write, read := db.Pools()
	tx, err := write.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatalf("BeginTx: %v", err)
	}
	defer tx.Rollback()

	// No statement has run in tx, yet another connection cannot write.
	raw := openRaw(t, path)
	_, err = raw.ExecContext(t.Context(), `INSERT INTO keyward_bootstrap (id, bootstrapped_at) VALUES (1, 0)`)
	if e, ok := errors.AsType[*driver.Error](err); !ok || e.Code()&0xff != sqlite3.SQLITE_BUSY {
		t.Errorf("write beside an open writer transaction: %v, want SQLITE_BUSY", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("Rollback: %v", err)
	}

	_, err = read.ExecContext(t.Context(), `INSERT INTO keyward_bootstrap (id, bootstrapped_at) VALUES (1, 0)`)
	if e, ok := errors.AsType[*driver.Error](err); !ok || e.Code()&0xff != sqlite3.SQLITE_READONLY {
		t.Errorf("write on the reader pool: %v, want SQLITE_READONLY", err)
	}
}

// Open creates the file readable by its owner only, as are the WAL files
// SQLite creates beside it.
func TestOpenCreatesPrivateFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes")
	}
	db, path := openTestDB(t)
	if err := db.CreateKey(t.Context(), storetest.NewKey("acme"), nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Errorf("stat: %v", err)
			continue
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s: mode %#o, want 0600", filepath.Base(name), mode)
		}
	}
}

// Open takes any file name, however many URI metacharacters it holds.
func TestOpenPathWithSpecialCharacters(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("'?' is not allowed in Windows file names")
	}
	dir := t.TempDir()
	name := "a b?c#d%20e&_pragma=query_only(1).db"
	db := openAt(t, filepath.Join(dir, name))
	k := storetest.NewKey("acme")
	if err := db.CreateKey(t.Context(), k, nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if _, err := db.KeyByHash(t.Context(), k.Hash); err != nil {
		t.Fatalf("KeyByHash: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("no file created")
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), name) {
			t.Errorf("file %q created, want only %q and its WAL files", e.Name(), name)
		}
	}
}

func TestOpenRefusesNonFile(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:keyward.db?mode=memory"} {
		if db, err := sqlite.Open(t.Context(), path); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
	if _, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "missing", "keyward.db")); err == nil {
		t.Error("Open in a missing directory succeeded, want an error")
	}
}

// What was written is there after Close and a new Open.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	root, kept, deleted := storetest.NewKey(""), storetest.NewKey("acme"), storetest.NewKey("acme")
	if ok, err := db.BootstrapRootKey(t.Context(), root, nil); !ok || err != nil {
		t.Fatalf("BootstrapRootKey = %v, %v", ok, err)
	}
	for _, k := range []*keyward.Key{kept, deleted} {
		if err := db.CreateKey(t.Context(), k, nil); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
	}
	if _, err := storetest.Delete(t.Context(), db, "acme", deleted.ID, time.Now()); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db = openAt(t, path)
	for _, k := range []*keyward.Key{root, kept} {
		got, err := db.KeyByHash(t.Context(), k.Hash)
		if err != nil {
			t.Fatalf("KeyByHash after reopen: %v", err)
		}
		if got.ID != k.ID || got.Name != k.Name || !got.CreatedAt.Equal(k.CreatedAt) {
			t.Errorf("after reopen: got key %v %q %v, want %v %q %v", got.ID, got.Name, got.CreatedAt, k.ID, k.Name, k.CreatedAt)
		}
	}
	if _, err := db.KeyByHash(t.Context(), deleted.Hash); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("KeyByHash of a deleted key after reopen: %v, want ENOTFOUND", err)
	}
	if ok, err := db.BootstrapRootKey(t.Context(), storetest.NewKey(""), nil); ok || err != nil {
		t.Errorf("BootstrapRootKey after reopen = %v, %v; want false, nil", ok, err)
	}
}

// The database holds a key's hash, never its secret: not in the database
// file, not in the WAL, neither while open nor after Close.
func TestNoSecretOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	svc := keyward.NewService(db)
	k, secret, err := svc.CreateKey(t.Context(), &keyward.Key{Root: true}, "acme", keyward.NewKey{
		Name:        "ci",
		Permissions: []keyward.Permission{keyward.PermRead},
	})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}

	check := func(when string) {
		t.Helper()
		files, err := filepath.Glob(path + "*")
		if err != nil {
			t.Fatal(err)
		}
		var all []byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
			all = append(all, 0) // no match across two files
		}
		body := secret.Reveal()[len(keyward.SecretPrefix):]
		if bytes.Contains(all, []byte(secret.Reveal())) || bytes.Contains(all, []byte(body)) {
			t.Errorf("%s: the secret is on disk", when)
		}
		if !bytes.Contains(all, k.Hash[:]) {
			t.Errorf("%s: the secret's hash is not on disk, so this test reads the wrong files", when)
		}
	}
	check("while open")
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	check("after Close")
}

// Migrate and SchemaVersion (the KeyStore methods are the conformance
// suite's) return the error of a context cancelled or past its deadline,
// wrapped.
func TestMigrateContextErrors(t *testing.T) {
	db, _ := openTestDB(t)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"expired", expired, context.DeadlineExceeded},
	} {
		if err := db.Migrate(c.ctx); !errors.Is(err, c.want) {
			t.Errorf("Migrate with a %s context: %v, want %v", c.name, err, c.want)
		}
		if _, err := db.SchemaVersion(c.ctx); !errors.Is(err, c.want) {
			t.Errorf("SchemaVersion with a %s context: %v, want %v", c.name, err, c.want)
		}
	}
}

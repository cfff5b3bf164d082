package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/sqlite"
)

// DBConfig names the database of every command that opens one.
type DBConfig struct {
	Path string `flag:"db" default:"keyward.db" usage:"path of the SQLite database file (serve and migrate create it if missing)"`
	URL  string `flag:"database-url" usage:"PostgreSQL URL (postgres://user:pass@host:5432/db?pool_max_conns=20);\nwhen set, --db is not used and several instances may share the database"`
}

// database is what the commands need of a store: either backend.
type database interface {
	keyward.KeyStore
	keyward.InvalidationFeed
	SchemaVersion(ctx context.Context) (int64, error)
}

// name says which database is in use, for messages; a URL's password is
// never shown.
func (d DBConfig) name() string {
	if d.URL == "" {
		return d.Path
	}
	u, err := url.Parse(d.URL)
	if err != nil {
		return "(PostgreSQL URL)"
	}
	return u.Redacted()
}

// open opens and migrates the database, creating a SQLite file that does
// not exist: for serve and migrate, the commands that make a database.
func (d DBConfig) open(ctx context.Context) (database, error) {
	if d.URL != "" {
		if !strings.HasPrefix(d.URL, "postgres://") && !strings.HasPrefix(d.URL, "postgresql://") {
			return nil, usageError{fmt.Errorf("--database-url: want a postgres:// URL")}
		}
		db, err := postgres.Open(ctx, d.URL)
		if err != nil {
			// pgx's errors may quote the URL, password included: say
			// only what kind of failure it was.
			return nil, fmt.Errorf("open database %s: %s", d.name(), redactURL(err.Error(), d.URL))
		}
		if err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("migrate database %s: %w", d.name(), err)
		}
		return db, nil
	}
	db, err := sqlite.Open(ctx, d.Path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", d.Path, err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate database %s: %w", d.Path, err)
	}
	return db, nil
}

// openExisting is open for a database that must already exist: the
// root-key commands. Were they to create a SQLite file, a mistyped --db
// would hand out a root key for a new, empty database that no server uses.
func (d DBConfig) openExisting(ctx context.Context) (database, error) {
	if d.URL == "" {
		if _, err := os.Stat(d.Path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s: give --db the file that serve uses; only 'keyward serve' and 'keyward migrate' create a database", d.Path)
		}
	}
	return d.open(ctx)
}

// redactURL removes the password of rawURL from msg.
func redactURL(msg, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "cannot connect"
	}
	if p, ok := u.User.Password(); ok && p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return msg
}

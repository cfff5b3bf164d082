package sqlite

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// migrations holds the schema's history, one goose SQL file per version,
// applied in order by Migrate. A file, once released, is never edited: a
// change to the schema is a new file.
//
//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is goose's record of the applied migrations.
const versionTable = "goose_db_version"

// maxMigrateAttempts bounds how often Migrate retries when another process
// migrates the same file at the same time.
const maxMigrateAttempts = 3

// Migrate brings the schema up to the newest version this binary knows.
// It is idempotent, and leaves an up-to-date database untouched. It refuses,
// without changing anything, a database whose schema is newer than this
// binary: an older binary writing to a newer schema could corrupt it or
// miss a constraint it added.
//
// Several processes may migrate one file at once: each migration runs in
// its own IMMEDIATE transaction, so they queue; one that loses the race to
// another's identical migration sees the schema already migrated and
// succeeds.
func (db *DB) Migrate(ctx context.Context) error {
	p, err := db.provider()
	if err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	sources := p.ListSources()
	newest := sources[len(sources)-1].Version

	var upErr error // the last attempt's failure
	prev := int64(-1)
	for attempt := 1; ; attempt++ {
		current, err := db.SchemaVersion(ctx)
		if err != nil {
			return fmt.Errorf("migrate database: %w", err)
		}
		if current > newest {
			return fmt.Errorf("database schema version %d is newer than this keyward binary supports (%d); upgrade keyward", current, newest)
		}
		if current == newest {
			return nil
		}
		switch {
		case attempt == 1:
		case upErr == nil:
			return fmt.Errorf("migrate database: migrations applied, yet schema version is %d, not %d", current, newest)
		case current <= prev || attempt > maxMigrateAttempts:
			return fmt.Errorf("migrate database from version %d to %d: %w", current, newest, upErr)
		}
		// Either the first attempt, or the last one failed while another
		// process advanced the schema (the failure was then most likely a
		// collision with it): try again from where it got to.
		prev = current
		_, upErr = p.Up(ctx)
		if upErr != nil && ctx.Err() != nil {
			return fmt.Errorf("migrate database: %w", upErr)
		}
	}
}

// SchemaVersion returns the version of the database's schema: the newest
// migration applied, or 0 for a database never migrated. It only reads.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	// goose creates its table on first use; asking goose would create it
	// here too, and this must not write.
	var n int
	err := db.read.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, versionTable,
	).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v int64
	// As goose's own GetLatestVersion: the highest version recorded.
	err = db.read.QueryRowContext(ctx, `SELECT coalesce(max(version_id), 0) FROM `+versionTable).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// provider returns a goose provider that applies the embedded migrations
// through the writer pool, so that they run in IMMEDIATE transactions.
func (db *DB) provider() (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectSQLite3, db.write, fsys,
		// Only the embedded files: no Go migration registered globally by
		// some other package may run against this database.
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	)
}

package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds the schema's history, one goose SQL file per version,
// applied in order by Migrate. A file, once released, is never edited: a
// change to the schema is a new file.
//
//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is goose's record of the applied migrations. It is named
// without a schema, so goose creates and reads it in the current schema
// (the first existing schema of the search_path), beside the store's
// tables.
const versionTable = "goose_db_version"

// Migrate brings the schema up to the newest version this binary knows.
// It is idempotent, and leaves an up-to-date database untouched. It refuses,
// without changing anything, a database whose schema is newer than this
// binary: an older binary writing to a newer schema could corrupt it or
// miss a constraint it added.
//
// Several processes may migrate one schema at once: goose holds a session
// advisory lock while it migrates, so they queue, and each one after the
// first finds the work done. Goose polls for the lock once a second, for
// up to five minutes. The lock's key is derived from the schema's name, so
// that stores in other schemas of the database do not wait for it.
func (db *DB) Migrate(ctx context.Context) error {
	schema, err := db.currentSchema(ctx)
	if err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	p, closeProvider, err := db.provider(schema)
	if err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	defer closeProvider()
	sources := p.ListSources()
	newest := sources[len(sources)-1].Version

	current, err := db.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	if current > newest {
		return errNewerSchema(current, newest)
	}
	if current == newest {
		return nil
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate database from version %d to %d: %w", current, newest, mapError(ctx, err))
	}
	// Another process may have got the lock first, with a newer binary.
	current, err = db.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	switch {
	case current > newest:
		return errNewerSchema(current, newest)
	case current != newest:
		return fmt.Errorf("migrate database: migrations applied, yet schema version is %d, not %d", current, newest)
	}
	return nil
}

// errNewerSchema is Migrate's refusal of a schema migrated by a newer
// keyward.
func errNewerSchema(current, newest int64) error {
	return fmt.Errorf("database schema version %d is newer than this keyward binary supports (%d); upgrade keyward", current, newest)
}

// SchemaVersion returns the version of the database's schema: the newest
// migration applied, or 0 for a database never migrated. It only reads.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	schema, err := db.currentSchema(ctx)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	// goose creates its table on first use; asking goose would create it
	// here too, and this must not write.
	var exists bool
	err = db.pool.QueryRow(ctx,
		`SELECT EXISTS (SELECT FROM pg_tables WHERE schemaname = $1 AND tablename = $2)`, schema, versionTable,
	).Scan(&exists)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", mapError(ctx, err))
	}
	if !exists {
		return 0, nil
	}
	var v int64
	// As goose's own GetLatestVersion: the highest version recorded.
	err = db.pool.QueryRow(ctx,
		`SELECT coalesce(max(version_id), 0) FROM `+pgx.Identifier{schema, versionTable}.Sanitize(),
	).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", mapError(ctx, err))
	}
	return v, nil
}

// currentSchema returns the schema in which the store's tables are: the
// first schema of the search_path that exists.
func (db *DB) currentSchema(ctx context.Context) (string, error) {
	var schema *string
	if err := db.pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return "", mapError(ctx, err)
	}
	if schema == nil {
		return "", errors.New("no schema of the search_path exists; create one, or set search_path in the database URL")
	}
	return *schema, nil
}

// provider returns a goose provider that applies the embedded migrations
// to schema, holding the session advisory lock of that schema, and a
// function that closes it. It has connections of its own, through pgx's
// database/sql driver, with the pool's settings: the lock is held by the
// session that migrates, which is closed when Migrate ends.
func (db *DB) provider(schema string) (*goose.Provider, func(), error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, nil, err
	}
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(migrateLockID(schema)),
		lock.WithLockTimeout(1, 300), // every second, for five minutes
	)
	if err != nil {
		return nil, nil, err
	}
	sqlDB := stdlib.OpenDB(*db.pool.Config().ConnConfig, stdlib.OptionAfterConnect(ensureDurableCommits))
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys,
		goose.WithTableName(versionTable),
		goose.WithSessionLocker(locker),
		// Only the embedded files: no Go migration registered globally by
		// some other package may run against this database.
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	)
	if err != nil {
		sqlDB.Close()
		return nil, nil, err
	}
	return p, func() { sqlDB.Close() }, nil
}

// migrateLockID returns the key of the advisory lock that Migrate holds on
// schema. Advisory locks are per database, so each schema has its own key.
func migrateLockID(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("keyward migrate\x00" + schema))
	return int64(h.Sum64())
}

package sqlite

import (
	"context"
	"database/sql"
)

// Pools returns the writer and reader pools, for the tests of package
// sqlite_test that check how their connections are configured.
func (db *DB) Pools() (write, read *sql.DB) { return db.write, db.read }

// MigrateTo applies the migrations up to version, and MigrateDownTo undoes
// those above it: for the tests of one migration's move of data.
func (db *DB) MigrateTo(ctx context.Context, version int64) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

func (db *DB) MigrateDownTo(ctx context.Context, version int64) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}

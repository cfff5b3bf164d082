package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/keyward/keyward"
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

// PruneInvalidations prunes the invalidation log as the feed does once a
// minute, for the tests of the pruning.
func (db *DB) PruneInvalidations(ctx context.Context, before time.Time) (int64, error) {
	return db.pruneInvalidations(ctx, before)
}

// ReadInvalidations reads the invalidation log past seq as one of the
// feed's reads does, and returns the position it reached.
func (db *DB) ReadInvalidations(ctx context.Context, seq int64, w keyward.InvalidationWatcher) (int64, error) {
	stmt, err := db.read.PrepareContext(ctx, queryInvalidations)
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	return invalidatedAfter(ctx, stmt, seq, w)
}

// CreateQueries are the statements a batch of creates runs prepared.
var CreateQueries = createQueries

// IsPrepared reports whether the writer holds query prepared.
func (db *DB) IsPrepared(query string) bool {
	_, ok := db.writeStmts.Load(query)
	return ok
}

package sqlite

import "database/sql"

// Pools returns the writer and reader pools, for the tests of package
// sqlite_test that check how their connections are configured.
func (db *DB) Pools() (write, read *sql.DB) { return db.write, db.read }

package main

import (
	"context"

	"github.com/keyward/keyward/postgres"
)

// openPostgres opens the PostgreSQL store that --database-url seeds; keyward
// is then started with --database-url instead of --db.
//
// Seeding inserts --keys new keys in organizations org-0...; point the URL
// at an empty database or schema (search_path=...), or org-0's list and
// the key counts mix with earlier runs.
var openPostgres = func(ctx context.Context, url string) (importer, error) {
	db, err := postgres.Open(ctx, url)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return db, nil
}

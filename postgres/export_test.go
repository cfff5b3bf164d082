package postgres

import (
	"context"
	"time"

	"github.com/pressly/goose/v3"
)

// WatchTimeouts has Watch give up on a heartbeat after reply, and on a
// connection or a LISTEN after connect, so that a test of a connection
// that stops answering takes moments rather than seconds.
func WatchTimeouts(reply, connect time.Duration) WatchOption {
	return func(c *watchConfig) { c.replyTimeout, c.connectTimeout = reply, connect }
}

// MigrateTo applies the migrations up to version, and MigrateDownTo undoes
// those above it: for the tests of one migration's move of data.
func (db *DB) MigrateTo(ctx context.Context, version int64) error {
	return db.withProvider(ctx, func(p *goose.Provider) error {
		_, err := p.UpTo(ctx, version)
		return err
	})
}

func (db *DB) MigrateDownTo(ctx context.Context, version int64) error {
	return db.withProvider(ctx, func(p *goose.Provider) error {
		_, err := p.DownTo(ctx, version)
		return err
	})
}

func (db *DB) withProvider(ctx context.Context, f func(*goose.Provider) error) error {
	schema, err := db.currentSchema(ctx)
	if err != nil {
		return err
	}
	p, closeDB, err := db.provider(schema)
	if err != nil {
		return err
	}
	defer closeDB()
	return f(p)
}

package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
)

// notifyCreated announces, in tx, the creating transaction, each secret
// hash of the new key k on NotifyChannel, as a change is announced: the
// caches of other instances keep a set of every hash that exists
// (package keycache), and refuse from memory one that is not in it, so a
// key created here must reach their sets before they vouch that they have
// heard every change committed before a request came.
//
// It costs every create what it costs every update: PostgreSQL commits the
// transactions that notify one at a time, so creates no longer share a
// flush of the log.
func notifyCreated(ctx context.Context, tx pgx.Tx, k *keyward.Key) error {
	return notify(ctx, tx, k.Hashes())
}

package sqlite

import (
	"context"
	"time"

	"github.com/keyward/keyward"
)

// logInvalidationQuery appends one entry to the invalidation log.
const logInvalidationQuery = `INSERT INTO key_invalidations (secret_hash, changed_at) VALUES (?, ?)`

// logCreated appends each secret hash of the new key k to the invalidation
// log, in tx, the creating transaction, as a change is logged: the caches
// of other processes keep a set of every hash that exists (package
// keycache) and refuse from memory one that is not in it, so a key created
// here must reach their sets before they vouch that they have read every
// change committed before a request came. tx may be a preparedTx: in a
// batch of creates the statement is prepared once.
func logCreated(ctx context.Context, tx execer, k *keyward.Key) error {
	at := time.Now().UnixMicro()
	for _, h := range k.Hashes() {
		if _, err := tx.ExecContext(ctx, logInvalidationQuery, h[:], at); err != nil {
			return err
		}
	}
	return nil
}

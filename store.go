package keyward

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// KeyStore is the storage contract. Every backend implements it and passes
// the conformance suite in package storetest, so the service behaves the same
// on any of them.
//
// Backends store what they are given and enforce uniqueness and atomicity;
// they make no decision about who may do what (that is Service's work).
// Errors are *Error with ENOTFOUND, ECONFLICT or EUNAVAILABLE where those
// apply; anything else is internal. Every acknowledged write is durable.
type KeyStore interface {
	// CreateKey stores a new key. It fails with ECONFLICT if the id or the
	// secret hash is already taken (by a live or a deleted key).
	CreateKey(ctx context.Context, k *Key) error

	// BootstrapRootKey stores k, a root key, only if the store has never
	// held a key and has never been bootstrapped, atomically even when
	// several processes start at once. It reports whether k was stored.
	BootstrapRootKey(ctx context.Context, k *Key) (bool, error)

	// KeyByHash returns the live key with the given secret hash, or
	// ENOTFOUND (also for a deleted key).
	KeyByHash(ctx context.Context, h SecretHash) (*Key, error)

	// Key returns the live key id of org, or ENOTFOUND. Root keys live in
	// the empty organization with Root set.
	Key(ctx context.Context, org OrgID, id KeyID) (*Key, error)

	// ListKeys returns live keys of f.OrgID, newest first (by CreatedAt,
	// then ID, both descending), starting after f.After, at most f.Limit.
	ListKeys(ctx context.Context, f KeyFilter) ([]*Key, error)

	// DeleteKey marks the live key id of org deleted at the given time and
	// returns it as it now stands. It fails with ENOTFOUND if there is no
	// such live key, so that of two concurrent deletes exactly one succeeds.
	// The record stays as a tombstone; it is never listed or returned again.
	DeleteKey(ctx context.Context, org OrgID, id KeyID, at time.Time) (*Key, error)

	// TouchKeys records uses of keys: each key's LastUsedAt becomes the
	// later of its stored value and the use's time, so that uses recorded
	// out of order, or by several instances, never move it back. Ids that
	// do not exist are ignored. The batch is one transaction. The caller
	// reuses uses once TouchKeys returns.
	TouchKeys(ctx context.Context, uses []KeyUse) error

	// Ping reports whether the store answers.
	Ping(ctx context.Context) error

	// Close releases the store's resources.
	Close() error
}

// RevocationFeed is implemented by stores that can tell a process about
// keys deleted by other processes (another instance, the command line), so
// that its cache forgets them.
type RevocationFeed interface {
	// WatchRevocations calls evict with the secret hash of each key deleted
	// from now on, until ctx is done; it then returns nil. When it may have
	// missed deletions (a lost connection), it calls reset, after which the
	// caller must forget everything it cached. It returns an error only if
	// it cannot start. It calls reset once as it starts, too: whatever was
	// cached before may have been deleted unseen.
	WatchRevocations(ctx context.Context, evict func(SecretHash), reset func()) error
}

// KeyUse is one recorded use of a key.
type KeyUse struct {
	ID KeyID
	At time.Time
}

// KeyFilter selects a page of one organization's keys.
type KeyFilter struct {
	OrgID OrgID
	Root  bool // list root keys (OrgID must then be empty)
	// After is the position of the last key of the previous page; nil for
	// the first page.
	After *Cursor
	Limit int
}

// Cursor is a position in a newest-first listing: the last key seen.
type Cursor struct {
	CreatedAt time.Time
	ID        KeyID
}

// CursorAfter returns the position just past k.
func CursorAfter(k *Key) *Cursor { return &Cursor{CreatedAt: k.CreatedAt, ID: k.ID} }

// Encode returns the cursor as an opaque URL-safe token.
func (c *Cursor) Encode() string {
	var b [17]byte
	b[0] = 1 // version
	binary.BigEndian.PutUint64(b[1:], uint64(c.CreatedAt.UnixMicro()))
	binary.BigEndian.PutUint64(b[9:], uint64(c.ID))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ParseCursor decodes a token made by Encode.
func ParseCursor(s string) (*Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 17 || b[0] != 1 {
		return nil, Invalid("invalid cursor", FieldError{Field: "cursor", Reason: "is not a cursor this server issued"})
	}
	id := KeyID(binary.BigEndian.Uint64(b[9:]))
	if id <= 0 || id >= MaxKeyID {
		return nil, Invalid("invalid cursor", FieldError{Field: "cursor", Reason: "is not a cursor this server issued"})
	}
	return &Cursor{CreatedAt: time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:]))).UTC(), ID: id}, nil
}

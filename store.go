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
	// CreateKey stores a new key and, in the same transaction, ev, the
	// audit event of its creation (nil for none: bulk imports). It fails
	// with ECONFLICT if the id or the secret hash is already taken (by a
	// live or a deleted key).
	//
	// The new key travels the invalidation feed under each of its hashes
	// (Key.Hashes), in the same transaction, as a change does: a cache
	// refuses from memory a hash it has not heard of (see
	// InvalidationFeed), so every instance must hear of every key.
	CreateKey(ctx context.Context, k *Key, ev *AuditEvent) error

	// CreateKeyIdempotent stores k as CreateKey does and, in the same
	// transaction, rec, the record of the idempotent write that made it:
	// both or neither. A record with rec's ID that expired by
	// rec.CreatedAt is replaced. It fails with ECONFLICT, storing
	// neither, if k's id or hash is taken or a live record has rec's ID.
	// ev is written with them, and k travels the feed, as by CreateKey.
	CreateKeyIdempotent(ctx context.Context, k *Key, rec *IdempotencyRecord, ev *AuditEvent) error

	// IdempotencyRecord returns the record with the given id, expired or
	// not, or ENOTFOUND.
	IdempotencyRecord(ctx context.Context, id [32]byte) (*IdempotencyRecord, error)

	// PruneIdempotencyRecords removes at most limit records that expired
	// before the given time, and reports how many it removed.
	PruneIdempotencyRecords(ctx context.Context, expiredBefore time.Time, limit int) (int, error)

	// BootstrapRootKey stores k, a root key, only if the store has never
	// held a key and has never been bootstrapped, atomically even when
	// several processes start at once. It reports whether k was stored.
	// ev, the audit event of the key's creation, is stored with it (nil
	// for none), and k travels the feed, as by CreateKey.
	BootstrapRootKey(ctx context.Context, k *Key, ev *AuditEvent) (bool, error)

	// KeyByHash returns the live key whose secret hash, or previous
	// secret's hash (Key.Previous), is h, or ENOTFOUND (also for a
	// deleted key). It returns a key whatever its state otherwise
	// (disabled, expired, a grace period ended): the service decides
	// that against its clock, so that a cached key expires on time.
	KeyByHash(ctx context.Context, h SecretHash) (*Key, error)

	// Key returns the live key id of org, or ENOTFOUND. Root keys live in
	// the empty organization with Root set.
	Key(ctx context.Context, org OrgID, id KeyID) (*Key, error)

	// KeyByID returns the live key id, whatever its organization (a root
	// key has Root set), or ENOTFOUND: key ids are unique across
	// organizations.
	KeyByID(ctx context.Context, id KeyID) (*Key, error)

	// ListKeys returns live keys of f.OrgID, newest first (by CreatedAt,
	// then ID, both descending), starting after f.After, at most f.Limit.
	ListKeys(ctx context.Context, f KeyFilter) ([]*Key, error)

	// UpdateKey changes the record of key id of org (root keys are in
	// the empty organization), live or deleted, in one transaction: it
	// reads the record, passes it to update, and writes what update
	// returns together with the audit event update returns (nil for
	// none), dex's update contract. update changes only the fields it
	// means to change on the value it is given, so that fields added later
	// are kept; the store keeps ID, OrgID, Root, CreatedAt, CreatedBy and
	// LastUsedAt as they are, and sets Version to the old one plus one. If
	// update fails, nothing is written and UpdateKey returns its error.
	// It fails with ENOTFOUND if there is no such record, and ECONFLICT if
	// a new secret hash is taken by another key's secret. (A previous
	// secret's hash is not checked against other keys' current ones:
	// secrets are 256 random bits, and the check would cost an index.) Concurrent updates of one key are
	// serialized: each update sees the record the previous one wrote.
	//
	// The change travels the invalidation feed under every hash the key
	// had before it and has after it (Key.Hashes), in the same
	// transaction.
	UpdateKey(ctx context.Context, org OrgID, id KeyID, update KeyUpdate) (*Key, error)

	// ListAuditEvents returns the audit events of f.OrgID that match f,
	// newest first (by At, then ID, both descending), after f.After, at
	// most f.Limit.
	ListAuditEvents(ctx context.Context, f AuditFilter) ([]*AuditEvent, error)

	// PruneAuditEvents removes at most limit audit events older than the
	// given time, oldest first, and reports how many it removed.
	PruneAuditEvents(ctx context.Context, before time.Time, limit int) (int, error)

	// PruneDeletedKeys removes for good the records of keys deleted
	// before the given time, with their last uses and verification
	// counts, at most limit of them
	// (oldest first), and reports how many it removed. A store once used
	// stays used: BootstrapRootKey does nothing on it afterwards, even if
	// every record is gone.
	PruneDeletedKeys(ctx context.Context, deletedBefore time.Time, limit int) (int, error)

	// TouchKeys records uses of keys: each key's LastUsedAt becomes the
	// later of its stored value and the use's time, so that uses recorded
	// out of order, or by several instances, never move it back. Ids that
	// do not exist are ignored. The batch is one transaction. The caller
	// reuses uses once TouchKeys returns.
	TouchKeys(ctx context.Context, uses []KeyUse) error

	// RecordUsage writes a flush of LastUsedRecorder in one transaction:
	// uses as TouchKeys records them, and counts, each added to the stored
	// counts of its key and hour (UsageCount.Hour is on the hour, in
	// UTC; a key and hour may come more than once, and every one is
	// added). Ids that do not exist are ignored, in both. Deleted keys'
	// counts are kept until the key is removed for good. The caller
	// reuses both slices once RecordUsage returns.
	RecordUsage(ctx context.Context, uses []KeyUse, counts []UsageCount) error

	// KeyUsage returns the stored verification counts of key id, live or
	// deleted, for the hours from since (included) to until (excluded),
	// both on the hour, in hour order; an hour without any is left out.
	// An id that does not exist has none. The service decides who may
	// read them.
	KeyUsage(ctx context.Context, id KeyID, since, until time.Time) ([]UsageCount, error)

	// PruneKeyUsage removes at most limit of the hourly counts of hours
	// that began before the given time, oldest first, and reports how
	// many it removed.
	PruneKeyUsage(ctx context.Context, before time.Time, limit int) (int, error)

	// SpendCredits spends cost of the usage credits of live key id at
	// now, in one atomic write: it applies a refill due (Credits.Spend
	// decides), then takes cost if that many remain, else nothing.
	// Concurrent spends, from any process, never take more than the key
	// has, and an acknowledged spend is durable. A key without credits
	// spends nothing (Limited false, and OK false: the caller looks at
	// Limited first); an unknown or deleted key is ENOTFOUND; a negative
	// cost, which would add credits, is EINVALID. A spend is use, not a change: Version and UpdatedAt stay,
	// no audit event is written and nothing travels the feed.
	SpendCredits(ctx context.Context, id KeyID, cost int64, now time.Time) (CreditSpend, error)

	// SecretHashes passes to each every secret hash the store holds: the
	// current secret's of every key record and its previous secret's, if
	// it has one, whether the key is live or deleted (a deleted key can
	// be restored), in no particular order, read in one snapshot, so that
	// every key acknowledged before the call is among them. A record
	// removed for good (PruneDeletedKeys) is not. It is what a cache's
	// membership set is loaded from (package keycache): read at start,
	// and again whenever the invalidation feed may have missed something.
	// each must return quickly and must not call the store.
	SecretHashes(ctx context.Context, each func(SecretHash)) error

	// LiveKeys returns live keys of every organization, root keys
	// included, in id order after the key id after (0: from the first),
	// at most limit of them, without their LastUsedAt. It is what a
	// cache is filled from at start (package keycache): page by page,
	// each page one short read, so that no snapshot is held for long.
	LiveKeys(ctx context.Context, after KeyID, limit int) ([]*Key, error)

	// Ping reports whether the store answers.
	Ping(ctx context.Context) error

	// Close releases the store's resources.
	Close() error
}

// InvalidationFeed is implemented by stores that several processes may
// share (PostgreSQL; SQLite, whose file other processes may open): it tells
// this process of every change, made by any process, that alters a verify
// answer (every change to a key: create, update, disable, enable,
// rotation, delete, restore), so that a cache of keys in front of the
// store answers within a staleness bound. Creates travel it too: the
// cache keeps the set of every secret hash that exists, and once the feed
// has confirmed a time after a request came, a hash it has not heard of
// belongs to no key acknowledged before the request, and is refused
// without a lookup. (Keys imported in bulk are the exception: see the
// backends' ImportKeys.)
//
// The feed proves itself live: it calls Confirm(t) once every invalidation
// committed before t has been passed to Invalidate. A cache trusts what it
// holds only while the last confirmation is recent enough; a feed that
// goes silent (a dropped connection, a partition) stops confirming, and the
// cache then reads the store instead of answering from memory.
type InvalidationFeed interface {
	// WatchInvalidations passes the invalidations committed from now on
	// to w until ctx is done, and then returns nil; it returns an error
	// only if it cannot start. It calls w.Reset once it watches, before its
	// first Confirm: whatever w held before may be stale. interval is how
	// often it should confirm, at the least.
	WatchInvalidations(ctx context.Context, w InvalidationWatcher, interval time.Duration) error
}

// InvalidationWatcher hears an InvalidationFeed. The feed calls it from one
// goroutine, one call at a time; each call should return quickly.
type InvalidationWatcher interface {
	// Invalidate says that the verify answer of the key with secret hash h
	// may have changed: whatever is held of it must be forgotten.
	Invalidate(h SecretHash)
	// Reset says that invalidations may have been missed (the feed lost
	// its connection and watches again): everything held must be
	// forgotten, and nothing read before the call may be kept.
	Reset()
	// Confirm says that every invalidation committed before asOf (a time
	// of this process's clock, with its monotonic reading) has been passed
	// to Invalidate, or was followed by a Reset.
	Confirm(asOf time.Time)
}

// InvalidationLagObserver may be implemented by an InvalidationWatcher
// that wants to know how long invalidations take to arrive: after passing
// an invalidation to Invalidate, a feed that knows when its change was
// committed calls InvalidationLag with the time from that commit to the
// return of Invalidate, that is, until the change's key left the cache.
// The commit's time is read off the clock of the process that wrote the
// change (SQLite) or of the database server (PostgreSQL): clocks that
// disagree skew the figure, and a lag below zero is reported as zero.
// Invalidations followed by a Reset, or written by a version that did not
// record the time, are not reported. It is called on the feed's goroutine
// and must return quickly.
type InvalidationLagObserver interface {
	InvalidationLag(lag time.Duration)
}

// LagSince is the lag of an invalidation committed at committed, passed on
// now: never below zero.
func LagSince(committed, now time.Time) time.Duration {
	return max(now.Sub(committed), 0)
}

// KeyUse is one recorded use of a key.
type KeyUse struct {
	ID KeyID
	At time.Time
}

// KeyUpdate is a change to a key for KeyStore.UpdateKey: given the key as
// stored, it returns the key as it should be and the audit event of the
// change, or an error to change nothing.
type KeyUpdate func(old Key) (Key, *AuditEvent, error)

// KeyFilter selects a page of one organization's keys.
type KeyFilter struct {
	OrgID OrgID
	Root  bool // list root keys (OrgID must then be empty)
	// States selects keys by state at Now (Key.State); nil selects every
	// key not deleted, whatever its state, and an empty list none.
	States []KeyState
	Now    time.Time
	// Name, if not empty, selects the keys whose name contains it,
	// ignoring the case of ASCII letters (every other character matches
	// only itself).
	Name string
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
func (c *Cursor) Encode() string { return encodeCursor(1, c.CreatedAt, int64(c.ID)) }

// cursorEncoding writes cursor tokens.
var cursorEncoding = base64.RawURLEncoding

// Cursor times are within the years 1 to 9999, which every backend stores
// and RFC 3339 writes: a token outside them is no cursor this server made.
var (
	minCursorTime = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxCursorTime = time.Date(9999, time.December, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
)

// cursorLen is the length of every token Encode makes: 17 bytes in
// unpadded base64.
var cursorLen = base64.RawURLEncoding.EncodedLen(17)

// ParseCursor decodes a token made by Encode. Every cursor has one
// spelling, and a token Encode could not have made (another length or
// version, an id or a time out of range, stray bits) is EINVALID.
func ParseCursor(s string) (*Cursor, error) {
	at, id, err := parseCursor(1, s)
	if err != nil {
		return nil, err
	}
	return &Cursor{CreatedAt: at, ID: KeyID(id)}, nil
}

// parseCursor decodes a token of the given version made by encodeCursor.
func parseCursor(version byte, s string) (time.Time, int64, error) {
	bad := Invalid("invalid cursor", FieldError{Field: "cursor", Reason: "is not a cursor this server issued"})
	// encoding/base64 skips '\r' and '\n' anywhere in its input, even in
	// strict mode: only the exact length leaves a token one spelling.
	if len(s) != cursorLen {
		return time.Time{}, 0, bad
	}
	b, err := cursorEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != 17 || b[0] != version {
		return time.Time{}, 0, bad
	}
	us := int64(binary.BigEndian.Uint64(b[1:]))
	id := int64(binary.BigEndian.Uint64(b[9:]))
	if id <= 0 || id >= MaxKeyID || us < minCursorTime || us > maxCursorTime {
		return time.Time{}, 0, bad
	}
	return time.UnixMicro(us).UTC(), id, nil
}

// PoolStats are one database connection pool's figures, for metrics.
type PoolStats struct {
	Name         string // the pool: "read" or "write" (SQLite), "pool" (PostgreSQL)
	InUse, Idle  int    // connections open, by whether a request holds them
	Max          int    // the most connections the pool opens
	WaitCount    int64  // times a request waited for a free connection
	WaitDuration time.Duration
}

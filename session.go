package keyward

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"time"
)

// Console sessions. A browser signed in to the web console (package
// console) holds a random token in a cookie; it never holds the key it
// signed in with. The store keeps only the token's SHA-256, so that a copy
// of the database opens no session, and the sessions live in the database,
// so that every instance behind a load balancer knows them and a sign-out
// on one ends the session on all.
//
// A session acts for the key it signed in with, for as long as that key
// may manage keys: each request checks, through ConsoleCaller, that the
// key is still live, active, a root key or holding manage, and that the
// secret it signed in with still verifies. Deleting, disabling or
// rotating the key (once the grace period of a rotation ends) ends its
// sessions with the next request, on every instance.
//
// A session that ends must stay ended: a key disabled and enabled again,
// or deleted and restored, must not bring back the sessions that were
// open when it was refused. So the change that refuses the key also
// removes its sessions, in the change's own transaction (EndsSessions
// says which changes do).

// SessionID identifies a console session: the SHA-256 of the token its
// cookie holds.
type SessionID [32]byte

// String redacts the id: it is not the token, but it finds the session.
func (SessionID) String() string { return redacted }

// Session is a browser signed in to the web console.
type Session struct {
	ID SessionID
	// KeyID is the key the session signed in with and acts as.
	KeyID KeyID
	// OrgID is the organization the session manages: the key's own, or
	// the one a root key picked ("" until it picks one).
	OrgID OrgID
	// Binding is SecretBinding of the secret the session signed in with,
	// so that the session ends when that secret stops verifying.
	Binding [32]byte
	// CSRF is the session's synchronizer token, which every form of the
	// console carries and every change must present.
	CSRF string
	// CreatedAt is when the session signed in; ExpiresAt when it ends,
	// whatever happens meanwhile.
	CreatedAt, ExpiresAt time.Time
}

// SessionStore keeps console sessions. Both backends implement it, and the
// conformance suite (package storetest) holds them to this contract.
type SessionStore interface {
	// CreateSession stores s. It fails with ECONFLICT if its id is taken.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the session with the given id, expired or not (the
	// caller decides against its clock), or ENOTFOUND.
	Session(ctx context.Context, id SessionID) (*Session, error)
	// DeleteSession removes the session with the given id; removing one
	// that does not exist is no error.
	DeleteSession(ctx context.Context, id SessionID) error
	// UpdateKey (KeyStore) removes, in its transaction, the sessions of
	// the key it changes when EndsSessions says so.
	//
	// PruneSessions removes at most limit sessions that expired before
	// the given time, and reports how many it removed.
	PruneSessions(ctx context.Context, expiredBefore time.Time, limit int) (int, error)
}

// EndsSessions reports whether a change of a key from old to updated (as
// KeyStore.UpdateKey makes it) removes the key's console sessions, in the
// change's transaction: the key is deleted or disabled, no longer holds
// manage, or its expiry, once set, is moved or removed (so that an
// expired key given a later expiry does not revive the sessions its
// expiry ended). A rotation does not: the sessions end with the grace
// period, when their secret stops verifying, and never come back.
func EndsSessions(old, updated *Key) bool {
	switch {
	case updated.DeletedAt != nil, updated.Disabled, !updated.Has(PermManage):
		return true
	case old.ExpiresAt != nil:
		return updated.ExpiresAt == nil || !updated.ExpiresAt.Equal(*old.ExpiresAt)
	}
	return false
}

// SecretBinding is what a console session keeps of the secret it signed in
// with: a digest of the secret's hash under a label of its own, so that
// the sessions table holds nothing that a lookup of keys by hash would
// take.
func SecretBinding(h SecretHash) [32]byte {
	return sha256.Sum256(append([]byte("keyward console session binding\x00"), h[:]...))
}

// ConsoleSignIn authenticates a secret presented to sign in to the web
// console: the key must be active and a root key or hold manage. It
// returns the key and the binding of the secret presented (see
// SecretBinding). Every refusal is EUNAUTHORIZED, whatever its reason, as
// for Authenticate, but for a valid key without manage, which is
// EFORBIDDEN: its holder knows the key, and learns only that it may not
// manage keys.
func (s *Service) ConsoleSignIn(ctx context.Context, presented string) (*Key, [32]byte, error) {
	k, err := s.Authenticate(ctx, presented)
	if err != nil {
		return nil, [32]byte{}, err
	}
	if !k.Has(PermManage) {
		return nil, [32]byte{}, Errorf(EFORBIDDEN, "this API key lacks the %q permission, which the console needs", PermManage)
	}
	secret, err := ParseSecret(presented)
	if err != nil { // Authenticate parsed it: cannot happen
		return nil, [32]byte{}, errUnauthenticated
	}
	return k, SecretBinding(secret.Hash()), nil
}

// ConsoleCaller returns the key a console session acts as, read afresh
// from the store: key id, if it is live, active, a root key or holding
// manage, and the secret the session signed in with (binding) still
// verifies: its current one, or its previous one within its grace period.
// Anything else is EUNAUTHORIZED: the session is over.
func (s *Service) ConsoleCaller(ctx context.Context, id KeyID, binding [32]byte) (*Key, error) {
	k, err := lookup(ctx, s, func(ctx context.Context) (*Key, error) { return s.store.KeyByID(ctx, id) })
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return nil, errUnauthenticated
	case err != nil:
		return nil, fmt.Errorf("console session: %w", err)
	}
	now := s.Now()
	if k.State(now) != StateActive || !k.Has(PermManage) {
		return nil, errUnauthenticated
	}
	current := SecretBinding(k.Hash)
	switch {
	case subtle.ConstantTimeCompare(current[:], binding[:]) == 1:
		return k, nil
	case k.Previous != nil && now.Before(k.Previous.ExpiresAt):
		prev := SecretBinding(k.Previous.Hash)
		if subtle.ConstantTimeCompare(prev[:], binding[:]) == 1 {
			return k, nil
		}
	}
	return nil, errUnauthenticated
}

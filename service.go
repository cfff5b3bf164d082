package keyward

import (
	"context"
	"fmt"
	"time"
)

// Service holds the rules of Keyward: how keys are made, who may see and
// change which keys, and how a presented secret is authenticated. Handlers
// and the CLI call it; backends only store what it decides.
type Service struct {
	store KeyStore
	// Now is the clock, injected so that tests control time.
	Now func() time.Time
	// Usage, if set, hears every successful authentication, so that keys
	// report when they were last used.
	Usage *UsageRecorder
}

// NewService returns a Service over store.
func NewService(store KeyStore) *Service {
	return &Service{store: store, Now: time.Now}
}

// NewKey is what a caller asks for when creating a key; its fields are
// already parsed with ParseName and ParsePermissions.
type NewKey struct {
	Name        string
	Permissions []Permission
}

// maxCreateAttempts bounds the retries when a random id collides.
const maxCreateAttempts = 4

// Authenticate checks a presented secret and returns the live key it
// belongs to. A malformed secret, or one whose checksum fails, is refused
// before any lookup. Every refusal is the same EUNAUTHORIZED, whatever the
// reason, so that a caller learns nothing about which keys exist.
func (s *Service) Authenticate(ctx context.Context, presented string) (*Key, error) {
	secret, err := ParseSecret(presented)
	if err != nil {
		return nil, errUnauthenticated
	}
	h := secret.Hash()
	k, err := s.store.KeyByHash(ctx, h)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return nil, errUnauthenticated
	case err != nil:
		return nil, fmt.Errorf("authenticate: %w", err)
	case !k.Hash.Equal(h) || k.DeletedAt != nil:
		return nil, errUnauthenticated
	}
	if s.Usage != nil {
		s.Usage.Record(k.ID, s.Now())
	}
	return k, nil
}

// VerifyCode is the outcome of a verification. The set grows as keys gain
// states (expired, disabled, rate limited); a client treats a code it does
// not know as invalid.
type VerifyCode string

// Verification outcomes.
const (
	// VerifyValid: the key is live and holds every permission asked for.
	VerifyValid VerifyCode = "VALID"
	// VerifyNotFound: the key is malformed, fails its checksum, is unknown
	// or was deleted; the answer does not say which.
	VerifyNotFound VerifyCode = "NOT_FOUND"
	// VerifyInsufficientPermissions: the key is live but lacks a
	// permission asked for.
	VerifyInsufficientPermissions VerifyCode = "INSUFFICIENT_PERMISSIONS"
)

// Verdict is the answer to a verification: the outcome and, when the key
// is live, the key.
type Verdict struct {
	Code VerifyCode
	Key  *Key // nil for VerifyNotFound
}

// Valid reports whether the key may be used.
func (v Verdict) Valid() bool { return v.Code == VerifyValid }

// Verify checks a presented secret, as a platform does on each request it
// serves, and that its key holds every permission in required (matched
// literally: manage does not imply write). It takes the same path as the
// management API's authentication. An error means the answer could not be
// had (the store is unavailable), never that the key is bad.
func (s *Service) Verify(ctx context.Context, presented string, required []Permission) (Verdict, error) {
	k, err := s.Authenticate(ctx, presented)
	switch {
	case ErrorCode(err) == EUNAUTHORIZED:
		return Verdict{Code: VerifyNotFound}, nil
	case err != nil:
		return Verdict{}, err
	}
	for _, p := range required {
		if !k.Has(p) {
			return Verdict{Code: VerifyInsufficientPermissions, Key: k}, nil
		}
	}
	return Verdict{Code: VerifyValid, Key: k}, nil
}

var errUnauthenticated = Errorf(EUNAUTHORIZED, "a valid API key is required")

// authorize decides whether caller may manage the keys of org. A key of
// another organization gets ENOTFOUND, exactly as for an organization or key
// that does not exist, so that no answer tells an outsider what exists.
//
// org is checked first: the empty organization holds the root keys, which
// no API caller may reach by naming it.
func authorize(caller *Key, org OrgID) error {
	if _, err := ParseOrgID(string(org)); err != nil {
		return Invalid("invalid organization", FieldError{Field: "org_id", Reason: err.Error()})
	}
	switch {
	case caller == nil:
		return errUnauthenticated
	case caller.Root:
		return nil
	case caller.OrgID != org:
		return Errorf(ENOTFOUND, "not found")
	case !caller.Has(PermManage):
		return Errorf(EFORBIDDEN, "this API key lacks the %q permission", PermManage)
	}
	return nil
}

// CreateKey issues a key in org for caller. The returned secret is shown
// once, to the caller, and never stored.
func (s *Service) CreateKey(ctx context.Context, caller *Key, org OrgID, in NewKey) (*Key, Secret, error) {
	if err := authorize(caller, org); err != nil {
		return nil, Secret{}, err
	}
	return s.create(ctx, org, false, in)
}

// CreateRootKey issues a root key. It is reachable only from the command
// line, which has the database in hand, never through the API.
func (s *Service) CreateRootKey(ctx context.Context, name string) (*Key, Secret, error) {
	return s.create(ctx, "", true, NewKey{Name: name, Permissions: AllPermissions})
}

// Bootstrap creates the first root key of a store that has never held a
// key. It reports whether it did; a store is bootstrapped once, ever, even
// when several instances start together.
func (s *Service) Bootstrap(ctx context.Context) (*Key, Secret, bool, error) {
	k, secret, err := s.newKey("", true, NewKey{Name: "root", Permissions: AllPermissions})
	if err != nil {
		return nil, Secret{}, false, err
	}
	ok, err := s.store.BootstrapRootKey(ctx, k)
	if err != nil {
		return nil, Secret{}, false, fmt.Errorf("bootstrap root key: %w", err)
	}
	if !ok {
		return nil, Secret{}, false, nil
	}
	return k, secret, true, nil
}

func (s *Service) create(ctx context.Context, org OrgID, root bool, in NewKey) (*Key, Secret, error) {
	for attempt := 1; ; attempt++ {
		k, secret, err := s.newKey(org, root, in)
		if err != nil {
			return nil, Secret{}, err
		}
		err = s.store.CreateKey(ctx, k)
		if ErrorCode(err) == ECONFLICT && attempt < maxCreateAttempts {
			continue // a random id collided: draw another
		}
		if err != nil {
			return nil, Secret{}, fmt.Errorf("create key: %w", err)
		}
		return k, secret, nil
	}
}

// newKey validates in and makes the record and secret of a new key.
func (s *Service) newKey(org OrgID, root bool, in NewKey) (*Key, Secret, error) {
	var bad []FieldError
	name, err := ParseName(in.Name)
	if err != nil {
		bad = append(bad, FieldError{Field: "name", Reason: err.Error()})
	}
	perms := make([]string, len(in.Permissions))
	for i, p := range in.Permissions {
		perms[i] = string(p)
	}
	permissions, err := ParsePermissions(perms)
	if err != nil {
		bad = append(bad, FieldError{Field: "permissions", Reason: err.Error()})
	}
	if len(bad) > 0 {
		return nil, Secret{}, Invalid("invalid key", bad...)
	}
	secret := NewSecret()
	return &Key{
		ID:          NewKeyID(),
		OrgID:       org,
		Root:        root,
		Name:        name,
		Permissions: permissions,
		Hash:        secret.Hash(),
		Hint:        secret.Hint(),
		CreatedAt:   s.Now().UTC().Truncate(time.Microsecond),
	}, secret, nil
}

// Key returns key id of org, if caller may see it.
func (s *Service) Key(ctx context.Context, caller *Key, org OrgID, id KeyID) (*Key, error) {
	if err := authorize(caller, org); err != nil {
		return nil, err
	}
	k, err := s.store.Key(ctx, org, id)
	if err != nil {
		return nil, fmt.Errorf("get key: %w", err)
	}
	return k, nil
}

// Page is one page of a listing, with the cursor of the next page (nil on
// the last page).
type Page struct {
	Keys []*Key
	Next *Cursor
}

// ListKeys returns a page of org's live keys, newest first.
func (s *Service) ListKeys(ctx context.Context, caller *Key, org OrgID, after *Cursor, limit int) (*Page, error) {
	if err := authorize(caller, org); err != nil {
		return nil, err
	}
	return s.list(ctx, KeyFilter{OrgID: org, After: after, Limit: limit})
}

// ListRootKeys returns a page of the live root keys, for the command line.
func (s *Service) ListRootKeys(ctx context.Context, after *Cursor, limit int) (*Page, error) {
	return s.list(ctx, KeyFilter{Root: true, After: after, Limit: limit})
}

func (s *Service) list(ctx context.Context, f KeyFilter) (*Page, error) {
	if f.Limit < 1 || f.Limit > MaxPageLimit {
		return nil, Invalid("invalid limit", FieldError{Field: "limit", Reason: fmt.Sprintf("must be 1 to %d", MaxPageLimit)})
	}
	want := f.Limit
	f.Limit++ // one more tells whether a next page exists
	keys, err := s.store.ListKeys(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	p := &Page{Keys: keys}
	if len(keys) > want {
		p.Keys = keys[:want]
		p.Next = CursorAfter(p.Keys[want-1])
	}
	return p, nil
}

// Page sizes for listings.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// DeleteKey revokes key id of org, if caller may manage it. The key fails
// authentication from the next request on.
func (s *Service) DeleteKey(ctx context.Context, caller *Key, org OrgID, id KeyID) error {
	if err := authorize(caller, org); err != nil {
		return err
	}
	return s.deleteKey(ctx, org, id)
}

// DeleteRootKey revokes a root key, for the command line.
func (s *Service) DeleteRootKey(ctx context.Context, id KeyID) error {
	return s.deleteKey(ctx, "", id)
}

func (s *Service) deleteKey(ctx context.Context, org OrgID, id KeyID) error {
	if _, err := s.store.DeleteKey(ctx, org, id, s.Now().UTC().Truncate(time.Microsecond)); err != nil {
		return fmt.Errorf("delete key: %w", err)
	}
	return nil
}

package keyward

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Service holds the rules of Keyward: how keys are made, who may see and
// change which keys, how a presented secret is authenticated, and how long
// a request may wait for the store. Handlers and the CLI call it; backends
// only store what it decides.
type Service struct {
	store KeyStore
	// Now is the clock, injected so that tests control time.
	Now func() time.Time
	// LastUsed, if set, hears every successful authentication, so that
	// keys report when they were last used, and counts every
	// verification of a key that exists, by outcome, hour by hour (see
	// KeyUsage). Authentications to the management API are uses, not
	// verifications: they are not counted.
	LastUsed *LastUsedRecorder
	// LookupTimeout bounds each read of the store made for a request, and
	// WriteTimeout each write: a store that does not answer in time fails
	// the request with EUNAVAILABLE rather than holding it (and its
	// goroutine) for as long as the store is silent.
	LookupTimeout, WriteTimeout time.Duration
	// DeletedKeyRetention is how long a deleted key's record is kept
	// before Prune removes it (DefaultDeletedKeyRetention if zero).
	DeletedKeyRetention time.Duration
	// AuditRetention is how long audit events are kept before Prune
	// removes them (DefaultAuditRetention if zero).
	AuditRetention time.Duration
	// UsageRetention is how long the hourly verification counts are kept
	// before Prune removes them (DefaultUsageRetention if zero).
	UsageRetention time.Duration
	// IdempotencySecret, if set (at least MinIdempotencySecretLen bytes,
	// the same on every instance), keys the records of idempotent writes,
	// so that a copy of the database alone cannot open one even where the
	// client's idempotency key can be guessed (see idempotency.go).
	// Changing it forgets the records made before.
	IdempotencySecret []byte
	// RateLimiter counts keys' uses against their rate limits; keys'
	// limits are not enforced without one (NewService sets an in-memory
	// one, right for a single instance).
	RateLimiter RateLimiter
	// spent remembers keys whose credits ran out, so that a key at zero
	// is refused without a write until it is refilled or changed.
	spent exhaustedCredits
}

// Default deadlines of the store calls made for a request.
const (
	DefaultLookupTimeout = 2 * time.Second
	DefaultWriteTimeout  = 5 * time.Second
)

// NewService returns a Service over store with the default deadlines.
func NewService(store KeyStore) *Service {
	return &Service{
		store: store, Now: time.Now, RateLimiter: NewMemoryRateLimiter(),
		LookupTimeout: DefaultLookupTimeout, WriteTimeout: DefaultWriteTimeout,
		DeletedKeyRetention: DefaultDeletedKeyRetention,
		AuditRetention:      DefaultAuditRetention,
		UsageRetention:      DefaultUsageRetention,
	}
}

// NewKey is what a caller asks for when creating a key; its fields are
// already parsed with ParseName and ParsePermissions.
type NewKey struct {
	Name        string
	Permissions []Permission
	// Retry, if set, makes the create idempotent: repeated with the same
	// idempotency key within IdempotencyWindow, it answers with the key
	// and secret of its first answer instead of making another key.
	Retry *Retry
	// ExpiresAt, if set, is when the key stops verifying; it must be in
	// the future.
	ExpiresAt *time.Time
	// Metadata is a JSON object as ParseMetadata returns it, "" for none.
	Metadata string
	// RateLimits are checked with ParseRateLimits; none if empty.
	RateLimits []RateLimit
	// Credits, if set, are checked with ParseCredits; RefilledAt is set
	// to the key's creation.
	Credits *Credits
}

// maxCreateAttempts bounds the retries when a random id collides.
const maxCreateAttempts = 4

// errTimedOut is the message of a store call that ran past its deadline.
const errTimedOut = "the database did not answer in time"

// call runs f with ctx bounded by timeout. A failure caused by that
// deadline (ctx itself still live) is EUNAVAILABLE: the store is too slow
// or unreachable, and the client may try again. A failure because ctx
// itself ended (the client went away) is returned as it is.
func call[T any](ctx context.Context, timeout time.Duration, f func(ctx context.Context) (T, error)) (T, error) {
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	v, err := f(cctx)
	return v, timedOut(ctx, err)
}

// timedOut returns err as EUNAVAILABLE if it is a deadline's, set by the
// service or below it, that ran out while ctx, the request's, is live.
func timedOut(ctx context.Context, err error) error {
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) && ErrorCode(err) == EINTERNAL {
		return &Error{Code: EUNAVAILABLE, Message: errTimedOut, Err: err}
	}
	return err
}

// lookup runs a read of the store under LookupTimeout.
func lookup[T any](ctx context.Context, s *Service, f func(ctx context.Context) (T, error)) (T, error) {
	return call(ctx, s.LookupTimeout, f)
}

// write runs a write to the store under WriteTimeout.
func write[T any](ctx context.Context, s *Service, f func(ctx context.Context) (T, error)) (T, error) {
	return call(ctx, s.WriteTimeout, f)
}

// Authenticate checks a presented secret and returns the active key it
// belongs to, for the management API. A malformed secret, or one whose
// checksum fails, is refused before any lookup. Every refusal is the same
// EUNAUTHORIZED, whatever the reason (unknown, deleted, disabled, expired,
// a previous secret past its grace period), so that a caller learns
// nothing about which keys exist.
func (s *Service) Authenticate(ctx context.Context, presented string) (*Key, error) {
	now := s.Now()
	k, _, err := s.resolve(ctx, presented, now)
	switch {
	case err != nil:
		return nil, err
	case k.State(now) != StateActive:
		return nil, errUnauthenticated
	}
	if s.LastUsed != nil {
		s.LastUsed.Record(k.ID, now)
	}
	return k, nil
}

// resolve finds the live key a presented secret belongs to, by its
// current secret or by its previous one within its grace period (whose
// end it then returns), whatever the key's state otherwise. State is
// decided here, against the clock, after the cache: a cached key expires
// and its grace period ends on time.
func (s *Service) resolve(ctx context.Context, presented string, now time.Time) (*Key, *time.Time, error) {
	secret, err := ParseSecret(presented)
	if err != nil {
		return nil, nil, errUnauthenticated
	}
	// This lookup runs on every request, so it sets no deadline of its
	// own (a timer per verification): the verification cache in front of
	// the store answers from memory, and bounds each lookup it makes of
	// the store by the same deadline (keycache.Options.LoadTimeout).
	h := secret.Hash()
	k, err := s.store.KeyByHash(ctx, h)
	err = timedOut(ctx, err)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return nil, nil, errUnauthenticated
	case err != nil:
		return nil, nil, fmt.Errorf("authenticate: %w", err)
	case k.DeletedAt != nil:
		return nil, nil, errUnauthenticated
	case k.Hash.Equal(h):
		return k, nil, nil
	case k.Previous != nil && k.Previous.Hash.Equal(h) && now.Before(k.Previous.ExpiresAt):
		end := k.Previous.ExpiresAt
		return k, &end, nil
	}
	return nil, nil, errUnauthenticated
}

// VerifyCode is the outcome of a verification. The set may grow; a client
// treats a code it does not know as invalid.
type VerifyCode string

// Verification outcomes.
const (
	// VerifyValid: the key is active and holds every permission asked for.
	VerifyValid VerifyCode = "VALID"
	// VerifyNotFound: the key is malformed, fails its checksum, is unknown,
	// was deleted, is a previous secret past its grace period, or is a
	// root key (the operator's credential, never a customer's); the
	// answer does not say which.
	VerifyNotFound VerifyCode = "NOT_FOUND"
	// VerifyDisabled: the key exists but is disabled.
	VerifyDisabled VerifyCode = "DISABLED"
	// VerifyExpired: the key exists but its expiry has passed.
	VerifyExpired VerifyCode = "EXPIRED"
	// VerifyInsufficientPermissions: the key is active but lacks a
	// permission asked for.
	VerifyInsufficientPermissions VerifyCode = "INSUFFICIENT_PERMISSIONS"
	// VerifyRateLimited: the key is active but one of its rate limits
	// has fewer units left in its window than the verification's cost.
	VerifyRateLimited VerifyCode = "RATE_LIMITED"
	// VerifyUsageExceeded: the key is active but has fewer usage credits
	// left than the verification's cost.
	VerifyUsageExceeded VerifyCode = "USAGE_EXCEEDED"
)

// VerifyCodes are every verification outcome, in the order above.
var VerifyCodes = []VerifyCode{VerifyValid, VerifyNotFound, VerifyDisabled, VerifyExpired,
	VerifyInsufficientPermissions, VerifyRateLimited, VerifyUsageExceeded}

// Verdict is the answer to a verification: the outcome and, when the key
// exists, the key.
type Verdict struct {
	Code VerifyCode
	Key  *Key // nil for VerifyNotFound
	// SecretExpiresAt is set when the secret presented is a rotated key's
	// previous one: the end of its grace period.
	SecretExpiresAt *time.Time
	// RateLimits is where the key stands against each of its rate limits,
	// once they were checked.
	RateLimits []LimitState
	// CreditsRemaining is what is left of the key's credits, once they
	// were checked; nil for a key without credits.
	CreditsRemaining *int64
}

// Valid reports whether the key may be used.
func (v Verdict) Valid() bool { return v.Code == VerifyValid }

// Verify checks a presented secret, as a platform does on each request it
// serves, and that its key holds every permission in required (matched
// literally: manage does not imply write), at a cost of 1 (see
// VerifyCost).
func (s *Service) Verify(ctx context.Context, presented string, required []Permission) (Verdict, error) {
	return s.VerifyCost(ctx, presented, required, 1)
}

// VerifyCost is Verify spending cost (0 to MaxCost) of the key's rate
// limits and credits. The checks go in this order: the key exists
// (NOT_FOUND), is enabled (DISABLED), has not expired (EXPIRED), holds
// the permissions (INSUFFICIENT_PERMISSIONS), is within every rate limit
// (RATE_LIMITED: nothing is spent of any), has the credits
// (USAGE_EXCEEDED: the rate limits were spent, the credits not). A root
// key is the operator's credential for the management API, not a
// customer's key: it verifies as VerifyNotFound, so that a platform
// checking only "valid" cannot mistake it for one. An error means the
// answer could not be had (the store or the rate limiter is
// unavailable), never that the key is bad. A use is recorded for an
// enabled, unexpired key.
//
// Each verification of a key that exists (not a root key) is counted by
// its outcome, in LastUsed, once the outcome is known: one that fails
// with an error has none, and is a use but no count.
func (s *Service) VerifyCost(ctx context.Context, presented string, required []Permission, cost int64) (Verdict, error) {
	if cost < 0 || cost > MaxCost {
		return Verdict{}, Invalid("invalid request", FieldError{Field: "cost", Reason: fmt.Sprintf("must be an integer from 0 to %d", MaxCost)})
	}
	now := s.Now()
	v, used, err := s.verify(ctx, presented, required, cost, now)
	if s.LastUsed != nil && used != 0 {
		switch {
		case err != nil:
			s.LastUsed.Record(used, now)
		default:
			s.LastUsed.RecordVerification(used, now, v.Code)
		}
	}
	return v, err
}

// verify is VerifyCost at now. It also returns the id of the key
// verified (0 for none: NOT_FOUND, a root key), even with an error, as
// long as the key was enabled and unexpired, or with a verdict.
func (s *Service) verify(ctx context.Context, presented string, required []Permission, cost int64, now time.Time) (Verdict, KeyID, error) {
	k, grace, err := s.resolve(ctx, presented, now)
	switch {
	case ErrorCode(err) == EUNAUTHORIZED:
		return Verdict{Code: VerifyNotFound}, 0, nil
	case err != nil:
		return Verdict{}, 0, err
	case k.Root:
		return Verdict{Code: VerifyNotFound}, 0, nil
	}
	v := Verdict{Code: VerifyValid, Key: k, SecretExpiresAt: grace}
	switch k.State(now) {
	case StateDisabled:
		v.Code = VerifyDisabled
		return v, k.ID, nil
	case StateExpired:
		v.Code = VerifyExpired
		return v, k.ID, nil
	}
	for _, p := range required {
		if !k.Has(p) {
			v.Code = VerifyInsufficientPermissions
			return v, k.ID, nil
		}
	}
	if len(k.RateLimits) > 0 {
		states, ok, err := s.RateLimiter.Take(ctx, k.ID, k.RateLimits, cost, now)
		if err != nil {
			return Verdict{}, k.ID, fmt.Errorf("rate limit: %w", err)
		}
		v.RateLimits = states
		if !ok {
			v.Code = VerifyRateLimited
			return v, k.ID, nil
		}
	}
	if k.Credits != nil {
		left, ok, limited, err := s.spendCredits(ctx, k, cost, now)
		switch {
		case ErrorCode(err) == ENOTFOUND:
			return Verdict{Code: VerifyNotFound}, 0, nil // deleted meanwhile
		case err != nil:
			return Verdict{}, k.ID, fmt.Errorf("spend credits: %w", err)
		case limited:
			v.CreditsRemaining = &left
		}
		if !ok {
			v.Code = VerifyUsageExceeded
		}
	}
	return v, k.ID, nil
}

var errUnauthenticated = Errorf(EUNAUTHORIZED, "a valid API key is required")

// errNotFound is the answer for anything a caller may not see, exactly as
// for something that does not exist.
var errNotFound = Errorf(ENOTFOUND, "not found")

// errOrgRequired refuses a request by a root key that names no
// organization where one is needed.
var errOrgRequired = Invalid("invalid request", FieldError{Field: "organization_id", Reason: "is required with a root key, which belongs to no organization"})

// scope decides which organization a request by caller acts on, and
// whether caller may manage its keys. org is the organization the request
// names, or "" if it names none: then it is the caller's own, and a root
// key, which has none, must name one. A key of another organization gets
// ENOTFOUND, exactly as for an organization or key that does not exist, so
// that no answer tells an outsider what exists. No caller reaches the
// empty organization, where the root keys are.
func scope(caller *Key, org OrgID) (OrgID, error) {
	if caller == nil {
		return "", errUnauthenticated
	}
	if org != "" {
		if _, err := ParseOrgID(string(org)); err != nil {
			return "", Invalid("invalid organization", FieldError{Field: "organization_id", Reason: err.Error()})
		}
	}
	switch {
	case caller.Root && org == "":
		return "", errOrgRequired
	case caller.Root:
		return org, nil
	case org != "" && org != caller.OrgID:
		return "", errNotFound
	case !caller.Has(PermManage):
		return "", Errorf(EFORBIDDEN, "this API key lacks the %q permission", PermManage)
	}
	return caller.OrgID, nil
}

// keyScope is scope for a request about one key. A root key may leave the
// organization out: key ids are unique, so the key's own organization is
// found from its id. It returns the organization, and the key if it had to
// read it.
func (s *Service) keyScope(ctx context.Context, caller *Key, org OrgID, id KeyID) (OrgID, *Key, error) {
	if caller == nil || !caller.Root || org != "" {
		org, err := scope(caller, org)
		return org, nil, err
	}
	k, err := lookup(ctx, s, func(ctx context.Context) (*Key, error) { return s.store.KeyByID(ctx, id) })
	switch {
	case err != nil:
		return "", nil, fmt.Errorf("get key: %w", err)
	case k.Root:
		return "", nil, Errorf(ENOTFOUND, "API key not found") // root keys are for the command line
	}
	return k.OrgID, k, nil
}

// CreateKey issues a key for caller in org ("" for the caller's own). A
// key may grant only permissions it holds itself; a root key holds every
// permission. The returned secret is shown once, to the caller, and never
// stored. With in.Retry, a repeat of an earlier create by the same caller
// with the same idempotency key answers with that create's key and secret
// (see idempotency.go); with another request, it is EUNPROCESSABLE.
func (s *Service) CreateKey(ctx context.Context, caller *Key, org OrgID, in NewKey) (*Key, Secret, error) {
	org, err := scope(caller, org)
	if err != nil {
		return nil, Secret{}, err
	}
	if !caller.Root {
		var missing []string
		for _, p := range in.Permissions {
			if !caller.Has(p) {
				missing = append(missing, string(p))
			}
		}
		if len(missing) > 0 {
			return nil, Secret{}, Errorf(EFORBIDDEN, "this API key cannot grant permissions it does not hold: %s", strings.Join(missing, ", "))
		}
	}
	if in.Retry != nil {
		rec, err := s.idempotencyRecord(ctx, caller, in.Retry)
		if err != nil || rec != nil {
			return s.replay(rec, in.Retry, err)
		}
	}
	k, secret, err := s.create(ctx, caller, org, false, in)
	if r, ok := errors.AsType[*repeated](err); ok {
		return s.replay(r.rec, in.Retry, nil) // a repeat that ran at the same time committed first
	}
	return k, secret, err
}

// repeated is create's failure when the record of an idempotent write
// with its idempotency key was stored first, by a repeat that ran at the
// same time: the answer is that write's.
type repeated struct{ rec *IdempotencyRecord }

func (e *repeated) Error() string { return "an idempotent write with this key was made first" }

// idempotencyRecord returns the live record of caller's idempotent write
// with r's idempotency key, or nil if there is none (or only an expired
// one, which a new write replaces).
func (s *Service) idempotencyRecord(ctx context.Context, caller *Key, r *Retry) (*IdempotencyRecord, error) {
	id := idempotencyID(s.IdempotencySecret, caller.ID, r.Key)
	rec, err := lookup(ctx, s, func(ctx context.Context) (*IdempotencyRecord, error) { return s.store.IdempotencyRecord(ctx, id) })
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("find idempotent write: %w", err)
	case !s.Now().Before(rec.ExpiresAt):
		return nil, nil // forgotten: the write is made anew
	}
	return rec, nil
}

// replay answers a repeat of an idempotent write with the first answer,
// which rec seals: for the same request only.
func (s *Service) replay(rec *IdempotencyRecord, r *Retry, err error) (*Key, Secret, error) {
	switch {
	case err != nil:
		return nil, Secret{}, err
	case rec.Request != r.Request:
		return nil, Secret{}, Errorf(EUNPROCESSABLE, "this Idempotency-Key was used with another request; use a new key for a new request")
	}
	k, secret, err := rec.open(s.IdempotencySecret, r.Key)
	if err != nil {
		return nil, Secret{}, fmt.Errorf("replay idempotent write: %w", err)
	}
	return k, secret, nil
}

// CreateRootKey issues a root key. It is reachable only from the command
// line, which has the database in hand, never through the API.
func (s *Service) CreateRootKey(ctx context.Context, name string) (*Key, Secret, error) {
	return s.create(ctx, nil, "", true, NewKey{Name: name, Permissions: AllPermissions})
}

// Bootstrap creates the first root key of a store that has never held a
// key. It reports whether it did; a store is bootstrapped once, ever, even
// when several instances start together.
func (s *Service) Bootstrap(ctx context.Context) (*Key, Secret, bool, error) {
	k, secret, err := s.newKey(nil, "", true, NewKey{Name: "root", Permissions: AllPermissions})
	if err != nil {
		return nil, Secret{}, false, err
	}
	ev := s.event(ctx, nil, ActionCreate, k, k.CreatedAt, nil)
	ok, err := write(ctx, s, func(ctx context.Context) (bool, error) { return s.store.BootstrapRootKey(ctx, k, ev) })
	if err != nil {
		return nil, Secret{}, false, fmt.Errorf("bootstrap root key: %w", err)
	}
	if !ok {
		return nil, Secret{}, false, nil
	}
	return k, secret, true, nil
}

// create makes a key for caller (nil for the command line), storing the
// record of an idempotent write with it if in.Retry says so.
func (s *Service) create(ctx context.Context, caller *Key, org OrgID, root bool, in NewKey) (*Key, Secret, error) {
	for attempt := 1; ; attempt++ {
		k, secret, err := s.newKey(caller, org, root, in)
		if err != nil {
			return nil, Secret{}, err
		}
		ev := s.event(ctx, caller, ActionCreate, k, k.CreatedAt, nil)
		var rec *IdempotencyRecord
		if in.Retry != nil && caller != nil {
			if rec, err = newIdempotencyRecord(s.IdempotencySecret, caller.ID, in.Retry, k, secret, k.CreatedAt); err != nil {
				return nil, Secret{}, fmt.Errorf("create key: %w", err)
			}
		}
		_, err = write(ctx, s, func(ctx context.Context) (struct{}, error) {
			if rec != nil {
				return struct{}{}, s.store.CreateKeyIdempotent(ctx, k, rec, ev)
			}
			return struct{}{}, s.store.CreateKey(ctx, k, ev)
		})
		if ErrorCode(err) == ECONFLICT && rec != nil {
			// Either the record's id is taken (a repeat committed first)
			// or the key's random id: the record says which.
			switch first, lerr := s.idempotencyRecord(ctx, caller, in.Retry); {
			case lerr != nil:
				return nil, Secret{}, fmt.Errorf("create key: %w", lerr)
			case first != nil:
				return nil, Secret{}, &repeated{first}
			}
		}
		if ErrorCode(err) == ECONFLICT && attempt < maxCreateAttempts {
			continue // a random id collided: draw another
		}
		if err != nil {
			return nil, Secret{}, fmt.Errorf("create key: %w", err)
		}
		return k, secret, nil
	}
}

// newKey validates in and makes the record and secret of a new key made
// by caller (nil for the command line).
func (s *Service) newKey(caller *Key, org OrgID, root bool, in NewKey) (*Key, Secret, error) {
	now := s.Now().UTC().Truncate(time.Microsecond)
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
	var expires *time.Time
	if in.ExpiresAt != nil {
		t := in.ExpiresAt.UTC().Truncate(time.Microsecond)
		expires = &t
		if fe := checkExpiry(expires, now); fe != nil {
			bad = append(bad, *fe)
		}
	}
	metadata := ""
	if in.Metadata != "" {
		if metadata, err = ParseMetadata([]byte(in.Metadata)); err != nil {
			bad = append(bad, FieldError{Field: "metadata", Reason: err.Error()})
		}
	}
	limits, err := ParseRateLimits(in.RateLimits)
	if err != nil {
		bad = append(bad, FieldError{Field: "rate_limits", Reason: err.Error()})
	}
	var credits *Credits
	if in.Credits != nil {
		if credits, err = ParseCredits(*in.Credits); err != nil {
			bad = append(bad, FieldError{Field: "credits", Reason: err.Error()})
		} else {
			credits.RefilledAt = now
		}
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
		CreatedAt:   now,
		UpdatedAt:   now,
		CreatedBy:   createdBy(caller),
		Version:     1,
		ExpiresAt:   expires,
		Metadata:    metadata,
		RateLimits:  limits,
		Credits:     credits,
	}, secret, nil
}

// Key returns key id of org ("" for the caller's own, or, for a root key,
// the key's own), if caller may see it.
func (s *Service) Key(ctx context.Context, caller *Key, org OrgID, id KeyID) (*Key, error) {
	org, k, err := s.keyScope(ctx, caller, org, id)
	if err != nil || k != nil {
		return k, err
	}
	k, err = lookup(ctx, s, func(ctx context.Context) (*Key, error) { return s.store.Key(ctx, org, id) })
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
	// Now is the instant the listing's state filter was evaluated at: render each key's state at it.
	Now time.Time
}

// ListState selects keys by state in a listing: one KeyState, or
// ListAll.
type ListState string

// ListAll lists keys in every state, deleted ones too.
const ListAll ListState = "all"

// ParseListState validates a listing's state filter; "" is active.
func ParseListState(s string) (ListState, error) {
	switch KeyState(s) {
	case "":
		return ListState(StateActive), nil
	case StateActive, StateExpired, StateDisabled, StateDeleted:
		return ListState(s), nil
	}
	if ListState(s) == ListAll {
		return ListAll, nil
	}
	return "", fmt.Errorf("must be one of: active, expired, disabled, deleted, all")
}

// ListKeys returns a page of the keys of org ("" for the caller's own) in
// the given state ("" for active), newest first, at most limit of them
// (1 to MaxPageLimit).
func (s *Service) ListKeys(ctx context.Context, caller *Key, org OrgID, state ListState, after *Cursor, limit int) (*Page, error) {
	return s.SearchKeys(ctx, caller, org, KeySearch{State: state, After: after, Limit: limit})
}

// KeySearch selects a page of an organization's keys for SearchKeys.
type KeySearch struct {
	State ListState // "" for active
	// Name, if not empty, selects the keys whose name contains it,
	// ignoring the case of ASCII letters.
	Name  string
	After *Cursor
	Limit int // 1 to MaxPageLimit
}

// MaxNameSearchLen bounds a search by name: no name is longer.
const MaxNameSearchLen = 4 * MaxNameLen

// SearchKeys is ListKeys with a search by name: a page of the keys of org
// ("" for the caller's own) that q selects, newest first.
func (s *Service) SearchKeys(ctx context.Context, caller *Key, org OrgID, q KeySearch) (*Page, error) {
	state, after, limit := q.State, q.After, q.Limit
	org, err := scope(caller, org)
	if err != nil {
		return nil, err
	}
	if state == "" {
		state = ListState(StateActive)
	}
	if _, err := ParseListState(string(state)); err != nil {
		return nil, Invalid("invalid state", FieldError{Field: "state", Reason: err.Error()})
	}
	states := []KeyState{KeyState(state)}
	if state == ListAll {
		states = []KeyState{StateActive, StateExpired, StateDisabled, StateDeleted}
	}
	now := s.Now()
	if len(q.Name) > MaxNameSearchLen {
		return nil, Invalid("invalid search", FieldError{Field: "name", Reason: fmt.Sprintf("must be at most %d bytes", MaxNameSearchLen)})
	}
	p, err := s.list(ctx, KeyFilter{OrgID: org, States: states, Now: now, After: after, Limit: limit, Name: q.Name})
	if err != nil {
		return nil, err
	}
	p.Now = now
	return p, nil
}

// ListRootKeys returns a page of the live root keys, for the command line.
func (s *Service) ListRootKeys(ctx context.Context, after *Cursor, limit int) (*Page, error) {
	return s.list(ctx, KeyFilter{Root: true, After: after, Limit: limit})
}

func (s *Service) list(ctx context.Context, f KeyFilter) (*Page, error) {
	if f.Limit < 1 || f.Limit > MaxPageLimit {
		return nil, Invalid("invalid limit", FieldError{Field: "limit", Reason: fmt.Sprintf("must be an integer from 1 to %d", MaxPageLimit)})
	}
	want := f.Limit
	f.Limit++ // one more tells whether a next page exists
	keys, err := lookup(ctx, s, func(ctx context.Context) ([]*Key, error) { return s.store.ListKeys(ctx, f) })
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

// DeleteKey revokes key id of org ("" for the caller's own, or, for a root
// key, the key's own), if caller may manage it and, with cond, if the key
// is still at a version cond names. The key fails authentication from the
// next request on, and a previous secret in its grace period with it; it
// can be restored within DeletedKeyRetention.
func (s *Service) DeleteKey(ctx context.Context, caller *Key, org OrgID, id KeyID, cond *Condition) error {
	org, _, err := s.keyScope(ctx, caller, org, id)
	if err != nil {
		return err
	}
	_, err = s.deleteKey(ctx, caller, org, id, cond)
	return err
}

// DeleteRootKey revokes a root key, for the command line.
func (s *Service) DeleteRootKey(ctx context.Context, id KeyID) error {
	_, err := s.deleteKey(ctx, nil, "", id, nil)
	return err
}

func (s *Service) deleteKey(ctx context.Context, caller *Key, org OrgID, id KeyID, cond *Condition) (*Key, error) {
	k, err := s.change(ctx, org, id, func(k *Key, now time.Time) (*AuditEvent, error) {
		if k.DeletedAt != nil {
			return nil, errKeyNotFound
		}
		if err := cond.check(k); err != nil {
			return nil, err
		}
		k.DeletedAt = &now
		k.Previous = nil // a grace period ends with the key
		return s.event(ctx, caller, ActionDelete, k, now, nil), nil
	})
	if err != nil {
		return nil, fmt.Errorf("delete key: %w", err)
	}
	return k, nil
}

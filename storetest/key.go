package storetest

import (
	"time"

	"github.com/keyward/keyward"
)

// NewKey returns a new key record of org (a root key, with every
// permission, if org is ""), as the service would make it: a random id and
// secret, created now, truncated to microseconds, in UTC, holding read,
// and named with non-ASCII text so that a backend that mangles text fails.
// Options change what a test needs. It is the one builder of test keys for
// every package's tests.
func NewKey(org keyward.OrgID, opts ...KeyOption) *keyward.Key {
	secret := keyward.NewSecret()
	id := keyward.NewKeyID()
	k := &keyward.Key{
		ID:          id,
		OrgID:       org,
		Root:        org == "",
		Name:        "clé de test ✓ " + id.String(),
		Permissions: []keyward.Permission{keyward.PermRead},
		Hash:        secret.Hash(),
		Hint:        secret.Hint(),
		CreatedAt:   time.Now().UTC().Truncate(time.Microsecond),
		Version:     1,
	}
	if k.Root {
		k.Permissions = append([]keyward.Permission(nil), keyward.AllPermissions...)
	}
	for _, opt := range opts {
		opt(k)
	}
	if k.UpdatedAt.IsZero() {
		k.UpdatedAt = k.CreatedAt
	}
	if k.Credits != nil && k.Credits.RefilledAt.IsZero() {
		k.Credits.RefilledAt = k.CreatedAt // set at the creation, as the service does
	}
	return k
}

// A KeyOption changes a key NewKey makes.
type KeyOption func(*keyward.Key)

// Name sets the key's name.
func Name(name string) KeyOption { return func(k *keyward.Key) { k.Name = name } }

// Permissions sets the key's permissions, in the order given.
func Permissions(ps ...keyward.Permission) KeyOption {
	return func(k *keyward.Key) { k.Permissions = append([]keyward.Permission(nil), ps...) }
}

// CreatedAt sets the key's creation time, in UTC, truncated to
// microseconds as the service makes it.
func CreatedAt(t time.Time) KeyOption {
	return func(k *keyward.Key) { k.CreatedAt = t.UTC().Truncate(time.Microsecond) }
}

// ExpiresAt sets when the key expires, in UTC, truncated to microseconds.
func ExpiresAt(t time.Time) KeyOption {
	return func(k *keyward.Key) {
		t := t.UTC().Truncate(time.Microsecond)
		k.ExpiresAt = &t
	}
}

// Disabled makes the key disabled.
func Disabled() KeyOption { return func(k *keyward.Key) { k.Disabled = true } }

// Metadata sets the key's metadata, a compact JSON object as
// keyward.ParseMetadata returns it.
func Metadata(md string) KeyOption { return func(k *keyward.Key) { k.Metadata = md } }

// CreatedBy sets who made the key.
func CreatedBy(by string) KeyOption { return func(k *keyward.Key) { k.CreatedBy = by } }

// UpdatedAt sets when the key last changed, in UTC, truncated to
// microseconds (by default, its creation).
func UpdatedAt(t time.Time) KeyOption {
	return func(k *keyward.Key) { k.UpdatedAt = t.UTC().Truncate(time.Microsecond) }
}

// Version sets the key's version (1 by default).
func Version(v int64) KeyOption { return func(k *keyward.Key) { k.Version = v } }

// Previous gives the key a previous secret, a new random one, that
// verifies until the given time.
func Previous(until time.Time) KeyOption {
	return func(k *keyward.Key) {
		k.Previous = &keyward.PreviousSecret{Hash: keyward.NewSecret().Hash(), ExpiresAt: until.UTC().Truncate(time.Microsecond)}
	}
}

// RateLimits sets the key's rate limits, in the order given.
func RateLimits(ls ...keyward.RateLimit) KeyOption {
	return func(k *keyward.Key) { k.RateLimits = append([]keyward.RateLimit(nil), ls...) }
}

// Credits gives the key usage credits: remaining, refilled as refill says
// (nil for never), set at the key's creation (the service's RefilledAt).
func Credits(remaining int64, refill *keyward.Refill) KeyOption {
	return func(k *keyward.Key) {
		k.Credits = &keyward.Credits{Remaining: remaining}
		if refill != nil {
			r := *refill
			k.Credits.Refill = &r
		}
	}
}

// RefilledAt sets when the key's credits (given with Credits, before this
// option) were last set, in UTC, truncated to microseconds.
func RefilledAt(t time.Time) KeyOption {
	return func(k *keyward.Key) { k.Credits.RefilledAt = t.UTC().Truncate(time.Microsecond) }
}

package keyward

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// OrgID identifies an organization: 1 to 64 characters of [A-Za-z0-9._-],
// other than "." and "..". Organizations have no record of their own; they
// exist through their keys. Every id is a URL path segment as it stands:
// it needs no escaping and no client resolves it away.
type OrgID string

// MaxOrgIDLen is the longest organization id accepted.
const MaxOrgIDLen = 64

// ParseOrgID validates s as an organization id.
func ParseOrgID(s string) (OrgID, error) {
	if len(s) == 0 || len(s) > MaxOrgIDLen {
		return "", fmt.Errorf("must be 1 to %d characters", MaxOrgIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "", fmt.Errorf("must contain only letters, digits, '.', '_' and '-'")
		}
	}
	// In a URL path, "." and ".." are the current and the parent
	// segment: /orgs/../api_keys/key-1 resolves to /api_keys/key-1.
	if s == "." || s == ".." {
		return "", fmt.Errorf(`must not be "." or "..", which a URL path resolves away`)
	}
	return OrgID(s), nil
}

// KeyID identifies a key: a positive integer below 2^53 (so that it survives
// a round trip through a JavaScript number), drawn at random so that ids are
// neither sequential nor guessable from a neighbour. It is written "key-456".
type KeyID int64

// MaxKeyID bounds key ids: every id is in [1, MaxKeyID).
const MaxKeyID = 1 << 53

// keyIDPrefix is how a key id is written in the API.
const keyIDPrefix = "key-"

// NewKeyID draws a random key id from crypto/rand.
func NewKeyID() KeyID {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Sprintf("keyward: crypto/rand failed: %v", err))
		}
		if id := KeyID(binary.BigEndian.Uint64(b[:]) & (MaxKeyID - 1)); id > 0 {
			return id
		}
	}
}

// ParseKeyID accepts "key-456" and "456" alike.
func ParseKeyID(s string) (KeyID, error) {
	digits := strings.TrimPrefix(s, keyIDPrefix)
	// One spelling per id: digits only, no sign, no leading zero.
	if digits == "" || len(digits) > 16 || digits[0] == '0' {
		return 0, fmt.Errorf("not a key id")
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("not a key id")
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n <= 0 || n >= MaxKeyID {
		return 0, fmt.Errorf("not a key id")
	}
	return KeyID(n), nil
}

// String returns the id as the API writes it: "key-456".
func (id KeyID) String() string { return string(id.Append(nil)) }

// Append appends the id as String writes it.
func (id KeyID) Append(b []byte) []byte {
	return strconv.AppendInt(append(b, keyIDPrefix...), int64(id), 10)
}

// Permission is one thing a key may do. The set is closed.
type Permission string

// The permissions a key can carry. Manage lets a key manage the keys of its
// own organization.
const (
	PermRead   Permission = "read"
	PermWrite  Permission = "write"
	PermCreate Permission = "create"
	PermUpdate Permission = "update"
	PermDelete Permission = "delete"
	PermManage Permission = "manage"
)

// AllPermissions lists every permission, in the order the documentation uses.
var AllPermissions = []Permission{PermRead, PermWrite, PermCreate, PermUpdate, PermDelete, PermManage}

// allowedPermissions is AllPermissions for error messages.
var allowedPermissions = func() string {
	s := make([]string, len(AllPermissions))
	for i, p := range AllPermissions {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}()

// ParsePermissions validates a list of permission names: case-insensitive
// in ASCII, surrounding ASCII white space ignored, at least one, each one
// of AllPermissions. The result is lower-case and deduplicated, in the
// order of first appearance.
func ParsePermissions(in []string) ([]Permission, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("must list at least one of: %s", allowedPermissions)
	}
	out := make([]Permission, 0, len(in))
	seen := make(map[Permission]bool, len(in))
	for _, s := range in {
		p := Permission(asciiLower(strings.Trim(s, asciiSpace)))
		if !p.Valid() {
			return nil, fmt.Errorf("unknown permission %s; allowed: %s", showPermission(s), allowedPermissions)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// asciiSpace is the white space ParsePermissions ignores around a name.
const asciiSpace = " \t\n\v\f\r"

// asciiLower maps ASCII upper-case letters to lower case and leaves every
// other byte alone. Unicode case mapping would take "WR\u0130TE" (with a
// dotted capital I) or a non-breaking space around a name for "write", a
// spelling that a gateway comparing names in ASCII would read as another
// word: one reading of every request, as for JSON names.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s // already lower case: no copy
}

// maxShownPermission is the longest unknown permission an error quotes:
// enough for a typo of any permission, too short to be a secret.
const maxShownPermission = 16

// showPermission is how an error names an unknown permission: quoted
// when it is short and cannot be part of a secret, since a client that
// misplaces a key could send it as one; described otherwise.
func showPermission(s string) string {
	if len(s) <= maxShownPermission && !strings.Contains(s, SecretPrefix) {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("(%d bytes long, not shown)", len(s))
}

// Valid reports whether p is one of AllPermissions.
func (p Permission) Valid() bool {
	switch p {
	case PermRead, PermWrite, PermCreate, PermUpdate, PermDelete, PermManage:
		return true
	}
	return false
}

// MaxNameLen is the longest key name accepted, in characters.
const MaxNameLen = 200

// secretInText finds a Keyward secret in text as a secret scanner does:
// SecretPattern between word boundaries.
var secretInText = regexp.MustCompile(`\b` + SecretPattern + `\b`)

// ParseName validates a key's name: trimmed, 1 to MaxNameLen characters,
// and nothing that would make a name lie about itself where it is shown
// or logged: no control characters (Cc), no format characters (Cf: the
// bidirectional embeddings, overrides, isolates and marks that reorder
// text on screen, zero-width characters, the soft hyphen, the byte order
// mark), no line or paragraph separators (Zl, Zp), and nothing shaped like
// a secret, which a secret scanner would report as a leaked key. Errors
// name the offending character by code point, never by the name's text.
func ParseName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("is required")
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("must be valid UTF-8")
	}
	if utf8.RuneCountInString(s) > MaxNameLen {
		return "", fmt.Errorf("must be at most %d characters", MaxNameLen)
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r):
			return "", fmt.Errorf("must not contain control characters (found %U)", r)
		case unicode.Is(unicode.Cf, r):
			return "", fmt.Errorf("must not contain invisible format characters, such as bidirectional controls, zero-width characters or soft hyphens (found %U)", r)
		case unicode.In(r, unicode.Zl, unicode.Zp):
			return "", fmt.Errorf("must not contain line or paragraph separators (found %U)", r)
		}
	}
	if secretInText.MatchString(s) {
		return "", fmt.Errorf("must not contain anything shaped like an API key (%s followed by 49 letters and digits), which secret scanners would report as a leaked key", SecretPrefix)
	}
	return s, nil
}

// Key is an API key's record. It never holds the secret, only its hash,
// and its LogValue leaves even the hash out.
type Key struct {
	ID    KeyID
	OrgID OrgID // empty for a root key
	// Root keys belong to the platform operator and manage every
	// organization. A root key has no organization.
	Root        bool
	Name        string
	Permissions []Permission
	Hash        SecretHash
	Hint        string
	CreatedAt   time.Time
	LastUsedAt  *time.Time
	DeletedAt   *time.Time

	// ExpiresAt, if set, is when the key stops verifying (EXPIRED).
	ExpiresAt *time.Time
	// Disabled keys verify as DISABLED until enabled again. The zero
	// value is enabled, as a new key is.
	Disabled bool
	// Metadata is what the platform attaches to the key: a JSON object,
	// compact, as ParseMetadata returns it; "" for none.
	Metadata string
	// UpdatedAt is when the key last changed (its creation, at first).
	UpdatedAt time.Time
	// CreatedBy is who made the key: a key id ("key-123") for a key made
	// through the API, "cli" for one made from the command line, "" for
	// a key made before Keyward recorded it.
	CreatedBy string
	// Version counts the key's changes from 1 at its creation; it is the
	// key's ETag, so that a conditional write can tell whether the key
	// changed since it was read.
	Version int64
	// Previous, if set, is the key's secret before its last rotation,
	// which verifies until its grace period ends.
	Previous *PreviousSecret
	// RateLimits are the key's rate limits, none if empty (see limits.go).
	RateLimits []RateLimit
	// Credits, if set, are the key's usage credits; nil is unlimited.
	Credits *Credits
}

// PreviousSecret is a rotated key's former secret, still accepted for a
// grace period.
type PreviousSecret struct {
	Hash      SecretHash
	ExpiresAt time.Time // the end of the grace period
}

// KeyState is a key's state, derived from its record and the time.
type KeyState string

// Key states. A key is in exactly one, the first that applies in this
// order: deleted, disabled, expired, active.
const (
	StateActive   KeyState = "active"
	StateExpired  KeyState = "expired"
	StateDisabled KeyState = "disabled"
	StateDeleted  KeyState = "deleted"
)

// State returns the key's state at now. Expiry is exclusive of nothing:
// at its ExpiresAt a key is expired.
func (k *Key) State(now time.Time) KeyState {
	switch {
	case k.DeletedAt != nil:
		return StateDeleted
	case k.Disabled:
		return StateDisabled
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return StateExpired
	}
	return StateActive
}

// Hashes returns every secret hash under which the key can be looked up:
// its secret's and, during a grace period, its previous secret's. A change
// to the key invalidates each of them.
func (k *Key) Hashes() []SecretHash {
	if k.Previous != nil {
		return []SecretHash{k.Hash, k.Previous.Hash}
	}
	return []SecretHash{k.Hash}
}

// LogValue logs a key by what identifies it, never its hash.
func (k *Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID.String()), slog.String("org_id", string(k.OrgID)), slog.Bool("root", k.Root))
}

// Clone returns a deep copy of k: a change to either leaves the other as
// it is.
func (k *Key) Clone() *Key {
	c := *k
	c.Permissions = slices.Clone(k.Permissions)
	for _, t := range []**time.Time{&c.LastUsedAt, &c.DeletedAt, &c.ExpiresAt} {
		if *t != nil {
			v := **t
			*t = &v
		}
	}
	if k.Previous != nil {
		p := *k.Previous
		c.Previous = &p
	}
	c.RateLimits = slices.Clone(k.RateLimits)
	if k.Credits != nil {
		cr := *k.Credits
		if cr.Refill != nil {
			r := *cr.Refill
			cr.Refill = &r
		}
		c.Credits = &cr
	}
	return &c
}

// Has reports whether the key holds permission p. A root key holds every
// permission.
func (k *Key) Has(p Permission) bool {
	if k.Root {
		return true
	}
	for _, q := range k.Permissions {
		if q == p {
			return true
		}
	}
	return false
}

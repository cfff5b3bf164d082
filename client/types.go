package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Secret is a key's secret, as a create or a rotation answers it, or the
// client's own API key. Like the server's, it is a struct holding a
// pointer, so that no path through fmt, log/slog or encoding/json prints
// it by mistake: String, GoString, Format, LogValue and MarshalJSON redact
// it. Reveal is the one way to read it.
type Secret struct{ p *string }

// redacted stands in for a secret wherever one would be printed.
const redacted = "[REDACTED]"

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{p: &s} }

// Reveal returns the secret itself: store it, or hand it to the key's
// owner. It is shown by Keyward once.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsZero reports whether there is no secret.
func (s Secret) IsZero() bool { return s.p == nil || *s.p == "" }

// String redacts the secret.
func (s Secret) String() string { return redacted }

// GoString redacts the secret.
func (s Secret) GoString() string { return redacted }

// Format redacts the secret, whatever the verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue redacts the secret.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts the secret: to write it out, use Reveal.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// UnmarshalJSON reads the secret from an answer.
func (s *Secret) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return errors.New("a secret must be a JSON string")
	}
	s.p = &v
	return nil
}

// The key states a list may ask for (KeyListOptions.State) and Key.State.
const (
	StateActive   = "active"
	StateDisabled = "disabled"
	StateExpired  = "expired"
	StateDeleted  = "deleted"
	StateAll      = "all" // lists only
)

// Key is an API key's record, as a get, a list or a change answers it.
// It never holds the secret.
type Key struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	CreatedAt   time.Time `json:"created_at"`
	Permissions []string  `json:"permissions"`
	OrgID       string    `json:"org_id"`
	// Hint is what may be shown of the secret: kw_Ab3d...x9Zq.
	Hint       string     `json:"hint"`
	LastUsedAt *time.Time `json:"last_used_at"`
	// ExpiresAt is nil for a key that never expires.
	ExpiresAt *time.Time `json:"expires_at"`
	Enabled   bool       `json:"enabled"`
	// Metadata is what the platform attached to the key; numbers in it
	// are json.Number.
	Metadata  map[string]any `json:"metadata"`
	UpdatedAt time.Time      `json:"updated_at"`
	// CreatedBy is "root", the id of the key that created it, "cli", or
	// empty for a key made before Keyward recorded it.
	CreatedBy string `json:"created_by"`
	// State is StateActive, StateDisabled, StateExpired or StateDeleted, at
	// the time of the answer.
	State      string      `json:"state"`
	DeletedAt  *time.Time  `json:"deleted_at"`
	RateLimits []RateLimit `json:"rate_limits"`
	// Credits is nil for a key without usage credits (unlimited).
	Credits *Credits `json:"credits"`
	// ETag is the key's version, from the answer's ETag header: give it to
	// IfMatch so that a change is made only if nobody changed the key since
	// it was read. Empty in lists, which carry no version.
	ETag string `json:"-"`
}

// CreatedKey is the answer of a create: the key, and its secret, which no
// other answer ever shows.
type CreatedKey struct {
	Key
	// Secret is the new key's secret: hand it to its owner now.
	Secret Secret `json:"key"`
}

// RotatedKey is the answer of a rotation: the key, its new secret (shown
// this once), and when the previous secret stops verifying.
type RotatedKey struct {
	Key
	Secret Secret `json:"key"`
	// PreviousSecretExpiresAt is when the previous secret stops verifying;
	// nil when it already has (no grace period).
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

// RateLimit is one of a key's rate limits: at most Limit units in each
// window of Duration (1s to 31 days, whole milliseconds). Windows are
// aligned on the clock, so a limit of a minute resets at each whole minute.
type RateLimit struct {
	// Name is unique among the key's limits: [a-z0-9_.-], 1 to 32.
	Name     string
	Limit    int64
	Duration time.Duration
}

type rateLimitJSON struct {
	Name     string `json:"name"`
	Limit    int64  `json:"limit"`
	Duration string `json:"duration"`
}

// MarshalJSON writes Duration as Keyward does: "60s", or "1500ms" when it
// is not whole seconds.
func (l RateLimit) MarshalJSON() ([]byte, error) {
	d := strconv.FormatInt(l.Duration.Milliseconds(), 10) + "ms"
	if l.Duration%time.Second == 0 {
		d = strconv.FormatInt(int64(l.Duration/time.Second), 10) + "s"
	}
	return json.Marshal(rateLimitJSON{Name: l.Name, Limit: l.Limit, Duration: d})
}

// UnmarshalJSON reads a rate limit as Keyward writes it.
func (l *RateLimit) UnmarshalJSON(b []byte) error {
	var v rateLimitJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d, err := parseDuration(v.Duration)
	if err != nil {
		return fmt.Errorf("rate limit %q: %w", v.Name, err)
	}
	*l = RateLimit{Name: v.Name, Limit: v.Limit, Duration: d}
	return nil
}

// parseDuration reads a Go duration or whole days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days < 0 || days > 366 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// The refill intervals of credits.
const (
	RefillDaily   = "daily"
	RefillMonthly = "monthly"
)

// Refill says how a key's credits are refilled: Remaining becomes Amount
// at midnight UTC every day (RefillDaily) or on the first of every month
// (RefillMonthly).
type Refill struct {
	Amount   int64  `json:"amount"`
	Interval string `json:"interval"`
}

// Credits are a key's usage credits as they stand at the time of the
// answer. Each VALID verification spends its cost.
type Credits struct {
	Remaining int64 `json:"remaining"`
	// Refill is nil when the credits are never refilled.
	Refill *Refill `json:"refill"`
	// RefilledAt is when Remaining was last set.
	RefilledAt time.Time `json:"refilled_at"`
}

// CreditsInput are the credits of a new key.
type CreditsInput struct {
	Remaining int64   `json:"remaining"`
	Refill    *Refill `json:"refill,omitempty"`
}

// KeyCreate is a key to create.
type KeyCreate struct {
	// Name is 1 to 200 characters.
	Name string
	// Permissions are at least one of "read", "write", "create",
	// "update", "delete" and "manage". A key may grant only permissions it
	// holds.
	Permissions []string
	// ExpiresAt, if not nil, is when the key stops verifying (in the
	// future).
	ExpiresAt *time.Time
	// Metadata is returned by every verification of the key: a JSON
	// object of at most 8 KiB.
	Metadata map[string]any
	// RateLimits are at most 10 limits, by unique names.
	RateLimits []RateLimit
	// Credits, if not nil, are the key's usage credits.
	Credits *CreditsInput
}

// KeyUpdate is a change of a key, sent as a JSON merge patch: a field left
// at its zero value is not changed.
type KeyUpdate struct {
	Name *string
	// Permissions, if not nil, replace the key's.
	Permissions []string
	// Enabled, if not nil, enables or disables the key.
	Enabled *bool
	// ExpiresAt, if not nil, sets a new expiry (in the future);
	// ClearExpiresAt removes it (the key never expires).
	ExpiresAt      *time.Time
	ClearExpiresAt bool
	// Metadata is merged into the key's, member by member: a member whose
	// value is nil removes that member. ClearMetadata removes all of it.
	Metadata      map[string]any
	ClearMetadata bool
	// RateLimits, if not nil, replace the key's: an empty, non-nil slice
	// removes them all.
	RateLimits []RateLimit
	// Credits, if not nil, is merged into the key's credits; ClearCredits
	// removes them (the key becomes unlimited).
	Credits      *CreditsUpdate
	ClearCredits bool
}

// CreditsUpdate changes a key's credits. A key without credits needs a
// Remaining.
type CreditsUpdate struct {
	// Remaining, if not nil, sets what is left.
	Remaining *int64
	// Refill, if not nil, is merged into the refill; ClearRefill stops
	// refilling.
	Refill      *RefillUpdate
	ClearRefill bool
}

// RefillUpdate changes how credits are refilled; a zero field is not
// changed.
type RefillUpdate struct {
	Amount   int64
	Interval string
}

// patch returns the merge patch u stands for.
func (u KeyUpdate) patch() (map[string]any, error) {
	p := map[string]any{}
	if u.Name != nil {
		p["name"] = *u.Name
	}
	if u.Permissions != nil {
		p["permissions"] = u.Permissions
	}
	if u.Enabled != nil {
		p["enabled"] = *u.Enabled
	}
	switch {
	case u.ExpiresAt != nil && u.ClearExpiresAt:
		return nil, errors.New("expires_at: both set and cleared")
	case u.ExpiresAt != nil:
		p["expires_at"] = u.ExpiresAt.UTC().Format(time.RFC3339Nano)
	case u.ClearExpiresAt:
		p["expires_at"] = nil
	}
	switch {
	case u.Metadata != nil && u.ClearMetadata:
		return nil, errors.New("metadata: both set and cleared")
	case u.Metadata != nil:
		p["metadata"] = u.Metadata
	case u.ClearMetadata:
		p["metadata"] = nil
	}
	if u.RateLimits != nil {
		p["rate_limits"] = u.RateLimits
	}
	switch {
	case u.Credits != nil && u.ClearCredits:
		return nil, errors.New("credits: both set and cleared")
	case u.ClearCredits:
		p["credits"] = nil
	case u.Credits != nil:
		c := map[string]any{}
		if u.Credits.Remaining != nil {
			c["remaining"] = *u.Credits.Remaining
		}
		switch {
		case u.Credits.Refill != nil && u.Credits.ClearRefill:
			return nil, errors.New("credits.refill: both set and cleared")
		case u.Credits.ClearRefill:
			c["refill"] = nil
		case u.Credits.Refill != nil:
			r := map[string]any{}
			if u.Credits.Refill.Amount != 0 {
				r["amount"] = u.Credits.Refill.Amount
			}
			if u.Credits.Refill.Interval != "" {
				r["interval"] = u.Credits.Refill.Interval
			}
			c["refill"] = r
		}
		p["credits"] = c
	}
	return p, nil
}

// KeyListOptions select a page of keys. The zero value is the first page
// of active keys, 100 at most.
type KeyListOptions struct {
	// State is StateActive (the default), StateDisabled, StateExpired,
	// StateDeleted or StateAll.
	State string
	// Limit is the most keys on a page, 1 to 1000 (100 by default).
	Limit int
	// Cursor is a page's NextCursor, for the page after it.
	Cursor string
}

// KeyPage is a page of keys, newest first.
type KeyPage struct {
	Keys []Key
	// NextCursor is the cursor of the next page; empty on the last.
	NextCursor string
}

// The actions of audit events.
const (
	ActionCreate  = "create"
	ActionUpdate  = "update"
	ActionRotate  = "rotate"
	ActionDisable = "disable"
	ActionEnable  = "enable"
	ActionDelete  = "delete"
	ActionRestore = "restore"
)

// AuditFilter selects a page of audit events. The zero value is the first
// page of every event, newest first, 100 at most.
type AuditFilter struct {
	// KeyID, if set, selects the events about one key.
	KeyID string
	// Action, if set, selects one action (ActionUpdate...).
	Action string
	// Since (inclusive) and Until (exclusive), if not zero, bound the
	// events' times.
	Since, Until time.Time
	// Limit is the most events on a page, 1 to 1000 (100 by default).
	Limit int
	// Cursor is a page's NextCursor, for the page after it.
	Cursor string
}

// AuditEvent is one change to one key. It never holds a secret.
type AuditEvent struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// OrganizationID is empty for an event about a root key.
	OrganizationID string `json:"organization_id"`
	// Actor is the id of the key that made the change, or "cli".
	Actor  string `json:"actor"`
	Action string `json:"action"`
	KeyID  string `json:"key_id"`
	// RequestID, ClientIP and UserAgent are the request's; empty from the
	// command line.
	RequestID string `json:"request_id"`
	ClientIP  string `json:"client_ip"`
	UserAgent string `json:"user_agent"`
	// Changes holds each field changed, before and after.
	Changes map[string]Change `json:"changes"`
}

// Change is one field's value before and after a change, as JSON values
// (numbers are json.Number; nil for none).
type Change struct {
	From any `json:"from"`
	To   any `json:"to"`
}

// AuditPage is a page of audit events, newest first.
type AuditPage struct {
	Events []AuditEvent
	// NextCursor is the cursor of the next page; empty on the last.
	NextCursor string
}

// VerifyCode is the outcome of a verification. More may come: treat any
// code but VerifyValid as a refusal.
type VerifyCode string

// The outcomes of a verification, in the order Keyward checks them.
const (
	VerifyNotFound                VerifyCode = "NOT_FOUND"
	VerifyDisabled                VerifyCode = "DISABLED"
	VerifyExpired                 VerifyCode = "EXPIRED"
	VerifyInsufficientPermissions VerifyCode = "INSUFFICIENT_PERMISSIONS"
	VerifyRateLimited             VerifyCode = "RATE_LIMITED"
	VerifyUsageExceeded           VerifyCode = "USAGE_EXCEEDED"
	VerifyValid                   VerifyCode = "VALID"
)

// VerifyOptions are what a verification asks beyond the key.
type VerifyOptions struct {
	// Permissions the key must hold, every one; none: any live key.
	Permissions []string
	// Cost is what the verification spends of the key's rate limits and
	// credits: nil is 1; 0 spends nothing and reports where the key stands.
	Cost *int64
}

// Verification is the outcome of a verification. The key's fields are
// set for every code but VerifyNotFound.
type Verification struct {
	// Valid is true exactly when Code is VerifyValid.
	Valid       bool           `json:"valid"`
	Code        VerifyCode     `json:"code"`
	KeyID       string         `json:"key_id"`
	OrgID       string         `json:"org_id"`
	Name        string         `json:"name"`
	Permissions []string       `json:"permissions"`
	Metadata    map[string]any `json:"metadata"`
	ExpiresAt   *time.Time     `json:"expires_at"`
	// SecretExpiresAt is set when the secret is a rotated key's previous
	// one, in its grace period: when it stops verifying.
	SecretExpiresAt *time.Time `json:"secret_expires_at"`
	// RateLimits say where the key stands against each of its rate limits,
	// once they were checked, for a key that has any.
	RateLimits []LimitState `json:"rate_limits"`
	// Credits are what is left after this verification, once they were
	// checked, for a key that has any.
	Credits *CreditsLeft `json:"credits"`
}

// LimitState is where a key stands against one rate limit after a
// verification: Limit, Remaining and Reset are the values of the
// RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset headers.
type LimitState struct {
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Remaining int64  `json:"remaining"`
	// Reset is the seconds until the window ends (at least 1).
	Reset    int64     `json:"reset"`
	ResetAt  time.Time `json:"reset_at"`
	Exceeded bool      `json:"exceeded"`
}

// CreditsLeft are a key's credits after a verification.
type CreditsLeft struct {
	Remaining int64 `json:"remaining"`
}

// VerificationCounts are a key's verifications by outcome (the Code of
// Verify), and their total. NOT_FOUND names no key and is not counted.
type VerificationCounts struct {
	Total                   int64 `json:"total"`
	Valid                   int64 `json:"valid"`
	Disabled                int64 `json:"disabled"`
	Expired                 int64 `json:"expired"`
	InsufficientPermissions int64 `json:"insufficient_permissions"`
	RateLimited             int64 `json:"rate_limited"`
	UsageExceeded           int64 `json:"usage_exceeded"`
}

// UsageHour is a key's verifications in one UTC hour.
type UsageHour struct {
	Hour time.Time `json:"hour"` // the hour's start
	VerificationCounts
}

// KeyUsage is a key's verifications per UTC hour, every hour from Since
// to Until, oldest first, zeros included.
type KeyUsage struct {
	KeyID          string             `json:"key_id"`
	OrganizationID string             `json:"organization_id"`
	Since          time.Time          `json:"since"` // the first hour's start
	Until          time.Time          `json:"until"` // the last hour's end
	Totals         VerificationCounts `json:"totals"`
	Hours          []UsageHour        `json:"hours"`
}

// UsageRange selects the hours of KeyUsage: from Since's hour to the end
// of Until's, at most 31 days. A zero Until is now; a zero Since, 7 days
// before Until.
type UsageRange struct {
	Since, Until time.Time
}

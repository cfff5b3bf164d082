package keyward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Condition makes a write conditional on the key's version, as an HTTP
// If-Match does: the write happens only if the key is at one of Versions.
// A nil Condition is no condition.
type Condition struct {
	Versions []int64
	// Any matches any version of a key that exists (If-Match: *): not a
	// deleted one.
	Any bool
}

// Matches reports whether k meets the condition; a nil Condition is met
// by any key.
func (c *Condition) Matches(k *Key) bool {
	switch {
	case c == nil:
		return true
	case c.Any:
		return k.DeletedAt == nil
	}
	return slices.Contains(c.Versions, k.Version)
}

// check refuses a key that does not meet c with EPRECONDITION.
func (c *Condition) check(k *Key) error {
	switch {
	case c.Matches(k):
		return nil
	case c.Any:
		return Errorf(EPRECONDITION, "the key does not exist (it is deleted), and If-Match: * asks that it does")
	}
	return Errorf(EPRECONDITION, "the key has changed since it was read (it is at version %d); read it again and repeat the change if it still applies", k.Version)
}

// ETag is the entity tag of a key's version, as GET answers it and If-Match
// names it.
func (k *Key) ETag() string { return `"` + strconv.FormatInt(k.Version, 10) + `"` }

// ParseIfMatch reads an If-Match header's value (RFC 9110, section 13.1.1)
// into a Condition: "*" matches any key that exists; otherwise a list of
// entity tags, of which a strong one that ETag made matches its version.
// A weak tag (W/"1") never matches, as strong comparison requires, and a
// well-formed tag this server did not make matches nothing: both are a
// precondition that fails, not a bad request. Empty list elements are
// skipped. Only a value that is no list of entity tags is EINVALID.
func ParseIfMatch(h string) (*Condition, error) {
	bad := Invalid("invalid If-Match", FieldError{Field: "If-Match", Reason: `must be "*" or a list of entity tags as the ETag header gives them, such as "3"`})
	h = strings.Trim(h, " \t")
	if h == "*" {
		return &Condition{Any: true}, nil
	}
	c := &Condition{Versions: []int64{}}
	tags := 0
	for tag := range strings.SplitSeq(h, ",") {
		tag = strings.Trim(tag, " \t")
		if tag == "" {
			continue // RFC 9110, section 5.6.1: empty elements are ignored
		}
		weak := strings.HasPrefix(tag, "W/")
		opaque := strings.TrimPrefix(tag, "W/")
		if len(opaque) < 2 || opaque[0] != '"' || opaque[len(opaque)-1] != '"' || !etagChars(opaque[1:len(opaque)-1]) {
			return nil, bad
		}
		tags++
		if v, err := strconv.ParseInt(opaque[1:len(opaque)-1], 10, 64); err == nil && !weak && v >= 1 {
			c.Versions = append(c.Versions, v)
		}
	}
	if tags == 0 {
		return nil, bad
	}
	return c, nil
}

// etagChars reports whether s is made of etagc: %x21 / %x23-7E / obs-text.
func etagChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != 0x21 && (c < 0x23 || c == 0x7f) {
			return false
		}
	}
	return true
}

// Expiry is a change of a key's expiry: At is the new one, nil to clear it.
type Expiry struct{ At *time.Time }

// KeyPatch is a partial update of a key (an RFC 7396 merge patch, parsed):
// each nil field is left as it is.
type KeyPatch struct {
	Name        *string
	Permissions []Permission // nil: unchanged; a change needs at least one
	// Metadata is a merge patch of the key's metadata (MergeMetadata):
	// an object merged member by member, or null to remove it all.
	Metadata  json.RawMessage
	ExpiresAt *Expiry
	Enabled   *bool
	// RateLimits, if set, replaces the key's rate limits (empty: none).
	RateLimits *[]RateLimit
	// Credits is a merge patch of the key's credits (PatchCredits), or
	// null to remove them; nil leaves them.
	Credits json.RawMessage
	If      *Condition
}

var errKeyNotFound = Errorf(ENOTFOUND, "API key not found")

// errUnchanged ends an update that changes nothing: nothing is written.
var errUnchanged = errors.New("unchanged")

// UpdateKey applies p to key id of org ("" for the caller's own, or, for a
// root key, the key's own), if caller may manage it: a key may grant only
// permissions it holds itself, as at create. An update that changes
// nothing writes nothing and answers the key as it is. A change of
// enabled alone is recorded as a disable or an enable; any other as an
// update listing each field changed, before and after. Disabling a key
// ends the grace period of its previous secret. Enabling a key, or
// extending or removing its expiry, makes it usable again: a key may do
// it only to keys whose every permission it holds, and never extend its
// own expiry.
func (s *Service) UpdateKey(ctx context.Context, caller *Key, org OrgID, id KeyID, p KeyPatch) (*Key, error) {
	org, _, err := s.keyScope(ctx, caller, org, id)
	if err != nil {
		return nil, err
	}
	var bad []FieldError
	var name string
	if p.Name != nil {
		if name, err = ParseName(*p.Name); err != nil {
			bad = append(bad, FieldError{Field: "name", Reason: err.Error()})
		}
	}
	var perms []Permission
	if p.Permissions != nil {
		names := make([]string, len(p.Permissions))
		for i, q := range p.Permissions {
			names[i] = string(q)
		}
		if perms, err = ParsePermissions(names); err != nil {
			bad = append(bad, FieldError{Field: "permissions", Reason: err.Error()})
		}
	}
	if p.Metadata != nil && string(p.Metadata) != "null" {
		if _, err := ParseMetadataPatch(p.Metadata); err != nil {
			bad = append(bad, FieldError{Field: "metadata", Reason: err.Error()})
		}
	}
	var limits []RateLimit
	if p.RateLimits != nil {
		if limits, err = ParseRateLimits(*p.RateLimits); err != nil {
			bad = append(bad, FieldError{Field: "rate_limits", Reason: err.Error()})
		}
	}
	now := s.Now().UTC().Truncate(time.Microsecond)
	var expires *time.Time
	if p.ExpiresAt != nil && p.ExpiresAt.At != nil {
		t := p.ExpiresAt.At.UTC().Truncate(time.Microsecond)
		expires = &t
		if fe := checkExpiry(expires, now); fe != nil {
			bad = append(bad, *fe)
		}
	}
	if len(bad) > 0 {
		return nil, Invalid("invalid update", bad...)
	}
	var unchanged *Key
	k, err := s.change(ctx, org, id, func(k *Key, now time.Time) (*AuditEvent, error) {
		if k.DeletedAt != nil {
			return nil, errKeyNotFound
		}
		if err := p.If.check(k); err != nil {
			return nil, err
		}
		var changes []Change
		var noteErr error
		note := func(field string, from, to any) {
			f, err1 := json.Marshal(from)
			t, err2 := json.Marshal(to)
			if err := errors.Join(err1, err2); err != nil {
				noteErr = fmt.Errorf("record the change of %s: %w", field, err)
			} else if string(f) != string(t) {
				changes = append(changes, Change{Field: field, From: f, To: t})
			}
		}
		if p.Name != nil {
			note("name", k.Name, name)
			k.Name = name
		}
		if perms != nil {
			if caller != nil && !caller.Root {
				var missing []string
				for _, q := range perms {
					if !slices.Contains(k.Permissions, q) && !caller.Has(q) {
						missing = append(missing, string(q))
					}
				}
				if len(missing) > 0 {
					return nil, Errorf(EFORBIDDEN, "this API key cannot grant permissions it does not hold: %s", strings.Join(missing, ", "))
				}
			}
			note("permissions", k.Permissions, perms)
			k.Permissions = perms
		}
		if p.Metadata != nil {
			md, err := MergeMetadata(k.Metadata, p.Metadata)
			if err != nil {
				return nil, Invalid("invalid update", FieldError{Field: "metadata", Reason: err.Error()})
			}
			note("metadata", rawObject(k.Metadata), rawObject(md))
			k.Metadata = md
		}
		if p.ExpiresAt != nil {
			if extends(k.ExpiresAt, expires) {
				if caller != nil && caller.ID == k.ID {
					return nil, Errorf(EFORBIDDEN, "an API key cannot extend or remove its own expiry")
				}
				if err := empower(caller, k, "extend the expiry of"); err != nil {
					return nil, err
				}
			}
			note("expires_at", k.ExpiresAt, expires)
			k.ExpiresAt = expires
		}
		if p.RateLimits != nil || p.Credits != nil {
			// Limits bound what a key may spend: a key may not loosen its
			// own, and sets another's only if it could have made it.
			if caller != nil && caller.ID == k.ID {
				return nil, Errorf(EFORBIDDEN, "an API key cannot change its own rate limits or credits")
			}
			if err := empower(caller, k, "change the rate limits or credits of"); err != nil {
				return nil, err
			}
		}
		if p.RateLimits != nil {
			note("rate_limits", limitsView(k.RateLimits), limitsView(limits))
			k.RateLimits = limits
		}
		if p.Credits != nil {
			c, err := PatchCredits(k.Credits, p.Credits, now)
			if err != nil {
				return nil, Invalid("invalid update", FieldError{Field: "credits", Reason: err.Error()})
			}
			note("credits", creditsView(k.Credits), creditsView(c))
			k.Credits = c
		}
		enabledOnly := len(changes) == 0
		if p.Enabled != nil {
			if *p.Enabled && k.Disabled {
				if err := empower(caller, k, "enable"); err != nil {
					return nil, err
				}
			}
			note("enabled", !k.Disabled, *p.Enabled)
			k.Disabled = !*p.Enabled
			if k.Disabled {
				k.Previous = nil // disabling ends a grace period
			}
		}
		if noteErr != nil {
			return nil, noteErr
		}
		if len(changes) == 0 {
			unchanged = k
			return nil, errUnchanged
		}
		action := ActionUpdate
		if enabledOnly {
			action = ActionEnable
			if k.Disabled {
				action = ActionDisable
			}
		}
		return s.event(ctx, caller, action, k, now, changes), nil
	})
	switch {
	case errors.Is(err, errUnchanged):
		return unchanged, nil
	case err != nil:
		return nil, fmt.Errorf("update key: %w", err)
	}
	return k, nil
}

// extends reports whether an expiry changed from old to new lets a key
// verify for longer.
func extends(old, new *time.Time) bool {
	return old != nil && (new == nil || new.After(*old))
}

// empower refuses a change by caller that hands out k's secret or makes k
// usable again (rotate, restore, enable, a later or no expiry), unless
// caller holds every permission k has: otherwise a key could gain,
// through another key, permissions it may not grant.
func empower(caller, k *Key, what string) error {
	if caller == nil || caller.Root {
		return nil
	}
	var missing []string
	for _, p := range k.Permissions {
		if !caller.Has(p) {
			missing = append(missing, string(p))
		}
	}
	if len(missing) > 0 {
		return Errorf(EFORBIDDEN, "this API key cannot %s a key with permissions it does not hold: %s", what, strings.Join(missing, ", "))
	}
	return nil
}

// rawObject is metadata as a JSON value for a Change: {} for none.
func rawObject(md string) json.RawMessage {
	if md == "" {
		return json.RawMessage("{}")
	}
	return json.RawMessage(md)
}

// RotateKey gives key id of org a new secret, returned once, keeping its
// id and everything else. The previous secret keeps verifying for grace
// (0 to MaxGracePeriod; 0 ends it at once, as it does for a disabled
// key); a secret rotated before it, if still in its grace period, stops at
// once: a key has at most one previous secret. A key may rotate only keys
// whose every permission it holds: the answer is the key's secret.
func (s *Service) RotateKey(ctx context.Context, caller *Key, org OrgID, id KeyID, grace time.Duration, cond *Condition) (*Key, Secret, error) {
	if grace < 0 || grace > MaxGracePeriod {
		return nil, Secret{}, Invalid("invalid rotation", FieldError{Field: "grace_period", Reason: "must be a duration from 0s to 7d"})
	}
	org, _, err := s.keyScope(ctx, caller, org, id)
	if err != nil {
		return nil, Secret{}, err
	}
	for attempt := 1; ; attempt++ {
		secret := NewSecret()
		k, err := s.change(ctx, org, id, func(k *Key, now time.Time) (*AuditEvent, error) {
			if k.DeletedAt != nil {
				return nil, errKeyNotFound
			}
			if err := cond.check(k); err != nil {
				return nil, err
			}
			if err := empower(caller, k, "rotate"); err != nil {
				return nil, err
			}
			var changes []Change
			hint := func(h string) json.RawMessage { b, _ := json.Marshal(h); return b }
			changes = append(changes, Change{Field: "hint", From: hint(k.Hint), To: hint(secret.Hint())})
			var prevEnd *time.Time
			if k.Previous != nil {
				prevEnd = &k.Previous.ExpiresAt
			}
			k.Previous = nil
			if grace > 0 && !k.Disabled { // a disabled key has no grace period
				k.Previous = &PreviousSecret{Hash: k.Hash, ExpiresAt: now.Add(grace)}
			}
			from, _ := json.Marshal(prevEnd)
			to := []byte("null")
			if k.Previous != nil {
				to, _ = json.Marshal(k.Previous.ExpiresAt)
			}
			changes = append(changes, Change{Field: "previous_secret_expires_at", From: from, To: to})
			k.Hash = secret.Hash()
			k.Hint = secret.Hint()
			return s.event(ctx, caller, ActionRotate, k, now, changes), nil
		})
		if ErrorCode(err) == ECONFLICT && attempt < maxCreateAttempts {
			continue // the new secret's hash collided: draw another
		}
		if err != nil {
			return nil, Secret{}, fmt.Errorf("rotate key: %w", err)
		}
		return k, secret, nil
	}
}

// RestoreKey brings back key id of org, deleted less than
// DeletedKeyRetention ago, with its secret and settings, if caller may
// manage it and holds every permission the key has. A root key restoring a key must name its organization: key
// ids find live keys only.
func (s *Service) RestoreKey(ctx context.Context, caller *Key, org OrgID, id KeyID, cond *Condition) (*Key, error) {
	if caller != nil && caller.Root && org == "" {
		return nil, Invalid("invalid request", FieldError{Field: "organization_id", Reason: "is required to restore a key with a root key"})
	}
	org, err := scope(caller, org)
	if err != nil {
		return nil, err
	}
	retention := s.DeletedKeyRetention
	if retention <= 0 {
		retention = DefaultDeletedKeyRetention
	}
	k, err := s.change(ctx, org, id, func(k *Key, now time.Time) (*AuditEvent, error) {
		switch {
		case k.DeletedAt == nil:
			return nil, Errorf(ECONFLICT, "the key is not deleted")
		case !now.Before(k.DeletedAt.Add(retention)):
			return nil, Errorf(ENOTFOUND, "API key not found: it was deleted longer ago than the retention period (%s)", retention)
		}
		if err := cond.check(k); err != nil {
			return nil, err
		}
		if err := empower(caller, k, "restore"); err != nil {
			return nil, err
		}
		k.DeletedAt = nil
		return s.event(ctx, caller, ActionRestore, k, now, nil), nil
	})
	if err != nil {
		return nil, fmt.Errorf("restore key: %w", err)
	}
	return k, nil
}

// change runs one UpdateKey of key id of org under the write deadline:
// apply changes the key it is given in place (at now, this change's time)
// and returns the audit event, or an error to change nothing. UpdatedAt
// is set for it.
func (s *Service) change(ctx context.Context, org OrgID, id KeyID, apply func(k *Key, now time.Time) (*AuditEvent, error)) (*Key, error) {
	return write(ctx, s, func(ctx context.Context) (*Key, error) {
		return s.store.UpdateKey(ctx, org, id, func(old Key) (Key, *AuditEvent, error) {
			now := s.Now().UTC().Truncate(time.Microsecond)
			k := old
			ev, err := apply(&k, now)
			if err != nil {
				return old, nil, err
			}
			k.UpdatedAt = now
			return k, ev, nil
		})
	})
}

// createdBy is what a new key records as its maker: "root" for a root
// key (the platform operator, whose key id the tenant need not see), the
// calling key's id, or ActorCLI.
func createdBy(caller *Key) string {
	if caller != nil && caller.Root {
		return "root"
	}
	return actor(caller)
}

// actor names who makes a change: the calling key's id, or ActorCLI.
func actor(caller *Key) string {
	if caller == nil {
		return ActorCLI
	}
	return caller.ID.String()
}

// event makes the audit event of an action by caller on k, with the
// request's origin from ctx, at the change's time.
func (s *Service) event(ctx context.Context, caller *Key, action AuditAction, k *Key, at time.Time, changes []Change) *AuditEvent {
	info := requestInfo(ctx)
	return &AuditEvent{
		ID:        NewEventID(),
		At:        at,
		OrgID:     k.OrgID,
		Actor:     actor(caller),
		Action:    action,
		KeyID:     k.ID,
		RequestID: info.RequestID,
		ClientIP:  info.ClientIP,
		UserAgent: info.UserAgent,
		Changes:   changes,
	}
}

// EventPage is one page of audit events, with the cursor of the next page
// (nil on the last page).
type EventPage struct {
	Events []*AuditEvent
	Next   *EventCursor
}

// ListAuditEvents returns a page of the audit events of org ("" for the
// caller's own; for a root key, "" is the events about root keys), newest
// first, that match f (its OrgID is ignored), if caller may manage org.
func (s *Service) ListAuditEvents(ctx context.Context, caller *Key, org OrgID, f AuditFilter) (*EventPage, error) {
	if caller == nil || !caller.Root || org != "" {
		var err error
		if org, err = scope(caller, org); err != nil {
			return nil, err
		}
	}
	f.OrgID = org
	if f.Limit < 1 || f.Limit > MaxPageLimit {
		return nil, Invalid("invalid limit", FieldError{Field: "limit", Reason: fmt.Sprintf("must be an integer from 1 to %d", MaxPageLimit)})
	}
	want := f.Limit
	f.Limit++
	evs, err := lookup(ctx, s, func(ctx context.Context) ([]*AuditEvent, error) { return s.store.ListAuditEvents(ctx, f) })
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	p := &EventPage{Events: evs}
	if len(evs) > want {
		p.Events = evs[:want]
		last := p.Events[want-1]
		p.Next = &EventCursor{At: last.At, ID: last.ID}
	}
	return p, nil
}

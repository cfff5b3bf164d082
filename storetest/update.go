package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// update calls UpdateKey with an updater that applies change and returns
// ev, and fails the test if that fails.
func update(t *testing.T, s keyward.KeyStore, k *keyward.Key, ev *keyward.AuditEvent, change func(k *keyward.Key)) *keyward.Key {
	t.Helper()
	got, err := s.UpdateKey(t.Context(), k.OrgID, k.ID, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
		change(&old)
		return old, ev, nil
	})
	if err != nil {
		t.Fatalf("UpdateKey(%q, %v): %v", k.OrgID, k.ID, err)
	}
	return got
}

// record returns the record of k as stored, live or deleted, as a listing
// of every state finds it; nil if there is none.
func record(t *testing.T, s keyward.KeyStore, k *keyward.Key) *keyward.Key {
	t.Helper()
	for _, got := range list(t, s, keyward.KeyFilter{OrgID: k.OrgID, Root: k.Root, States: allStates, Now: base}) {
		if got.ID == k.ID {
			return got
		}
	}
	return nil
}

// allStates selects every key, deleted or not.
var allStates = []keyward.KeyState{keyward.StateActive, keyward.StateExpired, keyward.StateDisabled, keyward.StateDeleted}

// UpdateKey writes each mutable field as the updater sets it, returns the
// key as stored, and bumps the version by one; the fields the store keeps
// (ID, OrgID, Root, CreatedAt, CreatedBy, LastUsedAt, Version) stay as
// they were whatever the updater does with them.
func testUpdateKeyFields(t *testing.T, newStore newStoreFunc) {
	later := base.Add(time.Hour).Add(3 * time.Microsecond)
	fresh := keyward.NewSecret()
	tests := []struct {
		name   string
		opts   []KeyOption // of the key before the update
		change func(k *keyward.Key)
		want   func(k *keyward.Key) // from the key before; nil: as change
	}{
		{name: "Name", change: func(k *keyward.Key) { k.Name = "renamed ✓ \"quoted\"" }},
		{name: "Permissions", change: func(k *keyward.Key) {
			k.Permissions = []keyward.Permission{keyward.PermManage, keyward.PermRead, keyward.PermWrite}
		}},
		{name: "HashAndHint", change: func(k *keyward.Key) { k.Hash, k.Hint = fresh.Hash(), fresh.Hint() }},
		{name: "DeletedAt", change: func(k *keyward.Key) { k.DeletedAt = &later }},
		{name: "ExpiresAt", change: func(k *keyward.Key) { k.ExpiresAt = &later }},
		{name: "ExpiresAtCleared", opts: []KeyOption{ExpiresAt(later)}, change: func(k *keyward.Key) { k.ExpiresAt = nil }},
		{name: "Disabled", change: func(k *keyward.Key) { k.Disabled = true }},
		{name: "Enabled", opts: []KeyOption{Disabled()}, change: func(k *keyward.Key) { k.Disabled = false }},
		{name: "Metadata", change: func(k *keyward.Key) { k.Metadata = `{"plan":"gold","n":1.50,"tags":["a","é"],"z":{"y":null}}` }},
		{name: "MetadataCleared", opts: []KeyOption{Metadata(`{"a":1}`)}, change: func(k *keyward.Key) { k.Metadata = "" }},
		{name: "UpdatedAt", change: func(k *keyward.Key) { k.UpdatedAt = later }},
		{name: "Previous", change: func(k *keyward.Key) {
			k.Previous = &keyward.PreviousSecret{Hash: k.Hash, ExpiresAt: later}
			k.Hash, k.Hint = fresh.Hash(), fresh.Hint()
		}},
		{name: "PreviousCleared", opts: []KeyOption{Previous(later)}, change: func(k *keyward.Key) { k.Previous = nil }},
		{name: "RateLimits", change: func(k *keyward.Key) { k.RateLimits = someLimits() }},
		{name: "RateLimitsCleared", opts: []KeyOption{RateLimits(someLimits()...)}, change: func(k *keyward.Key) { k.RateLimits = nil }},
		{name: "RateLimitsChanged", opts: []KeyOption{RateLimits(someLimits()...)}, change: func(k *keyward.Key) {
			k.RateLimits = []keyward.RateLimit{k.RateLimits[2], {Name: "new", Limit: 3, Duration: 2 * time.Second}}
		}},
		{name: "Credits", change: func(k *keyward.Key) {
			k.Credits = &keyward.Credits{Remaining: 42, Refill: &keyward.Refill{Amount: 100, Interval: keyward.RefillDaily}, RefilledAt: later}
		}},
		{name: "CreditsWithoutRefill", change: func(k *keyward.Key) { k.Credits = &keyward.Credits{Remaining: 0, RefilledAt: later} }},
		{name: "CreditsCleared", opts: []KeyOption{Credits(5, &keyward.Refill{Amount: 5, Interval: keyward.RefillMonthly})},
			change: func(k *keyward.Key) { k.Credits = nil }},
		{name: "CreditsRefillCleared", opts: []KeyOption{Credits(5, &keyward.Refill{Amount: 5, Interval: keyward.RefillMonthly})},
			change: func(k *keyward.Key) { k.Credits.Refill = nil }},
		{name: "CreditsChanged", opts: []KeyOption{Credits(5, &keyward.Refill{Amount: 5, Interval: keyward.RefillMonthly})},
			change: func(k *keyward.Key) {
				k.Credits.Remaining, k.Credits.RefilledAt = keyward.MaxCredits, later
				k.Credits.Refill.Amount, k.Credits.Refill.Interval = 7, keyward.RefillDaily
			}},

		{name: "ID", change: func(k *keyward.Key) { k.ID = keyward.NewKeyID() }, want: func(*keyward.Key) {}},
		{name: "OrgID", change: func(k *keyward.Key) { k.OrgID = globex }, want: func(*keyward.Key) {}},
		{name: "Root", change: func(k *keyward.Key) { k.Root, k.OrgID = true, "" }, want: func(*keyward.Key) {}},
		{name: "CreatedAt", change: func(k *keyward.Key) { k.CreatedAt = later }, want: func(*keyward.Key) {}},
		{name: "CreatedBy", opts: []KeyOption{CreatedBy("key-1")}, change: func(k *keyward.Key) { k.CreatedBy = "cli" }, want: func(*keyward.Key) {}},
		{name: "LastUsedAt", change: func(k *keyward.Key) { k.LastUsedAt = &later }, want: func(*keyward.Key) {}},
		{name: "Version", change: func(k *keyward.Key) { k.Version = 42 }, want: func(*keyward.Key) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			k := NewKey(acme, append([]KeyOption{CreatedAt(base), CreatedBy("key-7"), Version(3)}, tt.opts...)...)
			other := newKey(t, acme, base)
			create(t, s, k)
			create(t, s, other)
			used := base.Add(time.Minute)
			touch(t, s, keyward.KeyUse{ID: k.ID, At: used})
			k.LastUsedAt = &used

			want := clone(k)
			if tt.want != nil {
				tt.want(want)
			} else {
				tt.change(want)
			}
			want.Version = k.Version + 1
			got := update(t, s, k, nil, tt.change)
			checkKey(t, "UpdateKey's result", got, want)
			checkKey(t, "the stored record", record(t, s, k), want)
			if want.DeletedAt == nil {
				checkLive(t, s, want)
			} else {
				checkGone(t, s, want)
			}
			if want.Hash != k.Hash && (want.Previous == nil || want.Previous.Hash != k.Hash) {
				_, err := s.KeyByHash(t.Context(), k.Hash)
				checkCode(t, "KeyByHash of the hash the key no longer has", err, keyward.ENOTFOUND)
			}
			// The update wrote one record: no key under another id or
			// organization, and the other key as it was.
			for _, org := range []keyward.OrgID{globex, ""} {
				if got := list(t, s, keyward.KeyFilter{OrgID: org, Root: org == "", States: allStates, Now: base}); len(got) != 0 {
					t.Errorf("after the update, organization %q holds %v", org, ids(got))
				}
			}
			if got := list(t, s, keyward.KeyFilter{OrgID: acme, States: allStates, Now: base}); len(got) != 2 {
				t.Errorf("after the update, acme holds %v, want its 2 keys", ids(got))
			}
			checkLive(t, s, other)
		})
	}
}

// Each update bumps the version by exactly one, and the updater sees the
// record the last update wrote.
func testUpdateKeyVersions(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	create(t, s, k)
	for i := range 3 {
		var seen int64
		got := update(t, s, k, nil, func(k *keyward.Key) {
			seen = k.Version
			k.Name = fmt.Sprintf("%s%d", k.Name, i)
		})
		if seen != int64(i+1) || got.Version != int64(i+2) {
			t.Errorf("update %d: the updater saw version %d and the result is at %d; want %d and %d", i, seen, got.Version, i+1, i+2)
		}
	}
	got, err := s.Key(t.Context(), acme, k.ID)
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	if got.Version != 4 || got.Name != k.Name+"012" {
		t.Errorf("after 3 updates: Version %d, Name %q; want 4, %q", got.Version, got.Name, k.Name+"012")
	}
}

// A deleted key is updated like a live one; clearing DeletedAt restores
// it: found by id and hash, and listed, again.
func testUpdateKeyRestore(t *testing.T, newStore newStoreFunc) {
	for _, root := range []bool{false, true} {
		t.Run(map[bool]string{false: "Key", true: "RootKey"}[root], func(t *testing.T) {
			s := newStore(t)
			k := newKey(t, acme, base)
			if root {
				k = newRootKey(t, base)
			}
			create(t, s, k)
			deleted := deletedAs(k, base.Add(time.Hour))
			remove(t, s, k, base.Add(time.Hour))
			checkGone(t, s, k)

			var seen *time.Time
			restoredAt := base.Add(2 * time.Hour)
			got := update(t, s, k, nil, func(k *keyward.Key) {
				seen = k.DeletedAt
				k.DeletedAt = nil
				k.UpdatedAt = restoredAt
			})
			checkTime(t, "the deleted key's DeletedAt, as the updater saw it", seen, deleted.DeletedAt)
			want := clone(deleted)
			want.DeletedAt, want.UpdatedAt, want.Version = nil, restoredAt, deleted.Version+1
			checkKey(t, "the restored key", got, want)
			checkLive(t, s, want)
			checkList(t, "ListKeys after the restore", list(t, s, keyward.KeyFilter{OrgID: k.OrgID, Root: root}), []*keyward.Key{want})
			if got, err := s.KeyByID(t.Context(), k.ID); err != nil {
				t.Errorf("KeyByID of the restored key: %v", err)
			} else {
				checkKey(t, "KeyByID of the restored key", got, want)
			}
		})
	}
}

// UpdateKey of an unknown id, or of a key in another organization (a root
// key in any but the empty one, another key in the empty one), is
// ENOTFOUND, without calling the updater, and changes nothing.
func testUpdateKeyNotFound(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k, root := newKey(t, acme, base), newRootKey(t, base)
	create(t, s, k)
	create(t, s, root)
	gone := newKey(t, globex, base)
	create(t, s, gone)
	remove(t, s, gone, base.Add(time.Hour))
	tests := []struct {
		name string
		org  keyward.OrgID
		id   keyward.KeyID
	}{
		{"an unknown id", acme, keyward.NewKeyID()},
		{"another organization", globex, k.ID},
		{"an organization differing in case", upper, k.ID},
		{"the root organization", "", k.ID},
		{"a root key in an organization", acme, root.ID},
		{"a deleted key in another organization", acme, gone.ID},
	}
	for _, tt := range tests {
		called := false
		got, err := s.UpdateKey(t.Context(), tt.org, tt.id, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
			called = true
			old.Name = "changed"
			return old, newEvent(tt.org, tt.id, base, keyward.ActionUpdate), nil
		})
		checkCode(t, "UpdateKey of "+tt.name, err, keyward.ENOTFOUND)
		if got != nil {
			t.Errorf("UpdateKey of %s returned key %v", tt.name, got.ID)
		}
		if called {
			t.Errorf("UpdateKey of %s called the updater", tt.name)
		}
	}
	checkLive(t, s, k)
	checkLive(t, s, root)
	checkKey(t, "the deleted key", record(t, s, gone), deletedAs(gone, base.Add(time.Hour)))
	for _, org := range []keyward.OrgID{acme, globex, upper, ""} {
		if evs := events(t, s, keyward.AuditFilter{OrgID: org}); len(evs) != 0 {
			t.Errorf("refused updates wrote %d events in %q", len(evs), org)
		}
	}
}

// errUpdater is an updater's own error, as the service's refusals are.
type errUpdater struct{ reason string }

func (e *errUpdater) Error() string { return "refused: " + e.reason }

// When the updater fails, UpdateKey writes nothing, not even the event the
// updater returned with its error, and returns the updater's error, which
// errors.Is, errors.As and keyward.ErrorCode still recognize.
func testUpdateKeyUpdaterError(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := NewKey(acme, CreatedAt(base), Previous(base.Add(time.Hour)), Metadata(`{"a":1}`))
	create(t, s, k)
	own := &errUpdater{"no"}
	precondition := keyward.Errorf(keyward.EPRECONDITION, "the key has changed")
	for name, want := range map[string]error{"own error": own, "keyward error": precondition, "wrapped": fmt.Errorf("wrapped: %w", own)} {
		got, err := s.UpdateKey(t.Context(), acme, k.ID, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
			// Changes made, then refused: none may stick.
			old.Name, old.Disabled, old.Metadata = "changed", true, ""
			old.Permissions[0] = keyward.PermManage
			old.Previous.ExpiresAt = base
			old.Hash = keyward.NewSecret().Hash()
			return old, newEvent(acme, k.ID, base, keyward.ActionUpdate), want
		})
		if got != nil {
			t.Errorf("%s: UpdateKey returned key %v with the updater's error", name, got.ID)
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: UpdateKey's error %v is not the updater's %v", name, err, want)
		}
		if e, ok := errors.AsType[*errUpdater](err); want != precondition && (!ok || e != own) {
			t.Errorf("%s: errors.As finds no updater's error in %v", name, err)
		}
		if want == precondition {
			checkCode(t, name, err, keyward.EPRECONDITION)
		}
	}
	checkLive(t, s, k)
	if evs := events(t, s, keyward.AuditFilter{OrgID: acme}); len(evs) != 0 {
		t.Errorf("refused updates wrote %d events", len(evs))
	}
}

// A new secret hash that another key holds, live or deleted, as its
// secret's, or a previous secret's hash that another key holds as its
// previous secret's, is ECONFLICT; nothing is written, not even the
// event. (A hash is not checked across the two: see KeyStore.UpdateKey.)
func testUpdateKeyConflict(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	live := NewKey(globex, CreatedAt(base), Previous(base.Add(time.Hour)))
	deleted := newKey(t, acme, base)
	for _, x := range []*keyward.Key{k, live, deleted} {
		create(t, s, x)
	}
	remove(t, s, deleted, base.Add(time.Minute))
	for _, c := range []struct {
		name, field string
		h           keyward.SecretHash
	}{
		{"another key's hash", "Hash", live.Hash},
		{"a deleted key's hash", "Hash", deleted.Hash},
		{"another key's previous hash", "Previous", live.Previous.Hash},
	} {
		got, err := s.UpdateKey(t.Context(), acme, k.ID, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
			if c.field == "Hash" {
				old.Previous = &keyward.PreviousSecret{Hash: old.Hash, ExpiresAt: base.Add(time.Hour)}
				old.Hash = c.h
			} else {
				old.Previous = &keyward.PreviousSecret{Hash: c.h, ExpiresAt: base.Add(time.Hour)}
			}
			old.Name = "changed"
			return old, newEvent(acme, k.ID, base, keyward.ActionRotate), nil
		})
		checkCode(t, fmt.Sprintf("UpdateKey to %s as its %s", c.name, c.field), err, keyward.ECONFLICT)
		if got != nil {
			t.Errorf("UpdateKey to %s as its %s returned key %v", c.name, c.field, got.ID)
		}
	}
	checkLive(t, s, k)
	checkLive(t, s, live)
	if evs := events(t, s, keyward.AuditFilter{OrgID: acme}); len(evs) != 0 {
		t.Errorf("refused updates wrote %d events", len(evs))
	}
}

// Concurrent updates of one key are serialized: each sees what the one
// before wrote, so none is lost, and the version counts them all.
func testUpdateKeyConcurrent(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := NewKey(acme, CreatedAt(base), Metadata(`{"n":0}`))
	create(t, s, k)
	const n = 8
	errs := make([]error, n)
	versions := make([]int64, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			got, err := s.UpdateKey(t.Context(), acme, k.ID, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
				var md struct{ N int }
				if err := json.Unmarshal([]byte(old.Metadata), &md); err != nil {
					return old, nil, err
				}
				// Give another update the time to slip in, were it able.
				time.Sleep(time.Millisecond)
				old.Metadata = fmt.Sprintf(`{"n":%d}`, md.N+1)
				old.Name += fmt.Sprintf(" %d", i)
				return old, newEvent(acme, k.ID, base.Add(time.Duration(i)*time.Second), keyward.ActionUpdate), nil
			})
			errs[i] = err
			if err == nil {
				versions[i] = got.Version
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("update %d: %v", i, err)
		}
	}
	got, err := s.Key(t.Context(), acme, k.ID)
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	if got.Metadata != fmt.Sprintf(`{"n":%d}`, n) || got.Version != 1+n {
		t.Errorf("after %d concurrent updates: Metadata %s, Version %d; want {\"n\":%d}, %d", n, got.Metadata, got.Version, n, 1+n)
	}
	for i := range n {
		if want := fmt.Sprintf(" %d", i); !containsWord(got.Name, want) {
			t.Errorf("the name %q lacks update %d's change", got.Name, i)
		}
	}
	slices.Sort(versions)
	for i, v := range versions {
		if v != int64(i+2) {
			t.Errorf("the updates returned versions %v, want 2 to %d once each", versions, n+1)
			break
		}
	}
	if evs := events(t, s, keyward.AuditFilter{OrgID: acme}); len(evs) != n {
		t.Errorf("%d concurrent updates wrote %d events", n, len(evs))
	}
}

// containsWord reports whether s holds w followed by a space or its end.
func containsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w && (i+len(w) == len(s) || s[i+len(w)] == ' ') {
			return true
		}
	}
	return false
}

// The event the updater returns is written with the change, as given; an
// update without one writes none.
func testUpdateKeyEvent(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k, root := newKey(t, acme, base), newRootKey(t, base)
	create(t, s, k)
	create(t, s, root)
	ev := newEvent(acme, k.ID, base.Add(time.Hour), keyward.ActionDisable)
	ev.Changes = []keyward.Change{{Field: "enabled", From: json.RawMessage("true"), To: json.RawMessage("false")}}
	update(t, s, k, ev, func(k *keyward.Key) { k.Disabled = true })
	rootEv := newEvent("", root.ID, base.Add(time.Hour), keyward.ActionUpdate)
	update(t, s, root, rootEv, func(k *keyward.Key) { k.Name = "renamed" })
	update(t, s, k, nil, func(k *keyward.Key) { k.Name = "renamed" })
	checkEvents(t, "acme's events", events(t, s, keyward.AuditFilter{OrgID: acme}), []*keyward.AuditEvent{ev})
	checkEvents(t, "the root keys' events", events(t, s, keyward.AuditFilter{OrgID: ""}), []*keyward.AuditEvent{rootEv})
}

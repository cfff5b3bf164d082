package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// A key with every lifecycle field set comes back, by id, by hash and by
// its previous secret's hash, equal in every field.
func testCreateKeyLifecycleRoundTrip(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	keys := []*keyward.Key{
		NewKey(acme, CreatedAt(base), ExpiresAt(base.Add(24*time.Hour)), Disabled(),
			// Compact, in the order given, with escapes and non-ASCII text:
			// kept byte for byte.
			Metadata(`{"zeta":1,"alpha":{"list":[1.50,"é ✓",null,true]},"q":"\"\\u00e9\""}`),
			UpdatedAt(base.Add(time.Hour)), CreatedBy("key-123"), Version(7), Previous(base.Add(2*time.Hour))),
		NewKey(acme, CreatedAt(base), CreatedBy(keyward.ActorCLI)),
		NewKey("", CreatedAt(base), Previous(base.Add(-time.Hour)), Metadata(`{"a":"b"}`)),
	}
	for _, k := range keys {
		create(t, s, k)
	}
	for _, k := range keys {
		checkLive(t, s, k)
		if k.Previous != nil {
			got, err := s.KeyByHash(t.Context(), k.Previous.Hash)
			if err != nil {
				t.Errorf("KeyByHash(previous hash of %v): %v", k.ID, err)
				continue
			}
			checkKey(t, "KeyByHash of the previous secret", got, k)
		}
	}
}

// KeyByHash finds a key by its previous secret's hash, whether or not the
// grace period has ended (the service decides that), until the previous
// secret is cleared; and a deleted key by neither hash.
func testKeyByHashPrevious(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	create(t, s, k)
	oldHash := k.Hash

	// A rotation: the old secret becomes the previous one.
	next := keyward.NewSecret()
	rotated := update(t, s, k, nil, func(k *keyward.Key) {
		k.Previous = &keyward.PreviousSecret{Hash: k.Hash, ExpiresAt: base.Add(time.Minute)}
		k.Hash, k.Hint = next.Hash(), next.Hint()
	})
	for name, h := range map[string]keyward.SecretHash{"new": next.Hash(), "old": oldHash} {
		got, err := s.KeyByHash(t.Context(), h)
		if err != nil {
			t.Fatalf("KeyByHash(%s hash) after the rotation: %v", name, err)
		}
		checkKey(t, "KeyByHash("+name+" hash) after the rotation", got, rotated)
	}

	// The grace period ended (its end in the past): still found.
	ended := update(t, s, k, nil, func(k *keyward.Key) { k.Previous.ExpiresAt = base.Add(-time.Hour) })
	if got, err := s.KeyByHash(t.Context(), oldHash); err != nil {
		t.Errorf("KeyByHash(old hash) after its grace period: %v", err)
	} else {
		checkKey(t, "KeyByHash(old hash) after its grace period", got, ended)
	}

	// Cleared: the old hash finds nothing, the new one the key.
	cleared := update(t, s, k, nil, func(k *keyward.Key) { k.Previous = nil })
	_, err := s.KeyByHash(t.Context(), oldHash)
	checkCode(t, "KeyByHash(old hash) once the previous secret is cleared", err, keyward.ENOTFOUND)
	checkLive(t, s, cleared)

	// A deleted key, its previous secret kept, is found by neither.
	again := keyward.NewSecret()
	deleted := update(t, s, k, nil, func(k *keyward.Key) {
		k.Previous = &keyward.PreviousSecret{Hash: k.Hash, ExpiresAt: base.Add(time.Hour)}
		k.Hash = again.Hash()
		k.DeletedAt = &base
	})
	for name, h := range map[string]keyward.SecretHash{"current": deleted.Hash, "previous": deleted.Previous.Hash} {
		got, err := s.KeyByHash(t.Context(), h)
		checkCode(t, "KeyByHash("+name+" hash) of a deleted key", err, keyward.ENOTFOUND)
		if got != nil {
			t.Errorf("KeyByHash(%s hash) of a deleted key returned key %v", name, got.ID)
		}
	}
}

// stateFixture stores keys of acme in every state at now (the time the
// listings give), several sharing a creation time, among keys of other
// organizations and root keys; it returns acme's, newest first, by the
// state they are in at now.
func stateFixture(t *testing.T, s keyward.KeyStore, now time.Time) map[keyward.KeyState][]*keyward.Key {
	t.Helper()
	at := func(i int) KeyOption { return CreatedAt(base.Add(time.Duration(i%4) * time.Microsecond)) }
	byState := map[keyward.KeyState][]*keyward.Key{}
	var all []*keyward.Key
	add := func(st keyward.KeyState, k *keyward.Key) {
		byState[st] = append(byState[st], k)
		all = append(all, k)
	}
	for i := range 3 {
		add(keyward.StateActive, NewKey(acme, at(i)))
		add(keyward.StateActive, NewKey(acme, at(i+1), ExpiresAt(now.Add(time.Microsecond))))
		add(keyward.StateExpired, NewKey(acme, at(i+2), ExpiresAt(now.Add(-time.Hour))))
		add(keyward.StateExpired, NewKey(acme, at(i+3), ExpiresAt(now))) // expired at its expiry
		add(keyward.StateDisabled, NewKey(acme, at(i), Disabled()))
		add(keyward.StateDisabled, NewKey(acme, at(i+1), Disabled(), ExpiresAt(now.Add(-time.Hour))))
		add(keyward.StateDeleted, NewKey(acme, at(i+2), DeletedAt(now.Add(-time.Minute))))
		add(keyward.StateDeleted, NewKey(acme, at(i+3), Disabled(), ExpiresAt(now.Add(-time.Hour)), DeletedAt(now.Add(-time.Minute))))
	}
	noise := []*keyward.Key{
		NewKey(globex, CreatedAt(base)),
		NewKey(globex, CreatedAt(base), DeletedAt(now)),
		NewKey(upper, CreatedAt(base), Disabled()),
		NewKey("", CreatedAt(base)),
		NewKey("", CreatedAt(base), DeletedAt(now)),
	}
	all = append(all, noise...)
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for _, k := range all {
		create(t, s, k)
	}
	for st, keys := range byState {
		byState[st] = newestFirst(keys)
	}
	return byState
}

// DeletedAt marks the key deleted at the given time, in UTC, truncated to
// microseconds.
func DeletedAt(t time.Time) KeyOption {
	return func(k *keyward.Key) {
		t := t.UTC().Truncate(time.Microsecond)
		k.DeletedAt = &t
	}
}

// ListKeys with States returns exactly the keys in those states at Now
// (a key expiring at Now is expired; a disabled key is disabled whatever
// its expiry; a deleted key is deleted whatever else), newest first, in
// pages that neither skip nor repeat a key; without States, every key not
// deleted.
func testListKeysByState(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	now := base.Add(10 * time.Hour)
	byState := stateFixture(t, s, now)
	of := func(states ...keyward.KeyState) []*keyward.Key {
		var keys []*keyward.Key
		for i, st := range states {
			if !slices.Contains(states[:i], st) {
				keys = append(keys, byState[st]...)
			}
		}
		return newestFirst(keys)
	}
	const (
		active   = keyward.StateActive
		expired  = keyward.StateExpired
		disabled = keyward.StateDisabled
		deleted  = keyward.StateDeleted
	)
	for _, states := range [][]keyward.KeyState{
		{active}, {expired}, {disabled}, {deleted},
		{active, disabled}, {expired, deleted}, {deleted, active},
		{active, expired, disabled}, {active, expired, disabled, deleted},
		{disabled, disabled},
	} {
		want := of(states...)
		name := fmt.Sprint(states)
		checkList(t, "ListKeys"+name, list(t, s, keyward.KeyFilter{OrgID: acme, States: states, Now: now}), want)
		for _, limit := range []int{1, 2, 3, 5, len(want) - 1, len(want)} {
			var got []*keyward.Key
			f := keyward.KeyFilter{OrgID: acme, States: states, Now: now, Limit: limit}
			for page := 0; ; page++ {
				if page > len(want)+1 {
					t.Fatalf("%s, limit %d: more pages than keys", name, limit)
				}
				keys, err := s.ListKeys(t.Context(), f)
				if err != nil {
					t.Fatalf("%s, limit %d: ListKeys: %v", name, limit, err)
				}
				if len(keys) > limit {
					t.Fatalf("%s, limit %d: %d keys", name, limit, len(keys))
				}
				got = append(got, keys...)
				if len(keys) < limit {
					break
				}
				f.After = keyward.CursorAfter(keys[len(keys)-1])
			}
			checkList(t, fmt.Sprintf("ListKeys%s in pages of %d", name, limit), got, want)
		}
	}
	checkList(t, "ListKeys without States", list(t, s, keyward.KeyFilter{OrgID: acme}), of(active, expired, disabled))
	checkList(t, "ListKeys without States, whatever Now", list(t, s, keyward.KeyFilter{OrgID: acme, Now: now}), of(active, expired, disabled))

	// Now decides expiry: before every expiry, no key is expired.
	early := base.Add(-time.Hour)
	checkList(t, "ListKeys[expired] before every expiry", list(t, s, keyward.KeyFilter{OrgID: acme, States: []keyward.KeyState{expired}, Now: early}), nil)
	checkList(t, "ListKeys[active] before every expiry", list(t, s, keyward.KeyFilter{OrgID: acme, States: []keyward.KeyState{active}, Now: early}), of(active, expired))

	// Root keys by state: the empty organization's, with Root.
	roots := list(t, s, keyward.KeyFilter{Root: true, States: []keyward.KeyState{deleted}, Now: now})
	if len(roots) != 1 || !roots[0].Root || roots[0].DeletedAt == nil {
		t.Errorf("ListKeys(root, deleted) = %v, want the one deleted root key", ids(roots))
	}
}

// The invalidation feed passes on an update under every hash the key had
// before it and has after it: a rotation under the old and the new secret
// (and a previous secret it ends), a delete of a key in its grace period
// under both its secrets, an update that changes no hash under the
// key's. An updater's error passes on nothing.
func testFeedUpdateInvalidatesEveryHash(t *testing.T, s *suite) {
	store := s.newStore(t)
	other := s.reopen(t, store) // another process
	w := watch(t, store)
	w.WaitFor(t, "the first confirmation", func(ev []Event) bool { return ConfirmedAfter(ev, time.Time{}) >= 0 })

	k := NewKey(acme, CreatedAt(base), Previous(base.Add(time.Hour)))
	create(t, other, k)
	ended := k.Previous.Hash
	fresh := keyward.NewSecret().Hash()
	rotated := update(t, other, k, nil, func(k *keyward.Key) {
		k.Previous = &keyward.PreviousSecret{Hash: k.Hash, ExpiresAt: base.Add(time.Hour)}
		k.Hash = fresh
	})
	expectInvalidations(t, w, "a rotation", k.Hash, fresh, ended)

	update(t, other, rotated, nil, func(k *keyward.Key) { k.Name = "renamed" })
	expectInvalidations(t, w, "a rename", fresh, k.Hash)

	_, err := other.UpdateKey(t.Context(), acme, k.ID, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
		old.Hash = keyward.NewSecret().Hash()
		return old, nil, context.Canceled
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("UpdateKey with a failing updater: %v", err)
	}
	expectInvalidations(t, w, "a refused update")

	// Delete as the service does: the previous secret ends with the key.
	if _, err := Delete(t.Context(), store, acme, k.ID, base.Add(time.Hour)); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	expectInvalidations(t, w, "a delete in a grace period", fresh, k.Hash)
}

// expectInvalidations waits for a confirmation of a time after now and
// checks that, since the last call, the feed passed on exactly the
// invalidations of hashes (each at least once, no other).
func expectInvalidations(t *testing.T, w *Watcher, what string, hashes ...keyward.SecretHash) {
	t.Helper()
	done := time.Now()
	ev := w.WaitFor(t, "a confirmation after "+what, func(ev []Event) bool { return ConfirmedAfter(ev, done) >= 0 })
	seen := map[keyward.SecretHash]bool{}
	start := 0
	for i, e := range ev {
		if e.Kind == "mark" {
			start = i + 1
		}
	}
	for _, e := range ev[start:ConfirmedAfter(ev, done)] {
		if e.Kind == "invalidate" {
			if !slices.Contains(hashes, e.Hash) {
				t.Errorf("%s: the feed passed on a hash the key never had: %v", what, e)
			}
			seen[e.Hash] = true
		}
	}
	for i, h := range hashes {
		if !seen[h] {
			t.Errorf("%s: the feed did not pass on hash %d of %d (%v) before confirming a later time", what, i+1, len(hashes), Event{Kind: "invalidate", Hash: h})
		}
	}
	w.add(Event{Kind: "mark"})
}

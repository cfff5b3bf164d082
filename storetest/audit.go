package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// newEvent returns an audit event of org about key id at the given time,
// with every field set, as the service makes one.
func newEvent(org keyward.OrgID, id keyward.KeyID, at time.Time, action keyward.AuditAction) *keyward.AuditEvent {
	return &keyward.AuditEvent{
		ID:        keyward.NewEventID(),
		At:        at.UTC().Truncate(time.Microsecond),
		OrgID:     org,
		Actor:     "key-123",
		Action:    action,
		KeyID:     id,
		RequestID: "req-" + keyward.NewKeyID().String(),
		ClientIP:  "2001:db8::1",
		UserAgent: "keyward-test/1.0 (é ✓)",
	}
}

// events returns every event f selects, checking that one page holds them.
func events(t *testing.T, s keyward.KeyStore, f keyward.AuditFilter) []*keyward.AuditEvent {
	t.Helper()
	return every(t, fmt.Sprintf("ListAuditEvents(%+v)", f), func(limit int) ([]*keyward.AuditEvent, error) {
		f.Limit = limit
		return s.ListAuditEvents(t.Context(), f)
	})
}

// eventIDs returns the ids of evs, in order.
func eventIDs(evs []*keyward.AuditEvent) []keyward.EventID {
	return idsOf(evs, func(e *keyward.AuditEvent) keyward.EventID { return e.ID })
}

// newestEventsFirst sorts events as ListAuditEvents returns them.
func newestEventsFirst(evs []*keyward.AuditEvent) []*keyward.AuditEvent {
	return byNewest(evs, func(e *keyward.AuditEvent) (time.Time, int64) { return e.At, int64(e.ID) })
}

// checkEvents checks that got holds exactly want, in want's order, each
// event equal in every field.
func checkEvents(t *testing.T, what string, got, want []*keyward.AuditEvent) {
	t.Helper()
	if !slices.Equal(eventIDs(got), eventIDs(want)) {
		t.Errorf("%s: ids %v, want %v", what, eventIDs(got), eventIDs(want))
		return
	}
	for i := range got {
		checkEvent(t, what, got[i], want[i])
	}
}

// checkEvent reports every field in which got differs from want. A
// change's missing value is JSON null.
func checkEvent(t *testing.T, what string, got, want *keyward.AuditEvent) {
	t.Helper()
	what = fmt.Sprintf("%s: event %v", what, want.ID)
	if got.ID != want.ID || got.OrgID != want.OrgID || got.KeyID != want.KeyID || got.Action != want.Action {
		t.Errorf("%s: (ID, OrgID, KeyID, Action) = (%v, %q, %v, %q), want (%v, %q, %v, %q)", what,
			got.ID, got.OrgID, got.KeyID, got.Action, want.ID, want.OrgID, want.KeyID, want.Action)
	}
	if !got.At.Equal(want.At) {
		t.Errorf("%s: At = %v, want %v", what, got.At, want.At)
	}
	if got.Actor != want.Actor || got.RequestID != want.RequestID || got.ClientIP != want.ClientIP || got.UserAgent != want.UserAgent {
		t.Errorf("%s: (Actor, RequestID, ClientIP, UserAgent) = (%q, %q, %q, %q), want (%q, %q, %q, %q)", what,
			got.Actor, got.RequestID, got.ClientIP, got.UserAgent, want.Actor, want.RequestID, want.ClientIP, want.UserAgent)
	}
	null := func(b json.RawMessage) []byte {
		if len(b) == 0 {
			return []byte("null")
		}
		return b
	}
	same := len(got.Changes) == len(want.Changes)
	for i := 0; same && i < len(got.Changes); i++ {
		g, w := got.Changes[i], want.Changes[i]
		same = g.Field == w.Field && bytes.Equal(null(g.From), null(w.From)) && bytes.Equal(null(g.To), null(w.To))
	}
	if !same {
		t.Errorf("%s: Changes = %s, want %s (in this order)", what, keyward.MarshalChanges(got.Changes), keyward.MarshalChanges(want.Changes))
	}
}

// CreateKey and CreateKeyIdempotent write the event they are given, as
// given, with the key; without one they write none, and a refused create
// writes none.
func testCreateKeyWritesEvent(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := NewKey(acme, CreatedAt(base), CreatedBy("key-9"), ExpiresAt(base.Add(time.Hour)), Metadata(`{"a":"b"}`))
	ev := newEvent(acme, k.ID, base, keyward.ActionCreate)
	if err := s.CreateKey(t.Context(), k, ev); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	checkLive(t, s, k)
	root := newRootKey(t, base)
	rootEv := newEvent("", root.ID, base, keyward.ActionCreate)
	if err := s.CreateKey(t.Context(), root, rootEv); err != nil {
		t.Fatalf("CreateKey of a root key: %v", err)
	}
	idem := newKey(t, acme, base.Add(time.Second))
	idemEv := newEvent(acme, idem.ID, base.Add(time.Second), keyward.ActionCreate)
	if err := s.CreateKeyIdempotent(t.Context(), idem, newRecord(idem, base), idemEv); err != nil {
		t.Fatalf("CreateKeyIdempotent: %v", err)
	}
	create(t, s, newKey(t, acme, base)) // no event
	if err := s.CreateKeyIdempotent(t.Context(), newKey(t, acme, base), newRecord(newKey(t, acme, base), base), nil); err != nil {
		t.Fatalf("CreateKeyIdempotent without an event: %v", err)
	}
	dup := newKey(t, acme, base)
	dup.Hash = k.Hash
	checkCode(t, "CreateKey with a taken hash", s.CreateKey(t.Context(), dup, newEvent(acme, dup.ID, base, keyward.ActionCreate)), keyward.ECONFLICT)
	dupRec := newKey(t, acme, base)
	dupRec.ID = k.ID
	checkCode(t, "CreateKeyIdempotent with a taken id",
		s.CreateKeyIdempotent(t.Context(), dupRec, newRecord(dupRec, base), newEvent(acme, dupRec.ID, base, keyward.ActionCreate)), keyward.ECONFLICT)

	checkEvents(t, "acme's events", events(t, s, keyward.AuditFilter{OrgID: acme}), []*keyward.AuditEvent{idemEv, ev})
	checkEvents(t, "the root keys' events", events(t, s, keyward.AuditFilter{OrgID: ""}), []*keyward.AuditEvent{rootEv})
}

// eventFixture stores, through updates of keys, events of acme (several
// sharing a time, of several keys and actions) among events of other
// organizations and of root keys, and returns acme's, newest first.
func eventFixture(t *testing.T, s keyward.KeyStore) (acmeEvents []*keyward.AuditEvent, keys []*keyward.Key) {
	t.Helper()
	keys = []*keyward.Key{newKey(t, acme, base), newKey(t, acme, base), newKey(t, acme, base)}
	others := []*keyward.Key{newKey(t, globex, base), newKey(t, upper, base), newRootKey(t, base)}
	for _, k := range append(slices.Clone(keys), others...) {
		create(t, s, k)
	}
	actions := []keyward.AuditAction{keyward.ActionUpdate, keyward.ActionDisable, keyward.ActionEnable, keyward.ActionRotate}
	var all []*keyward.AuditEvent
	for i := range 24 {
		// Times repeat: several events share each.
		at := base.Add(time.Duration(i/3) * time.Minute)
		k := keys[i%len(keys)]
		ev := newEvent(acme, k.ID, at, actions[i%len(actions)])
		acmeEvents = append(acmeEvents, ev)
		all = append(all, ev)
		o := others[i%len(others)]
		all = append(all, newEvent(o.OrgID, o.ID, at, actions[i%len(actions)]))
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for _, ev := range all {
		k := keyward.Key{ID: ev.KeyID, OrgID: ev.OrgID}
		update(t, s, &k, ev, func(k *keyward.Key) {})
	}
	return newestEventsFirst(acmeEvents), keys
}

// ListAuditEvents returns exactly the organization's events, newest first
// by time and then id, each equal in every field; events of root keys are
// the empty organization's, and no other organization sees them.
func testAuditEventsOrder(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	want, _ := eventFixture(t, s)
	checkEvents(t, "ListAuditEvents(acme)", events(t, s, keyward.AuditFilter{OrgID: acme}), want)
	for _, org := range []keyward.OrgID{globex, upper, ""} {
		for _, ev := range events(t, s, keyward.AuditFilter{OrgID: org}) {
			if ev.OrgID != org {
				t.Errorf("ListAuditEvents(%q) returned event %v of %q", org, ev.ID, ev.OrgID)
			}
		}
	}
	if got := events(t, s, keyward.AuditFilter{OrgID: "initech"}); len(got) != 0 {
		t.Errorf("ListAuditEvents(initech) = %v, want none", eventIDs(got))
	}
	if got := events(t, s, keyward.AuditFilter{OrgID: "", KeyID: want[0].KeyID}); len(got) != 0 {
		t.Errorf("ListAuditEvents of the empty organization found acme's key's events: %v", eventIDs(got))
	}
}

// Each filter selects what it says: one key's events, one action's, those
// at or after Since, those before Until, and any mix of them.
func testAuditEventsFilters(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	all, keys := eventFixture(t, s)
	since, until := base.Add(2*time.Minute), base.Add(5*time.Minute) // both the time of some events
	tests := []struct {
		name string
		f    keyward.AuditFilter
		keep func(ev *keyward.AuditEvent) bool
	}{
		{"one key", keyward.AuditFilter{KeyID: keys[1].ID}, func(ev *keyward.AuditEvent) bool { return ev.KeyID == keys[1].ID }},
		{"an unknown key", keyward.AuditFilter{KeyID: keyward.NewKeyID()}, func(*keyward.AuditEvent) bool { return false }},
		{"one action", keyward.AuditFilter{Action: keyward.ActionRotate}, func(ev *keyward.AuditEvent) bool { return ev.Action == keyward.ActionRotate }},
		{"since, inclusive", keyward.AuditFilter{Since: &since}, func(ev *keyward.AuditEvent) bool { return !ev.At.Before(since) }},
		{"until, exclusive", keyward.AuditFilter{Until: &until}, func(ev *keyward.AuditEvent) bool { return ev.At.Before(until) }},
		{"a period", keyward.AuditFilter{Since: &since, Until: &until}, func(ev *keyward.AuditEvent) bool {
			return !ev.At.Before(since) && ev.At.Before(until)
		}},
		{"a key, an action and a period", keyward.AuditFilter{KeyID: keys[0].ID, Action: keyward.ActionUpdate, Since: &since, Until: &until},
			func(ev *keyward.AuditEvent) bool {
				return ev.KeyID == keys[0].ID && ev.Action == keyward.ActionUpdate && !ev.At.Before(since) && ev.At.Before(until)
			}},
	}
	for _, tt := range tests {
		tt.f.OrgID = acme
		var want []*keyward.AuditEvent
		for _, ev := range all {
			if tt.keep(ev) {
				want = append(want, ev)
			}
		}
		if len(want) == len(all) {
			t.Fatalf("%s: the fixture has no event the filter drops", tt.name)
		}
		checkEvents(t, "ListAuditEvents, "+tt.name, events(t, s, tt.f), want)
	}
}

// Pages walked with the cursor after each page's last event return every
// event exactly once, in order, also where a page ends among events that
// share a time, with and without a filter, the cursor as given and through
// its encoding.
func testAuditEventsPaging(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	all, keys := eventFixture(t, s)
	var ofKey []*keyward.AuditEvent
	for _, ev := range all {
		if ev.KeyID == keys[2].ID {
			ofKey = append(ofKey, ev)
		}
	}
	for _, c := range []struct {
		name string
		f    keyward.AuditFilter
		want []*keyward.AuditEvent
	}{
		{"acme", keyward.AuditFilter{OrgID: acme}, all},
		{"one key", keyward.AuditFilter{OrgID: acme, KeyID: keys[2].ID}, ofKey},
	} {
		for _, limit := range []int{1, 2, 3, 4, 5, len(c.want) - 1, len(c.want), len(c.want) + 1} {
			for _, encoded := range []bool{false, true} {
				var got []*keyward.AuditEvent
				f := c.f
				f.Limit = limit
				for page := 0; ; page++ {
					if page > len(c.want)+1 {
						t.Fatalf("%s, limit %d: more pages than events", c.name, limit)
					}
					evs, err := s.ListAuditEvents(t.Context(), f)
					if err != nil {
						t.Fatalf("%s, limit %d, page %d: %v", c.name, limit, page, err)
					}
					if len(evs) > limit {
						t.Fatalf("%s, limit %d, page %d: %d events", c.name, limit, page, len(evs))
					}
					got = append(got, evs...)
					if len(evs) < limit {
						break
					}
					last := evs[len(evs)-1]
					f.After = &keyward.EventCursor{At: last.At, ID: last.ID}
					if encoded {
						if f.After, err = keyward.ParseEventCursor(f.After.Encode()); err != nil {
							t.Fatalf("ParseEventCursor: %v", err)
						}
					}
				}
				checkEvents(t, fmt.Sprintf("%s in pages of %d (encoded cursor: %v)", c.name, limit, encoded), got, c.want)
			}
		}
	}
}

// An event's changes come back as given, field by field in their order,
// whatever JSON each value holds; an event without changes has none.
func testAuditEventsChanges(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	create(t, s, k)
	ev := newEvent(acme, k.ID, base, keyward.ActionUpdate)
	ev.Changes = []keyward.Change{
		{Field: "name", From: json.RawMessage(`"old ✓ \"quoted\""`), To: json.RawMessage(`"new"`)},
		{Field: "metadata", From: json.RawMessage(`{}`), To: json.RawMessage(`{"z":1,"a":[true,null,{"b":"é"}]}`)},
		{Field: "expires_at", From: json.RawMessage(`null`), To: json.RawMessage(`"2026-01-02T03:04:05.123456Z"`)},
		{Field: "enabled", From: json.RawMessage(`true`), To: json.RawMessage(`false`)},
		{Field: "permissions", From: json.RawMessage(`["read"]`), To: json.RawMessage(`["write","read"]`)},
	}
	plain := newEvent(acme, k.ID, base.Add(time.Second), keyward.ActionDelete)
	update(t, s, k, ev, func(k *keyward.Key) { k.Name = "new" })
	update(t, s, k, plain, func(k *keyward.Key) {})
	got := events(t, s, keyward.AuditFilter{OrgID: acme})
	checkEvents(t, "events with and without changes", got, []*keyward.AuditEvent{plain, ev})
	if len(got) == 2 && got[0].Changes != nil {
		t.Errorf("an event without changes came back with %d", len(got[0].Changes))
	}
}

// PruneAuditEvents removes events older than the cut, oldest first and at
// most the limit per call, of every organization, and keeps the rest; an
// event outlives the record of its key.
func testPruneAuditEvents(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k, g := newKey(t, acme, base), newKey(t, globex, base)
	create(t, s, k)
	create(t, s, g)
	var old []*keyward.AuditEvent
	for i := range 5 {
		owner := []*keyward.Key{k, g}[i%2]
		ev := newEvent(owner.OrgID, owner.ID, base.Add(time.Duration(i)*time.Minute), keyward.ActionUpdate)
		update(t, s, owner, ev, func(*keyward.Key) {})
		old = append(old, ev)
	}
	cut := base.Add(10 * time.Minute)
	atCut := newEvent(acme, k.ID, cut, keyward.ActionUpdate)
	after := newEvent(globex, g.ID, cut.Add(time.Microsecond), keyward.ActionUpdate)
	update(t, s, k, atCut, func(*keyward.Key) {})
	update(t, s, g, after, func(*keyward.Key) {})

	if n, err := s.PruneAuditEvents(t.Context(), cut, 0); err != nil || n != 0 {
		t.Errorf("PruneAuditEvents with limit 0 = %d, %v; want nothing done", n, err)
	}
	if n, err := s.PruneAuditEvents(t.Context(), cut, 2); err != nil || n != 2 {
		t.Fatalf("PruneAuditEvents(limit 2) = %d, %v; want 2", n, err)
	}
	left := func() []*keyward.AuditEvent {
		return newestEventsFirst(append(events(t, s, keyward.AuditFilter{OrgID: acme}), events(t, s, keyward.AuditFilter{OrgID: globex})...))
	}
	checkEvents(t, "events after pruning the 2 oldest", left(), newestEventsFirst(append(slices.Clone(old[2:]), atCut, after)))
	if n, err := s.PruneAuditEvents(t.Context(), cut, 100); err != nil || n != 3 {
		t.Fatalf("PruneAuditEvents again = %d, %v; want the 3 left before the cut", n, err)
	}
	if n, err := s.PruneAuditEvents(t.Context(), cut, 100); err != nil || n != 0 {
		t.Fatalf("PruneAuditEvents with nothing left = %d, %v", n, err)
	}
	checkEvents(t, "events after pruning all before the cut", left(), []*keyward.AuditEvent{after, atCut})

	// A key's record pruned after its deletion leaves its events.
	remove(t, s, k, base.Add(time.Hour))
	if n, err := s.PruneDeletedKeys(t.Context(), base.Add(2*time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("PruneDeletedKeys = %d, %v; want 1", n, err)
	}
	checkEvents(t, "acme's events after its key was pruned", events(t, s, keyward.AuditFilter{OrgID: acme}), []*keyward.AuditEvent{atCut})
}

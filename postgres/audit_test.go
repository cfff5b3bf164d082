package postgres_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storetest"
)

// event returns a new event of org about key id at the given time.
func event(org keyward.OrgID, id keyward.KeyID, action keyward.AuditAction, t time.Time) *keyward.AuditEvent {
	return &keyward.AuditEvent{
		ID: keyward.NewEventID(), At: t, OrgID: org, Actor: "key-1", Action: action, KeyID: id,
		RequestID: "req-1", ClientIP: "192.0.2.1", UserAgent: "curl/8 ✓",
	}
}

// eventIDs returns the ids of evs, in order.
func eventIDs(evs []*keyward.AuditEvent) []keyward.EventID {
	out := make([]keyward.EventID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// Events written with a create, an idempotent create and an update come
// back as written, changes in order, and only with the change: a create or
// an update refused writes none.
func TestAuditEventsWrittenWithTheChange(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := t.Context()
	k := storetest.NewKey("acme")
	created := event("acme", k.ID, keyward.ActionCreate, at)
	if err := db.CreateKey(ctx, k, created); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	dup := storetest.NewKey("acme")
	dup.ID = k.ID
	checkErrCode(t, "CreateKey with a taken id", db.CreateKey(ctx, dup, event("acme", dup.ID, keyward.ActionCreate, at)), keyward.ECONFLICT)

	k2 := storetest.NewKey("acme")
	rec := &keyward.IdempotencyRecord{ID: [32]byte{1}, Request: [32]byte{2}, KeyID: k2.ID, Sealed: []byte("sealed"), CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	created2 := event("acme", k2.ID, keyward.ActionCreate, at.Add(time.Microsecond))
	if err := db.CreateKeyIdempotent(ctx, k2, rec, created2); err != nil {
		t.Fatalf("CreateKeyIdempotent: %v", err)
	}
	k3 := storetest.NewKey("acme")
	rec3 := *rec
	rec3.KeyID = k3.ID
	checkErrCode(t, "CreateKeyIdempotent with a live record's id",
		db.CreateKeyIdempotent(ctx, k3, &rec3, event("acme", k3.ID, keyward.ActionCreate, at)), keyward.ECONFLICT)

	updated := event("acme", k.ID, keyward.ActionUpdate, at.Add(time.Second))
	updated.Changes = []keyward.Change{
		{Field: "name", From: json.RawMessage(`"a"`), To: json.RawMessage(`"b"`)},
		{Field: "metadata", From: json.RawMessage(`{"z":1,"a":2}`), To: json.RawMessage(`{}`)},
		{Field: "expires_at", From: nil, To: json.RawMessage(`"2026-01-01T00:00:00Z"`)},
	}
	if _, err := db.UpdateKey(ctx, "acme", k.ID, set(func(k *keyward.Key) { k.Name = "b" }, updated)); err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	evs, err := db.ListAuditEvents(ctx, keyward.AuditFilter{OrgID: "acme", Limit: 10})
	if err != nil {
		t.Fatalf("ListAuditEvents: %v", err)
	}
	want := []*keyward.AuditEvent{updated, created2, created}
	if !slices.Equal(eventIDs(evs), eventIDs(want)) {
		t.Fatalf("events %v, want %v", eventIDs(evs), eventIDs(want))
	}
	for i, got := range evs {
		w := want[i]
		if !got.At.Equal(w.At) || got.OrgID != w.OrgID || got.Actor != w.Actor || got.Action != w.Action ||
			got.KeyID != w.KeyID || got.RequestID != w.RequestID || got.ClientIP != w.ClientIP || got.UserAgent != w.UserAgent ||
			keyward.MarshalChanges(got.Changes) != keyward.MarshalChanges(w.Changes) {
			t.Errorf("event %d = %+v, want %+v", i, got, w)
		}
	}
	if len(evs[0].Changes) != 3 || evs[0].Changes[2].Field != "expires_at" || string(evs[0].Changes[2].From) != "null" {
		t.Errorf("changes = %+v, want the three in order, a missing value as null", evs[0].Changes)
	}
	if evs[1].Changes != nil {
		t.Errorf("a create's changes = %+v, want none", evs[1].Changes)
	}
}

// ListAuditEvents selects by organization, key, action and time range,
// newest first (events of one time by id), page by page; the events of a
// pruned key stay; PruneAuditEvents removes the oldest first, at most its
// limit.
func TestListAndPruneAuditEvents(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := t.Context()
	a, b := storetest.NewKey("acme"), storetest.NewKey("acme")
	for _, k := range []*keyward.Key{a, b} {
		if err := db.CreateKey(ctx, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	var all []*keyward.AuditEvent // acme's, in the order written
	write := func(k *keyward.Key, action keyward.AuditAction, t0 time.Time) {
		t.Helper()
		ev := event("acme", k.ID, action, t0)
		if _, err := db.UpdateKey(ctx, "acme", k.ID, set(func(*keyward.Key) {}, ev)); err != nil {
			t.Fatal(err)
		}
		all = append(all, ev)
	}
	for i := range 12 {
		k, action := a, keyward.ActionUpdate
		if i%3 == 0 {
			k = b
		}
		if i%4 == 0 {
			action = keyward.ActionDisable
		}
		write(k, action, at.Add(time.Duration(i/2)*time.Second)) // pairs share a time
	}
	other := storetest.NewKey("globex")
	if err := db.CreateKey(ctx, other, event("globex", other.ID, keyward.ActionCreate, at)); err != nil {
		t.Fatal(err)
	}
	root := storetest.NewKey("")
	if err := db.CreateKey(ctx, root, event("", root.ID, keyward.ActionCreate, at)); err != nil {
		t.Fatal(err)
	}

	since, until := at.Add(time.Second), at.Add(4*time.Second)
	for _, tt := range []struct {
		name string
		f    keyward.AuditFilter
		keep func(*keyward.AuditEvent) bool
	}{
		{"every event", keyward.AuditFilter{OrgID: "acme"}, func(*keyward.AuditEvent) bool { return true }},
		{"one key's", keyward.AuditFilter{OrgID: "acme", KeyID: b.ID}, func(e *keyward.AuditEvent) bool { return e.KeyID == b.ID }},
		{"one action's", keyward.AuditFilter{OrgID: "acme", Action: keyward.ActionDisable}, func(e *keyward.AuditEvent) bool { return e.Action == keyward.ActionDisable }},
		{"a key's and an action's", keyward.AuditFilter{OrgID: "acme", KeyID: a.ID, Action: keyward.ActionUpdate}, func(e *keyward.AuditEvent) bool {
			return e.KeyID == a.ID && e.Action == keyward.ActionUpdate
		}},
		{"since, inclusive", keyward.AuditFilter{OrgID: "acme", Since: &since}, func(e *keyward.AuditEvent) bool { return !e.At.Before(since) }},
		{"until, exclusive", keyward.AuditFilter{OrgID: "acme", Until: &until}, func(e *keyward.AuditEvent) bool { return e.At.Before(until) }},
		{"a range", keyward.AuditFilter{OrgID: "acme", Since: &since, Until: &until}, func(e *keyward.AuditEvent) bool {
			return !e.At.Before(since) && e.At.Before(until)
		}},
		{"another key's in acme", keyward.AuditFilter{OrgID: "acme", KeyID: other.ID}, func(*keyward.AuditEvent) bool { return false }},
	} {
		var want []keyward.EventID
		for _, e := range newestEvents(all) {
			if tt.keep(e) {
				want = append(want, e.ID)
			}
		}
		for _, limit := range []int{0, 1, 3} {
			f := tt.f
			f.Limit = limit
			var got []keyward.EventID
			for page := 0; page <= len(all); page++ {
				evs, err := db.ListAuditEvents(ctx, f)
				if err != nil {
					t.Fatalf("%s: ListAuditEvents: %v", tt.name, err)
				}
				got = append(got, eventIDs(evs)...)
				if limit == 0 || len(evs) < limit {
					break
				}
				last := evs[len(evs)-1]
				// Through the token, as a client pages.
				c, err := keyward.ParseEventCursor((&keyward.EventCursor{At: last.At, ID: last.ID}).Encode())
				if err != nil {
					t.Fatal(err)
				}
				f.After = c
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s, limit %d: %v, want %v", tt.name, limit, got, want)
			}
		}
	}
	for _, org := range []keyward.OrgID{"globex", ""} {
		evs, err := db.ListAuditEvents(ctx, keyward.AuditFilter{OrgID: org})
		if err != nil || len(evs) != 1 || evs[0].OrgID != org {
			t.Errorf("events of %q: %v, %v; want its one", org, evs, err)
		}
	}

	// A key pruned for good keeps its history.
	if _, err := storetest.Delete(ctx, db, "acme", b.ID, at); err != nil {
		t.Fatal(err)
	}
	if n, err := db.PruneDeletedKeys(ctx, at.Add(time.Hour), 10); n != 1 || err != nil {
		t.Fatalf("PruneDeletedKeys = %d, %v", n, err)
	}
	evs, err := db.ListAuditEvents(ctx, keyward.AuditFilter{OrgID: "acme", KeyID: b.ID})
	if err != nil || len(evs) != 4 {
		t.Errorf("events of a pruned key: %d, %v; want its 4", len(evs), err)
	}

	// Pruning: the oldest first, at most the limit, strictly before.
	cut := at.Add(2 * time.Second) // 4 of acme's, globex's and the root's are older
	if n, err := db.PruneAuditEvents(ctx, cut, 0); n != 0 || err != nil {
		t.Errorf("PruneAuditEvents with limit 0 = %d, %v", n, err)
	}
	if n, err := db.PruneAuditEvents(ctx, cut, 5); n != 5 || err != nil {
		t.Fatalf("PruneAuditEvents = %d, %v; want 5", n, err)
	}
	if n, err := db.PruneAuditEvents(ctx, cut, 5); n != 1 || err != nil {
		t.Fatalf("PruneAuditEvents again = %d, %v; want the 1 left before the cut", n, err)
	}
	evs, err = db.ListAuditEvents(ctx, keyward.AuditFilter{OrgID: "acme"})
	if err != nil || len(evs) != 8 || evs[len(evs)-1].At.Before(cut) {
		t.Errorf("after pruning: %d events, %v; want the 8 from the cut on", len(evs), err)
	}
}

// newestEvents sorts events as ListAuditEvents returns them.
func newestEvents(evs []*keyward.AuditEvent) []*keyward.AuditEvent {
	evs = slices.Clone(evs)
	slices.SortFunc(evs, func(a, b *keyward.AuditEvent) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		switch {
		case a.ID > b.ID:
			return -1
		case a.ID < b.ID:
			return 1
		}
		return 0
	})
	return evs
}

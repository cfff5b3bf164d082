package storetest

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// sessions returns the store's keyward.SessionStore: every backend keeps
// the console's sessions.
func sessions(t *testing.T, s keyward.KeyStore) keyward.SessionStore {
	t.Helper()
	ss, ok := s.(keyward.SessionStore)
	if !ok {
		t.Fatalf("%T does not implement keyward.SessionStore", s)
	}
	return ss
}

// newSession returns a session of key id in org, made at the given time
// and ending an hour later, with random id, binding and CSRF token.
func newSession(id keyward.KeyID, org keyward.OrgID, at time.Time) *keyward.Session {
	s := &keyward.Session{KeyID: id, OrgID: org, CSRF: rand.Text(), CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	rand.Read(s.ID[:])
	rand.Read(s.Binding[:])
	return s
}

// checkSession compares a stored session with the one written.
func checkSession(t *testing.T, ss keyward.SessionStore, want *keyward.Session) {
	t.Helper()
	got, err := ss.Session(t.Context(), want.ID)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	if got.ID != want.ID || got.KeyID != want.KeyID || got.OrgID != want.OrgID || got.Binding != want.Binding ||
		got.CSRF != want.CSRF || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("Session = %+v, want %+v", got, want)
	}
}

// A session comes back as written, to the microsecond, expired or not; an
// unknown id is ENOTFOUND, and a taken one ECONFLICT.
func testSessionRoundTrip(t *testing.T, newStore newStoreFunc) {
	ss := sessions(t, newStore(t))
	live := newSession(1, acme, base)
	root := newSession(2, "", base.Add(-2*time.Hour)) // a root key before it picks an organization; expired
	for _, s := range []*keyward.Session{live, root} {
		if err := ss.CreateSession(t.Context(), s); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		checkSession(t, ss, s)
	}
	again := newSession(3, globex, base)
	again.ID = live.ID
	checkCode(t, "CreateSession with a taken id", ss.CreateSession(t.Context(), again), keyward.ECONFLICT)
	checkSession(t, ss, live)
	var unknown keyward.SessionID
	_, err := ss.Session(t.Context(), unknown)
	checkCode(t, "Session of an unknown id", err, keyward.ENOTFOUND)
}

// DeleteSession removes the one session it names, and removing it again,
// or one that never was, is no error.
func testSessionDelete(t *testing.T, newStore newStoreFunc) {
	ss := sessions(t, newStore(t))
	a, b := newSession(1, acme, base), newSession(1, acme, base)
	for _, s := range []*keyward.Session{a, b} {
		if err := ss.CreateSession(t.Context(), s); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	for range 2 {
		if err := ss.DeleteSession(t.Context(), a.ID); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
	}
	_, err := ss.Session(t.Context(), a.ID)
	checkCode(t, "Session after DeleteSession", err, keyward.ENOTFOUND)
	checkSession(t, ss, b)
}

// PruneSessions removes at most limit sessions that expired before the
// time given, and no other.
func testSessionPrune(t *testing.T, newStore newStoreFunc) {
	ss := sessions(t, newStore(t))
	var old []*keyward.Session
	for i := range 3 {
		s := newSession(1, acme, base.Add(-time.Duration(i+2)*time.Hour))
		old = append(old, s)
	}
	fresh := newSession(1, acme, base)
	edge := newSession(1, acme, base.Add(-time.Hour)) // expires at base: not before it
	for _, s := range append(append([]*keyward.Session{}, old...), fresh, edge) {
		if err := ss.CreateSession(t.Context(), s); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	if n, err := ss.PruneSessions(t.Context(), base, 2); err != nil || n != 2 {
		t.Fatalf("PruneSessions(limit 2) = %d, %v; want 2, nil", n, err)
	}
	if n, err := ss.PruneSessions(t.Context(), base, 10); err != nil || n != 1 {
		t.Fatalf("PruneSessions(limit 10) = %d, %v; want 1, nil", n, err)
	}
	for _, s := range old {
		_, err := ss.Session(t.Context(), s.ID)
		checkCode(t, "Session pruned", err, keyward.ENOTFOUND)
	}
	checkSession(t, ss, fresh)
	checkSession(t, ss, edge)
}

// A change that refuses a key removes its sessions in the same
// transaction (keyward.EndsSessions), so that enabling it again, or
// restoring it, does not bring them back; other changes, and other keys'
// sessions, are left alone.
func testSessionEndWithTheirKey(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	ss := sessions(t, s)
	k := NewKey(acme, CreatedAt(base), Permissions(keyward.PermManage), ExpiresAt(base.Add(48*time.Hour)))
	other := NewKey(acme, CreatedAt(base), Permissions(keyward.PermManage))
	create(t, s, k)
	create(t, s, other)
	bystander := newSession(other.ID, acme, base)
	if err := ss.CreateSession(t.Context(), bystander); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	for _, c := range []struct {
		name   string
		change func(k *keyward.Key)
		ends   bool
	}{
		{"a rename", func(k *keyward.Key) { k.Name = "renamed" }, false},
		{"a disable", func(k *keyward.Key) { k.Disabled = true }, true},
		{"an enable", func(k *keyward.Key) { k.Disabled = false }, false},
		{"manage taken away", func(k *keyward.Key) { k.Permissions = []keyward.Permission{keyward.PermRead} }, true},
		{"manage given back", func(k *keyward.Key) { k.Permissions = []keyward.Permission{keyward.PermManage} }, false},
		{"the expiry moved", func(k *keyward.Key) { later := base.Add(72 * time.Hour); k.ExpiresAt = &later }, true},
		{"a delete", func(k *keyward.Key) { at := base.Add(time.Hour); k.DeletedAt = &at }, true},
		{"a restore", func(k *keyward.Key) { k.DeletedAt = nil }, false},
	} {
		sess := newSession(k.ID, acme, base)
		if err := ss.CreateSession(t.Context(), sess); err != nil {
			t.Fatalf("%s: CreateSession: %v", c.name, err)
		}
		update(t, s, k, nil, c.change)
		_, err := ss.Session(t.Context(), sess.ID)
		switch {
		case c.ends:
			checkCode(t, c.name+": Session afterwards", err, keyward.ENOTFOUND)
		case err != nil:
			t.Errorf("%s ended the key's session: %v", c.name, err)
		}
		checkSession(t, ss, bystander)
		if c.ends {
			continue
		}
		if err := ss.DeleteSession(t.Context(), sess.ID); err != nil {
			t.Fatal(err)
		}
	}
}

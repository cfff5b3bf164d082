package keyward_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keycache"
)

// clock is a test's time, which it moves by hand.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time      { return c.t }
func (c *clock) set(t time.Time)     { c.t = t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func ptr[T any](v T) *T              { return &v }

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// newLifecycle returns a Service with a hand-moved clock over the
// verification cache over a fresh SQLite file, the cache (whose Stats
// count the store lookups), and a root key.
func newLifecycle(t *testing.T) (*keyward.Service, *keycache.Store, *clock, *keyward.Key) {
	t.Helper()
	_, db := newServiceAndStore(t)
	c := keycache.New(db, keycache.Options{Unshared: true})
	s := keyward.NewService(c)
	clk := &clock{t: t0}
	s.Now = clk.Now
	root := mustRoot(t, s)
	return s, c, clk, root
}

func verify(t *testing.T, s *keyward.Service, secret keyward.Secret, perms ...keyward.Permission) keyward.Verdict {
	t.Helper()
	v, err := s.Verify(context.Background(), secret.Reveal(), perms)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return v
}

func wantVerdict(t *testing.T, what string, v keyward.Verdict, code keyward.VerifyCode) {
	t.Helper()
	if v.Code != code {
		t.Errorf("%s: %s, want %s", what, v.Code, code)
	}
}

// A key with an expiry verifies until the microsecond before it and is
// EXPIRED from it on, answered from the cache each time: the state is
// decided against the service's clock after the cache, not by the store.
func TestExpiryOnTheSecond(t *testing.T) {
	ctx := context.Background()
	s, c, clk, root := newLifecycle(t)
	end := t0.Add(time.Hour)
	k, secret, err := s.CreateKey(ctx, root, "acme", keyward.NewKey{Name: "temp", Permissions: []keyward.Permission{keyward.PermRead}, ExpiresAt: &end, Metadata: `{"plan":"pro","tags":["a","b"]}`})
	if err != nil {
		t.Fatal(err)
	}
	if !k.ExpiresAt.Equal(end) || k.State(clk.Now()) != keyward.StateActive {
		t.Fatalf("created key: expires %v, state %s", k.ExpiresAt, k.State(clk.Now()))
	}
	wantVerdict(t, "a fresh key", verify(t, s, secret), keyward.VerifyValid)
	loads := c.Stats().Loads
	clk.set(end.Add(-time.Microsecond))
	v := verify(t, s, secret)
	wantVerdict(t, "a microsecond before its expiry", v, keyward.VerifyValid)
	if v.Key.Metadata != `{"plan":"pro","tags":["a","b"]}` || v.Key.ExpiresAt == nil || !v.Key.ExpiresAt.Equal(end) {
		t.Errorf("cached verdict: metadata %q, expires %v", v.Key.Metadata, v.Key.ExpiresAt)
	}
	clk.set(end)
	wantVerdict(t, "at its expiry", verify(t, s, secret), keyward.VerifyExpired)
	if got := c.Stats().Loads; got != loads {
		t.Errorf("%d store lookups after the first verification: a cached key must verify, and expire, from memory", got-loads)
	}
	if _, err := s.Authenticate(ctx, secret.Reveal()); keyward.ErrorCode(err) != keyward.EUNAUTHORIZED {
		t.Errorf("an expired key authenticated for the management API: %v", err)
	}

	// An expiry in the past is refused at create and at update, and null
	// clears it.
	past := t0
	clk.set(end.Add(time.Hour))
	_, _, err = s.CreateKey(ctx, root, "acme", keyward.NewKey{Name: "x", Permissions: []keyward.Permission{keyward.PermRead}, ExpiresAt: &past})
	wantCode(t, "create with a past expiry", err, keyward.EINVALID)
	_, err = s.UpdateKey(ctx, root, "acme", k.ID, keyward.KeyPatch{ExpiresAt: &keyward.Expiry{At: &past}})
	wantCode(t, "update to a past expiry", err, keyward.EINVALID)
	k2, err := s.UpdateKey(ctx, root, "acme", k.ID, keyward.KeyPatch{ExpiresAt: &keyward.Expiry{}})
	if err != nil || k2.ExpiresAt != nil {
		t.Fatalf("clearing the expiry: %v, %v", k2, err)
	}
	wantVerdict(t, "after its expiry was cleared", verify(t, s, secret), keyward.VerifyValid)
}

// Disabling a key makes it DISABLED at once, also from the cache of the
// instance that made the change, and refused by the management API;
// enabling it restores it.
func TestDisableEnable(t *testing.T) {
	ctx := context.Background()
	s, _, clk, root := newLifecycle(t)
	k, secret, err := s.CreateKey(ctx, root, "acme", keyward.NewKey{Name: "k", Permissions: []keyward.Permission{keyward.PermManage}})
	if err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "before", verify(t, s, secret), keyward.VerifyValid)
	clk.add(time.Second)
	d, err := s.UpdateKey(ctx, root, "acme", k.ID, keyward.KeyPatch{Enabled: ptr(false)})
	if err != nil || !d.Disabled || d.Version != 2 {
		t.Fatalf("disable: %+v, %v", d, err)
	}
	wantVerdict(t, "disabled", verify(t, s, secret), keyward.VerifyDisabled)
	if _, err := s.Authenticate(ctx, secret.Reveal()); keyward.ErrorCode(err) != keyward.EUNAUTHORIZED {
		t.Errorf("a disabled key authenticated: %v", err)
	}
	// Disabling again changes nothing and writes nothing.
	again, err := s.UpdateKey(ctx, root, "acme", k.ID, keyward.KeyPatch{Enabled: ptr(false)})
	if err != nil || again.Version != 2 {
		t.Fatalf("disabling a disabled key: version %d, %v", again.Version, err)
	}
	clk.add(time.Second)
	if _, err := s.UpdateKey(ctx, root, "acme", k.ID, keyward.KeyPatch{Enabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "enabled again", verify(t, s, secret), keyward.VerifyValid)
	evs := events(t, s, root, "acme", keyward.AuditFilter{KeyID: k.ID})
	if got := actions(evs); got != "enable disable create" {
		t.Errorf("audit trail: %s", got)
	}
}

// A rotated key's previous secret verifies, saying until when, up to the
// end of its grace period exactly; rotating again, deleting or disabling
// ends it at once.
func TestRotationGrace(t *testing.T) {
	ctx := context.Background()
	s, c, clk, root := newLifecycle(t)
	k, old, err := s.CreateKey(ctx, root, "acme", keyward.NewKey{Name: "k", Permissions: []keyward.Permission{keyward.PermRead}})
	if err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "old secret before rotation", verify(t, s, old), keyward.VerifyValid) // cached
	r, fresh, err := s.RotateKey(ctx, root, "acme", k.ID, 90*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	end := t0.Add(90 * time.Second)
	if r.ID != k.ID || r.Hash == k.Hash || r.Previous == nil || !r.Previous.ExpiresAt.Equal(end) || r.Hint != fresh.Hint() {
		t.Fatalf("rotated key: %+v", r)
	}
	wantVerdict(t, "new secret", verify(t, s, fresh), keyward.VerifyValid)
	v := verify(t, s, old)
	wantVerdict(t, "old secret in its grace period", v, keyward.VerifyValid)
	if v.SecretExpiresAt == nil || !v.SecretExpiresAt.Equal(end) {
		t.Errorf("old secret's verdict says it stops at %v, want %v", v.SecretExpiresAt, end)
	}
	if v := verify(t, s, fresh); v.SecretExpiresAt != nil {
		t.Errorf("the new secret's verdict names an end: %v", v.SecretExpiresAt)
	}
	loads := c.Stats().Loads
	clk.set(end.Add(-time.Microsecond))
	wantVerdict(t, "old secret a microsecond before the end", verify(t, s, old), keyward.VerifyValid)
	clk.set(end)
	wantVerdict(t, "old secret at the end of its grace", verify(t, s, old), keyward.VerifyNotFound)
	wantVerdict(t, "new secret after the grace", verify(t, s, fresh), keyward.VerifyValid)
	if got := c.Stats().Loads; got != loads {
		t.Errorf("%d store lookups: the grace period must end from memory", got-loads)
	}

	// Rotating again ends the previous grace at once.
	clk.set(t0)
	_, third, err := s.RotateKey(ctx, root, "acme", k.ID, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, fourth, err := s.RotateKey(ctx, root, "acme", k.ID, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "a secret two rotations old", verify(t, s, fresh), keyward.VerifyNotFound)
	wantVerdict(t, "the secret one rotation old", verify(t, s, third), keyward.VerifyValid)
	wantVerdict(t, "the newest secret", verify(t, s, fourth), keyward.VerifyValid)

	// Disabling ends the grace: enabled again, only the newest verifies.
	if _, err := s.UpdateKey(ctx, root, "acme", k.ID, keyward.KeyPatch{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "previous secret of a disabled key", verify(t, s, third), keyward.VerifyNotFound)
	wantVerdict(t, "current secret of a disabled key", verify(t, s, fourth), keyward.VerifyDisabled)
	if _, err := s.UpdateKey(ctx, root, "acme", k.ID, keyward.KeyPatch{Enabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "previous secret after re-enabling", verify(t, s, third), keyward.VerifyNotFound)

	// Deleting ends it too; grace 0 keeps no previous secret.
	_, fifth, err := s.RotateKey(ctx, root, "acme", k.ID, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteKey(ctx, root, "acme", k.ID, nil); err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "previous secret of a deleted key", verify(t, s, fourth), keyward.VerifyNotFound)
	if _, err := s.RestoreKey(ctx, root, "acme", k.ID, nil); err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "previous secret after restore", verify(t, s, fourth), keyward.VerifyNotFound)
	wantVerdict(t, "current secret after restore", verify(t, s, fifth), keyward.VerifyValid)
	r0, sixth, err := s.RotateKey(ctx, root, "acme", k.ID, 0, nil)
	if err != nil || r0.Previous != nil {
		t.Fatalf("rotation without grace: %+v, %v", r0, err)
	}
	wantVerdict(t, "secret rotated without grace", verify(t, s, fifth), keyward.VerifyNotFound)
	wantVerdict(t, "its successor", verify(t, s, sixth), keyward.VerifyValid)

	_, _, err = s.RotateKey(ctx, root, "acme", k.ID, keyward.MaxGracePeriod+time.Second, nil)
	wantCode(t, "a grace period over the maximum", err, keyward.EINVALID)
}

// A deleted key comes back with its secret within the retention period,
// and not after it; a live key cannot be restored.
func TestRestore(t *testing.T) {
	ctx := context.Background()
	s, _, clk, root := newLifecycle(t)
	s.DeletedKeyRetention = 24 * time.Hour
	k, secret := mustKey(t, s, root, "acme", keyward.PermRead)
	_, err := s.RestoreKey(ctx, root, "acme", k.ID, nil)
	wantCode(t, "restoring a live key", err, keyward.ECONFLICT)
	if err := s.DeleteKey(ctx, root, "acme", k.ID, nil); err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "deleted", verify(t, s, secret), keyward.VerifyNotFound)
	p, err := s.ListKeys(ctx, root, "acme", keyward.ListState(keyward.StateDeleted), nil, 10)
	if err != nil || len(p.Keys) != 1 || p.Keys[0].ID != k.ID {
		t.Fatalf("deleted keys: %v, %v", p, err)
	}
	clk.add(24*time.Hour - time.Microsecond)
	r, err := s.RestoreKey(ctx, root, "acme", k.ID, nil)
	if err != nil || r.DeletedAt != nil {
		t.Fatalf("restore within the retention: %+v, %v", r, err)
	}
	wantVerdict(t, "restored", verify(t, s, secret), keyward.VerifyValid)
	if err := s.DeleteKey(ctx, root, "acme", k.ID, nil); err != nil {
		t.Fatal(err)
	}
	clk.add(24 * time.Hour)
	_, err = s.RestoreKey(ctx, root, "acme", k.ID, nil)
	wantCode(t, "restore after the retention", err, keyward.ENOTFOUND)
	_, err = s.RestoreKey(ctx, root, "", k.ID, nil)
	wantCode(t, "a root key restoring without naming the organization", err, keyward.EINVALID)
}

// Updates: each field, the merge of metadata, the permission rule, and
// conditional writes.
func TestUpdate(t *testing.T) {
	ctx := context.Background()
	s, _, clk, root := newLifecycle(t)
	admin, adminSecret := mustKey(t, s, root, "acme", keyward.PermManage, keyward.PermRead)
	k, err := func() (*keyward.Key, error) {
		k, _, err := s.CreateKey(ctx, admin, "acme", keyward.NewKey{Name: "k", Permissions: []keyward.Permission{keyward.PermRead}, Metadata: `{"a":1,"b":{"c":2,"d":3}}`})
		return k, err
	}()
	if err != nil {
		t.Fatal(err)
	}
	if k.CreatedBy != admin.ID.String() || k.Version != 1 || !k.UpdatedAt.Equal(k.CreatedAt) {
		t.Fatalf("created: by %q, version %d, updated %v", k.CreatedBy, k.Version, k.UpdatedAt)
	}
	name := "renamed"
	clk.add(time.Second)
	u, err := s.UpdateKey(ctx, admin, "acme", k.ID, keyward.KeyPatch{
		Name: &name, Metadata: json.RawMessage(`{"a":null,"b":{"c":9},"e":"x"}`), If: &keyward.Condition{Versions: []int64{1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "renamed" || u.Metadata != `{"b":{"c":9,"d":3},"e":"x"}` || u.Version != 2 {
		t.Errorf("updated: name %q, metadata %s, version %d", u.Name, u.Metadata, u.Version)
	}
	// A second writer holding version 1 is refused, and changes nothing.
	other := "lost update"
	_, err = s.UpdateKey(ctx, admin, "acme", k.ID, keyward.KeyPatch{Name: &other, If: &keyward.Condition{Versions: []int64{1}}})
	wantCode(t, "update at a stale version", err, keyward.EPRECONDITION)
	err = s.DeleteKey(ctx, admin, "acme", k.ID, &keyward.Condition{Versions: []int64{1}})
	wantCode(t, "delete at a stale version", err, keyward.EPRECONDITION)
	if got, _ := s.Key(ctx, admin, "acme", k.ID); got.Name != "renamed" || got.Version != 2 {
		t.Errorf("after refused writes: %q at version %d", got.Name, got.Version)
	}
	// A key may not grant what it does not hold, but keeps what the key
	// already had.
	_, err = s.UpdateKey(ctx, admin, "acme", k.ID, keyward.KeyPatch{Permissions: []keyward.Permission{keyward.PermRead, keyward.PermWrite}})
	wantCode(t, "granting a permission the caller lacks", err, keyward.EFORBIDDEN)
	if _, err := s.UpdateKey(ctx, admin, "acme", admin.ID, keyward.KeyPatch{Permissions: []keyward.Permission{keyward.PermManage, keyward.PermRead, keyward.PermDelete}}); keyward.ErrorCode(err) != keyward.EFORBIDDEN {
		t.Errorf("a key granting itself a permission: %v", err)
	}
	// Metadata: null removes it all; too large or too deep is refused.
	clk.add(time.Second)
	u, err = s.UpdateKey(ctx, admin, "acme", k.ID, keyward.KeyPatch{Metadata: json.RawMessage(`null`)})
	if err != nil || u.Metadata != "" {
		t.Errorf("metadata null: %q, %v", u.Metadata, err)
	}
	big := `{"x":"` + strings.Repeat("y", keyward.MaxMetadataSize) + `"}`
	_, err = s.UpdateKey(ctx, admin, "acme", k.ID, keyward.KeyPatch{Metadata: json.RawMessage(big)})
	wantCode(t, "metadata over 8 KiB", err, keyward.EINVALID)
	_, err = s.UpdateKey(ctx, admin, "acme", k.ID, keyward.KeyPatch{Metadata: json.RawMessage(`{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}`)})
	wantCode(t, "metadata six levels deep", err, keyward.EINVALID)
	// The audit trail lists each change, before and after.
	evs := events(t, s, root, "acme", keyward.AuditFilter{KeyID: k.ID, Action: keyward.ActionUpdate})
	if len(evs) != 2 {
		t.Fatalf("%d update events, want 2", len(evs))
	}
	first := evs[1]
	if first.Actor != admin.ID.String() || keyward.MarshalChanges(first.Changes) != `{"name":{"from":"k","to":"renamed"},"metadata":{"from":{"a":1,"b":{"c":2,"d":3}},"to":{"b":{"c":9,"d":3},"e":"x"}}}` {
		t.Errorf("update event: actor %s, changes %s", first.Actor, keyward.MarshalChanges(first.Changes))
	}
	_ = adminSecret
}

// Every action writes one audit event with its actor and the request's
// origin; the command line is the actor "cli"; no event carries a secret,
// a hash, or a secret sent in a header.
func TestAuditTrail(t *testing.T) {
	s, _, clk, root := newLifecycle(t)
	var secrets []keyward.Secret
	leaked := keyward.NewSecret()
	ctx := keyward.WithRequestInfo(context.Background(), keyward.RequestInfo{
		RequestID: "req-1", ClientIP: "192.0.2.7", UserAgent: "curl/8 " + leaked.Reveal(),
	})
	k, sec, err := s.CreateKey(ctx, root, "acme", keyward.NewKey{Name: "k", Permissions: []keyward.Permission{keyward.PermRead}})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, sec, leaked)
	name := "n2"
	steps := []func() error{
		func() error {
			_, err := s.UpdateKey(ctx, root, "acme", k.ID, keyward.KeyPatch{Name: &name})
			return err
		},
		func() error {
			_, sec, err := s.RotateKey(ctx, root, "acme", k.ID, time.Hour, nil)
			secrets = append(secrets, sec)
			return err
		},
		func() error {
			_, err := s.UpdateKey(ctx, root, "acme", k.ID, keyward.KeyPatch{Enabled: ptr(false)})
			return err
		},
		func() error {
			_, err := s.UpdateKey(ctx, root, "acme", k.ID, keyward.KeyPatch{Enabled: ptr(true)})
			return err
		},
		func() error { return s.DeleteKey(ctx, root, "acme", k.ID, nil) },
		func() error { _, err := s.RestoreKey(ctx, root, "acme", k.ID, nil); return err },
	}
	for i, step := range steps {
		clk.add(time.Second)
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	evs := events(t, s, root, "acme", keyward.AuditFilter{})
	if got := actions(evs); got != "restore delete enable disable rotate update create" {
		t.Errorf("actions, newest first: %s", got)
	}
	for _, ev := range evs {
		if ev.Actor != root.ID.String() || ev.KeyID != k.ID || ev.OrgID != "acme" || ev.RequestID != "req-1" || ev.ClientIP != "192.0.2.7" || !strings.HasPrefix(ev.UserAgent, "curl/8 ") {
			t.Errorf("event %s: %+v", ev.Action, ev)
		}
	}
	// The command line's root keys: created and revoked by "cli".
	rk, rsec, err := s.CreateRootKey(context.Background(), "ops")
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, rsec)
	clk.add(time.Second)
	if err := s.DeleteRootKey(context.Background(), rk.ID); err != nil {
		t.Fatal(err)
	}
	rootEvs := events(t, s, root, "", keyward.AuditFilter{KeyID: rk.ID})
	if got := actions(rootEvs); got != "delete create" || rootEvs[0].Actor != keyward.ActorCLI {
		t.Errorf("root key events: %s by %q", got, rootEvs[0].Actor)
	}
	// No secret, and no hash of one, in any event.
	all := append(evs, events(t, s, root, "", keyward.AuditFilter{})...)
	for _, ev := range all {
		text := fmt.Sprintf("%+v %s", *ev, keyward.MarshalChanges(ev.Changes))
		for _, sec := range secrets {
			h := sec.Hash()
			if strings.Contains(text, sec.Reveal()) || strings.Contains(text, fmt.Sprintf("%x", h[:])) || strings.Contains(text, fmt.Sprint(h[:])) {
				t.Errorf("event %s %s holds a secret or its hash", ev.ID, ev.Action)
			}
		}
	}
	// Another organization's manager sees its own events (its key's
	// creation) and none of acme's.
	globex, _ := mustKey(t, s, root, "globex", keyward.PermManage)
	if evs := events(t, s, globex, "", keyward.AuditFilter{}); len(evs) != 1 || evs[0].KeyID != globex.ID {
		t.Errorf("globex sees %d events, want only its key's creation", len(evs))
	}
	_, err = s.ListAuditEvents(context.Background(), globex, "acme", keyward.AuditFilter{Limit: 10})
	wantCode(t, "another organization's events", err, keyward.ENOTFOUND)
}

// Lists select by state, active by default.
func TestListByState(t *testing.T) {
	ctx := context.Background()
	s, _, clk, root := newLifecycle(t)
	end := t0.Add(time.Minute)
	active, _ := mustKey(t, s, root, "acme", keyward.PermRead)
	expiring, _, err := s.CreateKey(ctx, root, "acme", keyward.NewKey{Name: "e", Permissions: []keyward.Permission{keyward.PermRead}, ExpiresAt: &end})
	if err != nil {
		t.Fatal(err)
	}
	disabled, _ := mustKey(t, s, root, "acme", keyward.PermRead)
	if _, err := s.UpdateKey(ctx, root, "acme", disabled.ID, keyward.KeyPatch{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	deleted, _ := mustKey(t, s, root, "acme", keyward.PermRead)
	if err := s.DeleteKey(ctx, root, "acme", deleted.ID, nil); err != nil {
		t.Fatal(err)
	}
	ids := func(state keyward.ListState) map[keyward.KeyID]bool {
		t.Helper()
		p, err := s.ListKeys(ctx, root, "acme", state, nil, 100)
		if err != nil {
			t.Fatalf("list %q: %v", state, err)
		}
		m := map[keyward.KeyID]bool{}
		for _, k := range p.Keys {
			m[k.ID] = true
		}
		return m
	}
	check := func(state keyward.ListState, want ...*keyward.Key) {
		t.Helper()
		got := ids(state)
		if len(got) != len(want) {
			t.Errorf("state %q: %d keys, want %d", state, len(got), len(want))
		}
		for _, k := range want {
			if !got[k.ID] {
				t.Errorf("state %q: key %v missing", state, k.ID)
			}
		}
	}
	check("", active, expiring)
	check("expired")
	check("disabled", disabled)
	check("deleted", deleted)
	check("all", active, expiring, disabled, deleted)
	clk.set(end)
	check("active", active)
	check("expired", expiring)
	if _, err := s.ListKeys(ctx, root, "acme", "gone", nil, 10); keyward.ErrorCode(err) != keyward.EINVALID {
		t.Errorf("an unknown state: %v", err)
	}
}

func events(t *testing.T, s *keyward.Service, caller *keyward.Key, org keyward.OrgID, f keyward.AuditFilter) []*keyward.AuditEvent {
	t.Helper()
	f.Limit = keyward.MaxPageLimit
	p, err := s.ListAuditEvents(context.Background(), caller, org, f)
	if err != nil {
		t.Fatalf("ListAuditEvents: %v", err)
	}
	return p.Events
}

func actions(evs []*keyward.AuditEvent) string {
	s := make([]string, len(evs))
	for i, ev := range evs {
		s[i] = string(ev.Action)
	}
	return strings.Join(s, " ")
}

// A key may rotate, restore or enable a key, or extend or remove its
// expiry, only if it holds every permission of that key: each hands out
// the key's secret or makes it usable again. A key may disable, delete or
// rename a stronger key, and may never extend its own expiry.
func TestNoEscalationThroughTheLifecycle(t *testing.T) {
	ctx := context.Background()
	s, _, clk, root := newLifecycle(t)
	weak, _ := mustKey(t, s, root, "acme", keyward.PermRead, keyward.PermManage)
	end := t0.Add(time.Hour)
	strong, strongSecret, err := s.CreateKey(ctx, root, "acme", keyward.NewKey{Name: "strong", Permissions: []keyward.Permission{keyward.PermWrite, keyward.PermDelete, keyward.PermManage}, ExpiresAt: &end})
	if err != nil {
		t.Fatal(err)
	}
	if strong.CreatedBy != "root" || weak.CreatedBy != "root" {
		t.Errorf("keys made by a root key: created_by %q, %q; want root", strong.CreatedBy, weak.CreatedBy)
	}
	_, _, err = s.RotateKey(ctx, weak, "acme", strong.ID, 0, nil)
	wantCode(t, "a weaker key rotating a stronger one", err, keyward.EFORBIDDEN)
	wantVerdict(t, "the stronger key after the refused rotation", verify(t, s, strongSecret), keyward.VerifyValid)
	later := end.Add(time.Hour)
	_, err = s.UpdateKey(ctx, weak, "acme", strong.ID, keyward.KeyPatch{ExpiresAt: &keyward.Expiry{At: &later}})
	wantCode(t, "a weaker key extending a stronger one's expiry", err, keyward.EFORBIDDEN)
	_, err = s.UpdateKey(ctx, weak, "acme", strong.ID, keyward.KeyPatch{ExpiresAt: &keyward.Expiry{}})
	wantCode(t, "a weaker key removing a stronger one's expiry", err, keyward.EFORBIDDEN)
	sooner := end.Add(-time.Minute)
	name := "renamed by weak"
	if _, err := s.UpdateKey(ctx, weak, "acme", strong.ID, keyward.KeyPatch{Name: &name, ExpiresAt: &keyward.Expiry{At: &sooner}}); err != nil {
		t.Errorf("a weaker key shortening a stronger one's expiry and renaming it: %v", err)
	}
	clk.add(time.Second)
	if _, err := s.UpdateKey(ctx, weak, "acme", strong.ID, keyward.KeyPatch{Enabled: ptr(false)}); err != nil {
		t.Fatalf("a weaker key disabling a stronger one: %v", err)
	}
	_, err = s.UpdateKey(ctx, weak, "acme", strong.ID, keyward.KeyPatch{Enabled: ptr(true)})
	wantCode(t, "a weaker key enabling a stronger one", err, keyward.EFORBIDDEN)
	wantVerdict(t, "the stronger key after the refused enable", verify(t, s, strongSecret), keyward.VerifyDisabled)
	if err := s.DeleteKey(ctx, weak, "acme", strong.ID, nil); err != nil {
		t.Fatalf("a weaker key deleting a stronger one: %v", err)
	}
	_, err = s.RestoreKey(ctx, weak, "acme", strong.ID, nil)
	wantCode(t, "a weaker key restoring a stronger one", err, keyward.EFORBIDDEN)
	wantVerdict(t, "the stronger key after the refused restore", verify(t, s, strongSecret), keyward.VerifyNotFound)

	// A key cannot make itself last longer, even with every permission.
	self, _, err := s.CreateKey(ctx, root, "acme", keyward.NewKey{Name: "self", Permissions: keyward.AllPermissions, ExpiresAt: &end})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateKey(ctx, self, "acme", self.ID, keyward.KeyPatch{ExpiresAt: &keyward.Expiry{}})
	wantCode(t, "a key removing its own expiry", err, keyward.EFORBIDDEN)
	if _, err := s.UpdateKey(ctx, self, "acme", self.ID, keyward.KeyPatch{ExpiresAt: &keyward.Expiry{At: &sooner}}); err != nil {
		t.Errorf("a key shortening its own expiry: %v", err)
	}
	// A key holding every permission of another may do all of it.
	peer, peerSecret, err := s.CreateKey(ctx, self, "acme", keyward.NewKey{Name: "peer", Permissions: []keyward.Permission{keyward.PermRead}})
	if err != nil {
		t.Fatal(err)
	}
	if peer.CreatedBy != self.ID.String() {
		t.Errorf("created_by of a key made by an organization key: %q, want %q", peer.CreatedBy, self.ID)
	}
	if _, _, err := s.RotateKey(ctx, self, "acme", peer.ID, time.Hour, nil); err != nil {
		t.Errorf("rotating a key whose permissions the caller holds: %v", err)
	}
	wantVerdict(t, "the peer's old secret in its grace", verify(t, s, peerSecret), keyward.VerifyValid)
}

// Rotating a disabled key keeps no previous secret, whatever the grace
// asked: disabling ended the grace, and enabling does not bring it back.
func TestRotateDisabledKeyHasNoGrace(t *testing.T) {
	ctx := context.Background()
	s, _, _, root := newLifecycle(t)
	k, old := mustKey(t, s, root, "acme", keyward.PermRead)
	if _, err := s.UpdateKey(ctx, root, "acme", k.ID, keyward.KeyPatch{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	r, fresh, err := s.RotateKey(ctx, root, "acme", k.ID, time.Hour, nil)
	if err != nil || r.Previous != nil {
		t.Fatalf("rotating a disabled key with a grace period: %+v, %v", r, err)
	}
	if _, err := s.UpdateKey(ctx, root, "acme", k.ID, keyward.KeyPatch{Enabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	wantVerdict(t, "the secret before the rotation", verify(t, s, old), keyward.VerifyNotFound)
	wantVerdict(t, "the new secret", verify(t, s, fresh), keyward.VerifyValid)
}

// A listing says at which instant its state filter was evaluated, so that
// what it shows agrees with what it selected.
func TestListSaysWhenItsStatesHold(t *testing.T) {
	s, _, clk, root := newLifecycle(t)
	mustKey(t, s, root, "acme", keyward.PermRead)
	clk.set(t0.Add(time.Minute))
	p, err := s.ListKeys(context.Background(), root, "acme", "", nil, 10)
	if err != nil || !p.Now.Equal(t0.Add(time.Minute)) {
		t.Fatalf("page at %v, %v; want %v", p.Now, err, t0.Add(time.Minute))
	}
}

// A no-op metadata change is no change: metadata is kept in one canonical
// encoding, so the same object written in another order changes nothing.
func TestMetadataSameObjectNoChange(t *testing.T) {
	ctx := context.Background()
	s, _, _, root := newLifecycle(t)
	k, _, err := s.CreateKey(ctx, root, "acme", keyward.NewKey{Name: "k", Permissions: []keyward.Permission{keyward.PermRead}, Metadata: `{"b":1,"a":{"d":2,"c":3}}`})
	if err != nil {
		t.Fatal(err)
	}
	if k.Metadata != `{"a":{"c":3,"d":2},"b":1}` {
		t.Errorf("stored metadata %s", k.Metadata)
	}
	u, err := s.UpdateKey(ctx, root, "acme", k.ID, keyward.KeyPatch{Metadata: json.RawMessage(`{"b":1,"a":{"c":3}}`)})
	if err != nil || u.Version != k.Version {
		t.Errorf("a patch that changes nothing: version %d → %d, %v", k.Version, u.Version, err)
	}
}

// The first root key, made by the server on an empty database, is
// recorded like one made from the command line.
func TestBootstrapIsAudited(t *testing.T) {
	s := newService(t)
	k, _, ok, err := s.Bootstrap(context.Background())
	if err != nil || !ok {
		t.Fatalf("Bootstrap = %v, %v", ok, err)
	}
	evs := events(t, s, k, "", keyward.AuditFilter{})
	if len(evs) != 1 || evs[0].Action != keyward.ActionCreate || evs[0].KeyID != k.ID || evs[0].Actor != keyward.ActorCLI {
		t.Errorf("events after the bootstrap: %+v", evs)
	}
}

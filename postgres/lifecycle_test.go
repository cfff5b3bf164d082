package postgres_test

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/storetest"
)

// at is the time of these tests' changes: microseconds set, so that a
// store that loses them fails.
var at = time.Date(2026, time.June, 7, 8, 9, 10, 123456000, time.UTC)

// checkFullKey reports every field, the lifecycle's included, in which got
// differs from want. Times are compared with time.Equal.
func checkFullKey(t *testing.T, what string, got, want *keyward.Key) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no key, want key %v", what, want.ID)
	}
	eqTime := func(a, b *time.Time) bool { return a == nil && b == nil || a != nil && b != nil && a.Equal(*b) }
	var diff []string
	add := func(field string, g, w any) { diff = append(diff, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.ID != want.ID || got.OrgID != want.OrgID || got.Root != want.Root {
		add("ID, OrgID, Root", []any{got.ID, got.OrgID, got.Root}, []any{want.ID, want.OrgID, want.Root})
	}
	if got.Name != want.Name {
		add("Name", got.Name, want.Name)
	}
	if !slices.Equal(got.Permissions, want.Permissions) {
		add("Permissions", got.Permissions, want.Permissions)
	}
	if got.Hash != want.Hash {
		add("Hash", "(a hash)", "(another)")
	}
	if got.Hint != want.Hint {
		add("Hint", got.Hint, want.Hint)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) {
		add("CreatedAt", got.CreatedAt, want.CreatedAt)
	}
	if !got.UpdatedAt.Equal(want.UpdatedAt) {
		add("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	}
	for _, f := range []struct {
		name      string
		got, want *time.Time
	}{{"LastUsedAt", got.LastUsedAt, want.LastUsedAt}, {"DeletedAt", got.DeletedAt, want.DeletedAt}, {"ExpiresAt", got.ExpiresAt, want.ExpiresAt}} {
		if !eqTime(f.got, f.want) {
			add(f.name, f.got, f.want)
		}
	}
	if got.Disabled != want.Disabled {
		add("Disabled", got.Disabled, want.Disabled)
	}
	if got.Metadata != want.Metadata {
		add("Metadata", got.Metadata, want.Metadata)
	}
	if got.CreatedBy != want.CreatedBy {
		add("CreatedBy", got.CreatedBy, want.CreatedBy)
	}
	if got.Version != want.Version {
		add("Version", got.Version, want.Version)
	}
	switch gp, wp := got.Previous, want.Previous; {
	case gp == nil && wp == nil:
	case gp == nil || wp == nil:
		add("Previous", gp != nil, wp != nil)
	case gp.Hash != wp.Hash || !gp.ExpiresAt.Equal(wp.ExpiresAt):
		add("Previous", gp.ExpiresAt, wp.ExpiresAt)
	}
	if !slices.Equal(got.RateLimits, want.RateLimits) {
		add("RateLimits", got.RateLimits, want.RateLimits)
	}
	switch gc, wc := got.Credits, want.Credits; {
	case gc == nil && wc == nil:
	case gc == nil || wc == nil:
		add("Credits", gc != nil, wc != nil)
	case gc.Remaining != wc.Remaining || !gc.RefilledAt.Equal(wc.RefilledAt) ||
		(gc.Refill == nil) != (wc.Refill == nil) || gc.Refill != nil && *gc.Refill != *wc.Refill:
		add("Credits", *gc, *wc)
	}
	for _, d := range diff {
		t.Errorf("%s: %s", what, d)
	}
}

// lifecycleKey returns a new key of org with every lifecycle field set.
func lifecycleKey(org keyward.OrgID) *keyward.Key {
	k := storetest.NewKey(org, storetest.CreatedAt(at))
	expires := at.Add(24 * time.Hour)
	k.ExpiresAt = &expires
	k.Metadata = `{"zeta":1,"alpha":{"b":[1,2],"a":"é"}}` // member order kept
	k.CreatedBy = "key-123"
	k.UpdatedAt = at.Add(time.Minute)
	return k
}

// set returns an updater that changes the key with f and writes ev.
func set(f func(k *keyward.Key), ev *keyward.AuditEvent) keyward.KeyUpdate {
	return func(k keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
		f(&k)
		return k, ev, nil
	}
}

// A database at schema version 5 with keys in it migrates to the
// lifecycle's schema: each key is as it was, enabled, never expiring,
// without metadata, at version 1, updated when it was created; and it
// migrates back, deleting a key disabled meanwhile rather than let the
// older schema verify it again.
func TestMigrateForwardLifecycle(t *testing.T) {
	ctx := t.Context()
	db, err := postgres.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if err := db.MigrateTo(ctx, 5); err != nil {
		t.Fatalf("migrate to 5: %v", err)
	}
	live, gone := storetest.NewKey("acme", storetest.CreatedAt(at)), storetest.NewKey("acme", storetest.CreatedAt(at))
	used := at.Add(time.Hour)
	deletedAt := at.Add(2 * time.Hour)
	for _, k := range []struct {
		k       *keyward.Key
		deleted *time.Time
	}{{live, nil}, {gone, &deletedAt}} {
		if _, err := db.Pool().Exec(ctx, `INSERT INTO api_keys
			(id, org_id, root, name, permissions, secret_hash, hint, created_at, deleted_at)
			VALUES ($1, 'acme', false, $2, '{read,manage}', $3, $4, $5, $6)`,
			int64(k.k.ID), k.k.Name, k.k.Hash[:], k.k.Hint, at, k.deleted); err != nil {
			t.Fatalf("insert a version 5 key: %v", err)
		}
	}
	if _, err := db.Pool().Exec(ctx, `INSERT INTO key_last_used (id, last_used_at) VALUES ($1, $2)`, int64(live.ID), used); err != nil {
		t.Fatalf("insert a last use: %v", err)
	}

	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	got, err := db.KeyByHash(ctx, live.Hash)
	if err != nil {
		t.Fatalf("KeyByHash after migrating: %v", err)
	}
	want := storetest.NewKey("acme", storetest.CreatedAt(at), storetest.Permissions(keyward.PermRead, keyward.PermManage))
	want.ID, want.Name, want.Hash, want.Hint, want.LastUsedAt = live.ID, live.Name, live.Hash, live.Hint, &used
	checkFullKey(t, "a key of version 5", got, want) // UpdatedAt = CreatedAt, Version 1, and nothing else set
	if got.State(at.Add(1000*time.Hour)) != keyward.StateActive {
		t.Errorf("a key of version 5 is %s after migrating, want active", got.State(at))
	}
	if _, err := db.KeyByHash(ctx, gone.Hash); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("KeyByHash of a deleted key of version 5: %v, want ENOTFOUND", err)
	}
	keys, err := db.ListKeys(ctx, keyward.KeyFilter{OrgID: "acme", States: []keyward.KeyState{keyward.StateDeleted}, Now: at})
	if err != nil || len(keys) != 1 || keys[0].ID != gone.ID || !keys[0].UpdatedAt.Equal(at) {
		t.Errorf("deleted keys after migrating: %v, %v; want the one deleted, updated when created", keys, err)
	}

	// Down: the disabled key is deleted, the live one stays live.
	if _, err := db.UpdateKey(ctx, "acme", live.ID, set(func(k *keyward.Key) { k.Disabled = true }, nil)); err != nil {
		t.Fatalf("disable: %v", err)
	}
	other := storetest.NewKey("acme")
	if err := db.CreateKey(ctx, other, nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if err := db.MigrateDownTo(ctx, 5); err != nil {
		t.Fatalf("migrate down to 5: %v", err)
	}
	var disabledGone, otherLive bool
	if err := db.Pool().QueryRow(ctx, `SELECT
		(SELECT deleted_at IS NOT NULL FROM api_keys WHERE id = $1),
		(SELECT deleted_at IS NULL FROM api_keys WHERE id = $2)`, int64(live.ID), int64(other.ID),
	).Scan(&disabledGone, &otherLive); err != nil {
		t.Fatal(err)
	}
	if !disabledGone || !otherLive {
		t.Errorf("after migrating down: disabled key deleted %v, enabled key live %v; want both", disabledGone, otherLive)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if _, err := db.KeyByHash(ctx, other.Hash); err != nil {
		t.Errorf("KeyByHash after migrating down and up: %v", err)
	}
}

// Every lifecycle field survives CreateKey, ImportKeys and UpdateKey as it
// was given, metadata byte for byte; UpdateKey keeps the fields that are
// not its to change, whatever the updater returns, and counts the
// version.
func TestLifecycleRoundTrip(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := t.Context()
	created := lifecycleKey("acme")
	if err := db.CreateKey(ctx, created, nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	imported := lifecycleKey("acme")
	imported.Disabled = true
	imported.Version = 4
	imported.Previous = &keyward.PreviousSecret{Hash: keyward.NewSecret().Hash(), ExpiresAt: at.Add(time.Hour)}
	used := at.Add(time.Second)
	imported.LastUsedAt = &used
	if err := db.ImportKeys(ctx, []*keyward.Key{imported}); err != nil {
		t.Fatalf("ImportKeys: %v", err)
	}
	for _, k := range []*keyward.Key{created, imported} {
		got, err := db.Key(ctx, "acme", k.ID)
		if err != nil {
			t.Fatalf("Key: %v", err)
		}
		checkFullKey(t, "Key", got, k)
	}

	rotated := keyward.NewSecret()
	updatedAt := at.Add(time.Hour)
	got, err := db.UpdateKey(ctx, "acme", created.ID, set(func(k *keyward.Key) {
		k.Previous = &keyward.PreviousSecret{Hash: k.Hash, ExpiresAt: at.Add(48 * time.Hour)}
		k.Hash, k.Hint = rotated.Hash(), rotated.Hint()
		k.Name = "renamed"
		k.Permissions = []keyward.Permission{keyward.PermWrite, keyward.PermRead}
		k.ExpiresAt = nil
		k.Disabled = true
		k.Metadata = `{"b":2,"a":1}`
		k.UpdatedAt = updatedAt
		// Not the updater's to change: kept as stored.
		k.ID, k.OrgID, k.Root = keyward.NewKeyID(), "globex", true
		k.CreatedAt, k.CreatedBy = at.Add(-time.Hour), "someone else"
		k.LastUsedAt = &updatedAt
		k.Version = 42
	}, nil))
	if err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	want := *created
	want.Previous = &keyward.PreviousSecret{Hash: created.Hash, ExpiresAt: at.Add(48 * time.Hour)}
	want.Hash, want.Hint, want.Name = rotated.Hash(), rotated.Hint(), "renamed"
	want.Permissions = []keyward.Permission{keyward.PermWrite, keyward.PermRead}
	want.ExpiresAt, want.Disabled, want.Metadata, want.UpdatedAt = nil, true, `{"b":2,"a":1}`, updatedAt
	want.Version = 2
	checkFullKey(t, "UpdateKey's result", got, &want)
	for _, h := range []keyward.SecretHash{rotated.Hash(), created.Hash} {
		got, err := db.KeyByHash(ctx, h)
		if err != nil {
			t.Fatalf("KeyByHash after a rotation: %v", err)
		}
		checkFullKey(t, "KeyByHash after a rotation", got, &want)
	}

	// Back to none: NULLs, not empty values.
	got, err = db.UpdateKey(ctx, "acme", created.ID, set(func(k *keyward.Key) { k.Metadata, k.Previous = "", nil }, nil))
	if err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	want.Metadata, want.Previous, want.Version = "", nil, 3
	checkFullKey(t, "UpdateKey clearing metadata and the previous secret", got, &want)
	if _, err := db.KeyByHash(ctx, created.Hash); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("KeyByHash of a previous secret removed: %v, want ENOTFOUND", err)
	}
}

// errNope is an updater's own failure.
var errNope = errors.New("nope")

// An updater's error, or a conflict, changes nothing, writes no event and
// notifies nothing, and comes back as itself; a key of another
// organization, or none, is ENOTFOUND; a deleted key can be updated (as a
// restore does), and is then found again.
func TestUpdateKeyRefusals(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := t.Context()
	k, other := lifecycleKey("acme"), lifecycleKey("acme")
	for _, k := range []*keyward.Key{k, other} {
		if err := db.CreateKey(ctx, k, nil); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
	}
	ev := &keyward.AuditEvent{ID: keyward.NewEventID(), At: at, OrgID: "acme", Actor: "cli", Action: keyward.ActionUpdate, KeyID: k.ID}
	domainErr := keyward.Errorf(keyward.EPRECONDITION, "the key has changed")
	for _, tt := range []struct {
		name   string
		update keyward.KeyUpdate
		check  func(err error) bool
	}{
		{"an updater's error", func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
			old.Name = "changed"
			return old, ev, fmt.Errorf("wrapped: %w", errNope)
		}, func(err error) bool { return errors.Is(err, errNope) }},
		{"an updater's domain error", func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
			return old, ev, domainErr
		}, func(err error) bool {
			var e *keyward.Error
			return errors.As(err, &e) && e == domainErr && keyward.ErrorCode(err) == keyward.EPRECONDITION
		}},
		{"a secret hash taken", set(func(k *keyward.Key) { k.Hash = other.Hash }, ev),
			func(err error) bool { return keyward.ErrorCode(err) == keyward.ECONFLICT }},
		{"a previous secret hash taken", func() keyward.KeyUpdate {
			if _, err := db.UpdateKey(ctx, "acme", other.ID, set(func(o *keyward.Key) {
				o.Previous = &keyward.PreviousSecret{Hash: keyward.NewSecret().Hash(), ExpiresAt: at}
			}, nil)); err != nil {
				t.Fatal(err)
			}
			o, err := db.Key(ctx, "acme", other.ID)
			if err != nil {
				t.Fatal(err)
			}
			other = o
			return set(func(k *keyward.Key) {
				k.Previous = &keyward.PreviousSecret{Hash: o.Previous.Hash, ExpiresAt: at}
			}, ev)
		}(), func(err error) bool { return keyward.ErrorCode(err) == keyward.ECONFLICT }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := watch(t, db)
			got, err := db.UpdateKey(ctx, "acme", k.ID, tt.update)
			if got != nil || !tt.check(err) {
				t.Errorf("UpdateKey = %v, %v", got, err)
			}
			now := time.Now()
			stored, err := db.Key(ctx, "acme", k.ID)
			if err != nil {
				t.Fatal(err)
			}
			checkFullKey(t, "the key after a refused update", stored, k)
			evs, err := db.ListAuditEvents(ctx, keyward.AuditFilter{OrgID: "acme"})
			if err != nil || len(evs) != 0 {
				t.Errorf("events after a refused update: %v, %v; want none", evs, err)
			}
			e := w.WaitFor(t, "a confirmation", func(e []storetest.Event) bool { return storetest.ConfirmedAfter(e, now) >= 0 })
			if n := countHash(e, k.Hash); n != 0 {
				t.Errorf("a refused update notified the key's hash %d times", n)
			}
		})
	}

	for _, org := range []keyward.OrgID{"globex", "", "ACME"} {
		_, err := db.UpdateKey(ctx, org, k.ID, set(func(*keyward.Key) {}, nil))
		checkErrCode(t, fmt.Sprintf("UpdateKey in org %q", org), err, keyward.ENOTFOUND)
	}
	_, err := db.UpdateKey(ctx, "acme", keyward.NewKeyID(), set(func(*keyward.Key) { t.Error("the updater ran for no key") }, nil))
	checkErrCode(t, "UpdateKey of no key", err, keyward.ENOTFOUND)

	if _, err := storetest.Delete(ctx, db, "acme", k.ID, at); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	restored, err := db.UpdateKey(ctx, "acme", k.ID, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
		if old.DeletedAt == nil {
			t.Error("the updater of a deleted key got it live")
		}
		old.DeletedAt = nil
		return old, nil, nil
	})
	if err != nil || restored.DeletedAt != nil || restored.Version != 3 {
		t.Fatalf("restore = %+v, %v; want the key live at version 3", restored, err)
	}
	if _, err := db.KeyByHash(ctx, k.Hash); err != nil {
		t.Errorf("KeyByHash of a restored key: %v", err)
	}
}

// A new key starts at version 1: CreateKey and ImportKeys refuse version
// 0, as SQLite's do, and store nothing; and the schema itself refuses a
// version below 1 and an empty creator, as SQLite's does.
func TestNewKeyRefusals(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := t.Context()
	zero := lifecycleKey("acme")
	zero.Version = 0
	if err := db.CreateKey(ctx, zero, nil); err == nil || !strings.Contains(err.Error(), "version 0") {
		t.Errorf("CreateKey of a key at version 0: %v, want a refusal", err)
	}
	fine := lifecycleKey("acme")
	if err := db.ImportKeys(ctx, []*keyward.Key{fine, zero}); err == nil || !strings.Contains(err.Error(), "version 0") {
		t.Errorf("ImportKeys with a key at version 0: %v, want a refusal", err)
	}
	for _, k := range []*keyward.Key{zero, fine} {
		if _, err := db.KeyByHash(ctx, k.Hash); keyward.ErrorCode(err) != keyward.ENOTFOUND {
			t.Errorf("KeyByHash after the refusals: %v, want ENOTFOUND: nothing stored", err)
		}
	}

	for _, c := range []struct {
		what, constraint string
		version          int64
		createdBy        any
	}{
		{"version 0", "api_keys_version_positive", 0, nil},
		{"version -1", "api_keys_version_positive", -1, "cli"},
		{"an empty creator", "api_keys_created_by_not_empty", 1, ""},
	} {
		k := storetest.NewKey("acme")
		_, err := db.Pool().Exec(ctx, `INSERT INTO api_keys
			(id, org_id, root, name, permissions, secret_hash, hint, created_at, updated_at, version, created_by)
			VALUES ($1, 'acme', false, 'k', '{read}', $2, 'hint', now(), now(), $3, $4)`,
			int64(k.ID), k.Hash[:], c.version, c.createdBy)
		if err == nil || !strings.Contains(err.Error(), c.constraint) {
			t.Errorf("insert with %s: %v, want a violation of %s", c.what, err, c.constraint)
		}
	}
}

// checkErrCode reports an error whose code is not code.
func checkErrCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := keyward.ErrorCode(err); got != code {
		t.Errorf("%s: %v (code %q), want %q", what, err, got, code)
	}
}

// Concurrent updates of one key are serialized: each sees the record the
// one before wrote, none is lost, and the version counts them all.
func TestUpdateKeyConcurrent(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := t.Context()
	k := storetest.NewKey("acme")
	if err := db.CreateKey(ctx, k, nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	const n = 8
	var (
		mu   sync.Mutex
		seen []int64 // the versions the updaters committed saw
	)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			<-start
			var saw int64
			_, err := db.UpdateKey(ctx, "acme", k.ID, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) {
				var md struct{ N int }
				if old.Metadata != "" {
					if err := json.Unmarshal([]byte(old.Metadata), &md); err != nil {
						return old, nil, err
					}
				}
				old.Metadata = `{"n":` + strconv.Itoa(md.N+1) + `}`
				old.Name += "+" + strconv.Itoa(g)
				saw = old.Version
				time.Sleep(time.Millisecond) // hold the row a while, so that others queue
				return old, &keyward.AuditEvent{ID: keyward.NewEventID(), At: at, OrgID: "acme", Actor: "cli", Action: keyward.ActionUpdate, KeyID: k.ID}, nil
			})
			if err != nil {
				t.Errorf("UpdateKey %d: %v", g, err)
				return
			}
			mu.Lock()
			seen = append(seen, saw)
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	got, err := db.Key(ctx, "acme", k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != n+1 || got.Metadata != fmt.Sprintf(`{"n":%d}`, n) {
		t.Errorf("after %d concurrent updates: version %d, metadata %s; want %d, {\"n\":%d}", n, got.Version, got.Metadata, n+1, n)
	}
	for g := range n {
		if c := countSubstr(got.Name, "+"+strconv.Itoa(g)); c != 1 {
			t.Errorf("update %d is in the name %d times, want once: %q", g, c, got.Name)
		}
	}
	slices.Sort(seen)
	if want := []int64{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(seen, want) {
		t.Errorf("the committed updaters saw versions %v, want each of %v once", seen, want)
	}
	evs, err := db.ListAuditEvents(ctx, keyward.AuditFilter{OrgID: "acme", KeyID: k.ID})
	if err != nil || len(evs) != n {
		t.Errorf("events: %d, %v; want %d", len(evs), err, n)
	}
}

// countSubstr counts the occurrences of sub in s that end at a '+' or the
// end of s, so that "+1" is not found in "+12".
func countSubstr(s, sub string) int {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub && (i+len(sub) == len(s) || s[i+len(sub)] == '+') {
			n++
		}
	}
	return n
}

// A rotation notifies the old hash and the new one, and a second rotation
// the dropped previous secret's too, each once, before a confirmation of a
// time after the change.
func TestWatchHearsRotation(t *testing.T) {
	db, _ := openTestDB(t)
	w := watch(t, db)
	ctx := t.Context()
	k := storetest.NewKey("acme")
	if err := db.CreateKey(ctx, k, nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	// The create travels the feed too: let it arrive before counting.
	created := time.Now()
	w.WaitFor(t, "a confirmation after the create", func(ev []storetest.Event) bool {
		return storetest.ConfirmedAfter(ev, created) >= 0
	})
	// rotate rotates k and returns the hashes the watcher must hear.
	rotate := func() []keyward.SecretHash {
		t.Helper()
		next := keyward.NewSecret()
		var old []keyward.SecretHash
		got, err := db.UpdateKey(ctx, "acme", k.ID, set(func(k *keyward.Key) {
			old = k.Hashes()
			k.Previous = &keyward.PreviousSecret{Hash: k.Hash, ExpiresAt: at}
			k.Hash, k.Hint = next.Hash(), next.Hint()
		}, nil))
		if err != nil {
			t.Fatalf("rotate: %v", err)
		}
		return append(old, got.Hash)
	}
	for i, want := range []int{2, 3} {
		from := len(w.Events())
		hashes := rotate()
		acked := time.Now()
		if len(hashes) != want {
			t.Fatalf("rotation %d: %d hashes, want %d", i, len(hashes), want)
		}
		ev := w.WaitFor(t, "a confirmation after the rotation", func(ev []storetest.Event) bool {
			return storetest.ConfirmedAfter(ev, acked) >= 0
		})
		c := storetest.ConfirmedAfter(ev, acked)
		for j, h := range hashes {
			if n := countHash(ev[from:c], h); n != 1 {
				t.Errorf("rotation %d: hash %d heard %d times before a confirmation after it, want once: %v", i, j, n, ev[from:c])
			}
		}
	}
}

// ListKeys with States returns the keys in those states at Now, as
// Key.State decides, newest first, live and deleted merged in order, page
// by page.
func TestListKeysByState(t *testing.T) {
	db, _ := openTestDB(t)
	ctx := t.Context()
	// Now is between two microseconds: a key expiring at the earlier one
	// has expired, one expiring at the later has not.
	now := at.Add(500 * time.Nanosecond)
	ptr := func(d time.Duration) *time.Time { t := at.Add(d); return &t }
	var keys []*keyward.Key
	add := func(n int, f func(k *keyward.Key)) {
		for range n {
			k := storetest.NewKey("acme", storetest.CreatedAt(at.Add(-time.Duration(len(keys)%5)*time.Second)))
			f(k)
			keys = append(keys, k)
		}
	}
	add(3, func(k *keyward.Key) {})                                         // active
	add(2, func(k *keyward.Key) { k.ExpiresAt = ptr(time.Microsecond) })    // active, just
	add(2, func(k *keyward.Key) { k.ExpiresAt = ptr(0) })                   // expired, just
	add(2, func(k *keyward.Key) { k.ExpiresAt = ptr(-time.Hour) })          // expired
	add(2, func(k *keyward.Key) { k.Disabled = true })                      // disabled
	add(2, func(k *keyward.Key) { k.Disabled, k.ExpiresAt = true, ptr(0) }) // disabled, not expired
	add(3, func(k *keyward.Key) { k.DeletedAt = ptr(-time.Minute) })        // deleted
	add(2, func(k *keyward.Key) { k.DeletedAt, k.Disabled, k.ExpiresAt = ptr(0), true, ptr(-time.Hour) })
	noise := []*keyward.Key{storetest.NewKey("globex"), storetest.NewKey("ACME"), storetest.NewKey("")}
	noise[0].DeletedAt = ptr(0)
	if err := db.ImportKeys(ctx, append(slices.Clone(keys), noise...)); err != nil {
		t.Fatalf("ImportKeys: %v", err)
	}
	all := []keyward.KeyState{keyward.StateActive, keyward.StateExpired, keyward.StateDisabled, keyward.StateDeleted}
	var subsets [][]keyward.KeyState
	for mask := 1; mask < 1<<len(all); mask++ {
		var s []keyward.KeyState
		for i, st := range all {
			if mask&(1<<i) != 0 {
				s = append(s, st)
			}
		}
		subsets = append(subsets, s)
	}
	subsets = append(subsets, nil, []keyward.KeyState{keyward.StateActive, keyward.StateActive})
	for _, states := range subsets {
		var want []keyward.KeyID
		for _, k := range newest(keys) {
			if states == nil && k.DeletedAt == nil || slices.Contains(states, k.State(now)) {
				want = append(want, k.ID)
			}
		}
		for _, limit := range []int{0, 1, 4} {
			var got []keyward.KeyID
			f := keyward.KeyFilter{OrgID: "acme", States: states, Now: now, Limit: limit}
			for page := 0; ; page++ {
				ks, err := db.ListKeys(ctx, f)
				if err != nil {
					t.Fatalf("ListKeys(%v): %v", states, err)
				}
				for _, k := range ks {
					got = append(got, k.ID)
				}
				if limit == 0 || len(ks) < limit || page > len(keys) {
					break
				}
				f.After = keyward.CursorAfter(ks[len(ks)-1])
			}
			if !slices.Equal(got, want) {
				t.Errorf("ListKeys(%v, limit %d) = %v, want %v", states, limit, got, want)
			}
		}
	}
	if ks, err := db.ListKeys(ctx, keyward.KeyFilter{OrgID: "acme", States: []keyward.KeyState{}, Now: now}); err != nil || len(ks) != 0 {
		t.Errorf("ListKeys with no state = %d keys, %v; want none", len(ks), err)
	}
	_, err := db.ListKeys(ctx, keyward.KeyFilter{OrgID: "acme", States: []keyward.KeyState{"gone"}, Now: now})
	checkErrCode(t, "ListKeys with an unknown state", err, keyward.EINVALID)
}

// newest returns keys newest first, as ListKeys orders them: by
// creation time, then id, both descending.
func newest(keys []*keyward.Key) []*keyward.Key {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b *keyward.Key) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return keys
}

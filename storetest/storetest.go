// Package storetest is the conformance suite of keyward.KeyStore: the one set
// of tests that every storage backend passes, so that the service behaves
// the same on any of them (in the manner of dex's storage/conformance).
//
// A backend's tests call Run with a function that returns a new, empty,
// ready store and arranges, with t.Cleanup, for it to be closed:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) keyward.KeyStore {
//			return openTestDB(t)
//		})
//	}
//
// Every behaviour documented on keyward.KeyStore has a test here that fails
// when the behaviour breaks. A change to that contract changes this suite in
// the same commit.
package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// newStoreFunc returns a new, empty store for one test, closed by a cleanup
// it registers on t. A test may call it more than once.
type newStoreFunc = func(t *testing.T) keyward.KeyStore

// test is one conformance test.
type test struct {
	name string
	fn   func(t *testing.T, newStore newStoreFunc)
}

// Run runs the conformance suite as subtests of t, each on stores of its
// own from newStore, which returns a new, empty, migrated store and
// registers its Close with t.Cleanup. newStore may be called more than once
// in a test.
func Run(t *testing.T, newStore func(t *testing.T) keyward.KeyStore) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"CreateKey", []test{
			{"RoundTrip", testCreateKeyRoundTrip},
			{"RootKeyRoundTrip", testCreateRootKeyRoundTrip},
			{"DuplicateID", testCreateKeyDuplicateID},
			{"DuplicateHash", testCreateKeyDuplicateHash},
			{"DuplicateOfDeletedKey", testCreateKeyDuplicateOfDeletedKey},
			{"KeepsNoReference", testCreateKeyKeepsNoReference},
			{"Concurrent", testCreateKeyConcurrent},
		}},
		{"Key", []test{
			{"NotFound", testKeyNotFound},
			{"RootKeyOnlyInEmptyOrg", testKeyRootKeyOnlyInEmptyOrg},
		}},
		{"KeyByHash", []test{
			{"NotFound", testKeyByHashNotFound},
		}},
		{"ListKeys", []test{
			{"Order", testListKeysOrder},
			{"Limit", testListKeysLimit},
			{"Paging", testListKeysPaging},
			{"RootKeys", testListKeysRootKeys},
			{"EmptyOrg", testListKeysEmptyOrg},
		}},
		{"DeleteKey", []test{
			{"ReturnsTombstone", testDeleteKeyReturnsTombstone},
			{"Twice", testDeleteKeyTwice},
			{"WrongOrgOrID", testDeleteKeyWrongOrgOrID},
			{"RootKey", testDeleteKeyRootKey},
			{"Concurrent", testDeleteKeyConcurrent},
		}},
		{"BootstrapRootKey", []test{
			{"EmptyStore", testBootstrapEmptyStore},
			{"Once", testBootstrapOnce},
			{"AfterAnyKey", testBootstrapAfterAnyKey},
			{"Concurrent", testBootstrapConcurrent},
		}},
		{"TouchKeys", []test{
			{"RecordsLatest", testTouchKeysRecordsLatest},
			{"UnknownAndEmpty", testTouchKeysUnknownAndEmpty},
			{"DeletedKey", testTouchKeysDeletedKey},
			{"CreatedUsed", testTouchKeysCreatedUsed},
		}},
		{"Ping", []test{
			{"Open", testPing},
		}},
		{"Context", []test{
			{"Cancelled", testContextCancelled},
			{"CancelledMidway", testContextCancelledMidway},
		}},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tt := range g.tests {
				t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore) })
			}
		})
	}
}

// base is the creation time of most test keys. Its microseconds are set so
// that a backend keeping only milliseconds or seconds fails.
var base = time.Date(2025, time.March, 14, 15, 9, 26, 535897000, time.UTC)

// Organizations used by the tests. "ACME" differs from "acme" only in
// case: organization ids are case-sensitive.
const (
	acme   keyward.OrgID = "acme"
	globex keyward.OrgID = "globex"
	upper  keyward.OrgID = "ACME"
)

// newKey returns a new key record of org, as the service would make it:
// random id and secret, creation time truncated to microseconds, in UTC.
func newKey(t *testing.T, org keyward.OrgID, createdAt time.Time, perms ...keyward.Permission) *keyward.Key {
	t.Helper()
	if len(perms) == 0 {
		perms = []keyward.Permission{keyward.PermRead}
	}
	secret := keyward.NewSecret()
	id := keyward.NewKeyID()
	return &keyward.Key{
		ID:          id,
		OrgID:       org,
		Name:        "clé de test ✓ " + id.String(),
		Permissions: slices.Clone(perms),
		Hash:        secret.Hash(),
		Hint:        secret.Hint(),
		CreatedAt:   createdAt.UTC().Truncate(time.Microsecond),
	}
}

// newRootKey returns a new root key record.
func newRootKey(t *testing.T, createdAt time.Time) *keyward.Key {
	t.Helper()
	k := newKey(t, "", createdAt, keyward.AllPermissions...)
	k.Root = true
	return k
}

// create stores k and fails the test if that fails.
func create(t *testing.T, s keyward.KeyStore, k *keyward.Key) {
	t.Helper()
	if err := s.CreateKey(t.Context(), k); err != nil {
		t.Fatalf("CreateKey(%v): %v", k.ID, err)
	}
}

// remove deletes k at the given time and fails the test if that fails.
func remove(t *testing.T, s keyward.KeyStore, k *keyward.Key, at time.Time) {
	t.Helper()
	if _, err := s.DeleteKey(t.Context(), k.OrgID, k.ID, at); err != nil {
		t.Fatalf("DeleteKey(%q, %v): %v", k.OrgID, k.ID, err)
	}
}

// clone returns a deep copy of k, to keep as the expected value.
func clone(k *keyward.Key) *keyward.Key {
	c := *k
	c.Permissions = slices.Clone(k.Permissions)
	if k.LastUsedAt != nil {
		t := *k.LastUsedAt
		c.LastUsedAt = &t
	}
	if k.DeletedAt != nil {
		t := *k.DeletedAt
		c.DeletedAt = &t
	}
	return &c
}

// checkKey reports every field in which got differs from want. Times are
// compared with time.Equal, so the location does not matter.
func checkKey(t *testing.T, what string, got, want *keyward.Key) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: got no key, want key %v", what, want.ID)
		return
	}
	if got.ID != want.ID {
		t.Errorf("%s: ID = %v, want %v", what, got.ID, want.ID)
	}
	if got.OrgID != want.OrgID {
		t.Errorf("%s: OrgID = %q, want %q", what, got.OrgID, want.OrgID)
	}
	if got.Root != want.Root {
		t.Errorf("%s: Root = %v, want %v", what, got.Root, want.Root)
	}
	if got.Name != want.Name {
		t.Errorf("%s: Name = %q, want %q", what, got.Name, want.Name)
	}
	if !slices.Equal(got.Permissions, want.Permissions) {
		t.Errorf("%s: Permissions = %q, want %q (in this order)", what, got.Permissions, want.Permissions)
	}
	if got.Hash != want.Hash {
		t.Errorf("%s: Hash differs from the hash stored", what) // hashes are not printed
	}
	if got.Hint != want.Hint {
		t.Errorf("%s: Hint = %q, want %q", what, got.Hint, want.Hint)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("%s: CreatedAt = %v, want %v", what, got.CreatedAt, want.CreatedAt)
	}
	checkTime(t, what+": LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	checkTime(t, what+": DeletedAt", got.DeletedAt, want.DeletedAt)
}

// checkTime compares two optional times.
func checkTime(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil:
		t.Errorf("%s = nil, want %v", what, *want)
	case want == nil:
		t.Errorf("%s = %v, want nil", what, *got)
	case !got.Equal(*want):
		t.Errorf("%s = %v, want %v", what, *got, *want)
	}
}

// checkCode reports an error whose code is not code.
func checkCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := keyward.ErrorCode(err); got != code {
		t.Errorf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// checkLive checks that k can be found, by id and by hash, as want.
func checkLive(t *testing.T, s keyward.KeyStore, want *keyward.Key) {
	t.Helper()
	got, err := s.Key(t.Context(), want.OrgID, want.ID)
	if err != nil {
		t.Errorf("Key(%q, %v): %v", want.OrgID, want.ID, err)
	} else {
		checkKey(t, "Key", got, want)
	}
	got, err = s.KeyByHash(t.Context(), want.Hash)
	if err != nil {
		t.Errorf("KeyByHash(hash of %v): %v", want.ID, err)
	} else {
		checkKey(t, "KeyByHash", got, want)
	}
}

// checkGone checks that k can be found neither by id nor by hash.
func checkGone(t *testing.T, s keyward.KeyStore, k *keyward.Key) {
	t.Helper()
	got, err := s.Key(t.Context(), k.OrgID, k.ID)
	checkCode(t, "Key of a deleted or unstored key", err, keyward.ENOTFOUND)
	if got != nil {
		t.Errorf("Key of a deleted or unstored key returned key %v", got.ID)
	}
	got, err = s.KeyByHash(t.Context(), k.Hash)
	checkCode(t, "KeyByHash of a deleted or unstored key", err, keyward.ENOTFOUND)
	if got != nil {
		t.Errorf("KeyByHash of a deleted or unstored key returned key %v", got.ID)
	}
}

// list returns every live key of f, checking that one page holds them.
func list(t *testing.T, s keyward.KeyStore, f keyward.KeyFilter) []*keyward.Key {
	t.Helper()
	const limit = 10000
	f.Limit = limit
	keys, err := s.ListKeys(t.Context(), f)
	if err != nil {
		t.Fatalf("ListKeys(%+v): %v", f, err)
	}
	if len(keys) >= limit {
		t.Fatalf("ListKeys(%+v): %d keys, more than the test made", f, len(keys))
	}
	return keys
}

// ids returns the ids of keys, in order.
func ids(keys []*keyward.Key) []keyward.KeyID {
	out := make([]keyward.KeyID, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

// newestFirst sorts keys as ListKeys returns them.
func newestFirst(keys []*keyward.Key) []*keyward.Key {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b *keyward.Key) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
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
	return keys
}

// checkList checks that got holds exactly want, in want's order, each
// record equal in every field.
func checkList(t *testing.T, what string, got, want []*keyward.Key) {
	t.Helper()
	if !slices.Equal(ids(got), ids(want)) {
		t.Errorf("%s: ids %v, want %v", what, ids(got), ids(want))
		return
	}
	for i := range got {
		checkKey(t, what, got[i], want[i])
	}
}

// Package storetest is the conformance suite of keyward.KeyStore: the one set
// of tests that every storage backend passes, so that the service behaves
// the same on any of them (in the manner of dex's storage/conformance).
//
// A backend's tests call Run with a Backend: how to make a new, empty
// database, and how to open one as a process starting on it would:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Backend{
//			NewDatabase: func(t *testing.T) string { return filepath.Join(t.TempDir(), "k.db") },
//			Open: func(t *testing.T, addr string) (keyward.KeyStore, error) { ... },
//		})
//	}
//
// Every behaviour documented on keyward.KeyStore has a test here that fails
// when the behaviour breaks, and so has keyward.InvalidationFeed for a store
// that implements it. A change to those contracts changes this suite in the
// same commit.
//
// The package also holds what tests of every package share: NewKey, the
// one builder of test keys, and Watcher, a recording InvalidationWatcher.
package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// Backend is what the suite needs of a storage backend.
type Backend struct {
	// NewDatabase returns the address (a file path, a URL) of a new, empty
	// database that nothing has opened yet, removed when the test ends.
	NewDatabase func(t *testing.T) string
	// Open opens the database at addr and migrates it, as a process
	// starting on it would, and closes it when the test ends. It returns
	// its failure rather than failing the test: several may run at once.
	Open func(t *testing.T, addr string) (keyward.KeyStore, error)
}

// newStoreFunc returns a new, empty store for one test, closed by a cleanup
// it registers on t. A test may call it more than once.
type newStoreFunc = func(t *testing.T) keyward.KeyStore

// suite is a Backend with the address of each store it opened, so that a
// test can open another handle on a store's database.
type suite struct {
	Backend
	mu    sync.Mutex
	addrs map[keyward.KeyStore]string
}

// newStore opens a new, empty store.
func (s *suite) newStore(t *testing.T) keyward.KeyStore {
	t.Helper()
	return s.open(t, s.NewDatabase(t))
}

// open opens the database at addr, failing the test if it cannot.
func (s *suite) open(t *testing.T, addr string) keyward.KeyStore {
	t.Helper()
	store, err := s.Open(t, addr)
	if err != nil {
		t.Fatalf("open %s: %v", addr, err)
	}
	s.mu.Lock()
	s.addrs[store] = addr
	s.mu.Unlock()
	return store
}

// reopen opens another handle on store's database, as another process.
func (s *suite) reopen(t *testing.T, store keyward.KeyStore) keyward.KeyStore {
	t.Helper()
	s.mu.Lock()
	addr, ok := s.addrs[store]
	s.mu.Unlock()
	if !ok {
		t.Fatal("reopen: a store the suite did not open")
	}
	return s.open(t, addr)
}

// test is one conformance test: fn, or for a test that needs more of the
// backend than new stores, sfn.
type test struct {
	name string
	fn   func(t *testing.T, newStore newStoreFunc)
	sfn  func(t *testing.T, s *suite)
}

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, b Backend) {
	s := &suite{Backend: b, addrs: make(map[keyward.KeyStore]string)}
	groups := []struct {
		name  string
		tests []test
	}{
		{"CreateKey", []test{
			{name: "RoundTrip", fn: testCreateKeyRoundTrip},
			{name: "RootKeyRoundTrip", fn: testCreateRootKeyRoundTrip},
			{name: "DuplicateID", fn: testCreateKeyDuplicateID},
			{name: "DuplicateHash", fn: testCreateKeyDuplicateHash},
			{name: "DuplicateOfDeletedKey", fn: testCreateKeyDuplicateOfDeletedKey},
			{name: "ConflictShowsNoHash", fn: testCreateKeyConflictShowsNoHash},
			{name: "KeepsNoReference", fn: testCreateKeyKeepsNoReference},
			{name: "Concurrent", fn: testCreateKeyConcurrent},
			{name: "LifecycleRoundTrip", fn: testCreateKeyLifecycleRoundTrip},
			{name: "WritesEvent", fn: testCreateKeyWritesEvent},
			{name: "LimitsRoundTrip", fn: testCreateKeyLimitsRoundTrip},
		}},
		{"CreateKeyIdempotent", []test{
			{name: "RoundTrip", fn: testIdempotentRoundTrip},
			{name: "AllOrNothing", fn: testIdempotentAllOrNothing},
			{name: "Expiry", fn: testIdempotentExpiry},
		}},
		{"Key", []test{
			{name: "NotFound", fn: testKeyNotFound},
			{name: "RootKeyOnlyInEmptyOrg", fn: testKeyRootKeyOnlyInEmptyOrg},
		}},
		{"KeyByID", []test{
			{name: "AnyOrganization", fn: testKeyByIDAnyOrganization},
		}},
		{"KeyByHash", []test{
			{name: "NotFound", fn: testKeyByHashNotFound},
			{name: "Previous", fn: testKeyByHashPrevious},
		}},
		{"ListKeys", []test{
			{name: "Order", fn: testListKeysOrder},
			{name: "Limit", fn: testListKeysLimit},
			{name: "Paging", fn: testListKeysPaging},
			{name: "RootKeys", fn: testListKeysRootKeys},
			{name: "EmptyOrg", fn: testListKeysEmptyOrg},
			{name: "ByState", fn: testListKeysByState},
			{name: "ByName", fn: testListKeysByName},
		}},
		{"Sessions", []test{
			{name: "RoundTrip", fn: testSessionRoundTrip},
			{name: "Delete", fn: testSessionDelete},
			{name: "Prune", fn: testSessionPrune},
			{name: "EndWithTheirKey", fn: testSessionEndWithTheirKey},
		}},
		{"UpdateKey", []test{
			{name: "Fields", fn: testUpdateKeyFields},
			{name: "Versions", fn: testUpdateKeyVersions},
			{name: "Restore", fn: testUpdateKeyRestore},
			{name: "NotFound", fn: testUpdateKeyNotFound},
			{name: "UpdaterError", fn: testUpdateKeyUpdaterError},
			{name: "Conflict", fn: testUpdateKeyConflict},
			{name: "Concurrent", fn: testUpdateKeyConcurrent},
			{name: "Event", fn: testUpdateKeyEvent},
		}},
		{"ListAuditEvents", []test{
			{name: "Order", fn: testAuditEventsOrder},
			{name: "Filters", fn: testAuditEventsFilters},
			{name: "Paging", fn: testAuditEventsPaging},
			{name: "Changes", fn: testAuditEventsChanges},
		}},
		{"PruneAuditEvents", []test{
			{name: "OldestFirst", fn: testPruneAuditEvents},
		}},
		{"DeleteKey", []test{
			{name: "ReturnsTombstone", fn: testDeleteKeyReturnsTombstone},
			{name: "Twice", fn: testDeleteKeyTwice},
			{name: "WrongOrgOrID", fn: testDeleteKeyWrongOrgOrID},
			{name: "RootKey", fn: testDeleteKeyRootKey},
			{name: "Concurrent", fn: testDeleteKeyConcurrent},
		}},
		{"PruneDeletedKeys", []test{
			{name: "OldestFirst", fn: testPruneDeletedKeys},
			{name: "KeepsStoreUsed", fn: testPruneKeepsStoreUsed},
		}},
		{"BootstrapRootKey", []test{
			{name: "EmptyStore", fn: testBootstrapEmptyStore},
			{name: "Once", fn: testBootstrapOnce},
			{name: "AfterAnyKey", fn: testBootstrapAfterAnyKey},
			{name: "Concurrent", fn: testBootstrapConcurrent},
			{name: "WritesEvent", fn: testBootstrapWritesEvent},
			{name: "ConcurrentStartup", sfn: testConcurrentStartup},
		}},
		{"TouchKeys", []test{
			{name: "RecordsLatest", fn: testTouchKeysRecordsLatest},
			{name: "UnknownAndEmpty", fn: testTouchKeysUnknownAndEmpty},
			{name: "DeletedKey", fn: testTouchKeysDeletedKey},
			{name: "CreatedUsed", fn: testTouchKeysCreatedUsed},
		}},
		{"RecordUsage", []test{
			{name: "Adds", fn: testRecordUsageAdds},
			{name: "UnknownAndDeleted", fn: testRecordUsageUnknownAndDeleted},
		}},
		{"PruneKeyUsage", []test{
			{name: "OldestFirst", fn: testPruneKeyUsage},
			{name: "WithDeletedKeys", fn: testPruneDeletedKeysRemovesUsage},
		}},
		{"SecretHashes", []test{
			{name: "EveryRecord", fn: testSecretHashesEveryRecord},
			{name: "Cancelled", fn: testSecretHashesCancelled},
		}},
		{"LiveKeys", []test{
			{name: "Pages", fn: testLiveKeysPages},
		}},
		{"SpendCredits", []test{
			{name: "Exact", fn: testSpendCreditsExact},
			{name: "RefillDaily", fn: testSpendCreditsRefillDaily},
			{name: "RefillMonthly", fn: testSpendCreditsRefillMonthly},
			{name: "Unlimited", fn: testSpendCreditsUnlimited},
			{name: "NotFound", fn: testSpendCreditsNotFound},
			{name: "NoChange", fn: testSpendCreditsNoChange},
			{name: "Concurrent", sfn: testSpendCreditsConcurrent},
			{name: "Mixed", fn: testSpendCreditsMixed},
		}},
		{"ImportKeys", []test{
			{name: "AllOrNone", fn: testImportKeysAllOrNone},
		}},
		{"InvalidationFeed", []test{
			{name: "ResetsThenConfirms", sfn: testFeedResetsThenConfirms},
			{name: "ChangesBeforeConfirmation", sfn: testFeedChangesBeforeConfirmation},
			{name: "ReportsLag", sfn: testFeedReportsLag},
			{name: "UpdateInvalidatesEveryHash", sfn: testFeedUpdateInvalidatesEveryHash},
			{name: "StopsWithContext", sfn: testFeedStopsWithContext},
			{name: "SpendInvalidatesNothing", sfn: testFeedSpendInvalidatesNothing},
		}},
		{"Ping", []test{
			{name: "Open", fn: testPing},
		}},
		{"Context", []test{
			{name: "Cancelled", fn: testContextCancelled},
			{name: "CancelledMidway", fn: testContextCancelledMidway},
			{name: "ErrorsWrapped", fn: testContextErrorsWrapped},
		}},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tt := range g.tests {
				t.Run(tt.name, func(t *testing.T) {
					if tt.sfn != nil {
						tt.sfn(t, s)
						return
					}
					tt.fn(t, s.newStore)
				})
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

// newKey returns a new key of org created at createdAt, with perms (read
// if none).
func newKey(t *testing.T, org keyward.OrgID, createdAt time.Time, perms ...keyward.Permission) *keyward.Key {
	t.Helper()
	if len(perms) == 0 {
		perms = []keyward.Permission{keyward.PermRead}
	}
	return NewKey(org, CreatedAt(createdAt), Permissions(perms...))
}

// newRootKey returns a new root key record.
func newRootKey(t *testing.T, createdAt time.Time) *keyward.Key {
	t.Helper()
	return NewKey("", CreatedAt(createdAt))
}

// create stores k and fails the test if that fails.
func create(t *testing.T, s keyward.KeyStore, k *keyward.Key) {
	t.Helper()
	if err := s.CreateKey(t.Context(), k, nil); err != nil {
		t.Fatalf("CreateKey(%v): %v", k.ID, err)
	}
}

// remove deletes k at the given time and fails the test if that fails.
func remove(t *testing.T, s keyward.KeyStore, k *keyward.Key, at time.Time) {
	t.Helper()
	if _, err := Delete(t.Context(), s, k.OrgID, k.ID, at); err != nil {
		t.Fatalf("DeleteKey(%q, %v): %v", k.OrgID, k.ID, err)
	}
}

// clone returns a deep copy of k, to keep as the expected value.
func clone(k *keyward.Key) *keyward.Key { return k.Clone() }

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
	checkTime(t, what+": ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	if got.Disabled != want.Disabled {
		t.Errorf("%s: Disabled = %v, want %v", what, got.Disabled, want.Disabled)
	}
	if got.Metadata != want.Metadata {
		t.Errorf("%s: Metadata = %q, want %q (byte for byte)", what, got.Metadata, want.Metadata)
	}
	if !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s: UpdatedAt = %v, want %v", what, got.UpdatedAt, want.UpdatedAt)
	}
	if got.CreatedBy != want.CreatedBy {
		t.Errorf("%s: CreatedBy = %q, want %q", what, got.CreatedBy, want.CreatedBy)
	}
	if got.Version != want.Version {
		t.Errorf("%s: Version = %d, want %d", what, got.Version, want.Version)
	}
	switch gp, wp := got.Previous, want.Previous; {
	case gp == nil && wp == nil:
	case gp == nil:
		t.Errorf("%s: Previous = nil, want a previous secret until %v", what, wp.ExpiresAt)
	case wp == nil:
		t.Errorf("%s: Previous = a secret until %v, want nil", what, gp.ExpiresAt)
	default:
		if gp.Hash != wp.Hash {
			t.Errorf("%s: Previous.Hash differs from the hash stored", what)
		}
		if !gp.ExpiresAt.Equal(wp.ExpiresAt) {
			t.Errorf("%s: Previous.ExpiresAt = %v, want %v", what, gp.ExpiresAt, wp.ExpiresAt)
		}
	}
	// No limits is one value, whether nil or empty.
	if !slices.Equal(got.RateLimits, want.RateLimits) {
		t.Errorf("%s: RateLimits = %+v, want %+v (in this order)", what, got.RateLimits, want.RateLimits)
	}
	checkCredits(t, what+": Credits", got.Credits, want.Credits)
}

// checkCredits compares two keys' credits; times with time.Equal.
func checkCredits(t *testing.T, what string, got, want *keyward.Credits) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil:
		t.Errorf("%s = nil, want %s", what, showCredits(want))
	case want == nil:
		t.Errorf("%s = %s, want nil", what, showCredits(got))
	case got.Remaining != want.Remaining || !got.RefilledAt.Equal(want.RefilledAt) ||
		(got.Refill == nil) != (want.Refill == nil) || got.Refill != nil && *got.Refill != *want.Refill:
		t.Errorf("%s = %s, want %s", what, showCredits(got), showCredits(want))
	}
}

// showCredits prints credits, the refill's fields included.
func showCredits(c *keyward.Credits) string {
	if c == nil {
		return "nil"
	}
	refill := "nil"
	if c.Refill != nil {
		refill = fmt.Sprintf("%d %s", c.Refill.Amount, c.Refill.Interval)
	}
	return fmt.Sprintf("{Remaining: %d, Refill: %s, RefilledAt: %v}", c.Remaining, refill, c.RefilledAt)
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
	return every(t, fmt.Sprintf("ListKeys(%+v)", f), func(limit int) ([]*keyward.Key, error) {
		f.Limit = limit
		return s.ListKeys(t.Context(), f)
	})
}

// every returns what a listing gives with a limit larger than any test
// makes, checking that one page held it all.
func every[T any](t *testing.T, what string, listing func(limit int) ([]T, error)) []T {
	t.Helper()
	const limit = 10000
	got, err := listing(limit)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(got) >= limit {
		t.Fatalf("%s: %d records, more than the test made", what, len(got))
	}
	return got
}

// ids returns the ids of keys, in order.
func ids(keys []*keyward.Key) []keyward.KeyID {
	return idsOf(keys, func(k *keyward.Key) keyward.KeyID { return k.ID })
}

// idsOf returns the ids of records, in order.
func idsOf[T any, ID any](records []T, id func(T) ID) []ID {
	out := make([]ID, len(records))
	for i, r := range records {
		out[i] = id(r)
	}
	return out
}

// newestFirst sorts keys as ListKeys returns them.
func newestFirst(keys []*keyward.Key) []*keyward.Key {
	return byNewest(keys, func(k *keyward.Key) (time.Time, int64) { return k.CreatedAt, int64(k.ID) })
}

// byNewest sorts records as listings return them: by time, then id, both
// descending.
func byNewest[T any](records []T, order func(T) (time.Time, int64)) []T {
	records = slices.Clone(records)
	slices.SortFunc(records, func(a, b T) int {
		at, aid := order(a)
		bt, bid := order(b)
		if c := bt.Compare(at); c != 0 {
			return c
		}
		return cmp.Compare(bid, aid)
	})
	return records
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

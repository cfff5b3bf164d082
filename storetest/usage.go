package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// hour0 is the first hour of the usage tests: base's hour.
var hour0 = base.Truncate(time.Hour)

// hourAt is the hour i hours after hour0.
func hourAt(i int) time.Time { return hour0.Add(time.Duration(i) * time.Hour) }

// RecordUsage adds counts to what is stored, a key and hour given twice
// in one batch included, and records the batch's uses as TouchKeys does;
// KeyUsage reads them back by hour, since included and until excluded,
// in hour order, without the hours that have none.
func testRecordUsageAdds(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	other := newKey(t, acme, base)
	create(t, s, k)
	create(t, s, other)

	used := base.Add(90 * time.Minute)
	recordUsage(t, s, []keyward.KeyUse{{ID: k.ID, At: used}}, []keyward.UsageCount{
		{ID: k.ID, Hour: hourAt(1), Counts: keyward.VerifyCounts{Valid: 3, RateLimited: 1}},
		{ID: k.ID, Hour: hourAt(0), Counts: keyward.VerifyCounts{Valid: 1}},
		{ID: other.ID, Hour: hourAt(1), Counts: keyward.VerifyCounts{Disabled: 7}},
		{ID: k.ID, Hour: hourAt(1), Counts: keyward.VerifyCounts{Valid: 2, Expired: 5}}, // the same key and hour again
	})
	recordUsage(t, s, nil, []keyward.UsageCount{
		{ID: k.ID, Hour: hourAt(1), Counts: keyward.VerifyCounts{Valid: 10, InsufficientPermissions: 4, UsageExceeded: 6}},
		{ID: k.ID, Hour: hourAt(3), Counts: keyward.VerifyCounts{RateLimited: 1 << 40}}, // more than 32 bits hold
	})
	want := clone(k)
	want.LastUsedAt = &used
	checkLive(t, s, want)

	checkUsage(t, s, k.ID, hourAt(-5), hourAt(10), []keyward.UsageCount{
		{ID: k.ID, Hour: hourAt(0), Counts: keyward.VerifyCounts{Valid: 1}},
		{ID: k.ID, Hour: hourAt(1), Counts: keyward.VerifyCounts{Valid: 15, Expired: 5, InsufficientPermissions: 4, RateLimited: 1, UsageExceeded: 6}},
		{ID: k.ID, Hour: hourAt(3), Counts: keyward.VerifyCounts{RateLimited: 1 << 40}},
	})
	// since is included, until excluded.
	checkUsage(t, s, k.ID, hourAt(1), hourAt(3), []keyward.UsageCount{
		{ID: k.ID, Hour: hourAt(1), Counts: keyward.VerifyCounts{Valid: 15, Expired: 5, InsufficientPermissions: 4, RateLimited: 1, UsageExceeded: 6}},
	})
	checkUsage(t, s, other.ID, hourAt(0), hourAt(24), []keyward.UsageCount{
		{ID: other.ID, Hour: hourAt(1), Counts: keyward.VerifyCounts{Disabled: 7}},
	})
	checkUsage(t, s, keyward.NewKeyID(), hourAt(0), hourAt(24), nil)
}

// RecordUsage ignores ids that do not exist, still recording the others;
// an empty batch does nothing; a deleted key's counts are kept, and read.
func testRecordUsageUnknownAndDeleted(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	create(t, s, k)
	recordUsage(t, s, nil, nil)
	unknown := keyward.NewKeyID()
	recordUsage(t, s, []keyward.KeyUse{{ID: unknown, At: base}}, []keyward.UsageCount{
		{ID: unknown, Hour: hourAt(0), Counts: keyward.VerifyCounts{Valid: 1}},
		{ID: k.ID, Hour: hourAt(0), Counts: keyward.VerifyCounts{Valid: 2}},
	})
	checkUsage(t, s, unknown, hourAt(0), hourAt(1), nil)
	remove(t, s, k, base.Add(time.Minute))
	recordUsage(t, s, nil, []keyward.UsageCount{{ID: k.ID, Hour: hourAt(0), Counts: keyward.VerifyCounts{Disabled: 1}}})
	checkUsage(t, s, k.ID, hourAt(0), hourAt(1), []keyward.UsageCount{
		{ID: k.ID, Hour: hourAt(0), Counts: keyward.VerifyCounts{Valid: 2, Disabled: 1}},
	})
	checkGone(t, s, k)
}

// PruneKeyUsage removes the counts of hours before the cut, oldest first
// and at most the limit per call, of every key; later hours stay.
func testPruneKeyUsage(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k, other := newKey(t, acme, base), newKey(t, globex, base)
	create(t, s, k)
	create(t, s, other)
	one := keyward.VerifyCounts{Valid: 1}
	var counts []keyward.UsageCount
	for i := range 4 {
		counts = append(counts,
			keyward.UsageCount{ID: k.ID, Hour: hourAt(i), Counts: one},
			keyward.UsageCount{ID: other.ID, Hour: hourAt(i), Counts: one})
	}
	recordUsage(t, s, nil, counts)

	// Before hour 3 are 6 rows; the 3 oldest are the two of hour 0 and one
	// of hour 1.
	if n, err := s.PruneKeyUsage(t.Context(), hourAt(3), 3); err != nil || n != 3 {
		t.Fatalf("PruneKeyUsage(limit 3) = %d, %v; want 3", n, err)
	}
	left := len(usage(t, s, k.ID, hourAt(0), hourAt(1))) + len(usage(t, s, other.ID, hourAt(0), hourAt(1)))
	if left != 0 {
		t.Errorf("%d counts of hour 0 left after pruning the 3 oldest", left)
	}
	if n, err := s.PruneKeyUsage(t.Context(), hourAt(3).Add(-time.Minute), 100); err != nil || n != 3 {
		t.Fatalf("PruneKeyUsage again = %d, %v; want the 3 left before the cut", n, err)
	}
	if n, err := s.PruneKeyUsage(t.Context(), hourAt(3), 100); err != nil || n != 0 {
		t.Fatalf("PruneKeyUsage with nothing left = %d, %v", n, err)
	}
	if n, err := s.PruneKeyUsage(t.Context(), hourAt(10), 0); err != nil || n != 0 {
		t.Errorf("PruneKeyUsage with limit 0 = %d, %v; want nothing done", n, err)
	}
	checkUsage(t, s, k.ID, hourAt(0), hourAt(10), []keyward.UsageCount{{ID: k.ID, Hour: hourAt(3), Counts: one}})
	checkUsage(t, s, other.ID, hourAt(0), hourAt(10), []keyward.UsageCount{{ID: other.ID, Hour: hourAt(3), Counts: one}})
}

// PruneDeletedKeys removes a key's counts with its record: a key made
// later with its id starts with none.
func testPruneDeletedKeysRemovesUsage(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k, live := newKey(t, acme, base), newKey(t, acme, base)
	create(t, s, k)
	create(t, s, live)
	recordUsage(t, s, nil, []keyward.UsageCount{
		{ID: k.ID, Hour: hourAt(0), Counts: keyward.VerifyCounts{Valid: 1}},
		{ID: live.ID, Hour: hourAt(0), Counts: keyward.VerifyCounts{Valid: 2}},
	})
	remove(t, s, k, base.Add(time.Hour))
	if n, err := s.PruneDeletedKeys(t.Context(), base.Add(2*time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("PruneDeletedKeys = %d, %v; want 1", n, err)
	}
	checkUsage(t, s, k.ID, hourAt(0), hourAt(1), nil)
	again := newKey(t, acme, base)
	again.ID = k.ID
	create(t, s, again)
	checkUsage(t, s, k.ID, hourAt(0), hourAt(1), nil)
	checkUsage(t, s, live.ID, hourAt(0), hourAt(1), []keyward.UsageCount{
		{ID: live.ID, Hour: hourAt(0), Counts: keyward.VerifyCounts{Valid: 2}},
	})
}

// recordUsage calls RecordUsage and fails the test if that fails.
func recordUsage(t *testing.T, s keyward.KeyStore, uses []keyward.KeyUse, counts []keyward.UsageCount) {
	t.Helper()
	if err := s.RecordUsage(t.Context(), uses, counts); err != nil {
		t.Fatalf("RecordUsage: %v", err)
	}
}

// usage calls KeyUsage and fails the test if that fails.
func usage(t *testing.T, s keyward.KeyStore, id keyward.KeyID, since, until time.Time) []keyward.UsageCount {
	t.Helper()
	got, err := s.KeyUsage(t.Context(), id, since, until)
	if err != nil {
		t.Fatalf("KeyUsage: %v", err)
	}
	return got
}

// checkUsage checks what KeyUsage returns, hours compared as instants in
// UTC.
func checkUsage(t *testing.T, s keyward.KeyStore, id keyward.KeyID, since, until time.Time, want []keyward.UsageCount) {
	t.Helper()
	got := usage(t, s, id, since, until)
	same := slices.EqualFunc(got, want, func(a, b keyward.UsageCount) bool {
		return a.ID == b.ID && a.Hour.Equal(b.Hour) && a.Hour.Location() == time.UTC && a.Counts == b.Counts
	})
	if !same {
		t.Errorf("KeyUsage(%v, %v to %v) =\n%+v\nwant\n%+v", id, since, until, got, want)
	}
}

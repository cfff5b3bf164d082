package storetest

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// newRecord returns a record of an idempotent write that made k at the
// given time, with random id, request fingerprint and sealed bytes.
func newRecord(k *keyward.Key, at time.Time) *keyward.IdempotencyRecord {
	rec := &keyward.IdempotencyRecord{KeyID: k.ID, Sealed: make([]byte, 93), CreatedAt: at, ExpiresAt: at.Add(keyward.IdempotencyWindow)}
	rand.Read(rec.ID[:])
	rand.Read(rec.Request[:])
	rand.Read(rec.Sealed)
	return rec
}

// checkRecord compares a stored record with the one written.
func checkRecord(t *testing.T, s keyward.KeyStore, want *keyward.IdempotencyRecord) {
	t.Helper()
	got, err := s.IdempotencyRecord(t.Context(), want.ID)
	if err != nil {
		t.Fatalf("IdempotencyRecord: %v", err)
	}
	if got.ID != want.ID || got.Request != want.Request || got.KeyID != want.KeyID || !bytes.Equal(got.Sealed, want.Sealed) ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("IdempotencyRecord = %+v, want %+v", got, want)
	}
}

// The key and the record of the write that made it are stored together,
// and a record comes back as written.
func testIdempotentRoundTrip(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	rec := newRecord(k, base)
	if err := s.CreateKeyIdempotent(t.Context(), k, rec, nil); err != nil {
		t.Fatalf("CreateKeyIdempotent: %v", err)
	}
	checkLive(t, s, k)
	checkRecord(t, s, rec)
	var unknown [32]byte
	_, err := s.IdempotencyRecord(t.Context(), unknown)
	checkCode(t, "IdempotencyRecord of an unknown id", err, keyward.ENOTFOUND)
}

// Both or neither: a taken key id stores no record, and a live record's
// id stores no key.
func testIdempotentAllOrNothing(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	first := newKey(t, acme, base)
	rec := newRecord(first, base)
	if err := s.CreateKeyIdempotent(t.Context(), first, rec, nil); err != nil {
		t.Fatalf("CreateKeyIdempotent: %v", err)
	}

	// The record's id is live: the second key is not stored.
	second := newKey(t, acme, base)
	again := newRecord(second, base.Add(time.Hour))
	again.ID = rec.ID
	checkCode(t, "CreateKeyIdempotent with a live record's id", s.CreateKeyIdempotent(t.Context(), second, again, nil), keyward.ECONFLICT)
	checkGone(t, s, second)
	checkRecord(t, s, rec)

	// The key's id is taken: the record is not stored.
	third := newKey(t, acme, base)
	third.ID = first.ID
	other := newRecord(third, base)
	checkCode(t, "CreateKeyIdempotent with a taken key id", s.CreateKeyIdempotent(t.Context(), third, other, nil), keyward.ECONFLICT)
	_, err := s.IdempotencyRecord(t.Context(), other.ID)
	checkCode(t, "IdempotencyRecord of a refused write", err, keyward.ENOTFOUND)
}

// A record that expired is replaced by a new write with its id; expired
// records are pruned, oldest first, and live ones kept.
func testIdempotentExpiry(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	rec := newRecord(k, base)
	if err := s.CreateKeyIdempotent(t.Context(), k, rec, nil); err != nil {
		t.Fatalf("CreateKeyIdempotent: %v", err)
	}
	later := newKey(t, acme, base)
	replacement := newRecord(later, rec.ExpiresAt)
	replacement.ID = rec.ID
	if err := s.CreateKeyIdempotent(t.Context(), later, replacement, nil); err != nil {
		t.Fatalf("CreateKeyIdempotent over an expired record: %v", err)
	}
	checkRecord(t, s, replacement)
	checkLive(t, s, later)

	var recs []*keyward.IdempotencyRecord
	for i := range 4 {
		k := newKey(t, acme, base)
		r := newRecord(k, base.Add(time.Duration(i)*time.Hour))
		if err := s.CreateKeyIdempotent(t.Context(), k, r, nil); err != nil {
			t.Fatalf("CreateKeyIdempotent: %v", err)
		}
		recs = append(recs, r)
	}
	cut := recs[2].ExpiresAt // expired: recs[0] and recs[1]; recs[2] expires at the cut
	if n, err := s.PruneIdempotencyRecords(t.Context(), cut, 1); err != nil || n != 1 {
		t.Fatalf("PruneIdempotencyRecords(limit 1) = %d, %v; want 1", n, err)
	}
	_, err := s.IdempotencyRecord(t.Context(), recs[0].ID)
	checkCode(t, "IdempotencyRecord of the oldest pruned record", err, keyward.ENOTFOUND)
	checkRecord(t, s, recs[1])
	if n, err := s.PruneIdempotencyRecords(t.Context(), cut, 100); err != nil || n != 1 {
		t.Fatalf("PruneIdempotencyRecords again = %d, %v; want 1", n, err)
	}
	for _, r := range append(recs[2:], replacement) {
		checkRecord(t, s, r)
	}
	for _, k := range []*keyward.Key{k, later} {
		checkLive(t, s, k) // pruning records removes no key
	}
}

package keyward

import (
	"bytes"
	"testing"
	"time"
)

// A sealed answer opens only with the idempotency key it was sealed under,
// and only as the record it was sealed for: another key, another request
// or a changed byte fails.
func TestSealedAnswer(t *testing.T) {
	key, _ := ParseIdempotencyKey("0b7c3d1e-2f4a-4b6c-8d9e-0f1a2b3c4d5e")
	other, _ := ParseIdempotencyKey("0b7c3d1e-2f4a-4b6c-8d9e-0f1a2b3c4d5f")
	secret := NewSecret()
	k := &Key{ID: 42, OrgID: "acme", Name: "job ✓", Permissions: []Permission{PermRead, PermManage},
		Hash: secret.Hash(), Hint: secret.Hint(), CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)}
	rec, err := newIdempotencyRecord(7, &Retry{Key: key, Request: [32]byte{1}}, k, secret, k.CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rec.Sealed, []byte(secret.Reveal())) || bytes.Contains(rec.Sealed, []byte(k.Name)) {
		t.Fatal("the sealed answer holds the secret or the name in the clear")
	}
	got, s, err := rec.open(key)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if s.Reveal() != secret.Reveal() || got.ID != k.ID || got.OrgID != k.OrgID || got.Name != k.Name || got.Hint != k.Hint ||
		!got.CreatedAt.Equal(k.CreatedAt) || len(got.Permissions) != 2 || got.Permissions[1] != PermManage || got.Hash != k.Hash {
		t.Errorf("opened %+v, want %+v", got, k)
	}
	if _, _, err := rec.open(other); err == nil {
		t.Error("opened with another idempotency key")
	}
	changed := *rec
	changed.Request[0] ^= 1
	if _, _, err := changed.open(key); err == nil {
		t.Error("opened as a record of another request")
	}
	changed = *rec
	changed.ID[0] ^= 1
	if _, _, err := changed.open(key); err == nil {
		t.Error("opened as another record")
	}
	for i := range rec.Sealed {
		changed = *rec
		changed.Sealed = bytes.Clone(rec.Sealed)
		changed.Sealed[i] ^= 0x80
		if _, _, err := changed.open(key); err == nil {
			t.Fatalf("opened with byte %d of the sealed answer changed", i)
		}
	}
	changed = *rec
	changed.Sealed = rec.Sealed[:5]
	if _, _, err := changed.open(key); err == nil {
		t.Error("opened a truncated answer")
	}
	if idempotencyID(7, key) == idempotencyID(8, key) || idempotencyID(7, key) == idempotencyID(7, other) {
		t.Error("record ids do not depend on both the caller and the idempotency key")
	}
}

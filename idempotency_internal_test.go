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
	server := []byte("0123456789abcdef0123456789abcdef")
	rec, err := newIdempotencyRecord(server, 7, &Retry{Key: key, Request: [32]byte{1}}, k, secret, k.CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rec.Sealed, []byte(secret.Reveal())) || bytes.Contains(rec.Sealed, []byte(k.Name)) {
		t.Fatal("the sealed answer holds the secret or the name in the clear")
	}
	got, s, err := rec.open(server, key)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if s.Reveal() != secret.Reveal() || got.ID != k.ID || got.OrgID != k.OrgID || got.Name != k.Name || got.Hint != k.Hint ||
		!got.CreatedAt.Equal(k.CreatedAt) || len(got.Permissions) != 2 || got.Permissions[1] != PermManage || got.Hash != k.Hash {
		t.Errorf("opened %+v, want %+v", got, k)
	}
	if _, _, err := rec.open(server, other); err == nil {
		t.Error("opened with another idempotency key")
	}
	if _, _, err := rec.open(nil, key); err == nil {
		t.Error("opened without the server secret")
	}
	if _, _, err := rec.open([]byte("another secret, also 32 bytes..."), key); err == nil {
		t.Error("opened with another server secret")
	}
	changed := *rec
	changed.Request[0] ^= 1
	if _, _, err := changed.open(server, key); err == nil {
		t.Error("opened as a record of another request")
	}
	changed = *rec
	changed.ID[0] ^= 1
	if _, _, err := changed.open(server, key); err == nil {
		t.Error("opened as another record")
	}
	for i := range rec.Sealed {
		changed = *rec
		changed.Sealed = bytes.Clone(rec.Sealed)
		changed.Sealed[i] ^= 0x80
		if _, _, err := changed.open(server, key); err == nil {
			t.Fatalf("opened with byte %d of the sealed answer changed", i)
		}
	}
	changed = *rec
	changed.Sealed = rec.Sealed[:5]
	if _, _, err := changed.open(server, key); err == nil {
		t.Error("opened a truncated answer")
	}
	if idempotencyID(server, 7, key) == idempotencyID(server, 8, key) || idempotencyID(server, 7, key) == idempotencyID(server, 7, other) ||
		idempotencyID(server, 7, key) == idempotencyID(nil, 7, key) {
		t.Error("record ids do not depend on the server secret, the caller and the idempotency key")
	}
}

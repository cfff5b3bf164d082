package keyward

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// Idempotent writes. A client that got no answer to a write (a timeout, a
// 503, a dropped connection) cannot tell whether it was made. It sends the
// write with an idempotency key of its choosing, and repeats it with the
// same key: within IdempotencyWindow, the repeat returns the first write's
// answer instead of writing again, as Stripe's API does.
//
// The answer to a create holds the new key's secret, which Keyward never
// stores. So the record of an idempotent write keeps the answer sealed
// (AES-256-GCM) under a key derived from the client's idempotency key, and
// is found by a hash of that key: only a client that presents the
// idempotency key again can have the answer again. An idempotency key is
// therefore a secret of the client's, and should be random (a UUID v4).
//
// Without more, a copy of the database and an idempotency key that can be
// guessed (an order number) would open the record offline. A server
// secret (Service.IdempotencySecret, which the database never holds) closes
// that: it keys the record's id (HMAC) and the seal, so that the database
// alone opens nothing, whatever the idempotency key.

// IdempotencyWindow is how long a write made with an idempotency key is
// remembered, and repeats of it answered with its first answer.
const IdempotencyWindow = 24 * time.Hour

// Bounds on an idempotency key's length. At least 16 characters, so that
// a counter or a short word, which would make the seal easy to open,
// cannot be one.
const (
	MinIdempotencyKeyLen = 16
	MaxIdempotencyKeyLen = 255
)

// IdempotencyKey is a client's key for an idempotent write. Like a Secret,
// every printing path redacts it.
type IdempotencyKey struct{ p *string }

// ParseIdempotencyKey validates a client's idempotency key: 16 to 255
// printable ASCII characters, without spaces.
func ParseIdempotencyKey(s string) (IdempotencyKey, error) {
	if len(s) < MinIdempotencyKeyLen || len(s) > MaxIdempotencyKeyLen {
		return IdempotencyKey{}, fmt.Errorf("must be %d to %d characters (a UUID, say)", MinIdempotencyKeyLen, MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return IdempotencyKey{}, fmt.Errorf("must be printable ASCII characters without spaces")
		}
	}
	return IdempotencyKey{&s}, nil
}

// String redacts the key.
func (k IdempotencyKey) String() string { return redacted }

// GoString redacts the key from %#v.
func (k IdempotencyKey) GoString() string { return redacted }

// Format redacts the key from every fmt verb.
func (k IdempotencyKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue redacts the key from log/slog.
func (k IdempotencyKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts the key from encoding/json.
func (k IdempotencyKey) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// bytes returns a copy of the key's bytes.
func (k IdempotencyKey) bytes() []byte {
	if k.p == nil {
		return nil
	}
	return []byte(*k.p)
}

// Retry marks a write as one a client may repeat: its idempotency key, and
// a fingerprint of what it asks for (the HTTP layer hashes the method, the
// path and the body), so that the key given again with another request is
// refused rather than answered with the first request's answer.
type Retry struct {
	Key     IdempotencyKey
	Request [32]byte
}

// IdempotencyRecord is what a store keeps of a write made with an
// idempotency key: enough to answer a repeat of it, and nothing that
// reveals the answer's secret without the idempotency key.
type IdempotencyRecord struct {
	// ID finds the record: the SHA-256 of the caller's key id and the
	// idempotency key (never the idempotency key itself).
	ID [32]byte
	// Request is Retry.Request of the write.
	Request [32]byte
	// KeyID is the key the write made.
	KeyID KeyID
	// Sealed is the answer, sealed under a key derived from the
	// idempotency key: a random nonce, then the AES-256-GCM ciphertext.
	Sealed    []byte
	CreatedAt time.Time
	// ExpiresAt is IdempotencyWindow after CreatedAt: a record is not used
	// after it, and may then be replaced or removed.
	ExpiresAt time.Time
}

// MinIdempotencySecretLen is the least length of a server secret for
// idempotency records, in bytes.
const MinIdempotencySecretLen = 32

// idempotencyID is the id of the record of caller's write with key k:
// keyed by server, the server secret, if there is one.
func idempotencyID(server []byte, caller KeyID, k IdempotencyKey) [32]byte {
	h := sha256.New()
	if len(server) > 0 {
		h = hmac.New(sha256.New, server)
	}
	h.Write([]byte("keyward idempotency record v1\x00"))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(caller)))
	h.Write(k.bytes())
	var id [32]byte
	h.Sum(id[:0])
	return id
}

// sealedAnswer is what a record seals: the key as it was made, and its
// secret.
type sealedAnswer struct {
	ID          KeyID        `json:"id"`
	OrgID       OrgID        `json:"org_id"`
	Name        string       `json:"name"`
	Permissions []Permission `json:"permissions"`
	Hint        string       `json:"hint"`
	CreatedAt   time.Time    `json:"created_at"`
	Secret      string       `json:"secret"`
	// Sealed since keys have a lifecycle; absent from older records.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Metadata  string     `json:"metadata,omitempty"`
	CreatedBy string     `json:"created_by,omitempty"`
}

// aead returns the cipher of records with this id, keyed by k and by
// server, the server secret, if there is one.
func (rec *IdempotencyRecord) aead(server []byte, k IdempotencyKey) (cipher.AEAD, error) {
	ikm := append(k.bytes(), server...) // k.bytes() is a fresh copy
	defer clear(ikm)
	key, err := hkdf.Key(sha256.New, ikm, rec.ID[:], "keyward idempotency seal v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// additionalData binds a sealed answer to its record's id and request.
func (rec *IdempotencyRecord) additionalData() []byte {
	return append(rec.ID[:len(rec.ID):len(rec.ID)], rec.Request[:]...)
}

// newIdempotencyRecord makes the record of caller's write r, which made k
// with secret, at the given time, under the server secret server (nil if
// there is none).
func newIdempotencyRecord(server []byte, caller KeyID, r *Retry, k *Key, secret Secret, at time.Time) (*IdempotencyRecord, error) {
	rec := &IdempotencyRecord{
		ID: idempotencyID(server, caller, r.Key), Request: r.Request, KeyID: k.ID,
		CreatedAt: at, ExpiresAt: at.Add(IdempotencyWindow),
	}
	plain, err := json.Marshal(sealedAnswer{
		ID: k.ID, OrgID: k.OrgID, Name: k.Name, Permissions: k.Permissions,
		Hint: k.Hint, CreatedAt: k.CreatedAt, Secret: secret.Reveal(),
		ExpiresAt: k.ExpiresAt, Metadata: k.Metadata, CreatedBy: k.CreatedBy,
	})
	if err != nil {
		return nil, fmt.Errorf("seal answer: %w", err)
	}
	aead, err := rec.aead(server, r.Key)
	if err != nil {
		return nil, fmt.Errorf("seal answer: %w", err)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal answer: %w", err)
	}
	rec.Sealed = aead.Seal(nonce, nonce, plain, rec.additionalData())
	clear(plain)
	return rec, nil
}

// open returns the answer rec seals, with k, the idempotency key it was
// sealed under, and server, the server secret.
func (rec *IdempotencyRecord) open(server []byte, k IdempotencyKey) (*Key, Secret, error) {
	aead, err := rec.aead(server, k)
	if err != nil {
		return nil, Secret{}, fmt.Errorf("open answer: %w", err)
	}
	if len(rec.Sealed) < aead.NonceSize() {
		return nil, Secret{}, fmt.Errorf("open answer: sealed answer too short")
	}
	nonce, sealed := rec.Sealed[:aead.NonceSize()], rec.Sealed[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, sealed, rec.additionalData())
	if err != nil {
		return nil, Secret{}, fmt.Errorf("open answer: %w", err)
	}
	defer clear(plain)
	var a sealedAnswer
	if err := json.Unmarshal(plain, &a); err != nil {
		return nil, Secret{}, fmt.Errorf("open answer: %w", err)
	}
	secret, err := ParseSecret(a.Secret)
	if err != nil || a.ID != rec.KeyID {
		return nil, Secret{}, fmt.Errorf("open answer: the sealed answer is not the record's")
	}
	// The answer is the key as it was made: version 1, as the first
	// answer said.
	k2 := &Key{
		ID: a.ID, OrgID: a.OrgID, Name: a.Name, Permissions: a.Permissions,
		Hash: secret.Hash(), Hint: a.Hint, CreatedAt: a.CreatedAt.UTC(),
		UpdatedAt: a.CreatedAt.UTC(), Version: 1,
		ExpiresAt: a.ExpiresAt, Metadata: a.Metadata, CreatedBy: a.CreatedBy,
	}
	return k2, secret, nil
}

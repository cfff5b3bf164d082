package keyward

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math/big"
	"strings"
)

// A key's secret looks like
//
//	kw_<43 base62 characters: 32 random bytes><6 base62 characters: CRC32>
//
// in the manner of GitHub's tokens: the fixed prefix and length let secret
// scanners find leaked keys with one regular expression (SecretPattern), and
// the checksum over everything before it lets the server refuse a mistyped or
// invented key without a database lookup.
const (
	SecretPrefix = "kw_"
	// SecretPattern matches a Keyward secret; anchor or bound it as the
	// scanner needs (\b works, as the secret is all word characters).
	SecretPattern  = `kw_[0-9A-Za-z]{49}`
	secretBodyLen  = 43 // base62 of 32 bytes: 62^43 > 2^256
	secretCheckLen = 6  // base62 of a CRC32: 62^6 > 2^32
	// SecretLen is the length of every secret.
	SecretLen = len(SecretPrefix) + secretBodyLen + secretCheckLen
)

const base62Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// ErrMalformedSecret is returned by ParseSecret for anything that is not a
// well-formed Keyward secret with a valid checksum.
var ErrMalformedSecret = errors.New("malformed API key")

// Secret is a key's secret. It exists in memory between its creation and the
// one response that shows it, and between a request's arrival and its
// hashing. It is a struct holding a pointer, not a string, so that no path
// through fmt, log/slog or encoding/json can print it by mistake: its
// String, GoString, Format, LogValue and MarshalJSON redact it, and the
// reflection those packages fall back on (unexported fields, bad verbs, map
// keys) finds only an address. Reveal is the one way to read it.
type Secret struct{ p *string }

// redacted stands in for a secret or a hash wherever one would be printed.
const redacted = "[REDACTED]"

// NewSecret generates a secret from 32 bytes of crypto/rand.
func NewSecret() Secret {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("keyward: crypto/rand failed: %v", err))
	}
	body := new(big.Int).SetBytes(b[:]).Text(62)
	var sb strings.Builder
	sb.Grow(SecretLen)
	sb.WriteString(SecretPrefix)
	for i := len(body); i < secretBodyLen; i++ {
		sb.WriteByte('0')
	}
	sb.WriteString(body)
	var check [secretCheckLen]byte
	encodeChecksum(&check, crc32.ChecksumIEEE([]byte(sb.String())))
	sb.Write(check[:])
	v := sb.String()
	return Secret{&v}
}

// ParseSecret checks that s is a well-formed secret with a valid checksum.
// It touches no storage, so a look-alike costs almost nothing to refuse.
func ParseSecret(s string) (Secret, error) {
	if len(s) != SecretLen || !strings.HasPrefix(s, SecretPrefix) {
		return Secret{}, ErrMalformedSecret
	}
	for i := len(SecretPrefix); i < len(s); i++ {
		if base62Value(s[i]) < 0 {
			return Secret{}, ErrMalformedSecret
		}
	}
	n := len(s) - secretCheckLen
	var want [secretCheckLen]byte
	encodeChecksum(&want, crc32.ChecksumIEEE([]byte(s[:n])))
	if subtle.ConstantTimeCompare(want[:], []byte(s[n:])) != 1 {
		return Secret{}, ErrMalformedSecret
	}
	return Secret{&s}, nil
}

func encodeChecksum(dst *[secretCheckLen]byte, sum uint32) {
	for i := secretCheckLen - 1; i >= 0; i-- {
		dst[i] = base62Alphabet[sum%62]
		sum /= 62
	}
}

func base62Value(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 36
	}
	return -1
}

// Reveal returns the secret itself. Call it only to write the one response
// that creates the key, or to print a new root key once.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// Hash returns the SHA-256 of the full secret: what storage keeps.
func (s Secret) Hash() SecretHash {
	v := s.Reveal()
	if len(v) == SecretLen { // every parsed or new secret: hashed from the stack
		var b [SecretLen]byte
		copy(b[:], v)
		return sha256.Sum256(b[:])
	}
	return sha256.Sum256([]byte(v))
}

// Hint returns what may be shown of a secret after its creation: the prefix
// with the first and the last four characters, "kw_Ab3d...x9Zq". It is empty
// for the zero Secret.
func (s Secret) Hint() string {
	v := s.Reveal()
	if len(v) != SecretLen {
		return ""
	}
	p := len(SecretPrefix)
	return v[:p+4] + "..." + v[len(v)-4:]
}

// String redacts the secret.
func (s Secret) String() string { return redacted }

// GoString redacts the secret from %#v.
func (s Secret) GoString() string { return redacted }

// Format redacts the secret from every fmt verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue redacts the secret from log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts the secret from encoding/json; the create response
// writes Reveal() into a plain string field instead.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// SecretHash is the SHA-256 of a secret.
type SecretHash [32]byte

// Equal compares two hashes in constant time.
func (h SecretHash) Equal(o SecretHash) bool { return subtle.ConstantTimeCompare(h[:], o[:]) == 1 }

// String redacts the hash. A hash is not the secret, but it is kept out of
// responses and logs all the same: it identifies a key across systems, and a
// stolen hash would let anyone test guesses offline.
func (h SecretHash) String() string { return redacted }

// GoString redacts the hash from %#v.
func (h SecretHash) GoString() string { return redacted }

// Format redacts the hash from every fmt verb.
func (h SecretHash) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue redacts the hash from log/slog.
func (h SecretHash) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts the hash from encoding/json (and so from slog's JSON
// handler when a whole Key is logged).
func (h SecretHash) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

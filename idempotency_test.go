package keyward_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func TestParseIdempotencyKey(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"0b7c3d1e-2f4a-4b6c-8d9e-0f1a2b3c4d5e", true},
		{"abcdefghijklmnop", true},
		{strings.Repeat("x", keyward.MaxIdempotencyKeyLen), true},
		{"abcdefghijklmno", false}, // 15: too short to protect anything
		{strings.Repeat("x", keyward.MaxIdempotencyKeyLen+1), false},
		{"", false},
		{"abcdefgh ijklmnop", false},
		{"abcdefghijklmnop\n", false},
		{"abcdefghijklmnopé", false},
		{"abcdefghijklmnop\x7f", false},
	} {
		_, err := keyward.ParseIdempotencyKey(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseIdempotencyKey(%q) = %v, want ok %v", tt.in, err, tt.ok)
		}
	}
}

// An idempotency key protects sealed secrets: every printing path
// redacts it, as a Secret's does.
func TestIdempotencyKeyRedacted(t *testing.T) {
	const raw = "0b7c3d1e-2f4a-4b6c-8d9e-0f1a2b3c4d5e"
	k, err := keyward.ParseIdempotencyKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "key", k, "retry", keyward.Retry{Key: k})
	j, _ := json.Marshal(struct{ K keyward.IdempotencyKey }{k})
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %q", k, k, k, k, k), fmt.Sprintf("%+v", keyward.Retry{Key: k}), logs.String(), string(j)} {
		if strings.Contains(out, raw) {
			t.Errorf("the idempotency key is printed: %s", out)
		}
	}
}

// retryOf returns the Retry of request body with idempotency key k.
func retryOf(t *testing.T, k, body string) *keyward.Retry {
	t.Helper()
	ik, err := keyward.ParseIdempotencyKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &keyward.Retry{Key: ik, Request: sha256.Sum256([]byte(body))}
}

// A create repeated with the same idempotency key and request answers with
// the first create's key and secret and makes no other key; with another
// request it is refused; another caller's key of the same spelling is
// another key altogether.
func TestServiceIdempotentCreate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, db := newServiceAt(t, filepath.Join(dir, "keyward.db"))
	root := mustRoot(t, s)
	admin, _ := mustKey(t, s, root, "acme", keyward.PermManage, keyward.PermRead)
	const idem = "0b7c3d1e-2f4a-4b6c-8d9e-0f1a2b3c4d5e"
	in := keyward.NewKey{Name: "job", Permissions: []keyward.Permission{keyward.PermRead}, Retry: retryOf(t, idem, "body 1")}

	k1, s1, err := s.CreateKey(ctx, admin, "acme", in)
	if err != nil {
		t.Fatal(err)
	}
	k2, s2, err := s.CreateKey(ctx, admin, "acme", in)
	if err != nil {
		t.Fatalf("repeat: %v", err)
	}
	if k2.ID != k1.ID || s2.Reveal() != s1.Reveal() || k2.Name != k1.Name || !k2.CreatedAt.Equal(k1.CreatedAt) || k2.Hint != k1.Hint || k2.OrgID != k1.OrgID {
		t.Errorf("repeat answered %+v, want the first answer %+v and its secret", k2, k1)
	}
	if got, err := s.Authenticate(ctx, s2.Reveal()); err != nil || got.ID != k1.ID {
		t.Errorf("the replayed secret does not authenticate the key: %v, %v", got, err)
	}

	other := in
	other.Retry = retryOf(t, idem, "body 2")
	_, _, err = s.CreateKey(ctx, admin, "acme", other)
	wantCode(t, "the same idempotency key with another request", err, keyward.EUNPROCESSABLE)

	k3, s3, err := s.CreateKey(ctx, root, "acme", in) // another caller
	if err != nil || k3.ID == k1.ID || s3.Reveal() == s1.Reveal() {
		t.Errorf("another caller's create with the same idempotency key: %v, %v; want a new key", k3, err)
	}
	p, err := s.ListKeys(ctx, root, "acme", "", nil, 100)
	if err != nil || len(p.Keys) != 3 { // admin, k1, k3
		t.Fatalf("acme has %d keys, want 3: %v", len(p.Keys), err)
	}

	// Neither the idempotency key nor the secret is in the database: the
	// record keeps a hash of the one and the other sealed under it.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range []string{"keyward.db", "keyward.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			continue
		}
		checked++
		for _, secret := range []string{idem, s1.Reveal()} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds a secret in the clear", f)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no database file was read: the check above proved nothing")
	}
}

// After the window, the same idempotency key makes a new key.
func TestServiceIdempotencyWindow(t *testing.T) {
	ctx := context.Background()
	s, _ := newServiceAndStore(t)
	now := time.Now()
	s.Now = func() time.Time { return now }
	root := mustRoot(t, s)
	in := keyward.NewKey{Name: "job", Permissions: []keyward.Permission{keyward.PermRead}, Retry: retryOf(t, "a-key-for-one-day", "b")}
	k1, _, err := s.CreateKey(ctx, root, "acme", in)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(keyward.IdempotencyWindow - time.Second)
	if k, _, err := s.CreateKey(ctx, root, "acme", in); err != nil || k.ID != k1.ID {
		t.Fatalf("a repeat inside the window: %v, %v", k, err)
	}
	now = now.Add(time.Second)
	k2, _, err := s.CreateKey(ctx, root, "acme", in)
	if err != nil || k2.ID == k1.ID {
		t.Fatalf("a repeat after the window: %v, %v; want a new key", k2, err)
	}
	if k, _, err := s.CreateKey(ctx, root, "acme", in); err != nil || k.ID != k2.ID {
		t.Fatalf("a repeat of the new write: %v, %v; want %v", k, err, k2.ID)
	}
	now = now.Add(2 * keyward.IdempotencyWindow)
	if p, err := s.Prune(ctx); err != nil || p.IdempotencyRecords != 1 {
		t.Errorf("Prune after the window: %+v, %v; want 1 record", p, err)
	}
}

// Repeats sent at once make exactly one key, and all answer with it.
func TestServiceIdempotentConcurrent(t *testing.T) {
	ctx := context.Background()
	s, _ := newServiceAndStore(t)
	root := mustRoot(t, s)
	in := keyward.NewKey{Name: "job", Permissions: []keyward.Permission{keyward.PermRead}, Retry: retryOf(t, "concurrent-repeats-1", "b")}
	const n = 8
	ids := make([]keyward.KeyID, n)
	secrets := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, secret, err := s.CreateKey(ctx, root, "acme", in)
			if err != nil {
				t.Errorf("create %d: %v", i, err)
				return
			}
			ids[i], secrets[i] = k.ID, secret.Reveal()
		})
	}
	wg.Wait()
	for i := range n {
		if ids[i] != ids[0] || secrets[i] != secrets[0] {
			t.Fatalf("concurrent repeats answered keys %v", ids)
		}
	}
	if p, err := s.ListKeys(ctx, root, "acme", "", nil, 100); err != nil || len(p.Keys) != 1 {
		t.Fatalf("%d keys after %d concurrent repeats, want 1: %v", len(p.Keys), n, err)
	}
}

// With a server secret, repeats are answered as before; a service with
// another secret (or none) finds no record of them: the secret keys both
// the record's id and its seal, and the database holds neither.
func TestServiceIdempotencySecret(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	s, _ := newServiceAt(t, path)
	s.IdempotencySecret = []byte(strings.Repeat("s", keyward.MinIdempotencySecretLen))
	root := mustRoot(t, s)
	in := keyward.NewKey{Name: "job", Permissions: []keyward.Permission{keyward.PermRead}, Retry: retryOf(t, "order-1234567890", "b")}
	k1, s1, err := s.CreateKey(ctx, root, "acme", in)
	if err != nil {
		t.Fatal(err)
	}
	if k, secret, err := s.CreateKey(ctx, root, "acme", in); err != nil || k.ID != k1.ID || secret.Reveal() != s1.Reveal() {
		t.Fatalf("a repeat with the same server secret: %v, %v", k, err)
	}
	for _, other := range [][]byte{nil, []byte(strings.Repeat("t", keyward.MinIdempotencySecretLen))} {
		s.IdempotencySecret = other
		if k, _, err := s.CreateKey(ctx, root, "acme", in); err != nil || k.ID == k1.ID {
			t.Errorf("a repeat with server secret %q found the record: %v, %v", other, k, err)
		}
	}
}

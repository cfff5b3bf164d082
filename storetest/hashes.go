package storetest

import (
	"cmp"
	"context"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// secretHashes returns what SecretHashes passes on, sorted, failing the
// test if it fails.
func secretHashes(t *testing.T, s keyward.KeyStore) []keyward.SecretHash {
	t.Helper()
	var got []keyward.SecretHash
	if err := s.SecretHashes(t.Context(), func(h keyward.SecretHash) { got = append(got, h) }); err != nil {
		t.Fatalf("SecretHashes: %v", err)
	}
	slices.SortFunc(got, compareHashes)
	return got
}

func compareHashes(a, b keyward.SecretHash) int { return slices.Compare(a[:], b[:]) }

// hexes prints hashes' first bytes for a failure message (Key's own
// formatting redacts them).
func hexes(hs []keyward.SecretHash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h[:4])
	}
	return out
}

// SecretHashes passes on each hash of every key record exactly once: the
// current secret's and the previous one's, of live, deleted, disabled and
// root keys alike; not those of records pruned for good.
func testSecretHashesEveryRecord(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	if got := secretHashes(t, s); len(got) != 0 {
		t.Fatalf("SecretHashes of an empty store: %v", hexes(got))
	}
	live := newKey(t, acme, base)
	rotated := NewKey(acme, CreatedAt(base), Previous(base.Add(time.Hour)))
	ended := NewKey(globex, CreatedAt(base), Previous(base.Add(-time.Hour))) // its grace period is over
	disabled := NewKey(globex, CreatedAt(base), Disabled())
	deleted := NewKey(acme, CreatedAt(base), Previous(base.Add(time.Hour)))
	root := newRootKey(t, base)
	pruned := newKey(t, acme, base)
	for _, k := range []*keyward.Key{live, rotated, ended, disabled, deleted, root, pruned} {
		create(t, s, k)
	}
	remove(t, s, pruned, base.Add(time.Hour))
	tomb, err := Delete(t.Context(), s, deleted.OrgID, deleted.ID, base.Add(3*time.Hour))
	if err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	if n, err := s.PruneDeletedKeys(t.Context(), base.Add(2*time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("PruneDeletedKeys = %d, %v; want the one key deleted before the cut", n, err)
	}
	var want []keyward.SecretHash
	for _, k := range []*keyward.Key{live, rotated, ended, disabled, root, tomb} {
		want = append(want, k.Hashes()...) // the stored record's: a delete drops the previous secret
	}
	slices.SortFunc(want, compareHashes)
	if got := secretHashes(t, s); !slices.Equal(got, want) {
		t.Errorf("SecretHashes = %v, want %v", hexes(got), hexes(want))
	}

	// A rotation: the new secret's hash is passed on, with the previous
	// one, and the one before that no more.
	next := NewKey(acme, CreatedAt(base))
	update(t, s, live, nil, func(k *keyward.Key) {
		k.Previous = &keyward.PreviousSecret{Hash: k.Hash, ExpiresAt: base.Add(time.Hour)}
		k.Hash = next.Hash
	})
	got := secretHashes(t, s)
	for _, h := range []keyward.SecretHash{live.Hash, next.Hash} {
		if _, found := slices.BinarySearchFunc(got, h, compareHashes); !found {
			t.Errorf("after a rotation, SecretHashes lacks the key's current or previous hash")
		}
	}
	if len(got) != len(want)+1 {
		t.Errorf("after a rotation, SecretHashes passed on %d hashes, want %d", len(got), len(want)+1)
	}
}

// SecretHashes fails with a cancelled context, passing nothing on.
func testSecretHashesCancelled(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	for range 3 {
		create(t, s, newKey(t, acme, base))
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	n := 0
	err := s.SecretHashes(ctx, func(keyward.SecretHash) { n++ })
	if err == nil {
		t.Fatalf("SecretHashes with a cancelled context: no error (%d hashes)", n)
	}
	if code := keyward.ErrorCode(err); code == keyward.ENOTFOUND || code == keyward.ECONFLICT {
		t.Errorf("SecretHashes with a cancelled context: %v (code %q), want an error that is no answer about the keys", err, code)
	}
}

// LiveKeys pages through the live keys of every organization, root keys
// included, in id order: whole records (limits, credits, previous secret)
// but no last use; deleted keys are left out.
func testLiveKeysPages(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	if got, err := s.LiveKeys(t.Context(), 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("LiveKeys of an empty store = %d keys, %v; want none", len(got), err)
	}
	keys := []*keyward.Key{
		newKey(t, acme, base),
		NewKey(acme, CreatedAt(base), Previous(base.Add(time.Hour))),
		NewKey(globex, CreatedAt(base), Disabled(), RateLimits(someLimits()...), Credits(7, nil)),
		newRootKey(t, base),
		newKey(t, globex, base),
	}
	deleted := newKey(t, acme, base)
	for _, k := range append(slices.Clone(keys), deleted) {
		create(t, s, k)
	}
	remove(t, s, deleted, base.Add(time.Hour))
	touch(t, s, keyward.KeyUse{ID: keys[0].ID, At: base.Add(time.Minute)})
	slices.SortFunc(keys, func(a, b *keyward.Key) int { return cmp.Compare(a.ID, b.ID) })

	var got []*keyward.Key
	var after keyward.KeyID
	for pages := 0; ; pages++ {
		if pages > len(keys) {
			t.Fatalf("LiveKeys: more than %d pages of 2", pages)
		}
		page, err := s.LiveKeys(t.Context(), after, 2)
		if err != nil {
			t.Fatalf("LiveKeys after %v: %v", after, err)
		}
		if len(page) > 2 {
			t.Fatalf("LiveKeys with limit 2 = %d keys", len(page))
		}
		got = append(got, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	if len(got) != len(keys) {
		t.Fatalf("LiveKeys gave %d keys over its pages, want the %d live ones", len(got), len(keys))
	}
	for i, k := range got {
		if k.LastUsedAt != nil {
			t.Errorf("LiveKeys: key %v has LastUsedAt %v, want none (a cache keeps none)", k.ID, k.LastUsedAt)
		}
		checkKey(t, "LiveKeys", k, keys[i])
	}

	if _, err := s.LiveKeys(t.Context(), 0, 0); keyward.ErrorCode(err) != keyward.EINVALID {
		t.Errorf("LiveKeys with limit 0: %v, want EINVALID", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.LiveKeys(ctx, 0, 10); err == nil {
		t.Errorf("LiveKeys with a cancelled context: no error")
	}
}

package storetest

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// A conflict's error names the constraint, never the value: no encoding of
// the secret hash reaches its message.
func testCreateKeyConflictShowsNoHash(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	create(t, s, k)
	err := s.CreateKey(t.Context(), k, nil)
	checkCode(t, "CreateKey of the same key", err, keyward.ECONFLICT)
	msg := err.Error()
	for _, enc := range []string{string(k.Hash[:]), hex.EncodeToString(k.Hash[:]), strings.ToUpper(hex.EncodeToString(k.Hash[:]))} {
		if strings.Contains(msg, enc) {
			t.Errorf("conflict error %q holds the hash", msg)
		}
	}
}

// A call whose context is cancelled, or past its deadline, returns an
// error wrapping that context's error (so that the service can tell a
// client that went away from a store that did not answer in time), and
// not an answer about the keys.
func testContextErrorsWrapped(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	k := newKey(t, acme, base)
	create(t, s, k)
	checkLive(t, s, k) // and whatever the store prepares is prepared
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"expired", expired, context.DeadlineExceeded},
	} {
		calls := map[string]func() error{
			"CreateKey": func() error { return s.CreateKey(c.ctx, newKey(t, acme, base), nil) },
			"BootstrapRootKey": func() error {
				_, err := s.BootstrapRootKey(c.ctx, newRootKey(t, base), nil)
				return err
			},
			"KeyByHash": func() error { _, err := s.KeyByHash(c.ctx, k.Hash); return err },
			"Key":       func() error { _, err := s.Key(c.ctx, acme, k.ID); return err },
			"KeyByID":   func() error { _, err := s.KeyByID(c.ctx, k.ID); return err },
			"ListKeys": func() error {
				_, err := s.ListKeys(c.ctx, keyward.KeyFilter{OrgID: acme, Limit: 10})
				return err
			},
			"UpdateKey": func() error {
				_, err := s.UpdateKey(c.ctx, acme, k.ID, func(old keyward.Key) (keyward.Key, *keyward.AuditEvent, error) { return old, nil, nil })
				return err
			},
			"ListAuditEvents": func() error {
				_, err := s.ListAuditEvents(c.ctx, keyward.AuditFilter{OrgID: acme, Limit: 10})
				return err
			},
			"PruneAuditEvents": func() error { _, err := s.PruneAuditEvents(c.ctx, base, 10); return err },
			"DeleteKey":        func() error { _, err := Delete(c.ctx, s, acme, k.ID, base.Add(time.Hour)); return err },
			"TouchKeys": func() error {
				return s.TouchKeys(c.ctx, []keyward.KeyUse{{ID: k.ID, At: base.Add(time.Hour)}})
			},
			"PruneDeletedKeys": func() error {
				_, err := s.PruneDeletedKeys(c.ctx, base.Add(time.Hour), 10)
				return err
			},
			"CreateKeyIdempotent": func() error {
				k := newKey(t, acme, base)
				return s.CreateKeyIdempotent(c.ctx, k, newRecord(k, base), nil)
			},
			"IdempotencyRecord": func() error {
				_, err := s.IdempotencyRecord(c.ctx, [32]byte{1})
				return err
			},
			"PruneIdempotencyRecords": func() error {
				_, err := s.PruneIdempotencyRecords(c.ctx, base, 10)
				return err
			},
			"SpendCredits": func() error {
				_, err := s.SpendCredits(c.ctx, k.ID, 1, base.Add(time.Hour))
				return err
			},
			"Ping": func() error { return s.Ping(c.ctx) },
		}
		for name, call := range calls {
			err := call()
			if !errors.Is(err, c.want) {
				t.Errorf("%s with a %s context: %v, want an error wrapping %v", name, c.name, err, c.want)
			}
			if code := keyward.ErrorCode(err); code == keyward.ENOTFOUND || code == keyward.ECONFLICT {
				t.Errorf("%s with a %s context: code %q, an answer about the keys", name, c.name, code)
			}
		}
	}
	checkLive(t, s, k)
}

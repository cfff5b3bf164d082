package postgres_test

import (
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/storetest"
)

// BenchmarkKeyByHash measures the lookup every authenticated request makes,
// among a thousand keys, from one goroutine and from many.
func BenchmarkKeyByHash(b *testing.B) {
	db, _ := openTestDB(b)
	const n = 1000
	hashes := make([]keyward.SecretHash, n)
	for i := range hashes {
		k := storetest.NewKey("acme")
		if err := db.CreateKey(b.Context(), k, nil); err != nil {
			b.Fatalf("CreateKey: %v", err)
		}
		hashes[i] = k.Hash
	}
	b.Run("serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := db.KeyByHash(b.Context(), hashes[i%n]); err != nil {
				b.Fatalf("KeyByHash: %v", err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := db.KeyByHash(b.Context(), hashes[i%n]); err != nil {
					b.Errorf("KeyByHash: %v", err)
					return
				}
				i++
			}
		})
	})
}

// BenchmarkCreateKey measures a durable write: one INSERT, committed;
// and, as the service creates a key, with its audit event in the same
// transaction.
func BenchmarkCreateKey(b *testing.B) {
	db, _ := openTestDB(b)
	b.Run("alone", func(b *testing.B) {
		for b.Loop() {
			if err := db.CreateKey(b.Context(), storetest.NewKey("acme"), nil); err != nil {
				b.Fatalf("CreateKey: %v", err)
			}
		}
	})
	b.Run("with an event", func(b *testing.B) {
		for b.Loop() {
			k := storetest.NewKey("acme")
			ev := &keyward.AuditEvent{ID: keyward.NewEventID(), At: k.CreatedAt, OrgID: k.OrgID, Actor: "key-1", Action: keyward.ActionCreate, KeyID: k.ID}
			if err := db.CreateKey(b.Context(), k, ev); err != nil {
				b.Fatalf("CreateKey: %v", err)
			}
		}
	})
}

// BenchmarkTouchKeys measures the flush of a batch of 100 key uses.
func BenchmarkTouchKeys(b *testing.B) {
	db, _ := openTestDB(b)
	uses := make([]keyward.KeyUse, 100)
	for i := range uses {
		k := storetest.NewKey("acme")
		if err := db.CreateKey(b.Context(), k, nil); err != nil {
			b.Fatalf("CreateKey: %v", err)
		}
		uses[i] = keyward.KeyUse{ID: k.ID, At: k.CreatedAt}
	}
	for b.Loop() {
		for i := range uses {
			uses[i].At = uses[i].At.Add(1000)
		}
		if err := db.TouchKeys(b.Context(), uses); err != nil {
			b.Fatalf("TouchKeys: %v", err)
		}
	}
}

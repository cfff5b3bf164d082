package postgres_test

import (
	"sync/atomic"
	"testing"
	"time"

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

// BenchmarkSpendCredits measures the durable write a verification of a
// key with credits makes: from one caller, and from 32 concurrent callers
// per CPU (64 on two, as the reference bench's connections), spending
// from a thousand keys or all from one, when they queue on its row's
// lock.
func BenchmarkSpendCredits(b *testing.B) {
	db, _ := openTestDB(b)
	const n = 1000
	keys := make([]*keyward.Key, n)
	for i := range keys {
		keys[i] = storetest.NewKey("acme", storetest.Credits(keyward.MaxCredits, nil))
	}
	if err := db.ImportKeys(b.Context(), keys); err != nil {
		b.Fatalf("ImportKeys: %v", err)
	}
	now := time.Now()
	b.Run("serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if r, err := db.SpendCredits(b.Context(), keys[i%n].ID, 1, now); err != nil || !r.OK {
				b.Fatalf("SpendCredits: %+v, %v", r, err)
			}
			i++
		}
	})
	for _, c := range []struct {
		name string
		keys int
	}{{"parallel", n}, {"parallel one key", 1}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetParallelism(32)
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := keys[int(next.Add(1))%c.keys]
					if r, err := db.SpendCredits(b.Context(), k.ID, 1, now); err != nil || !r.OK {
						b.Errorf("SpendCredits: %+v, %v", r, err)
						return
					}
				}
			})
		})
	}
}

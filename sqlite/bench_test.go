package sqlite_test

import (
	"cmp"
	"slices"
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

// BenchmarkCreateKey measures a durable write: one IMMEDIATE transaction
// and, with synchronous=FULL, one sync of the WAL.
func BenchmarkCreateKey(b *testing.B) {
	db, _ := openTestDB(b)
	for b.Loop() {
		if err := db.CreateKey(b.Context(), storetest.NewKey("acme"), nil); err != nil {
			b.Fatalf("CreateKey: %v", err)
		}
	}
}

// BenchmarkCreateKeyParallel measures durable creates from 16 concurrent
// callers per CPU: group commit shares one sync among the creates waiting.
func BenchmarkCreateKeyParallel(b *testing.B) {
	db, _ := openTestDB(b)
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.CreateKey(b.Context(), storetest.NewKey("acme"), nil); err != nil {
				b.Errorf("CreateKey: %v", err)
				return
			}
		}
	})
}

// BenchmarkTouchKeys measures a flush of recorded uses as UsageRecorder
// makes it: batches of 10,000 uses in id order, over 100,000 keys that are
// all used, so that every batch touches pages written by earlier ones.
func BenchmarkTouchKeys(b *testing.B) {
	db, _ := openTestDB(b)
	const n, batch = 100_000, 10_000
	keys := make([]*keyward.Key, n)
	for i := range keys {
		keys[i] = storetest.NewKey("acme")
	}
	if err := db.ImportKeys(b.Context(), keys); err != nil {
		b.Fatalf("ImportKeys: %v", err)
	}
	uses := make([]keyward.KeyUse, n)
	at := time.Now()
	for i, k := range keys {
		uses[i] = keyward.KeyUse{ID: k.ID, At: at}
	}
	slices.SortFunc(uses, func(a, b keyward.KeyUse) int { return cmp.Compare(a.ID, b.ID) })
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		off := (i * batch) % n
		if err := db.TouchKeys(b.Context(), uses[off:off+batch]); err != nil {
			b.Fatalf("TouchKeys: %v", err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/use")
}

// BenchmarkSpendCredits measures the durable write a verification of a
// key with credits makes: from one caller (a sync of the WAL each), and
// from 32 concurrent callers per CPU (64 on two, as the reference bench's
// connections), spending from a thousand keys or all from one, whose
// spends the committer batches.
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

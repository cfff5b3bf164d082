package redis_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/redistest"
)

// BenchmarkTake measures a verification's rate-limit check: in memory
// (one instance), and through Redis's leases, on one hot key and spread
// over 1,000 keys (each used a thousand times less often, so with
// smaller leases). Each first runs for a second, so that leases have
// grown to the load and the figures are those of a steady load. It
// reports Redis round trips per take.
func BenchmarkTake(b *testing.B) {
	limits := []keyward.RateLimit{{Name: "requests", Limit: keyward.MaxRateLimit, Duration: time.Hour}}
	now := time.Now()
	warmUp := func(b *testing.B, l keyward.RateLimiter, keys int64) {
		for end := time.Now().Add(time.Second); time.Now().Before(end); {
			for id := range keys {
				if _, ok, err := l.Take(context.Background(), keyward.KeyID(1+id), limits, 1, now); err != nil || !ok {
					b.Fatalf("Take: %v, %v", ok, err)
				}
			}
		}
	}
	run := func(b *testing.B, l keyward.RateLimiter, keys int64) {
		var n atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				id := keyward.KeyID(1 + n.Add(1)%keys)
				if _, ok, err := l.Take(ctx, id, limits, 1, now); err != nil || !ok {
					b.Errorf("Take: %v, %v", ok, err)
					return
				}
			}
		})
		b.StopTimer()
	}
	b.Run("memory/hot", func(b *testing.B) {
		l := keyward.NewMemoryRateLimiter()
		warmUp(b, l, 1)
		run(b, l, 1)
	})
	for _, bc := range []struct {
		name string
		keys int64
	}{
		{"redis/hot", 1},
		{"redis/keys=1000", 1000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			url := redistest.URL(b)
			l := newLimiter(b, url, redistest.Prefix(b, url))
			warmUp(b, l, bc.keys)
			before := l.Stats().RoundTrips
			run(b, l, bc.keys)
			b.ReportMetric(float64(l.Stats().RoundTrips-before)/float64(b.N), "roundtrips/op")
		})
	}
}

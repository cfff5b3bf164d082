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
// over many keys (each used less often, so with smaller leases). It
// reports Redis round trips per take.
func BenchmarkTake(b *testing.B) {
	limits := []keyward.RateLimit{{Name: "requests", Limit: keyward.MaxRateLimit, Duration: time.Hour}}
	run := func(b *testing.B, l keyward.RateLimiter, keys int64) {
		now := time.Now()
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
	}
	b.Run("memory/hot", func(b *testing.B) {
		run(b, keyward.NewMemoryRateLimiter(), 1)
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
			run(b, l, bc.keys)
			b.StopTimer()
			s := l.Stats()
			b.ReportMetric(float64(s.RoundTrips)/float64(b.N), "roundtrips/op")
		})
	}
}

package keycache

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// genStore answers KeyByHash from the hash alone, with no storage behind
// it, so that benchmarks measure the cache rather than SQLite: a hash whose
// last byte is even is a key, made up from the hash; an odd one is unknown.
// Only KeyByHash is implemented.
type genStore struct{ keyward.KeyStore }

func (genStore) KeyByHash(_ context.Context, h keyward.SecretHash) (*keyward.Key, error) {
	if h[31]&1 != 0 {
		return nil, keyward.Errorf(keyward.ENOTFOUND, "API key not found")
	}
	return genKey(h), nil
}

// benchHash returns the i-th hash of the benchmarks' keys, or of their
// unknown hashes.
func benchHash(i int, known bool) keyward.SecretHash {
	h := keyward.SecretHash(sha256.Sum256(binary.LittleEndian.AppendUint64(nil, uint64(i))))
	h[31] &^= 1
	if !known {
		h[31] |= 1
	}
	return h
}

// genKey returns a key with hash h, of the shape the service makes: an
// organization, a name, a hint and two permissions, so about as many
// pointers as a real record.
func genKey(h keyward.SecretHash) *keyward.Key {
	id := keyward.KeyID(binary.LittleEndian.Uint64(h[16:24])%(keyward.MaxKeyID-1) + 1)
	return &keyward.Key{
		ID:          id,
		OrgID:       keyward.OrgID("org-" + strconv.Itoa(int(h[24]))),
		Name:        "service key " + strconv.FormatInt(int64(id)%100_000, 10),
		Permissions: []keyward.Permission{keyward.PermRead, keyward.PermWrite},
		Hash:        h,
		Hint:        "kw_" + hex.EncodeToString(h[:2]) + "..." + hex.EncodeToString(h[2:4]),
		CreatedAt:   time.UnixMicro(1_700_000_000_000_000 + int64(id)%1_000_000_000_000).UTC(),
	}
}

// fill looks up n known hashes through c, from several goroutines, so
// that c caches them, and returns the hashes.
func fill(tb testing.TB, c *Store, n int) []keyward.SecretHash {
	tb.Helper()
	hashes := make([]keyward.SecretHash, n)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				hashes[i] = benchHash(i, true)
				if _, err := c.KeyByHash(context.Background(), hashes[i]); err != nil {
					tb.Errorf("KeyByHash: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}
	return hashes
}

// BenchmarkGetHit looks up random keys of a cache that holds all 100,000
// of them: the cost of a verification answered from memory.
func BenchmarkGetHit(b *testing.B) {
	const n = 100_000
	c := New(genStore{}, Options{Size: 2 * n, TTL: time.Hour, Unshared: true})
	hashes := fill(b, c, n)
	if s := c.Stats(); s.Entries != n {
		b.Fatalf("%d entries cached of %d", s.Entries, n)
	}
	misses := c.Stats().Misses
	b.Run("serial", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.KeyByHash(context.Background(), hashes[rng.IntN(n)]); err != nil {
				b.Fatalf("KeyByHash: %v", err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(rand.Uint64(), 2))
			for pb.Next() {
				if _, err := c.KeyByHash(context.Background(), hashes[rng.IntN(n)]); err != nil {
					b.Errorf("KeyByHash: %v", err)
					return
				}
			}
		})
	})
	if s := c.Stats(); s.Misses != misses {
		b.Errorf("%d misses while every key was cached", s.Misses-misses)
	}

	// For scale: the same lookups in a plain map of records behind a
	// mutex, copying the record out as the cache does.
	b.Run("map-baseline", func(b *testing.B) {
		var mu sync.Mutex
		m := make(map[keyward.SecretHash]*keyward.Key, n)
		for _, h := range hashes {
			m[h] = genKey(h)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		b.ReportAllocs()
		for b.Loop() {
			mu.Lock()
			k := *m[hashes[rng.IntN(n)]]
			mu.Unlock()
			k.Permissions = slices.Clone(k.Permissions)
			sink = &k
		}
	})
}

// limitedGenStore is genStore whose keys have a rate limit and credits
// with a refill, as a key of a metered plan would.
type limitedGenStore struct{ genStore }

func (s limitedGenStore) KeyByHash(ctx context.Context, h keyward.SecretHash) (*keyward.Key, error) {
	k, err := s.genStore.KeyByHash(ctx, h)
	if err == nil {
		k.RateLimits = []keyward.RateLimit{{Name: "requests", Limit: 100, Duration: time.Minute}}
		k.Credits = &keyward.Credits{Remaining: 10_000, RefilledAt: k.CreatedAt, Refill: &keyward.Refill{Amount: 10_000, Interval: keyward.RefillMonthly}}
	}
	return k, err
}

// BenchmarkGetHitLimited is BenchmarkGetHit's serial lookups of keys that
// each have a rate limit and credits: what reading them from the arena
// adds to a verification answered from memory.
func BenchmarkGetHitLimited(b *testing.B) {
	const n = 100_000
	c := New(limitedGenStore{}, Options{Size: 2 * n, TTL: time.Hour, Unshared: true})
	hashes := fill(b, c, n)
	misses := c.Stats().Misses
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		k, err := c.KeyByHash(context.Background(), hashes[rng.IntN(n)])
		if err != nil || k.Credits == nil {
			b.Fatalf("KeyByHash: %v, %v", k, err)
		}
	}
	if s := c.Stats(); s.Misses != misses {
		b.Errorf("%d misses while every key was cached", s.Misses-misses)
	}
}

// sink keeps a benchmark's result alive.
var sink *keyward.Key

// BenchmarkGetNegative looks up random hashes the cache remembers as
// unknown: the cost of refusing a made-up key that passed its checksum.
func BenchmarkGetNegative(b *testing.B) {
	const n = 1000
	c := New(genStore{}, Options{TTL: time.Hour, NegativeTTL: time.Hour, Unshared: true})
	hashes := make([]keyward.SecretHash, n)
	for i := range hashes {
		hashes[i] = benchHash(i, false)
		if _, err := c.KeyByHash(context.Background(), hashes[i]); keyward.ErrorCode(err) != keyward.ENOTFOUND {
			b.Fatalf("KeyByHash of an unknown hash: %v", err)
		}
	}
	loads := c.Stats().Loads
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 3))
		for pb.Next() {
			// errNotFound itself, not keyward.ErrorCode, whose errors.As
			// would allocate in the benchmark's own loop.
			if _, err := c.KeyByHash(context.Background(), hashes[rng.IntN(n)]); err != errNotFound {
				b.Errorf("KeyByHash of an unknown hash: %v", err)
				return
			}
		}
	})
	if s := c.Stats(); s.Loads != loads {
		b.Errorf("%d store lookups for remembered unknown hashes", s.Loads-loads)
	}
}

// BenchmarkGetMiss evicts a key and looks it up again: a lookup through
// singleflight to the (storage-free) store, and the put of its answer.
func BenchmarkGetMiss(b *testing.B) {
	c := New(genStore{}, Options{TTL: time.Hour, Unshared: true})
	h := benchHash(0, true)
	b.ReportAllocs()
	for b.Loop() {
		c.Invalidate(h)
		if _, err := c.KeyByHash(context.Background(), h); err != nil {
			b.Fatalf("KeyByHash: %v", err)
		}
	}
	if s := c.Stats(); s.Hits != 0 {
		b.Errorf("%d hits after evictions", s.Hits)
	}
}

// BenchmarkPut puts keys into a full shard: encoding, a CLOCK sweep for a
// slot, and now and then a compaction of the arena.
func BenchmarkPut(b *testing.B) {
	const capacity = 4096
	keys := make([]*keyward.Key, 4*capacity)
	for i := range keys {
		keys[i] = genKey(benchHash(i, true))
	}
	var sh shard
	sh.init(capacity, 1)
	for _, k := range keys[:capacity] {
		sh.put(k.Hash, k, never, 0)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sh.put(keys[i%len(keys)].Hash, keys[i%len(keys)], never, 0)
		i++
	}
	b.ReportMetric(float64(len(sh.arena))/float64(len(sh.arena)-sh.garbage), "arena/live")
}

// BenchmarkGCWithFullCache measures a full garbage collection with a
// million keys in memory: in the cache, and, as the baseline it replaces,
// as pointer-rich records in a map.
func BenchmarkGCWithFullCache(b *testing.B) {
	const n = 1_000_000
	b.Run("keycache", func(b *testing.B) {
		c := New(genStore{}, Options{Size: n, TTL: time.Hour, Unshared: true})
		fill(b, c, n)
		entries := c.Stats().Entries
		if entries < n*98/100 {
			b.Fatalf("%d entries cached of %d", entries, n)
		}
		measureGC(b, entries)
		runtime.KeepAlive(c)
	})
	b.Run("map", func(b *testing.B) {
		m := make(map[keyward.SecretHash]*keyward.Key, n)
		for i := range n {
			h := benchHash(i, true)
			m[h] = genKey(h)
		}
		measureGC(b, len(m))
		runtime.KeepAlive(m)
	})
}

// measureGC runs b.N full collections and reports the wall time and the
// CPU time each takes, with the size of the heap they walk.
func measureGC(b *testing.B, entries int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gcCPU := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(gcCPU)
	cpu := gcCPU[0].Value.Float64()
	var wall time.Duration
	for b.Loop() {
		start := time.Now()
		runtime.GC()
		wall += time.Since(start)
	}
	metrics.Read(gcCPU)
	cpu = gcCPU[0].Value.Float64() - cpu
	b.ReportMetric(float64(wall.Nanoseconds())/float64(b.N), "ns/GC")
	b.ReportMetric(cpu*1e9/float64(b.N), "gc-cpu-ns/GC")
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(ms.HeapObjects), "heap-objects")
	b.ReportMetric(float64(entries), "keys")
}

package keycache

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/keyward/keyward"
)

// never is an expiry no test reaches.
const never = int64(1) << 62

// randKey returns a key with random fields, each within what the compact
// encoding holds: sometimes a root key, a name of up to a few hundred bytes
// of mixed ASCII and non-ASCII text, a random subset of the permissions in
// random order; and the lifecycle's fields: metadata of up to a few hundred
// bytes (or none), a creator (or none), an expiry (or none), disabled or
// not, a version, a time of last change, and for about half of the keys a
// previous secret in its grace period; and for about a third of the keys
// rate limits, and for a third credits.
func randKey(rng *rand.Rand) *keyward.Key {
	k := &keyward.Key{
		ID:        keyward.KeyID(1 + rng.Int64N(keyward.MaxKeyID-1)),
		Hash:      randHash(rng),
		Hint:      "kw_" + randText(rng, 4, "abcXYZ019") + "..." + randText(rng, 4, "abcXYZ019"),
		CreatedAt: randTime(rng),
		UpdatedAt: randTime(rng),
		Disabled:  rng.IntN(4) == 0,
		Version:   1 + rng.Int64N(1<<40),
	}
	if rng.IntN(8) == 0 {
		k.Root = true
	} else {
		k.OrgID = keyward.OrgID(randText(rng, 1+rng.IntN(keyward.MaxOrgIDLen), "abcdefghijklmnopqrstuvwxyz0123456789.-_"))
	}
	k.Name = randText(rng, rng.IntN(120), "aé東🔑 z")
	for _, i := range rng.Perm(len(keyward.AllPermissions))[:rng.IntN(len(keyward.AllPermissions)+1)] {
		k.Permissions = append(k.Permissions, keyward.AllPermissions[i])
	}
	if rng.IntN(3) > 0 {
		k.Metadata = `{"k":"` + randText(rng, rng.IntN(150), "aé東🔑 z\\\"{}:,") + `"}`
	}
	switch rng.IntN(3) {
	case 0: // made before Keyward recorded it
	case 1:
		k.CreatedBy = "cli"
	default:
		k.CreatedBy = keyward.KeyID(1 + rng.Int64N(keyward.MaxKeyID-1)).String()
	}
	if rng.IntN(2) == 0 {
		t := randTime(rng)
		k.ExpiresAt = &t
	}
	if rng.IntN(2) == 0 {
		k.Previous = &keyward.PreviousSecret{Hash: randHash(rng), ExpiresAt: randTime(rng)}
	}
	if rng.IntN(3) == 0 {
		k.RateLimits = randLimits(rng, 1+rng.IntN(keyward.MaxRateLimits))
	}
	if rng.IntN(3) == 0 {
		k.Credits = randCredits(rng)
	}
	return k
}

// randLimits returns n rate limits with random names of 1 to 32
// characters, limits from 1 to keyward.MaxRateLimit (or, now and then,
// any int64), and durations of whole milliseconds up to 31 days (or any
// number of nanoseconds).
func randLimits(rng *rand.Rand, n int) []keyward.RateLimit {
	ls := make([]keyward.RateLimit, n)
	for i := range ls {
		ls[i] = keyward.RateLimit{
			Name:     randText(rng, 1+rng.IntN(keyward.MaxRateLimitNameLen), "abcdefghijklmnopqrstuvwxyz0123456789_.-"),
			Limit:    1 + rng.Int64N(keyward.MaxRateLimit),
			Duration: time.Duration(1+rng.Int64N(int64(keyward.MaxRateLimitDuration/time.Millisecond))) * time.Millisecond,
		}
		if rng.IntN(10) == 0 {
			ls[i].Limit, ls[i].Duration = int64(rng.Uint64()), time.Duration(rng.Uint64())
		}
	}
	return ls
}

// randCredits returns credits with a random remaining (0 now and then) set
// at a random time, refilled daily, monthly or never.
func randCredits(rng *rand.Rand) *keyward.Credits {
	c := &keyward.Credits{Remaining: rng.Int64N(keyward.MaxCredits + 1), RefilledAt: randTime(rng)}
	if rng.IntN(4) == 0 {
		c.Remaining = 0
	}
	switch rng.IntN(3) {
	case 0:
		c.Refill = &keyward.Refill{Amount: 1 + rng.Int64N(keyward.MaxCredits), Interval: keyward.RefillDaily}
	case 1:
		c.Refill = &keyward.Refill{Amount: 1 + rng.Int64N(keyward.MaxCredits), Interval: keyward.RefillMonthly}
	}
	return c
}

// randHash returns a random secret hash.
func randHash(rng *rand.Rand) keyward.SecretHash {
	var h keyward.SecretHash
	for i := 0; i < len(h); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			h[i+j] = byte(v >> (8 * j))
		}
	}
	return h
}

// randTime returns a random time to the microsecond, in UTC, as the cache
// gives times back.
func randTime(rng *rand.Rand) time.Time {
	return time.UnixMicro(rng.Int64N(4e15) - 1e15).UTC()
}

// lookupHash returns the hash k is to be cached under: for half of the keys
// with a previous secret, that secret's hash (the slot then holds k's own
// hash in the arena, after the permissions); otherwise k's own.
func lookupHash(rng *rand.Rand, k *keyward.Key) keyward.SecretHash {
	if k.Previous != nil && rng.IntN(2) == 0 {
		return k.Previous.Hash
	}
	return k.Hash
}

// randKeyUnder returns a random key that h finds: h is its secret's hash
// or, for about a third of them, its previous secret's.
func randKeyUnder(rng *rand.Rand, h keyward.SecretHash) *keyward.Key {
	k := randKey(rng)
	if rng.IntN(3) == 0 {
		k.Previous = &keyward.PreviousSecret{Hash: h, ExpiresAt: randTime(rng)}
	} else {
		k.Hash = h
	}
	return k
}

// randText returns n characters drawn from alphabet.
func randText(rng *rand.Rand, n int, alphabet string) string {
	runes := []rune(alphabet)
	var b strings.Builder
	for range n {
		b.WriteRune(runes[rng.IntN(len(runes))])
	}
	return b.String()
}

// describeKey prints every field of k, the hashes included.
func describeKey(k *keyward.Key) string {
	if k == nil {
		return "<nil>"
	}
	prev := "nil"
	if k.Previous != nil {
		prev = fmt.Sprintf("{Hash:%x ExpiresAt:%s}", k.Previous.Hash[:], k.Previous.ExpiresAt.Format(time.RFC3339Nano))
	}
	credits := "nil"
	if c := k.Credits; c != nil {
		refill := "nil"
		if c.Refill != nil {
			refill = fmt.Sprintf("%+v", *c.Refill)
		}
		credits = fmt.Sprintf("{Remaining:%d RefilledAt:%s Refill:%s}", c.Remaining, c.RefilledAt.Format(time.RFC3339Nano), refill)
	}
	return fmt.Sprintf("{ID:%d OrgID:%q Root:%v Name:%q Permissions:%#v Hash:%x Hint:%q CreatedAt:%s LastUsedAt:%v DeletedAt:%v "+
		"ExpiresAt:%v Disabled:%v Metadata:%q UpdatedAt:%s CreatedBy:%q Version:%d Previous:%s RateLimits:%#v Credits:%s}",
		k.ID, k.OrgID, k.Root, k.Name, k.Permissions, k.Hash[:], k.Hint, k.CreatedAt.Format(time.RFC3339Nano), k.LastUsedAt, k.DeletedAt,
		k.ExpiresAt, k.Disabled, k.Metadata, k.UpdatedAt.Format(time.RFC3339Nano), k.CreatedBy, k.Version, prev, k.RateLimits, credits)
}

// checkGet fails the test unless sh holds k under its own hash, intact.
func checkGet(t *testing.T, sh *shard, k *keyward.Key, now int64) {
	t.Helper()
	checkGetBy(t, sh, k.Hash, k, now)
}

// checkGetBy fails the test unless sh holds k under h (its secret's hash
// or its previous secret's), intact in every field.
func checkGetBy(t *testing.T, sh *shard, h keyward.SecretHash, k *keyward.Key, now int64) {
	t.Helper()
	got, found, known := sh.get(h, now)
	if !found || !known {
		t.Fatalf("get(%d) = found %v, known %v; want the key", k.ID, found, known)
	}
	if !reflect.DeepEqual(got, k) {
		t.Fatalf("get(%d):\ngot  %s\nwant %s", k.ID, describeKey(got), describeKey(k))
	}
}

// checkShard fails the test unless sh's structures agree with each other:
// the index maps each used slot's hash prefix to it and nothing else, the
// free list is exactly the unused slots, each used slot's text lies in the
// arena without overlapping another's, and the arena's garbage is all of
// it that no slot refers to.
func checkShard(t *testing.T, sh *shard) {
	t.Helper()
	if len(sh.slots) > cap(sh.slots) {
		t.Fatalf("%d slots, capacity %d", len(sh.slots), cap(sh.slots))
	}
	used, live := 0, 0
	type span struct{ off, end int }
	var spans []span
	for i := range sh.slots {
		s := &sh.slots[i]
		if s.flags&flagUsed == 0 {
			if *s != (slot{}) {
				t.Fatalf("unused slot %d is not zero: %+v", i, *s)
			}
			continue
		}
		used++
		live += s.size()
		if j, ok := sh.index.get(prefix(s.hash), sh.slots); !ok || j != int32(i) {
			t.Fatalf("used slot %d: index has %d, %v for its hash", i, j, ok)
		}
		if end := int(s.off) + s.size(); end > len(sh.arena) {
			t.Fatalf("slot %d's text [%d, %d) lies past the arena's %d bytes", i, s.off, end, len(sh.arena))
		}
		spans = append(spans, span{int(s.off), int(s.off) + s.size()})
	}
	if sh.index.len() != used {
		t.Fatalf("index has %d entries for %d used slots", sh.index.len(), used)
	}
	counted := 0
	sh.index.each(func(i int32) {
		counted++
		if i < 0 || int(i) >= len(sh.slots) || sh.slots[i].flags&flagUsed == 0 {
			t.Fatalf("index entry → %d names no used slot", i)
		}
		if got, ok := sh.index.get(prefix(sh.slots[i].hash), sh.slots); !ok || got != i {
			t.Fatalf("index entry → %d is not found by its slot's prefix (%d, %v)", i, got, ok)
		}
	})
	if counted != used {
		t.Fatalf("index holds %d entries, counts %d", counted, sh.index.len())
	}
	seen := make(map[int32]bool)
	for _, i := range sh.free {
		if i < 0 || int(i) >= len(sh.slots) || sh.slots[i].flags&flagUsed != 0 || seen[i] {
			t.Fatalf("free list %v: %d is out of range, used, or listed twice", sh.free, i)
		}
		seen[i] = true
	}
	if used+len(sh.free) != len(sh.slots) {
		t.Fatalf("%d used + %d free slots, of %d", used, len(sh.free), len(sh.slots))
	}
	if live != len(sh.arena)-sh.garbage {
		t.Fatalf("%d live bytes, but arena %d - garbage %d = %d", live, len(sh.arena), sh.garbage, len(sh.arena)-sh.garbage)
	}
	slices.SortFunc(spans, func(a, b span) int { return a.off - b.off })
	for i := 1; i < len(spans); i++ {
		if spans[i].off < spans[i-1].end {
			t.Fatalf("texts [%d, %d) and [%d, %d) overlap", spans[i-1].off, spans[i-1].end, spans[i].off, spans[i].end)
		}
	}
	if len(sh.neg) > sh.negCap {
		t.Fatalf("%d unknown hashes remembered, bound %d", len(sh.neg), sh.negCap)
	}
}

// pointerPaths returns where, in a value of type t, the garbage collector
// would find something to scan: a pointer, or a string, slice, map,
// interface, channel or func (each holds one). A uintptr is listed too:
// it hides a pointer from the collector rather than holding none.
func pointerPaths(t reflect.Type, path string) []string {
	switch t.Kind() {
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return nil
	case reflect.Array:
		if t.Len() == 0 {
			return nil
		}
		return pointerPaths(t.Elem(), path+"[]")
	case reflect.Struct:
		var paths []string
		for i := range t.NumField() {
			f := t.Field(i)
			paths = append(paths, pointerPaths(f.Type, path+"."+f.Name)...)
		}
		return paths
	default:
		return []string{fmt.Sprintf("%s (%s)", path, t.Kind())}
	}
}

// pointerPaths itself finds what it is meant to find.
func TestPointerPaths(t *testing.T) {
	//lint:ignore U1000 the fields are read through reflection, by pointerPaths
	type inner struct {
		n int64
		p *int
	}
	pointerful := []any{
		struct{ s string }{},
		struct{ b []byte }{},
		struct{ m map[int]int }{},
		struct{ i any }{},
		struct{ c chan int }{},
		struct{ f func() }{},
		struct{ p *int64 }{},
		struct{ u unsafe.Pointer }{},
		struct{ u uintptr }{},
		struct {
			a int64
			x [3]inner
		}{},
		struct{ e error }{},
		keyward.Key{},
	}
	for _, v := range pointerful {
		if paths := pointerPaths(reflect.TypeOf(v), "v"); len(paths) == 0 {
			t.Errorf("%T: no pointer found", v)
		}
	}
	pointerFree := []any{
		struct {
			h  keyward.SecretHash
			n  int64
			b  bool
			f  float64
			a  [4][2]uint16
			s  struct{ x, y int32 }
			z  [0]*int
			id keyward.KeyID
		}{},
	}
	for _, v := range pointerFree {
		if paths := pointerPaths(reflect.TypeOf(v), "v"); len(paths) != 0 {
			t.Errorf("%T: found %v", v, paths)
		}
	}
}

// A cached entry holds nothing the garbage collector must follow, nor do
// the index's entries or the negative map's keys and values: the
// collector's work per shard does not grow with the number of entries.
func TestEntriesArePointerFree(t *testing.T) {
	if paths := pointerPaths(reflect.TypeFor[slot](), "slot"); len(paths) != 0 {
		t.Errorf("slot holds pointers: %s", strings.Join(paths, ", "))
	}
	sh := reflect.TypeFor[shard]()
	for _, c := range []struct {
		field string
		kind  reflect.Kind
		types []reflect.Type // element, or key and value
	}{
		{"neg", reflect.Map, nil},
		{"slots", reflect.Slice, nil},
		{"free", reflect.Slice, nil},
		{"arena", reflect.Slice, nil},
	} {
		f, ok := sh.FieldByName(c.field)
		if !ok || f.Type.Kind() != c.kind {
			t.Fatalf("shard.%s: want a %s", c.field, c.kind)
		}
		if c.kind == reflect.Map {
			for _, p := range pointerPaths(f.Type.Key(), "shard."+c.field+" key") {
				t.Errorf("%s holds a pointer", p)
			}
		}
		for _, p := range pointerPaths(f.Type.Elem(), "shard."+c.field+" element") {
			t.Errorf("%s holds a pointer", p)
		}
	}
	if f, _ := sh.FieldByName("slots"); f.Type.Elem() != reflect.TypeFor[slot]() {
		t.Errorf("shard.slots holds %v, want slot", f.Type.Elem())
	}

	// The membership set and the index are each one slice of integers.
	if f, _ := reflect.TypeFor[memberSet]().FieldByName("table"); f.Type != reflect.TypeFor[[]uint64]() {
		t.Errorf("memberSet.table is %v, want []uint64", f.Type)
	}
	if f, _ := reflect.TypeFor[slotIndex]().FieldByName("table"); f.Type != reflect.TypeFor[[]uint64]() {
		t.Errorf("slotIndex.table is %v, want []uint64", f.Type)
	}
	if f, _ := sh.FieldByName("index"); f.Type != reflect.TypeFor[slotIndex]() {
		t.Errorf("shard.index is %v, want slotIndex", f.Type)
	}

	// Only those five fields of a shard, and the membership set, hold
	// pointers at all: another (a map, a slice of strings) would be
	// scanned too.
	var got []string
	for i := range sh.NumField() {
		f := sh.Field(i)
		if len(pointerPaths(f.Type, f.Name)) > 0 {
			got = append(got, f.Name)
		}
	}
	slices.Sort(got)
	if want := []string{"arena", "free", "index", "members", "neg", "slots"}; !slices.Equal(got, want) {
		t.Errorf("shard fields holding pointers: %v, want %v", got, want)
	}
}

// Under any mix of puts, replacements and removals, the arena stays within
// twice its live text (plus the slack compaction waits for), the shard's
// structures agree, and every cached key reads back as it was put.
func TestArenaStaysCompact(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			var sh shard
			sh.init(64, 16)
			model := make(map[keyward.SecretHash]*keyward.Key) // what sh should hold, by lookup hash
			var hashes []keyward.SecretHash                    // model's keys, for random picks
			forget := func(h keyward.SecretHash) {
				delete(model, h)
				i := slices.Index(hashes, h)
				hashes[i] = hashes[len(hashes)-1]
				hashes = hashes[:len(hashes)-1]
			}
			compactions, peak, byPrevious := 0, 0, 0
			for step := range 10_000 {
				arena := len(sh.arena)
				put := true
				switch r := rng.IntN(10); {
				case r < 6 || len(hashes) == 0: // a new key
					k := randKey(rng)
					h := lookupHash(rng, k)
					if !h.Equal(k.Hash) {
						byPrevious++
					}
					evicted := sh.put(h, k, never, 0)
					model[h] = k
					hashes = append(hashes, h)
					if evicted != (len(model) > cap(sh.slots)) {
						t.Fatalf("step %d: put reported eviction %v with %d keys in %d slots", step, evicted, len(model), cap(sh.slots))
					}
					for _, h := range slices.Clone(hashes) {
						if _, ok := sh.index.get(prefix(h), sh.slots); !ok {
							forget(h) // pushed out by the CLOCK
						}
					}
					checkGetBy(t, &sh, h, k, 0)
				case r < 8: // a removal
					put = false
					h := hashes[rng.IntN(len(hashes))]
					sh.remove(h)
					forget(h)
				default: // the same hash again, with other fields
					h := hashes[rng.IntN(len(hashes))]
					k := randKeyUnder(rng, h)
					if sh.put(h, k, never, 0) {
						t.Fatalf("step %d: replacing a cached key evicted another", step)
					}
					model[h] = k
					checkGetBy(t, &sh, h, k, 0)
				}
				checkShard(t, &sh)
				live := len(sh.arena) - sh.garbage
				switch {
				case put && len(sh.arena) > 2*live+4096:
					t.Fatalf("step %d: after a put, arena %d bytes for %d live", step, len(sh.arena), live)
				case !put && len(sh.arena) != arena:
					t.Fatalf("step %d: a removal changed the arena from %d to %d bytes", step, arena, len(sh.arena))
				}
				peak = max(peak, len(sh.arena))
				if len(model) != sh.index.len() {
					t.Fatalf("step %d: shard holds %d keys, want %d", step, sh.index.len(), len(model))
				}
				// Every key reads back, right after each compaction moved
				// them all, and now and then besides.
				if compacted := len(sh.arena) < arena; compacted || step%50 == 0 {
					if compacted {
						compactions++
					}
					for h, k := range model {
						checkGetBy(t, &sh, h, k, 0)
					}
				}
			}
			if compactions == 0 {
				t.Fatal("the arena was never compacted: the test proves nothing")
			}
			if byPrevious == 0 {
				t.Fatal("no key was cached under its previous secret's hash: the test proves nothing of it")
			}
			t.Logf("%d compactions, arena peak %d bytes, %d keys cached under a previous secret", compactions, peak, byPrevious)
		})
	}
}

// Right after a put, the arena is within twice its live text plus 4096
// bytes, however much was removed before.
func TestArenaBoundAfterPut(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var sh shard
	sh.init(512, 1)
	type entry struct {
		h keyward.SecretHash // what k is cached under
		k *keyward.Key
	}
	var entries []entry
	for range 512 {
		k := randKey(rng)
		k.Name = strings.Repeat("名", 100)
		h := lookupHash(rng, k)
		sh.put(h, k, never, 0)
		entries = append(entries, entry{h, k})
	}
	for _, e := range entries[:500] {
		sh.remove(e.h)
	}
	k := randKey(rng)
	h := lookupHash(rng, k)
	sh.put(h, k, never, 0)
	entries = append(entries[500:], entry{h, k})
	checkShard(t, &sh)
	if live := len(sh.arena) - sh.garbage; len(sh.arena) > 2*live+4096 {
		t.Fatalf("arena %d bytes for %d live", len(sh.arena), live)
	}
	for _, e := range entries {
		checkGetBy(t, &sh, e.h, e.k, 0)
	}
}

// Two hashes with the same 8-byte prefix (the index's key) never leave a
// slot the index has lost track of, and never answer for each other.
func TestPrefixCollision(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	var sh shard
	sh.init(8, 8)
	a, b := randKey(rng), randKey(rng)
	copy(b.Hash[:8], a.Hash[:8])
	sh.put(a.Hash, a, never, 0)
	checkShard(t, &sh)
	sh.put(b.Hash, b, never, 0)
	checkShard(t, &sh)
	checkGet(t, &sh, b, 0)
	if k, found, _ := sh.get(a.Hash, 0); found {
		t.Fatalf("get(a) = %s; a was pushed out by b, which shares its prefix", describeKey(k))
	}
	sh.remove(a.Hash) // not cached: must not touch b
	checkShard(t, &sh)
	checkGet(t, &sh, b, 0)

	// Around the CLOCK a few times, with collisions among the newcomers,
	// some cached under their previous secret's hash.
	hashes, keys := []keyward.SecretHash{b.Hash}, []*keyward.Key{b}
	for i := range 40 {
		k := randKey(rng)
		h := &k.Hash
		if lookupHash(rng, k) != k.Hash {
			h = &k.Previous.Hash
		}
		if i%3 == 0 {
			copy(h[:8], hashes[rng.IntN(len(hashes))][:8])
		}
		sh.put(*h, k, never, 0)
		hashes, keys = append(hashes, *h), append(keys, k)
		checkShard(t, &sh)
		for j, k := range keys {
			if got, found, _ := sh.get(hashes[j], 0); found && !reflect.DeepEqual(got, k) {
				t.Fatalf("get(%d):\ngot  %s\nwant %s", k.ID, describeKey(got), describeKey(k))
			}
		}
	}
	sh.remove(hashes[len(hashes)-1])
	checkShard(t, &sh)
}

// The CLOCK gives a used entry a second chance, but not an expired one;
// get drops an expired entry.
func TestSweep(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	var sh shard
	sh.init(3, 1)
	a, b, c, d, e := randKey(rng), randKey(rng), randKey(rng), randKey(rng), randKey(rng)
	// b and d are cached under their previous secrets' hashes.
	for _, k := range []*keyward.Key{b, d} {
		if k.Previous == nil {
			k.Previous = &keyward.PreviousSecret{Hash: randHash(rng), ExpiresAt: randTime(rng)}
		}
	}
	bh, dh := b.Previous.Hash, d.Previous.Hash
	sh.put(a.Hash, a, 100, 0)
	sh.put(bh, b, never, 0)
	sh.put(c.Hash, c, never, 0)
	checkGet(t, &sh, a, 50) // a and b used
	checkGetBy(t, &sh, bh, b, 50)
	if !sh.put(dh, d, never, 60) { // a, b get a second chance; c goes
		t.Fatal("put into a full shard reported no eviction")
	}
	checkShard(t, &sh)
	if _, found, _ := sh.get(c.Hash, 60); found {
		t.Fatal("c, the one entry not used, survived")
	}
	checkGet(t, &sh, a, 60)
	// a is used again, but has expired by the time e needs a slot.
	sh.put(e.Hash, e, never, 200)
	checkShard(t, &sh)
	if _, found, _ := sh.get(a.Hash, 200); found {
		t.Fatal("a survived its expiry")
	}
	checkGetBy(t, &sh, bh, b, 200)
	checkGetBy(t, &sh, dh, d, 200)
	checkGet(t, &sh, e, 200)

	// get drops what has expired, and says nothing is known of it.
	sh.put(a.Hash, a, 300, 200)
	if _, found, known := sh.get(a.Hash, 300); found || known {
		t.Fatalf("get of an expired entry = found %v, known %v", found, known)
	}
	checkShard(t, &sh)
	if _, ok := sh.index.get(prefix(a.Hash), sh.slots); ok {
		t.Fatal("an expired entry stayed indexed after get")
	}
}

// The shards' capacities add up to Size and NegativeSize exactly, so the
// bounds hold for the cache as a whole.
func TestShardCapacities(t *testing.T) {
	for _, size := range []int{1, 100, 511, 512, 515, 1030, 4097, 100_000, 1_000_003} {
		for _, negSize := range []int{0, 1, 7, 100, 1000, 25_001} {
			c := New(nil, Options{Size: size, NegativeSize: negSize})
			wantNeg := negSize
			if negSize == 0 {
				wantNeg = max(size/4, 1)
			}
			slots, neg := 0, 0
			for i := range c.shards {
				sh := &c.shards[i]
				if cap(sh.slots) < 1 {
					t.Fatalf("Size %d: shard %d of %d has no slot", size, i, len(c.shards))
				}
				slots += cap(sh.slots)
				neg += sh.negCap
			}
			if slots != size || neg != wantNeg {
				t.Errorf("Size %d, NegativeSize %d: %d shards of %d slots and %d unknown hashes in all; want %d and %d",
					size, negSize, len(c.shards), slots, neg, size, wantNeg)
			}
		}
	}
}

// A shard whose share of NegativeSize is nothing remembers nothing.
func TestZeroNegativeCapacity(t *testing.T) {
	var sh shard
	sh.init(1, 0)
	sh.putNegative(keyward.SecretHash{1}, never)
	if len(sh.neg) != 0 {
		t.Fatalf("a shard with no room for unknown hashes remembers %d", len(sh.neg))
	}
	sh.init(1, 2)
	for i := range 10 {
		sh.putNegative(keyward.SecretHash{byte(i)}, never)
		checkShard(t, &sh)
	}
	if len(sh.neg) != 2 {
		t.Fatalf("%d unknown hashes remembered, want 2", len(sh.neg))
	}
}

// Slot offsets are 32 bits: a put that would take the arena past them is
// not cached (and the shard stays sound) rather than wrapping an offset
// into another key's text.
func TestArenaLimit(t *testing.T) {
	defer func(old int) { maxArena = old }(maxArena)
	maxArena = 10_000
	rng := rand.New(rand.NewPCG(3, 3))
	var sh shard
	sh.init(100, 1)
	var cached, refused int
	for range 200 {
		k := randKey(rng)
		k.Name = strings.Repeat("x", 200+rng.IntN(200))
		h := lookupHash(rng, k)
		before := sh.index.len()
		sh.put(h, k, never, 0)
		checkShard(t, &sh)
		if len(sh.arena) > maxArena {
			t.Fatalf("arena grew to %d bytes, limit %d", len(sh.arena), maxArena)
		}
		if _, found, _ := sh.get(h, 0); found {
			cached++
			checkGetBy(t, &sh, h, k, 0)
		} else {
			refused++
			if sh.index.len() != before {
				t.Fatalf("a refused key changed the entry count from %d to %d", before, sh.index.len())
			}
		}
	}
	if cached == 0 || refused == 0 {
		t.Fatalf("%d keys cached, %d refused: want some of each", cached, refused)
	}
}

// notCarried are the Key fields the cache deliberately does not keep: a
// key's last use is the store's to report (the cache returns none), and
// only live keys are cached. Every other field must come back from the
// cache as it went in: a field added to keyward.Key fails here until the
// slot carries it (or it is added to this list, with its reason).
var notCarried = map[string]bool{"LastUsedAt": true, "DeletedAt": true}

// TestEveryKeyFieldRoundTrips fills every field of a Key by reflection,
// with a value of its type that is not the zero value, and checks that a
// lookup answered from the cache gives each field back.
func TestEveryKeyFieldRoundTrips(t *testing.T) {
	var k keyward.Key
	v := reflect.ValueOf(&k).Elem()
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if !fillValue(f) {
			t.Fatalf("Key.%s: the test cannot fill a field of type %s; teach fillValue", sf.Name, sf.Type)
		}
	}
	// What the cache's encoding requires of a real key.
	k.OrgID, k.Root, k.Permissions = "acme", false, []keyward.Permission{keyward.PermWrite, keyward.PermRead}
	k.ID, k.CreatedAt = 12345, time.UnixMicro(1_700_000_000_123_456).UTC()

	// Through the cache as a request goes: a miss loads and caches the
	// key; the second lookup is a hit, built from the cache's slot.
	c := New(oneKeyStore{k: &k}, Options{Unshared: true})
	if _, err := c.KeyByHash(t.Context(), k.Hash); err != nil {
		t.Fatalf("KeyByHash (miss): %v", err)
	}
	got, err := c.KeyByHash(t.Context(), k.Hash)
	if err != nil {
		t.Fatalf("KeyByHash (hit): %v", err)
	}
	if st := c.Stats(); st.Hits != 1 {
		t.Fatalf("Stats %+v: the second lookup was not a hit", st)
	}
	gv := reflect.ValueOf(got).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if notCarried[name] {
			if !gv.Field(i).IsZero() {
				t.Errorf("Key.%s came back from the cache (%v): it is meant not to be carried", name, gv.Field(i))
			}
			continue
		}
		if !reflect.DeepEqual(gv.Field(i).Interface(), v.Field(i).Interface()) {
			t.Errorf("Key.%s = %v from the cache, want %v: the slot does not carry it", name, gv.Field(i), v.Field(i))
		}
	}
}

// oneKeyStore answers KeyByHash with its key, whatever the hash.
type oneKeyStore struct {
	keyward.KeyStore
	k *keyward.Key
}

func (s oneKeyStore) KeyByHash(context.Context, keyward.SecretHash) (*keyward.Key, error) {
	k := *s.k
	return &k, nil
}

// fillValue sets f to a value of its type that is not zero, and reports whether
// it knows how.
func fillValue(f reflect.Value) bool {
	switch f.Kind() {
	case reflect.String:
		f.SetString("x-" + f.Type().Name())
	case reflect.Bool:
		f.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f.SetUint(7)
	case reflect.Array:
		for i := range f.Len() {
			if !fillValue(f.Index(i)) {
				return false
			}
			f.Index(i).SetUint(uint64(i + 1))
		}
	case reflect.Slice:
		s := reflect.MakeSlice(f.Type(), 1, 1)
		if !fillValue(s.Index(0)) {
			return false
		}
		f.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(f.Type())
		key, val := reflect.New(f.Type().Key()).Elem(), reflect.New(f.Type().Elem()).Elem()
		if !fillValue(key) || !fillValue(val) {
			return false
		}
		m.SetMapIndex(key, val)
		f.Set(m)
	case reflect.Pointer:
		p := reflect.New(f.Type().Elem())
		if !fillValue(p.Elem()) {
			return false
		}
		f.Set(p)
	case reflect.Struct:
		if f.Type() == reflect.TypeFor[time.Time]() {
			f.Set(reflect.ValueOf(time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC)))
			return true
		}
		for i := range f.NumField() {
			if !f.Field(i).CanSet() || !fillValue(f.Field(i)) {
				return false
			}
		}
	default:
		return false
	}
	return true
}

// A cached key's rate limits and credits come back exactly, in every
// combination: none, limits alone, credits alone (with or without a
// refill), both, the most limits a key may have with the longest names,
// values at the ends of their types, times before 1970, and cached under
// its previous secret's hash (the arena then holds its own hash before its
// limits).
func TestLimitsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	at := time.Date(1969, 7, 20, 20, 17, 40, 123456000, time.UTC)
	many := make([]keyward.RateLimit, keyward.MaxRateLimits)
	for i := range many {
		many[i] = keyward.RateLimit{Name: fmt.Sprintf("%s%02d", strings.Repeat("x", keyward.MaxRateLimitNameLen-2), i), Limit: keyward.MaxRateLimit, Duration: keyward.MaxRateLimitDuration}
	}
	tests := []struct {
		name    string
		limits  []keyward.RateLimit
		credits *keyward.Credits
	}{
		{"neither", nil, nil},
		{"one limit", []keyward.RateLimit{{Name: "requests", Limit: 100, Duration: time.Minute}}, nil},
		{"the most limits, the longest names", many, nil},
		{"limits at the ends of int64", []keyward.RateLimit{
			{Name: "max", Limit: math.MaxInt64, Duration: math.MaxInt64},
			{Name: "min", Limit: math.MinInt64, Duration: math.MinInt64},
			{Name: "zero"},
			{Name: strings.Repeat("é", 127), Limit: -1, Duration: 1},
		}, nil},
		{"credits alone", nil, &keyward.Credits{Remaining: 0, RefilledAt: at}},
		{"credits refilled daily", nil, &keyward.Credits{Remaining: 5, RefilledAt: at, Refill: &keyward.Refill{Amount: 10, Interval: keyward.RefillDaily}}},
		{"credits refilled monthly, the most", nil, &keyward.Credits{Remaining: keyward.MaxCredits, RefilledAt: at, Refill: &keyward.Refill{Amount: keyward.MaxCredits, Interval: keyward.RefillMonthly}}},
		{"credits at the ends of int64", nil, &keyward.Credits{Remaining: math.MinInt64, RefilledAt: time.UnixMicro(math.MaxInt64).UTC(), Refill: &keyward.Refill{Amount: math.MaxInt64, Interval: ""}}},
		{"both", many[:3], &keyward.Credits{Remaining: 1, RefilledAt: at, Refill: &keyward.Refill{Amount: 1, Interval: keyward.RefillMonthly}}},
	}
	var sh shard
	sh.init(2*len(tests), 1)
	for _, tt := range tests {
		for _, byPrevious := range []bool{false, true} {
			k := randKey(rng)
			k.RateLimits, k.Credits = tt.limits, tt.credits
			h := k.Hash
			if byPrevious {
				k.Previous = &keyward.PreviousSecret{Hash: randHash(rng), ExpiresAt: at}
				h = k.Previous.Hash
			}
			sh.put(h, k, never, 0)
			checkShard(t, &sh)
			t.Run(fmt.Sprintf("%s/byPrevious=%v", tt.name, byPrevious), func(t *testing.T) { checkGetBy(t, &sh, h, k, 0) })
		}
	}
	// After a compaction moves every entry, each still reads back whole.
	sh.compact(maxArena)
	checkShard(t, &sh)
}

// A key with more rate limits, or a longer limit name or refill interval,
// than the encoding's one-byte lengths hold is not cached, and the shard
// stays sound.
func TestUnencodableLimits(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	for name, change := range map[string]func(k *keyward.Key){
		"256 limits": func(k *keyward.Key) { k.RateLimits = randLimits(rng, 256) },
		"a name of 256 bytes": func(k *keyward.Key) {
			k.RateLimits = []keyward.RateLimit{{Name: strings.Repeat("n", 256), Limit: 1, Duration: time.Second}}
		},
		"an interval of 256 bytes": func(k *keyward.Key) {
			k.Credits = &keyward.Credits{Refill: &keyward.Refill{Amount: 1, Interval: keyward.RefillInterval(strings.Repeat("i", 256))}}
		},
	} {
		var sh shard
		sh.init(4, 1)
		k := randKey(rng)
		change(k)
		sh.put(k.Hash, k, never, 0)
		checkShard(t, &sh)
		if got, found, _ := sh.get(k.Hash, 0); found {
			t.Errorf("%s: cached as %s", name, describeKey(got))
		}
	}
}

// A slot stays 88 bytes: the times most keys lack (an expiry, the end of
// a grace period) live in the arena. At a million cached keys, each byte
// more is a megabyte more.
func TestSlotSize(t *testing.T) {
	if got := unsafe.Sizeof(slot{}); got > 88 {
		t.Errorf("a slot takes %d bytes, more than 88", got)
	}
}

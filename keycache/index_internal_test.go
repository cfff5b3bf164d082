package keycache

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// The index agrees with a map under random sets and deletes of prefixes
// whose tags collide on purpose: few distinct tags, many homes at the
// table's end, so that runs wrap around and deletes shift entries back
// across the wrap.
func TestSlotIndexAgreesWithAMap(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		rng := rand.New(rand.NewPCG(seed, seed))
		const nslots = 512
		slots := make([]slot, nslots)
		var x slotIndex
		model := make(map[uint64]int32)
		free := make([]int32, 0, nslots)
		for i := nslots - 1; i >= 0; i-- {
			free = append(free, int32(i))
		}
		newPrefix := func() uint64 {
			// Tags 0..7 and 0xffffffff..: homes crowd the table's start and end.
			tag := uint64(rng.IntN(8))
			if rng.IntN(2) == 0 {
				tag = 0xffffffff - tag
			}
			return tag<<32 | uint64(rng.Uint32())
		}
		check := func(step int) {
			t.Helper()
			if x.len() != len(model) {
				t.Fatalf("seed %d step %d: len %d, want %d", seed, step, x.len(), len(model))
			}
			for p, i := range model {
				if got, ok := x.get(p, slots); !ok || got != i {
					t.Fatalf("seed %d step %d: get(%x) = %d, %v; want %d", seed, step, p, got, ok, i)
				}
			}
			for range 8 {
				if p := newPrefix(); model[p] == 0 {
					if _, ok := model[p]; !ok {
						if got, ok := x.get(p, slots); ok {
							t.Fatalf("seed %d step %d: get(%x) of an absent prefix = %d", seed, step, p, got)
						}
					}
				}
			}
		}
		for step := range 20_000 {
			if len(free) > 0 && (len(model) == 0 || rng.IntN(3) > 0) {
				p := newPrefix()
				if _, ok := model[p]; ok {
					continue
				}
				i := free[len(free)-1]
				free = free[:len(free)-1]
				binary.LittleEndian.PutUint64(slots[i].hash[:8], p)
				x.set(p, i)
				model[p] = i
			} else {
				var p uint64
				for q := range model { // any one
					p = q
					break
				}
				i := model[p]
				x.del(p, slots)
				delete(model, p)
				slots[i] = slot{}
				free = append(free, i)
			}
			if step%97 == 0 {
				check(step)
			}
		}
		check(-1)
	}
}

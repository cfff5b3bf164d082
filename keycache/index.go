package keycache

// slotIndex maps a hash prefix (the first 8 bytes of a secret hash) to the
// slot that holds it: open addressing with linear probing over one slice
// of uint64, in place of a Go map, which costs about 36 bytes an entry
// (its groups, control bytes and load factor); this costs 8 to 16.
// Entries are pointer-free, as the map's were.
//
// An entry is the prefix's upper 32 bits (its tag) and the slot's number
// plus one (0 is an empty place). Its place is chosen by the tag, so that
// the table can be grown and its entries shifted on a delete without
// reading a slot; a lookup whose tag matches reads the slot to compare the
// whole prefix. Deletes shift the entries that follow back (no
// tombstones), so a lookup ends at the first empty place.
type slotIndex struct {
	table []uint64 // len is 0 or a power of two
	n     int
}

// minIndexTable is the size of an index's first table.
const minIndexTable = 16

func indexEntry(p uint64, i int32) uint64 { return p>>32<<32 | uint64(uint32(i+1)) }

func entrySlot(e uint64) int32 { return int32(uint32(e)) - 1 }

// home is where an entry with tag bits e (an entry or a prefix) belongs.
func (x *slotIndex) home(e uint64) int { return int(e>>32) & (len(x.table) - 1) }

// find returns the place of prefix p's entry, or -1.
func (x *slotIndex) find(p uint64, slots []slot) int {
	if x.n == 0 {
		return -1
	}
	mask := len(x.table) - 1
	tag := p >> 32
	for j := x.home(p); ; j = (j + 1) & mask {
		e := x.table[j]
		if e == 0 {
			return -1
		}
		if e>>32 == tag && prefix(slots[entrySlot(e)].hash) == p {
			return j
		}
	}
}

// get returns the slot of prefix p.
func (x *slotIndex) get(p uint64, slots []slot) (int32, bool) {
	if j := x.find(p, slots); j >= 0 {
		return entrySlot(x.table[j]), true
	}
	return 0, false
}

// set points prefix p at slot i, whose hash must have prefix p. p must not
// be in the index (put drops the slot it had first).
func (x *slotIndex) set(p uint64, i int32) {
	if 4*(x.n+1) > 3*len(x.table) {
		x.grow()
	}
	mask := len(x.table) - 1
	j := x.home(p)
	for x.table[j] != 0 {
		j = (j + 1) & mask
	}
	x.table[j] = indexEntry(p, i)
	x.n++
}

// del removes prefix p, if it is there.
func (x *slotIndex) del(p uint64, slots []slot) {
	j := x.find(p, slots)
	if j < 0 {
		return
	}
	mask := len(x.table) - 1
	// Shift back each following entry that its home allows to move into
	// the hole, until an empty place.
	for k := (j + 1) & mask; x.table[k] != 0; k = (k + 1) & mask {
		h := x.home(x.table[k])
		// The entry at k may move to j unless its home lies cyclically in
		// (j, k].
		if (j < k && (h <= j || h > k)) || (j > k && h <= j && h > k) {
			x.table[j] = x.table[k]
			j = k
		}
	}
	x.table[j] = 0
	x.n--
}

// grow doubles the table.
func (x *slotIndex) grow() {
	old := x.table
	x.table = make([]uint64, max(minIndexTable, 2*len(old)))
	mask := len(x.table) - 1
	for _, e := range old {
		if e == 0 {
			continue
		}
		j := x.home(e)
		for x.table[j] != 0 {
			j = (j + 1) & mask
		}
		x.table[j] = e
	}
}

// len is the number of entries.
func (x *slotIndex) len() int { return x.n }

// reset empties the index, keeping its table.
func (x *slotIndex) reset() {
	clear(x.table)
	x.n = 0
}

// each calls f with each entry's slot (for tests and checks).
func (x *slotIndex) each(f func(i int32)) {
	for _, e := range x.table {
		if e != 0 {
			f(entrySlot(e))
		}
	}
}

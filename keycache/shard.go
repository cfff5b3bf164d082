package keycache

import (
	"encoding/binary"
	"math"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

// shard is one lock's worth of the cache. Nothing in it but its slices
// and one map holds a pointer, so the garbage collector's work does
// not grow with the number of entries.
type shard struct {
	mu sync.Mutex
	// gen counts the shard's invalidations (Invalidate, Reset); a load caches
	// its answer only if gen has not moved since it began. Per shard, so
	// that a create or delete does not stop loads elsewhere being cached.
	gen   uint64
	index slotIndex // hash prefix → slot (index.go)
	slots []slot    // at most cap(slots) entries
	free  []int32   // unused slots below len(slots)
	hand  int       // the CLOCK hand

	// arena holds each entry's variable part (see slot.text).
	arena   []byte
	garbage int // bytes of arena no slot refers to

	neg    map[keyward.SecretHash]int64 // unknown hash → expiry
	negCap int

	// members is the shard's part of the membership set (members.go):
	// neither reset nor Reset empties it.
	members memberSet
}

// slot is one cached key, fixed-size and pointer-free. hash is the hash
// the key was looked up by: its secret's or, during a grace period, its
// previous secret's (flagByPrevious); the other one, if the key has both,
// is in the arena.
type slot struct {
	hash      keyward.SecretHash
	id        int64
	created   int64 // unix microseconds
	updated   int64 // unix microseconds
	version   int64
	expires   int64 // Store.now nanoseconds: when the entry goes stale
	off       uint32
	nameLen   uint16
	metaLen   uint16
	limitsLen uint16 // rate limits and credits, encoded (see appendLimits)
	orgLen    uint8
	hintLen   uint8
	byLen     uint8
	permLen   uint8
	flags     uint8
}

const (
	flagUsed       = 1 << iota // the slot holds a key
	flagRoot                   // the key is a root key
	flagRef                    // used since the CLOCK hand last passed
	flagDisabled               // the key is disabled
	flagExpiry                 // the key has an expiry, in the arena
	flagPrevious               // the key has a previous secret; the other hash and the grace period's end are in the arena
	flagByPrevious             // hash is the previous secret's; the arena holds the current one
)

// The arena holds, per slot, in this order: organization, name, hint,
// created-by and metadata (one string when materialized), one byte per
// permission (its index in keyward.AllPermissions), with flagPrevious the
// key's other hash and the end of its grace period (unix microseconds,
// 8 bytes), with flagExpiry the key's expiry (likewise), and the key's
// rate limits and credits (limitsLen bytes, none for a key without
// either). The times that most keys lack live there rather than in every
// slot: 16 bytes a slot, 16 MB at a million keys.
const timeLen = 8

func (s *slot) text() int {
	return int(s.orgLen) + int(s.nameLen) + int(s.hintLen) + int(s.byLen) + int(s.metaLen)
}

func (s *slot) size() int {
	n := s.text() + int(s.permLen) + int(s.limitsLen)
	if s.flags&flagPrevious != 0 {
		n += len(keyward.SecretHash{}) + timeLen
	}
	if s.flags&flagExpiry != 0 {
		n += timeLen
	}
	return n
}

func (sh *shard) init(capacity, negCap int) {
	sh.index = slotIndex{}
	sh.slots = make([]slot, 0, capacity)
	sh.free = nil
	sh.hand = 0
	sh.arena = nil
	sh.garbage = 0
	sh.neg = make(map[keyward.SecretHash]int64)
	sh.negCap = negCap
}

// reset empties the shard in place, keeping its memory: a purge of a full
// cache must not allocate a second one while the first awaits collection.
func (sh *shard) reset() {
	sh.index.reset()
	sh.slots = sh.slots[:0]
	sh.free = sh.free[:0]
	sh.hand = 0
	sh.arena = sh.arena[:0]
	sh.garbage = 0
	clear(sh.neg)
}

// get returns the cached key for h (found), or whether h is remembered as
// unknown (known without found). Expired entries are dropped on the way.
func (sh *shard) get(h keyward.SecretHash, now int64) (k *keyward.Key, found, known bool) {
	if i, ok := sh.index.get(prefix(h), sh.slots); ok {
		s := &sh.slots[i]
		if s.hash.Equal(h) {
			if now < s.expires {
				s.flags |= flagRef
				return sh.materialize(s), true, true
			}
			sh.drop(i)
		}
	}
	if exp, ok := sh.neg[h]; ok {
		if now < exp {
			return nil, false, true
		}
		delete(sh.neg, h)
	}
	return nil, false, false
}

// materialize builds a Key from slot s: one allocation for its text and
// one for its permissions, and one each for an expiry and a previous
// secret where the key has them.
func (sh *shard) materialize(s *slot) *keyward.Key {
	text := s.text()
	b := sh.arena[s.off : int(s.off)+s.size()]
	str := string(b[:text])
	o := int(s.orgLen)
	n := o + int(s.nameLen)
	h := n + int(s.hintLen)
	by := h + int(s.byLen)
	var perms []keyward.Permission // nil for none, as the store gives it
	if s.permLen > 0 {
		perms = make([]keyward.Permission, s.permLen)
		for j, p := range b[text : text+int(s.permLen)] {
			perms[j] = keyward.AllPermissions[p]
		}
	}
	k := &keyward.Key{
		ID:          keyward.KeyID(s.id),
		OrgID:       keyward.OrgID(str[:o]),
		Root:        s.flags&flagRoot != 0,
		Name:        str[o:n],
		Permissions: perms,
		Hash:        s.hash,
		Hint:        str[n:h],
		CreatedAt:   time.UnixMicro(s.created).UTC(),
		Disabled:    s.flags&flagDisabled != 0,
		Metadata:    str[by:],
		UpdatedAt:   time.UnixMicro(s.updated).UTC(),
		CreatedBy:   str[h:by],
		Version:     s.version,
	}
	at := text + int(s.permLen)
	if s.flags&flagPrevious != 0 {
		var other keyward.SecretHash
		at += copy(other[:], b[at:])
		graceEnd := int64(binary.LittleEndian.Uint64(b[at:]))
		at += timeLen
		k.Previous = &keyward.PreviousSecret{Hash: other, ExpiresAt: time.UnixMicro(graceEnd).UTC()}
		if s.flags&flagByPrevious != 0 {
			k.Hash, k.Previous.Hash = other, s.hash
		}
	}
	if s.flags&flagExpiry != 0 {
		t := time.UnixMicro(int64(binary.LittleEndian.Uint64(b[at:]))).UTC()
		k.ExpiresAt = &t
	}
	if s.limitsLen > 0 {
		readLimits(b[len(b)-int(s.limitsLen):], k)
	}
	return k
}

// maxArena bounds a shard's arena, whose offsets are 32 bits. It is a
// variable so that a test can make it small.
var maxArena = min(math.MaxUint32, math.MaxInt)

// put caches k, looked up by h, until expires, and reports whether it
// pushed another key out to make room. A key that cannot be encoded, or
// that h is not a hash of, is not cached.
func (sh *shard) put(h keyward.SecretHash, k *keyward.Key, expires, now int64) (evicted bool) {
	// Whatever is cached for this hash is older than k: forget it, even if
	// k itself cannot be cached.
	sh.remove(h)
	byPrevious := !k.Hash.Equal(h)
	if byPrevious && (k.Previous == nil || !k.Previous.Hash.Equal(h)) {
		return false
	}
	if len(k.OrgID) > math.MaxUint8 || len(k.Hint) > math.MaxUint8 || len(k.Name) > math.MaxUint16 ||
		len(k.Permissions) > math.MaxUint8 || len(k.CreatedBy) > math.MaxUint8 || len(k.Metadata) > math.MaxUint16 {
		return false
	}
	for _, p := range k.Permissions {
		if permIndex(p) < 0 {
			return false
		}
	}
	limitsLen, ok := limitsSize(k)
	if !ok {
		return false
	}
	flags := uint8(flagUsed)
	if k.Root {
		flags |= flagRoot
	}
	if k.Disabled {
		flags |= flagDisabled
	}
	var keyExpires, graceEnd int64
	if k.ExpiresAt != nil {
		flags |= flagExpiry
		keyExpires = k.ExpiresAt.UnixMicro()
	}
	if k.Previous != nil {
		flags |= flagPrevious
		graceEnd = k.Previous.ExpiresAt.UnixMicro()
		if byPrevious {
			flags |= flagByPrevious
		}
	}
	ns := slot{
		hash:      h,
		id:        int64(k.ID),
		created:   k.CreatedAt.UnixMicro(),
		updated:   k.UpdatedAt.UnixMicro(),
		version:   k.Version,
		expires:   expires,
		nameLen:   uint16(len(k.Name)),
		metaLen:   uint16(len(k.Metadata)),
		limitsLen: uint16(limitsLen),
		orgLen:    uint8(len(k.OrgID)),
		hintLen:   uint8(len(k.Hint)),
		byLen:     uint8(len(k.CreatedBy)),
		permLen:   uint8(len(k.Permissions)),
		flags:     flags,
	}
	need := ns.size()
	if len(sh.arena)-sh.garbage+need > maxArena {
		return false // even compacted, the arena could not take it
	}
	// The index holds one slot per 8-byte prefix: a cached key whose hash
	// shares h's prefix (another hash, as h's own is gone) gives way, or
	// its slot would be left used but unindexed.
	if j, ok := sh.index.get(prefix(h), sh.slots); ok {
		sh.drop(j)
	}
	var i int32
	switch {
	case len(sh.free) > 0:
		i = sh.free[len(sh.free)-1]
		sh.free = sh.free[:len(sh.free)-1]
	case len(sh.slots) < cap(sh.slots):
		sh.slots = append(sh.slots, slot{})
		i = int32(len(sh.slots) - 1)
	default:
		i = sh.sweep(now)
		evicted = true
	}
	sh.compact(need)
	ns.off = uint32(len(sh.arena))
	sh.arena = append(sh.arena, k.OrgID...)
	sh.arena = append(sh.arena, k.Name...)
	sh.arena = append(sh.arena, k.Hint...)
	sh.arena = append(sh.arena, k.CreatedBy...)
	sh.arena = append(sh.arena, k.Metadata...)
	for _, p := range k.Permissions {
		sh.arena = append(sh.arena, byte(permIndex(p)))
	}
	switch {
	case byPrevious:
		sh.arena = append(sh.arena, k.Hash[:]...)
	case k.Previous != nil:
		sh.arena = append(sh.arena, k.Previous.Hash[:]...)
	}
	if k.Previous != nil {
		sh.arena = binary.LittleEndian.AppendUint64(sh.arena, uint64(graceEnd))
	}
	if k.ExpiresAt != nil {
		sh.arena = binary.LittleEndian.AppendUint64(sh.arena, uint64(keyExpires))
	}
	sh.arena = appendLimits(sh.arena, k)
	sh.slots[i] = ns
	sh.index.set(prefix(h), i)
	return evicted
}

// sweep advances the CLOCK hand to a slot that has not been used since the
// hand last passed it (or has expired), empties it and returns it. Every
// slot is in use when it is called; it ends within two turns.
func (sh *shard) sweep(now int64) int32 {
	for {
		i := sh.hand
		sh.hand = (sh.hand + 1) % len(sh.slots)
		s := &sh.slots[i]
		if s.flags&flagRef != 0 && now < s.expires {
			s.flags &^= flagRef
			continue
		}
		sh.drop(int32(i))
		sh.free = sh.free[:len(sh.free)-1] // drop freed it; the caller takes it
		return int32(i)
	}
}

// putNegative remembers h as unknown until expires, pushing out an
// arbitrary remembered hash when the table is full. A shard whose share of
// NegativeSize is nothing remembers nothing.
func (sh *shard) putNegative(h keyward.SecretHash, expires int64) {
	sh.remove(h)
	if sh.negCap <= 0 {
		return
	}
	if len(sh.neg) >= sh.negCap {
		for old := range sh.neg {
			delete(sh.neg, old)
			break
		}
	}
	sh.neg[h] = expires
}

// remove forgets whatever the shard knows of h.
func (sh *shard) remove(h keyward.SecretHash) {
	if i, ok := sh.index.get(prefix(h), sh.slots); ok && sh.slots[i].hash.Equal(h) {
		sh.drop(i)
	}
	delete(sh.neg, h)
}

// drop empties slot i.
func (sh *shard) drop(i int32) {
	s := &sh.slots[i]
	if s.flags&flagUsed == 0 {
		return
	}
	sh.index.del(prefix(s.hash), sh.slots)
	sh.garbage += s.size()
	*s = slot{}
	sh.free = append(sh.free, i)
}

// compact rewrites the arena without its garbage once garbage is more than
// half of it, so that the arena stays within twice the live text, or when
// need more bytes would take it past maxArena.
func (sh *shard) compact(need int) {
	if len(sh.arena)+need <= maxArena && (sh.garbage < 4096 || sh.garbage*2 < len(sh.arena)) {
		return
	}
	arena := make([]byte, 0, len(sh.arena)-sh.garbage+4096)
	for i := range sh.slots {
		s := &sh.slots[i]
		if s.flags&flagUsed == 0 {
			continue
		}
		off := len(arena)
		arena = append(arena, sh.arena[s.off:int(s.off)+s.size()]...)
		s.off = uint32(off)
	}
	sh.arena = arena
	sh.garbage = 0
}

// permIndex is p's index in keyward.AllPermissions, or -1.
func permIndex(p keyward.Permission) int {
	for i, q := range keyward.AllPermissions {
		if p == q {
			return i
		}
	}
	return -1
}

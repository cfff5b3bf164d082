package keycache

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/keyward/keyward"
)

// A key's rate limits and credits are encoded in the arena, only for a
// key that has either, as:
//
//	count     1 byte: the number of rate limits
//	each:     name length (1 byte), name, limit and duration (in
//	          nanoseconds) as varints
//	credits   if any bytes are left: 1 byte, 1 without a refill and 2
//	          with one; remaining and RefilledAt (unix microseconds) as
//	          varints; with a refill, its amount as a varint, its
//	          interval's length (1 byte) and the interval
//
// The slot holds only their length, limitsLen, in two bytes that were
// padding (a slot was still 104 bytes; it is 88 since the expiry and the
// grace period's end moved to the arena), and a key without limits or
// credits has nothing more in the arena. The cached credits are as
// loaded: the service spends them in the store, so the remaining held
// here only informs.

// limitsSize returns the length of k's rate limits and credits encoded,
// and whether the encoding holds them.
func limitsSize(k *keyward.Key) (int, bool) {
	if len(k.RateLimits) == 0 && k.Credits == nil {
		return 0, true
	}
	if len(k.RateLimits) > math.MaxUint8 {
		return 0, false
	}
	n := 1
	for _, l := range k.RateLimits {
		if len(l.Name) > math.MaxUint8 {
			return 0, false
		}
		n += 1 + len(l.Name) + varintLen(l.Limit) + varintLen(int64(l.Duration))
	}
	if c := k.Credits; c != nil {
		n += 1 + varintLen(c.Remaining) + varintLen(c.RefilledAt.UnixMicro())
		if c.Refill != nil {
			if len(c.Refill.Interval) > math.MaxUint8 {
				return 0, false
			}
			n += varintLen(c.Refill.Amount) + 1 + len(c.Refill.Interval)
		}
	}
	return n, n <= math.MaxUint16
}

// varintLen is the length of v as a varint.
func varintLen(v int64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutVarint(b[:], v)
}

// appendLimits appends k's rate limits and credits, encoded, to b: nothing
// for a key without either.
func appendLimits(b []byte, k *keyward.Key) []byte {
	if len(k.RateLimits) == 0 && k.Credits == nil {
		return b
	}
	b = append(b, uint8(len(k.RateLimits)))
	for _, l := range k.RateLimits {
		b = append(b, uint8(len(l.Name)))
		b = append(b, l.Name...)
		b = binary.AppendVarint(b, l.Limit)
		b = binary.AppendVarint(b, int64(l.Duration))
	}
	if c := k.Credits; c != nil {
		if c.Refill == nil {
			b = append(b, 1)
		} else {
			b = append(b, 2)
		}
		b = binary.AppendVarint(b, c.Remaining)
		b = binary.AppendVarint(b, c.RefilledAt.UnixMicro())
		if c.Refill != nil {
			b = binary.AppendVarint(b, c.Refill.Amount)
			b = append(b, uint8(len(c.Refill.Interval)))
			b = append(b, c.Refill.Interval...)
		}
	}
	return b
}

// readLimits sets k's rate limits and credits from b, as appendLimits
// wrote them: one allocation for the list, one for all the names and the
// interval, and one for the credits with their refill.
func readLimits(b []byte, k *keyward.Key) {
	var str string // b, once a name or an interval is cut from it
	cut := func(from, to int) string {
		if str == "" {
			str = string(b)
		}
		return str[from:to]
	}
	varint := func(i *int) int64 {
		v, n := binary.Varint(b[*i:])
		*i += n
		return v
	}
	i := 1
	if n := int(b[0]); n > 0 {
		k.RateLimits = make([]keyward.RateLimit, n)
		for j := range k.RateLimits {
			l := &k.RateLimits[j]
			nameLen := int(b[i])
			l.Name = cut(i+1, i+1+nameLen)
			i += 1 + nameLen
			l.Limit = varint(&i)
			l.Duration = time.Duration(varint(&i))
		}
	}
	if i == len(b) {
		return
	}
	refill := b[i] == 2
	i++
	// The credits and their refill in one allocation.
	cr := new(struct {
		c keyward.Credits
		r keyward.Refill
	})
	c := &cr.c
	c.Remaining = varint(&i)
	c.RefilledAt = time.UnixMicro(varint(&i)).UTC()
	if refill {
		cr.r.Amount = varint(&i)
		ivLen := int(b[i])
		switch string(b[i+1 : i+1+ivLen]) { // no copy: compared only
		case string(keyward.RefillDaily):
			cr.r.Interval = keyward.RefillDaily
		case string(keyward.RefillMonthly):
			cr.r.Interval = keyward.RefillMonthly
		default:
			cr.r.Interval = keyward.RefillInterval(cut(i+1, i+1+ivLen))
		}
		c.Refill = &cr.r
	}
	k.Credits = c
}

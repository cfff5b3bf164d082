package main

import (
	"hash/crc32"
	"math/rand/v2"
)

// The flood's keys: made up, each one new, and well formed, with a valid
// checksum, as anyone can make them (the checksum is public CRC32), so
// that the server must look them up rather than refuse them at sight.
// They follow keyward's secret format (secret.go): "kw_", 43 base62
// characters, and the base62 of the CRC32 of what precedes it in 6.

const (
	madeUpPrefix  = "kw_"
	madeUpBodyLen = 43
	madeUpSumLen  = 6
	base62        = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

// appendMadeUpKey appends a new made-up key drawn from rng to b. It costs
// the generator a few hundred nanoseconds and no allocation once b has
// room.
func appendMadeUpKey(b []byte, rng *rand.Rand) []byte {
	start := len(b)
	b = append(b, madeUpPrefix...)
	for range madeUpBodyLen {
		b = append(b, base62[rng.IntN(len(base62))])
	}
	sum := crc32.ChecksumIEEE(b[start:])
	var check [madeUpSumLen]byte
	for i := madeUpSumLen - 1; i >= 0; i-- {
		check[i] = base62[sum%62]
		sum /= 62
	}
	return append(b, check[:]...)
}

package main

import (
	"math/bits"
	"time"
)

// histogram counts latencies in microseconds, in log-linear buckets: exact
// below 1,024 µs, then 512 buckets per power of two, so that any value is
// known to within 0.2% (about three significant digits, as HdrHistogram
// keeps). Recording is an index and an add: the generator records every
// request without sorting or growing anything, and a connection's whole
// histogram is about 70 KB whatever the run's length.
type histogram struct {
	counts []uint64
	n      uint64
	sumUS  uint64
	minUS  uint64
	maxUS  uint64
}

const (
	histSubBits = 10
	histSub     = 1 << histSubBits // exact values below this
	histHalf    = histSub / 2      // buckets per power of two above it
	// histMaxUS is the largest value with a bucket of its own, 67s: more
	// than any request is given before it counts as a timeout. Larger
	// values go in the last bucket (and max keeps them exactly).
	histMaxUS = 1<<26 - 1
)

func newHistogram() *histogram {
	return &histogram{counts: make([]uint64, histBucket(histMaxUS)+1)}
}

// histBucket is the bucket of v: v itself below histSub; above it, the
// power of two (shift) and the top histSubBits bits of v.
func histBucket(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits
	return shift*histHalf + int(v>>shift)
}

// histBucketHigh is the largest value in bucket b.
func histBucketHigh(b int) uint64 {
	if b < histSub {
		return uint64(b)
	}
	shift := b/histHalf - 1
	low := uint64(b%histHalf+histHalf) << shift
	return low + 1<<shift - 1
}

// record adds one latency, rounded down to the microsecond.
func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0) / time.Microsecond)
	if h.n == 0 || v < h.minUS {
		h.minUS = v
	}
	h.maxUS = max(h.maxUS, v)
	h.n++
	h.sumUS += v
	h.counts[histBucket(min(v, histMaxUS))]++
}

// merge adds o's values to h.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.minUS < h.minUS {
		h.minUS = o.minUS
	}
	h.maxUS = max(h.maxUS, o.maxUS)
	h.n += o.n
	h.sumUS += o.sumUS
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// percentile is the p-th percentile in microseconds: the top of the first
// bucket with at least p% of the values at or below it, kept within the
// smallest and largest values recorded, so that it never names a latency
// outside what was observed. 0 when nothing was recorded.
func (h *histogram) percentile(p float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(p / 100 * float64(h.n))
	if float64(rank) < p/100*float64(h.n) {
		rank++ // the ceiling: p% of the values at or below
	}
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for b, c := range h.counts[:len(h.counts)-1] {
		seen += c
		if seen >= rank {
			return min(max(histBucketHigh(b), h.minUS), h.maxUS)
		}
	}
	return h.maxUS // the last bucket holds every larger value too
}

// meanUS is the mean latency in microseconds.
func (h *histogram) meanUS() float64 {
	if h.n == 0 {
		return 0
	}
	return float64(h.sumUS) / float64(h.n)
}

package main

import (
	"math"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	// Exact below 1,024 µs; above, every value's bucket holds it and is at
	// most 1/512 of it wide; and buckets follow one another with no gap.
	prevHigh := uint64(0)
	for b := 1; b <= histBucket(histMaxUS); b++ {
		high := histBucketHigh(b)
		if high != prevHigh+histBucketWidth(b) {
			t.Fatalf("bucket %d ends at %d; the one before ended at %d, width %d", b, high, prevHigh, histBucketWidth(b))
		}
		low := high - histBucketWidth(b) + 1
		if histBucket(low) != b || histBucket(high) != b {
			t.Fatalf("bucket %d is [%d, %d] but those fall in %d and %d", b, low, high, histBucket(low), histBucket(high))
		}
		if b < histSub && low != high {
			t.Fatalf("bucket %d below %d holds [%d, %d], want one value", b, histSub, low, high)
		}
		if float64(high-low) > float64(low)/histHalf {
			t.Fatalf("bucket %d: [%d, %d] is wider than 1/%d of its start", b, low, high, histHalf)
		}
		prevHigh = high
	}
	if prevHigh != histMaxUS {
		t.Errorf("the last bucket ends at %d, want %d", prevHigh, histMaxUS)
	}
}

// histBucketWidth is how many values bucket b holds.
func histBucketWidth(b int) uint64 {
	if b < histSub {
		return 1
	}
	return 1 << (b/histHalf - 1)
}

func TestHistogramPercentiles(t *testing.T) {
	h := newHistogram()
	// 1 to 10,000 µs, once each: the p-th percentile is p*100 µs.
	for us := 1; us <= 10_000; us++ {
		h.record(time.Duration(us) * time.Microsecond)
	}
	for _, tt := range []struct {
		p    float64
		want uint64
	}{
		{0, 1}, {1, 100}, {10, 1000}, {50, 5000}, {99, 9900}, {99.9, 9990}, {100, 10_000},
	} {
		got := h.percentile(tt.p)
		// Within the bucket's width: 0.2% above 1,024 µs, exact below.
		if got < tt.want || float64(got-tt.want) > float64(tt.want)/histHalf {
			t.Errorf("p%v = %d µs, want %d (within 0.2%%, not below)", tt.p, got, tt.want)
		}
	}
	if got, want := h.meanUS(), 5000.5; got != want {
		t.Errorf("mean %v µs, want %v", got, want)
	}
	if h.minUS != 1 || h.maxUS != 10_000 || h.n != 10_000 {
		t.Errorf("min %d, max %d, n %d; want 1, 10000, 10000", h.minUS, h.maxUS, h.n)
	}
}

func TestHistogramPercentileRanks(t *testing.T) {
	// p% of three values: the smallest value with at least p% of them at
	// or below it.
	h := newHistogram()
	for _, us := range []time.Duration{30, 10, 20} {
		h.record(us * time.Microsecond)
	}
	for _, tt := range []struct {
		p    float64
		want uint64
	}{
		{0, 10}, {33, 10}, {34, 20}, {50, 20}, {66, 20}, {67, 30}, {99, 30}, {100, 30},
	} {
		if got := h.percentile(tt.p); got != tt.want {
			t.Errorf("p%v of 10, 20, 30 µs = %d, want %d", tt.p, got, tt.want)
		}
	}
}

func TestHistogramPercentileStaysWithinObservedValues(t *testing.T) {
	// 40,001 µs lies in a bucket that reaches 40,063 µs: a percentile
	// must not name a latency above the largest seen, nor below the
	// smallest.
	h := newHistogram()
	for range 3 {
		h.record(40_001 * time.Microsecond)
	}
	for _, p := range []float64{0, 50, 99, 99.9, 100} {
		if got := h.percentile(p); got != 40_001 {
			t.Errorf("p%v = %d µs of three values of 40,001 µs", p, got)
		}
	}
}

func TestHistogramEdges(t *testing.T) {
	h := newHistogram()
	if h.percentile(50) != 0 || h.meanUS() != 0 {
		t.Errorf("empty histogram: p50 %d, mean %v; want 0, 0", h.percentile(50), h.meanUS())
	}
	h.record(-time.Second)          // a clock step back: counted as 0
	h.record(500 * time.Nanosecond) // below a microsecond: 0
	h.record(2 * time.Hour)         // past the last bucket: in it, and the max
	if h.n != 3 || h.minUS != 0 || h.maxUS != uint64((2*time.Hour).Microseconds()) {
		t.Errorf("n %d, min %d, max %d", h.n, h.minUS, h.maxUS)
	}
	if got := h.percentile(100); got != h.maxUS {
		t.Errorf("p100 = %d, want the max %d", got, h.maxUS)
	}
	if got := h.percentile(50); got != 0 {
		t.Errorf("p50 = %d, want 0", got)
	}
}

func TestHistogramMerge(t *testing.T) {
	a, b, all := newHistogram(), newHistogram(), newHistogram()
	for us := 1; us <= 5000; us++ {
		d := time.Duration(us*us%7919) * time.Microsecond
		all.record(d)
		if us%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	m := newHistogram()
	m.merge(a)
	m.merge(b)
	m.merge(newHistogram()) // an idle connection's
	if m.n != all.n || m.sumUS != all.sumUS || m.minUS != all.minUS || m.maxUS != all.maxUS {
		t.Fatalf("merged n %d sum %d min %d max %d; want %d %d %d %d", m.n, m.sumUS, m.minUS, m.maxUS, all.n, all.sumUS, all.minUS, all.maxUS)
	}
	for _, p := range []float64{50, 99, 99.9} {
		if m.percentile(p) != all.percentile(p) {
			t.Errorf("p%v: merged %d, recorded at once %d", p, m.percentile(p), all.percentile(p))
		}
	}
	if math.IsNaN(m.meanUS()) || m.meanUS() != all.meanUS() {
		t.Errorf("mean: merged %v, at once %v", m.meanUS(), all.meanUS())
	}
}

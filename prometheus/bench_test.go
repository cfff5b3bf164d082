package prometheus_test

import (
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/prometheus"
)

// BenchmarkObserve is what metrics add to each verification: one request
// observation and one verification count.
func BenchmarkObserve(b *testing.B) {
	m := prometheus.New(prometheus.Sources{})
	b.ReportAllocs()
	for b.Loop() {
		m.Request("POST /verify", 200, 150*time.Microsecond)
		m.Verification(keyward.VerifyValid)
	}
}

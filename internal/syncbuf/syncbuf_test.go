package syncbuf_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/syncbuf"
)

// Concurrent writers lose nothing, and reads see every write made before
// them (run with -race: no data race either).
func TestConcurrentWrites(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&b, "%d.%d\n", i, j)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
	if got := string(b.Bytes()); got != b.String() {
		t.Fatal("Bytes and String disagree")
	}
}

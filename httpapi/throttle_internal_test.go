package httpapi

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// The throttle's key: IPv4 by address, IPv6 by /64, mapped addresses as
// IPv4, zones dropped; none for what is no address.
func TestClientKey(t *testing.T) {
	key := func(remote string) string {
		k, ok := clientKey(&http.Request{RemoteAddr: remote})
		if !ok {
			return "none"
		}
		return fmt.Sprintf("%x", k)
	}
	same := [][2]string{
		{"192.0.2.1:1", "192.0.2.1:65535"},
		{"192.0.2.1:1", "[::ffff:192.0.2.1]:1"},
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:2"},
		{"[fe80::1%eth0]:1", "[fe80::2]:1"},
	}
	for _, p := range same {
		if a, b := key(p[0]), key(p[1]); a != b || a == "none" {
			t.Errorf("%s and %s: keys %s and %s, want the same", p[0], p[1], a, b)
		}
	}
	differ := [][2]string{
		{"192.0.2.1:1", "192.0.2.2:1"},
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:3::1]:1"},
	}
	for _, p := range differ {
		if a, b := key(p[0]), key(p[1]); a == b {
			t.Errorf("%s and %s: the same key", p[0], p[1])
		}
	}
	for _, bad := range []string{"", "@", "pipe", "192.0.2.1"} {
		if k := key(bad); k != "none" {
			t.Errorf("%q: key %s, want none", bad, k)
		}
	}
}

// The table holds at most MaxAddresses; addresses whose bucket filled
// again are dropped as new ones come; a full table gives up a little
// indebted address, not a throttled one.
func TestThrottleTableBound(t *testing.T) {
	now := time.Unix(1e9, 0)
	const maxAddresses = 640
	th := NewFailureThrottle(FailureThrottleOptions{Burst: 5, Refill: time.Second, MaxAddresses: maxAddresses, Now: func() time.Time { return now }})
	addr := func(i int) [16]byte {
		k, _ := clientKey(&http.Request{RemoteAddr: fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255)})
		return k
	}
	abuser := addr(1 << 20)
	for range 100 {
		th.fail(abuser, th.clock())
	}
	for i := range 20_000 {
		th.fail(addr(i), th.clock())
		if n := th.Stats().Addresses; n > maxAddresses {
			t.Fatalf("after %d addresses: %d tracked, over %d", i+1, n, maxAddresses)
		}
	}
	if th.wait(abuser, th.clock()) == 0 {
		t.Error("the throttled address was dropped to make room for addresses that failed once")
	}
	counted := 0
	for i := range th.shards {
		counted += len(th.shards[i].tat)
	}
	if n := th.Stats().Addresses; n != counted {
		t.Errorf("Stats says %d addresses, the table holds %d", n, counted)
	}

	// Much later, every bucket is full again: new failures push the stale
	// entries out.
	now = now.Add(time.Hour)
	for i := range 5_000 {
		th.fail(addr(1_000_000+i), th.clock())
	}
	stale := 0
	for i := range th.shards {
		for _, tat := range th.shards[i].tat {
			if tat <= th.clock() {
				stale++
			}
		}
	}
	if stale > maxAddresses/10 {
		t.Errorf("%d stale entries left after 5000 new addresses", stale)
	}
}

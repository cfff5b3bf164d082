package keycache

import "time"

// SetClock replaces the cache's clock, which reads monotonic nanoseconds,
// so that the tests of package keycache_test can move time on by hand
// instead of sleeping. Call it before the cache is used.
func SetClock(c *Store, now func() int64) { c.now = now }

// NumShards returns how many shards the cache has.
func NumShards(c *Store) int { return len(c.shards) }

// ConfirmAt is Confirm with asOf read on the cache's clock (as SetClock
// set it), for tests that move time by hand.
func ConfirmAt(c *Store, asOf int64) { c.confirmAt(asOf) }

// RealClock returns the clock New gave c (monotonic nanoseconds since it
// was made), for a test that set another and wants real time back.
func RealClock(c *Store) func() int64 {
	start := c.start
	return func() int64 { return int64(time.Since(start)) }
}

package keycache

// SetClock replaces the cache's clock, which reads monotonic nanoseconds,
// so that the tests of package keycache_test can move time on by hand
// instead of sleeping. Call it before the cache is used.
func SetClock(c *Store, now func() int64) { c.now = now }

// NumShards returns how many shards the cache has.
func NumShards(c *Store) int { return len(c.shards) }

// ConfirmAt is Confirm with asOf read on the cache's clock (as SetClock
// set it), for tests that move time by hand.
func ConfirmAt(c *Store, asOf int64) { c.confirmAt(asOf) }

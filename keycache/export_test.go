package keycache

// SetClock replaces the cache's clock, which reads monotonic nanoseconds,
// so that the tests of package keycache_test can move time on by hand
// instead of sleeping. Call it before the cache is used.
func SetClock(c *Store, now func() int64) { c.now = now }

// NumShards returns how many shards the cache has.
func NumShards(c *Store) int { return len(c.shards) }

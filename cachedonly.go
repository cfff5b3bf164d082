package keyward

import "context"

// cachedOnlyKey marks a context made by WithCachedOnly.
type cachedOnlyKey struct{}

// WithCachedOnly returns a context under which a store with a cache of
// keys in front of it (package keycache) answers KeyByHash only with what
// it holds in memory and trusts at once: a cached key, or a hash
// remembered as unknown. Any lookup that would read the store, or wait for
// the invalidation feed, fails with ETHROTTLED instead.
//
// The HTTP API makes its requests from a client address that fails too
// often under such a context: a platform's backend that forwards its
// users' keys from one address goes on verifying its users' real keys,
// cached, while the made-up ones among them cost nothing. A store without
// a cache ignores it.
func WithCachedOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, cachedOnlyKey{}, true)
}

// CachedOnly reports whether ctx was made by WithCachedOnly.
func CachedOnly(ctx context.Context) bool {
	v, _ := ctx.Value(cachedOnlyKey{}).(bool)
	return v
}

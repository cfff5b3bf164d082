package keyward

import "context"

// knownKeysOnlyKey marks a context made by WithKnownKeysOnly.
type knownKeysOnlyKey struct{}

// WithKnownKeysOnly returns a context under which a store with a cache of
// keys in front of it (package keycache) answers KeyByHash only for a hash
// it knows something of: a key it holds in memory, a hash it remembers as
// unknown, or a hash in its set of every stored key's hash (a key that
// exists, read from the store as ever). Any other lookup, one of a hash
// that it would have to look up, or wait for the invalidation feed to
// rule out, fails at once with ETHROTTLED.
//
// The HTTP API makes the requests of a client address that fails too
// often under such a context: a platform's backend that forwards its
// users' keys from one address goes on verifying its users' real keys,
// while the made-up ones among them cost nothing. A store without a cache
// ignores it.
func WithKnownKeysOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, knownKeysOnlyKey{}, true)
}

// KnownKeysOnly reports whether ctx was made by WithKnownKeysOnly.
func KnownKeysOnly(ctx context.Context) bool {
	v, _ := ctx.Value(knownKeysOnlyKey{}).(bool)
	return v
}

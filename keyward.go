// Package keyward is the domain of Keyward, an API key management service.
//
// Read this package to know the system: keys belong to an organization and
// carry permissions (key.go); a key's secret is shown once and stored only as
// its SHA-256 (secret.go); a root key manages every organization; every
// storage backend implements KeyStore (store.go) and is held to one
// conformance suite (package storetest); the rules of who may do what, and
// how long a request may wait for the store, live in Service (service.go),
// never in a handler or a backend; a write a client may have to repeat
// carries an idempotency key (idempotency.go); deleted keys are kept for a
// retention period (retention.go); every failure is an *Error with one of a
// few codes (error.go), mapped to HTTP in exactly one place (package
// httpapi).
//
// A store that several processes share tells each of them what the others
// change through its InvalidationFeed (store.go), and proves, with each
// confirmation, that it has told everything: the verification cache
// (package keycache) answers from memory only while that proof is younger
// than its staleness bound.
//
// The root package imports nothing from storage or HTTP. Backends live in
// sibling packages (sqlite, postgres), the cache in keycache, the HTTP API
// in httpapi, and cmd/keyward wires them together.
package keyward

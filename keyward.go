// Package keyward is the domain of Keyward, an API key management service.
//
// Read this package to know the system: keys belong to an organization and
// carry permissions (key.go); a key's secret is shown once and stored only as
// its SHA-256 (secret.go); a root key manages every organization; every
// storage backend implements KeyStore (store.go) and is held to one
// conformance suite (package storetest); the rules of who may do what live in
// Service (service.go), never in a handler or a backend; every failure is an
// *Error with one of a few codes (error.go), mapped to HTTP in exactly one
// place (package httpapi).
//
// The root package imports nothing from storage or HTTP. Backends live in
// sibling packages (sqlite), the HTTP API in httpapi, and cmd/keyward wires
// them together.
package keyward

package keyward

import _ "embed"

// OpenAPIDocument is the OpenAPI 3.1 document of Keyward's HTTP API, in
// YAML: the contract of every operation and of every response, errors
// included. The server serves it at GET /openapi.yaml, and tests hold every
// response they receive to it (package internal/openapitest), so the
// document and the server cannot drift apart unnoticed.
//
//go:embed openapi.yaml
var OpenAPIDocument []byte

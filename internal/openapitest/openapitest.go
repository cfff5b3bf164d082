// Package openapitest holds every response a test receives to Keyward's
// OpenAPI document (keyward.OpenAPIDocument), so that the document and the
// server cannot drift apart: give a test's HTTP client the RoundTripper of
// NewTransport and each response is checked as it arrives.
//
// Requests are never validated: tests send malformed requests on purpose,
// and the document says what the server answers to them.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/keyward/keyward"
)

// NewTransport returns a RoundTripper that sends each request through base
// (http.DefaultTransport if nil) and reports to t, with Errorf, every
// response that the document does not allow: an undocumented status, a
// missing or malformed header, a body that does not match its schema. A
// request that matches no operation (an unknown path, a method the path does
// not have) must be answered 404 or 405 with a problem document.
//
// The response reaches the caller intact. Reports name the method, the path,
// the status and what is wrong; they never print a body, and any secret in
// them is masked. NewTransport fails t at once if the document itself does
// not load or validate.
func NewTransport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	t.Helper()
	s, err := loadSpec()
	if err != nil {
		t.Fatalf("openapitest: %v", err)
		return nil
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{t: t, base: base, spec: s}
}

type transport struct {
	t    testing.TB
	base http.RoundTripper
	spec *spec
}

// RoundTrip sends req, restores the response body it reads, and reports a
// response the document does not allow. Errorf is safe from any goroutine.
func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := tr.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("openapitest: read response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := tr.spec.check(req, resp.StatusCode, resp.Header, body); err != nil {
		msg := fmt.Sprintf("%s %s → %d: %v", req.Method, req.URL.Path, resp.StatusCode, err)
		tr.t.Errorf("openapi: response does not match the document: %s", redact(msg, body))
	}
	return resp, nil
}

// spec is the loaded document, shared by every transport.
type spec struct {
	doc     *openapi3.T
	router  routers.Router
	problem *openapi3.Schema
	opts    *openapi3filter.Options
}

var (
	specOnce   sync.Once
	loadedSpec *spec
	specErr    error
)

// loadSpec loads and validates the document once per test binary.
func loadSpec() (*spec, error) {
	specOnce.Do(func() { loadedSpec, specErr = newSpec(keyward.OpenAPIDocument) })
	return loadedSpec, specErr
}

func newSpec(data []byte) (*spec, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is invalid: %w", err)
	}
	if err := typeAnyValues(doc); err != nil {
		return nil, err
	}
	problem := doc.Components.Schemas["Problem"]
	if problem == nil || problem.Value == nil {
		return nil, errors.New("the OpenAPI document has no components.schemas.Problem")
	}
	// Test servers listen on random ports, never on the document's server
	// URL: without servers, the router matches the path alone, on any host.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route the OpenAPI document: %w", err)
	}
	// The reference page (GET /docs) is HTML, which the document
	// describes as a string; kin-openapi reads only text/plain as one.
	// (Registering is global, and the same each time.)
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	opts := &openapi3filter.Options{
		// Requests are not validated, their credentials included.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		// A status the operation does not list is a failure.
		IncludeResponseStatus: true,
	}
	opts.WithCustomSchemaErrorFunc(schemaErrorMessage)
	return &spec{doc: doc, router: router, problem: problem.Value, opts: opts}, nil
}

// anyType is every JSON type: what a schema without a type admits.
var anyType = openapi3.Types{
	openapi3.TypeNull, openapi3.TypeBoolean, openapi3.TypeObject,
	openapi3.TypeArray, openapi3.TypeNumber, openapi3.TypeString,
}

// typeAnyValues gives every schema that says nothing of its values ({}, or
// only a description: any JSON value) the list of every type, which says the
// same. kin-openapi's validator, on the path it takes for bodies that hold
// references, refuses null under a schema without a type, where JSON Schema
// 2020-12 (OpenAPI 3.1's) admits any value; and the document cannot write
// the list itself, which code generators refuse (an audit change's from and
// to are such values).
func typeAnyValues(doc *openapi3.T) error {
	err := doc.WalkSchemas(func(_ string, ref *openapi3.SchemaRef) error {
		if s := ref.Value; s.Type == nil && s.IsEmpty() {
			types := slices.Clone(anyType)
			s.Type = &types
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk the OpenAPI document's schemas: %w", err)
	}
	return nil
}

// check validates one response to req.
func (s *spec) check(req *http.Request, status int, header http.Header, body []byte) error {
	if isPreflight(req) {
		return s.checkPreflight(req, status, header, body)
	}
	// A HEAD request is answered as its GET is, without a body; kin-openapi
	// does not validate HEAD responses, so only its routing is checked here.
	lookup := req
	if req.Method == http.MethodHead {
		lookup = &http.Request{Method: http.MethodGet, URL: req.URL, Header: req.Header}
	}
	route, pathParams, err := s.router.FindRoute(lookup)
	// The router ignores trailing slashes; no path of the document has one,
	// so "/healthz/" matches no operation.
	if p := req.URL.Path; p != "/" && strings.HasSuffix(p, "/") {
		err = routers.ErrPathNotFound
	}
	if err != nil {
		return s.checkUnrouted(req, status, header, body)
	}
	if req.Method == http.MethodHead {
		return nil
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: pathParams,
			Route:      route,
			Options:    s.opts,
		},
		Status:  status,
		Header:  header,
		Options: s.opts,
	}
	input.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), input)
}

// unroutedProblems are the statuses allowed for a request that matches no
// operation, with the problem type each must carry.
var unroutedProblems = map[int]string{
	http.StatusNotFound:         "urn:keyward:problem:not-found",
	http.StatusMethodNotAllowed: "urn:keyward:problem:method-not-allowed",
}

// checkUnrouted validates the response to a request that matches no
// operation: 404 or 405, as a problem document.
func (s *spec) checkUnrouted(req *http.Request, status int, header http.Header, body []byte) error {
	wantType, ok := unroutedProblems[status]
	if !ok {
		return errors.New("no operation of the document matches the request, so the status must be 404 or 405")
	}
	return s.checkProblem("no operation matches", req, status, wantType, header, body)
}

// checkProblem validates a problem document answered with status, whose
// type must be wantType, outside any operation of the document; what
// says which answer it is, in the error.
func (s *spec) checkProblem(what string, req *http.Request, status int, wantType string, header http.Header, body []byte) error {
	ct := header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/problem+json" {
		return fmt.Errorf("%s: content type %q is not application/problem+json", what, ct)
	}
	if req.Method == http.MethodHead {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%s: the body is not JSON: %w", what, err)
	}
	err := s.problem.VisitJSON(v,
		openapi3.EnableJSONSchema2020(),
		openapi3.VisitAsResponse(),
		openapi3.SetSchemaErrorMessageCustomizer(schemaErrorMessage),
	)
	if err != nil {
		return fmt.Errorf("%s: the body does not match components.schemas.Problem: %w", what, err)
	}
	p, _ := v.(map[string]any)
	if got, _ := p["status"].(float64); got != float64(status) {
		return fmt.Errorf("%s: the problem's status %v is not the response's", what, p["status"])
	}
	if got := p["type"]; got != wantType {
		return fmt.Errorf("%s: the problem's type %q is not %q", what, got, wantType)
	}
	return nil
}

// isPreflight reports whether req is a CORS preflight: OPTIONS with
// Origin and Access-Control-Request-Method.
func isPreflight(req *http.Request) bool {
	return req.Method == http.MethodOptions && req.Header.Get("Origin") != "" && req.Header.Get("Access-Control-Request-Method") != ""
}

// checkPreflight validates the answer to a CORS preflight, which the
// document deliberately does not list: a preflight is the Fetch
// standard's, the same for every path and sent by browsers alone, and an
// OPTIONS operation on every path would have every client generated from
// the document grow a method per path that no program calls. It is held
// to what the server promises instead (httpapi/cors.go): an allowed
// origin gets 204 with no body, Access-Control-Allow-Origin and the
// methods, including the one asked for; a refused one a 403 problem
// without Access-Control-Allow-Origin; and a path or method the API does
// not have, or a server without CORS, the 404 or 405 of any request that
// matches no operation.
func (s *spec) checkPreflight(req *http.Request, status int, header http.Header, body []byte) error {
	switch status {
	case http.StatusNoContent:
		if len(body) != 0 {
			return errors.New("CORS preflight: a 204 with a body")
		}
		if header.Get("Access-Control-Allow-Origin") == "" {
			return errors.New("CORS preflight: a 204 without Access-Control-Allow-Origin")
		}
		method := req.Header.Get("Access-Control-Request-Method")
		for _, m := range strings.Split(header.Get("Access-Control-Allow-Methods"), ",") {
			if strings.TrimSpace(m) == method {
				return nil
			}
		}
		return fmt.Errorf("CORS preflight: a 204 whose Access-Control-Allow-Methods does not list %s", method)
	case http.StatusForbidden:
		if header.Get("Access-Control-Allow-Origin") != "" {
			return errors.New("CORS preflight: a refusal that carries Access-Control-Allow-Origin")
		}
		return s.checkProblem("CORS preflight refused", req, status, "urn:keyward:problem:forbidden", header, body)
	}
	return s.checkUnrouted(req, status, header, body)
}

// schemaErrorMessage says where a value fails its schema and why, without
// kin-openapi's dump of the value: a value can be a response holding a
// secret.
func schemaErrorMessage(err *openapi3.SchemaError) string {
	reason := err.Reason
	if reason == "" {
		reason = fmt.Sprintf("doesn't match schema keyword %q", err.SchemaField)
	}
	// The JSON Schema 2020-12 validator's reasons already name the path.
	if strings.HasPrefix(reason, "error at ") {
		return reason
	}
	return fmt.Sprintf("error at %q: %s", "/"+strings.Join(err.JSONPointer(), "/"), reason)
}

// secretLike matches anything shaped like a Keyward secret, whole or cut.
var secretLike = regexp.MustCompile(keyward.SecretPrefix + `[0-9A-Za-z]+`)

// redact masks in msg every secret-like string, and every value of a "key"
// member anywhere in body (where a created key's secret is), whatever its
// shape, so that a report never shows a secret, even a malformed one.
func redact(msg string, body []byte) string {
	var v any
	if json.Unmarshal(body, &v) == nil {
		for _, secret := range keyValues(v, nil) {
			msg = strings.ReplaceAll(msg, secret, "[REDACTED]")
			if quoted, err := json.Marshal(secret); err == nil {
				msg = strings.ReplaceAll(msg, string(quoted[1:len(quoted)-1]), "[REDACTED]")
			}
		}
	}
	return secretLike.ReplaceAllString(msg, keyward.SecretPrefix+"[REDACTED]")
}

// keyValues appends to dst the string values of every "key" member in v.
// Values too short to be secrets are left alone: masking them would garble
// the message and hide nothing.
func keyValues(v any, dst []string) []string {
	switch v := v.(type) {
	case map[string]any:
		for name, member := range v {
			if s, ok := member.(string); ok && name == "key" && len(s) >= 8 {
				dst = append(dst, s)
			}
			dst = keyValues(member, dst)
		}
	case []any:
		for _, member := range v {
			dst = keyValues(member, dst)
		}
	}
	return dst
}

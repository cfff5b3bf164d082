package openapitest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/openapitest"
)

// recorder is a testing.TB that records Errorf calls instead of failing, so
// that a test can assert that a bad response is reported. Everything else
// goes to the real test.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) reports() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// loadDocument parses and validates keyward.OpenAPIDocument independently
// of the package under test.
func loadDocument(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(keyward.OpenAPIDocument)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return doc
}

func TestDocument(t *testing.T) {
	doc := loadDocument(t)

	t.Run("version", func(t *testing.T) {
		if doc.OpenAPI != "3.1.0" {
			t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
		}
		if !doc.IsOpenAPI31OrLater() {
			t.Error("not read as OpenAPI 3.1")
		}
	})

	// public operations need no credential; every other one needs a key.
	// verifyKey's credential is the key in its body.
	public := map[string]bool{"health": true, "ready": true, "openapi": true, "apiReference": true, "verifyKey": true}
	want := []string{
		"apiReference", "createKey", "createOrgKey", "deleteKey", "deleteOrgKey", "disableKey", "disableOrgKey",
		"enableKey", "enableOrgKey", "getKey", "getKeyUsage", "getOrgKey", "getOrgKeyUsage", "health", "listAuditEvents", "listKeys",
		"listOrgAuditEvents", "listOrgKeys", "openapi", "patchKey", "patchOrgKey", "ready",
		"restoreKey", "restoreOrgKey", "rotateKey", "rotateOrgKey", "verifyKey",
	}

	t.Run("operations", func(t *testing.T) {
		var got []string
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				got = append(got, op.OperationID)
				if op.Summary == "" || op.Description == "" {
					t.Errorf("%s %s: no summary or description", method, path)
				}
				isPublic := op.Security != nil && len(*op.Security) == 0
				if isPublic != public[op.OperationID] {
					t.Errorf("%s %s: public = %v, want %v", method, path, isPublic, public[op.OperationID])
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("operationIds = %v, want %v", got, want)
		}
	})

	t.Run("error responses", func(t *testing.T) {
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				statuses := []int{200, 400, 401, 403, 404, 500, 503}
				switch {
				case op.OperationID == "verifyKey":
					// Always 200 for a well-formed request: the outcome
					// is in the body, never a 401, 403 or 404.
					statuses = []int{200, 400, 413, 415, 500, 503}
				case public[op.OperationID]:
					continue
				case method == http.MethodPost && strings.HasPrefix(op.OperationID, "create"):
					// A create makes a resource (201), may collide (409)
					// and takes an Idempotency-Key (422).
					statuses = []int{201, 400, 401, 403, 404, 409, 413, 415, 422, 500, 503}
				case method == http.MethodPost && (strings.HasPrefix(op.OperationID, "rotate") || strings.HasPrefix(op.OperationID, "restore")):
					// An action on a key that may collide with its state
					// (restore: not deleted; rotate: a secret's hash, rarely).
					statuses = []int{200, 400, 401, 403, 404, 409, 412, 413, 415, 500, 503}
				case method == http.MethodPost || method == http.MethodPatch:
					// A write to one key: conditional (412), with a body.
					statuses = []int{200, 400, 401, 403, 404, 412, 413, 415, 500, 503}
				case method == http.MethodDelete:
					statuses = []int{200, 400, 401, 403, 404, 412, 500, 503}
				}
				// Every authenticated operation, and verification, may
				// answer 429 to a client address that failed too often.
				statuses = append(statuses, 429)
				for _, status := range statuses {
					r := op.Responses.Status(status)
					if r == nil || r.Value == nil {
						t.Errorf("%s %s: no %d response", method, path, status)
						continue
					}
					if status >= 400 && r.Value.Content.Get("application/problem+json") == nil {
						t.Errorf("%s %s: %d is not application/problem+json", method, path, status)
					}
				}
				if got := op.Responses.Len(); got != len(statuses) {
					t.Errorf("%s %s: %d responses, want %d", method, path, got, len(statuses))
				}
			}
		}
	})

	// kin-openapi checks media type examples but not the JSON Schema
	// "examples" keyword of a schema, so check those here.
	t.Run("schema examples", func(t *testing.T) {
		for name, s := range doc.Components.Schemas {
			for i, example := range s.Value.Examples {
				if err := s.Value.VisitJSON(example, openapi3.EnableJSONSchema2020()); err != nil {
					t.Errorf("components.schemas.%s example %d: %v", name, i, err)
				}
			}
		}
	})

	// Code generators (oapi-codegen, ogen; .ci/generators builds their
	// clients) name a type after the component a body refers to, and make
	// an unnamed or untyped one out of anything else.
	t.Run("friendly to code generators", func(t *testing.T) {
		if c := doc.Info.Contact; c == nil || c.Name == "" || c.URL == "" {
			t.Error("info.contact has no name or url")
		}
		if l := doc.Info.License; l == nil || l.Name == "" || l.Identifier != "Apache-2.0" {
			t.Errorf("info.license = %+v, want a name and identifier Apache-2.0", l)
		}
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				if op.RequestBody != nil {
					for mt, c := range op.RequestBody.Value.Content {
						if c.Schema == nil || !isComponent(c.Schema.Ref) {
							t.Errorf("%s %s: the %s request body is not a named schema", method, path, mt)
						}
					}
				}
				for status, r := range op.Responses.Map() {
					for mt, c := range r.Value.Content {
						if c.Schema == nil || !isComponent(c.Schema.Ref) {
							t.Errorf("%s %s: the %s %s response body is not a named schema", method, path, status, mt)
						}
					}
				}
			}
		}
		for name, s := range doc.Components.Schemas {
			checkGeneratorFriendly(t, "components.schemas."+name, s.Value, true, false)
		}
	})

	t.Run("NewTransport accepts it", func(t *testing.T) {
		rec := &recorder{TB: t}
		if openapitest.NewTransport(rec, nil) == nil {
			t.Error("NewTransport returned nil")
		}
		if r := rec.reports(); len(r) > 0 {
			t.Errorf("reports: %q", r)
		}
	})
}

// isComponent reports whether ref names a schema of the components.
func isComponent(ref string) bool {
	name, ok := strings.CutPrefix(ref, "#/components/schemas/")
	return ok && name != "" && !strings.Contains(name, "/")
}

// checkGeneratorFriendly reports, under where, each part of s that code
// generators turn into an unnamed or untyped Go type: a const without a
// type, a oneOf or anyOf inside an allOf (ogen refuses it), an allOf
// holding anything but objects, and an object with properties that is not a
// component of its own (unless it is a branch of an allOf, which generators
// merge into the named type). Named schemas ($ref) are checked where they
// are defined.
func checkGeneratorFriendly(t *testing.T, where string, s *openapi3.Schema, top, inAllOf bool) {
	t.Helper()
	if s.Const != nil && (s.Type == nil || len(*s.Type) == 0) {
		t.Errorf("%s: const without a type", where)
	}
	if !top && !inAllOf && len(s.Properties) > 0 {
		t.Errorf("%s: an object with properties that is not a named schema", where)
	}
	for i, sub := range s.AllOf {
		if sub.Ref != "" {
			continue
		}
		if len(sub.Value.OneOf) > 0 || len(sub.Value.AnyOf) > 0 {
			t.Errorf("%s.allOf[%d]: oneOf or anyOf inside allOf", where, i)
		}
		if !sub.Value.Type.Is(openapi3.TypeObject) {
			t.Errorf("%s.allOf[%d]: not of type object", where, i)
		}
	}
	if len(s.AllOf) > 0 && (len(s.Properties) > 0 || len(s.OneOf) > 0 || len(s.AnyOf) > 0) {
		t.Errorf("%s: allOf beside properties, oneOf or anyOf", where)
	}
	visit := func(sub *openapi3.SchemaRef, name string, inAllOf bool) {
		if sub != nil && sub.Ref == "" && sub.Value != nil {
			checkGeneratorFriendly(t, where+"."+name, sub.Value, false, inAllOf)
		}
	}
	for name, p := range s.Properties {
		visit(p, "properties."+name, false)
	}
	visit(s.Items, "items", false)
	visit(s.AdditionalProperties.Schema, "additionalProperties", false)
	visit(s.Not, "not", false)
	for i, sub := range s.AllOf {
		visit(sub, fmt.Sprintf("allOf[%d]", i), true)
	}
	for i, sub := range s.OneOf {
		visit(sub, fmt.Sprintf("oneOf[%d]", i), false)
	}
	for i, sub := range s.AnyOf {
		visit(sub, fmt.Sprintf("anyOf[%d]", i), false)
	}
}

const (
	jsonType    = "application/json"
	problemType = "application/problem+json"
	keyJSON     = `{"id":"key-123","name":"My API Key","created_at":"2023-11-18T12:00:00Z",` +
		`"permissions":["read","write"],"org_id":"432","hint":"kw_Ab3d...x9Zq","last_used_at":null,` +
		`"expires_at":null,"enabled":true,"metadata":{},"updated_at":"2023-11-18T12:00:00Z",` +
		`"created_by":"key-42","state":"active","deleted_at":null,"rate_limits":[],"credits":null}`
)

// createdJSON is the body of a created key with the given secret.
func createdJSON(secret string) string {
	return `{"id":"key-456","name":"New API Key","created_at":"2023-11-18T12:00:00.123456Z",` +
		`"permissions":["read","write"],"org_id":"432","hint":"kw_Ab3d...x9Zq","last_used_at":"2023-11-18T12:05:00Z",` +
		`"expires_at":"2030-01-01T00:00:00.5Z","enabled":true,"metadata":{"plan":"pro"},"updated_at":"2023-11-18T12:00:00Z",` +
		`"created_by":null,"state":"active","deleted_at":null,` +
		`"rate_limits":[{"name":"requests","limit":100,"duration":"60s"}],` +
		`"credits":{"remaining":5,"refill":{"amount":10,"interval":"monthly"},"refilled_at":"2023-11-01T00:00:00Z"},"key":"` + secret + `"}`
}

// keyHeaders are the headers of a key's GET.
var keyHeaders = map[string]string{
	"Content-Type": jsonType,
	"ETag":         `"1"`,
	"Link":         `</orgs/432/audit_events?key_id=key-123>; rel="audit"`,
}

// eventJSON is an audit event of an update.
const eventJSON = `{"id":"evt-789","time":"2023-11-18T12:00:00.123456Z","organization_id":"432","actor":"key-42",` +
	`"action":"update","key_id":"key-123","request_id":"r1","client_ip":"203.0.113.7","user_agent":null,` +
	`"changes":{"name":{"from":"a","to":"b"},"expires_at":{"from":null,"to":"2030-01-01T00:00:00Z"}}}`

// rotatedJSON is the body of a rotated key with the given secret and end
// of its previous secret's grace period (JSON).
func rotatedJSON(secret, previousEnd string) string {
	return strings.TrimSuffix(keyJSON, "}") + `,"key":"` + secret + `","previous_secret_expires_at":` + previousEnd + `}`
}

// problemJSON is a problem document of the given kind and status.
func problemJSON(kind string, status int) string {
	return fmt.Sprintf(`{"type":"urn:keyward:problem:%s","title":%q,"status":%d,"detail":"no"}`,
		kind, http.StatusText(status), status)
}

// exchange is one request and the response a test server gives to it.
type exchange struct {
	method, path string
	reqBody      string
	reqHeader    map[string]string
	status       int
	header       map[string]string
	body         string
}

// preflight is the headers of a browser's CORS preflight for method.
func preflight(method string) map[string]string {
	return map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": method}
}

// roundTrip sends x through NewTransport to a server that answers as x
// says, checks that the caller reads the body intact, and returns the
// transport's reports.
func roundTrip(t *testing.T, x exchange) []string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for k, v := range x.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(x.status)
		_, _ = io.WriteString(w, x.body)
	}))
	t.Cleanup(srv.Close)

	rec := &recorder{TB: t}
	client := &http.Client{Transport: openapitest.NewTransport(rec, srv.Client().Transport)}
	var reqBody io.Reader
	if x.reqBody != "" {
		reqBody = strings.NewReader(x.reqBody)
	}
	req, err := http.NewRequest(x.method, srv.URL+x.path, reqBody)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range x.reqHeader {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if x.method != http.MethodHead && string(got) != x.body {
		t.Errorf("the caller read body %q, want %q", got, x.body)
	}
	return rec.reports()
}

func TestTransportAccepts(t *testing.T) {
	secret := keyward.NewSecret().Reveal()
	created := map[string]string{
		"Content-Type":  jsonType,
		"Location":      "/orgs/432/api_keys/key-456",
		"Cache-Control": "no-store",
		"ETag":          `"1"`,
	}
	tests := []struct {
		name string
		x    exchange
	}{
		{"health", exchange{method: "GET", path: "/healthz", status: 200,
			header: map[string]string{"Content-Type": jsonType}, body: `{"status":"ok"}`}},
		{"ready", exchange{method: "GET", path: "/readyz", status: 200,
			header: map[string]string{"Content-Type": "application/json; charset=utf-8"}, body: `{"status":"ready"}`}},
		{"not ready", exchange{method: "GET", path: "/readyz", status: 503,
			header: map[string]string{"Content-Type": problemType, "Retry-After": "5"},
			body:   problemJSON("unavailable", 503)}},
		{"the document itself", exchange{method: "GET", path: "/openapi.yaml", status: 200,
			header: map[string]string{"Content-Type": "application/yaml"}, body: string(keyward.OpenAPIDocument)}},
		{"HEAD of a GET", exchange{method: "HEAD", path: "/healthz", status: 200,
			header: map[string]string{"Content-Type": jsonType}}},
		{"list with a next page", exchange{method: "GET", path: "/orgs/acme.inc/api_keys?limit=1", status: 200,
			header: map[string]string{
				"Content-Type": jsonType,
				"Link":         `</orgs/acme.inc/api_keys?cursor=AQAGCmv-CFAAAAAAAAAAAHs&limit=1>; rel="next"`,
			},
			body: "[" + keyJSON + "]"}},
		{"empty list", exchange{method: "GET", path: "/api_keys?organization_id=432", status: 200,
			header: map[string]string{"Content-Type": jsonType}, body: `[]`}},
		{"get by bare id", exchange{method: "GET", path: "/orgs/432/api_keys/123", status: 200,
			header: keyHeaders, body: keyJSON}},
		{"patch", exchange{method: "PATCH", path: "/api_keys/key-123?organization_id=432",
			reqBody: `{"name":"n"}`, status: 200,
			header: map[string]string{"Content-Type": jsonType, "ETag": `"2"`}, body: keyJSON}},
		{"patch of another version", exchange{method: "PATCH", path: "/orgs/432/api_keys/key-123", status: 412,
			header: map[string]string{"Content-Type": problemType}, body: problemJSON("precondition-failed", 412)}},
		{"patch of another type", exchange{method: "PATCH", path: "/orgs/432/api_keys/key-123", status: 415,
			header: map[string]string{"Content-Type": problemType, "Accept-Patch": "application/merge-patch+json, application/json"},
			body:   problemJSON("unsupported-media-type", 415)}},
		{"rotate", exchange{method: "POST", path: "/orgs/432/api_keys/key-123/rotate", status: 200,
			header: map[string]string{"Content-Type": jsonType, "ETag": `"3"`, "Cache-Control": "no-store"},
			body:   rotatedJSON(secret, `"2023-11-19T12:00:00.000001Z"`)}},
		{"rotate without grace", exchange{method: "POST", path: "/api_keys/key-123/rotate", status: 200,
			header: map[string]string{"Content-Type": jsonType, "ETag": `"3"`, "Cache-Control": "no-store"},
			body:   rotatedJSON(secret, `null`)}},
		{"restore of a live key", exchange{method: "POST", path: "/api_keys/key-123/restore", status: 409,
			header: map[string]string{"Content-Type": problemType}, body: problemJSON("conflict", 409)}},
		{"disable", exchange{method: "POST", path: "/orgs/432/api_keys/key-123/disable", status: 200,
			header: map[string]string{"Content-Type": jsonType, "ETag": `"4"`},
			body:   strings.Replace(strings.Replace(keyJSON, `"enabled":true`, `"enabled":false`, 1), `"active"`, `"disabled"`, 1)}},
		{"audit events", exchange{method: "GET", path: "/audit_events?organization_id=432&action=update", status: 200,
			header: map[string]string{"Content-Type": jsonType,
				"Link": `</audit_events?action=update&cursor=AgAGCmv-CFAAAAAAAAAAAHs&limit=1&organization_id=432>; rel="next"`},
			body: "[" + eventJSON + "," + strings.Replace(eventJSON, `"organization_id":"432"`, `"organization_id":null`, 1) + "]"}},
		{"changes of every JSON type", exchange{method: "GET", path: "/orgs/432/audit_events", status: 200,
			header: map[string]string{"Content-Type": jsonType},
			body: "[" + strings.Replace(eventJSON, `"name":{"from":"a","to":"b"}`,
				`"name":{"from":"a","to":"b"},"enabled":{"from":true,"to":false},"permissions":{"from":["read"],"to":null},`+
					`"credits":{"from":{"remaining":1},"to":{"remaining":2.5}}`, 1) + "]"}},
		{"create in an organization", exchange{method: "POST", path: "/orgs/432/api_keys",
			reqBody: `{"name":"New API Key","permissions":["read","write"]}`, status: 201,
			header: created, body: createdJSON(secret)}},
		{"create in the caller's organization", exchange{method: "POST", path: "/api_keys",
			reqBody: `{"key_name":"k","key_scope":["READ"],"organization_id":432}`, status: 201,
			header: map[string]string{
				"Content-Type":  jsonType,
				"Location":      "http://127.0.0.1:8080/api_keys/key-456?organization_id=432",
				"Cache-Control": "private, no-store",
				"ETag":          `"1"`,
			},
			body: createdJSON(secret)}},
		{"delete", exchange{method: "DELETE", path: "/api_keys/key-123", status: 200,
			header: map[string]string{"Content-Type": jsonType}, body: `{"message":"API key deleted successfully"}`}},
		{"malformed request, invalid problem", exchange{method: "POST", path: "/orgs/432/api_keys",
			reqBody: `{not json`, status: 400, header: map[string]string{"Content-Type": problemType},
			body: `{"type":"urn:keyward:problem:invalid","title":"Bad Request","status":400,"detail":"invalid key",` +
				`"instance":"/orgs/432/api_keys","request_id":"r1","errors":[{"field":"body","reason":"is not JSON"}]}`}},
		{"bad key id", exchange{method: "GET", path: "/api_keys/key-0", status: 400,
			header: map[string]string{"Content-Type": problemType}, body: problemJSON("invalid", 400)}},
		{"unauthorized", exchange{method: "GET", path: "/api_keys", status: 401,
			header: map[string]string{"Content-Type": problemType, "WWW-Authenticate": `Bearer realm="keyward"`},
			body:   problemJSON("unauthorized", 401)}},
		{"too large", exchange{method: "POST", path: "/api_keys", status: 413,
			header: map[string]string{"Content-Type": problemType}, body: problemJSON("payload-too-large", 413)}},
		{"unknown path", exchange{method: "GET", path: "/nope", status: 404,
			header: map[string]string{"Content-Type": problemType}, body: problemJSON("not-found", 404)}},
		{"trailing slash", exchange{method: "GET", path: "/api_keys/", status: 404,
			header: map[string]string{"Content-Type": problemType}, body: problemJSON("not-found", 404)}},
		{"wrong method", exchange{method: "PUT", path: "/orgs/432/api_keys", status: 405,
			header: map[string]string{"Content-Type": problemType, "Allow": "GET, HEAD, POST"},
			body:   problemJSON("method-not-allowed", 405)}},
	}
	tests = append(tests, []struct {
		name string
		x    exchange
	}{
		{"CORS preflight allowed", exchange{method: "OPTIONS", path: "/orgs/432/api_keys/key-1", reqHeader: preflight("PATCH"), status: 204,
			header: map[string]string{"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Methods": "GET, HEAD, PATCH, DELETE"}}},
		{"CORS preflight refused", exchange{method: "OPTIONS", path: "/verify", reqHeader: preflight("POST"), status: 403,
			header: map[string]string{"Content-Type": problemType}, body: problemJSON("forbidden", 403)}},
		{"CORS preflight without CORS", exchange{method: "OPTIONS", path: "/verify", reqHeader: preflight("POST"), status: 405,
			header: map[string]string{"Content-Type": problemType, "Allow": "POST"}, body: problemJSON("method-not-allowed", 405)}},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if r := roundTrip(t, tt.x); len(r) > 0 {
				t.Errorf("a valid response was reported: %q", r)
			}
		})
	}
}

func TestTransportReports(t *testing.T) {
	secret := keyward.NewSecret().Reveal()
	created := map[string]string{
		"Content-Type":  jsonType,
		"Location":      "/orgs/432/api_keys/key-456",
		"Cache-Control": "no-store",
		"ETag":          `"1"`,
	}
	without := func(h map[string]string, name string) map[string]string {
		out := make(map[string]string, len(h))
		for k, v := range h {
			if k != name {
				out[k] = v
			}
		}
		return out
	}
	json := map[string]string{"Content-Type": jsonType}
	problem := map[string]string{"Content-Type": problemType}
	tests := []struct {
		name string
		x    exchange
	}{
		{"wrong health", exchange{method: "GET", path: "/healthz", status: 200, header: json, body: `{"status":"up"}`}},
		{"key without hint", exchange{method: "GET", path: "/orgs/432/api_keys/key-123", status: 200, header: json,
			body: strings.Replace(keyJSON, `,"hint":"kw_Ab3d...x9Zq"`, "", 1)}},
		{"key with an extra field", exchange{method: "GET", path: "/orgs/432/api_keys/key-123", status: 200, header: json,
			body: strings.Replace(keyJSON, `}`, `,"hash":"abc"}`, 1)}},
		{"upper-case permission", exchange{method: "GET", path: "/api_keys/key-123", status: 200, header: json,
			body: strings.Replace(keyJSON, `"read"`, `"READ"`, 1)}},
		{"created_at not a date-time", exchange{method: "GET", path: "/api_keys/key-123", status: 200, header: json,
			body: strings.Replace(keyJSON, `2023-11-18T12:00:00Z`, `yesterday`, 1)}},
		{"numeric key id", exchange{method: "GET", path: "/api_keys/key-123", status: 200, header: json,
			body: strings.Replace(keyJSON, `"key-123"`, `123`, 1)}},
		{"list in an envelope", exchange{method: "GET", path: "/orgs/432/api_keys", status: 200, header: json,
			body: `{"keys":[` + keyJSON + `]}`}},
		{"malformed Link", exchange{method: "GET", path: "/orgs/432/api_keys", status: 200,
			header: map[string]string{"Content-Type": jsonType, "Link": `/orgs/432/api_keys?cursor=x`}, body: `[]`}},
		{"undocumented status", exchange{method: "DELETE", path: "/orgs/432/api_keys/key-123", status: 204}},
		{"get without ETag", exchange{method: "GET", path: "/orgs/432/api_keys/key-123", status: 200,
			header: without(keyHeaders, "ETag"), body: keyJSON}},
		{"weak ETag", exchange{method: "PATCH", path: "/orgs/432/api_keys/key-123", status: 200,
			header: map[string]string{"Content-Type": jsonType, "ETag": `W/"2"`}, body: keyJSON}},
		{"key without state", exchange{method: "GET", path: "/orgs/432/api_keys/key-123", status: 200,
			header: keyHeaders, body: strings.Replace(keyJSON, `,"state":"active"`, "", 1)}},
		{"unknown state", exchange{method: "GET", path: "/orgs/432/api_keys/key-123", status: 200,
			header: keyHeaders, body: strings.Replace(keyJSON, `"active"`, `"revoked"`, 1)}},
		{"rotate without Cache-Control", exchange{method: "POST", path: "/orgs/432/api_keys/key-123/rotate", status: 200,
			header: map[string]string{"Content-Type": jsonType, "ETag": `"3"`}, body: rotatedJSON(secret, "null")}},
		{"rotate without the secret", exchange{method: "POST", path: "/orgs/432/api_keys/key-123/rotate", status: 200,
			header: map[string]string{"Content-Type": jsonType, "ETag": `"3"`, "Cache-Control": "no-store"}, body: keyJSON}},
		{"event with a hash", exchange{method: "GET", path: "/orgs/432/audit_events", status: 200, header: json,
			body: "[" + strings.Replace(eventJSON, `}`, `,"hash":"abc"}`, 1) + "]"}},
		{"change without its after", exchange{method: "GET", path: "/orgs/432/audit_events", status: 200, header: json,
			body: "[" + strings.Replace(eventJSON, `,"to":"b"`, "", 1) + "]"}},
		{"change with an extra member", exchange{method: "GET", path: "/audit_events", status: 200, header: json,
			body: "[" + strings.Replace(eventJSON, `"to":"b"`, `"to":"b","by":"x"`, 1) + "]"}},
		{"verification with credits of another shape", exchange{method: "POST", path: "/verify", status: 200,
			header: map[string]string{"Content-Type": jsonType, "Cache-Control": "no-store"},
			body: `{"valid":true,"code":"VALID","key_id":"key-1","org_id":"432","name":"n","permissions":["read"],` +
				`"metadata":{},"credits":{"remaining":-1}}`}},
		{"412 on a GET", exchange{method: "GET", path: "/orgs/432/api_keys", status: 412, header: problem,
			body: problemJSON("precondition-failed", 412)}},
		{"JSON not problem+json", exchange{method: "GET", path: "/orgs/432/api_keys/key-123", status: 404, header: json,
			body: problemJSON("not-found", 404)}},
		{"problem of another status", exchange{method: "GET", path: "/orgs/432/api_keys/key-123", status: 404,
			header: problem, body: problemJSON("invalid", 400)}},
		{"problem without detail", exchange{method: "GET", path: "/api_keys", status: 403, header: problem,
			body: `{"type":"urn:keyward:problem:forbidden","title":"Forbidden","status":403}`}},
		{"401 without WWW-Authenticate", exchange{method: "GET", path: "/api_keys", status: 401, header: problem,
			body: problemJSON("unauthorized", 401)}},
		{"create without Location", exchange{method: "POST", path: "/orgs/432/api_keys", status: 201,
			header: without(created, "Location"), body: createdJSON(secret)}},
		{"create without Cache-Control", exchange{method: "POST", path: "/orgs/432/api_keys", status: 201,
			header: without(created, "Cache-Control"), body: createdJSON(secret)}},
		{"create without the secret", exchange{method: "POST", path: "/orgs/432/api_keys", status: 201,
			header: created, body: keyJSON}},
		{"413 on a GET", exchange{method: "GET", path: "/orgs/432/api_keys", status: 413, header: problem,
			body: problemJSON("payload-too-large", 413)}},
		{"the document as JSON", exchange{method: "GET", path: "/openapi.yaml", status: 200, header: json,
			body: `{"openapi":"3.1.0"}`}},
		{"unknown path, plain text", exchange{method: "GET", path: "/nope", status: 404,
			header: map[string]string{"Content-Type": "text/plain; charset=utf-8"}, body: "404 page not found\n"}},
		{"unknown path answered 200", exchange{method: "GET", path: "/nope", status: 200, header: json, body: `{}`}},
		{"unknown path, problem of another kind", exchange{method: "GET", path: "/nope", status: 404, header: problem,
			body: problemJSON("invalid", 404)}},
		{"wrong method, plain text", exchange{method: "PUT", path: "/api_keys/key-1", status: 405,
			header: map[string]string{"Content-Type": "text/plain"}, body: "Method Not Allowed\n"}},
		{"wrong method, problem missing title", exchange{method: "PUT", path: "/healthz", status: 405, header: problem,
			body: `{"type":"urn:keyward:problem:method-not-allowed","status":405,"detail":"no"}`}},
		{"CORS preflight without Allow-Origin", exchange{method: "OPTIONS", path: "/verify", reqHeader: preflight("POST"), status: 204,
			header: map[string]string{"Access-Control-Allow-Methods": "POST"}}},
		{"CORS preflight without the method asked for", exchange{method: "OPTIONS", path: "/api_keys/key-1", reqHeader: preflight("PATCH"), status: 204,
			header: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, DELETE"}}},
		{"CORS preflight refused with Allow-Origin", exchange{method: "OPTIONS", path: "/verify", reqHeader: preflight("POST"), status: 403,
			header: map[string]string{"Content-Type": problemType, "Access-Control-Allow-Origin": "*"}, body: problemJSON("forbidden", 403)}},
		{"CORS preflight refused, plain text", exchange{method: "OPTIONS", path: "/verify", reqHeader: preflight("POST"), status: 403,
			header: map[string]string{"Content-Type": "text/plain"}, body: "no"}},
		{"CORS preflight answered 200", exchange{method: "OPTIONS", path: "/verify", reqHeader: preflight("POST"), status: 200,
			header: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := roundTrip(t, tt.x)
			if len(r) == 0 {
				t.Fatal("a response that breaks the document was not reported")
			}
			path, _, _ := strings.Cut(tt.x.path, "?")
			for _, msg := range r {
				if !strings.Contains(msg, tt.x.method+" "+path) {
					t.Errorf("the report does not name the request: %s", msg)
				}
				if strings.Contains(msg, secret) {
					t.Errorf("the report shows the secret: %s", msg)
				}
				t.Log(msg)
			}
		})
	}
}

// TestTransportMasksSecrets checks that no report shows a secret, whatever
// is wrong with the response that carries it.
func TestTransportMasksSecrets(t *testing.T) {
	secret := keyward.NewSecret().Reveal()
	created := map[string]string{
		"Content-Type":  jsonType,
		"Location":      "/orgs/432/api_keys/key-456",
		"Cache-Control": "no-store",
		"ETag":          `"1"`,
	}
	tests := []struct {
		name   string
		x      exchange
		secret string // what must not appear in a report
	}{
		{"extra field", exchange{status: 201, header: created,
			body: strings.Replace(createdJSON(secret), `{`, `{"extra":1,`, 1)}, secret},
		{"secret too long", exchange{status: 201, header: created, body: createdJSON(secret + "abc")}, secret},
		{"secret without prefix", exchange{status: 201, header: created, body: createdJSON(secret[3:] + "!")}, secret[3:]},
		{"secret in a problem", exchange{status: 400, header: map[string]string{"Content-Type": problemType},
			body: strings.Replace(createdJSON(secret), `{`, `{"status":400,`, 1)}, secret},
		// The JSON Schema validator quotes a string that fails its pattern.
		{"secret in a header", exchange{status: 201,
			header: map[string]string{"Content-Type": jsonType, "Cache-Control": "no-store", "Location": "/x/" + secret},
			body:   createdJSON(secret)}, secret},
		{"secret in a listing", exchange{method: "GET", status: 200, header: map[string]string{"Content-Type": jsonType},
			body: "[" + createdJSON(secret) + "]"}, secret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			x := tt.x
			if x.method == "" {
				x.method = "POST"
			}
			x.path = "/orgs/432/api_keys"
			r := roundTrip(t, x)
			if len(r) == 0 {
				t.Fatal("not reported")
			}
			for _, msg := range r {
				if strings.Contains(msg, tt.secret) || strings.Contains(msg, secret[3:20]) {
					t.Errorf("the report shows the secret: %s", msg)
				}
				t.Log(msg)
			}
		})
	}
}

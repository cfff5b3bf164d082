package httpapi_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi"
)

func TestHealth(t *testing.T) {
	e := newEnv(t)
	r := e.req("GET", "/healthz", "", nil)
	want(t, r, http.StatusOK)
	r = e.req("GET", "/readyz", "", nil)
	want(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), `"ready"`) {
		t.Errorf("readyz body %s", r.body)
	}

	r = e.req("GET", "/openapi.yaml", "", nil)
	want(t, r, http.StatusOK)
	if string(r.body) != string(keyward.OpenAPIDocument) || !strings.HasPrefix(r.header.Get("Content-Type"), "application/yaml") {
		t.Errorf("openapi.yaml: %s, %d bytes", r.header.Get("Content-Type"), len(r.body))
	}

	// With the database gone, the process is alive but not ready, and a
	// request that needs the database fails with no internal detail.
	e.db.Close()
	want(t, e.req("GET", "/healthz", "", nil), http.StatusOK)
	r = e.req("GET", "/readyz", "", nil)
	want(t, r, http.StatusServiceUnavailable)
	r.problem(t)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	r = e.req("GET", "/orgs/acme/api_keys", e.root, nil)
	if r.status != http.StatusInternalServerError && r.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d with the database closed", r.status)
	}
	p := r.problem(t)
	if strings.Contains(strings.ToLower(p.Detail), "sql") || strings.Contains(strings.ToLower(p.Detail), "closed") {
		t.Errorf("problem leaks internal detail: %q", p.Detail)
	}
	if p.RequestID == "" || !strings.Contains(e.logs.String(), p.RequestID) {
		t.Error("the failure is not logged with its request id")
	}
}

func TestRequestIDAndLogLines(t *testing.T) {
	e := newEnv(t)
	r := e.req("GET", "/healthz", "", nil, "X-Request-Id", "trace-abc.123")
	if got := r.header.Get("X-Request-Id"); got != "trace-abc.123" {
		t.Errorf("sane request id not echoed: %q", got)
	}
	// A key sent in the wrong header is neither echoed nor logged.
	e.secrets = append(e.secrets, e.root)
	for _, insane := range []string{"has space", strings.Repeat("x", 200), `quote"`, "", e.root, "trace-" + e.root[:10]} {
		r := e.req("GET", "/healthz", "", nil, "X-Request-Id", insane)
		got := r.header.Get("X-Request-Id")
		if got == "" || got == insane {
			t.Errorf("request id %q: got %q, want a generated one", insane, got)
		}
	}
	r = e.req("GET", "/orgs/acme/api_keys/key-5", e.root, nil, "X-Request-Id", "find-me")
	want(t, r, http.StatusNotFound)
	if r.problem(t).RequestID != "find-me" {
		t.Error("problem lacks the request id")
	}

	var line map[string]any
	sc := bufio.NewScanner(strings.NewReader(e.logs.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v", err)
		}
		if m["msg"] == "request" && m["request_id"] == "find-me" {
			line = m
		}
	}
	if line == nil {
		t.Fatal("no request log line with request_id find-me")
	}
	if line["method"] != "GET" || line["route"] != "GET /orgs/{org_id}/api_keys/{key_id}" || line["status"] != float64(404) {
		t.Errorf("log line %v", line)
	}
	if _, ok := line["duration"]; !ok {
		t.Errorf("log line has no duration: %v", line)
	}
}

// While the instance warms up (its cache is being filled), /readyz
// answers 503 with Retry-After, though the database answers; the API
// serves all the same.
func TestReadyzWarmingUp(t *testing.T) {
	var warming atomic.Bool
	warming.Store(true)
	e := newEnvOpts(t, nil, httpapi.WithWarmUp(warming.Load))
	r := e.req("GET", "/readyz", "", nil)
	want(t, r, http.StatusServiceUnavailable)
	if p := r.problem(t); !strings.Contains(p.Detail, "warming up") {
		t.Errorf("readyz while warming: detail %q, want it to say so", p.Detail)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	want(t, e.req("GET", "/orgs/acme/api_keys", e.root, nil), http.StatusOK)
	warming.Store(false)
	want(t, e.req("GET", "/readyz", "", nil), http.StatusOK)
}

package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestRecoverPanics checks that a panic becomes a 500 problem, is logged
// with the request id, and that a secret in the panic value is redacted.
// A panic cannot be provoked through the real API, so this test builds the
// handler chain around one that panics.
func TestRecoverPanics(t *testing.T) {
	secret := keyward.NewSecret()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	h := observe(logger, newLogSampler(time.Now), nil, recoverPanics(logger, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(struct{ S keyward.Secret }{secret})
	})))
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/boom", nil)
	r.Header.Set("X-Request-Id", "req-77")
	h.ServeHTTP(w, r)
	if w.Code != http.StatusInternalServerError || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d, content type %q", w.Code, w.Header().Get("Content-Type"))
	}
	if strings.Contains(w.Body.String(), "panic") || !strings.Contains(w.Body.String(), "internal error") {
		t.Errorf("body %s", w.Body)
	}
	if !strings.Contains(logs.String(), `"request_id":"req-77"`) || !strings.Contains(logs.String(), `"msg":"panic"`) {
		t.Errorf("panic not logged with its request id: %s", logs.String())
	}
	if strings.Contains(logs.String(), secret.Reveal()) {
		t.Error("the secret in the panic value reached the log")
	}
}

// TestRequestLogLevels checks which requests write a line at which level:
// the quiet routes (verification, probes) only at debug level, unless they
// fail with a 5xx; every other request at info level.
func TestRequestLogLevels(t *testing.T) {
	status := http.StatusOK
	mux := http.NewServeMux()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) })
	mux.Handle("POST /verify", h)
	mux.Handle("GET /healthz", h)
	mux.Handle("GET /orgs/{org_id}/api_keys", h)
	for _, tt := range []struct {
		level  slog.Level
		method string
		path   string
		status int
		want   string // the level of the line written, or "" for none
	}{
		{slog.LevelInfo, "POST", "/verify", 200, ""},
		{slog.LevelInfo, "POST", "/verify", 400, ""},
		{slog.LevelInfo, "POST", "/verify", 503, "WARN"},
		{slog.LevelInfo, "POST", "/verify", 500, "ERROR"},
		{slog.LevelInfo, "GET", "/orgs/acme/api_keys", 500, "ERROR"},
		{slog.LevelInfo, "GET", "/healthz", 200, ""},
		{slog.LevelInfo, "GET", "/orgs/acme/api_keys", 200, "INFO"},
		{slog.LevelInfo, "GET", "/orgs/acme/api_keys", 404, "INFO"},
		{slog.LevelInfo, "GET", "/no/such/route", 404, "INFO"},
		{slog.LevelDebug, "POST", "/verify", 200, "DEBUG"},
		{slog.LevelDebug, "GET", "/orgs/acme/api_keys", 200, "INFO"},
		{slog.LevelWarn, "GET", "/orgs/acme/api_keys", 200, ""},
	} {
		var logs bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: tt.level}))
		status = tt.status
		observe(logger, newLogSampler(time.Now), nil, mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, tt.path, nil))
		got := ""
		if logs.Len() > 0 {
			var line struct{ Level, Msg string }
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.Msg != "request" {
				t.Fatalf("log %q: %v", logs.String(), err)
			}
			got = line.Level
		}
		if got != tt.want {
			t.Errorf("logger at %v, %s %s answering %d: line at %q, want %q", tt.level, tt.method, tt.path, tt.status, got, tt.want)
		}
	}
}

package httpapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
	h := observe(logger, recoverPanics(logger, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
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

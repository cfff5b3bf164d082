package prometheus_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/prometheus"
)

// Each observation lands under its labels: a verification under its code
// (a code outside the known set too), a request under its route and
// status class (statuses outside 1xx to 5xx as 5xx), a flush with its
// keys and its error.
func TestObservations(t *testing.T) {
	m := prometheus.New(prometheus.Sources{})
	m.Verification(keyward.VerifyValid)
	m.Verification(keyward.VerifyValid)
	m.Verification("SOMETHING_NEW")
	m.Request("POST /verify", 200, time.Millisecond)
	m.Request("POST /verify", 429, time.Millisecond)
	m.Request("unmatched", 999, time.Millisecond)
	m.Flushed(3, time.Second, nil)
	m.Flushed(0, time.Second, io.ErrUnexpectedEOF)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`keyward_verifications_total{code="VALID"} 2`,
		`keyward_verifications_total{code="SOMETHING_NEW"} 1`,
		`keyward_verifications_total{code="NOT_FOUND"} 0`,
		`keyward_http_request_duration_seconds_count{code="2xx",route="POST /verify"} 1`,
		`keyward_http_request_duration_seconds_count{code="4xx",route="POST /verify"} 1`,
		`keyward_http_request_duration_seconds_count{code="5xx",route="unmatched"} 1`,
		`keyward_last_used_flushed_keys_total 3`,
		`keyward_last_used_flush_errors_total 1`,
		`keyward_last_used_flush_duration_seconds_count 2`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

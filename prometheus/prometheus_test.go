package prometheus_test

import (
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/redistest"
	"github.com/keyward/keyward/prometheus"
	"github.com/keyward/keyward/redis"
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
	m.InvalidationLag(3 * time.Millisecond)
	m.InvalidationLag(2 * time.Second)

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
		`keyward_invalidation_lag_seconds_bucket{le="0.005"} 1`,
		`keyward_invalidation_lag_seconds_bucket{le="2.5"} 2`,
		`keyward_invalidation_lag_seconds_count 2`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// scrapeText serves m's /metrics and returns the text.
func scrapeText(t *testing.T, m *prometheus.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

// seriesValue is the value of series in a scrape's text, or -1.
func seriesValue(text, series string) float64 {
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// The Redis limiter's figures move with its checks, its round trips, and
// the verifications it decides without Redis: on the real Redis, and on
// an address where none answers.
func TestRedisLimiterMetrics(t *testing.T) {
	url := redistest.URL(t)
	limits := []keyward.RateLimit{{Name: "requests", Limit: 100, Duration: time.Minute}}
	l, err := redis.New(url, redis.WithKeyPrefix(redistest.Prefix(t, url)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := prometheus.New(prometheus.Sources{Limiter: l})
	if _, ok, err := l.Take(t.Context(), 1, limits, 1, time.Now()); err != nil || !ok {
		t.Fatalf("Take: %v, %v", ok, err)
	}
	text := scrapeText(t, m)
	if v := seriesValue(text, "keyward_rate_limit_redis_takes_total"); v != 1 {
		t.Errorf("takes = %v, want 1", v)
	}
	if v := seriesValue(text, "keyward_rate_limit_redis_round_trips_total"); v < 1 {
		t.Errorf("round trips = %v, want at least 1", v)
	}

	down, err := redis.New("redis://127.0.0.1:1/0", redis.WithTimeout(50*time.Millisecond), redis.WithFailureMode(redis.FailOpen))
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	m = prometheus.New(prometheus.Sources{Limiter: down})
	if _, ok, err := down.Take(t.Context(), 1, limits, 1, time.Now()); err != nil || !ok {
		t.Fatalf("Take with Redis down, failing open: %v, %v", ok, err)
	}
	text = scrapeText(t, m)
	if v := seriesValue(text, `keyward_rate_limit_redis_unavailable_total{decision="admitted"}`); v != 1 {
		t.Errorf("admitted without Redis = %v, want 1", v)
	}
	if v := seriesValue(text, "keyward_rate_limit_redis_errors_total"); v < 1 {
		t.Errorf("errors = %v, want at least 1", v)
	}
}

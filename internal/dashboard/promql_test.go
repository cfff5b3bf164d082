package dashboard_test

import (
	"slices"
	"testing"

	"github.com/keyward/keyward/internal/dashboard"
)

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		name, expr string
		want       []string
	}{
		{"bare", `up`, []string{"up"}},
		{"rate with a Grafana interval", `sum by (code) (rate(keyward_verifications_total{instance=~"$instance"}[$__rate_interval]))`,
			[]string{"keyward_verifications_total"}},
		{"quantile of a histogram", `histogram_quantile(0.99, sum by (le) (rate(keyward_http_request_duration_seconds_bucket{route="POST /verify",job=~"$job"}[5m])))`,
			[]string{"keyward_http_request_duration_seconds_bucket"}},
		{"a ratio, by after the aggregation", `sum(rate(a_total{result="hit"}[1m])) by (instance) / ignoring(result) sum(rate(a_total[1m])) by (instance)`,
			[]string{"a_total"}},
		{"binary operators and bool", `x > bool 0.5 and on(instance) y or z unless w`, []string{"w", "x", "y", "z"}},
		{"group_left with labels", `a * on (instance) group_left(pool, state) b`, []string{"a", "b"}},
		{"numbers and durations", `max_over_time(m[1h30m:1m]) offset -5m > 1e-3 * 2 + 0x1f + Inf - NaN`, []string{"m"}},
		{"strings with braces and quotes", `label_replace(m{a="}{",b='x\'y'}, "dst", "$1", "src", "(.*)")`, []string{"m"}},
		{"label names in matchers are not metrics", `m{le="+Inf", code=~"5.."}`, []string{"m"}},
		{"colons of recording rules", `job:keyward_requests:rate5m`, []string{"job:keyward_requests:rate5m"}},
		{"variables in braces", `m{instance=~"${instance:regex}"} / n[${__rate_interval}]`, []string{"m", "n"}},
		{"once each, sorted", `b + a + b`, []string{"a", "b"}},
		{"suffixes kept", `m_sum / m_count`, []string{"m_count", "m_sum"}},
		{"keywords any case", `a AND b Or c`, []string{"a", "b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dashboard.MetricNames(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("MetricNames(%q) = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}

func TestMetricNamesRefuses(t *testing.T) {
	for _, expr := range []string{
		`histogram_quantle(0.99, m)`, // not a function
		`m{a="b}`,                    // string not closed
		`sum(rate(m[5m))`,            // bracket not closed
	} {
		if got, err := dashboard.MetricNames(expr); err == nil {
			t.Errorf("MetricNames(%q) = %q, want an error", expr, got)
		}
	}
}

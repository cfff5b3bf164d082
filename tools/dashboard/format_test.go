package main

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/dashboard"
)

func TestBuiltin(t *testing.T) {
	for _, tc := range []struct {
		step, scrape time.Duration
		want         string
	}{
		{5 * time.Second, 5 * time.Second, "20s"},    // 4 × scrape
		{time.Minute, 5 * time.Second, "65s"},        // step + scrape
		{1500 * time.Millisecond, time.Second, "4s"}, // 4 × scrape
		{500 * time.Millisecond, 100 * time.Millisecond, "600ms"},
	} {
		if got := builtin(tc.step, tc.scrape, time.Hour)["__rate_interval"]; got != tc.want {
			t.Errorf("step %s, scrape %s: $__rate_interval %s, want %s", tc.step, tc.scrape, got, tc.want)
		}
	}
}

func TestExpand(t *testing.T) {
	vars := variables{"job": "keyward", "instance": ".*", "__rate_interval": "20s"}
	for _, tc := range []struct{ in, want string }{
		{`rate(m{job=~"$job", instance=~"$instance"}[$__rate_interval])`, `rate(m{job=~"keyward", instance=~".*"}[20s])`},
		{`m{job="${job}"}[${__rate_interval}]`, `m{job="keyward"}[20s]`},
		{`m{job="${job:regex}"} [[instance]]`, `m{job="keyward"} .*`},
		{`m{job="$unknown"}`, `m{job="$unknown"}`},
		{`$jobs`, `$jobs`}, // a longer name is another variable
	} {
		if got := vars.expand(tc.in); got != tc.want {
			t.Errorf("expand(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestTemplateVariables(t *testing.T) {
	d := &dashboard.Dashboard{}
	d.Templating.List = []dashboard.Variable{{Name: "job", AllValue: ".+"}, {Name: "instance"}}
	got := templateVariables(d, map[string]string{"instance": "a:1", "extra": "x"})
	want := variables{"job": ".+", "instance": "a:1", "extra": "x"}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestLegend(t *testing.T) {
	labels := map[string]string{"code": "VALID", "instance": "a:1"}
	for _, tc := range []struct{ format, want string }{
		{"{{code}}", "VALID"},
		{"{{ code }} on {{instance}}", "VALID on a:1"},
		{"{{missing}} p99", "p99"},
		{"", `{code="VALID", instance="a:1"}`},
		{"__auto", `{code="VALID", instance="a:1"}`},
	} {
		if got := legend(tc.format, labels); got != tc.want {
			t.Errorf("legend(%q) = %q, want %q", tc.format, got, tc.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		unit     string
		v        float64
		decimals int
		want     string
	}{
		{"percentunit", 0.953, -1, "95.3%"},
		{"percentunit", 1, -1, "100%"},
		{"s", 0.00005, -1, "50 µs"},
		{"s", 0.0052, -1, "5.2 ms"},
		{"s", 1.5, -1, "1.5 s"},
		{"s", 90, -1, "1.5 min"},
		{"s", 0, -1, "0 s"},
		{"reqps", 1500, -1, "1.5 K req/s"},
		{"reqps", 0.25, -1, "0.25 req/s"},
		{"ops", 12, -1, "12 ops/s"},
		{"short", 2500000, -1, "2.5 Mil"},
		{"bytes", 3 << 20, -1, "3 MiB"},
		{"none", 1, -1, "1"},
		{"none", 0.123456, 2, "0.12"},
		{"short", math.NaN(), -1, "No data"},
	} {
		if got := formatValue(tc.unit, tc.v, tc.decimals); got != tc.want {
			t.Errorf("formatValue(%s, %v, %d) = %q, want %q", tc.unit, tc.v, tc.decimals, got, tc.want)
		}
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 180, 5, []float64{0, 50, 100, 150, 200}},
		{0, 1, 4, []float64{0, 0.25, 0.5, 0.75, 1}},
		{0, 0.0061, 3, []float64{0, 0.0025, 0.005, 0.0075}},
		{0, 0, 2, []float64{0, 0.5, 1}}, // no range: 0 to 1
	} {
		got := niceTicks(tc.lo, tc.hi, tc.n)
		if !slices.EqualFunc(got, tc.want, func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }) {
			t.Errorf("niceTicks(%v, %v, %d) = %v, want %v", tc.lo, tc.hi, tc.n, got, tc.want)
		}
	}
}

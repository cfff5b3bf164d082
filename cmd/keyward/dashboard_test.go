package main

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/dashboard"
	"github.com/keyward/keyward/internal/redistest"
)

// exported returns the metric names a /metrics text holds: each
// sample's name, and each family's from its TYPE line with, for a
// histogram or summary, the _bucket, _sum and _count series it is
// queried by.
func exported(text string) map[string]bool {
	names := make(map[string]bool)
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) != 2 {
				continue
			}
			names[f[0]] = true
			if f[1] == "histogram" || f[1] == "summary" {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					names[f[0]+s] = true
				}
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// Every metric the Grafana dashboard (docs/grafana/keyward.json) queries
// is one a real keyward exports: started with every part the dashboard
// shows (Redis rate limits, the last-used recorder, the failure throttle),
// after the requests that make the labelled families appear, and once
// the invalidation feed has confirmed. A panel that names a metric
// keyward does not have, or no longer has, fails here rather than stay
// empty on an operator's screen.
func TestDashboardMetricsExported(t *testing.T) {
	d, err := dashboard.Load(filepath.Join("..", "..", "docs", "grafana", "keyward.json"))
	if err != nil {
		t.Fatal(err)
	}
	queries, err := d.Queries()
	if err != nil {
		t.Fatal(err)
	}
	wanted := make(map[string][]string) // metric → where the dashboard uses it
	for _, q := range queries {
		names, err := dashboard.MetricNames(q.Expr)
		if err != nil {
			t.Fatalf("%s: %v", q.Where, err)
		}
		for _, n := range names {
			wanted[n] = append(wanted[n], q.Where)
		}
	}
	if len(wanted) < 25 {
		t.Fatalf("the dashboard's queries name %d metrics; the extraction has lost some", len(wanted))
	}

	url := redistest.URL(t)
	p := startProcessWith(t, true, "--db", filepath.Join(t.TempDir(), "k.db"), "--metrics-addr", "127.0.0.1:0",
		"--last-used-interval", "50ms", "--redis-url", url, "--redis-key-prefix", redistest.Prefix(t, url))
	addr := p.stderr.waitFor(t, metricsListeningRE, p.done())
	_, secret := createOn(t, p, p.root)
	if code := verifyCode(t, p, secret); code != "VALID" {
		t.Fatalf("verify: %s", code)
	}
	if status, body := call(t, "GET", p.url+"/orgs/acme/api_keys", p.root, ""); status != http.StatusOK {
		t.Fatalf("list: %d %s", status, body)
	}
	var text string
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, text = scrape(t, addr)
		if strings.Contains(text, "\nkeyward_invalidation_feed_confirmation_age_seconds ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the invalidation feed has not confirmed within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	have := exported(text)
	var missing []string
	for n, where := range wanted {
		if !have[n] {
			missing = append(missing, n+" (in "+strings.Join(where, "; ")+")")
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("the dashboard queries %s, which keyward does not export", m)
	}
}

// exported reads names from samples and from TYPE lines, and gives a
// histogram its series; label names, values and comments are not names.
func TestExportedNames(t *testing.T) {
	text := "# HELP a_seconds Time.\n# TYPE a_seconds histogram\n" +
		`a_seconds_bucket{le="0.1",route="x_total"} 1` + "\n" +
		"# TYPE b_total counter\nb_total 3\nc{d=\"e f\"} 1\n"
	got := exported(text)
	for _, n := range []string{"a_seconds", "a_seconds_bucket", "a_seconds_sum", "a_seconds_count", "b_total", "c"} {
		if !got[n] {
			t.Errorf("%s not read", n)
		}
	}
	for _, n := range []string{"x_total", "le", "route", "HELP", "d", "Time."} {
		if got[n] {
			t.Errorf("%s read as a metric", n)
		}
	}
}

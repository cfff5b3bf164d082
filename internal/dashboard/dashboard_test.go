package dashboard_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/dashboard"
)

const shipped = "../../docs/grafana/keyward.json"

// Queries finds the panels' targets, those of a collapsed row's panels,
// and the selectors of the query variables, in both of the shapes
// Grafana writes a variable's query in.
func TestQueries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.json")
	doc := `{
	  "templating": {"list": [
	    {"name": "datasource", "type": "datasource", "query": "prometheus"},
	    {"name": "job", "type": "query", "query": "label_values(up_total, job)"},
	    {"name": "instance", "type": "query", "query": {"query": "label_values(m{job=~\"$job\"}, instance)", "refId": "x"}},
	    {"name": "any", "type": "query", "query": "label_values(instance)"}
	  ]},
	  "panels": [
	    {"type": "row", "title": "Open", "panels": []},
	    {"type": "timeseries", "title": "A", "targets": [{"refId": "A", "expr": "rate(a_total[5m])"}]},
	    {"type": "row", "title": "Shut", "collapsed": true, "panels": [
	      {"type": "stat", "title": "B", "targets": [{"refId": "A", "expr": "b"}, {"refId": "B", "expr": "c"}]}
	    ]}
	  ]
	}`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := dashboard.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := d.Queries()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, q := range qs {
		got = append(got, q.Where+": "+q.Expr)
	}
	want := []string{
		`variable job: up_total`,
		`variable instance: m{job=~"$job"}`,
		`panel "A", query A: rate(a_total[5m])`,
		`panel "B", query A: b`,
		`panel "B", query B: c`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Queries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The shipped dashboard is what Grafana 10 and 11 import: a datasource
// input, the variables, the rows in the order an operator reads them,
// and panels that each say what they show, in a unit, without
// overlapping on the grid. Every query parses.
func TestShippedDashboard(t *testing.T) {
	b, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Inputs []struct {
			Name, Type, PluginID string
		} `json:"__inputs"`
		SchemaVersion int `json:"schemaVersion"`
		UID           string
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Inputs) != 1 || raw.Inputs[0].Name != "DS_PROMETHEUS" || raw.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs %+v, want one Prometheus datasource named DS_PROMETHEUS", raw.Inputs)
	}
	if raw.SchemaVersion < 36 || raw.SchemaVersion > 41 {
		t.Errorf("schemaVersion %d, want that of Grafana 10 or 11", raw.SchemaVersion)
	}
	if !strings.Contains(string(b), "${DS_PROMETHEUS}") {
		t.Error("nothing refers to ${DS_PROMETHEUS}: the import's choice of datasource would be lost")
	}
	d, err := dashboard.Load(shipped)
	if err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	if !slices.Equal(vars, []string{"datasource", "job", "instance"}) {
		t.Errorf("variables %q, want datasource, job, instance", vars)
	}

	var rows []string
	cells := map[[2]int]string{}
	for _, p := range d.All() {
		if p.Type == "row" {
			rows = append(rows, p.Title)
			if p.GridPos.W != 24 {
				t.Errorf("row %q: %d columns wide", p.Title, p.GridPos.W)
			}
		} else {
			if p.Description == "" {
				t.Errorf("panel %q has no description", p.Title)
			}
			if p.FieldConfig.Defaults.Unit == "" {
				t.Errorf("panel %q has no unit", p.Title)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if !strings.Contains(tg.Expr, `job=~"$job", instance=~"$instance"`) {
					t.Errorf("panel %q: %s is not restricted to $job and $instance", p.Title, tg.Expr)
				}
				if strings.Contains(tg.Expr, "rate(") && !strings.Contains(tg.Expr, "[$__rate_interval]") && !strings.Contains(tg.Expr, "[5m]") {
					t.Errorf("panel %q: %s takes a rate over neither $__rate_interval nor 5m", p.Title, tg.Expr)
				}
			}
		}
		g := p.GridPos
		if g.X < 0 || g.W <= 0 || g.X+g.W > 24 || g.H <= 0 {
			t.Errorf("panel %q: gridPos %+v is off the grid", p.Title, g)
		}
		for y := g.Y; y < g.Y+g.H; y++ {
			for x := g.X; x < g.X+g.W; x++ {
				if other, taken := cells[[2]int{x, y}]; taken {
					t.Fatalf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
	}
	wantRows := []string{"Verification", "Cache and invalidation", "Management API", "Database", "Background", "Abuse and limits"}
	if !slices.Equal(rows, wantRows) {
		t.Errorf("rows %q, want %q", rows, wantRows)
	}
	qs, err := d.Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		names, err := dashboard.MetricNames(q.Expr)
		if err != nil {
			t.Errorf("%s: %v", q.Where, err)
		}
		if len(names) == 0 {
			t.Errorf("%s: %s selects no metric", q.Where, q.Expr)
		}
	}
}

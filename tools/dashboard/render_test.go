package main

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/browsertest"
	"github.com/keyward/keyward/internal/dashboard"
)

// testDashboard has a row, a stacked time series with dashed thresholds,
// and a stat panel with a value mapping (in a colour its thresholds do
// not give).
const testDashboard = `{
  "title": "Test",
  "templating": {"list": [
    {"name": "datasource", "type": "datasource", "query": "prometheus"},
    {"name": "job", "type": "query", "allValue": ".*", "query": "label_values(m, job)"}
  ]},
  "panels": [
    {"type": "row", "title": "The row", "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0}},
    {"type": "timeseries", "title": "Requests", "gridPos": {"h": 8, "w": 16, "x": 0, "y": 1},
     "fieldConfig": {"defaults": {"unit": "reqps", "min": 0,
       "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": null}, {"color": "#EAB839", "value": 3}]},
       "custom": {"stacking": {"mode": "normal"}, "fillOpacity": 20, "thresholdsStyle": {"mode": "dashed"}}}},
     "targets": [{"refId": "A", "expr": "sum by (code) (rate(m{job=~\"$job\"}[$__rate_interval]))", "legendFormat": "{{code}}"}]},
    {"type": "stat", "title": "Trusted", "gridPos": {"h": 8, "w": 8, "x": 16, "y": 1},
     "fieldConfig": {"defaults": {"unit": "none",
       "thresholds": {"mode": "absolute", "steps": [{"color": "red", "value": null}, {"color": "green", "value": 1}]},
       "mappings": [{"type": "value", "options": {"1": {"text": "trusted", "color": "blue"}}},
                    {"type": "range", "options": {"from": 5, "to": 9, "result": {"text": "odd"}}}]}},
     "targets": [{"refId": "A", "expr": "min(trusted{job=~\"$job\"})", "legendFormat": "{{instance}}"}]}
  ]
}`

// fakePrometheus answers range queries as Prometheus does: two series
// for m, one for trusted, and an error for anything with a $ left in it
// (a variable not substituted). It keeps the queries it was asked.
type fakePrometheus struct {
	mu      sync.Mutex
	queries []string
}

func (f *fakePrometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	f.queries = append(f.queries, q.Get("query"))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path != "/api/v1/query_range" || q.Get("start") == "" || q.Get("end") == "" || q.Get("step") == "" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"status":"error","errorType":"bad_data","error":"not a range query"}`)
		return
	}
	if strings.Contains(q.Get("query"), "$") {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"status":"error","errorType":"bad_data","error":"parse error: unexpected character: '$'"}`)
		return
	}
	var start, end int64
	fmt.Sscan(q.Get("start"), &start)
	fmt.Sscan(q.Get("end"), &end)
	values := func(f func(i int) string) string {
		var vs []string
		for i, t := 0, start; t <= end; i, t = i+1, t+5 {
			vs = append(vs, fmt.Sprintf(`[%d,"%s"]`, t, f(i)))
		}
		return strings.Join(vs, ",")
	}
	var result string
	if strings.Contains(q.Get("query"), "trusted") {
		result = `{"metric":{"instance":"a:1"},"values":[` + values(func(int) string { return "1" }) + `]}`
	} else {
		result = `{"metric":{"code":"VALID"},"values":[` + values(func(i int) string { return fmt.Sprint(2 + math.Sin(float64(i))) }) + `]},` +
			`{"metric":{"code":"NOT_FOUND"},"values":[` + values(func(i int) string {
			if i == 3 {
				return "NaN"
			}
			return "0.5"
		}) + `]}`
	}
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[%s]}}`, result)
}

func writeDashboard(t *testing.T, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dashboard.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fetch runs each query with the variables substituted, and the page
// shows each panel: the row, the series under their legends with their
// lines, the thresholds dashed, the stat's mapped value on its colour.
func TestFetchAndRender(t *testing.T) {
	fake := &fakePrometheus{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	d, err := dashboard.Load(writeDashboard(t, testDashboard))
	if err != nil {
		t.Fatal(err)
	}
	end := time.Unix(1_800_000_000, 0)
	r := ranged{Start: end.Add(-5 * time.Minute), End: end, Step: 5 * time.Second}
	vars := templateVariables(d, nil)
	for k, v := range builtin(r.Step, 5*time.Second, 5*time.Minute) {
		vars[k] = v
	}
	panels, err := fetch(context.Background(), prometheusAPI{base: srv.URL, client: srv.Client()}, d, vars, r)
	if err != nil {
		t.Fatal(err)
	}
	wantQueries := []string{`sum by (code) (rate(m{job=~".*"}[20s]))`, `min(trusted{job=~".*"})`}
	if strings.Join(fake.queries, "\n") != strings.Join(wantQueries, "\n") {
		t.Errorf("queries:\n%s\nwant:\n%s", strings.Join(fake.queries, "\n"), strings.Join(wantQueries, "\n"))
	}
	if len(panels) != 3 || len(panels[1].Series) != 2 || len(panels[1].Series[0].Points) != 61 {
		t.Fatalf("panels: %+v", panels)
	}
	doc := renderHTML(page{Title: "Test", Vars: []string{"Job: All"}, Range: r, Footnote: "not Grafana"}, panels, 1200)
	for _, want := range []string{
		`>The row</div>`, `<h2>Requests</h2>`, `<h2>Trusted</h2>`,
		`<i style="background:#73BF69"></i>NOT_FOUND</span>`, `<i style="background:#F2CC0C"></i>VALID</span>`,
		`stroke="#EAB839" stroke-width="1.2" stroke-dasharray="6 4"`, // the threshold at 3 req/s
		`>3 req/s</text>`, `>0 req/s</text>`, `fill-opacity="0.20"`,
		`background:#5794F2"><div class="name">a:1</div>`, `>trusted</div>`,
		`<b>Job</b>All`, `not Grafana`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	// NOT_FOUND has no value at its fourth step: its line breaks there.
	at := strings.Index(doc, `" fill="none" stroke="#73BF69"`)
	if at < 0 {
		t.Fatal("no line for NOT_FOUND")
	}
	line := doc[strings.LastIndex(doc[:at], `<path d="`):at]
	if n := strings.Count(line, "M"); n != 2 {
		t.Errorf("NOT_FOUND's line has %d parts, want 2 (broken where it has no value): %s", n, line)
	}

	// A query Prometheus refuses fails the render, naming the panel.
	bad := strings.Replace(testDashboard, `[$__rate_interval]`, `[$nope]`, 1)
	d, err = dashboard.Load(writeDashboard(t, bad))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fetch(context.Background(), prometheusAPI{base: srv.URL, client: srv.Client()}, d, vars, r)
	if err == nil || !strings.Contains(err.Error(), `panel "Requests"`) || !strings.Contains(err.Error(), "parse error") {
		t.Errorf("fetch with a variable left: %v, want Prometheus's error naming the panel", err)
	}
}

func TestParseMatrix(t *testing.T) {
	ss, err := parseMatrix("q", 200, []byte(`{"status":"success","data":{"resultType":"matrix","result":[
		{"metric":{"a":"b"},"values":[[1700000000.5,"1.5"],[1700000005,"+Inf"],[1700000010,"NaN"]]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 || ss[0].Labels["a"] != "b" || len(ss[0].Points) != 3 {
		t.Fatalf("%+v", ss)
	}
	p := ss[0].Points
	if p[0].V != 1.5 || !p[0].T.Equal(time.Unix(1700000000, 5e8)) || !math.IsNaN(p[1].V) || !math.IsNaN(p[2].V) {
		t.Errorf("points %+v: want 1.5 at .5 s, then no value for +Inf and NaN", p)
	}
	for _, body := range []string{
		`{"status":"error","errorType":"bad_data","error":"boom"}`,
		`{"status":"success","data":{"resultType":"vector","result":[]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,2]]}]}}`,
		`<html>`,
	} {
		if _, err := parseMatrix("q", 400, []byte(body)); err == nil {
			t.Errorf("parseMatrix(%s): no error", body)
		}
	}
}

// Grafana's grid: panels side by side share the width less the gutters,
// and rows of 30 px stack with 8 px between them.
func TestLayout(t *testing.T) {
	l := layout{width: 2*padPx + 24*50 - gutterPx} // columns of 50 px
	for _, tc := range []struct {
		g          dashboard.GridPos
		x, y, w, h int
	}{
		{dashboard.GridPos{X: 0, Y: 0, W: 24, H: 1}, padPx, headerPx, 24*50 - gutterPx, 30},
		{dashboard.GridPos{X: 12, Y: 1, W: 12, H: 8}, padPx + 600, headerPx + 38, 600 - gutterPx, 8*30 + 7*8},
	} {
		x, y, w, h := l.rect(tc.g)
		if x != tc.x || y != tc.y || w != tc.w || h != tc.h {
			t.Errorf("rect(%+v) = %d,%d %dx%d, want %d,%d %dx%d", tc.g, x, y, w, h, tc.x, tc.y, tc.w, tc.h)
		}
	}
}

// The whole command against the fake Prometheus: a PNG of the page's
// size, in Grafana's dark colours, taken by a real Chromium.
func TestRun(t *testing.T) {
	chromium := browsertest.Path(t)
	srv := httptest.NewServer(&fakePrometheus{})
	defer srv.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "d.png")
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"-dashboard", writeDashboard(t, testDashboard), "-prometheus", srv.URL,
		"-last", "5m", "-width", "1000", "-chromium", chromium, "-out", out, "-html", filepath.Join(dir, "d.html")}, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := dashboard.Load(writeDashboard(t, testDashboard))
	var panels []panelData
	for _, p := range d.All() {
		panels = append(panels, panelData{Panel: p})
	}
	if b := img.Bounds(); b.Dx() != 1000 || b.Dy() != (layout{width: 1000}).height(panels) {
		t.Errorf("PNG %v, want 1000 wide and as high as the grid", b)
	}
	// The page's background, and the stat's box in the mapping's colour (its corner, off the text).
	if r, g, b, _ := img.At(4, 4).RGBA(); r>>8 != 0x11 || g>>8 != 0x12 || b>>8 != 0x17 {
		t.Errorf("background %02x%02x%02x, want 111217", r>>8, g>>8, b>>8)
	}
	x, y, _, _ := layout{width: 1000}.rect(d.All()[2].GridPos)
	if r, g, b, _ := img.At(x+12, y+titlePx+12).RGBA(); r>>8 != 0x57 || g>>8 != 0x94 || b>>8 != 0xf2 {
		t.Errorf("the stat's box %02x%02x%02x, want 5794f2 (the mapping's blue, not the threshold's green)", r>>8, g>>8, b>>8)
	}
	if !strings.Contains(stdout.String(), "3 panels") {
		t.Errorf("stdout: %s", stdout.String())
	}
}

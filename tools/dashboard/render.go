package main

import (
	"context"
	"fmt"
	"html"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/dashboard"
)

// panelData is a panel with the series its queries returned.
type panelData struct {
	dashboard.Panel
	Series []named
	Err    error
}

// named is a series under its legend.
type named struct {
	Name   string
	Points []point
}

// ranged is the time range of a render and the step of its queries.
type ranged struct {
	Start, End time.Time
	Step       time.Duration
}

// fetch runs every query of every panel over r, with vars substituted.
// A query Prometheus refuses is an error: the dashboard must not show a
// panel that Grafana would show broken.
func fetch(ctx context.Context, api prometheusAPI, d *dashboard.Dashboard, vars variables, r ranged) ([]panelData, error) {
	var out []panelData
	for _, p := range d.All() {
		pd := panelData{Panel: p}
		for _, t := range p.Targets {
			ss, err := api.queryRange(ctx, vars.expand(t.Expr), r.Start, r.End, r.Step)
			if err != nil {
				return nil, fmt.Errorf("panel %q: %w", p.Title, err)
			}
			for _, s := range ss {
				pd.Series = append(pd.Series, named{Name: legend(t.LegendFormat, s.Labels), Points: s.Points})
			}
		}
		out = append(out, pd)
	}
	return out, nil
}

// Grafana's grid: 24 columns, rows of 30 px with 8 px between panels.
const (
	rowPx    = 30
	gutterPx = 8
	padPx    = 16
	headerPx = 64
	titlePx  = 30
)

// layout is where a page of the given width puts a grid position.
type layout struct{ width int }

func (l layout) colPx() float64 { return float64(l.width-2*padPx+gutterPx) / 24 }

func (l layout) rect(g dashboard.GridPos) (x, y, w, h int) {
	c := l.colPx()
	x = padPx + int(math.Round(float64(g.X)*c))
	w = int(math.Round(float64(g.W)*c)) - gutterPx
	y = headerPx + g.Y*(rowPx+gutterPx)
	h = g.H*rowPx + (g.H-1)*gutterPx
	return
}

// height is the page's height: below the lowest panel.
func (l layout) height(panels []panelData) int {
	bottom := headerPx
	for _, p := range panels {
		_, y, _, h := l.rect(p.GridPos)
		bottom = max(bottom, y+h)
	}
	return bottom + padPx
}

// page is what the header says about a render.
type page struct {
	Title    string
	Vars     []string // "Job: All"
	Range    ranged
	Footnote string
}

// renderHTML lays the panels out as Grafana's dark theme does.
func renderHTML(pg page, panels []panelData, width int) string {
	l := layout{width: width}
	var b strings.Builder
	fmt.Fprintf(&b, `<!doctype html><html><head><meta charset="utf-8"><title>%s</title><style>%s</style></head><body style="width:%dpx;height:%dpx">`,
		html.EscapeString(pg.Title), css, width, l.height(panels))
	fmt.Fprintf(&b, `<header><h1>%s</h1><div class="vars">`, html.EscapeString(pg.Title))
	for _, v := range pg.Vars {
		name, val, _ := strings.Cut(v, ": ")
		fmt.Fprintf(&b, `<span class="var"><b>%s</b>%s</span>`, html.EscapeString(name), html.EscapeString(val))
	}
	fmt.Fprintf(&b, `</div><div class="range">%s to %s UTC</div><div class="note">%s</div></header>`,
		pg.Range.Start.UTC().Format("2006-01-02 15:04:05"), pg.Range.End.UTC().Format("15:04:05"), html.EscapeString(pg.Footnote))
	for _, p := range panels {
		x, y, w, h := l.rect(p.GridPos)
		if p.Type == "row" {
			fmt.Fprintf(&b, `<div class="row" style="left:%dpx;top:%dpx;width:%dpx;height:%dpx">%s</div>`, x, y, w, h, html.EscapeString(p.Title))
			continue
		}
		fmt.Fprintf(&b, `<section class="panel" style="left:%dpx;top:%dpx;width:%dpx;height:%dpx"><h2>%s</h2>`,
			x, y, w, h, html.EscapeString(p.Title))
		switch p.Type {
		case "stat":
			b.WriteString(statHTML(p, w-2, h-titlePx-2))
		default:
			b.WriteString(timeseriesHTML(p, pg.Range, w-2, h-titlePx-2))
		}
		b.WriteString(`</section>`)
	}
	b.WriteString(`</body></html>`)
	return b.String()
}

const css = `
* { box-sizing: border-box; margin: 0; }
body { background: #111217; color: #ccccdc; font: 12px Inter, "Helvetica Neue", Arial, sans-serif; position: relative; }
header { position: absolute; left: 16px; right: 16px; top: 10px; height: 44px; display: flex; align-items: center; gap: 18px; }
h1 { font-size: 20px; font-weight: 500; color: #d8d9da; }
.var { background: #181b1f; border: 1px solid #2c3235; border-radius: 2px; padding: 4px 8px; margin-right: 6px; }
.var b { color: #6e9fff; font-weight: 500; margin-right: 6px; }
.range { background: #181b1f; border: 1px solid #2c3235; padding: 4px 8px; }
.note { margin-left: auto; color: #8e8e8e; font-size: 11px; max-width: 640px; text-align: right; }
.row { position: absolute; font-size: 15px; font-weight: 500; color: #d8d9da; padding-top: 6px; border-bottom: 1px solid #2c3235; }
.panel { position: absolute; background: #181b1f; border: 1px solid #2c3235; border-radius: 2px; overflow: hidden; }
h2 { height: 30px; line-height: 30px; padding: 0 8px; font-size: 13px; font-weight: 500; color: #d8d9da; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.legend { display: flex; flex-wrap: wrap; gap: 2px 12px; padding: 2px 8px 0 56px; font-size: 11px; line-height: 15px; }
.legend span { white-space: nowrap; }
.legend i { display: inline-block; width: 14px; height: 3px; border-radius: 1px; vertical-align: middle; margin-right: 5px; }
svg text { fill: #9fa7b3; font-size: 10.5px; }
.nodata { fill: #8e8e8e; font-size: 14px; }
.stats { display: flex; gap: 4px; padding: 0 6px 6px; }
.stat { flex: 1; border-radius: 2px; display: flex; flex-direction: column; justify-content: center; align-items: center; color: #fff; overflow: hidden; }
.stat .name { font-size: 12px; opacity: 0.9; }
.stat .value { font-weight: 500; }
`

// palette is Grafana's classic palette, in its order.
var palette = []string{"#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9", "#705DA0", "#37872D", "#FADE2A", "#447EBC", "#C15C17"}

// namedColors are Grafana's names for the colours a dashboard uses.
var namedColors = map[string]string{
	"green": "#73BF69", "red": "#F2495C", "yellow": "#FADE2A", "orange": "#FF9830", "blue": "#5794F2",
	"purple": "#B877D9", "text": "#ccccdc", "transparent": "transparent",
	"dark-green": "#37872D", "dark-red": "#C4162A",
}

func color(c string) string {
	if v, ok := namedColors[c]; ok {
		return v
	}
	return c
}

// thresholdColor is the colour of the step v falls in.
func thresholdColor(th dashboard.Thresholds, v float64) string {
	c := "#73BF69"
	for _, s := range th.Steps {
		if s.Value == nil || v >= *s.Value {
			c = color(s.Color)
		}
	}
	return c
}

func sortedSeries(ss []named) []named {
	out := slices.Clone(ss)
	slices.SortStableFunc(out, func(a, b named) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// timeseriesHTML draws a time series panel: axes in its unit, a line
// (stacked, where the panel says so) per series, its thresholds as
// dashed lines, and the legend below.
func timeseriesHTML(p panelData, r ranged, w, h int) string {
	def := p.FieldConfig.Defaults
	ss := sortedSeries(p.Series)
	// The legend: its rows, at about 6.2 px a character.
	legendRows, used := 1, 56
	for _, s := range ss {
		lw := 30 + int(float64(len([]rune(s.Name)))*6.2)
		if used+lw > w-8 && used > 56 {
			legendRows++
			used = 56
		}
		used += lw
	}
	legendH := 0
	if len(ss) > 0 {
		legendH = legendRows*17 + 6
	}
	plotH := h - legendH
	const left, right, top, bottom = 56, 10, 6, 20
	pw, ph := float64(w-left-right), float64(plotH-top-bottom)

	stacked := def.Custom.Stacking.Mode == "normal"
	values := make([][]float64, len(ss)) // stacked tops where stacked
	times := r.times()
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, s := range ss {
		values[i] = resample(s.Points, times)
		if stacked && i > 0 {
			for j, v := range values[i] {
				below := values[i-1][j]
				switch {
				case math.IsNaN(below):
				case math.IsNaN(v):
					values[i][j] = below
				default:
					values[i][j] = v + below
				}
			}
		}
		for _, v := range values[i] {
			if !math.IsNaN(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	hasData := !math.IsInf(hi, -1)
	if !hasData {
		lo, hi = 0, 1
	}
	if def.Min != nil {
		lo = *def.Min
	} else if lo > 0 {
		lo = 0
	}
	dataHi := hi
	showThresholds := def.Custom.ThresholdsStyle.Mode == "dashed" || def.Custom.ThresholdsStyle.Mode == "line"
	if showThresholds {
		for _, s := range def.Thresholds.Steps {
			// A bound within reach of the data is drawn in the range, so
			// that the operator sees the margin; one far above it is not.
			if s.Value != nil && *s.Value > hi && (dataHi > 0 && *s.Value <= 10*dataHi) {
				hi = *s.Value
			}
		}
	}
	if def.Max != nil {
		hi = *def.Max
	}
	if hi <= lo {
		hi = lo + 1
	}
	ticks := niceTicks(lo, hi, max(2, int(ph/36)))
	lo, hi = ticks[0], ticks[len(ticks)-1]
	if def.Max != nil {
		hi = *def.Max
	}
	yOf := func(v float64) float64 { return top + ph - (v-lo)/(hi-lo)*ph }
	xOf := func(t time.Time) float64 {
		return left + float64(t.Sub(r.Start))/float64(r.End.Sub(r.Start))*pw
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d" viewBox="0 0 %d %d">`, w, plotH, w, plotH)
	for _, t := range ticks {
		if t > hi+1e-12 {
			continue
		}
		y := yOf(t)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ccccdc" stroke-opacity="0.09"/>`, left, w-right, y, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, left-6, y, html.EscapeString(formatValue(def.Unit, t, -1)))
	}
	tt := timeTicks(r.Start, r.End, int(pw/90))
	clock := "15:04"
	if len(tt) > 1 && tt[1].Sub(tt[0]) < time.Minute {
		clock = "15:04:05"
	}
	for _, t := range tt {
		x := xOf(t)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#ccccdc" stroke-opacity="0.09"/>`, x, x, top, top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, top+ph+14, t.UTC().Format(clock))
	}
	if !hasData {
		fmt.Fprintf(&b, `<text class="nodata" x="%.1f" y="%.1f" text-anchor="middle">No data</text>`, left+pw/2, top+ph/2)
	}
	opacity := def.Custom.FillOpacity / 100
	for i := len(ss) - 1; i >= 0; i-- { // the lowest of a stack drawn last, on top
		c := palette[i%len(palette)]
		var base []float64
		if stacked && i > 0 {
			base = values[i-1]
		}
		line, area := paths(values[i], base, times, xOf, yOf, lo)
		if opacity > 0 && area != "" {
			fmt.Fprintf(&b, `<path d="%s" fill="%s" fill-opacity="%.2f" stroke="none"/>`, area, c, opacity)
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-linejoin="round"/>`, line, c)
	}
	if showThresholds {
		for _, s := range def.Thresholds.Steps {
			if s.Value == nil || *s.Value < lo || *s.Value > hi {
				continue
			}
			y := yOf(*s.Value)
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="1.2" stroke-dasharray="6 4"/>`,
				left, w-right, y, y, color(s.Color))
		}
	}
	b.WriteString(`</svg>`)
	if len(ss) > 0 {
		b.WriteString(`<div class="legend">`)
		for i, s := range ss {
			fmt.Fprintf(&b, `<span><i style="background:%s"></i>%s</span>`, palette[i%len(palette)], html.EscapeString(s.Name))
		}
		b.WriteString(`</div>`)
	}
	return b.String()
}

// times are the instants of the range's steps.
func (r ranged) times() []time.Time {
	var ts []time.Time
	for t := r.Start; !t.After(r.End); t = t.Add(r.Step) {
		ts = append(ts, t)
	}
	return ts
}

// resample puts a series' points on the range's steps: NaN where it had
// none.
func resample(ps []point, times []time.Time) []float64 {
	at := make(map[int64]float64, len(ps))
	for _, p := range ps {
		at[p.T.Unix()] = p.V
	}
	out := make([]float64, len(times))
	for i, t := range times {
		v, ok := at[t.Unix()]
		if !ok {
			v = math.NaN()
		}
		out[i] = v
	}
	return out
}

// paths returns the SVG path of a series' line, broken where it has no
// value, and of its area down to base (the series below it in a stack)
// or to lo.
func paths(vs, base []float64, times []time.Time, xOf func(time.Time) float64, yOf func(float64) float64, lo float64) (line, area string) {
	var l, a strings.Builder
	var run []int
	flush := func() {
		if len(run) == 0 {
			return
		}
		for k, j := range run {
			cmd := "L"
			if k == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&l, "%s%.1f %.1f", cmd, xOf(times[j]), yOf(vs[j]))
			fmt.Fprintf(&a, "%s%.1f %.1f", cmd, xOf(times[j]), yOf(vs[j]))
		}
		for k := len(run) - 1; k >= 0; k-- {
			j := run[k]
			b := lo
			if base != nil && !math.IsNaN(base[j]) {
				b = base[j]
			}
			fmt.Fprintf(&a, "L%.1f %.1f", xOf(times[j]), yOf(b))
		}
		a.WriteString("Z")
		run = run[:0]
	}
	for j, v := range vs {
		if math.IsNaN(v) {
			flush()
			continue
		}
		run = append(run, j)
	}
	flush()
	return l.String(), a.String()
}

// timeTicks are about n instants on whole minutes (or steps of them)
// between start and end.
func timeTicks(start, end time.Time, n int) []time.Time {
	span := end.Sub(start)
	step := time.Minute
	for _, s := range []time.Duration{10 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour} {
		step = s
		if n <= 0 || span/s <= time.Duration(n) {
			break
		}
	}
	var ts []time.Time
	for t := start.Truncate(step); !t.After(end); t = t.Add(step) {
		if !t.Before(start) {
			ts = append(ts, t)
		}
	}
	return ts
}

// statHTML draws a stat panel: for each series, its last value (or the
// text a value mapping gives it) on the colour of its threshold step or
// mapping.
func statHTML(p panelData, w, h int) string {
	def := p.FieldConfig.Defaults
	ss := sortedSeries(p.Series)
	if len(ss) == 0 {
		return fmt.Sprintf(`<svg width="%d" height="%d"><text class="nodata" x="%d" y="%d" text-anchor="middle">No data</text></svg>`, w, h, w/2, h/2)
	}
	dir := "column"
	if h/len(ss) < 56 {
		dir = "row"
	}
	boxH := h - 6
	if dir == "column" {
		boxH = (h-6)/len(ss) - 4
	}
	fontPx := min(40, max(16, boxH/3))
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="stats" style="flex-direction:%s;height:%dpx">`, dir, h)
	for _, s := range ss {
		v := math.NaN()
		for i := len(s.Points) - 1; i >= 0; i-- {
			if !math.IsNaN(s.Points[i].V) {
				v = s.Points[i].V
				break
			}
		}
		text := formatValue(def.Unit, v, decimals(def.Decimals))
		bg := thresholdColor(def.Thresholds, v)
		if math.IsNaN(v) {
			bg = "#2c3235"
		}
		if t, c, ok := mapped(def.Mappings, v); ok {
			text = t
			if c != "" {
				bg = color(c)
			}
		}
		fmt.Fprintf(&b, `<div class="stat" style="background:%s"><div class="name">%s</div><div class="value" style="font-size:%dpx">%s</div></div>`,
			bg, html.EscapeString(s.Name), fontPx, html.EscapeString(text))
	}
	b.WriteString(`</div>`)
	return b.String()
}

func decimals(d *int) int {
	if d == nil {
		return -1
	}
	return *d
}

// mapped applies a panel's value mappings to v.
func mapped(ms []dashboard.Mapping, v float64) (text, col string, ok bool) {
	if math.IsNaN(v) {
		return "", "", false
	}
	key := strconv.FormatFloat(v, 'f', -1, 64)
	for _, m := range ms {
		vs, err := m.Values()
		if err != nil {
			continue // Grafana shows such a value unmapped too
		}
		if r, found := vs[key]; found {
			return r.Text, r.Color, true
		}
	}
	return "", "", false
}

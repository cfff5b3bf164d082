package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// scenarioResult is one measured scenario.
type scenarioResult struct {
	Name   string
	Server string // serverBare or serverKeyward
	Conns  int
	R      loadResult
	CPU    cpuUse
	Note   string
	// IdleCPU is the server's CPU use in the second before the scenario,
	// with no requests: its background work. -1 when not measured.
	IdleCPU float64
}

// ceilingOf names the ceiling a scenario is compared with.
func ceilingOf(name string) string {
	switch name {
	case "cold verify", "hot verify", "creates", floodAlone, floodFlooded, limitedScenario, limitedRedisScenario:
		return "ceiling"
	case "list":
		return "ceiling-list"
	}
	return ""
}

// report is everything one run found. It holds no secret.
type report struct {
	When            time.Time
	CommandLine     string
	Machine         machineInfo
	Opts            options
	Pinning         string
	LoadGen         string
	Seed            seedSummary
	VerifyBodyLen   int // a VALID verify response body, bytes
	ListBodyLen     int // org-0's first page at the probe
	ListBodyLenLive int // the same page just before the list scenario
	ListKeys        int // keys on that page
	Fill            *fillResult
	Scenarios       []scenarioResult
	Flood           *floodResult // the flood scenario's own figures; nil if skipped
	RSS             rss
	KeywardLogLines int64
	Notes           []string
	Targets         []target
	LoadAvg         string // /proc/loadavg's 1, 5, 15 minutes, at the start
	ServerCPUName   string // "cpu0": the CPU the servers are pinned to
	LoadCPUName     string
}

type target struct {
	Name  string
	Value string
	Pass  bool
}

func (r *report) scenario(name string) *scenarioResult {
	for i := range r.Scenarios {
		if r.Scenarios[i].Name == name {
			return &r.Scenarios[i]
		}
	}
	return nil
}

// ratio is a scenario's 2xx rate over its ceiling's, or -1.
func (r *report) ratio(s *scenarioResult) float64 {
	c := r.scenario(ceilingOf(s.Name))
	if c == nil || c.R.okRate() == 0 {
		return -1
	}
	return s.R.okRate() / c.R.okRate()
}

// hasErrors reports whether any scenario, or the fill, had errors.
func (r *report) hasErrors() bool {
	for _, s := range r.Scenarios {
		if s.R.errorCount() > 0 {
			return true
		}
	}
	return r.Fill != nil && (r.Fill.Errors > 0 || r.Fill.Valid != r.Fill.Requests)
}

// evaluate checks the targets. A scenario with errors misses its targets.
func (r *report) evaluate() {
	r.Targets = nil
	add := func(name string, s *scenarioResult, value string, pass bool) {
		if s != nil && s.R.errorCount() > 0 {
			value += " (with errors)"
			pass = false
		}
		r.Targets = append(r.Targets, target{Name: name, Value: value, Pass: pass})
	}
	if hot := r.scenario("hot verify"); hot != nil {
		q := r.ratio(hot)
		add("hot verify ≥ 80% of ceiling", hot, pct(q), q >= 0.80)
		add("hot verify p99 ≤ 5 ms", hot, fmtUS(hot.R.P99US), hot.R.P99US <= 5000)
	}
	if alone, flooded := r.scenario(floodAlone), r.scenario(floodFlooded); alone != nil && flooded != nil && r.Flood != nil {
		q := -1.0
		if alone.R.okRate() > 0 {
			q = flooded.R.okRate() / alone.R.okRate()
		}
		add("flood: hot req/s ≥ 90% of alone", flooded, pct(q), q >= 0.90)
		p := -1.0
		if alone.R.P99US > 0 {
			p = flooded.R.P99US / alone.R.P99US
		}
		add("flood: hot p99 ≤ 2× alone", flooded, fmt.Sprintf("%.2f× (%s vs %s)", p, fmtUS(flooded.R.P99US), fmtUS(alone.R.P99US)), p >= 0 && p <= 2)
		rate, value := r.Flood.unknownRate(), fmt.Sprintf("%.1f/s of unknown keys", r.Flood.unknownRate())
		if !r.Flood.SetComplete {
			value += " (the set of hashes not loaded throughout)"
		}
		add(fmt.Sprintf("flood: DB lookups ≤ %d/s", r.Flood.Bound), nil, value, rate <= float64(r.Flood.Bound) && r.Flood.SetComplete)
	}
	if l := r.scenario(limitedScenario); l != nil {
		q := r.ratio(l)
		add("hot verify with a rate limit ≥ 70% of ceiling", l, pct(q), q >= 0.70)
	}
	if cold := r.scenario("cold verify"); cold != nil {
		q := r.ratio(cold)
		add("cold verify ≥ 50% of ceiling", cold, pct(q), q >= 0.50)
	}
	if c := r.scenario("creates"); c != nil {
		add("creates ≥ 2,000/s", c, fmt.Sprintf("%s/s", commas(int64(c.R.okRate()))), c.R.okRate() >= 2000)
	}
	if r.RSS.OK {
		add("keyward peak RSS ≤ 300 MB", nil, mb(r.RSS.HWM), r.RSS.HWM <= 300e6)
	} else {
		add("keyward peak RSS ≤ 300 MB", nil, "not measured (no /proc)", false)
	}
}

// header lines common to both formats.
func (r *report) facts() [][2]string {
	o := r.Opts
	seedRate := float64(r.Seed.Keys) / r.Seed.Elapsed.Seconds()
	f := [][2]string{
		{"date", r.When.Format("2006-01-02 15:04 MST")},
		{"command", r.CommandLine},
		{"machine", r.Machine.String()},
		{"load average", r.LoadAvg},
		{"load generator", r.LoadGen},
		{"pinning", r.Pinning},
		{"store", fmt.Sprintf("%s: %s keys (read, write) in %d organization(s) of up to %d, plus a key with manage in org-0 and a root key; seeded in %v (%s keys/s)",
			r.Seed.Store, commas(int64(r.Seed.Keys)), r.Seed.Orgs, keysPerOrg, r.Seed.Elapsed.Round(100*time.Millisecond), commas(int64(seedRate)))},
		{"keyward", fmt.Sprintf("serve --cache-size %d --log-format json --debug-addr 127.0.0.1:0%s, other settings default (cache TTL 5m; memory limit auto; last_used_at written every 60s; log level info: a line per management request, to a file; verifications log at debug)%s", cacheSize(o), serveArgsNote(o.serveArgs), goEnv())},
		{"runs", fmt.Sprintf("warm-up %v before each scenario but cold verify; measured %v; %d connections (creates: %d)", o.warmup, o.duration, o.connections, o.createClients)},
		{"responses", fmt.Sprintf("verify (VALID) %s B; list of %d keys %s B at the probe, %s B before the list scenario; the bare server replays these",
			commas(int64(r.VerifyBodyLen)), r.ListKeys, commas(int64(r.ListBodyLen)), commas(int64(r.ListBodyLenLive)))},
	}
	return f
}

func (r *report) fillLine() string {
	if r.Fill == nil {
		return "fill: skipped (--fill=false): the hot keys were cached by the warm-up only"
	}
	fl := r.Fill
	return fmt.Sprintf("fill: %s keys verified once in %v (%s/s, %d connections): %s VALID, %d errors",
		commas(fl.Requests), fl.Elapsed.Round(100*time.Millisecond), commas(int64(float64(fl.Requests)/fl.Elapsed.Seconds())),
		fl.Conns, commas(fl.Valid), fl.Errors)
}

func (r *report) memoryLine() string {
	if !r.RSS.OK {
		return "keyward memory: not measured (no /proc)"
	}
	return fmt.Sprintf("keyward memory: peak RSS %s (VmHWM), %s at the end (VmRSS); request log %s lines",
		mb(r.RSS.HWM), mb(r.RSS.RSS), commas(r.KeywardLogLines))
}

// alarms are the loud lines for scenarios with errors.
func (r *report) alarms() []string {
	var a []string
	for _, s := range r.Scenarios {
		if s.R.errorCount() > 0 {
			a = append(a, fmt.Sprintf("!!! %s HAD ERRORS (%s): its figures are not valid", strings.ToUpper(s.Name), errorDetail(s.R)))
		}
	}
	worst := 0.0
	for _, s := range r.Scenarios {
		if srv, gen, bad := interfered(s.CPU); bad {
			worst = max(worst, srv, gen)
		}
	}
	if worst > 0 {
		a = append(a, fmt.Sprintf("!!! THE MACHINE WAS BUSY: other processes took up to %.0f%% of a pinned CPU during a scenario (see the notes): the figures are not reliable; run again on a quiet machine", 100*worst))
	}
	if fl := r.Fill; fl != nil && (fl.Errors > 0 || fl.Valid != fl.Requests) {
		a = append(a, fmt.Sprintf("!!! FILL HAD ERRORS: %d errors, %d of %d answers VALID", fl.Errors, fl.Valid, fl.Requests))
	}
	return a
}

func (r *report) row(s scenarioResult) []string {
	vs := "-"
	if q := r.ratio(&s); q >= 0 {
		vs = pct(q) + " of " + ceilingOf(s.Name)
	}
	return []string{
		s.Name, s.Server, strconv.Itoa(s.Conns), commas(s.R.Requests), commas(int64(s.R.rate())),
		fmtUS(s.R.P50US), fmtUS(s.R.P99US), fmtUS(s.R.P999US), errorDetail(s.R), vs,
		cpuPct(s.CPU.OK, s.CPU.Server), cpuPct(s.CPU.OK, s.CPU.Gen), busyPair(s.CPU), s.Note,
	}
}

// columns of the scenario table; numeric ones are right-aligned.
func (r *report) columns() (names []string, numeric []bool) {
	names = []string{"scenario", "server", "conns", "requests", "req/s", "p50", "p99", "p99.9", "errors", "vs ceiling",
		"srv CPU", "gen CPU", r.ServerCPUName + "/" + r.LoadCPUName + " busy", "note"}
	numeric = make([]bool, len(names))
	for i := 2; i <= 7; i++ {
		numeric[i] = true
	}
	for i := 10; i <= 12; i++ {
		numeric[i] = true
	}
	return names, numeric
}

func cpuPct(ok bool, f float64) string {
	if !ok || f < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*f)
}

func busyPair(c cpuUse) string {
	if !c.OK || c.ServerCPU < 0 || c.LoadGenCPU < 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%/%.0f%%", 100*c.ServerCPU, 100*c.LoadGenCPU)
}

// Interference thresholds: the share of a pinned CPU that neither the
// server nor the load generator used. The load generator's CPU also does
// much of the loopback network work (softirq), hence its larger margin.
const (
	busyServerCPU = 0.10
	busyLoadCPU   = 0.25
)

// interfered reports whether other work took a noticeable share of the
// pinned CPUs during s, and how much.
func interfered(c cpuUse) (srv, gen float64, bad bool) {
	if !c.OK || c.ServerCPU < 0 || c.LoadGenCPU < 0 {
		return 0, 0, false
	}
	srv = c.ServerCPU - c.Server
	gen = -1
	if c.Gen >= 0 {
		gen = c.LoadGenCPU - c.Gen
	}
	return srv, gen, srv > busyServerCPU || gen > busyLoadCPU
}

// diagnostics explain figures that are not what they seem.
func (r *report) diagnostics() []string {
	var d []string
	for _, s := range r.Scenarios {
		c := s.CPU
		if c.OK && c.Gen >= 0.90 && c.Server < 0.90 {
			d = append(d, fmt.Sprintf("%s: the load generator used %.0f%% of its CPU, the server %.0f%% of its own: the generator set the pace; the server can do more",
				s.Name, 100*c.Gen, 100*c.Server))
		}
		if s.IdleCPU > 0.05 {
			d = append(d, fmt.Sprintf("%s: just before it, with no requests, keyward used %.0f%% of its CPU: background work (such as the last-used flush, every 60s) competed with this scenario",
				s.Name, 100*s.IdleCPU))
		}
		if srv, gen, bad := interfered(c); bad {
			line := fmt.Sprintf("%s: other processes or kernel threads took %.0f%% of %s", s.Name, 100*srv, r.ServerCPUName)
			if gen >= 0 {
				line += fmt.Sprintf(" and %.0f%% of %s", 100*gen, r.LoadCPUName)
			}
			d = append(d, line)
		}
	}
	if r.Flood != nil {
		d = append(d, r.Flood.Warnings...)
	}
	return d
}

// text is the report for the terminal.
func (r *report) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nKeyward benchmark\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, f := range r.facts() {
		fmt.Fprintf(tw, "  %s\t%s\n", f[0], f[1])
	}
	tw.Flush()
	b.WriteString("\n")
	names, numeric := r.columns()
	rows := [][]string{names}
	for _, s := range r.Scenarios {
		rows = append(rows, r.row(s))
	}
	width := make([]int, len(names))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range rows {
		var line strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if numeric[i] {
				line.WriteString(pad + c)
			} else {
				line.WriteString(c + pad)
			}
			line.WriteString("  ")
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	b.WriteString("\n" + r.fillLine() + "\n" + r.memoryLine() + "\n")
	if r.Flood != nil {
		b.WriteString(r.Flood.line() + "\n")
	}
	for _, a := range r.alarms() {
		b.WriteString(a + "\n")
	}
	for _, n := range append(r.diagnostics(), r.Notes...) {
		b.WriteString("note: " + n + "\n")
	}
	b.WriteString("\ntargets\n")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "  %s  %-32s %s\n", passMiss(t.Pass), t.Name, t.Value)
	}
	b.WriteString("\n")
	return b.String()
}

// markdown is the report as a section of docs/performance.md.
func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Results, %s\n\n", r.When.Format("2006-01-02"))
	for _, f := range r.facts() {
		v := f[1]
		if f[0] == "command" {
			v = "`" + v + "`"
		}
		fmt.Fprintf(&b, "- **%s**: %s\n", f[0], v)
	}
	names, numeric := r.columns()
	b.WriteString("\n| " + strings.Join(names, " | ") + " |\n|")
	for i := range names {
		if numeric[i] {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, s := range r.Scenarios {
		b.WriteString("| " + strings.Join(r.row(s), " | ") + " |\n")
	}
	b.WriteString("\n" + r.fillLine() + "\n\n" + r.memoryLine() + "\n")
	if r.Flood != nil {
		b.WriteString("\n" + r.Flood.line() + "\n")
	}
	for _, a := range r.alarms() {
		b.WriteString("\n**" + a + "**\n")
	}
	for _, n := range append(r.diagnostics(), r.Notes...) {
		b.WriteString("\nNote: " + n + "\n")
	}
	b.WriteString("\n| target | result | |\n|---|---|---|\n")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "| %s | %s | **%s** |\n", t.Name, t.Value, passMiss(t.Pass))
	}
	return b.String()
}

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func errorDetail(r loadResult) string {
	var parts []string
	for _, e := range []struct {
		n    int64
		what string
	}{
		{r.Status, "non-2xx"}, {r.Invalid, "not VALID"}, {r.Timeout, "timeout"},
		{r.Connect, "connect"}, {r.Read, "read"}, {r.Write, "write"},
	} {
		if e.n > 0 {
			parts = append(parts, commas(e.n)+" "+e.what)
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}

// fmtUS writes a latency in milliseconds.
func fmtUS(us float64) string {
	ms := us / 1000
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

func pct(q float64) string {
	if q < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*q)
}

// mb writes bytes in MB (10^6) and MiB.
func mb(n int64) string {
	return fmt.Sprintf("%.1f MB (%.1f MiB)", float64(n)/1e6, float64(n)/(1<<20))
}

func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// serveArgsNote is --serve-args as the report shows it: after the flags
// the bench always gives.
func serveArgsNote(args string) string {
	if f := strings.Fields(args); len(f) > 0 {
		return " " + strings.Join(f, " ")
	}
	return ""
}

// goEnv names the Go runtime settings keyward inherits from the bench's
// environment, which change its memory and GC figures.
func goEnv() string {
	var set []string
	for _, name := range []string{"GOMEMLIMIT", "GOGC", "GODEBUG"} {
		if v := os.Getenv(name); v != "" {
			set = append(set, name+"="+v)
		}
	}
	if len(set) == 0 {
		return ""
	}
	return "; environment " + strings.Join(set, " ")
}

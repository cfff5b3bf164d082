package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// sixScenarios are one run's scenarios with round figures: 5s each; the
// ceiling 50,000 req/s, hot verify 42,000 (84.0%), cold verify 15,000
// (30.0%), ceiling-list 25,000, list 1,400 (5.6% of ceiling-list), creates
// 3,000/s (6.0%).
func sixScenarios() []scenarioResult {
	cpu := func(srv, gen, srvBusy, genBusy float64) cpuUse {
		return cpuUse{OK: true, Server: srv, Gen: gen, ServerCPU: srvBusy, LoadGenCPU: genBusy}
	}
	res := func(n int64, p50, p99, p999 float64) loadResult {
		return loadResult{Requests: n, DurationUS: 5_000_000, P50US: p50, P99US: p99, P999US: p999}
	}
	return []scenarioResult{
		{Name: "ceiling", Server: serverBare, Conns: 64, R: res(250_000, 1180, 2930, 4950), CPU: cpu(0.98, 0.80, 0.99, 0.85), IdleCPU: -1},
		{Name: "cold verify", Server: serverKeyward, Conns: 64, R: res(75_000, 3890, 52_900, 121_000), CPU: cpu(0.89, 0.46, 0.90, 0.50), IdleCPU: 0.01, Note: "random keys from all; no warm-up"},
		{Name: "hot verify", Server: serverKeyward, Conns: 64, R: res(210_000, 1760, 4400, 8000), CPU: cpu(0.98, 0.84, 0.99, 0.88), IdleCPU: 0, Note: "10000 hot keys, cache filled"},
		{Name: "ceiling-list", Server: serverBare, Conns: 64, R: res(125_000, 2510, 6770, 8420), CPU: cpu(0.98, 0.82, 1.00, 0.85), IdleCPU: -1},
		{Name: "list", Server: serverKeyward, Conns: 64, R: res(7_000, 40_100, 152_000, 225_000), CPU: cpu(0.98, 0.06, 0.99, 0.10), IdleCPU: 0, Note: "100 keys/page"},
		{Name: "creates", Server: serverKeyward, Conns: 16, R: res(15_000, 4330, 29_600, 38_900), CPU: cpu(0.70, 0.07, 0.74, 0.22), IdleCPU: 0, Note: "201s counted"},
	}
}

func fixedReport(t *testing.T) *report {
	t.Helper()
	for _, name := range []string{"GOMEMLIMIT", "GOGC", "GODEBUG"} {
		t.Setenv(name, "")
	}
	r := &report{
		When:            time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC),
		CommandLine:     "go run ./bench --keys 100000 --duration 5s",
		Machine:         machineInfo{CPU: "Test CPU", CPUs: 2, MemBytes: 8 << 30, Kernel: "Linux 6.1", Go: "go1.26.8 linux/amd64"},
		Opts:            options{keys: 100_000, duration: 5 * time.Second, warmup: 2 * time.Second, connections: 64, createClients: 16, hotKeys: 10_000, fill: true},
		Pinning:         "yes (taskset): server under test on CPU 0, load generator on CPU 1",
		LoadGen:         loadGenDescription,
		Seed:            seedSummary{Keys: 100_000, Orgs: 100, HotKeys: 10_000, Elapsed: 4 * time.Second, Store: "SQLite"},
		VerifyBodyLen:   131,
		ListBodyLen:     18_278,
		ListBodyLenLive: 18_296,
		ListKeys:        100,
		Fill:            &fillResult{Requests: 100_000, Valid: 100_000, Elapsed: 8 * time.Second, Conns: 64},
		Scenarios:       sixScenarios(),
		RSS:             rss{HWM: 250_000_000, RSS: 200_000_000, OK: true},
		KeywardLogLines: 51_783,
		LoadAvg:         "0.50 0.40 0.30 (1, 5, 15 min) at the start",
		ServerCPUName:   "cpu0",
		LoadCPUName:     "cpu1",
	}
	r.evaluate()
	return r
}

// textRow is the text report's row of a scenario, split into its cells.
func textRow(t *testing.T, text, name string) []string {
	t.Helper()
	for line := range strings.Lines(text) {
		cells := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1)
		if cells[0] == name {
			return cells
		}
	}
	t.Fatalf("no row %q in\n%s", name, text)
	return nil
}

func TestReportText(t *testing.T) {
	text := fixedReport(t).text()
	rows := map[string][]string{
		"ceiling":      {"ceiling", "bare", "64", "250,000", "50,000", "1.18 ms", "2.93 ms", "4.95 ms", "0", "-", "98%", "80%", "99%/85%"},
		"cold verify":  {"cold verify", "keyward", "64", "75,000", "15,000", "3.89 ms", "52.9 ms", "121 ms", "0", "30.0% of ceiling", "89%", "46%", "90%/50%", "random keys from all; no warm-up"},
		"hot verify":   {"hot verify", "keyward", "64", "210,000", "42,000", "1.76 ms", "4.40 ms", "8.00 ms", "0", "84.0% of ceiling", "98%", "84%", "99%/88%", "10000 hot keys, cache filled"},
		"ceiling-list": {"ceiling-list", "bare", "64", "125,000", "25,000", "2.51 ms", "6.77 ms", "8.42 ms", "0", "-", "98%", "82%", "100%/85%"},
		"list":         {"list", "keyward", "64", "7,000", "1,400", "40.1 ms", "152 ms", "225 ms", "0", "5.6% of ceiling-list", "98%", "6%", "99%/10%", "100 keys/page"},
		"creates":      {"creates", "keyward", "16", "15,000", "3,000", "4.33 ms", "29.6 ms", "38.9 ms", "0", "6.0% of ceiling", "70%", "7%", "74%/22%", "201s counted"},
	}
	for name, want := range rows {
		if got := textRow(t, text, name); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %s\n got %q\nwant %q", name, got, want)
		}
	}
	header := textRow(t, text, "scenario")
	if got := strings.Join(header, "|"); got != "scenario|server|conns|requests|req/s|p50|p99|p99.9|errors|vs ceiling|srv CPU|gen CPU|cpu0/cpu1 busy|note" {
		t.Errorf("header %s", got)
	}
	for _, line := range []string{
		"  load generator  " + loadGenDescription,
		"  store           SQLite: 100,000 keys (read, write) in 100 organization(s) of up to 1000, plus a key with manage in org-0 and a root key; seeded in 4s (25,000 keys/s)",
		"  runs            warm-up 2s before each scenario but cold verify; measured 5s; 64 connections (creates: 16)",
		"  responses       verify (VALID) 131 B; list of 100 keys 18,278 B at the probe, 18,296 B before the list scenario; the bare server replays these",
		"fill: 100,000 keys verified once in 8s (12,500/s, 64 connections): 100,000 VALID, 0 errors",
		"keyward memory: peak RSS 250.0 MB (238.4 MiB) (VmHWM), 200.0 MB (190.7 MiB) at the end (VmRSS); request log 51,783 lines",
		"  PASS  hot verify ≥ 80% of ceiling      84.0%",
		"  PASS  hot verify p99 ≤ 5 ms            4.40 ms",
		"  MISS  cold verify ≥ 50% of ceiling     30.0%",
		"  PASS  creates ≥ 2,000/s                3,000/s",
		"  PASS  keyward peak RSS ≤ 300 MB        250.0 MB (238.4 MiB)",
	} {
		if !strings.Contains(text, "\n"+line+"\n") {
			t.Errorf("no line %q in\n%s", line, text)
		}
	}
	for _, bad := range []string{"!!!", "note:", "environment"} {
		if strings.Contains(text, bad) {
			t.Errorf("a clean run's report says %q:\n%s", bad, text)
		}
	}
}

func TestReportMarkdown(t *testing.T) {
	md := fixedReport(t).markdown()
	for _, line := range []string{
		"## Results, 2026-12-01",
		"- **command**: `go run ./bench --keys 100000 --duration 5s`",
		"- **load generator**: " + loadGenDescription,
		"| scenario | server | conns | requests | req/s | p50 | p99 | p99.9 | errors | vs ceiling | srv CPU | gen CPU | cpu0/cpu1 busy | note |",
		"|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---|",
		"| ceiling | bare | 64 | 250,000 | 50,000 | 1.18 ms | 2.93 ms | 4.95 ms | 0 | - | 98% | 80% | 99%/85% |  |",
		"| cold verify | keyward | 64 | 75,000 | 15,000 | 3.89 ms | 52.9 ms | 121 ms | 0 | 30.0% of ceiling | 89% | 46% | 90%/50% | random keys from all; no warm-up |",
		"| hot verify | keyward | 64 | 210,000 | 42,000 | 1.76 ms | 4.40 ms | 8.00 ms | 0 | 84.0% of ceiling | 98% | 84% | 99%/88% | 10000 hot keys, cache filled |",
		"| ceiling-list | bare | 64 | 125,000 | 25,000 | 2.51 ms | 6.77 ms | 8.42 ms | 0 | - | 98% | 82% | 100%/85% |  |",
		"| list | keyward | 64 | 7,000 | 1,400 | 40.1 ms | 152 ms | 225 ms | 0 | 5.6% of ceiling-list | 98% | 6% | 99%/10% | 100 keys/page |",
		"| creates | keyward | 16 | 15,000 | 3,000 | 4.33 ms | 29.6 ms | 38.9 ms | 0 | 6.0% of ceiling | 70% | 7% | 74%/22% | 201s counted |",
		"fill: 100,000 keys verified once in 8s (12,500/s, 64 connections): 100,000 VALID, 0 errors",
		"| hot verify ≥ 80% of ceiling | 84.0% | **PASS** |",
		"| hot verify p99 ≤ 5 ms | 4.40 ms | **PASS** |",
		"| cold verify ≥ 50% of ceiling | 30.0% | **MISS** |",
		"| creates ≥ 2,000/s | 3,000/s | **PASS** |",
		"| keyward peak RSS ≤ 300 MB | 250.0 MB (238.4 MiB) | **PASS** |",
	} {
		if !strings.Contains("\n"+md, "\n"+line+"\n") {
			t.Errorf("no line %q in\n%s", line, md)
		}
	}
	if strings.Contains(md, "**!!!") || strings.Contains(md, "Note:") {
		t.Errorf("a clean run's report has alarms or notes:\n%s", md)
	}
}

func TestReportScenarioWithErrorsMissesItsTargets(t *testing.T) {
	r := fixedReport(t)
	hot := r.scenario("hot verify")
	hot.R.Status, hot.R.Timeout = 5_000, 2
	r.evaluate()
	if !r.hasErrors() {
		t.Error("hasErrors() = false")
	}
	text, md := r.text(), r.markdown()
	// The share counts 2xx answers only: (210,000 - 5,000) / 5s = 41,000/s
	// over 50,000/s; req/s counts every answer.
	if got := textRow(t, text, "hot verify"); got[4] != "42,000" || got[8] != "5,000 non-2xx, 2 timeout" || got[9] != "82.0% of ceiling" {
		t.Errorf("row %q: want 42,000 req/s, errors %q and 82.0%%", got, "5,000 non-2xx, 2 timeout")
	}
	alarm := "!!! HOT VERIFY HAD ERRORS (5,000 non-2xx, 2 timeout): its figures are not valid"
	for _, want := range []string{
		"\n" + alarm + "\n",
		"\n  MISS  hot verify ≥ 80% of ceiling      82.0% (with errors)\n",
		"\n  MISS  hot verify p99 ≤ 5 ms            4.40 ms (with errors)\n",
		"\n  MISS  cold verify ≥ 50% of ceiling     30.0%\n",
		"\n  PASS  creates ≥ 2,000/s                3,000/s\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{
		"\n**" + alarm + "**\n",
		"\n| hot verify ≥ 80% of ceiling | 82.0% (with errors) | **MISS** |\n",
		"\n| hot verify | keyward | 64 | 210,000 | 42,000 | 1.76 ms | 4.40 ms | 8.00 ms | 5,000 non-2xx, 2 timeout | 82.0% of ceiling |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestReportErrorDetail(t *testing.T) {
	got := errorDetail(loadResult{Status: 1200, Invalid: 3, Timeout: 2, Connect: 4, Read: 5, Write: 6})
	if want := "1,200 non-2xx, 3 not VALID, 2 timeout, 4 connect, 5 read, 6 write"; got != want {
		t.Errorf("errorDetail = %q, want %q", got, want)
	}
}

func TestReportSaysWhoSetThePace(t *testing.T) {
	tests := []struct {
		name string
		cpu  cpuUse
		note string // "" for none
	}{
		{"generator", cpuUse{OK: true, Server: 0.85, Gen: 0.97, ServerCPU: 0.86, LoadGenCPU: 0.99},
			"ceiling: the load generator used 97% of its CPU, the server 85% of its own: the generator set the pace; the server can do more"},
		{"server", cpuUse{OK: true, Server: 0.98, Gen: 0.95, ServerCPU: 0.99, LoadGenCPU: 0.97}, ""},
		{"neither, waiting", cpuUse{OK: true, Server: 0.60, Gen: 0.30, ServerCPU: 0.61, LoadGenCPU: 0.32}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fixedReport(t)
			r.scenario("ceiling").CPU = tt.cpu
			text, md := r.text(), r.markdown()
			// Whoever it was, the report gives both CPU figures.
			srv, gen := cpuPct(true, tt.cpu.Server), cpuPct(true, tt.cpu.Gen)
			if row := textRow(t, text, "ceiling"); row[10] != srv || row[11] != gen {
				t.Errorf("row %q: want srv CPU %s, gen CPU %s", row, srv, gen)
			}
			hasText := strings.Contains(text, "note: "+tt.note+"\n")
			hasMD := strings.Contains(md, "\nNote: "+tt.note+"\n")
			if tt.note != "" && (!hasText || !hasMD) {
				t.Errorf("want the note %q in both reports:\n%s\n%s", tt.note, text, md)
			}
			if tt.note == "" && (strings.Contains(text, "set the pace") || strings.Contains(md, "set the pace")) {
				t.Errorf("says the generator set the pace:\n%s", text)
			}
		})
	}
}

func TestReportBusyMachine(t *testing.T) {
	r := fixedReport(t)
	r.scenario("creates").CPU = cpuUse{OK: true, Server: 0.70, Gen: 0.07, ServerCPU: 0.95, LoadGenCPU: 0.22}
	text := r.text()
	for _, want := range []string{
		"\n!!! THE MACHINE WAS BUSY: other processes took up to 25% of a pinned CPU during a scenario (see the notes): the figures are not reliable; run again on a quiet machine\n",
		"\nnote: creates: other processes or kernel threads took 25% of cpu0 and 15% of cpu1\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if r.hasErrors() {
		t.Error("a busy machine is not an error of the scenario")
	}
}

func TestReportIdleKeyward(t *testing.T) {
	r := fixedReport(t)
	r.scenario("list").IdleCPU = 0.06
	want := "note: list: just before it, with no requests, keyward used 6% of its CPU: background work (such as the last-used flush, every 60s) competed with this scenario\n"
	if text := r.text(); !strings.Contains(text, want) {
		t.Errorf("text lacks %q:\n%s", want, text)
	}
}

func TestReportFill(t *testing.T) {
	r := fixedReport(t)
	r.Fill = &fillResult{Requests: 100_000, Valid: 99_990, Errors: 3, Elapsed: 8 * time.Second, Conns: 64}
	if !r.hasErrors() {
		t.Error("hasErrors() = false with errors in the fill")
	}
	text := r.text()
	for _, want := range []string{
		"\nfill: 100,000 keys verified once in 8s (12,500/s, 64 connections): 99,990 VALID, 3 errors\n",
		"\n!!! FILL HAD ERRORS: 3 errors, 99990 of 100000 answers VALID\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	r.Fill = nil
	if want := "\nfill: skipped (--fill=false): the hot keys were cached by the warm-up only\n"; !strings.Contains(r.text(), want) {
		t.Errorf("text lacks %q", want)
	}
}

func TestReportWithoutProc(t *testing.T) {
	r := fixedReport(t)
	r.RSS = rss{}
	r.scenario("ceiling").CPU = cpuUse{}
	r.evaluate()
	text := r.text()
	for _, want := range []string{
		"\nkeyward memory: not measured (no /proc)\n",
		"\n  MISS  keyward peak RSS ≤ 300 MB        not measured (no /proc)\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if row := textRow(t, text, "ceiling"); row[10] != "-" || row[11] != "-" || row[12] != "-" {
		t.Errorf("row %q: want - for unmeasured CPU", row)
	}
}

func TestReportNamesGoSettings(t *testing.T) {
	r := fixedReport(t)
	t.Setenv("GOMEMLIMIT", "250MiB")
	t.Setenv("GOGC", "50")
	want := "verifications log at debug); environment GOMEMLIMIT=250MiB GOGC=50\n"
	if text := r.text(); !strings.Contains(text, want) {
		t.Errorf("text lacks %q:\n%s", want, text)
	}
}

func TestEvaluateThresholds(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *report)
		want []bool // hot share, hot p99, cold share, creates, RSS
	}{
		{"all at the bound", func(r *report) {
			r.scenario("hot verify").R.Requests = 200_000 // 40,000/s: 80.0%
			r.scenario("hot verify").R.P99US = 5000
			r.scenario("cold verify").R.Requests = 125_000 // 50.0%
			r.scenario("creates").R.Requests = 10_000      // 2,000/s
			r.RSS.HWM = 300_000_000
		}, []bool{true, true, true, true, true}},
		{"all just past it", func(r *report) {
			r.scenario("hot verify").R.Requests = 199_999
			r.scenario("hot verify").R.P99US = 5001
			r.scenario("cold verify").R.Requests = 124_999
			r.scenario("creates").R.Requests = 9_999
			r.RSS.HWM = 300_000_001
		}, []bool{false, false, false, false, false}},
		{"creates count 2xx only", func(r *report) {
			r.scenario("creates").R.Requests = 12_000
			r.scenario("creates").R.Status = 2_001 // 9,999 201s in 5s
		}, []bool{true, true, false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fixedReport(t)
			tt.edit(r)
			r.evaluate()
			if len(r.Targets) != len(tt.want) {
				t.Fatalf("%d targets, want %d", len(r.Targets), len(tt.want))
			}
			for i, want := range tt.want {
				if r.Targets[i].Pass != want {
					t.Errorf("%s (%s): pass %v, want %v", r.Targets[i].Name, r.Targets[i].Value, r.Targets[i].Pass, want)
				}
			}
		})
	}
}

func TestFormatting(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{fmtUS(0), "0.00 ms"}, {fmtUS(1180), "1.18 ms"}, {fmtUS(9994), "9.99 ms"}, {fmtUS(52_900), "52.9 ms"},
		{fmtUS(121_000), "121 ms"}, {fmtUS(2_500_000), "2500 ms"},
		{commas(0), "0"}, {commas(999), "999"}, {commas(1000), "1,000"}, {commas(1_234_567), "1,234,567"}, {commas(-45_341), "-45,341"},
		{pct(0.665), "66.5%"}, {pct(1), "100.0%"}, {pct(-1), "n/a"},
		{mb(497_200_000), "497.2 MB (474.2 MiB)"},
		{cpuPct(true, 0.974), "97%"}, {cpuPct(false, 0.5), "-"}, {cpuPct(true, -1), "-"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// The flood scenario's two rows compare with the ceiling, its line says
// what the flood and keyward did, and its targets compare the flooded
// hot traffic with the same alone, and the store lookups with the bound.
func TestReportFlood(t *testing.T) {
	r := fixedReport(t)
	res := func(n int64, p99 float64) loadResult {
		return loadResult{Requests: n, DurationUS: 5_000_000, P50US: 1500, P99US: p99, P999US: 2 * p99}
	}
	cpu := cpuUse{OK: true, Server: 0.98, Gen: 0.85, ServerCPU: 0.99, LoadGenCPU: 0.90}
	r.Scenarios = append(r.Scenarios,
		scenarioResult{Name: floodAlone, Server: serverKeyward, Conns: 64, R: res(200_000, 4000), CPU: cpu, IdleCPU: 0},
		scenarioResult{Name: floodFlooded, Server: serverKeyward, Conns: 64, R: res(185_000, 7000), CPU: cpu, IdleCPU: -1},
	)
	r.Flood = &floodResult{
		Conns: 64, Flood: loadResult{Requests: 1_300, DurationUS: 7_000_000, Status: 1_280},
		LookupsAlone: 350, LookupsFlooded: 400, AloneSeconds: 5, FloodedSeconds: 5, Bound: 100, SetComplete: true,
		UnknownFromMemory: 5, UnknownLookups: 60, UnknownWaits: 5, UnknownRefused: 1_200, Answered: 185_000,
	}
	r.evaluate()
	text := r.text()
	if got := textRow(t, text, floodFlooded); got[9] != "74.0% of ceiling" || got[3] != "185,000" {
		t.Errorf("flooded row %q", got)
	}
	for _, line := range []string{
		"  PASS  flood: hot req/s ≥ 90% of alone  92.5%",
		"  PASS  flood: hot p99 ≤ 2× alone        1.75× (7.00 ms vs 4.00 ms)",
		"  PASS  flood: DB lookups ≤ 100/s        12.0/s of unknown keys",
	} {
		if !strings.Contains(text, "\n"+line+"\n") {
			t.Errorf("no line %q in\n%s", line, text)
		}
	}
	for _, part := range []string{"flood: 64 connections of made-up", "1,300 requests (185/s): 20 NOT_FOUND, 1,280 429", "looked up 60 unknown keys in the database (12.0/s; bound 100/s)", "80.0/s flooded, 70.0/s alone", "refused 1,200 without a lookup"} {
		if !strings.Contains(text, part) {
			t.Errorf("the flood line lacks %q:\n%s", part, text)
		}
	}
	md := r.markdown()
	if !strings.Contains(md, "| flood: hot p99 ≤ 2× alone | 1.75× (7.00 ms vs 4.00 ms) | **PASS** |") || !strings.Contains(md, "\nflood: 64 connections") {
		t.Errorf("markdown lacks the flood:\n%s", md)
	}

	// A flood that slows the hot traffic, or reaches the database, misses.
	r.Scenarios[len(r.Scenarios)-1].R = res(150_000, 9000)
	r.Flood.UnknownLookups = 1000
	r.evaluate()
	text = r.text()
	for _, line := range []string{
		"  MISS  flood: hot req/s ≥ 90% of alone  75.0%",
		"  MISS  flood: hot p99 ≤ 2× alone        2.25× (9.00 ms vs 4.00 ms)",
		"  MISS  flood: DB lookups ≤ 100/s        200.0/s of unknown keys",
	} {
		if !strings.Contains(text, "\n"+line+"\n") {
			t.Errorf("no line %q in\n%s", line, text)
		}
	}
}

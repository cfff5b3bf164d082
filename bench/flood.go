package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/keyward/keyward/keycache"
)

// The flood scenario: the hot verification alone, then again while a
// flood of made-up, well-formed keys (each one new) runs at full speed on
// connections of its own, from the same address, as a platform's backend
// that forwards its users' garbage along with their real keys. The
// legitimate traffic should keep its throughput within 10% and its p99
// within 2x, and the database should see at most --max-unknown-lookups
// lookups a second (keyward's counters, at --debug-addr).

// floodResult is what the flood scenario found beyond its two rows (the
// legitimate traffic alone and flooded, in the report's scenarios).
type floodResult struct {
	Conns int
	// Flood is the flood's own run: its 2xx are NOT_FOUND answers, its
	// other answers 429s of the throttle; none is an error.
	Flood loadResult
	// Lookups are keyward's store lookups (keycache.Loads) while the
	// legitimate traffic was measured, alone and flooded, and how long
	// each measurement took: the hot keys' own too (a cached key is read
	// again every TTL, and more often when the cache is too small for
	// every key the bench verifies).
	LookupsAlone, LookupsFlooded uint64
	AloneSeconds, FloodedSeconds float64
	// SetComplete says that keyward's membership set was loaded before
	// the flooded measurement and still after it: every lookup of a key
	// not in it was one of UnknownLookups, paid by its bucket.
	SetComplete bool
	// Bound is keyward's --max-unknown-lookups (its default: the bench
	// reads none of --serve-args).
	Bound int
	// Counters of keyward during the flooded measurement. UnknownLookups
	// are the store lookups of keys not in its membership set: those the
	// flood could cause.
	UnknownFromMemory, UnknownLookups, UnknownWaits, UnknownRefused uint64
	Throttled, Answered                                             uint64
	Warnings                                                        []string
}

// Names of the flood scenario's rows.
const (
	floodAlone   = "flood: hot alone"
	floodFlooded = "flood: hot + flood"
)

// unknownRate is the store lookups a second of keys not known to exist
// while the flood ran: what the bound is about.
func (f *floodResult) unknownRate() float64 {
	if f.FloodedSeconds <= 0 {
		return 0
	}
	return float64(f.UnknownLookups) / f.FloodedSeconds
}

// rates are all store lookups a second, alone and flooded.
func (f *floodResult) rates() (alone, flooded float64) {
	if f.AloneSeconds > 0 {
		alone = float64(f.LookupsAlone) / f.AloneSeconds
	}
	if f.FloodedSeconds > 0 {
		flooded = float64(f.LookupsFlooded) / f.FloodedSeconds
	}
	return alone, flooded
}

// floodScenario runs the flood scenario on kw with the hot keys of seed.
func (b *bench) floodScenario(ctx context.Context, kw *keywardProc, seed *seeded) (alone, flooded scenarioResult, fr *floodResult, err error) {
	o := b.o
	fr = &floodResult{Conns: o.floodConns, Bound: keycache.DefaultUnknownLookups}
	legit := verifySpec(kw.addr, seed.hotFile, o.connections)

	v0, err := readCounters(ctx, kw.debugAddr)
	if err != nil {
		return alone, flooded, nil, err
	}
	alone, err = b.scenario(ctx, floodAlone, serverKeyward, kw.pid(), legit, false)
	if err != nil {
		return alone, flooded, nil, err
	}
	alone.Note = "the hot keys, just before the flood"
	v1, err := readCounters(ctx, kw.debugAddr)
	if err != nil {
		return alone, flooded, nil, err
	}
	fr.LookupsAlone, fr.AloneSeconds = v1.Keycache.Loads-v0.Keycache.Loads, alone.R.seconds()

	// The flood starts first and ends last: the measurement sees it at
	// full strength throughout, the throttle engaged.
	const lead = time.Second
	floodSpec := loadSpec{
		URL: "http://" + kw.addr, Method: "POST", Path: "/verify", MadeUp: true,
		Connections: o.floodConns, Duration: lead + o.duration + lead,
	}
	b.logf("%s: %d connections of made-up keys at full speed, and %d of hot keys measured %v", floodFlooded, o.floodConns, o.connections, o.duration)
	floodDone := make(chan error, 1)
	go func() {
		var err error
		fr.Flood, err = b.load(ctx, floodSpec)
		floodDone <- err
	}()
	select {
	case <-time.After(lead):
	case err := <-floodDone:
		return alone, flooded, nil, fmt.Errorf("the flood ended early: %w", err)
	}
	v2, err := readCounters(ctx, kw.debugAddr)
	if err != nil {
		<-floodDone
		return alone, flooded, nil, err
	}
	legit.Duration = o.duration
	before := sampleCPU(kw.pid())
	r, err := b.load(ctx, legit)
	cpu := cpuBetween(before, sampleCPU(kw.pid()), b.pin, r)
	v3, verr := readCounters(ctx, kw.debugAddr)
	ferr := <-floodDone
	switch {
	case err != nil:
		return alone, flooded, nil, fmt.Errorf("%s: %w", floodFlooded, err)
	case verr != nil:
		return alone, flooded, nil, verr
	case ferr != nil:
		return alone, flooded, nil, fmt.Errorf("%s: the flood: %w", floodFlooded, ferr)
	}
	// Both generators share the load CPU: its "gen CPU" is theirs
	// together (the flood's averaged over its run), so that the flood's
	// share is not taken for another process's.
	if cpu.Gen >= 0 && fr.Flood.GenWall > 0 {
		cpu.Gen += fr.Flood.GenCPU.Seconds() / fr.Flood.GenWall.Seconds()
	}
	flooded = scenarioResult{Name: floodFlooded, Server: serverKeyward, Conns: o.connections, R: r, CPU: cpu, IdleCPU: -1,
		Note: fmt.Sprintf("the hot keys, with %d connections of made-up keys (gen CPU: both generators)", o.floodConns)}
	fr.LookupsFlooded, fr.FloodedSeconds = v3.Keycache.Loads-v2.Keycache.Loads, r.seconds()
	fr.UnknownFromMemory = v3.Keycache.UnknownFromMemory - v2.Keycache.UnknownFromMemory
	fr.UnknownLookups = v3.Keycache.UnknownLookups - v2.Keycache.UnknownLookups
	fr.UnknownWaits = v3.Keycache.UnknownWaits - v2.Keycache.UnknownWaits
	fr.UnknownRefused = v3.Keycache.UnknownRefused - v2.Keycache.UnknownRefused
	fr.SetComplete = v2.Keycache.MembersComplete && v3.Keycache.MembersComplete
	if v3.FailureThrottle != nil && v2.FailureThrottle != nil {
		fr.Throttled = v3.FailureThrottle.Throttled - v2.FailureThrottle.Throttled
		fr.Answered = v3.FailureThrottle.Answered - v2.FailureThrottle.Answered
	}
	if n := fr.Flood.Connect + fr.Flood.Read + fr.Flood.Write + fr.Flood.Timeout; n > 0 {
		fr.Warnings = append(fr.Warnings, fmt.Sprintf("the flood itself had %d connection errors or timeouts", n))
	}
	b.logf("%s: %.0f req/s, p99 %s; the flood %.0f req/s (%d 2xx, %d other); store lookups of unknown keys %.1f/s (bound %d/s)",
		floodFlooded, r.rate(), fmtUS(r.P99US), fr.Flood.rate(), fr.Flood.ok(), fr.Flood.Status, fr.unknownRate(), fr.Bound)
	return alone, flooded, fr, nil
}

// counters are the part of keyward's /debug/vars the bench reads.
type counters struct {
	Keycache struct {
		Loads, UnknownFromMemory, UnknownLookups, UnknownWaits, UnknownRefused uint64
		MembersComplete                                                        bool
	} `json:"keycache"`
	FailureThrottle *struct {
		Throttled, Answered uint64
	} `json:"failure_throttle"`
}

// readCounters reads keyward's counters at its --debug-addr.
func readCounters(ctx context.Context, debugAddr string) (counters, error) {
	var c counters
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+debugAddr+"/debug/vars", nil)
	if err != nil {
		return c, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return c, fmt.Errorf("read keyward's counters: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return c, fmt.Errorf("read keyward's counters: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("read keyward's counters: status %d", resp.StatusCode)
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return c, fmt.Errorf("read keyward's counters: %w", err)
	}
	return c, nil
}

// floodLine says what the flood did, for both formats of the report.
func (f *floodResult) line() string {
	if f == nil {
		return ""
	}
	alone, flooded := f.rates()
	set := "its set of hashes loaded throughout"
	if !f.SetComplete {
		set = "ITS SET OF HASHES NOT LOADED throughout (unknown keys fell back to plain lookups)"
	}
	return fmt.Sprintf("flood: %d connections of made-up, well-formed keys (each new) at full speed, from the hot traffic's address: %s requests (%s/s): %s NOT_FOUND, %s 429 (throttled); "+
		"while the hot keys were measured, keyward (%s) looked up %s unknown keys in the database (%.1f/s; bound %d/s), answered %s from its set, made %s wait for the feed, refused %s without a lookup (throttled), and answered %s requests of the throttled address all the same; "+
		"all its store lookups, the hot keys' included: %.1f/s flooded, %.1f/s alone",
		f.Conns, commas(f.Flood.Requests), commas(int64(f.Flood.rate())), commas(f.Flood.ok()), commas(f.Flood.Status),
		set, commas(int64(f.UnknownLookups)), f.unknownRate(), f.Bound,
		commas(int64(f.UnknownFromMemory)), commas(int64(f.UnknownWaits)), commas(int64(f.UnknownRefused)),
		commas(int64(f.Answered)), flooded, alone)
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

var errInterrupted = errors.New("interrupted: stopped every process it started")

// bench is the state of one run.
type bench struct {
	o       options
	log     io.Writer // progress, to stderr
	dir     string    // the temporary directory
	self    string    // this executable, for the hidden modes
	keyward string    // the keyward binary
	pin     pinning
	procs   *procSet
	start   time.Time
}

func (b *bench) logf(format string, args ...any) {
	el := time.Since(b.start).Truncate(time.Second)
	fmt.Fprintf(b.log, "==> [%02d:%02d] "+format+"\n", append([]any{int(el.Minutes()), int(el.Seconds()) % 60}, args...)...)
}

// runBench is one whole benchmark. Whatever happens, and on SIGINT (ctx),
// it stops every process it started and removes the temporary directory
// (unless --keep).
func runBench(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	b := &bench{o: o, log: stderr, procs: newProcSet(), start: time.Now()}
	defer b.procs.stopAll(stderr)
	defer func() {
		if ctx.Err() != nil {
			err = errInterrupted
		}
	}()

	b.self, err = os.Executable()
	if err != nil {
		return fmt.Errorf("find this executable: %w", err)
	}
	b.dir, err = os.MkdirTemp("", "keyward-bench-")
	if err != nil {
		return err
	}
	defer func() {
		b.procs.stopAll(stderr) // nothing may hold files in dir
		if o.keep {
			fmt.Fprintf(stderr, "bench: kept %s (it holds the keys' secrets: delete it when done)\n", b.dir)
			return
		}
		if rmErr := os.RemoveAll(b.dir); rmErr != nil {
			fmt.Fprintf(stderr, "bench: remove %s: %v\n", b.dir, rmErr)
		}
	}()
	if ctx.Err() != nil {
		return ctx.Err()
	}

	rep := &report{
		When:        time.Now().UTC(),
		CommandLine: o.commandLine,
		Machine:     describeMachine(),
		LoadAvg:     loadAverage(),
		Opts:        o,
	}
	b.pin = choosePinning(o.pin)
	rep.Pinning = b.pin.describe()
	rep.ServerCPUName, rep.LoadCPUName = "server's CPU", "generator's CPU"
	if b.pin.enabled() {
		rep.ServerCPUName, rep.LoadCPUName = fmt.Sprintf("cpu%d", b.pin.serverCPU), fmt.Sprintf("cpu%d", b.pin.loadCPU)
	}
	rep.LoadGen = loadGenDescription
	b.logf("load generator: %s", rep.LoadGen)
	b.logf("pinning: %s", rep.Pinning)

	// 1. Build keyward.
	b.logf("building keyward")
	if b.keyward, err = buildKeyward(ctx, b.dir); err != nil {
		return err
	}

	// 2. Seed.
	b.logf("seeding %d keys into %s", o.keys, storeName(o))
	seed, err := b.seed(ctx)
	if err != nil {
		return err
	}
	rep.Seed = seed.summary
	b.logf("seeded %d keys in %d organizations in %v (%.0f keys/s)", seed.summary.Keys, seed.summary.Orgs,
		seed.summary.Elapsed.Round(time.Millisecond), float64(seed.summary.Keys)/seed.summary.Elapsed.Seconds())

	// 3. A first keyward, briefly: check that the seeded keys work, and
	// record real responses, whose sizes the bare server copies.
	b.logf("probing keyward: one verify, one list, one create")
	probe, err := b.probe(ctx, seed)
	if err != nil {
		return err
	}
	rep.VerifyBodyLen = len(probe.verify.Body)
	rep.ListBodyLen = len(probe.list.Body)
	rep.ListKeys = probe.listLen

	// 4. The ceiling: the bare server, verify-sized.
	ceiling, err := b.runBare(ctx, "ceiling", bareConfig{Verify: probe.verify, List: probe.list}, func(addr string, pid int) ([]scenarioResult, error) {
		r, err := b.scenario(ctx, "ceiling", serverBare, pid, verifySpec(addr, seed.hotFile, o.connections), true)
		return []scenarioResult{r}, err
	})
	if err != nil {
		return err
	}
	rep.Scenarios = append(rep.Scenarios, ceiling...)

	// 5. Keyward, fresh: it has read the keys into its cache before
	// /readyz answered (--cache-fill), and served nothing yet.
	b.logf("starting keyward (cache size %d)", b.cacheSize())
	kw, err := b.startKeyward(ctx, "main")
	if err != nil {
		return err
	}

	cold, err := b.scenario(ctx, "cold verify", serverKeyward, kw.pid(), verifySpec(kw.addr, seed.keysFile, o.connections), false)
	if err != nil {
		return err
	}
	cold.Note = fmt.Sprintf("random keys from all, no warm-up, right after /readyz (%v after start: keyward fills its cache first)", kw.readyAfter.Round(100*time.Millisecond))
	rep.Scenarios = append(rep.Scenarios, cold)

	if o.fill {
		b.logf("fill: verifying all %d keys once (%d connections)", seed.summary.Keys, o.connections)
		f, err := b.fill(ctx, kw.addr, seed.keysFile)
		if err != nil {
			return err
		}
		rep.Fill = &f
		b.logf("fill: %d requests in %v, %d VALID", f.Requests, f.Elapsed.Round(time.Millisecond), f.Valid)
	}

	hot, err := b.scenario(ctx, "hot verify", serverKeyward, kw.pid(), verifySpec(kw.addr, seed.hotFile, o.connections), true)
	if err != nil {
		return err
	}
	hot.Note = fmt.Sprintf("%d hot keys", seed.summary.HotKeys)
	if o.fill {
		hot.Note += ", cache filled"
	}
	rep.Scenarios = append(rep.Scenarios, hot)

	limited, err := b.scenario(ctx, limitedScenario, serverKeyward, kw.pid(), verifySpec(kw.addr, seed.limitedFile, o.connections), true)
	if err != nil {
		return err
	}
	limited.Note = fmt.Sprintf("%d keys, each with a rate limit, counted in memory", seed.summary.LimitedKeys)
	rep.Scenarios = append(rep.Scenarios, limited)

	if o.floodConns > 0 {
		alone, flooded, fr, err := b.floodScenario(ctx, kw, seed)
		if err != nil {
			return err
		}
		rep.Scenarios = append(rep.Scenarios, alone, flooded)
		rep.Flood = fr
	}

	// The list body changes as keys record their last use: copy it as it
	// is now, and measure its ceiling just before it.
	live, err := fetch(ctx, kw.addr, listRequest(seed.manage.Reveal()))
	if err != nil {
		return fmt.Errorf("list before the list scenario: %w", err)
	}
	if live.Status != 200 {
		return fmt.Errorf("list before the list scenario: status %d", live.Status)
	}
	rep.ListBodyLenLive = len(live.Body)
	listSpec := func(addr string) loadSpec {
		return loadSpec{
			URL: "http://" + addr, Method: "GET", Path: listPath,
			TokenFile: seed.manageFile, Connections: o.connections,
		}
	}
	// keyward is frozen meanwhile: its background work (the last-used
	// flush, the revocation poll) runs on the same CPU and would take it
	// from the bare server.
	if err := pause(kw.proc); err != nil {
		return fmt.Errorf("pause keyward: %w", err)
	}
	ceilingList, err := b.runBare(ctx, "ceiling-list", bareConfig{Verify: probe.verify, List: live}, func(addr string, pid int) ([]scenarioResult, error) {
		r, err := b.scenario(ctx, "ceiling-list", serverBare, pid, listSpec(addr), true)
		return []scenarioResult{r}, err
	})
	if rerr := resume(kw.proc); err == nil && rerr != nil {
		err = fmt.Errorf("resume keyward: %w", rerr)
	}
	if err != nil {
		return err
	}
	rep.Scenarios = append(rep.Scenarios, ceilingList...)

	list, err := b.scenario(ctx, "list", serverKeyward, kw.pid(), listSpec(kw.addr), true)
	if err != nil {
		return err
	}
	list.Note = fmt.Sprintf("%d keys/page", probe.listLen)
	rep.Scenarios = append(rep.Scenarios, list)

	creates, err := b.scenario(ctx, "creates", serverKeyward, kw.pid(), loadSpec{
		URL: "http://" + kw.addr, Method: "POST", Path: "/orgs/" + createOrg + "/api_keys",
		TokenFile: seed.rootFile, Body: createBody, Connections: o.createClients,
	}, true)
	if err != nil {
		return err
	}
	creates.Note = "201s counted"
	rep.Scenarios = append(rep.Scenarios, creates)

	// 6. Memory, before the process goes.
	rep.RSS = readRSS(kw.pid())
	rep.KeywardLogLines = countLines(kw.logPath)
	b.logf("stopping keyward (it writes the last uses of keys first)")
	if err := kw.stop(60 * time.Second); err != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("keyward did not stop cleanly: %v", err))
	}

	// 6b. The rate limits shared through Redis: another keyward, on the
	// same database, whose limiter is Redis.
	if o.redisURL != "" {
		r, err := b.redisScenario(ctx, seed)
		if err != nil {
			return err
		}
		rep.Scenarios = append(rep.Scenarios, r)
	}

	// 7. Report.
	rep.evaluate()
	if _, err := io.WriteString(stdout, rep.text()); err != nil {
		return err
	}
	if o.markdown != "" {
		if err := os.WriteFile(o.markdown, []byte(rep.markdown()), 0o644); err != nil {
			return fmt.Errorf("write --markdown: %w", err)
		}
		b.logf("wrote %s", o.markdown)
	}
	if rep.hasErrors() {
		return errors.New("some scenarios had errors: their figures are not valid (see the report)")
	}
	return nil
}

// The rate-limited scenarios.
const (
	limitedScenario      = "hot verify, rate limit"
	limitedRedisScenario = "hot verify, rate limit, Redis"
)

// redisScenario measures rate-limited verification on a keyward whose
// limits are shared through Redis at --redis-url.
func (b *bench) redisScenario(ctx context.Context, seed *seeded) (scenarioResult, error) {
	b.logf("starting keyward with --redis-url")
	kw, err := b.startKeyward(ctx, "redis", "--redis-url", b.o.redisURL)
	if err != nil {
		return scenarioResult{}, err
	}
	r, err := b.scenario(ctx, limitedRedisScenario, serverKeyward, kw.pid(), verifySpec(kw.addr, seed.limitedFile, b.o.connections), true)
	if stopErr := kw.stop(60 * time.Second); err == nil && stopErr != nil {
		b.logf("keyward (redis) did not stop cleanly: %v", stopErr)
	}
	r.Note = fmt.Sprintf("%d keys, each with a rate limit, shared through Redis", seed.summary.LimitedKeys)
	return r, err
}

func storeName(o options) string {
	if o.databaseURL != "" {
		return "PostgreSQL at " + redactURL(o.databaseURL)
	}
	return "a fresh SQLite database"
}

// The fixed requests.
const (
	listPath   = "/orgs/org-0/api_keys?limit=100"
	createOrg  = "bench-create"
	createBody = `{"name":"c","permissions":["read"]}`
)

// verifySpec is POST /verify with keys drawn at random from keysFile,
// counting answers that are not VALID. The ceiling checks them too (the
// bare server replays a VALID answer), so that the generator does the same
// work for it as for keyward.
func verifySpec(addr, keysFile string, conns int) loadSpec {
	return loadSpec{
		URL: "http://" + addr, Method: "POST", Path: "/verify",
		KeysFile: keysFile, Connections: conns, ExpectValid: true,
	}
}

// scenario runs spec for the warm-up (if warm and --warmup > 0), then for
// --duration, and returns the measured run.
func (b *bench) scenario(ctx context.Context, name, server string, pid int, spec loadSpec, warm bool) (scenarioResult, error) {
	// How much CPU the server burns with no requests at all: keyward's
	// background work (the last-used flush above all) competes with the
	// scenario that follows.
	idle := -1.0
	if server == serverKeyward {
		a := sampleCPU(pid)
		select {
		case <-ctx.Done():
			return scenarioResult{}, ctx.Err()
		case <-time.After(time.Second):
		}
		if u := cpuBetween(a, sampleCPU(pid), b.pin, loadResult{}); u.OK {
			idle = u.Server
		}
		if idle > 0.05 {
			b.logf("%s: keyward uses %.0f%% of its CPU with no requests (background work)", name, 100*idle)
		}
	}
	if warm && b.o.warmup > 0 {
		b.logf("%s: warm-up %v", name, b.o.warmup)
		spec.Duration = b.o.warmup
		w, err := b.load(ctx, spec)
		if err != nil {
			return scenarioResult{}, fmt.Errorf("%s (warm-up): %w", name, err)
		}
		if w.errorCount() > 0 {
			b.logf("%s: warm-up had %d errors", name, w.errorCount())
		}
	}
	b.logf("%s: measuring %v, %d connections", name, b.o.duration, spec.Connections)
	spec.Duration = b.o.duration
	before := sampleCPU(pid)
	r, err := b.load(ctx, spec)
	if err != nil {
		return scenarioResult{}, fmt.Errorf("%s: %w", name, err)
	}
	cpu := cpuBetween(before, sampleCPU(pid), b.pin, r)
	b.logf("%s: %.0f req/s, p50 %s, p99 %s, p99.9 %s, %d errors; CPU: server %.0f%%, generator %.0f%%", name, r.rate(),
		fmtUS(r.P50US), fmtUS(r.P99US), fmtUS(r.P999US), r.errorCount(), 100*cpu.Server, 100*cpu.Gen)
	return scenarioResult{Name: name, Server: server, Conns: spec.Connections, R: r, CPU: cpu, IdleCPU: idle}, nil
}

const (
	serverBare    = "bare"
	serverKeyward = "keyward"
)

// runBare starts a bare server serving cfg's responses, calls f with its
// address and stops it.
func (b *bench) runBare(ctx context.Context, name string, cfg bareConfig, f func(addr string, pid int) ([]scenarioResult, error)) ([]scenarioResult, error) {
	path := filepath.Join(b.dir, "bare-"+name+".json")
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	b.logf("starting the bare server (%s)", name)
	bare, err := b.startBare(ctx, path)
	if err != nil {
		return nil, err
	}
	res, err := f(bare.addr, bare.pid())
	if stopErr := bare.stop(5 * time.Second); err == nil && stopErr != nil {
		b.logf("bare server did not stop cleanly: %v", stopErr)
	}
	return res, err
}

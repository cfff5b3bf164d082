package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"time"
)

// loadSpec is one run of the load generator: a closed loop of Connections
// connections, each sending its next request as soon as the last one is
// answered, for Duration, or in fill mode until every key was sent once.
type loadSpec struct {
	Mode        string        `json:"mode"` // "" (for Duration) or modeFill (every key of KeysFile once)
	URL         string        `json:"url"`  // http://host:port
	Method      string        `json:"method"`
	Path        string        `json:"path"`
	KeysFile    string        `json:"keys_file,omitempty"`  // body {"key":"<random line of the file>"}
	TokenFile   string        `json:"token_file,omitempty"` // Authorization: Bearer <first line of the file>
	Body        string        `json:"body,omitempty"`       // a fixed JSON body
	Connections int           `json:"connections"`
	Duration    time.Duration `json:"duration"`
	ExpectValid bool          `json:"expect_valid,omitempty"` // count 2xx answers without "valid":true
	MadeUp      bool          `json:"made_up,omitempty"`      // body {"key":"<a new made-up, well-formed key>"}, each request its own
	Timeout     time.Duration `json:"timeout,omitempty"`      // a slower answer is a timeout; 0 for requestTimeout
	Seed        uint64        `json:"seed"`
}

// loadResult is a run's outcome, as the generator prints it on one line:
// BENCH_JSON {...}.
type loadResult struct {
	Requests   int64   `json:"requests"` // answers received within the timeout, whatever their status
	DurationUS int64   `json:"duration_us"`
	Bytes      int64   `json:"bytes"`   // of the answers
	Connect    int64   `json:"connect"` // connections refused or not made
	Read       int64   `json:"read"`    // connections lost or answers malformed
	Write      int64   `json:"write"`
	Status     int64   `json:"status"`  // answers with a status other than 2xx
	Timeout    int64   `json:"timeout"` // slower than the timeout (not in the percentiles)
	Invalid    int64   `json:"invalid"` // with ExpectValid: 2xx but not VALID
	P50US      float64 `json:"p50_us"`
	P99US      float64 `json:"p99_us"`
	P999US     float64 `json:"p999_us"`
	MeanUS     float64 `json:"mean_us"`
	MaxUS      float64 `json:"max_us"`

	// The generator process's own CPU time and lifetime (start-up
	// included), from its rusage: set by runChild, not printed.
	GenCPU  time.Duration `json:"-"`
	GenWall time.Duration `json:"-"`
}

// add adds o's counts to r.
func (r *loadResult) add(o loadResult) {
	r.Requests += o.Requests
	r.Bytes += o.Bytes
	r.Connect += o.Connect
	r.Read += o.Read
	r.Write += o.Write
	r.Status += o.Status
	r.Timeout += o.Timeout
	r.Invalid += o.Invalid
}

func (r loadResult) errorCount() int64 {
	return r.Connect + r.Read + r.Write + r.Status + r.Timeout + r.Invalid
}

// ok is the count of answered requests with a 2xx status (for creates,
// the 201s).
func (r loadResult) ok() int64 { return r.Requests - r.Status }

func (r loadResult) seconds() float64 { return float64(r.DurationUS) / 1e6 }

func (r loadResult) rate() float64 {
	if r.DurationUS <= 0 {
		return 0
	}
	return float64(r.Requests) / r.seconds()
}

func (r loadResult) okRate() float64 {
	if r.DurationUS <= 0 {
		return 0
	}
	return float64(r.ok()) / r.seconds()
}

// loadGenDescription is what the report says of the generator: figures
// recorded with another one (wrk, or the earlier net/http client) are not
// comparable.
const loadGenDescription = "built-in: raw HTTP/1.1 on keep-alive TCP connections, prebuilt requests, one goroutine per connection, closed loop"

// load runs spec in the load generator: this executable, re-executed in
// its load mode (envLoad) and pinned to the load CPU, so that its CPU time
// is measured apart from the bench's own and it stays off the server's CPU.
func (b *bench) load(ctx context.Context, spec loadSpec) (loadResult, error) {
	spec.Seed = rand.Uint64()
	js, err := json.Marshal(spec)
	if err != nil {
		return loadResult{}, err
	}
	// On ctx's end CommandContext kills the child: the generator itself
	// needs no way to be cancelled.
	cmd := b.pin.command(ctx, b.pin.loadCPU, b.self)
	// Only the spec: Go settings meant for keyward (GOMEMLIMIT, GOGC,
	// GODEBUG) stay off the generator.
	cmd.Env = []string{envLoad + "=" + string(js)}
	return runChild(cmd, "load generator")
}

// runChild runs a load generator command and parses its BENCH_JSON line.
func runChild(cmd *exec.Cmd, what string) (loadResult, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	setParentDeathSignal(cmd)
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	res, found, perr := parseBenchJSON(stdout.Bytes())
	if ps := cmd.ProcessState; ps != nil {
		res.GenCPU, res.GenWall = ps.UserTime()+ps.SystemTime(), wall
	}
	switch {
	case err != nil:
		return res, fmt.Errorf("%s: %w\n%s%s", what, err, clip(stdout.String()), clip(stderr.String()))
	case perr != nil:
		return res, fmt.Errorf("%s: %w", what, perr)
	case !found:
		return res, fmt.Errorf("%s printed no BENCH_JSON line:\n%s%s", what, clip(stdout.String()), clip(stderr.String()))
	}
	return res, nil
}

// writeBenchJSON prints r as the generator's one BENCH_JSON line.
func writeBenchJSON(w io.Writer, r loadResult) error {
	js, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "BENCH_JSON %s\n", js)
	return err
}

// parseBenchJSON finds the BENCH_JSON line in a generator's output. found
// is false when there is none; a line that is there but does not parse is
// an error.
func parseBenchJSON(out []byte) (r loadResult, found bool, err error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if js, ok := strings.CutPrefix(sc.Text(), "BENCH_JSON "); ok {
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				return loadResult{}, true, fmt.Errorf("bad BENCH_JSON line: %w", err)
			}
			return r, true, nil
		}
	}
	return r, false, sc.Err()
}

// clip shortens a child's output for an error message: its start and its
// end say what went wrong.
func clip(s string) string {
	if len(s) > 4000 {
		s = s[:2000] + "\n...\n" + s[len(s)-2000:]
	}
	return s
}

// fillResult is the fill phase: every key verified once.
type fillResult struct {
	Requests, Valid, Errors int64
	Elapsed                 time.Duration
	Conns                   int
}

// fill verifies every key of keysFile once, so that the cache holds every
// key.
func (b *bench) fill(ctx context.Context, addr, keysFile string) (fillResult, error) {
	r, err := b.load(ctx, loadSpec{
		Mode: modeFill, URL: "http://" + addr, Method: "POST", Path: "/verify",
		KeysFile: keysFile, Connections: b.o.connections, ExpectValid: true,
	})
	if err != nil {
		return fillResult{}, fmt.Errorf("fill: %w", err)
	}
	return fillResult{
		Requests: r.Requests, Valid: r.ok() - r.Invalid, Errors: r.errorCount(),
		Elapsed: time.Duration(r.DurationUS) * time.Microsecond, Conns: b.o.connections,
	}, nil
}

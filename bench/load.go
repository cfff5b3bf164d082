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

// loadSpec is one run of a load generator: a closed loop of Connections
// connections, each sending its next request as soon as the last one is
// answered, for Duration.
type loadSpec struct {
	Mode        string        `json:"mode"` // "" (for Duration) or "fill" (every key of KeysFile once; built-in only)
	URL         string        `json:"url"`  // http://host:port
	Method      string        `json:"method"`
	Path        string        `json:"path"`
	KeysFile    string        `json:"keys_file,omitempty"`  // body {"key":"<random line of the file>"}
	TokenFile   string        `json:"token_file,omitempty"` // Authorization: Bearer <first line of the file>
	Body        string        `json:"body,omitempty"`       // a fixed JSON body
	Connections int           `json:"connections"`
	Duration    time.Duration `json:"duration"`
	ExpectValid bool          `json:"expect_valid,omitempty"` // built-in: count answers without "valid":true
	Timeout     time.Duration `json:"timeout,omitempty"`      // built-in: a slower answer is a timeout; 0 for requestTimeout
	Seed        uint64        `json:"seed"`
}

// loadResult is a run's outcome, as both generators print it on one
// line: BENCH_JSON {...}.
type loadResult struct {
	Requests   int64   `json:"requests"` // responses received, whatever their status
	DurationUS int64   `json:"duration_us"`
	Bytes      int64   `json:"bytes"`
	Connect    int64   `json:"connect"` // socket errors, as wrk counts them
	Read       int64   `json:"read"`
	Write      int64   `json:"write"`
	Status     int64   `json:"status"`  // wrk: status > 399; built-in: not 2xx
	Timeout    int64   `json:"timeout"` // slower than the 10s timeout (not in the percentiles)
	Invalid    int64   `json:"invalid"` // built-in with ExpectValid: 200 but not VALID
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
// the 201s; wrk counts only statuses above 399 apart, and keyward answers
// no 3xx).
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

// loadGenerator runs a loadSpec in a child process pinned to the load CPU.
type loadGenerator interface {
	describe() string
	run(ctx context.Context, spec loadSpec) (loadResult, error)
	// roundedDuration is the duration a run of d really lasts.
	roundedDuration(d time.Duration) time.Duration
}

// chooseLoadGenerator picks wrk when it is installed (or asked for) and
// the built-in generator otherwise.
func chooseLoadGenerator(which string, b *bench) (loadGenerator, error) {
	if which == "go" {
		return &goLoad{b: b}, nil
	}
	path, err := exec.LookPath("wrk")
	switch {
	case err == nil:
		return newWrk(b, path)
	case which == "wrk":
		return nil, fmt.Errorf("--loadgen wrk: %w", err)
	}
	return &goLoad{b: b}, nil
}

// runChild runs a load generator command and parses its BENCH_JSON line.
func runChild(cmd *exec.Cmd, what string) (loadResult, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = childEnv(cmd.Env...)
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

func parseBenchJSON(out []byte) (loadResult, bool, error) {
	var r loadResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if js, ok := strings.CutPrefix(sc.Text(), "BENCH_JSON "); ok {
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				return r, true, fmt.Errorf("bad BENCH_JSON line: %w", err)
			}
			return r, true, nil
		}
	}
	return r, false, nil
}

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

// fill verifies every key of keysFile once, with the built-in generator
// whatever --loadgen says (wrk cannot stop after a count), so that the
// cache holds every key.
func (b *bench) fill(ctx context.Context, addr, keysFile string) (fillResult, error) {
	g := &goLoad{b: b}
	r, err := g.run(ctx, loadSpec{
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

func newSeed() uint64 { return rand.Uint64() }

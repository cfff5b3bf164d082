package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// goLoad is the built-in load generator: this executable, re-executed in
// its load mode (envLoad) under the same pinning as wrk would be.
type goLoad struct {
	b   *bench
	why string // why it was chosen over wrk, if it was
}

func (g *goLoad) describe() string {
	s := "built-in Go generator (net/http client, one goroutine and one keep-alive connection per connection, closed loop)"
	if g.why != "" {
		s += "; " + g.why
	}
	return s
}

func (g *goLoad) roundedDuration(d time.Duration) time.Duration { return d }

func (g *goLoad) run(ctx context.Context, spec loadSpec) (loadResult, error) {
	spec.Seed = newSeed()
	js, err := json.Marshal(spec)
	if err != nil {
		return loadResult{}, err
	}
	cmd := g.b.pin.command(ctx, g.b.pin.loadCPU, g.b.self)
	cmd.Env = []string{envLoad + "=" + string(js)}
	return runChild(cmd, "built-in load generator")
}

// requestTimeout bounds one request, as wrk's --timeout does.
const requestTimeout = 10 * time.Second

// runGoLoadChild is the hidden load mode: run the spec and print the
// BENCH_JSON line.
func runGoLoadChild(specJSON string) error {
	var spec loadSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return err
	}
	r, err := goLoadRun(spec)
	if err != nil {
		return err
	}
	js, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Printf("BENCH_JSON %s\n", js)
	return nil
}

// worker is one connection's state: its own client and transport (so its
// own keep-alive connection), its latencies and its counts.
type worker struct {
	client    *http.Client
	lat       []time.Duration
	res       loadResult
	buf       bytes.Buffer
	rng       *rand.Rand
	reqHeader http.Header
}

func goLoadRun(spec loadSpec) (loadResult, error) {
	u, err := url.Parse(spec.URL + spec.Path)
	if err != nil {
		return loadResult{}, err
	}
	var keys []string
	if spec.KeysFile != "" {
		if keys, err = readLines(spec.KeysFile); err != nil {
			return loadResult{}, err
		}
		if len(keys) == 0 {
			return loadResult{}, fmt.Errorf("no keys in %s", spec.KeysFile)
		}
	}
	header := http.Header{}
	if spec.TokenFile != "" {
		lines, err := readLines(spec.TokenFile)
		if err != nil || len(lines) == 0 {
			return loadResult{}, fmt.Errorf("read token file: %v", err)
		}
		header.Set("Authorization", "Bearer "+lines[0])
	}
	if spec.KeysFile != "" || spec.Body != "" {
		header.Set("Content-Type", "application/json")
	}

	// Room for every latency up front: no slice growth while measuring.
	perWorker := 1 << 10
	if spec.Mode == "fill" {
		perWorker = len(keys)/spec.Connections + 1
	} else {
		perWorker = max(perWorker, int(spec.Duration.Seconds()*200_000)/spec.Connections)
	}

	var next atomic.Int64 // fill: the next key
	workers := make([]*worker, spec.Connections)
	for i := range workers {
		workers[i] = &worker{
			client: &http.Client{
				Timeout: requestTimeout,
				Transport: &http.Transport{
					Proxy:               nil,
					DialContext:         (&net.Dialer{Timeout: requestTimeout}).DialContext,
					MaxIdleConns:        1,
					MaxIdleConnsPerHost: 1,
					MaxConnsPerHost:     1,
					DisableCompression:  true,
				},
			},
			lat:       make([]time.Duration, 0, perWorker),
			rng:       rand.New(rand.NewPCG(spec.Seed, uint64(i))),
			reqHeader: header,
		}
	}

	start := time.Now()
	deadline := start.Add(spec.Duration)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			for {
				var body string
				switch {
				case spec.Mode == "fill":
					i := next.Add(1) - 1
					if i >= int64(len(keys)) {
						return
					}
					body = `{"key":"` + keys[i] + `"}`
				case !time.Now().Before(deadline):
					return
				case keys != nil:
					body = `{"key":"` + keys[w.rng.IntN(len(keys))] + `"}`
				default:
					body = spec.Body
				}
				w.do(spec, u, body)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	var total loadResult
	all := make([]time.Duration, 0, len(workers)*perWorker)
	for _, w := range workers {
		all = append(all, w.lat...)
		total.Requests += w.res.Requests
		total.Bytes += w.res.Bytes
		total.Connect += w.res.Connect
		total.Read += w.res.Read
		total.Write += w.res.Write
		total.Status += w.res.Status
		total.Timeout += w.res.Timeout
		total.Invalid += w.res.Invalid
		w.client.CloseIdleConnections()
	}
	total.DurationUS = elapsed.Microseconds()
	if len(all) > 0 {
		slices.Sort(all)
		var sum time.Duration
		for _, d := range all {
			sum += d
		}
		us := func(d time.Duration) float64 { return float64(d) / 1e3 }
		total.P50US = us(percentile(all, 50))
		total.P99US = us(percentile(all, 99))
		total.P999US = us(percentile(all, 99.9))
		total.MeanUS = us(sum) / float64(len(all))
		total.MaxUS = us(all[len(all)-1])
	}
	return total, nil
}

// do sends one request and records its latency, from before the request
// is written to after the whole response is read, and its outcome.
func (w *worker) do(spec loadSpec, u *url.URL, body string) {
	req := &http.Request{
		Method:     spec.Method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     w.reqHeader, // only read by the transport
		Host:       u.Host,
	}
	if body != "" {
		req.Body = io.NopCloser(strings.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	start := time.Now()
	resp, err := w.client.Do(req)
	if err == nil {
		w.buf.Reset()
		_, err = w.buf.ReadFrom(resp.Body)
		resp.Body.Close()
	}
	d := time.Since(start)
	if err != nil {
		var op *net.OpError
		switch {
		case isTimeout(err):
			w.res.Timeout++
		case errors.As(err, &op) && op.Op == "dial":
			w.res.Connect++
		case errors.As(err, &op) && op.Op == "write":
			w.res.Write++
		default:
			w.res.Read++
		}
		return
	}
	w.res.Requests++
	w.res.Bytes += int64(w.buf.Len())
	w.lat = append(w.lat, d)
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		w.res.Status++
	case spec.ExpectValid && !bytes.Contains(w.buf.Bytes(), []byte(`"valid":true`)):
		w.res.Invalid++
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// percentile returns the p-th percentile of sorted: the smallest value
// with at least p% of the values at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			lines = append(lines, s)
		}
	}
	return lines, sc.Err()
}

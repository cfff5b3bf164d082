package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseBenchJSON(t *testing.T) {
	tests := []struct {
		name  string
		out   string
		found bool
		want  loadResult
		err   string
	}{
		{
			name:  "among other lines",
			out:   "starting\nBENCH_JSON {\"requests\":1200,\"duration_us\":2000000,\"status\":3,\"timeout\":1,\"invalid\":2,\"p99_us\":4400.5}\ntrailing\n",
			found: true,
			want:  loadResult{Requests: 1200, DurationUS: 2_000_000, Status: 3, Timeout: 1, Invalid: 2, P99US: 4400.5},
		},
		{name: "the first line counts", out: "BENCH_JSON {\"requests\":1}\nBENCH_JSON {\"requests\":2}\n", found: true, want: loadResult{Requests: 1}},
		{name: "no line", out: "panic: something\n", found: false},
		{name: "prefix only inside a line", out: "x BENCH_JSON {\"requests\":1}\n", found: false},
		{name: "not JSON", out: "BENCH_JSON {requests:1}\n", found: true, err: "bad BENCH_JSON line: invalid character 'r'"},
		{name: "a field of the wrong type", out: "BENCH_JSON {\"requests\":\"many\"}\n", found: true, err: "bad BENCH_JSON line: json: cannot unmarshal string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, found, err := parseBenchJSON([]byte(tt.out))
			if found != tt.found {
				t.Errorf("found %v, want %v", found, tt.found)
			}
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Errorf("error %v, want one starting %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r != tt.want {
				t.Errorf("\n got %+v\nwant %+v", r, tt.want)
			}
		})
	}
}

func TestBenchJSONRoundTrip(t *testing.T) {
	want := loadResult{
		Requests: 536_112, DurationUS: 10_103_000, Bytes: 123_456_789, Connect: 1, Read: 2, Write: 3,
		Status: 4, Timeout: 5, Invalid: 6, P50US: 1180, P99US: 2930, P999US: 4950, MeanUS: 1201.25, MaxUS: 9876,
		GenCPU: time.Second, GenWall: 2 * time.Second, // not printed: the parent measures them
	}
	var out bytes.Buffer
	if err := writeBenchJSON(&out, want); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "BENCH_JSON {") || !strings.HasSuffix(out.String(), "}\n") || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("wrote %q, want one BENCH_JSON line", out.String())
	}
	got, found, err := parseBenchJSON(out.Bytes())
	if err != nil || !found {
		t.Fatalf("parse: found %v, %v", found, err)
	}
	want.GenCPU, want.GenWall = 0, 0
	if got != want {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
}

func TestLoadResultRates(t *testing.T) {
	r := loadResult{Requests: 30_000, DurationUS: 2_500_000, Status: 5_000, Timeout: 7, Read: 1, Invalid: 2}
	if got := r.rate(); got != 12_000 {
		t.Errorf("rate %v, want 12000", got)
	}
	if got := r.okRate(); got != 10_000 {
		t.Errorf("okRate %v, want 10000", got)
	}
	if got := r.errorCount(); got != 5_010 {
		t.Errorf("errorCount %d, want 5010", got)
	}
	if got := (loadResult{Requests: 5}).rate(); got != 0 {
		t.Errorf("rate with no duration: %v, want 0", got)
	}
}

// testBench is a bench whose children are this test binary (see
// TestMain), unpinned.
func testBench(t *testing.T) *bench {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	procs := newProcSet()
	t.Cleanup(func() { procs.stopAll(io.Discard) })
	return &bench{
		o: options{connections: 4}, log: io.Discard, dir: t.TempDir(), self: self,
		pin: pinning{why: "test"}, procs: procs, start: time.Now(),
	}
}

func TestLoadRunsTheGeneratorAsAChild(t *testing.T) {
	s := newVerifyServer(t)
	b := testBench(t)
	keys := writeLines(t, append(keyNames("ok", 50), keyNames("bad", 10)...)...)
	r, err := b.load(context.Background(), loadSpec{
		Mode: modeFill, URL: s.URL, Method: "POST", Path: "/verify", KeysFile: keys, Connections: 3, ExpectValid: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, r, loadResult{Requests: 60, Status: 10})
	if r.GenWall <= 0 || r.GenCPU <= 0 {
		t.Errorf("generator CPU %v over %v: want both measured", r.GenCPU, r.GenWall)
	}

	f, err := b.fill(context.Background(), strings.TrimPrefix(s.URL, "http://"), keys)
	if err != nil {
		t.Fatal(err)
	}
	want := fillResult{Requests: 60, Valid: 50, Errors: 10, Conns: 4}
	if f.Elapsed <= 0 {
		t.Errorf("fill elapsed %v", f.Elapsed)
	}
	f.Elapsed = 0
	if f != want {
		t.Errorf("fill\n got %+v\nwant %+v", f, want)
	}
}

func TestLoadReportsAChildThatFails(t *testing.T) {
	b := testBench(t)
	_, err := b.load(context.Background(), loadSpec{URL: "http://127.0.0.1:1", Method: "GET", Path: "/", Connections: 1})
	if err == nil || !strings.Contains(err.Error(), "load spec: the duration must be positive") {
		t.Errorf("a child refusing its spec: %v, want its message", err)
	}
}

func TestBareServerReplaysItsResponses(t *testing.T) {
	b := testBench(t)
	cfg := bareConfig{
		Verify: response{Status: 200, Header: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}, Body: []byte(`{"valid":true,"code":"VALID"}` + "\n")},
		List:   response{Status: 200, Header: http.Header{"Content-Type": {"application/json"}, "Link": {`</next>; rel="next"`}}, Body: bytes.Repeat([]byte("x"), 20_000)},
	}
	path := filepath.Join(b.dir, "bare.json")
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	bare, err := b.startBare(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		rq   request
		want response
	}{
		{request{method: "POST", path: "/verify", body: `{"key":"kw_x"}`}, cfg.Verify},
		{request{method: "GET", path: listPath, token: "tok"}, cfg.List},
	} {
		got, err := fetch(context.Background(), bare.addr, tt.rq)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != tt.want.Status || !bytes.Equal(got.Body, tt.want.Body) {
			t.Errorf("%s: status %d, %d bytes; want %d, %d bytes", tt.rq.method, got.Status, len(got.Body), tt.want.Status, len(tt.want.Body))
		}
		for k, v := range tt.want.Header {
			if got.Header.Get(k) != v[0] {
				t.Errorf("%s: %s: %q, want %q", tt.rq.method, k, got.Header.Get(k), v[0])
			}
		}
	}
	if err := bare.stop(5 * time.Second); err != nil {
		t.Errorf("stop: %v", err)
	}
}

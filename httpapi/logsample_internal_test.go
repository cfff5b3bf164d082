package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/keyward/keyward/internal/syncbuf"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/sqlite"
)

// testClock is a clock the test moves by hand, safe for the server's
// goroutines.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// lockedBuffer is a log sink safe for the goroutines that write to it.
type lockedBuffer = syncbuf.Buffer

// requestLine is what a test reads of a request's log line.
type requestLine struct {
	Level      string `json:"level"`
	Msg        string `json:"msg"`
	Method     string `json:"method"`
	MethodLen  int    `json:"method_len"`
	Route      string `json:"route"`
	Status     int    `json:"status"`
	Suppressed uint64 `json:"suppressed"`
}

// requestLines parses the request lines of a JSON log.
func requestLines(t *testing.T, log []byte) []requestLine {
	t.Helper()
	var lines []requestLine
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l requestLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line is not JSON: %v", err)
		}
		if l.Msg == "request" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// tally counts the lines of one status and the lines they say were left
// out.
func tally(lines []requestLine, status int) (logged int, suppressed uint64) {
	for _, l := range lines {
		if l.Status == status {
			logged++
			suppressed += l.Suppressed
		}
	}
	return logged, suppressed
}

// newLoggedAPI returns the real API on a fresh SQLite file, logging JSON
// at info level into the returned buffer, with its sampler on clock.
func newLoggedAPI(t *testing.T, clock *testClock) (http.Handler, *lockedBuffer) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return newHandler(logger, keyward.NewService(db), db, clock.now), logs
}

// TestLogFloodOf401s: a brute-force run of n requests with made-up keys
// writes at most sampleBurst lines per period, and every request is
// counted: the lines written and the counts they carry add up to n.
func TestLogFloodOf401s(t *testing.T) {
	for _, tt := range []struct {
		name    string
		n       int
		every   int           // move the clock after this many requests
		step    time.Duration // by this much
		periods int           // the periods the flood spans
	}{
		{"in one period", 1000, 1000, 0, 1},
		{"over several periods", 600, 20, 100 * time.Millisecond, 3},
		{"one request per period", 12, 1, samplePeriod, 12},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock := newTestClock()
			h, logs := newLoggedAPI(t, clock)
			send := func() {
				r := httptest.NewRequest("GET", "/orgs/acme/api_keys", nil)
				r.Header.Set("Authorization", "Bearer kw_guessed")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusUnauthorized {
					t.Errorf("status %d, want 401", w.Code)
				}
			}
			for sent := 0; sent < tt.n; sent += tt.every {
				// Concurrent, as a flood is.
				var wg sync.WaitGroup
				for range tt.every {
					wg.Go(send)
				}
				wg.Wait()
				clock.advance(tt.step)
			}
			logged, suppressed := tally(requestLines(t, logs.Bytes()), http.StatusUnauthorized)
			if limit := sampleBurst * tt.periods; logged > limit {
				t.Errorf("%d requests wrote %d lines, want at most %d", tt.n, logged, limit)
			}
			if uint64(logged)+suppressed > uint64(tt.n) {
				t.Errorf("%d requests: %d lines carrying %d suppressed count more than were sent", tt.n, logged, suppressed)
			}
			// One more request, in a later period, reports what is left.
			clock.advance(samplePeriod)
			send()
			lines := requestLines(t, logs.Bytes())
			logged, suppressed = tally(lines, http.StatusUnauthorized)
			if got := uint64(logged) + suppressed; got != uint64(tt.n+1) {
				t.Errorf("%d lines carrying %d suppressed: %d requests counted, want %d", logged, suppressed, got, tt.n+1)
			}
			if last := lines[len(lines)-1]; tt.n > sampleBurst*tt.periods && last.Suppressed == 0 {
				t.Errorf("the line after the flood does not say how many were left out: %+v", last)
			}
		})
	}
}

// TestLogSamplingByStatus: sampling is per (route, status), for the
// client's failures, redirects and 503s only; successes and 500s (faults
// of ours) write a line each.
func TestLogSamplingByStatus(t *testing.T) {
	const n = 40
	mux := http.NewServeMux()
	for _, status := range []int{200, 204, 400, 401, 404, 409, 500, 503} {
		mux.Handle(fmt.Sprintf("GET /status/%d", status), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if status >= 400 {
				writeError(w, r, errStatus(status, "status"))
				return
			}
			w.WriteHeader(status)
		}))
	}
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	clock := newTestClock()
	h := observe(logger, newLogSampler(clock.now), nil, mux)
	for _, tt := range []struct {
		name   string
		path   string
		status int
		lines  int
	}{
		{"success", "/status/200", 200, n},
		{"no content", "/status/204", 204, n},
		{"bad request", "/status/400", 400, sampleBurst},
		{"unauthorized", "/status/401", 401, sampleBurst},
		{"not found, a route's", "/status/404", 404, sampleBurst},
		{"conflict", "/status/409", 409, sampleBurst},
		{"internal error", "/status/500", 500, n},
		{"unavailable", "/status/503", 503, sampleBurst},
		{"not found, no route", "/no/such/route", 404, sampleBurst},
		{"redirect to a clean path", "/status/../status/200", 307, sampleBurst},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(requestLines(t, logs.Bytes()))
			for range n {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", tt.path, nil))
				if w.Code != tt.status {
					t.Fatalf("GET %s: status %d, want %d", tt.path, w.Code, tt.status)
				}
			}
			if got := len(requestLines(t, logs.Bytes())) - before; got != tt.lines {
				t.Errorf("%d requests answering %d wrote %d lines, want %d", n, tt.status, got, tt.lines)
			}
		})
	}
}

// TestLogBoundsTheMethod: a method is any token a client likes, as long
// as the request line the server accepts. One that HTTP does not define is
// logged as a marker and its length, never as itself, and the 405 problem
// does not echo it either.
func TestLogBoundsTheMethod(t *testing.T) {
	h, logs := newLoggedAPI(t, newTestClock())
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	huge := strings.Repeat("X", 60<<10)
	for _, tt := range []struct {
		name, method, path string
		status             int
	}{
		{"a huge method, no route", huge, "/no/such/route", 404},
		{"a huge method on a route", huge, "/verify", 405},
		{"a short made-up method", "BREW", "/verify", 405},
		{"a standard method", "PUT", "/verify", 405},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(logs.Bytes())
			status, body := rawRequest(t, srv.Listener.Addr().String(), tt.method, tt.path)
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
			written := logs.Bytes()[before:]
			lines := requestLines(t, written)
			if len(lines) != 1 {
				t.Fatalf("%d request lines, want 1", len(lines))
			}
			l := lines[0]
			if standardMethod(tt.method) {
				if l.Method != tt.method || l.MethodLen != 0 {
					t.Errorf("line %+v, want method %s", l, tt.method)
				}
				return
			}
			if l.Method != nonstandardMethod || l.MethodLen != len(tt.method) {
				t.Errorf("line %+v, want method %q and method_len %d", l, nonstandardMethod, len(tt.method))
			}
			if bytes.Contains(written, []byte(tt.method)) || len(written) > 1024 {
				t.Errorf("the method reached the log: %d bytes written", len(written))
			}
			if strings.Contains(body, tt.method) || len(body) > 1024 {
				t.Errorf("the problem echoes the method: %d bytes", len(body))
			}
		})
	}
}

// rawRequest sends one HTTP/1.1 request with any method, which
// http.Client would refuse to send, and returns the status and body.
func rawRequest(t *testing.T, addr, method, path string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: keyward\r\nConnection: close\r\n\r\n", method, path); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// BenchmarkLogSamplerAdmit measures what sampling adds to a logged
// failure: a flood of 401s on one route, from every CPU, nearly all of
// them left out.
func BenchmarkLogSamplerAdmit(b *testing.B) {
	s := newLogSampler(time.Now)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.admit("GET /orgs/{org_id}/api_keys", http.StatusUnauthorized)
		}
	})
}

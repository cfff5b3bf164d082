package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// writeLines writes a file of one line per element under t.TempDir().
func writeLines(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lines.txt")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// keyNames is prefix-0 ... prefix-(n-1).
func keyNames(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return keys
}

// verifyServer answers POST /verify with keyward's framing, by the key's
// prefix: bad-* 503, unauth-* 401, invalid-* 200 not VALID, late-* 200 VALID after
// 300 ms, hang-* never (until the client leaves), slow-* 200 VALID after
// 50 ms, anything else 200 VALID at once. It counts the keys it was sent.
type verifyServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string]int
}

func newVerifyServer(t *testing.T) *verifyServer {
	t.Helper()
	s := &verifyServer{seen: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Key string }
		if r.Method != http.MethodPost || r.URL.Path != "/verify" || json.NewDecoder(r.Body).Decode(&body) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.seen[body.Key]++
		s.mu.Unlock()
		prefix, _, _ := strings.Cut(body.Key, "-")
		w.Header().Set("Content-Type", "application/json")
		switch prefix {
		case "bad":
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"unavailable"}`)
			return
		case "unauth":
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"unauthorized"}`)
			return
		case "invalid":
			io.WriteString(w, `{"valid":false,"code":"NOT_FOUND"}`)
			return
		case "late":
			time.Sleep(300 * time.Millisecond)
		case "hang":
			<-r.Context().Done()
			return
		case "slow":
			time.Sleep(50 * time.Millisecond)
		}
		io.WriteString(w, `{"valid":true,"code":"VALID"}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *verifyServer) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.seen {
		n += c
	}
	return n
}

// fillSpec sends every key of keysFile once. A request is given 5s, not
// 10s: a generator that breaks its requests fails the test sooner.
func (s *verifyServer) fillSpec(keysFile string, conns int) loadSpec {
	return loadSpec{
		Mode: modeFill, URL: s.URL, Method: "POST", Path: "/verify",
		KeysFile: keysFile, Connections: conns, ExpectValid: true, Timeout: 5 * time.Second,
	}
}

// checkCounts compares a result's counts with want's, field by field.
func checkCounts(t *testing.T, got, want loadResult) {
	t.Helper()
	for _, f := range []struct {
		name      string
		got, want int64
	}{
		{"requests", got.Requests, want.Requests}, {"connect", got.Connect, want.Connect},
		{"read", got.Read, want.Read}, {"write", got.Write, want.Write},
		{"status", got.Status, want.Status}, {"timeout", got.Timeout, want.Timeout},
		{"invalid", got.Invalid, want.Invalid},
	} {
		if f.got != f.want {
			t.Errorf("%s: %d, want %d", f.name, f.got, f.want)
		}
	}
}

func TestGenerateCountsEveryRequestForItsDuration(t *testing.T) {
	s := newVerifyServer(t)
	spec := loadSpec{
		URL: s.URL, Method: "POST", Path: "/verify", KeysFile: writeLines(t, keyNames("k", 20)...),
		Connections: 4, Duration: 300 * time.Millisecond, ExpectValid: true, Seed: 1,
	}
	r, err := generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	// A closed loop: every request sent was answered before the end.
	checkCounts(t, r, loadResult{Requests: int64(s.total())})
	if r.Requests < 4 {
		t.Errorf("%d requests in 300ms on 4 connections", r.Requests)
	}
	if r.DurationUS < 300_000 || r.DurationUS > 5_000_000 {
		t.Errorf("duration %d µs, want 300,000 and a little more", r.DurationUS)
	}
	if r.Bytes <= r.Requests*int64(len(`{"valid":true,"code":"VALID"}`)) {
		t.Errorf("%d bytes for %d answers: fewer than their bodies", r.Bytes, r.Requests)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) < 2 {
		t.Errorf("keys sent: %v: want keys drawn from all 20", s.seen)
	}
	for k := range s.seen {
		if !strings.HasPrefix(k, "k-") {
			t.Errorf("server was sent key %q, not one of the file's", k)
		}
	}
}

func TestGenerateFillSendsEveryKeyOnce(t *testing.T) {
	s := newVerifyServer(t)
	keys := keyNames("k", 1000)
	r, err := generate(s.fillSpec(writeLines(t, keys...), 8))
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, r, loadResult{Requests: 1000})
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) != len(keys) {
		t.Errorf("server saw %d distinct keys, want %d", len(s.seen), len(keys))
	}
	for _, k := range keys {
		if s.seen[k] != 1 {
			t.Errorf("key %s sent %d times, want once", k, s.seen[k])
		}
	}
}

func TestGenerateCountsStatusAndInvalidAnswers(t *testing.T) {
	s := newVerifyServer(t)
	keys := append(append(append(keyNames("ok", 7), keyNames("bad", 2)...), keyNames("unauth", 1)...), keyNames("invalid", 2)...)
	r, err := generate(s.fillSpec(writeLines(t, keys...), 3))
	if err != nil {
		t.Fatal(err)
	}
	// Answers with a bad status (4xx or 5xx) are answers: counted, and in
	// the latencies.
	checkCounts(t, r, loadResult{Requests: 12, Status: 3, Invalid: 2})
	if got := r.ok(); got != 9 {
		t.Errorf("ok() = %d, want 9 (7 VALID and 2 not)", got)
	}
	if got := r.errorCount(); got != 5 {
		t.Errorf("errorCount() = %d, want 5", got)
	}
}

func TestGenerateCountsTimeouts(t *testing.T) {
	s := newVerifyServer(t)
	// hang-*: no answer, the connection's deadline ends the wait;
	// late-*: an answer (after 300 ms), but after the timeout.
	keys := append(append(keyNames("hang", 2), keyNames("late", 2)...), keyNames("ok", 6)...)
	spec := s.fillSpec(writeLines(t, keys...), 4)
	spec.Timeout = 200 * time.Millisecond
	start := time.Now()
	r, err := generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, r, loadResult{Requests: 6, Timeout: 4})
	// Timeouts are not latencies: only the quick answers are in them.
	if r.MaxUS >= 200_000 {
		t.Errorf("max latency %v µs: a timed-out request is in the percentiles", r.MaxUS)
	}
	// A hung request is given up at most a second after its timeout:
	// here after 1.2s.
	if el := time.Since(start); el < 1200*time.Millisecond || el > 2500*time.Millisecond {
		t.Errorf("took %v, want 1.2s and a little more", el)
	}
}

func TestGeneratePercentilesAreWithinWhatWasObserved(t *testing.T) {
	s := newVerifyServer(t)
	// 20 of 100 answers take 50 ms or more, the others far less.
	keys := append(keyNames("slow", 20), keyNames("ok", 80)...)
	r, err := generate(s.fillSpec(writeLines(t, keys...), 4))
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, r, loadResult{Requests: 100})
	if !(r.P50US <= r.P99US && r.P99US <= r.P999US && r.P999US <= r.MaxUS) {
		t.Errorf("p50 %v ≤ p99 %v ≤ p99.9 %v ≤ max %v does not hold", r.P50US, r.P99US, r.P999US, r.MaxUS)
	}
	if r.P50US >= 50_000 {
		t.Errorf("p50 %v µs: want one of the quick answers (80 of 100)", r.P50US)
	}
	if r.P99US < 50_000 {
		t.Errorf("p99 %v µs: want one of the slow answers (20 of 100 take 50 ms or more)", r.P99US)
	}
	// At least a fifth of the requests took 50 ms: the mean is 10 ms or more.
	if r.MeanUS < 10_000 || r.MeanUS > r.MaxUS {
		t.Errorf("mean %v µs, max %v µs: want 10,000 ≤ mean ≤ max", r.MeanUS, r.MaxUS)
	}
}

func TestGenerateCountsRefusedConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	r, err := generate(loadSpec{
		URL: "http://" + addr, Method: "GET", Path: "/", Connections: 2, Duration: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 0 || r.Read != 0 || r.Write != 0 || r.Timeout != 0 {
		t.Errorf("%+v: want connect errors only", r)
	}
	// Each connection waits 10 ms after a refusal: a few per connection,
	// not thousands.
	if r.Connect < 2 || r.Connect > 40 {
		t.Errorf("%d connect errors for 2 connections in 100 ms, want 2 to 40", r.Connect)
	}
}

// rawServer answers each request, read with net/http's parser, with the
// bytes answer returns, and then closes the connection unless keepOpen; a
// nil answer closes it at once. It counts the connections it accepted.
type rawServer struct {
	addr     string
	accepted atomic.Int64
}

func newRawServer(t *testing.T, answer func(req *http.Request, body []byte) (a []byte, keepOpen bool)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			wg.Go(func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					body, err := io.ReadAll(req.Body)
					if err != nil {
						return
					}
					a, keepOpen := answer(req, body)
					if a == nil {
						return
					}
					if _, err := conn.Write(a); err != nil || !keepOpen {
						return
					}
				}
			})
		}
	})
	return s
}

func TestGenerateSendsWellFormedRequests(t *testing.T) {
	type seen struct {
		method, uri, host, auth, ctype, body string
		length                               int64
	}
	var mu sync.Mutex
	var got []seen
	s := newRawServer(t, func(req *http.Request, body []byte) ([]byte, bool) {
		mu.Lock()
		got = append(got, seen{req.Method, req.RequestURI, req.Host, req.Header.Get("Authorization"),
			req.Header.Get("Content-Type"), string(body), req.ContentLength})
		mu.Unlock()
		return []byte("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"), true
	})

	t.Run("fixed body with a token", func(t *testing.T) {
		mu.Lock()
		got = nil
		mu.Unlock()
		r, err := generate(loadSpec{
			URL: "http://" + s.addr, Method: "POST", Path: "/orgs/bench-create/api_keys",
			TokenFile: writeLines(t, "tok-1", "ignored"), Body: createBody,
			Connections: 1, Duration: 50 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if r.Requests != int64(len(got)) || r.errorCount() != 0 {
			t.Fatalf("%+v: want %d requests and no errors", r, len(got))
		}
		want := seen{"POST", "/orgs/bench-create/api_keys", s.addr, "Bearer tok-1", "application/json", createBody, int64(len(createBody))}
		for _, g := range got {
			if g != want {
				t.Fatalf("server saw\n%+v\nwant\n%+v", g, want)
			}
		}
	})
	t.Run("keys", func(t *testing.T) {
		mu.Lock()
		got = nil
		mu.Unlock()
		_, err := generate(loadSpec{
			Mode: modeFill, URL: "http://" + s.addr, Method: "POST", Path: "/verify",
			KeysFile: writeLines(t, "kw_a", "", "  kw_bb  "), Connections: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		want := []seen{
			{"POST", "/verify", s.addr, "", "application/json", `{"key":"kw_a"}`, 14},
			{"POST", "/verify", s.addr, "", "application/json", `{"key":"kw_bb"}`, 15},
		}
		if len(got) != len(want) {
			t.Fatalf("server saw %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("request %d:\n%+v\nwant\n%+v", i, got[i], want[i])
			}
		}
	})
	t.Run("no body", func(t *testing.T) {
		mu.Lock()
		got = nil
		mu.Unlock()
		if _, err := generate(loadSpec{URL: "http://" + s.addr, Method: "GET", Path: listPath, Connections: 1, Duration: 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		want := seen{method: "GET", uri: listPath, host: s.addr}
		if len(got) == 0 || got[0] != want {
			t.Errorf("server saw %+v, want %+v", got, want)
		}
	})
}

func TestGenerateReadsChunkedAnswersAndReconnectsOnClose(t *testing.T) {
	var n atomic.Int64
	s := newRawServer(t, func(*http.Request, []byte) ([]byte, bool) {
		// A body split in chunks, "valid":true across two of them; every
		// other answer asks to close the connection, and closes it.
		conn, keepOpen := "", true
		if n.Add(1)%2 == 0 {
			conn, keepOpen = "Connection: close\r\n", false
		}
		return []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + conn +
			"Transfer-Encoding: chunked\r\n\r\n" +
			"5\r\n{\"val\r\n" + "b;ext=1\r\nid\":true,\"c\r\n" + "d\r\node\":\"VALID\"}\r\n" + "0\r\nX-Trailer: 1\r\n\r\n"), keepOpen
	})
	r, err := generate(loadSpec{
		Mode: modeFill, URL: "http://" + s.addr, Method: "POST", Path: "/verify",
		KeysFile: writeLines(t, keyNames("k", 10)...), Connections: 1, ExpectValid: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, r, loadResult{Requests: 10})
	// One connection, closed after every second answer: 5 connections.
	if got := s.accepted.Load(); got != 5 {
		t.Errorf("server accepted %d connections, want 5", got)
	}
}

func TestGenerateCountsLostConnectionsAndMalformedAnswersAsReadErrors(t *testing.T) {
	tests := []struct {
		name   string
		answer []byte // nil: close without answering
	}{
		{"closed without an answer", nil},
		{"not a status line", []byte("HTTP/1.1 abc OK\r\n\r\n")},
		{"truncated body", []byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{}")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each answer is followed by a close, or the truncated body
			// would wait for the timeout.
			s := newRawServer(t, func(*http.Request, []byte) ([]byte, bool) { return tt.answer, false })
			r, err := generate(loadSpec{
				Mode: modeFill, URL: "http://" + s.addr, Method: "POST", Path: "/verify",
				KeysFile: writeLines(t, keyNames("k", 5)...), Connections: 2, Timeout: 2 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			checkCounts(t, r, loadResult{Read: 5})
		})
	}
}

func TestNewGenerationRefusesBadSpecs(t *testing.T) {
	keys := writeLines(t, "k")
	good := loadSpec{URL: "http://127.0.0.1:1", Method: "GET", Path: "/", Connections: 1, Duration: time.Second}
	tests := []struct {
		name string
		edit func(*loadSpec)
		want string
	}{
		{"not a URL", func(s *loadSpec) { s.URL = "127.0.0.1:1" }, `load spec: url: parse "127.0.0.1:1"`},
		{"not http", func(s *loadSpec) { s.URL = "tcp://127.0.0.1:1" }, `load spec: url "tcp://127.0.0.1:1": want http://host:port`},
		{"https", func(s *loadSpec) { s.URL = "https://127.0.0.1:1" }, `load spec: url "https://127.0.0.1:1": want http://host:port`},
		{"no port", func(s *loadSpec) { s.URL = "http://localhost" }, `load spec: url "http://localhost": want http://host:port`},
		{"relative path", func(s *loadSpec) { s.Path = "verify" }, `load spec: want a method and a path from /, have "GET" "verify"`},
		{"no method", func(s *loadSpec) { s.Method = "" }, `load spec: want a method and a path from /, have "" "/"`},
		{"no connections", func(s *loadSpec) { s.Connections = 0 }, "load spec: 0 connections: want at least 1"},
		{"unknown mode", func(s *loadSpec) { s.Mode = "drain" }, `load spec: unknown mode "drain"`},
		{"fill without keys", func(s *loadSpec) { s.Mode = modeFill }, "load spec: fill needs a keys file"},
		{"no duration", func(s *loadSpec) { s.Duration = 0 }, "load spec: the duration must be positive"},
		{"keys and a body", func(s *loadSpec) { s.KeysFile, s.Body = keys, "{}" }, "load spec: a keys file and a fixed body exclude each other"},
		{"empty keys file", func(s *loadSpec) { s.KeysFile = writeLines(t, "", " ") }, "no keys in "},
		{"missing token file", func(s *loadSpec) { s.TokenFile = filepath.Join(t.TempDir(), "none") }, "token file: open "},
		{"made-up keys and a keys file", func(s *loadSpec) { s.MadeUp, s.KeysFile = true, keys }, "load spec: made-up keys exclude a keys file, a fixed body and fill mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := good
			tt.edit(&spec)
			_, err := newGeneration(spec)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("newGeneration: %v, want an error starting %q", err, tt.want)
			}
		})
	}
	if _, err := newGeneration(good); err != nil {
		t.Errorf("newGeneration of a good spec: %v", err)
	}
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		keep      bool
		status    int
		body      string // kept, when keep
		closeConn bool
		err       error
	}{
		{name: "content length", in: "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{\"valid\":true}", keep: true, status: 200, body: `{"valid":true}`},
		{name: "header names in any case", in: "HTTP/1.1 200 OK\r\ncontent-LENGTH:  2 \r\nCONNECTION: Close\r\n\r\n{}", keep: true, status: 200, body: "{}", closeConn: true},
		{name: "chunked, skipped", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", status: 200},
		{name: "chunked, kept", in: "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n", keep: true, status: 404, body: "abc0123456789"},
		{name: "no framing: up to the end", in: "HTTP/1.1 200 OK\r\n\r\nall of it", keep: true, status: 200, body: "all of it", closeConn: true},
		{name: "HTTP/1.0 closes", in: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200, closeConn: true},
		{name: "HTTP/1.0 kept alive", in: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", status: 200},
		{name: "no content", in: "HTTP/1.1 204 No Content\r\n\r\n", status: 204},
		{name: "no reason", in: "HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n", status: 503},
		{name: "status not a number", in: "HTTP/1.1 2x0 OK\r\n\r\n", err: errMalformed},
		{name: "informational", in: "HTTP/1.1 100 Continue\r\n\r\n", err: errMalformed},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH_9.6\r\n", err: errMalformed},
		{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: errMalformed},
		{name: "unknown transfer encoding", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", err: errMalformed},
		{name: "header without a colon", in: "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", err: errMalformed},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", err: errMalformed},
		{name: "chunk without its CRLF", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", err: errMalformed},
		{name: "truncated body", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", err: io.ErrUnexpectedEOF},
		{name: "truncated head", in: "HTTP/1.1 200 OK\r\nContent-Le", err: io.ErrUnexpectedEOF},
		{name: "nothing", in: "", err: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &loadConn{r: bufio.NewReader(strings.NewReader(tt.in))}
			status, n, closeConn, err := c.readResponse(tt.keep)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if tt.err != nil {
				return
			}
			if status != tt.status || closeConn != tt.closeConn || string(c.body) != tt.body {
				t.Errorf("status %d, close %v, body %q; want %d, %v, %q", status, closeConn, c.body, tt.status, tt.closeConn, tt.body)
			}
			// Everything is read, and counted, up to the answer's end.
			if rest, _ := io.ReadAll(c.r); len(rest) != 0 || n != int64(len(tt.in)) {
				t.Errorf("read %d bytes of %d, %q left", n, len(tt.in), rest)
			}
		})
	}
}

func TestReadResponseLeavesTheNextAnswer(t *testing.T) {
	one := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
	two := "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
	c := &loadConn{r: bufio.NewReader(strings.NewReader(one + two))}
	for i, want := range []int{200, 201} {
		status, _, _, err := c.readResponse(false)
		if err != nil || status != want {
			t.Fatalf("answer %d: status %d, %v; want %d", i, status, err, want)
		}
	}
}

func TestExchangeAllocatesNothing(t *testing.T) {
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 29\r\n\r\n{\"valid\":true,\"code\":\"VALID\"}")
	rd := bytes.NewReader(nil)
	c := &loadConn{g: &generation{head: []byte("POST /verify HTTP/1.1\r\nHost: x\r\nContent-Length: ")}, r: bufio.NewReaderSize(rd, readBufferSize), hist: newHistogram()}
	key := []byte("kw_0123456789")
	c.verifyRequest(key) // grow the buffers once
	allocs := testing.AllocsPerRun(100, func() {
		rd.Reset(answer)
		c.r.Reset(rd)
		c.verifyRequest(key)
		if _, _, _, err := c.readResponse(true); err != nil {
			t.Fatal(err)
		}
		c.hist.record(time.Millisecond)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request, want 0", allocs)
	}
}

func TestVerifyRequest(t *testing.T) {
	c := &loadConn{g: &generation{head: []byte("POST /verify HTTP/1.1\r\nHost: h:1\r\nContent-Type: application/json\r\nContent-Length: ")}}
	got := string(c.verifyRequest([]byte("kw_abc")))
	want := "POST /verify HTTP/1.1\r\nHost: h:1\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n" + `{"key":"kw_abc"}`
	if got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
}

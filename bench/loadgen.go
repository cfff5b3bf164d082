package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// requestTimeout bounds one request unless the spec says otherwise: an
// answer slower than this is a timeout, left out of the percentiles.
const requestTimeout = 10 * time.Second

// runLoadChild is the hidden load mode: run the spec and print the
// BENCH_JSON line.
func runLoadChild(specJSON string, stdout io.Writer) error {
	var spec loadSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return fmt.Errorf("load spec: %w", err)
	}
	r, err := generate(spec)
	if err != nil {
		return err
	}
	return writeBenchJSON(stdout, r)
}

// generation is one run of the generator, shared by its connections.
type generation struct {
	spec     loadSpec
	addr     string // host:port
	timeout  time.Duration
	keys     [][]byte // the keys file's lines, nil without one
	next     atomic.Int64
	deadline time.Time

	// The request: with a keys file, head is a verification up to its
	// Content-Length value; without one, fixed is the whole request,
	// always the same.
	head  []byte
	fixed []byte
}

// generate runs spec in this process: spec.Connections connections, each
// a goroutine that writes a request, reads its whole answer, and writes the
// next one (a closed loop), until spec.Duration has passed or, in fill
// mode, until every key has been sent once.
//
// It is built to cost the generator as little CPU as it can, so that the
// server sets the pace: a request is a buffer written in one write(2),
// built once or, with a keys file, by appending a key to a prebuilt head;
// the answer is read by a minimal HTTP/1.1 parser (status line,
// Content-Length or chunked framing, Connection: close) from a buffer
// large enough for a list page; a connection's deadline is moved once a
// second, not per request; latencies go into a histogram. Nothing is
// allocated per request.
func generate(spec loadSpec) (loadResult, error) {
	g, err := newGeneration(spec)
	if err != nil {
		return loadResult{}, err
	}
	conns := make([]*loadConn, spec.Connections)
	for i := range conns {
		conns[i] = &loadConn{
			g:    g,
			hist: newHistogram(),
			rng:  rand.New(rand.NewPCG(spec.Seed, uint64(i))),
		}
	}
	start := time.Now()
	g.deadline = start.Add(spec.Duration)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(c.loop)
	}
	wg.Wait()
	elapsed := time.Since(start)

	total := loadResult{DurationUS: elapsed.Microseconds()}
	hist := newHistogram()
	for _, c := range conns {
		c.close()
		total.add(c.res)
		hist.merge(c.hist)
	}
	total.P50US = float64(hist.percentile(50))
	total.P99US = float64(hist.percentile(99))
	total.P999US = float64(hist.percentile(99.9))
	total.MeanUS = hist.meanUS()
	total.MaxUS = float64(hist.maxUS)
	return total, nil
}

func newGeneration(spec loadSpec) (*generation, error) {
	u, err := url.Parse(spec.URL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("load spec: url: %w", err)
	case u.Scheme != "http" || u.Host == "" || u.Port() == "":
		return nil, fmt.Errorf("load spec: url %q: want http://host:port", spec.URL)
	case spec.Method == "" || len(spec.Path) == 0 || spec.Path[0] != '/':
		return nil, fmt.Errorf("load spec: want a method and a path from /, have %q %q", spec.Method, spec.Path)
	case spec.Connections < 1:
		return nil, fmt.Errorf("load spec: %d connections: want at least 1", spec.Connections)
	case spec.Mode != "" && spec.Mode != modeFill:
		return nil, fmt.Errorf("load spec: unknown mode %q", spec.Mode)
	case spec.Mode == modeFill && spec.KeysFile == "":
		return nil, errors.New("load spec: fill needs a keys file")
	case spec.Mode == "" && spec.Duration <= 0:
		return nil, errors.New("load spec: the duration must be positive")
	case spec.KeysFile != "" && spec.Body != "":
		return nil, errors.New("load spec: a keys file and a fixed body exclude each other")
	case spec.MadeUp && (spec.KeysFile != "" || spec.Body != "" || spec.Mode != ""):
		return nil, errors.New("load spec: made-up keys exclude a keys file, a fixed body and fill mode")
	}
	g := &generation{spec: spec, addr: u.Host, timeout: spec.Timeout}
	if g.timeout <= 0 {
		g.timeout = requestTimeout
	}
	if spec.KeysFile != "" {
		if g.keys, err = readKeys(spec.KeysFile); err != nil {
			return nil, err
		}
	}
	head := []byte(spec.Method + " " + spec.Path + " HTTP/1.1\r\nHost: " + u.Host + "\r\n")
	if spec.TokenFile != "" {
		token, err := readKeys(spec.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		head = append(head, "Authorization: Bearer "...)
		head = append(head, token[0]...)
		head = append(head, "\r\n"...)
	}
	switch {
	case g.keys != nil || spec.MadeUp:
		g.head = append(head, "Content-Type: application/json\r\nContent-Length: "...)
	case spec.Body != "":
		head = append(head, "Content-Type: application/json\r\nContent-Length: "...)
		head = strconv.AppendInt(head, int64(len(spec.Body)), 10)
		g.fixed = append(append(head, "\r\n\r\n"...), spec.Body...)
	default:
		g.fixed = append(head, "\r\n"...)
	}
	return g, nil
}

// modeFill is the loadSpec mode that sends every key once.
const modeFill = "fill"

// readKeys reads a file of one key (or token) per line; it holds at least
// one.
func readKeys(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for line := range bytes.Lines(data) {
		if k := bytes.TrimSpace(line); len(k) > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no keys in %s", path)
	}
	return keys, nil
}

// loadConn is one connection of the closed loop, and what it counted.
type loadConn struct {
	g        *generation
	conn     net.Conn
	r        *bufio.Reader
	deadline time.Time // the connection's, moved at most once a second
	req      []byte    // the request being built (with a keys file)
	key      []byte    // the made-up key being sent (MadeUp)
	body     []byte    // the answer's body, when it is checked
	rng      *rand.Rand
	hist     *histogram
	res      loadResult
}

// readBufferSize holds a whole list page of 100 keys (about 18 KB), so
// that an answer is usually one read(2).
const readBufferSize = 64 << 10

func (c *loadConn) loop() {
	g := c.g
	for {
		var req []byte
		switch {
		case g.spec.Mode == modeFill:
			i := g.next.Add(1) - 1
			if i >= int64(len(g.keys)) {
				return
			}
			req = c.verifyRequest(g.keys[i])
		case g.keys != nil:
			req = c.verifyRequest(g.keys[c.rng.IntN(len(g.keys))])
		case g.spec.MadeUp:
			c.key = appendMadeUpKey(c.key[:0], c.rng)
			req = c.verifyRequest(c.key)
		default:
			req = g.fixed
		}
		end := c.exchange(req)
		if g.spec.Mode != modeFill && !end.Before(g.deadline) {
			return
		}
	}
}

// verifyRequest is the head and {"key":"<key>"}, in c's own buffer.
func (c *loadConn) verifyRequest(key []byte) []byte {
	b := append(c.req[:0], c.g.head...)
	b = strconv.AppendInt(b, int64(len(`{"key":""}`)+len(key)), 10)
	b = append(b, "\r\n\r\n{\"key\":\""...)
	b = append(b, key...)
	b = append(b, "\"}"...)
	c.req = b
	return b
}

// validMark is in the body of a VALID verification.
var validMark = []byte(`"valid":true`)

// exchange sends req and reads the answer, counting the outcome. It
// returns when it ended.
func (c *loadConn) exchange(req []byte) time.Time {
	g := c.g
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", g.addr, g.timeout)
		if err != nil {
			c.count(err, &c.res.Connect)
			// A refused connection fails at once: pause, or a dead server
			// turns the loop into a spin that takes the CPU from others.
			time.Sleep(10 * time.Millisecond)
			return time.Now()
		}
		c.conn = conn
		if c.r == nil {
			c.r = bufio.NewReaderSize(conn, readBufferSize)
		} else {
			c.r.Reset(conn)
		}
		c.deadline = time.Time{}
	}
	start := time.Now()
	// The deadline is at least the timeout away, and at most a second
	// more: a request that meets it took longer than the timeout.
	if c.deadline.Sub(start) < g.timeout {
		c.deadline = start.Add(g.timeout + time.Second)
		if err := c.conn.SetDeadline(c.deadline); err != nil {
			c.count(err, &c.res.Write)
			return time.Now()
		}
	}
	if _, err := c.conn.Write(req); err != nil {
		c.count(err, &c.res.Write)
		return time.Now()
	}
	status, n, closeConn, err := c.readResponse(g.spec.ExpectValid)
	end := time.Now()
	c.res.Bytes += n
	if err != nil {
		c.count(err, &c.res.Read)
		return end
	}
	if closeConn {
		c.close()
	}
	if d := end.Sub(start); d > g.timeout {
		// As wrk counts it: a timeout, not a latency.
		c.res.Timeout++
	} else {
		c.res.Requests++
		c.hist.record(d)
	}
	switch {
	case status < 200 || status > 299:
		c.res.Status++
	case g.spec.ExpectValid && !bytes.Contains(c.body, validMark):
		c.res.Invalid++
	}
	return end
}

// count counts a failed exchange, as a timeout or as kind, and drops the
// connection: what is left on it cannot be trusted.
func (c *loadConn) count(err error, kind *int64) {
	if isTimeout(err) {
		c.res.Timeout++
	} else {
		*kind++
	}
	c.close()
}

func (c *loadConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// errMalformed is an answer the parser cannot read: counted as a read
// error, as wrk counts its parser's failures.
var errMalformed = errors.New("malformed HTTP response")

// maxCheckedBody bounds a body kept for the VALID check; a verify answer
// is about 130 bytes.
const maxCheckedBody = 1 << 20

var (
	headerContentLength    = []byte("Content-Length")
	headerTransferEncoding = []byte("Transfer-Encoding")
	headerConnection       = []byte("Connection")
	tokenChunked           = []byte("chunked")
	tokenClose             = []byte("close")
)

// readResponse reads one HTTP/1.1 answer: its status, the bytes read, and
// whether the server closes the connection after it. The body is kept in
// c.body when keep is set, and skipped otherwise. It reads what the bench's
// servers send (net/http's framing); an informational (1xx) answer, which
// they never send to these requests, is malformed here.
func (c *loadConn) readResponse(keep bool) (status int, n int64, closeConn bool, err error) {
	line, err := c.r.ReadSlice('\n')
	n += int64(len(line))
	if err != nil {
		return 0, n, false, lineErr(err)
	}
	// HTTP/1.x 200 Reason
	if len(line) < 14 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, n, false, errMalformed
	}
	status, ok := atoi(line[9:12])
	if !ok || status < 200 || status > 599 || (line[12] != ' ' && line[12] != '\r') {
		return 0, n, false, errMalformed
	}
	closeConn = line[7] == '0' // HTTP/1.0 closes unless told otherwise
	length, chunked := int64(-1), false
	for {
		line, err = c.r.ReadSlice('\n')
		n += int64(len(line))
		if err != nil {
			return status, n, false, lineErr(err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return status, n, false, errMalformed
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, headerContentLength):
			v, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || v < 0 {
				return status, n, false, errMalformed
			}
			length = v
		case bytes.EqualFold(name, headerTransferEncoding):
			if !bytes.EqualFold(value, tokenChunked) {
				return status, n, false, errMalformed
			}
			chunked = true
		case bytes.EqualFold(name, headerConnection):
			closeConn = bytes.EqualFold(value, tokenClose)
		}
	}

	c.body = c.body[:0]
	var m int64
	switch {
	case status == 204 || status == 304:
	case chunked:
		m, err = c.readChunked(keep)
	case length >= 0:
		m, err = c.readBody(length, keep)
	default:
		// No framing: the body runs to the end of the connection.
		m, err = c.readBody(-1, keep)
		closeConn = true
	}
	return status, n + m, closeConn, err
}

// readChunked reads a chunked body and its trailer.
func (c *loadConn) readChunked(keep bool) (n int64, err error) {
	for {
		line, err := c.r.ReadSlice('\n')
		n += int64(len(line))
		if err != nil {
			return n, lineErr(err)
		}
		hex, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte{';'})
		size, perr := strconv.ParseInt(string(bytes.TrimSpace(hex)), 16, 64)
		if perr != nil || size < 0 {
			return n, errMalformed
		}
		if size == 0 {
			for { // the trailer, up to an empty line
				line, err := c.r.ReadSlice('\n')
				n += int64(len(line))
				if err != nil {
					return n, lineErr(err)
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return n, nil
				}
			}
		}
		m, err := c.readBody(size, keep)
		n += m
		if err != nil {
			return n, err
		}
		line, err = c.r.ReadSlice('\n')
		n += int64(len(line))
		if err != nil {
			return n, lineErr(err)
		}
		if len(bytes.TrimRight(line, "\r\n")) != 0 {
			return n, errMalformed
		}
	}
}

// readBody reads size bytes (or up to EOF when size < 0), appending them
// to c.body when keep is set.
func (c *loadConn) readBody(size int64, keep bool) (int64, error) {
	if size < 0 {
		var w io.Writer = io.Discard
		if keep {
			w = (*appendWriter)(&c.body)
		}
		n, err := io.Copy(w, c.r)
		if err == nil && keep && len(c.body) > maxCheckedBody {
			err = errMalformed
		}
		return n, err
	}
	if !keep {
		n, err := c.r.Discard(int(size))
		return int64(n), unexpectedEOF(err)
	}
	if int64(len(c.body))+size > maxCheckedBody {
		return 0, errMalformed
	}
	old := len(c.body)
	c.body = slices.Grow(c.body, int(size))[:old+int(size)]
	n, err := io.ReadFull(c.r, c.body[old:])
	return int64(n), unexpectedEOF(err)
}

// appendWriter appends what it is given to a slice.
type appendWriter []byte

func (w *appendWriter) Write(p []byte) (int, error) {
	*w = append(*w, p...)
	return len(p), nil
}

// lineErr is a failure to read a line of the head or of the framing: a
// line longer than the buffer is malformed, and a connection closed
// mid-answer is an unexpected EOF.
func lineErr(err error) error {
	if errors.Is(err, bufio.ErrBufferFull) {
		return errMalformed
	}
	return unexpectedEOF(err)
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// atoi parses a short run of decimal digits.
func atoi(b []byte) (int, bool) {
	v := 0
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		v = v*10 + int(d-'0')
	}
	return v, len(b) > 0
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// keywardProc is a running `keyward serve`.
type keywardProc struct {
	*proc
	addr      string
	debugAddr string // --debug-addr: the profiler and the counters (/debug/vars)
	logPath   string
	// readyAfter is how long keyward took from its start to answer
	// /readyz 200: with --cache-fill (the default), reading the keys into
	// its cache.
	readyAfter time.Duration
}

// startKeyward starts keyward serve on a free port of 127.0.0.1, pinned to
// the server CPU, logging JSON to a file in the temporary directory (one
// line per request: that cost is part of what is measured), and waits
// until it is listening and /readyz answers 200.
// cacheSize holds every key seeded: the ordinary ones, the rate-limited
// ones, and the manage and root keys.
//
// The cache is split in shards, each a fixed share of the size, and keys
// do not spread over them exactly evenly: 2% more room, so that no shard
// is full before every key is in (at a million keys in 64 shards, the
// fullest holds about 0.4% more than its share).
func (b *bench) cacheSize() int { return cacheSize(b.o) }

func cacheSize(o options) int {
	n := o.keys + min(o.hotKeys, o.keys) + 2
	return n + n/50
}

func (b *bench) startKeyward(ctx context.Context, name string, extra ...string) (*keywardProc, error) {
	logPath := filepath.Join(b.dir, "keyward-"+name+".log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json", "--cache-size", strconv.Itoa(b.cacheSize()),
		"--debug-addr", "127.0.0.1:0"}
	if b.o.databaseURL != "" {
		args = append(args, "--database-url", b.o.databaseURL)
	} else {
		args = append(args, "--db", b.dbPath())
	}
	args = append(args, strings.Fields(b.o.serveArgs)...)
	args = append(args, extra...)
	cmd := b.pin.command(ctx, b.pin.serverCPU, b.keyward, args...)
	cmd.Env = childEnv()
	// stdout is /dev/null: were keyward ever to create and print a root
	// key, it would go nowhere.
	cmd.Stderr = logFile
	started := time.Now()
	p, err := b.procs.start("keyward ("+name+")", cmd, false)
	logFile.Close() // the child has its own descriptor
	if err != nil {
		return nil, err
	}
	kw := &keywardProc{proc: p, logPath: logPath}
	kw.addr, err = waitListening(ctx, p, logPath, 60*time.Second)
	if err == nil {
		// The counters' listener is logged before the API's.
		data, _ := os.ReadFile(logPath)
		if kw.debugAddr, _ = logAddr(data, debugListeningMsg); kw.debugAddr == "" {
			err = errors.New(`no "` + debugListeningMsg + `" line in the log before "listening"`)
		}
	}
	if err == nil {
		// A million keys take several seconds to read into the cache.
		err = waitReady(ctx, kw.addr, 5*time.Minute)
		kw.readyAfter = time.Since(started)
	}
	if err != nil {
		_ = p.stop(5 * time.Second)
		return nil, fmt.Errorf("keyward: %w\n--- last lines of %s:\n%s", err, logPath, tail(logPath, 20))
	}
	return kw, nil
}

// waitListening reads keyward's JSON log until its "listening" line and
// returns the address there.
func waitListening(ctx context.Context, p *proc, logPath string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if data, err := os.ReadFile(logPath); err == nil {
			if addr, ok := listeningAddr(data); ok {
				return addr, nil
			}
		}
		if p.exited() {
			return "", fmt.Errorf("exited before listening: %v", p.err)
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("not listening after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// listeningAddr finds keyward's "listening" line in its JSON log and the
// address there: with --addr 127.0.0.1:0 it is the only place that names
// the port.
func listeningAddr(log []byte) (string, bool) { return logAddr(log, "listening") }

// debugListeningMsg is the message of the line that names --debug-addr's
// listener.
const debugListeningMsg = "profiler and counters listening"

// logAddr finds the first line with message msg in keyward's JSON log and
// the address there.
func logAddr(log []byte, msg string) (string, bool) {
	for line := range bytes.Lines(log) {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == msg && rec.Addr != "" {
			return rec.Addr, true
		}
	}
	return "", false
}

// waitReady polls GET /readyz until it answers 200.
func waitReady(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		r, err := fetch(ctx, addr, request{method: "GET", path: "/readyz"})
		if err == nil && r.Status == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %d", r.Status)
			}
			return fmt.Errorf("/readyz: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// request is one request of the bench's own (not load) client.
type request struct {
	method, path string
	token        string // Authorization: Bearer
	body         string
	discard      bool // do not keep the body (it holds a secret)
}

func listRequest(token string) request {
	return request{method: "GET", path: listPath, token: token}
}

// response is a captured response, as the bare server replays it: the
// status, the headers keyward set (not those net/http adds: Date,
// Content-Length) and the body. It never holds a secret: verify and list
// responses hold none, and a create's is discarded.
type response struct {
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

var client = &http.Client{Timeout: 30 * time.Second}

func fetch(ctx context.Context, addr string, rq request) (response, error) {
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, "http://"+addr+rq.path, body)
	if err != nil {
		return response{}, err
	}
	if rq.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	r := response{Status: resp.StatusCode, Header: resp.Header.Clone()}
	for _, h := range []string{"Date", "Content-Length", "Transfer-Encoding", "Connection"} {
		r.Header.Del(h)
	}
	if rq.discard {
		_, err = io.Copy(io.Discard, resp.Body)
	} else {
		r.Body, err = io.ReadAll(resp.Body)
	}
	return r, err
}

// probeResult holds real responses of keyward, for the bare server.
type probeResult struct {
	verify  response // a VALID verification
	list    response // org-0's first page
	listLen int      // keys on it
}

// probe starts keyward on the seeded store, checks one verify, one list and
// one create, keeps the verify and list responses, and stops it, so that
// the keyward of the measured scenarios starts with an empty cache.
func (b *bench) probe(ctx context.Context, s *seeded) (*probeResult, error) {
	kw, err := b.startKeyward(ctx, "probe")
	if err != nil {
		return nil, err
	}
	defer kw.stop(30 * time.Second)
	var p probeResult

	p.verify, err = fetch(ctx, kw.addr, request{method: "POST", path: "/verify", body: verifyBody(s.probeKey)})
	if err != nil {
		return nil, fmt.Errorf("probe verify: %w", err)
	}
	var v struct {
		Valid bool   `json:"valid"`
		Code  string `json:"code"`
	}
	if p.verify.Status != http.StatusOK || json.Unmarshal(p.verify.Body, &v) != nil || !v.Valid {
		return nil, fmt.Errorf("probe verify of a seeded key: status %d, code %q: want 200 VALID", p.verify.Status, v.Code)
	}

	p.list, err = fetch(ctx, kw.addr, listRequest(s.manage.Reveal()))
	if err != nil {
		return nil, fmt.Errorf("probe list: %w", err)
	}
	var keys []json.RawMessage
	if p.list.Status != http.StatusOK || json.Unmarshal(p.list.Body, &keys) != nil {
		return nil, fmt.Errorf("probe list with the manage key: status %d, want 200 and an array", p.list.Status)
	}
	p.listLen = len(keys)

	c, err := fetch(ctx, kw.addr, request{method: "POST", path: "/orgs/" + createOrg + "/api_keys", token: s.root.Reveal(), body: createBody, discard: true})
	if err != nil {
		return nil, fmt.Errorf("probe create: %w", err)
	}
	if c.Status != http.StatusCreated {
		return nil, fmt.Errorf("probe create with the root key: status %d, want 201", c.Status)
	}
	if err := kw.stop(30 * time.Second); err != nil {
		return nil, fmt.Errorf("stop the probe keyward: %w", err)
	}
	return &p, nil
}

func verifyBody(s keyward.Secret) string { return `{"key":"` + s.Reveal() + `"}` }

// rss is a process's memory from /proc/<pid>/status.
type rss struct {
	HWM, RSS int64 // bytes: peak (VmHWM) and current (VmRSS) resident set
	OK       bool
}

func readRSS(pid int) rss {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return rss{}
	}
	return parseRSS(string(data))
}

// parseRSS reads VmHWM and VmRSS from the text of /proc/<pid>/status.
func parseRSS(status string) rss {
	var r rss
	for line := range strings.Lines(status) {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmHWM":
			r.HWM, r.OK = kb<<10, true
		case "VmRSS":
			r.RSS = kb << 10
		}
	}
	return r
}

// countLines counts the lines of a file (keyward's request log).
func countLines(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	var n int64
	buf := make([]byte, 1<<20)
	for {
		m, err := f.Read(buf)
		n += int64(bytes.Count(buf[:m], []byte{'\n'}))
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			return -1
		}
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 64<<10 {
		f.Seek(-64<<10, io.SeekEnd)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// Command churn measures how a Keyward database grows under churn: it
// starts the real keyward binary on a fresh SQLite file, creates and
// deletes keys through the API as fast as its clients can for a while, and
// prints the file's size (and its tables' row counts) at intervals.
//
//	go run ./bench/churn                                  # 5 minutes, keys kept 1 minute after deletion
//	go run ./bench/churn --duration 1m --retention 10s
//	go run ./bench/churn --keyward ./old-keyward --retention 0   # a binary without retention
//
// With pruning, the file stops growing once the retention has passed:
// deleted keys, and the invalidation log, are removed as fast as they are
// made, and SQLite reuses the freed pages.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite", to count rows
)

// options are the command's flags.
type options struct {
	duration, sample, retention time.Duration
	clients                     int
	keyward                     string // a keyward binary; "" builds ./cmd/keyward
}

func main() {
	var o options
	fs := flag.NewFlagSet("churn", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 5*time.Minute, "how long to churn")
	fs.DurationVar(&o.sample, "sample", 15*time.Second, "how often to measure the database")
	fs.DurationVar(&o.retention, "retention", time.Minute, "keyward serve --deleted-key-retention; 0 passes no such flag (a binary that has none)")
	fs.IntVar(&o.clients, "clients", 8, "concurrent clients, each creating and deleting keys in a loop")
	fs.StringVar(&o.keyward, "keyward", "", "the keyward `binary` to run; by default ./cmd/keyward is built")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	if err := o.check(fs.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "churn: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "churn: %v\n", err)
		os.Exit(1)
	}
}

// check refuses options the run cannot honour.
func (o options) check(args []string) error {
	switch {
	case len(args) > 0:
		return fmt.Errorf("unexpected argument %q", args[0])
	case o.duration <= 0 || o.sample <= 0:
		return fmt.Errorf("--duration and --sample must be positive")
	case o.retention < 0:
		return fmt.Errorf("--retention must not be negative")
	case o.clients < 1:
		return fmt.Errorf("--clients must be at least 1")
	}
	return nil
}

// run builds (or takes) keyward, starts it on a fresh database, churns and
// prints a line per sample to out.
func run(ctx context.Context, o options, out io.Writer) error {
	dir, err := os.MkdirTemp("", "keyward-churn-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := o.keyward
	if bin == "" {
		bin = filepath.Join(dir, "keyward")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/keyward/keyward/cmd/keyward")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build keyward (run from within the repository): %w", err)
		}
	}
	db := filepath.Join(dir, "keyward.db")
	srv, err := start(ctx, bin, db, o.retention)
	if err != nil {
		return err
	}
	defer srv.stop()

	var ops atomic.Int64
	churnCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	errs := make(chan error, o.clients)
	var wg sync.WaitGroup
	for range o.clients {
		wg.Go(func() { errs <- churn(churnCtx, srv.url, srv.root, &ops) })
	}

	fmt.Fprintf(out, "churn: %d clients creating and deleting keys for %v; deleted keys kept %v\n", o.clients, o.duration, retentionText(o.retention))
	fmt.Fprintf(out, "%8s  %10s  %10s  %10s  %10s  %12s\n", "elapsed", "keys made", "db+wal MB", "api_keys", "deleted", "invalidations")
	start := time.Now()
	tick := time.NewTicker(o.sample)
	defer tick.Stop()
	report := func() {
		s, err := measure(db)
		if err != nil {
			fmt.Fprintf(out, "%8s  measure: %v\n", time.Since(start).Round(time.Second), err)
			return
		}
		fmt.Fprintf(out, "%8s  %10d  %10.2f  %10d  %10d  %12s\n", time.Since(start).Round(time.Second), ops.Load(),
			float64(s.bytes)/1e6, s.keys, s.deleted, s.invalidations)
	}
	report()
	for done := false; !done; {
		select {
		case <-churnCtx.Done():
			done = true
		case <-tick.C:
			report()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	report()
	return ctx.Err()
}

func retentionText(d time.Duration) string {
	if d == 0 {
		return "as long as the binary keeps them"
	}
	return d.String()
}

// server is keyward serve running as a child process.
type server struct {
	cmd       *exec.Cmd
	url, root string
}

var (
	listeningRE = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
	rootKeyRE   = regexp.MustCompile(`ROOT KEY: (kw_[0-9A-Za-z]{49})`)
)

// start runs keyward serve on db and waits for its address and root key.
func start(ctx context.Context, bin, db string, retention time.Duration) (*server, error) {
	args := []string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--log-format", "json"}
	if retention > 0 {
		args = append(args, "--deleted-key-retention", retention.String())
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd}
	found := make(chan error, 2)
	scan := func(r io.Reader, re *regexp.Regexp, dst *string) {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil && *dst == "" {
				*dst = m[1]
				found <- nil
			}
		}
		if *dst == "" {
			found <- fmt.Errorf("keyward ended before printing %s", re)
		}
	}
	var addr string
	go scan(stderr, listeningRE, &addr)
	go scan(stdout, rootKeyRE, &s.root)
	for range 2 {
		select {
		case err := <-found:
			if err != nil {
				s.stop()
				return nil, err
			}
		case <-time.After(60 * time.Second):
			s.stop()
			return nil, fmt.Errorf("keyward did not start within 60s")
		}
	}
	s.url = "http://" + addr
	return s, nil
}

// stop ends the server and waits for it.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}

// churn creates a key and deletes it, again and again, until ctx is done,
// counting each pair in ops. A refusal is an error: the churn measures a
// healthy server.
func churn(ctx context.Context, url, root string, ops *atomic.Int64) error {
	client := &http.Client{Timeout: 30 * time.Second}
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "POST", url+"/orgs/churn/api_keys",
			strings.NewReader(`{"name":"churn","permissions":["read"]}`))
		req.Header.Set("Authorization", "Bearer "+root)
		req.Header.Set("Content-Type", "application/json")
		var k struct{ ID string }
		if err := do(client, req, http.StatusCreated, &k); err != nil {
			return err
		}
		req, _ = http.NewRequestWithContext(ctx, "DELETE", url+"/orgs/churn/api_keys/"+k.ID, nil)
		req.Header.Set("Authorization", "Bearer "+root)
		if err := do(client, req, http.StatusOK, nil); err != nil {
			return err
		}
		ops.Add(1)
	}
	return ctx.Err()
}

// do sends req and checks its status, decoding the body into v if given.
func do(client *http.Client, req *http.Request, want int, v any) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, body)
	}
	if v != nil {
		return json.Unmarshal(body, v)
	}
	return nil
}

// sample is one measurement of the database.
type sample struct {
	bytes         int64 // the file and its WAL
	keys, deleted int64
	invalidations string // rows of the invalidation log; "-" if it has none
}

// measure reads the database's size and counts its rows, read-only.
func measure(path string) (sample, error) {
	var s sample
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			s.bytes += fi.Size()
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return s, err
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT count(*), count(deleted_at) FROM api_keys`).Scan(&s.keys, &s.deleted); err != nil {
		return s, err
	}
	s.invalidations = "-"
	for _, table := range []string{"key_invalidations", "key_revocations"} { // the log's name, before and after
		var n int64
		if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err == nil {
			s.invalidations = fmt.Sprint(n)
			break
		}
	}
	return s, nil
}

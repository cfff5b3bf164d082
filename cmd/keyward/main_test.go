package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestMain lets the test binary act as the keyward command, so that tests
// about processes (signals, crashes) run the real program in a real process.
func TestMain(m *testing.M) {
	if os.Getenv("KEYWARD_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// lineWriter collects output and lets a test wait for a line.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	added chan struct{}
}

func newLineWriter() *lineWriter { return &lineWriter{added: make(chan struct{}, 1)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	select {
	case w.added <- struct{}{}:
	default:
	}
	return n, err
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor waits until re matches the output and returns the first group.
func (w *lineWriter) waitFor(t *testing.T, re *regexp.Regexp, done <-chan error) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(w.String()); m != nil {
			return m[1]
		}
		select {
		case <-w.added:
		case err := <-done:
			t.Fatalf("program ended before printing %s: %v\n%s", re, err, w.String())
		case <-deadline:
			t.Fatalf("timed out waiting for %s in:\n%s", re, w.String())
		}
	}
}

var (
	listeningRE = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
	rootKeyRE   = regexp.MustCompile(`ROOT KEY: (` + keyward.SecretPattern + `)`)
)

// server is keyward serve running in-process.
type server struct {
	main           *Main
	url            string
	stdout, stderr *lineWriter
	stop           func() error
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// startServe runs keyward serve in-process on a free port with db; extra
// are more of serve's flags.
func startServe(t *testing.T, db string, extra ...string) *server {
	t.Helper()
	return startMain(t, append([]string{"--db", db}, extra...), env(nil))
}

// startMain runs keyward serve in-process on a free port, with args after
// serve and the environment getenv gives.
func startMain(t *testing.T, args []string, getenv func(string) string) *server {
	t.Helper()
	s := &server{stdout: newLineWriter(), stderr: newLineWriter()}
	s.main = NewMain(s.stdout, s.stderr)
	args = append([]string{"--addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	if err := s.main.ParseFlags(args, getenv); err != nil {
		t.Fatalf("serve %v: %v", args, err)
	}
	if err := s.main.Run(t.Context()); err != nil {
		t.Fatalf("serve: %v\n%s", err, s.stderr.String())
	}
	s.url = "http://" + s.main.Addr()
	s.stop = sync.OnceValue(s.main.Close)
	t.Cleanup(func() { _ = s.stop() })
	return s
}

func call(t *testing.T, method, url, key, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestServeEndToEnd starts the program as a user would, walks the API with
// the bootstrap root key, and checks that nothing it logged holds a secret.
func TestServeEndToEnd(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keyward.db")
	s := startServe(t, db)
	root := s.stdout.waitFor(t, rootKeyRE, nil)
	secrets := []string{root}

	status, body := call(t, "POST", s.url+"/orgs/acme/api_keys", root, `{"name":"New API Key","permissions":["read","write","create","manage"]}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	var k struct{ ID, Key string }
	if err := json.Unmarshal(body, &k); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, k.Key)
	status, body = call(t, "POST", s.url+"/api_keys", k.Key, `{"key_name":"Backend API Key","key_scope":["READ","CREATE"]}`)
	if status != http.StatusCreated {
		t.Fatalf("caller-scoped create: %d %s", status, body)
	}
	var k2 struct{ ID, Key string }
	_ = json.Unmarshal(body, &k2)
	secrets = append(secrets, k2.Key)
	// Failed attempts with secrets in them: a wrong checksum, a deleted key.
	call(t, "GET", s.url+"/api_keys", k2.Key[:len(k2.Key)-1]+"0", "")
	call(t, "DELETE", s.url+"/api_keys/"+k2.ID, k.Key, "")
	if status, _ := call(t, "GET", s.url+"/api_keys", k2.Key, ""); status != http.StatusUnauthorized {
		t.Errorf("deleted key: %d", status)
	}
	call(t, "POST", s.url+"/api_keys", k.Key, `{"key_name":"`+k.Key+`","key_scope":["bogus `+k.Key+`"]}`)

	if err := s.stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	logs := s.stderr.String()
	if !strings.Contains(logs, `"msg":"request"`) {
		t.Fatal("no request was logged: the secret check below would prove nothing")
	}
	for _, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("secret %s appears in the log", hint(secret))
		}
	}
	if strings.Count(s.stdout.String(), root) != 1 {
		t.Error("the root key is not printed exactly once")
	}

	// A second start on the same database prints no root key, and the
	// first one still works.
	s2 := startServe(t, db)
	if status, _ := call(t, "GET", s2.url+"/orgs/acme/api_keys", root, ""); status != http.StatusOK {
		t.Fatalf("root key after restart: %d", status)
	}
	if strings.Contains(s2.stdout.String(), "ROOT KEY") {
		t.Error("a second start printed a root key")
	}
}

func TestRootKeyCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keyward.db")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "--db", db}, env(nil), nil, io.Discard, &errOut); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if err := run(context.Background(), []string{"root-key", "create", "--db", db, "--name", "ops"}, env(nil), nil, &out, &errOut); err != nil {
		t.Fatalf("root-key create: %v (%s)", err, errOut.String())
	}
	secret := strings.TrimSuffix(out.String(), "\n")
	if !regexp.MustCompile(`^` + keyward.SecretPattern + `$`).MatchString(secret) {
		t.Fatalf("root-key create printed %q, want the secret alone on one line", hint(secret))
	}

	// A database that already has a key is not bootstrapped: no second
	// root key is printed, and the created one works.
	s := startServe(t, db)
	if status, _ := call(t, "GET", s.url+"/orgs/acme/api_keys", secret, ""); status != http.StatusOK {
		t.Fatalf("root key from the command line: %d", status)
	}
	if strings.Contains(s.stdout.String(), "ROOT KEY") {
		t.Error("serve bootstrapped a database that already had a root key")
	}

	out.Reset()
	if err := run(context.Background(), []string{"root-key", "list"}, env(map[string]string{"KEYWARD_DB": db}), nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	fields := strings.Split(strings.TrimSpace(out.String()), "\t")
	if len(fields) != 4 || fields[3] != "ops" || strings.Contains(out.String(), secret) || fields[1] != hint(secret) {
		t.Fatalf("root-key list printed %q", strings.ReplaceAll(out.String(), secret, "<secret>"))
	}

	out.Reset()
	if err := run(context.Background(), []string{"root-key", "revoke", "--db", db, fields[0]}, env(nil), nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	// The running server uses the same file: it sees the revocation in its
	// revocation log and refuses the key (within sqlite.WatchInterval; the
	// deadline here is only a bound on a hang).
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _ := call(t, "GET", s.url+"/orgs/acme/api_keys", secret, "")
		if status == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked root key still accepted by the running server: %d", status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := run(context.Background(), []string{"root-key", "revoke", "--db", db, fields[0]}, env(nil), nil, &out, &errOut); err == nil {
		t.Error("revoking twice succeeded")
	}
}

// TestUsage: help is printed where it is asked for, for every command,
// and a mistake is a usage error.
func TestUsage(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantErr   error    // nil, errHelp or errUsage
		want      []string // in stdout
		wantInErr []string // in stderr
	}{
		{"top help", []string{"--help"}, nil, []string{"serve", "migrate", "root-key create", "KEYWARD_ADDR"}, nil},
		{"help command", []string{"help", "serve"}, errHelp, []string{"-addr", "KEYWARD_ADDR"}, nil},
		{"help help", []string{"help", "help"}, nil, []string{"Commands:"}, nil},
		{"root-key help help", []string{"root-key", "help", "--help"}, nil, []string{"root-key create"}, nil},
		{"serve help", []string{"serve", "--help"}, errHelp, []string{"-addr", "KEYWARD_ADDR", "-db", "KEYWARD_DB", "-log-format", "KEYWARD_LOG_FORMAT", "-log-level", "KEYWARD_LOG_LEVEL", "-shutdown-timeout", "KEYWARD_SHUTDOWN_TIMEOUT", "-cache-size", "-cache-ttl", "-debug-addr", "-last-used-interval", "-database-url"}, nil},
		{"serve help after a flag", []string{"serve", "--db", "x.db", "-h"}, errHelp, []string{"-addr"}, nil},
		{"migrate help", []string{"migrate", "--help"}, errHelp, []string{"-db", "KEYWARD_DB", "-database-url"}, nil},
		{"root-key help", []string{"root-key", "--help"}, nil, []string{"root-key create", "root-key revoke"}, nil},
		{"root-key create help", []string{"root-key", "create", "--help"}, errHelp, []string{"-db", "KEYWARD_DB", "-name", "KEYWARD_NAME"}, nil},
		{"root-key list help", []string{"root-key", "help", "list"}, errHelp, []string{"-db", "KEYWARD_DB"}, nil},
		{"root-key revoke help", []string{"root-key", "revoke", "-h"}, errHelp, []string{"KEY_ID", "-db", "--staleness-bound"}, nil},
		{"version help", []string{"version", "--help"}, errHelp, []string{"Usage: keyward version", "commit"}, nil},
		{"version -h", []string{"version", "-h"}, errHelp, []string{"Usage: keyward version"}, nil},
		{"no command", nil, errUsage, nil, []string{"Commands:"}},
		{"unknown command", []string{"frobnicate"}, errUsage, nil, []string{"Commands:"}},
		{"unknown flag", []string{"serve", "--nope"}, errUsage, nil, []string{"-addr"}},
		{"no root-key subcommand", []string{"root-key"}, errUsage, nil, []string{"root-key create"}},
		{"unknown root-key subcommand", []string{"root-key", "rotate"}, errUsage, nil, []string{"root-key create"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tt.args, env(nil), nil, &out, &errOut)
			switch tt.wantErr {
			case nil:
				if err != nil {
					t.Fatalf("err = %v", err)
				}
			case errHelp:
				if !errors.Is(err, flag.ErrHelp) {
					t.Fatalf("err = %v, want flag.ErrHelp (exit 0 after help)", err)
				}
			case errUsage:
				if !errors.As(err, new(usageError)) {
					t.Fatalf("err = %v, want a usage error (exit 2)", err)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.wantInErr {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut.String())
				}
			}
		})
	}
}

// Kinds of error TestUsage tells apart.
var (
	errHelp  = errors.New("help")
	errUsage = errors.New("usage")
)

// TestEnvironmentConfiguresServe checks that settings come from KEYWARD_*
// variables when no flag is given.
func TestEnvironmentConfiguresServe(t *testing.T) {
	db := filepath.Join(t.TempDir(), "from-env.db")
	m := NewMain(io.Discard, io.Discard)
	err := m.ParseFlags(nil, env(map[string]string{
		"KEYWARD_ADDR": "127.0.0.1:0", "KEYWARD_DB": db, "KEYWARD_CACHE_TTL": "7s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.CacheTTL != 7*time.Second {
		t.Errorf("KEYWARD_CACHE_TTL=7s gave --cache-ttl %v", m.Config.CacheTTL)
	}
	if err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	waitReadyz(t, "http://"+m.Addr())
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("KEYWARD_DB not used: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keyward.db")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate", "--db", db}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`schema version [1-9]`).MatchString(out.String()) {
		t.Fatalf("migrate printed %q", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"migrate", "--db", db}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
}

// hint is the display hint of a secret, safe to print in a failure.
func hint(secret string) string {
	if len(secret) < 11 {
		return "(not a secret)"
	}
	return secret[:7] + "..." + secret[len(secret)-4:]
}

// TestDebugAddr: --debug-addr serves the profiler on its own listener, and
// the API's address does not.
func TestDebugAddr(t *testing.T) {
	s := startServe(t, filepath.Join(t.TempDir(), "keyward.db"), "--debug-addr", "127.0.0.1:0")
	addr := s.main.DebugAddr()
	if status, _ := call(t, "GET", "http://"+addr+"/debug/pprof/cmdline", "", ""); status != http.StatusOK {
		t.Errorf("profiler: %d", status)
	}
	if status, _ := call(t, "GET", s.url+"/debug/pprof/cmdline", "", ""); status != http.StatusNotFound {
		t.Errorf("the API serves the profiler: %d", status)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/sqlite"
)

// TestMainRunAndClose: Run returns with the API already listening; Close
// writes the last uses of keys before it closes the database, frees the
// address, and may be called again.
func TestMainRunAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	stdout := newLineWriter()
	m := NewMain(stdout, io.Discard)
	m.Config.Addr = "127.0.0.1:0"
	m.Config.DB.Path = path
	// Only Close's flush can write a use within this test.
	m.Config.LastUsedInterval = time.Hour
	if err := m.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	root := stdout.waitFor(t, rootKeyRE, nil)

	// No waiting: Run has returned, so the API answers.
	base := "http://" + m.Addr()
	status, body := call(t, "POST", base+"/orgs/acme/api_keys", root, `{"name":"used","permissions":["read"]}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	var k struct{ ID, Key string }
	if err := json.Unmarshal(body, &k); err != nil {
		t.Fatal(err)
	}
	if status, _ := call(t, "POST", base+"/verify", "", `{"key":"`+k.Key+`"}`); status != http.StatusOK {
		t.Fatalf("verify: %d", status)
	}

	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if conn, err := net.Dial("tcp", m.Addr()); err == nil {
		conn.Close()
		t.Error("the API still accepts connections after Close")
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id, err := keyward.ParseKeyID(k.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Key(context.Background(), "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastUsedAt == nil {
		t.Error("the key's use was not written by Close")
	}
}

// TestMainRunFailures: Run refuses a bad configuration before it opens
// anything, and undoes what it had started when it fails later.
func TestMainRunFailures(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name      string
		configure func(c *ServeConfig)
		usage     bool
		want      string
	}{
		{"bad log level", func(c *ServeConfig) { c.Log.Level = "loud" }, true, "--log-level"},
		{"bad log format", func(c *ServeConfig) { c.Log.Format = "xml" }, true, "--log-format"},
		{"empty cache", func(c *ServeConfig) { c.CacheSize = 0 }, true, "--cache-size"},
		{"no TTL", func(c *ServeConfig) { c.CacheTTL = 0 }, true, "--cache-ttl"},
		{"negative unknown lookups", func(c *ServeConfig) { c.MaxUnknownLookups = -1 }, true, "--max-unknown-lookups"},
		{"negative failure burst", func(c *ServeConfig) { c.FailureBurst = -1 }, true, "--failure-burst"},
		{"no failure refill", func(c *ServeConfig) { c.FailureRefill = 0 }, true, "--failure-refill"},
		{"negative failure hold", func(c *ServeConfig) { c.FailureHold = -time.Second }, true, "--failure-hold"},
		{"address in use", func(c *ServeConfig) { c.Addr = busy.Addr().String() }, false, "listen on " + busy.Addr().String()},
		{"debug address in use", func(c *ServeConfig) { c.DebugAddr = busy.Addr().String() }, false, "listen on " + busy.Addr().String()},
		{"bad Redis failure mode", func(c *ServeConfig) { c.Redis.FailureMode = "ajar" }, true, "--redis-failure-mode"},
		{"no Redis timeout", func(c *ServeConfig) { c.Redis.Timeout = 0 }, true, "--redis-timeout"},
		{"not a Redis URL", func(c *ServeConfig) { c.Redis.URL = "http://cache:6379" }, true, "--redis-url"},
		{"bad Redis URL option", func(c *ServeConfig) { c.Redis.URL = "redis://cache:6379/0?colour=blue" }, true, "--redis-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMain(io.Discard, io.Discard)
			m.Config.Addr = "127.0.0.1:0"
			m.Config.DB.Path = filepath.Join(t.TempDir(), "keyward.db")
			tt.configure(&m.Config)
			err := m.Run(t.Context())
			if err == nil {
				m.Close()
				t.Fatal("Run succeeded")
			}
			if isUsage := errors.As(err, new(usageError)); isUsage != tt.usage || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run: %v (usage error: %v), want one naming %q (usage error: %v)", err, isUsage, tt.want, tt.usage)
			}
			if m.db != nil || m.limiter != nil || m.service != nil || m.http != nil || m.debug != nil {
				t.Error("a failed Run left parts running")
			}
			if err := m.Close(); err != nil {
				t.Errorf("Close after a failed Run: %v", err)
			}
		})
	}
}

// logRecords parses a JSON log.
func logRecords(t *testing.T, log string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for line := range strings.Lines(log) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		recs = append(recs, r)
	}
	return recs
}

// noRootKeyWarning returns serve's warning that no live root key exists,
// or nil.
func noRootKeyWarning(t *testing.T, log string) map[string]any {
	t.Helper()
	for _, r := range logRecords(t, log) {
		if msg, _ := r["msg"].(string); strings.HasPrefix(msg, "no live root key") {
			if r["level"] != "WARN" {
				t.Errorf("no-root-key message at level %v, want WARN", r["level"])
			}
			return r
		}
	}
	return nil
}

// TestRootKeyRecoverySQLite: the first start's box names the command that
// makes another root key on this database, and that command works; a
// start with no live root key warns, naming the same command.
func TestRootKeyRecoverySQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	want := "keyward root-key create --db " + path

	s := startServe(t, path)
	s.stdout.waitFor(t, rootKeyRE, nil)
	if !strings.Contains(s.stdout.String(), "\n   "+want+"\n") {
		t.Errorf("the root key box does not name %q:\n%s", want, s.stdout.String())
	}
	if w := noRootKeyWarning(t, s.stderr.String()); w != nil {
		t.Errorf("warned of no root key on the start that created one: %v", w)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	for _, id := range rootKeyIDs(t, path) {
		if err := run(context.Background(), []string{"root-key", "revoke", "--db", path, id}, env(nil), nil, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	s = startServe(t, path)
	w := noRootKeyWarning(t, s.stderr.String())
	if w == nil {
		t.Fatalf("no warning with every root key revoked:\n%s", s.stderr.String())
	}
	if w["create_one_with"] != want {
		t.Errorf("the warning names %q, want %q", w["create_one_with"], want)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	// Run the command as printed; then there is a root key, and no warning.
	var out bytes.Buffer
	if err := run(context.Background(), strings.Fields(want)[1:], env(nil), nil, &out, io.Discard); err != nil {
		t.Fatalf("%s: %v", want, err)
	}
	secret := strings.TrimSpace(out.String())
	s = startServe(t, path)
	if w := noRootKeyWarning(t, s.stderr.String()); w != nil {
		t.Errorf("warned of no root key with one live: %v", w)
	}
	if status, _ := call(t, "GET", s.url+"/orgs/acme/api_keys", secret, ""); status != http.StatusOK {
		t.Errorf("the root key from the printed command: %d", status)
	}
}

// TestRootKeyRecoveryPostgres: on PostgreSQL the box and the warning name
// --database-url with the password redacted, or KEYWARD_DATABASE_URL when
// that is where the URL came from; no password is printed or logged.
func TestRootKeyRecoveryPostgres(t *testing.T) {
	const password = "pw-not-for-printing"
	// The test server trusts local connections: the password is carried,
	// not checked.
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	withPassword := u.String()

	s := startMain(t, []string{"--database-url", withPassword}, env(nil))
	s.stdout.waitFor(t, rootKeyRE, nil)
	redacted, _, _ := redactURL(withPassword)
	for _, want := range []string{"keyward root-key create --database-url " + shellQuote(redacted), "password", "redacted"} {
		if !strings.Contains(s.stdout.String(), want) {
			t.Errorf("the root key box lacks %q:\n%s", want, s.stdout.String())
		}
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	printed := s.stdout.String() + s.stderr.String()

	var out bytes.Buffer
	if err := run(context.Background(), []string{"root-key", "list", "--database-url", withPassword}, env(nil), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	id, _, _ := strings.Cut(out.String(), "\t")
	if err := run(context.Background(), []string{"root-key", "revoke", id}, env(map[string]string{"KEYWARD_DATABASE_URL": withPassword}), nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}

	s = startMain(t, nil, env(map[string]string{"KEYWARD_DATABASE_URL": withPassword}))
	w := noRootKeyWarning(t, s.stderr.String())
	if w == nil {
		t.Fatalf("no warning with every root key revoked:\n%s", s.stderr.String())
	}
	if w["create_one_with"] != "keyward root-key create" || !strings.Contains(w["note"].(string), "KEYWARD_DATABASE_URL") {
		t.Errorf("the warning says %v, want the command pointing at KEYWARD_DATABASE_URL", w)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	printed += s.stdout.String() + s.stderr.String()
	if strings.Contains(printed, password) {
		t.Error("the password was printed or logged")
	}
}

// TestRootKeyCommand: the command printed for making a root key on the
// database in use, for each way of naming the database.
func TestRootKeyCommand(t *testing.T) {
	tests := []struct {
		name     string
		db       DBConfig
		wantCmd  string
		wantNote string // in the note; "" for no note
	}{
		{"sqlite, default", DBConfig{Path: "keyward.db"}, "keyward root-key create --db keyward.db", ""},
		{"sqlite, path with a space", DBConfig{Path: "/srv/my keys/k.db"}, "keyward root-key create --db '/srv/my keys/k.db'", ""},
		{"sqlite, path with a quote", DBConfig{Path: "it's.db"}, `keyward root-key create --db 'it'\''s.db'`, ""},
		{"postgres, no password", DBConfig{URL: "postgres://kw@db:5432/kw?sslmode=require"}, "keyward root-key create --database-url 'postgres://kw@db:5432/kw?sslmode=require'", ""},
		{"postgres, password", DBConfig{URL: "postgres://kw:s3cret@db/kw"}, "keyward root-key create --database-url postgres://kw:xxxxx@db/kw", "redacted"},
		{"postgres, password in the query", DBConfig{URL: "postgres://kw@db/kw?password=s3cret"}, "keyward root-key create --database-url 'postgres://kw@db/kw?password=xxxxx'", "redacted"},
		{"postgres, from the environment", DBConfig{URL: "postgres://kw:s3cret@db/kw", URLFromEnv: true}, "keyward root-key create", "KEYWARD_DATABASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, note := tt.db.rootKeyCommand()
			if cmd != tt.wantCmd {
				t.Errorf("command %q, want %q", cmd, tt.wantCmd)
			}
			if (tt.wantNote == "") != (note == "") || !strings.Contains(note, tt.wantNote) {
				t.Errorf("note %q, want one with %q", note, tt.wantNote)
			}
			if strings.Contains(cmd+note, "s3cret") {
				t.Error("the password is printed")
			}
		})
	}
}

// TestRedaction: a database's name in messages, and an error quoting its
// URL, never show the password, wherever the URL holds it.
func TestRedaction(t *testing.T) {
	tests := []struct {
		url, password string
	}{
		{"postgres://kw:s3cret@db/kw", "s3cret"},
		{"postgres://kw:p%40ss%2Fword@db/kw", "p@ss/word"},
		{"postgres://kw@db/kw?password=s3cret", "s3cret"},
		{"postgres://kw@db/kw?sslpassword=s3cret&sslmode=verify-full", "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			name := DBConfig{URL: tt.url}.name()
			if strings.Contains(name, tt.password) || !strings.Contains(name, "xxxxx") {
				t.Errorf("name() = %q", name)
			}
			encoded := url.QueryEscape(tt.password)
			msg := redactIn("cannot connect to "+tt.url+" with password "+tt.password+" ("+encoded+")", tt.url)
			if strings.Contains(msg, tt.password) || strings.Contains(msg, encoded) {
				t.Errorf("redactIn left the password in %q", msg)
			}
		})
	}
}

// Pruning runs every tenth of the retention, so that a record outlives it
// by at most a tenth, but never more often than each second nor less often
// than every ten minutes.
func TestPruneInterval(t *testing.T) {
	for _, tt := range []struct{ retention, want time.Duration }{
		{720 * time.Hour, 10 * time.Minute},
		{time.Hour, 6 * time.Minute},
		{time.Minute, 6 * time.Second},
		{time.Second, time.Second},
	} {
		if got := pruneInterval(tt.retention); got != tt.want {
			t.Errorf("pruneInterval(%v) = %v, want %v", tt.retention, got, tt.want)
		}
	}
}

// --idempotency-secret takes at least 32 bytes, in hex or base64, and a
// refusal never quotes it.
func TestIdempotencySecret(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  int // bytes; 0: refused
	}{
		{strings.Repeat("ab", 32), 32},
		{base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 48))), 48},
		{base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("k", 40))), 40},
		{"", -1},
		{strings.Repeat("ab", 31), 0},
		{"not-hex-and-not-base64!!-but-long-enough-to-be-a-secret", 0},
	} {
		c := DefaultServeConfig()
		c.IdempotencySecret = tt.value
		b, err := c.idempotencySecret()
		switch {
		case tt.want == -1:
			if err != nil || b != nil {
				t.Errorf("no secret: %v, %d bytes", err, len(b))
			}
		case tt.want == 0:
			if err == nil {
				t.Errorf("secret of %d characters accepted", len(tt.value))
			} else if strings.Contains(err.Error(), tt.value) {
				t.Errorf("the refusal quotes the secret: %v", err)
			}
			if verr := c.validate(); verr == nil {
				t.Errorf("validate accepted a bad secret")
			}
		case err != nil || len(b) != tt.want:
			t.Errorf("secret %q: %d bytes, %v; want %d", tt.value[:8], len(b), err, tt.want)
		}
	}
}

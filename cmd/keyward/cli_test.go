package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// The API commands (keys, audit, verify) are tested against a real
// Keyward: keyward serve, in-process, on a SQLite file, reached over HTTP
// by run as a user's shell would run it.

// cliServer is a running Keyward and its bootstrap root key.
type cliServer struct {
	*server
	root string
}

func startCLIServer(t *testing.T) *cliServer {
	t.Helper()
	s := startServe(t, filepath.Join(t.TempDir(), "keyward.db"))
	return &cliServer{server: s, root: s.stdout.waitFor(t, rootKeyRE, nil)}
}

// cliResult is what one command printed, and its exit status.
type cliResult struct {
	stdout, stderr string
	err            error
	code           int
}

// cliRun runs keyward with args against s, with the environment vars
// (KEYWARD_URL is set to s; KEYWARD_API_KEY to key unless key is "") and
// stdin (nil: an empty, non-terminal stdin).
func (s *cliServer) cliRun(t *testing.T, key string, vars map[string]string, stdin io.Reader, args ...string) cliResult {
	t.Helper()
	e := map[string]string{"KEYWARD_URL": s.url}
	if key != "" {
		e["KEYWARD_API_KEY"] = key
	}
	for k, v := range vars {
		e[k] = v
	}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut bytes.Buffer
	err := run(t.Context(), args, env(e), stdin, &out, &errOut)
	return cliResult{stdout: out.String(), stderr: errOut.String(), err: err, code: exitCode(err)}
}

// must fails the test unless r exited 0.
func (r cliResult) must(t *testing.T, args ...string) cliResult {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("keyward %s: exit %d: %v\nstderr: %s", strings.Join(args, " "), r.code, r.err, r.stderr)
	}
	return r
}

// ok runs args as root and requires exit 0.
func (s *cliServer) ok(t *testing.T, args ...string) cliResult {
	t.Helper()
	return s.cliRun(t, s.root, nil, nil, args...).must(t, args...)
}

// wantExit checks r's exit status and that its error, as main prints it,
// is one line holding every string of want.
func wantExit(t *testing.T, r cliResult, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d: %v\nstderr: %s", r.code, code, r.err, r.stderr)
	}
	if r.err == nil {
		return
	}
	msg := r.err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("the error is not one line: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("the error lacks %q: %s", w, msg)
		}
	}
}

var secretLineRE = regexp.MustCompile(`^` + keyward.SecretPattern + `\n$`)

// decodeJSON decodes a command's JSON output, requiring one document.
func decodeOutput[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if dec.More() {
		t.Fatalf("output holds more than one JSON document:\n%s", out)
	}
	return v
}

// outKey is a key as --output json prints it.
type outKey struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	OrgID       string          `json:"org_id"`
	State       string          `json:"state"`
	Permissions []string        `json:"permissions"`
	Metadata    map[string]any  `json:"metadata"`
	ExpiresAt   *time.Time      `json:"expires_at"`
	RateLimits  json.RawMessage `json:"rate_limits"`
	Credits     *struct {
		Remaining int64 `json:"remaining"`
		Refill    *struct {
			Amount   int64  `json:"amount"`
			Interval string `json:"interval"`
		} `json:"refill"`
	} `json:"credits"`
	ETag                    string     `json:"etag"`
	Key                     string     `json:"key"`
	Hint                    string     `json:"hint"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

// TestCLIKeysLifecycle walks every keys subcommand against a real server,
// in table and JSON output, and checks that each secret is printed once,
// on stdout, and never on stderr.
func TestCLIKeysLifecycle(t *testing.T) {
	s := startCLIServer(t)
	var stderrs strings.Builder
	note := func(r cliResult) cliResult { stderrs.WriteString(r.stderr); return r }

	// create, table output: the secret alone on stdout, a warning on stderr.
	r := note(s.ok(t, "keys", "create", "--org", "acme", "--name", "Backend", "--permissions", "read,write",
		"--permissions", "manage", "--metadata", `{"plan":"free","customer":"cus_1"}`, "--expires-in", "30d",
		"--rate-limit", "requests=100/60s", "--credits", "1000", "--refill", "1000/daily"))
	if !secretLineRE.MatchString(r.stdout) {
		t.Fatalf("create printed %q on stdout, want the secret alone on one line", hint(r.stdout))
	}
	secret := strings.TrimSpace(r.stdout)
	if !strings.Contains(r.stderr, "will not be shown again") {
		t.Errorf("no warning on stderr: %q", r.stderr)
	}

	// list, table: aligned columns, human times, never a secret.
	r = s.ok(t, "keys", "list", "--org", "acme")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[1], "Backend") ||
		!strings.Contains(lines[1], "just now") || !strings.Contains(lines[1], "in 30 days") || !strings.Contains(lines[1], "never") {
		t.Fatalf("list table:\n%s", r.stdout)
	}
	if col := strings.Index(lines[0], "NAME"); col < 0 || lines[1][col:col+len("Backend")] != "Backend" {
		t.Errorf("columns are not aligned:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, secret) {
		t.Fatal("list printed the secret")
	}

	// list, JSON: one array, the API's fields.
	keys := decodeOutput[[]outKey](t, s.ok(t, "keys", "list", "--org", "acme", "--output", "json").stdout)
	if len(keys) != 1 || keys[0].Name != "Backend" || keys[0].Key != "" || keys[0].Metadata["plan"] != "free" ||
		keys[0].Credits == nil || keys[0].Credits.Remaining != 1000 || keys[0].Credits.Refill.Interval != "daily" {
		t.Fatalf("list JSON: %+v", keys)
	}
	id := keys[0].ID
	if d := time.Until(*keys[0].ExpiresAt); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Errorf("--expires-in 30d set expires_at %v", keys[0].ExpiresAt)
	}

	// get, table and JSON; the JSON carries the version.
	r = s.ok(t, "keys", "get", id, "--org", "acme")
	for _, w := range []string{"ID:", id, "State:", "active", "requests=100/60s", "1000 remaining, refilled to 1000 daily", `Version (ETag):  "1"`, `{"customer":"cus_1","plan":"free"}`} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("get lacks %q:\n%s", w, r.stdout)
		}
	}
	k := decodeOutput[outKey](t, s.ok(t, "keys", "get", id, "--output", "json").stdout) // a root key needs no --org for one key
	if k.ETag != `"1"` || k.Key != "" {
		t.Fatalf("get JSON: etag %q, key %q", k.ETag, hint(k.Key))
	}

	// update: every kind of change, with --if-match.
	k = decodeOutput[outKey](t, s.ok(t, "keys", "update", id, "--org", "acme", "--if-match", k.ETag, "--output", "json",
		"--name", "Backend (prod)", "--metadata", `{"plan":"pro","customer":null}`, "--no-expiry",
		"--rate-limit", "requests=1000/60s,burst=10/1s", "--credits", "50", "--no-refill").stdout)
	if k.Name != "Backend (prod)" || len(k.Metadata) != 1 || k.Metadata["plan"] != "pro" || k.ExpiresAt != nil ||
		!strings.Contains(string(k.RateLimits), `"burst"`) || k.Credits.Remaining != 50 || k.Credits.Refill != nil || k.ETag != `"2"` {
		t.Fatalf("update: %+v", k)
	}
	k = decodeOutput[outKey](t, s.ok(t, "keys", "update", id, "--output", "json", "--permissions", "read,manage",
		"--expires-at", "2031-01-02T03:04:05Z", "--no-rate-limits", "--no-credits", "--metadata", "null").stdout)
	if strings.Join(k.Permissions, ",") != "read,manage" || !k.ExpiresAt.Equal(time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)) ||
		string(k.RateLimits) != "[]" || k.Credits != nil || len(k.Metadata) != 0 {
		t.Fatalf("second update: %+v rate_limits %s", k, k.RateLimits)
	}
	// A stale version: 412, exit 5, nothing changed.
	wantExit(t, note(s.cliRun(t, s.root, nil, nil, "keys", "update", id, "--if-match", "1", "--name", "stale")),
		exitConflict, "412", "precondition-failed", "request id")
	if k := decodeOutput[outKey](t, s.ok(t, "keys", "get", id, "--output", "json").stdout); k.Name != "Backend (prod)" {
		t.Fatalf("a refused update changed the name to %q", k.Name)
	}

	// rotate with a grace period: the new secret once on stdout; the old
	// one still verifies meanwhile.
	r = note(s.ok(t, "keys", "rotate", id, "--org", "acme", "--grace", "24h"))
	if !secretLineRE.MatchString(r.stdout) || strings.TrimSpace(r.stdout) == secret {
		t.Fatalf("rotate printed %q", hint(r.stdout))
	}
	newSecret := strings.TrimSpace(r.stdout)
	if !strings.Contains(r.stderr, "keeps working until") || !strings.Contains(r.stderr, "will not be shown again") {
		t.Errorf("rotate's stderr: %q", r.stderr)
	}
	r = s.cliRun(t, "", nil, strings.NewReader(secret+"\n"), "verify", "-", "--cost", "0")
	wantExit(t, r, exitOK)
	if !strings.Contains(r.stdout, "Secret expires:") {
		t.Errorf("the old secret's verification does not say when it stops:\n%s", r.stdout)
	}
	// rotate, JSON: the secret is in the document.
	k = decodeOutput[outKey](t, note(s.ok(t, "keys", "rotate", id, "--output", "json")).stdout)
	if !regexp.MustCompile(`^`+keyward.SecretPattern+`$`).MatchString(k.Key) || k.PreviousSecretExpiresAt != nil {
		t.Fatalf("rotate JSON: key %q, previous_secret_expires_at %v", hint(k.Key), k.PreviousSecretExpiresAt)
	}
	rotatedJSON := k.Key
	r = s.cliRun(t, "", nil, strings.NewReader(newSecret), "verify", "-")
	wantExit(t, r, exitNotValid, "NOT_FOUND") // rotated again without grace: gone

	// disable: verifies as DISABLED (exit 7); enable: VALID again.
	r = s.ok(t, "keys", "disable", id)
	if !strings.Contains(r.stdout, "disabled") {
		t.Errorf("disable printed:\n%s", r.stdout)
	}
	r = s.cliRun(t, "", nil, strings.NewReader(rotatedJSON+"\n"), "verify", "-")
	wantExit(t, r, exitNotValid, "DISABLED")
	if !strings.Contains(r.stdout, "DISABLED") {
		t.Errorf("verify of a disabled key printed:\n%s", r.stdout)
	}
	s.ok(t, "keys", "enable", id, "--org", "acme")
	wantExit(t, s.cliRun(t, "", nil, strings.NewReader(rotatedJSON), "verify", "-"), exitOK)

	// delete, then restore; restoring twice is a 409.
	r = s.ok(t, "keys", "delete", id, "--org", "acme", "--yes")
	if !strings.Contains(r.stdout, "Deleted key "+id) {
		t.Errorf("delete printed %q", r.stdout)
	}
	keys = decodeOutput[[]outKey](t, s.ok(t, "keys", "list", "--org", "acme", "--state", "deleted", "--output", "json").stdout)
	if len(keys) != 1 || keys[0].ID != id || keys[0].State != "deleted" {
		t.Fatalf("deleted list: %+v", keys)
	}
	k = decodeOutput[outKey](t, s.ok(t, "keys", "restore", id, "--org", "acme", "--output", "json").stdout)
	if k.State != "active" {
		t.Fatalf("restore: state %q", k.State)
	}
	wantExit(t, note(s.cliRun(t, s.root, nil, nil, "keys", "restore", id, "--org", "acme")), exitConflict, "409", "conflict", "request id")
	d := decodeOutput[map[string]any](t, s.ok(t, "keys", "delete", id, "--yes", "--output", "json").stdout)
	if d["id"] != id || d["deleted"] != true {
		t.Errorf("delete JSON: %v", d)
	}

	// audit list: every change above, newest first, in both outputs.
	r = s.ok(t, "audit", "list", "--org", "acme")
	for _, action := range []string{"create", "update", "rotate", "disable", "enable", "delete", "restore"} {
		if !strings.Contains(r.stdout, " "+action+" ") {
			t.Errorf("audit table lacks %s:\n%s", action, r.stdout)
		}
	}
	events := decodeOutput[[]struct {
		Action  string         `json:"action"`
		KeyID   string         `json:"key_id"`
		Changes map[string]any `json:"changes"`
	}](t, s.ok(t, "audit", "list", "--org", "acme", "--key", id, "--action", "update", "--since", "1h", "--output", "json").stdout)
	if len(events) != 2 || events[0].Action != "update" || events[1].Changes["name"] == nil {
		t.Fatalf("audit JSON: %+v", events)
	}
	if r := s.ok(t, "audit", "list", "--org", "acme", "--until", "1h"); strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("--until 1h (an hour ago) found events:\n%s", r.stdout)
	}

	for _, sec := range []string{secret, newSecret, rotatedJSON, s.root} {
		if strings.Contains(stderrs.String(), sec) {
			t.Errorf("secret %s appears on stderr", hint(sec))
		}
	}
}

// TestCLIAPIKeySources: the key comes from KEYWARD_API_KEY or a file,
// the flag first; without one the command fails with exit 4 before any
// request; there is no flag that takes the key itself.
func TestCLIAPIKeySources(t *testing.T) {
	s := startCLIServer(t)
	// A manage key of acme acts in its own organization without --org.
	admin := strings.TrimSpace(s.ok(t, "keys", "create", "--org", "acme", "--name", "admin", "--permissions", "read,manage").stdout)
	dir := t.TempDir()
	file := filepath.Join(dir, "admin")
	if err := os.WriteFile(file, []byte(admin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rootFile := filepath.Join(dir, "root")
	if err := os.WriteFile(rootFile, []byte(s.root), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		key  string // KEYWARD_API_KEY
		vars map[string]string
		args []string
		code int
		want string // in stdout, or in the error
	}{
		{"environment", admin, nil, nil, exitOK, "admin"},
		{"file flag", "", nil, []string{"--api-key-file", file}, exitOK, "admin"},
		{"file variable", "", map[string]string{"KEYWARD_API_KEY_FILE": file}, nil, exitOK, "admin"},
		{"file flag wins over the variable", "not-a-key", nil, []string{"--api-key-file", file}, exitOK, "admin"},
		{"variable wins over the file variable", admin, map[string]string{"KEYWARD_API_KEY_FILE": rootFile}, nil, exitOK, "admin"},
		{"a root key without --org", "", nil, []string{"--api-key-file", rootFile}, exitUsage, "give --org"},
		{"a root key with --org", s.root, nil, []string{"--org", "acme"}, exitOK, "admin"},
		{"no key", "", nil, nil, exitAuth, "KEYWARD_API_KEY"},
		{"an unknown key", "kw_nope", nil, nil, exitAuth, "401"},
		{"a missing file", "", nil, []string{"--api-key-file", filepath.Join(dir, "nope")}, exitError, "no such file"},
		{"an empty file", "", nil, []string{"--api-key-file", empty}, exitUsage, "empty"},
		{"no --api-key flag", admin, nil, []string{"--api-key", admin}, exitUsage, "-api-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.cliRun(t, tt.key, tt.vars, nil, append([]string{"keys", "list"}, tt.args...)...)
			wantExit(t, r, tt.code)
			if tt.code == exitOK && !strings.Contains(r.stdout, tt.want) || tt.code != exitOK && !strings.Contains(r.err.Error(), tt.want) {
				t.Errorf("want %q in: stdout %q, err %v", tt.want, r.stdout, r.err)
			}
			if r.err != nil && (strings.Contains(r.err.Error(), admin) || strings.Contains(r.err.Error(), s.root)) {
				t.Errorf("the error holds a key: %v", r.err)
			}
		})
	}
	// Without --org, a manage key creates in its own organization.
	r := s.cliRun(t, admin, nil, nil, "keys", "create", "--name", "worker", "--permissions", "read", "--output", "json").must(t, "keys create")
	if k := decodeOutput[outKey](t, r.stdout); k.OrgID != "acme" || k.Key == "" {
		t.Errorf("a manage key's create: org %q", k.OrgID)
	}
}

// TestCLIErrors: each failure is one line naming the problem's detail,
// its field errors and request id, and exits with its status; a failed
// command changes nothing.
func TestCLIErrors(t *testing.T) {
	s := startCLIServer(t)
	created := decodeOutput[outKey](t, s.ok(t, "keys", "create", "--org", "acme", "--name", "k", "--permissions", "read", "--output", "json").stdout)
	idem := "0123456789abcdef0123456789abcdef"
	s.ok(t, "keys", "create", "--org", "acme", "--name", "first", "--permissions", "read", "--idempotency-key", idem)

	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"404", []string{"keys", "get", "key-1", "--org", "acme"}, exitNotFound, []string{"keys get key-1", "404 not-found", "request id"}},
		{"404 in another organization", []string{"keys", "disable", created.ID, "--org", "other"}, exitNotFound, []string{"404"}},
		{"400 with field errors", []string{"keys", "create", "--org", "acme", "--name", "x", "--permissions", "admin,read"}, exitUsage,
			[]string{"400 invalid", `permissions: unknown permission "admin"`, "request id"}},
		{"409", []string{"keys", "restore", created.ID, "--org", "acme"}, exitConflict, []string{"409 conflict", "request id"}},
		{"412", []string{"keys", "delete", created.ID, "--org", "acme", "--yes", "--if-match", `"7"`}, exitConflict, []string{"412 precondition-failed", "version 1"}},
		{"422", []string{"keys", "create", "--org", "acme", "--name", "second", "--permissions", "read", "--idempotency-key", idem}, exitConflict, []string{"422 unprocessable", "request id"}},
		{"unknown subcommand", []string{"keys", "frob"}, exitUsage, []string{`"frob"`}},
		{"missing key id", []string{"keys", "get"}, exitUsage, []string{"KEY_ID"}},
		{"bad --output", []string{"keys", "list", "--output", "yaml"}, exitUsage, []string{"--output"}},
		{"bad --state", []string{"keys", "list", "--org", "acme", "--state", "gone"}, exitUsage, []string{"--state"}},
		{"bad --rate-limit", []string{"keys", "update", created.ID, "--rate-limit", "requests=lots"}, exitUsage, []string{"NAME=LIMIT/DURATION"}},
		{"bad --metadata", []string{"keys", "update", created.ID, "--metadata", "[1]"}, exitUsage, []string{"JSON object"}},
		{"bad --expires-in", []string{"keys", "update", created.ID, "--expires-in", "soon"}, exitUsage, []string{"--expires-in"}},
		{"two expiries", []string{"keys", "update", created.ID, "--expires-in", "1d", "--no-expiry"}, exitUsage, []string{"one of"}},
		{"nothing to change", []string{"keys", "update", created.ID}, exitUsage, []string{"nothing to change"}},
		{"--refill without --credits", []string{"keys", "create", "--name", "x", "--permissions", "read", "--refill", "5/daily"}, exitUsage, []string{"--credits"}},
		{"bad --refill", []string{"keys", "update", created.ID, "--refill", "5/weekly"}, exitUsage, []string{"AMOUNT/daily"}},
		{"bad --grace", []string{"keys", "rotate", created.ID, "--grace", "-1h"}, exitUsage, []string{"--grace"}},
		{"grace too long", []string{"keys", "rotate", created.ID, "--grace", "30d"}, exitUsage, []string{"400", "grace_period"}},
		{"bad --since", []string{"audit", "list", "--org", "acme", "--since", "yesterday"}, exitUsage, []string{"--since"}},
		{"bad --action", []string{"audit", "list", "--org", "acme", "--action", "explode"}, exitUsage, []string{"400", "action"}},
		{"--limit and --all", []string{"keys", "list", "--org", "acme", "--limit", "5", "--all"}, exitUsage, []string{"not both"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantExit(t, s.cliRun(t, s.root, nil, nil, tt.args...), tt.code, tt.want...)
		})
	}
	// Nothing above changed the key, nor made a second one.
	k := decodeOutput[outKey](t, s.ok(t, "keys", "get", created.ID, "--output", "json").stdout)
	if k.ETag != `"1"` || k.State != "active" || k.Name != "k" {
		t.Errorf("the key changed: %+v", k)
	}
	if keys := decodeOutput[[]outKey](t, s.ok(t, "keys", "list", "--org", "acme", "--state", "all", "--output", "json").stdout); len(keys) != 2 {
		t.Errorf("%d keys, want 2", len(keys))
	}

	// A server that is not there: exit 6.
	r := cliServer{server: &server{url: "http://127.0.0.1:1"}}
	wantExit(t, r.cliRun(t, s.root, nil, nil, "keys", "list", "--org", "acme", "--timeout", "5s"), exitUnavailable, "keys list")
}

// terminalInput is stdin as a terminal a person answers at: delete's
// confirmation reads it.
type terminalInput struct{ io.Reader }

func (terminalInput) IsTerminal() bool { return true }

// TestCLIDeleteConfirmation: keys delete asks on a terminal, refuses
// without --yes elsewhere (never waiting for input), and deletes nothing
// unless confirmed.
func TestCLIDeleteConfirmation(t *testing.T) {
	s := startCLIServer(t)
	k := decodeOutput[outKey](t, s.ok(t, "keys", "create", "--org", "acme", "--name", "victim", "--permissions", "read", "--output", "json").stdout)
	state := func() string {
		return decodeOutput[outKey](t, s.ok(t, "keys", "get", k.ID, "--output", "json").stdout).State
	}

	// Not a terminal (a pipe that has an answer in it): refused, exit 2.
	r := s.cliRun(t, s.root, nil, strings.NewReader("y\n"), "keys", "delete", k.ID)
	wantExit(t, r, exitUsage, "--yes", "not a terminal")
	// A terminal whose stdin never ends would hang the test if it were read.
	pr, pw := io.Pipe()
	defer pw.Close()
	r = s.cliRun(t, s.root, nil, pr, "keys", "delete", k.ID)
	wantExit(t, r, exitUsage, "--yes")

	// A terminal, answered no (and with nothing): nothing deleted.
	for _, answer := range []string{"n\n", "", "yess\n"} {
		r = s.cliRun(t, s.root, nil, terminalInput{strings.NewReader(answer)}, "keys", "delete", k.ID)
		wantExit(t, r, exitError, "not confirmed")
		if !strings.Contains(r.stderr, "Delete key "+k.ID+" (victim) of organization acme?") {
			t.Errorf("the question: %q", r.stderr)
		}
	}
	if got := state(); got != "active" {
		t.Fatalf("state %q after refusals", got)
	}
	// Answered yes: deleted.
	r = s.cliRun(t, s.root, nil, terminalInput{strings.NewReader("Y\n")}, "keys", "delete", k.ID)
	wantExit(t, r, exitOK)
	keys := decodeOutput[[]outKey](t, s.ok(t, "keys", "list", "--org", "acme", "--state", "deleted", "--output", "json").stdout)
	if len(keys) != 1 || keys[0].ID != k.ID {
		t.Fatalf("not deleted: %+v", keys)
	}
	// A key that does not exist is reported before the question.
	r = s.cliRun(t, s.root, nil, terminalInput{strings.NewReader("y\n")}, "keys", "delete", "key-1")
	wantExit(t, r, exitNotFound, "404")
	if strings.Contains(r.stderr, "Delete key") {
		t.Errorf("asked about a key that does not exist: %q", r.stderr)
	}
}

// TestCLIKeysListPaging: --limit reads as many pages as it takes and says
// how to read on; --cursor does; --all follows every cursor.
func TestCLIKeysListPaging(t *testing.T) {
	s := startCLIServer(t)
	old := maxPage
	maxPage = 2 // pages of two keys, so that five keys take three pages
	t.Cleanup(func() { maxPage = old })
	for i := range 5 {
		s.ok(t, "keys", "create", "--org", "acme", "--name", "k"+string(rune('0'+i)), "--permissions", "read")
	}
	names := func(out string) string {
		var n []string
		for _, k := range decodeOutput[[]outKey](t, out) {
			n = append(n, k.Name)
		}
		return strings.Join(n, ",")
	}
	if got := names(s.ok(t, "keys", "list", "--org", "acme", "--all", "--output", "json").stdout); got != "k4,k3,k2,k1,k0" {
		t.Errorf("--all: %s", got)
	}
	r := s.ok(t, "keys", "list", "--org", "acme", "--limit", "3", "--output", "json")
	if got := names(r.stdout); got != "k4,k3,k2" {
		t.Errorf("--limit 3: %s", got)
	}
	m := regexp.MustCompile(`--cursor (\S+)`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("--limit 3 of 5 does not say how to read on: %q", r.stderr)
	}
	if got := names(s.ok(t, "keys", "list", "--org", "acme", "--cursor", m[1], "--output", "json").stdout); got != "k1,k0" {
		t.Errorf("--cursor: %s", got)
	}
	if r := s.ok(t, "keys", "list", "--org", "acme", "--limit", "5"); r.stderr != "" || strings.Count(r.stdout, "\n") != 6 {
		t.Errorf("--limit 5 of 5: stdout\n%s\nstderr %q", r.stdout, r.stderr)
	}
	if r := s.ok(t, "keys", "list", "--org", "empty", "--output", "json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("an empty list is %q, want []", r.stdout)
	}
	r = s.ok(t, "audit", "list", "--org", "acme", "--limit", "3", "--output", "json")
	if n := len(decodeOutput[[]map[string]any](t, r.stdout)); n != 3 || !strings.Contains(r.stderr, "--cursor") {
		t.Errorf("audit --limit 3: %d events, stderr %q", n, r.stderr)
	}
	if n := len(decodeOutput[[]map[string]any](t, s.ok(t, "audit", "list", "--org", "acme", "--all", "--output", "json").stdout)); n != 5 {
		t.Errorf("audit --all: %d events, want 5", n)
	}
}

// TestCLIVerify: exit 0 only for VALID; the secret from stdin or the
// argument; permissions and cost reach the server.
func TestCLIVerify(t *testing.T) {
	s := startCLIServer(t)
	secret := strings.TrimSpace(s.ok(t, "keys", "create", "--org", "acme", "--name", "metered", "--permissions", "read",
		"--credits", "2").stdout)

	r := s.cliRun(t, "", nil, nil, "verify", secret, "--cost", "0", "--output", "json")
	wantExit(t, r, exitOK)
	v := decodeOutput[map[string]any](t, r.stdout)
	if v["code"] != "VALID" || v["valid"] != true || v["name"] != "metered" || v["credits"].(map[string]any)["remaining"] != 2.0 {
		t.Fatalf("verify JSON: %v", v)
	}
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Error("verify printed the secret")
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string // in stdout
	}{
		{"from stdin", secret + "\n", []string{"-", "--cost", "0"}, exitOK, "Code:"},
		{"permission held", secret, []string{"-", "--permission", "read", "--cost", "0"}, exitOK, "VALID"},
		{"permission lacking", secret, []string{"-", "--permission", "read,write"}, exitNotValid, "INSUFFICIENT_PERMISSIONS"},
		{"spends its cost", secret, []string{"-"}, exitOK, " 1 remaining"},
		{"out of credits", secret, []string{"-", "--cost", "2"}, exitNotValid, "USAGE_EXCEEDED"},
		{"unknown key", secret[:len(secret)-1] + "x", []string{"-"}, exitNotValid, "NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.cliRun(t, "", nil, strings.NewReader(tt.stdin), append([]string{"verify"}, tt.args...)...)
			wantExit(t, r, tt.code)
			if !strings.Contains(r.stdout, tt.want) {
				t.Errorf("stdout lacks %q:\n%s", tt.want, r.stdout)
			}
		})
	}
	wantExit(t, s.cliRun(t, "", nil, strings.NewReader("\n"), "verify", "-"), exitUsage, "stdin holds no key")
	// Two keys given: refused without quoting either.
	r = s.cliRun(t, "", nil, nil, "verify", secret, secret+"2")
	wantExit(t, r, exitUsage, "not shown")
	if strings.Contains(r.err.Error()+r.stderr, secret) {
		t.Errorf("the usage error quotes a secret: %v", r.err)
	}
	wantExit(t, s.cliRun(t, "", nil, nil, "verify", secret, "--cost", "-1"), exitUsage, "--cost")
	wantExit(t, s.cliRun(t, "", nil, nil, "verify", "-", "--permission", "admin"), exitUsage)
	wantExit(t, s.cliRun(t, "", nil, strings.NewReader(secret), "verify", "-", "--permission", "admin"), exitUsage, "400")
}

// TestCLIKeysUsage: keys usage shows the hours with verifications, by
// outcome, and the total; --output json every hour; a range too long or
// an unknown key fail as the API answers.
func TestCLIKeysUsage(t *testing.T) {
	srv := startServe(t, filepath.Join(t.TempDir(), "keyward.db"), "--last-used-interval", "50ms")
	s := &cliServer{server: srv, root: srv.stdout.waitFor(t, rootKeyRE, nil)}
	created := decodeOutput[outKey](t, s.ok(t, "keys", "create", "--org", "acme", "--name", "charted", "--permissions", "read", "--output", "json").stdout)
	wantExit(t, s.cliRun(t, "", nil, strings.NewReader(created.Key), "verify", "-", "--permission", "read"), exitOK)
	wantExit(t, s.cliRun(t, "", nil, strings.NewReader(created.Key), "verify", "-", "--permission", "write"), exitNotValid)

	// The counts reach the database with the next flush.
	type usage struct {
		KeyID  string `json:"key_id"`
		Totals struct {
			Total                   int64 `json:"total"`
			Valid                   int64 `json:"valid"`
			InsufficientPermissions int64 `json:"insufficient_permissions"`
		} `json:"totals"`
		Hours []struct {
			Hour  time.Time `json:"hour"`
			Total int64     `json:"total"`
		} `json:"hours"`
	}
	var u usage
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		u = decodeOutput[usage](t, s.ok(t, "keys", "usage", created.ID, "--org", "acme", "--output", "json").stdout)
		if u.Totals.Total == 2 || time.Now().After(deadline) {
			break
		}
	}
	if u.KeyID != created.ID || u.Totals.Total != 2 || u.Totals.Valid != 1 || u.Totals.InsufficientPermissions != 1 || len(u.Hours) != 168 {
		t.Fatalf("usage JSON: %+v, %d hours; want 2 verifications (1 valid), 168 hours", u.Totals, len(u.Hours))
	}

	out := s.ok(t, "keys", "usage", created.ID, "--since", "24h").stdout
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "HOUR (UTC)") || !strings.Contains(lines[0], "NO PERMISSION") ||
		!strings.HasPrefix(lines[len(lines)-1], "all, ") || len(strings.Fields(lines[len(lines)-1])) < 8 {
		t.Fatalf("usage table:\n%s", out)
	}
	if got := strings.Fields(lines[len(lines)-1]); got[len(got)-7] != "2" || got[len(got)-6] != "1" || got[len(got)-3] != "1" {
		t.Errorf("the total row is %q, want total 2, valid 1, no permission 1", lines[len(lines)-1])
	}
	for _, l := range lines[1 : len(lines)-1] { // only hours with verifications
		if f := strings.Fields(l); f[2] == "0" {
			t.Errorf("a row of an hour without verifications: %q", l)
		}
	}

	wantExit(t, s.cliRun(t, s.root, nil, nil, "keys", "usage", created.ID, "--since", "40d"), exitUsage, "400", "since")
	wantExit(t, s.cliRun(t, s.root, nil, nil, "keys", "usage", "key-1", "--org", "acme"), exitNotFound, "404")
	wantExit(t, s.cliRun(t, s.root, nil, nil, "keys", "usage", created.ID, "--until", "tomorrow"), exitUsage, "--until")
	wantExit(t, s.cliRun(t, s.root, nil, nil, "keys", "usage"), exitUsage)
}

// TestCLIUsage: help for each API command, with its examples and the exit
// statuses; keyward help keys.
func TestCLIUsage(t *testing.T) {
	for _, args := range [][]string{
		{"keys", "list", "--help"}, {"keys", "get", "-h"}, {"keys", "create", "--help"}, {"keys", "update", "--help"},
		{"keys", "rotate", "--help"}, {"keys", "disable", "--help"}, {"keys", "enable", "--help"},
		{"keys", "delete", "--help"}, {"keys", "restore", "--help"}, {"audit", "list", "--help"}, {"verify", "--help"},
		{"keys", "help", "create"}, {"help", "verify"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := run(t.Context(), args, env(nil), nil, &out, io.Discard)
			if exitCode(err) != exitOK {
				t.Fatalf("exit %d: %v", exitCode(err), err)
			}
			for _, w := range []string{"Examples:", "  keyward ", "Exit status:", "-url", "KEYWARD_URL", "-output", "-timeout", "-api-key-file", "-org"} {
				if (args[0] == "verify" || args[1] == "verify") && (w == "-api-key-file" || w == "-org") {
					if strings.Contains(out.String(), w) {
						t.Errorf("verify needs no API key, but its help shows %s", w)
					}
					continue
				}
				if !strings.Contains(out.String(), w) {
					t.Errorf("help lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "KEYWARD_NAME") || strings.Contains(out.String(), "KEYWARD_YES") {
				t.Errorf("an operation's flag offers an environment variable:\n%s", out.String())
			}
		})
	}
	for _, args := range [][]string{{"help", "keys"}, {"keys", "--help"}, {"help", "audit"}, {"--help"}} {
		var out bytes.Buffer
		if err := run(t.Context(), args, env(nil), nil, &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, w := range []string{"keys list", "keys create"} {
			if args[len(args)-1] != "audit" && !strings.Contains(out.String(), w) {
				t.Errorf("%v lacks %q:\n%s", args, w, out.String())
			}
		}
	}
	// An operation's flags are not read from the environment.
	s := cliServer{server: &server{url: "http://127.0.0.1:1"}}
	wantExit(t, s.cliRun(t, "kw_x", map[string]string{"KEYWARD_YES": "true"}, nil, "keys", "delete", "key-1"), exitUsage, "--yes")
}

// TestHumanTime: times relative to now, in both directions.
func TestHumanTime(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"},
		{-30 * time.Second, "just now"},
		{-time.Minute, "1 minute ago"},
		{-3 * time.Minute, "3 minutes ago"},
		{-time.Hour, "1 hour ago"},
		{-5 * time.Hour, "5 hours ago"},
		{2 * 24 * time.Hour, "in 2 days"},
		{30 * 24 * time.Hour, "in 30 days"},
		{-90 * 24 * time.Hour, "3 months ago"},
		{2 * 365 * 24 * time.Hour, "in 2 years"},
	}
	for _, tt := range tests {
		at := now.Add(tt.d)
		if got := humanTime(&at, now, "never"); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := humanTime(nil, now, "never"); got != "never" {
		t.Errorf("nil: %q", got)
	}
}

// TestCLIExitStatusProcess runs the real binary: main exits with the
// status the error maps to, and prints the error as one line.
func TestCLIExitStatusProcess(t *testing.T) {
	s := startCLIServer(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args  []string
		stdin string
		code  int
	}{
		{[]string{"keys", "list", "--org", "acme"}, "", 0},
		{[]string{"keys", "get", "key-1"}, "", exitNotFound},
		{[]string{"keys", "list", "--state", "bogus"}, "", exitUsage},
		{[]string{"verify", "-"}, "kw_nope\n", exitNotValid},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(exe, tt.args...)
			cmd.Env = append(os.Environ(), "KEYWARD_TEST_RUN_MAIN=1", "KEYWARD_URL="+s.url, "KEYWARD_API_KEY="+s.root)
			cmd.Stdin = strings.NewReader(tt.stdin)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, stderr.String())
			}
			if tt.code != 0 && (strings.Count(stderr.String(), "\n") != 1 || !strings.HasPrefix(stderr.String(), "keyward: ")) {
				t.Errorf("stderr is not one line starting keyward: %q", stderr.String())
			}
			if strings.Contains(stderr.String(), s.root) {
				t.Error("the root key is on stderr")
			}
		})
	}
}

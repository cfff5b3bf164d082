package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is keyward serve running as a real process (this test binary,
// re-executed as the keyward command).
type proc struct {
	cmd    *exec.Cmd
	url    string
	root   string // the bootstrap root key, if this start printed one
	stdout *lineWriter
	stderr *lineWriter
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited is closed
}

// done returns a channel that yields the exit status once the process has
// exited; it may be called any number of times.
func (p *proc) done() <-chan error {
	c := make(chan error, 1)
	go func() { <-p.exited; c <- p.err }()
	return c
}

// startProcess starts keyward serve on db. On a fresh database it waits for
// the root key that the first start prints (stdout and stderr are copied
// separately, so the key may arrive after the "listening" line).
func startProcess(t *testing.T, db string, fresh bool) *proc {
	t.Helper()
	return startProcessWith(t, fresh, "--db", db)
}

// startProcessWith starts keyward serve with the given database flags.
func startProcessWith(t *testing.T, fresh bool, dbArgs ...string) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, dbArgs...)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "KEYWARD_TEST_RUN_MAIN=1")
	p := &proc{cmd: cmd, stderr: newLineWriter(), exited: make(chan struct{})}
	p.stdout = newLineWriter()
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	p.url = "http://" + p.stderr.waitFor(t, listeningRE, p.done())
	if fresh {
		p.root = p.stdout.waitFor(t, rootKeyRE, p.done())
	}
	return p
}

// TestGracefulShutdown sends SIGTERM while a request is half-sent: the
// request still completes, and the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	p := startProcess(t, filepath.Join(t.TempDir(), "keyward.db"), true)
	body := `{"name":"in flight","permissions":["read"]}`
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /orgs/acme/api_keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		p.root, len(body), body[:10])
	time.Sleep(100 * time.Millisecond) // let the server start reading the request
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.stderr.waitFor(t, regexp.MustCompile(`"msg":"(shutting down)`), p.done())
	fmt.Fprint(conn, body[10:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request lost: %v", err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight request: %d", resp.StatusCode)
	}
	resp.Body.Close()
	select {
	case err := <-p.done():
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("process did not exit after SIGTERM")
	}
}

// TestCrashDurability kills the process with SIGKILL right after the API
// acknowledged a create and a delete: after a restart both hold.
func TestCrashDurability(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keyward.db")
	p := startProcess(t, db, true)
	status, body := call(t, "POST", p.url+"/orgs/acme/api_keys", p.root, `{"name":"kept","permissions":["manage"]}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d", status)
	}
	var kept struct{ ID, Key string }
	_ = json.Unmarshal(body, &kept)
	status, body = call(t, "POST", p.url+"/orgs/acme/api_keys", p.root, `{"name":"revoked","permissions":["manage"]}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d", status)
	}
	var revoked struct{ ID, Key string }
	_ = json.Unmarshal(body, &revoked)
	if status, _ := call(t, "DELETE", p.url+"/orgs/acme/api_keys/"+revoked.ID, p.root, ""); status != http.StatusOK {
		t.Fatalf("delete: %d", status)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited

	p2 := startProcess(t, db, false)
	if status, _ := call(t, "GET", p2.url+"/orgs/acme/api_keys", kept.Key, ""); status != http.StatusOK {
		t.Errorf("acknowledged create lost in the crash: %d", status)
	}
	if status, _ := call(t, "GET", p2.url+"/orgs/acme/api_keys", revoked.Key, ""); status != http.StatusUnauthorized {
		t.Errorf("acknowledged delete undone by the crash: %d", status)
	}
	// Checked last, once the restarted process has surely written whatever
	// it would print at start.
	if rootKeyRE.MatchString(p2.stdout.String()) {
		t.Error("restart after a crash printed a new root key")
	}
}

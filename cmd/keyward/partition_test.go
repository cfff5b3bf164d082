package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
)

// stalenessBound is the guarantee under test: serve's default
// --staleness-bound. A key deleted on one instance is refused by every
// other within it of the delete's acknowledgment, whatever the network
// between that other instance and PostgreSQL does.
const stalenessBound = time.Second

// probe is one verification sent to an instance while the test watches
// for the deleted key to be refused.
type probe struct {
	sent, answered time.Time
	status         int
	code           string // for a 200
}

// probeUntil verifies key on p every interval, each request on its own
// goroutine so that one held by a silent database does not hold the
// others back, until end; it returns every probe once all are answered.
func probeUntil(t *testing.T, p *proc, key string, end time.Time) []probe {
	t.Helper()
	var (
		mu     sync.Mutex
		probes []probe
		wg     sync.WaitGroup
	)
	client := &http.Client{Timeout: 30 * time.Second}
	for time.Now().Before(end) {
		wg.Go(func() {
			pr := probe{sent: time.Now()}
			resp, err := client.Post(p.url+"/verify", "application/json", strings.NewReader(`{"key":"`+key+`"}`))
			pr.answered = time.Now()
			if err != nil {
				t.Errorf("verify on %s: %v", p.url, err)
				return
			}
			defer resp.Body.Close()
			pr.status = resp.StatusCode
			if resp.StatusCode == http.StatusOK {
				var v struct{ Code string }
				b, _ := io.ReadAll(resp.Body)
				if err := json.Unmarshal(b, &v); err != nil {
					t.Errorf("verify body %q: %v", b, err)
				}
				pr.code = v.Code
			}
			mu.Lock()
			probes = append(probes, pr)
			mu.Unlock()
		})
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	slices.SortFunc(probes, func(a, b probe) int { return a.sent.Compare(b.sent) })
	return probes
}

// checkRefused checks the guarantee on the probes of one trial: no
// request sent more than the bound after the delete was acknowledged was
// answered VALID. (Its answer was made after it was sent, so such a VALID
// would certainly break the guarantee; the measurement cannot accuse an
// instance falsely however slow the machine.) It also checks that the
// instance did refuse the key in the end, and returns how long after the
// acknowledgment the last VALID answer arrived: the window observed.
func checkRefused(t *testing.T, trial string, acked time.Time, probes []probe) time.Duration {
	t.Helper()
	var window time.Duration
	refused := false
	for _, pr := range probes {
		switch {
		case pr.status == http.StatusOK && pr.code == "VALID":
			if pr.sent.Sub(acked) > stalenessBound {
				t.Errorf("%s: a verification sent %v after the delete was acknowledged answered VALID (bound %v)",
					trial, pr.sent.Sub(acked).Round(time.Millisecond), stalenessBound)
			}
			window = max(window, pr.answered.Sub(acked))
		case pr.status == http.StatusOK && pr.code == "NOT_FOUND", pr.status == http.StatusServiceUnavailable:
			refused = true
		default:
			t.Errorf("%s: verify answered %d %q", trial, pr.status, pr.code)
		}
	}
	if len(probes) == 0 {
		t.Fatalf("%s: no verification was answered", trial)
	}
	if last := probes[len(probes)-1]; !refused || last.code == "VALID" {
		t.Errorf("%s: the deleted key was still accepted at the end of the trial", trial)
	}
	return window
}

// verifyCodeOrStatus asks p to verify key and returns the outcome's code,
// or the status if it is not 200.
func verifyCodeOrStatus(t *testing.T, p *proc, key string) string {
	t.Helper()
	status, body := call(t, "POST", p.url+"/verify", "", `{"key":"`+key+`"}`)
	if status != http.StatusOK {
		return fmt.Sprint(status)
	}
	var v struct{ Code string }
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return v.Code
}

// waitHealthy waits until p verifies a new key of a's as VALID: its link
// to the database works again.
func waitHealthy(t *testing.T, a, p *proc) {
	t.Helper()
	_, secret := createOn(t, a, a.root)
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, body := call(t, "POST", p.url+"/verify", "", `{"key":"`+secret+`"}`)
		if status == http.StatusOK && strings.Contains(string(body), `"VALID"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance B did not recover within 60s: %d %s", status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRevocationUnderPartition runs two keyward processes on one
// PostgreSQL database, B behind a proxy that the test can black-hole or
// reset, and checks the staleness guarantee over repeated trials: a key B
// has cached, deleted on A, is refused by B within the bound of A's
// acknowledgment.
//
//   - silent: B's link drops every packet (nothing is closed) from before
//     the delete until after the bound.
//   - reset: B's connections are reset just before B caches the key
//     again through fresh pool connections, and A deletes it right after,
//     while B's watcher may still be reconnecting (its first retry comes
//     after 50 ms or so: whether the delete lands in that gap varies from
//     trial to trial; the bound must hold either way).
func TestRevocationUnderPartition(t *testing.T) {
	direct := pgtest.URL(t)
	proxy := pgtest.NewProxy(t, direct)
	// The probes verify the deleted key again and again: no failure
	// throttle (its own test is elsewhere).
	a := startProcessWith(t, true, "--database-url", direct, "--failure-burst", "0")
	b := startProcessWith(t, false, "--database-url", proxy.URL, "--failure-burst", "0")
	const trials = 4

	for _, fault := range []string{"silent", "reset"} {
		var windows []time.Duration
		for i := range trials {
			trial := fmt.Sprintf("%s trial %d", fault, i)
			waitHealthy(t, a, b)
			id, secret := createOn(t, a, a.root)
			// B caches the key. The create's own notification reaches B
			// within milliseconds and makes it forget the key; a second
			// verification after that caches it for the trial.
			for range 2 {
				if code := verifyCode(t, b, secret); code != "VALID" {
					t.Fatalf("%s: a key created on A verifies %s on B", trial, code)
				}
				time.Sleep(50 * time.Millisecond)
			}
			switch fault {
			case "silent":
				proxy.Freeze()
			case "reset":
				// The pool's first use of a dead connection fails; B then
				// refills its cache through new ones while its watcher is
				// still reconnecting: the gap the guarantee must cover.
				proxy.Reset()
				for deadline := time.Now().Add(10 * time.Second); verifyCodeOrStatus(t, b, secret) != "VALID"; {
					if time.Now().After(deadline) {
						t.Fatalf("%s: B does not verify the key through new connections after the reset", trial)
					}
				}
			}
			if status, body := call(t, "DELETE", a.url+"/orgs/acme/api_keys/"+id, a.root, ""); status != http.StatusOK {
				t.Fatalf("%s: delete on A: %d %s", trial, status, body)
			}
			acked := time.Now()
			probes := probeUntil(t, b, secret, acked.Add(stalenessBound+time.Second))
			proxy.Thaw()
			windows = append(windows, checkRefused(t, trial, acked, probes))
		}
		slices.Sort(windows)
		t.Logf("%s link: last VALID answer after the delete's acknowledgment over %d trials: min %v, max %v (bound %v)",
			fault, trials, windows[0].Round(time.Millisecond), windows[len(windows)-1].Round(time.Millisecond), stalenessBound)
	}
}

// TestSilentDatabase cuts an instance's link to PostgreSQL without closing
// it (every byte held): every route that needs the database answers 503
// problem+json with Retry-After within its deadline rather than hanging
// for as long as the silence lasts; a client that gives up is no error of
// the server's; and once the link is back everything works again.
func TestSilentDatabase(t *testing.T) {
	const read, write = 300 * time.Millisecond, 600 * time.Millisecond
	direct := pgtest.URL(t)
	proxy := pgtest.NewProxy(t, direct)
	const bound = 3 * time.Second
	p := startProcessWith(t, true, "--database-url", proxy.URL, "--staleness-bound", bound.String(),
		"--db-read-timeout", read.String(), "--db-write-timeout", write.String())
	id, secret := createOn(t, p, p.root)
	if code := verifyCode(t, p, secret); code != "VALID" {
		t.Fatalf("before the silence: %s", code)
	}

	type request struct {
		method, path, key, body string
		deadline                time.Duration
	}
	check := func(rq request) {
		t.Helper()
		req, _ := http.NewRequest(rq.method, p.url+rq.path, strings.NewReader(rq.body))
		if rq.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if rq.key != "" {
			req.Header.Set("Authorization", "Bearer "+rq.key)
		}
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != "application/problem+json" || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s with the database silent: %d %s, Retry-After %q; want a 503 problem with Retry-After",
				rq.method, rq.path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"))
		}
		// The deadline, with room for a loaded machine: the point is that
		// the answer does not wait for the database to come back.
		if took > rq.deadline+2*time.Second {
			t.Errorf("%s %s with the database silent took %v; its deadline is %v", rq.method, rq.path, took, rq.deadline)
		}
		t.Logf("%s %s: %d in %v (deadline %v)", rq.method, rq.path, resp.StatusCode, took.Round(time.Millisecond), rq.deadline)
	}

	proxy.Freeze()
	frozen := time.Now()
	// While the cache is still trusted, the root key authenticates from
	// memory, and each route's own database call meets its deadline.
	for _, rq := range []request{
		{"GET", "/orgs/acme/api_keys", p.root, "", read},
		{"GET", "/orgs/acme/api_keys/" + id, p.root, "", read},
		{"GET", "/api_keys/" + id, p.root, "", read},
		{"POST", "/orgs/acme/api_keys", p.root, `{"name":"during","permissions":["read"]}`, write},
		{"DELETE", "/orgs/acme/api_keys/" + id, p.root, "", write},
	} {
		check(rq)
	}
	if time.Since(frozen) > bound {
		t.Log("the cache's trust ran out before every write was tried: those were refused at authentication")
	}
	// Once the trust has run out, verifications read the database too.
	time.Sleep(time.Until(frozen.Add(bound + 200*time.Millisecond)))
	for _, rq := range []request{
		{"POST", "/verify", "", `{"key":"` + secret + `"}`, read},
		{"POST", "/verify", "", `{"key":"` + keywardSecret(t) + `"}`, read},
		{"GET", "/orgs/acme/api_keys", p.root, "", read},
		{"GET", "/readyz", "", "", 2 * time.Second},
	} {
		check(rq)
	}
	if status, _ := call(t, "GET", p.url+"/healthz", "", ""); status != http.StatusOK {
		t.Errorf("healthz with the database silent: %d (the process is up)", status)
	}

	// A client that gives up before the answer: the server logs a 499 at
	// info level (a management request: verifications log at debug), and
	// no error.
	before := len(p.stderr.String())
	req, _ := http.NewRequest("GET", p.url+"/orgs/acme/api_keys", nil)
	req.Header.Set("Authorization", "Bearer "+p.root)
	if resp, err := (&http.Client{Timeout: read / 3}).Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the impatient client got an answer: %d", resp.StatusCode)
	}
	line := p.stderr.waitFor(t, regexp.MustCompile(`(\{[^\n]*"route":"GET /orgs/\{org_id\}/api_keys","status":499[^\n]*\})`), nil)
	if !strings.Contains(line, `"level":"INFO"`) {
		t.Errorf("an abandoned request is logged as %s", line)
	}
	time.Sleep(read) // whatever the abandoned request still logs
	for _, l := range strings.Split(p.stderr.String()[before:], "\n") {
		if strings.Contains(l, `"level":"ERROR"`) {
			t.Errorf("an abandoned request logged an error: %s", l)
		}
	}

	proxy.Thaw()
	deadline := time.Now().Add(30 * time.Second)
	for verifyCodeOrStatus(t, p, secret) != "VALID" {
		if time.Now().After(deadline) {
			t.Fatal("the key does not verify 30s after the database came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status, body := call(t, "GET", p.url+"/orgs/acme/api_keys/"+id, p.root, ""); status != http.StatusOK {
		t.Fatalf("after the silence, the key acknowledged before it: %d %s", status, body)
	}
}

// keywardSecret returns a well-formed secret of no key.
func keywardSecret(t *testing.T) string {
	t.Helper()
	return keyward.NewSecret().Reveal()
}

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/internal/redistest"
)

// createWithLimits creates a key in acme through p with the given
// rate_limits array and returns its secret, once the key reads back with
// them.
func createWithLimits(t *testing.T, p *proc, root, limits string) string {
	t.Helper()
	status, body := call(t, "POST", p.url+"/orgs/acme/api_keys", root, `{"name":"limited","permissions":["read"],"rate_limits":`+limits+`}`)
	if status != http.StatusCreated {
		t.Fatalf("create on %s: %d %s", p.url, status, body)
	}
	var k struct {
		ID, Key    string
		RateLimits []json.RawMessage `json:"rate_limits"`
	}
	if err := json.Unmarshal(body, &k); err != nil {
		t.Fatal(err)
	}
	_, body = call(t, "GET", p.url+"/orgs/acme/api_keys/"+k.ID, root, "")
	var stored struct {
		RateLimits []json.RawMessage `json:"rate_limits"`
	}
	if err := json.Unmarshal(body, &stored); err != nil {
		t.Fatal(err)
	}
	if len(stored.RateLimits) == 0 {
		t.Fatalf("a key created with %s reads back without them", limits)
	}
	return k.Key
}

// verifyLimited verifies key on url and returns the code and the
// rate_limits of the answer, for goroutines (which must not call
// t.Fatal).
func verifyLimited(client *http.Client, url, key string) (string, []limitAnswer, error) {
	resp, err := client.Post(url+"/verify", "application/json", strings.NewReader(`{"key":"`+key+`"}`))
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	var v struct {
		Code       string        `json:"code"`
		RateLimits []limitAnswer `json:"rate_limits"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return "", nil, err
	}
	return v.Code, v.RateLimits, nil
}

// limitAnswer is one limit in a /verify answer.
type limitAnswer struct {
	Name      string `json:"name"`
	Limit     int64  `json:"limit"`
	Remaining int64  `json:"remaining"`
	Reset     int64  `json:"reset"`
	Exceeded  bool   `json:"exceeded"`
}

// hammerVerify has clients clients, spread over the processes, verify key
// until each has been refused RATE_LIMITED a few times, and returns how
// many verifications were VALID. It gives up once more than most were
// VALID: a limit not enforced at all must fail the test, not hang it.
func hammerVerify(t *testing.T, ps []*proc, key string, clients int, most int64) int64 {
	t.Helper()
	var valid, limited atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	for i := range clients {
		url := ps[i%len(ps)].url
		wg.Go(func() {
			for refused := 0; refused < 5; {
				code, _, err := verifyLimited(client, url, key)
				switch {
				case err != nil:
					firstErr.CompareAndSwap(nil, err)
					return
				case code == "VALID":
					if valid.Add(1) > most {
						return
					}
				case code == "RATE_LIMITED":
					limited.Add(1)
					refused++
				default:
					firstErr.CompareAndSwap(nil, fmt.Errorf("verify answered %s", code))
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d VALID, %d RATE_LIMITED", valid.Load(), limited.Load())
	return valid.Load()
}

// awayFromWindowEnd waits, if a window of d ends within margin, until it
// has ended, so that a test's hammering falls in one window.
func awayFromWindowEnd(d, margin time.Duration) {
	now := time.Now()
	end := now.Truncate(d).Add(d) // windows of whole seconds are aligned on the epoch
	if end.Sub(now) < margin {
		time.Sleep(time.Until(end) + 10*time.Millisecond)
	}
}

// TestRateLimitAcrossInstances: two keyward processes on one PostgreSQL
// database share one Redis; a key's limit, hammered through both at once,
// admits no more than the limit between them (and, hammered to the end,
// all of it but what one instance may hold unspent), where the same two
// counting in memory admit it twice. One process on SQLite alone,
// counting in memory, admits exactly the limit.
func TestRateLimitAcrossInstances(t *testing.T) {
	const limit = 300
	limits := fmt.Sprintf(`[{"name":"requests","limit":%d,"duration":"60s"}]`, limit)
	t.Run("postgres and redis, two instances", func(t *testing.T) {
		pg := pgtest.URL(t)
		rd := redistest.URL(t)
		prefix := redistest.Prefix(t, rd)
		// Failing closed, with time to spare: on a loaded machine a slow
		// answer must not turn into admissions failing open, which would
		// hide what the test measures.
		redisArgs := []string{"--redis-url", rd, "--redis-key-prefix", prefix, "--redis-failure-mode", "closed", "--redis-timeout", "2s"}
		a := startProcessWith(t, true, append([]string{"--database-url", pg}, redisArgs...)...)
		b := startProcessWith(t, false, append([]string{"--database-url", pg}, redisArgs...)...)
		for run := range 3 {
			secret := createWithLimits(t, a, a.root, limits)
			awayFromWindowEnd(time.Minute, 10*time.Second)
			valid := hammerVerify(t, []*proc{a, b}, secret, 16, 4*limit)
			t.Logf("run %d: %d admitted of a limit of %d over two instances (%.1f%%)", run, valid, limit, 100*float64(valid)/limit)
			if valid > limit {
				t.Errorf("run %d: %d VALID over two instances, over the limit of %d", run, valid, limit)
			}
			if valid < limit*9/10 {
				t.Errorf("run %d: %d VALID over two instances, under 90%% of the limit of %d", run, valid, limit)
			}
		}
	})
	// The control: the same two instances counting in memory each admit
	// the whole limit, which is what Redis is there to prevent.
	t.Run("postgres without redis, two instances", func(t *testing.T) {
		pg := pgtest.URL(t)
		a := startProcessWith(t, true, "--database-url", pg)
		b := startProcessWith(t, false, "--database-url", pg)
		secret := createWithLimits(t, a, a.root, limits)
		awayFromWindowEnd(time.Minute, 10*time.Second)
		if valid := hammerVerify(t, []*proc{a, b}, secret, 16, 4*limit); valid != 2*limit {
			t.Errorf("%d VALID over two instances counting alone, want twice the limit of %d", valid, limit)
		}
	})
	t.Run("sqlite alone, in memory", func(t *testing.T) {
		p := startProcess(t, filepath.Join(t.TempDir(), "keyward.db"), true)
		secret := createWithLimits(t, p, p.root, limits)
		awayFromWindowEnd(time.Minute, 10*time.Second)
		if valid := hammerVerify(t, []*proc{p}, secret, 16, 4*limit); valid != limit {
			t.Errorf("%d VALID on one instance, want exactly the limit of %d", valid, limit)
		}
	})
}

// TestRedisDownAtVerify: with Redis unreachable, a key with rate limits
// follows the failure mode (fail-open: VALID; fail-closed: RATE_LIMITED,
// the limit reported with nothing remaining), and a key without limits
// verifies as ever.
func TestRedisDownAtVerify(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "redis://" + ln.Addr().String() + "/0"
	ln.Close()
	for _, tt := range []struct{ mode, want string }{{"open", "VALID"}, {"closed", "RATE_LIMITED"}} {
		t.Run(tt.mode, func(t *testing.T) {
			p := startProcessWith(t, true, "--db", filepath.Join(t.TempDir(), "keyward.db"),
				"--redis-url", dead, "--redis-failure-mode", tt.mode)
			secret := createWithLimits(t, p, p.root, `[{"name":"requests","limit":100,"duration":"60s"}]`)
			_, plain := createOn(t, p, p.root)
			client := &http.Client{}
			for i := range 3 {
				code, states, err := verifyLimited(client, p.url, secret)
				if err != nil {
					t.Fatal(err)
				}
				if code != tt.want {
					t.Fatalf("verify %d with Redis down, fail-%s: %s, want %s", i, tt.mode, code, tt.want)
				}
				if tt.mode == "closed" && (len(states) != 1 || states[0].Remaining != 0 || !states[0].Exceeded || states[0].Limit != 100) {
					t.Errorf("fail-closed answer's limits: %+v, want the limit with nothing remaining", states)
				}
				if code := verifyCode(t, p, plain); code != "VALID" {
					t.Errorf("a key without limits, with Redis down: %s", code)
				}
			}
		})
	}
}

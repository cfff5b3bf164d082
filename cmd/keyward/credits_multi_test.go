package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/keyward/keyward/internal/pgtest"
)

// createWithCredits creates a key in acme through p with the given
// credits object and returns its id and secret.
func createWithCredits(t *testing.T, p *proc, root, credits string) (id, secret string) {
	t.Helper()
	status, body := call(t, "POST", p.url+"/orgs/acme/api_keys", root, `{"name":"metered","permissions":["read"],"credits":`+credits+`}`)
	if status != http.StatusCreated {
		t.Fatalf("create on %s: %d %s", p.url, status, body)
	}
	var k struct{ ID, Key string }
	if err := json.Unmarshal(body, &k); err != nil {
		t.Fatal(err)
	}
	return k.ID, k.Key
}

// creditsLeft reads what a key has left, through p.
func creditsLeft(t *testing.T, p *proc, root, id string) int64 {
	t.Helper()
	status, body := call(t, "GET", p.url+"/orgs/acme/api_keys/"+id, root, "")
	if status != http.StatusOK {
		t.Fatalf("get on %s: %d %s", p.url, status, body)
	}
	var k struct {
		Credits *struct{ Remaining int64 }
	}
	if err := json.Unmarshal(body, &k); err != nil || k.Credits == nil {
		t.Fatalf("get: %v, %s", err, body)
	}
	return k.Credits.Remaining
}

// verifyQuietly verifies key on url and returns the code, for goroutines
// (which must not call t.Fatal).
func verifyQuietly(client *http.Client, url, key string) (string, error) {
	resp, err := client.Post(url+"/verify", "application/json", strings.NewReader(`{"key":"`+key+`"}`))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	var v struct{ Code string }
	if err := json.Unmarshal(body, &v); err != nil {
		return "", err
	}
	return v.Code, nil
}

// TestCreditsExactAcrossInstances hammers one key with credits from two
// instances at once: exactly as many verifications are VALID as there
// were credits, never one more, whichever instance answers.
func TestCreditsExactAcrossInstances(t *testing.T) {
	for _, backend := range []string{"postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			var a, b *proc
			if backend == "postgres" {
				url := pgtest.URL(t)
				a = startProcessWith(t, true, "--database-url", url)
				b = startProcessWith(t, false, "--database-url", url)
			} else {
				db := filepath.Join(t.TempDir(), "shared.db")
				a = startProcess(t, db, true)
				b = startProcess(t, db, false)
			}
			const granted = 300
			id, secret := createWithCredits(t, a, a.root, fmt.Sprintf(`{"remaining":%d}`, granted))

			var valid, exceeded, other atomic.Int64
			var firstErr atomic.Value
			var wg sync.WaitGroup
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			for i := range 16 {
				url := a.url
				if i%2 == 1 {
					url = b.url
				}
				wg.Go(func() {
					// Each client goes on until it has been refused a few
					// times (the credits are gone), or has sent what would
					// spend every credit twice over: a store that stopped
					// spending fails the test rather than hang it.
					for refused, sent := 0, 0; refused < 5 && sent < 2*granted; sent++ {
						code, err := verifyQuietly(client, url, secret)
						switch {
						case err != nil:
							firstErr.CompareAndSwap(nil, err)
							return
						case code == "VALID":
							valid.Add(1)
						case code == "USAGE_EXCEEDED":
							exceeded.Add(1)
							refused++
						default:
							other.Add(1)
							refused++
						}
					}
				})
			}
			wg.Wait()
			if err := firstErr.Load(); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d VALID, %d USAGE_EXCEEDED, %d other, from two instances, for %d credits", valid.Load(), exceeded.Load(), other.Load(), granted)
			if valid.Load() != granted || other.Load() != 0 {
				t.Errorf("%d verifications were VALID (and %d neither VALID nor USAGE_EXCEEDED) for %d credits", valid.Load(), other.Load(), granted)
			}
			for _, p := range []*proc{a, b} {
				if left := creditsLeft(t, p, a.root, id); left != 0 {
					t.Errorf("%s shows %d credits left, want 0", p.url, left)
				}
			}
		})
	}
}

// TestCreditsSurviveACrash: credits spent and acknowledged stay spent
// across a kill -9, and the rest stay available.
func TestCreditsSurviveACrash(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keyward.db")
	p := startProcess(t, db, true)
	root := p.root
	id, secret := createWithCredits(t, p, root, `{"remaining":10}`)
	for range 4 {
		if code := verifyCode(t, p, secret); code != "VALID" {
			t.Fatalf("verify: %s", code)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited

	p2 := startProcess(t, db, false)
	if left := creditsLeft(t, p2, root, id); left != 6 {
		t.Errorf("after a crash, %d credits left of 10 with 4 spent", left)
	}
	for range 6 {
		if code := verifyCode(t, p2, secret); code != "VALID" {
			t.Fatalf("verify after the crash: %s", code)
		}
	}
	if code := verifyCode(t, p2, secret); code != "USAGE_EXCEEDED" {
		t.Errorf("the 11th verification of 10 credits: %s", code)
	}
}

// Command traffic puts a mix of real traffic through a running keyward,
// so that the dashboard's screenshot (docs/grafana) shows every row
// moving: verifications that pass, that are rate limited, that lack a
// permission, made-up keys (which the failure throttle ends up refusing),
// and management calls (creates, deletes, lists, a refused key). The rate
// swells and ebbs over a few minutes, and a burst of made-up keys comes in
// the middle, as an operator would see it.
//
//	KEYWARD_API_KEY=$ROOT go run ./tools/dashboard/traffic -url http://127.0.0.1:18080 -duration 6m
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "traffic:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("traffic", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "the keyward to call")
	rate := fs.Float64("rate", 120, "mean verifications a second")
	duration := fs.Duration("duration", 6*time.Minute, "how long to run")
	org := fs.String("org", "acme", "organization of the keys it creates")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root := getenv("KEYWARD_API_KEY")
	if root == "" {
		return errors.New("KEYWARD_API_KEY must hold a root key")
	}
	t := &traffic{base: *base, root: root, org: *org, client: &http.Client{Timeout: 10 * time.Second}}
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()

	// Keys to verify: plain ones, and a few with a tight rate limit.
	var plain, limited []string
	for i := range 40 {
		k, err := t.create(ctx, fmt.Sprintf("service %d", i), "")
		if err != nil {
			return err
		}
		plain = append(plain, k.Key)
	}
	for i := range 4 {
		k, err := t.create(ctx, fmt.Sprintf("metered %d", i), `,"rate_limits":[{"name":"requests","limit":3,"duration":"1s"}]`)
		if err != nil {
			return err
		}
		limited = append(limited, k.Key)
	}
	fmt.Fprintf(stderr, "traffic: %d keys, %d with a limit; %.0f verifications/s for %s\n", len(plain), len(limited), *rate, *duration)

	start := time.Now()
	jobs := make(chan func(), 64)
	var wg sync.WaitGroup
	for range 96 { // made-up keys of a throttled address are held up to --failure-hold
		wg.Go(func() {
			for job := range jobs {
				job()
			}
		})
	}
	go t.manage(ctx)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	owed := 0.0
	for ctx.Err() == nil {
		<-tick.C
		elapsed := time.Since(start)
		// The rate swells and ebbs over three minutes.
		r := *rate * (1 + 0.6*math.Sin(2*math.Pi*elapsed.Seconds()/180))
		// Made-up keys: fewer than the throttle's refill of one a
		// second, but for a minute in the middle when someone tries keys.
		madeUp := 0.005
		if m := elapsed.Minutes(); m > 2.5 && m < 3.5 {
			madeUp = 0.35
		}
		owed += r / 100
		for ; owed >= 1; owed-- {
			var job func()
			switch p := rand.Float64(); {
			case p < madeUp:
				job = func() { t.verify(ctx, madeUpKey(), "") }
			case p < madeUp+0.08:
				job = func() { t.verify(ctx, limited[rand.IntN(len(limited))], "") }
			case p < madeUp+0.11:
				job = func() { t.verify(ctx, plain[rand.IntN(len(plain))], "write") }
			default:
				job = func() { t.verify(ctx, plain[rand.IntN(len(plain))], "") }
			}
			select {
			case jobs <- job:
			default: // behind: drop rather than queue without end
				t.dropped.Add(1)
			}
		}
	}
	close(jobs)
	wg.Wait()
	fmt.Fprintf(stderr, "traffic: %d verifications, %d management calls, %d dropped, %d transport errors\n",
		t.verifies.Load(), t.manages.Load(), t.dropped.Load(), t.errors.Load())
	return nil
}

// madeUpKey returns a key that no stored key has, yet well formed
// (checksum included): one that passes the format check and reaches the
// membership set, as a guesser's, or a deleted key's, would.
func madeUpKey() string { return keyward.NewSecret().Reveal() }

type traffic struct {
	base, root, org string
	client          *http.Client

	verifies, manages, dropped, errors atomic.Int64
}

type createdKey struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

func (t *traffic) do(ctx context.Context, method, path, key, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, t.base+path, bytes.NewBufferString(body))
	if err != nil {
		return 0, nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			t.errors.Add(1)
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (t *traffic) create(ctx context.Context, name, extra string) (createdKey, error) {
	body := fmt.Sprintf(`{"name":%q,"permissions":["read"]%s}`, name, extra)
	status, b, err := t.do(ctx, "POST", "/orgs/"+t.org+"/api_keys", t.root, body)
	if err != nil {
		return createdKey{}, fmt.Errorf("create key: %w", err)
	}
	if status != http.StatusCreated {
		return createdKey{}, fmt.Errorf("create key: %d %s", status, b)
	}
	var k createdKey
	if err := json.Unmarshal(b, &k); err != nil {
		return createdKey{}, fmt.Errorf("create key: %w", err)
	}
	return k, nil
}

func (t *traffic) verify(ctx context.Context, key, permission string) {
	body := fmt.Sprintf(`{"key":%q}`, key)
	if permission != "" {
		body = fmt.Sprintf(`{"key":%q,"permissions":[%q]}`, key, permission)
	}
	if _, _, err := t.do(ctx, "POST", "/verify", "", body); err == nil {
		t.verifies.Add(1)
	}
}

// manage creates and deletes keys, lists them, and now and then calls
// with a key that does not exist (a 401) or asks for one that does not
// (a 404), as the consoles and scripts of a real deployment do.
func (t *traffic) manage(ctx context.Context) {
	var made []string
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.manages.Add(1)
		switch {
		case n%8 == 0:
			if k, err := t.create(ctx, fmt.Sprintf("short-lived %d", n), ""); err == nil {
				made = append(made, k.ID)
			}
		case n%12 == 6 && len(made) > 3:
			id := made[0]
			made = made[1:]
			_, _, _ = t.do(ctx, "DELETE", "/orgs/"+t.org+"/api_keys/"+id, t.root, "")
		case n%20 == 3:
			_, _, _ = t.do(ctx, "GET", "/orgs/"+t.org+"/api_keys", "kw_not_a_key_at_all_0000000000", "")
		case n%25 == 7:
			_, _, _ = t.do(ctx, "GET", "/orgs/"+t.org+"/api_keys/key-0", t.root, "")
		case n%3 == 1 && len(made) > 0:
			_, _, _ = t.do(ctx, "GET", "/orgs/"+t.org+"/api_keys/"+made[len(made)-1], t.root, "")
		default:
			_, _, _ = t.do(ctx, "GET", "/orgs/"+t.org+"/api_keys?limit=20", t.root, "")
		}
	}
}

package main

import (
	"bufio"
	"bytes"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var metricsListeningRE = regexp.MustCompile(`"msg":"metrics listening","addr":"([^"]+)"`)

// scrape reads /metrics into series → value ("name{labels}" as
// Prometheus's text format writes it, labels sorted by name).
func scrape(t *testing.T, addr string) (map[string]float64, string) {
	t.Helper()
	status, body := call(t, "GET", "http://"+addr+"/metrics", "", "")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", status, body)
	}
	series := make(map[string]float64)
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics: %q: %v", line, err)
		}
		series[line[:i]] = v
	}
	return series, string(body)
}

// --metrics-addr serves Prometheus metrics on a listener of its own, and
// each family moves when what it counts happens: verifications by
// outcome, requests by route, the cache, the database pools, the
// last-used flush, the failure throttle, the feed's confirmation. No
// secret is in it.
func TestMetrics(t *testing.T) {
	db := filepath.Join(t.TempDir(), "k.db")
	p := startProcessWith(t, true, "--db", db, "--metrics-addr", "127.0.0.1:0",
		"--last-used-interval", "50ms", "--failure-burst", "2", "--failure-hold", "0")
	addr := p.stderr.waitFor(t, metricsListeningRE, p.done())
	before, _ := scrape(t, addr)

	_, secret := createOn(t, p, p.root)
	for range 2 {
		if code := verifyCode(t, p, secret); code != "VALID" {
			t.Fatalf("verify: %s", code)
		}
	}
	status, body := call(t, "POST", p.url+"/verify", "", `{"key":"`+secret+`","permissions":["write"]}`)
	if status != http.StatusOK || !strings.Contains(string(body), "INSUFFICIENT_PERMISSIONS") {
		t.Fatalf("verify with a permission the key lacks: %d %s", status, body)
	}
	// Made-up keys from this address: NOT_FOUND twice (the burst), then
	// the throttle's 429.
	throttled := false
	for range 6 {
		status, _ := call(t, "POST", p.url+"/verify", "", `{"key":"kw_made_up_key_that_does_not_exist"}`)
		throttled = throttled || status == http.StatusTooManyRequests
	}
	if !throttled {
		t.Fatal("no 429 after six failures with --failure-burst 2")
	}

	// The last uses are flushed every 50 ms. The key is cached once
	// verified after the feed has passed on its create (which, as any
	// change, evicts what this instance held of it): verify it again
	// until it is. The feed confirms, and the set is complete.
	var after map[string]float64
	var text string
	deadline := time.Now().Add(30 * time.Second)
	for {
		after, text = scrape(t, addr)
		if after["keyward_last_used_flushed_keys_total"] >= 1 && after["keyward_cache_entries"] >= 1 &&
			after["keyward_cache_trusted"] == 1 && after["keyward_cache_members_complete"] == 1 &&
			after["keyward_invalidation_lag_seconds_count"] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 30 s: %v last uses flushed, %v keys cached, trusted %v, set complete %v, %v invalidation lags; want the key's, 1, 1 and its create's",
				after["keyward_last_used_flushed_keys_total"], after["keyward_cache_entries"],
				after["keyward_cache_trusted"], after["keyward_cache_members_complete"],
				after["keyward_invalidation_lag_seconds_count"])
		}
		time.Sleep(20 * time.Millisecond)
		if code := verifyCode(t, p, secret); code != "VALID" {
			t.Fatalf("verify: %s", code)
		}
	}
	moved := func(series string, atLeast float64) {
		t.Helper()
		got, ok := after[series]
		if !ok {
			t.Errorf("%s: not in /metrics", series)
			return
		}
		if d := got - before[series]; d < atLeast {
			t.Errorf("%s moved by %v, want at least %v", series, d, atLeast)
		}
	}
	present := func(series string) float64 {
		t.Helper()
		v, ok := after[series]
		if !ok {
			t.Errorf("%s: not in /metrics", series)
		}
		return v
	}
	moved(`keyward_verifications_total{code="VALID"}`, 2)
	moved(`keyward_verifications_total{code="INSUFFICIENT_PERMISSIONS"}`, 1)
	moved(`keyward_verifications_total{code="NOT_FOUND"}`, 2)
	moved(`keyward_http_request_duration_seconds_count{code="2xx",route="POST /verify"}`, 5)
	moved(`keyward_http_request_duration_seconds_count{code="2xx",route="POST /orgs/{org_id}/api_keys"}`, 1)
	moved(`keyward_http_request_duration_seconds_count{code="4xx",route="POST /verify"}`, 1)
	moved(`keyward_cache_lookups_total{result="hit"}`, 1) // 2 but for a reset between the verifies
	moved(`keyward_cache_store_lookups_total`, 0)
	moved(`keyward_failure_throttle_failures_total`, 2)
	moved(`keyward_failure_throttle_throttled_total`, 1)
	moved(`keyward_last_used_flush_duration_seconds_count`, 1)
	// The create of the key, read from SQLite's log by the feed.
	moved(`keyward_invalidation_lag_seconds_count`, 1)
	if v := present(`keyward_db_connections_max{pool="write"}`); v != 1 {
		t.Errorf("SQLite's writer pool: max %v connections, want 1", v)
	}
	present(`keyward_db_connections{pool="read",state="idle"}`)
	present(`keyward_db_waits_total{pool="read"}`)
	if v := present(`keyward_invalidation_feed_confirmation_age_seconds`); v < 0 {
		t.Errorf("confirmation age %v", v)
	}
	present(`keyward_cache_warming`)
	present(`go_goroutines`)
	present(`process_resident_memory_bytes`)
	if strings.Contains(text, secret) || strings.Contains(text, p.root) {
		t.Error("/metrics shows a secret")
	}
	// Not on the API's own port.
	if status, _ := call(t, "GET", p.url+"/metrics", "", ""); status != http.StatusNotFound {
		t.Errorf("/metrics on the API's address: %d, want 404", status)
	}
}

// Without --metrics-addr, nothing listens for metrics.
func TestMetricsOffByDefault(t *testing.T) {
	p := startProcess(t, filepath.Join(t.TempDir(), "k.db"), true)
	if metricsListeningRE.MatchString(p.stderr.String()) {
		t.Error("metrics listening without --metrics-addr")
	}
}

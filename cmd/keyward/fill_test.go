package main

import (
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// waitReadyz polls /readyz at base (http://host:port) until it answers
// 200: keyward answers 503 while it fills its cache at start.
func waitReadyz(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body := call(t, "GET", base+"/readyz", "", "")
		if status == http.StatusOK {
			return
		}
		if status != http.StatusServiceUnavailable {
			t.Fatalf("/readyz: %d %s", status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after 30s: %s", status, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A restarted keyward reads its keys into the cache before /readyz
// answers 200: the first verification of each is answered from memory,
// without a database lookup. With --cache-fill=false, nothing is read
// ahead and that verification reads the database.
func TestCacheFilledAtStart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "k.db")
	first := startProcess(t, db, true)
	var secrets []string
	for range 5 {
		_, secret := createOn(t, first, first.root)
		secrets = append(secrets, secret)
	}
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-first.done(); err != nil {
		t.Fatalf("first instance: %v", err)
	}

	for _, tt := range []struct {
		name        string
		args        []string
		wantEntries int
		wantLoads   uint64
	}{
		{"filled", nil, len(secrets) + 1, 0}, // and the root key
		{"not filled", []string{"--cache-fill=false"}, 0, uint64(len(secrets))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A 5 s staleness bound: on a loaded machine the SQLite feed
			// can miss 1 s, and every verification then reads the
			// database, which is not what this test is about.
			p := startFloodProcess(t, false, append([]string{"--db", db, "--staleness-bound", "5s"}, tt.args...)...)
			waitReadyz(t, p.url)
			if v := readVars(t, p.debug); v.Keycache.Entries != tt.wantEntries || v.Keycache.Loads != 0 {
				t.Fatalf("cache once ready: %d entries, %d loads; want %d entries, no load", v.Keycache.Entries, v.Keycache.Loads, tt.wantEntries)
			}
			for _, s := range secrets {
				if code := verifyCode(t, p.proc, s); code != "VALID" {
					t.Fatalf("verify: %s", code)
				}
			}
			if v := readVars(t, p.debug); v.Keycache.Loads != tt.wantLoads {
				t.Errorf("after verifying each key once: %d database lookups, want %d", v.Keycache.Loads, tt.wantLoads)
			}
		})
	}
}

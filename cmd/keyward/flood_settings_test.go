package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// The flood settings come from flags or the environment; a bad value is a
// usage error naming the setting.
func TestFloodSettings(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    [4]any // MaxUnknownLookups, FailureBurst, FailureRefill, FailureHold
		wantErr string
	}{
		{"defaults", nil, nil, [4]any{100, 20, time.Second, time.Second}, ""},
		{"flags", []string{"--max-unknown-lookups", "0", "--failure-burst", "5", "--failure-refill", "10s", "--failure-hold", "0"}, nil, [4]any{0, 5, 10 * time.Second, time.Duration(0)}, ""},
		{"environment", nil, map[string]string{"KEYWARD_MAX_UNKNOWN_LOOKUPS": "7", "KEYWARD_FAILURE_BURST": "0", "KEYWARD_FAILURE_REFILL": "1m", "KEYWARD_FAILURE_HOLD": "1s"}, [4]any{7, 0, time.Minute, time.Second}, ""},
		{"bad rate", nil, map[string]string{"KEYWARD_MAX_UNKNOWN_LOOKUPS": "lots"}, [4]any{}, "KEYWARD_MAX_UNKNOWN_LOOKUPS"},
		{"bad refill", []string{"--failure-refill", "often"}, nil, [4]any{}, "failure-refill"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMain(io.Discard, io.Discard)
			err := m.ParseFlags(tt.args, env(tt.env))
			if tt.wantErr != "" {
				if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFlags: %v, want a usage error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFlags: %v", err)
			}
			c := m.Config
			if got := [4]any{c.MaxUnknownLookups, c.FailureBurst, c.FailureRefill, c.FailureHold}; got != tt.want {
				t.Errorf("settings %v, want %v", got, tt.want)
			}
		})
	}
}

// debugVars reads serve's /debug/vars.
type debugVars struct {
	Keycache struct {
		Loads, MemberMisses, UnknownFromMemory, UnknownLookups, UnknownWaits, UnknownUnavailable uint64
		Members, Entries                                                                         int
		MembersComplete                                                                          bool
	} `json:"keycache"`
	FailureThrottle *struct {
		Failures, Throttled, Answered uint64
	} `json:"failure_throttle"`
	Memstats json.RawMessage `json:"memstats"`
}

func readVars(t *testing.T, debugAddr string) debugVars {
	t.Helper()
	status, body := call(t, "GET", "http://"+debugAddr+"/debug/vars", "", "")
	if status != http.StatusOK {
		t.Fatalf("/debug/vars: %d %s", status, body)
	}
	var v debugVars
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("/debug/vars: %v\n%s", err, body)
	}
	return v
}

// --debug-addr serves the cache's and the throttle's counters at
// /debug/vars, beside expvar's own; the throttle answers 429 past
// --failure-burst, and not at all with 0.
func TestDebugVarsAndThrottle(t *testing.T) {
	for _, burst := range []int{0, 3} {
		s := startServe(t, filepath.Join(t.TempDir(), "keyward.db"), "--debug-addr", "127.0.0.1:0",
			"--failure-burst", strconv.Itoa(burst), "--failure-refill", "1h", "--failure-hold", "10ms")
		v := readVars(t, s.main.DebugAddr())
		if v.Memstats == nil {
			t.Error("/debug/vars lacks expvar's memstats")
		}
		if (v.FailureThrottle != nil) != (burst > 0) {
			t.Errorf("--failure-burst %d: failure_throttle in /debug/vars: %v", burst, v.FailureThrottle != nil)
		}
		statuses := map[int]int{}
		for range 10 {
			status, _ := call(t, "POST", s.url+"/verify", "", `{"key":"`+keyward.NewSecret().Reveal()+`"}`)
			statuses[status]++
		}
		want := map[int]int{http.StatusOK: 10}
		if burst > 0 {
			want = map[int]int{http.StatusOK: burst, http.StatusTooManyRequests: 10 - burst}
		}
		if len(statuses) != len(want) || statuses[http.StatusOK] != want[http.StatusOK] {
			t.Errorf("--failure-burst %d: 10 made-up keys answered %v, want %v", burst, statuses, want)
		}
		v = readVars(t, s.main.DebugAddr())
		if !v.Keycache.MembersComplete || v.Keycache.Members < 1 {
			t.Errorf("--failure-burst %d: keycache counters %+v; want the membership set loaded, with the root key", burst, v.Keycache)
		}
		if burst > 0 && (v.FailureThrottle.Failures != uint64(burst) || v.FailureThrottle.Throttled != uint64(10-burst)) {
			t.Errorf("throttle counters %+v", *v.FailureThrottle)
		}
	}
}

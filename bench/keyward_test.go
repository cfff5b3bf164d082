package main

import "testing"

func TestListeningAddr(t *testing.T) {
	tests := []struct {
		name string
		log  string
		addr string
		ok   bool
	}{
		{
			name: "after other lines",
			log: `{"time":"2026-12-01T09:00:00Z","level":"INFO","msg":"migrated","version":4}` + "\n" +
				`not json at all` + "\n" +
				`{"time":"2026-12-01T09:00:00Z","level":"INFO","msg":"listening","addr":"127.0.0.1:41234"}` + "\n",
			addr: "127.0.0.1:41234", ok: true,
		},
		{name: "no newline yet", log: `{"msg":"listening","addr":"[::1]:8080"}`, addr: "[::1]:8080", ok: true},
		{name: "another message with an address", log: `{"msg":"debug server","addr":"127.0.0.1:6060"}` + "\n"},
		{name: "listening without an address", log: `{"msg":"listening"}` + "\n"},
		{name: "a line cut short", log: `{"msg":"listening","addr":"127.0.0.1:4`},
		{name: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, ok := listeningAddr([]byte(tt.log))
			if addr != tt.addr || ok != tt.ok {
				t.Errorf("listeningAddr = %q, %v; want %q, %v", addr, ok, tt.addr, tt.ok)
			}
		})
	}
}

// The counters' address is found by its own message, not the API's.
func TestLogAddr(t *testing.T) {
	log := `{"msg":"profiler and counters listening","addr":"127.0.0.1:6060"}` + "\n" + `{"msg":"listening","addr":"127.0.0.1:8080"}` + "\n"
	if addr, ok := logAddr([]byte(log), debugListeningMsg); addr != "127.0.0.1:6060" || !ok {
		t.Errorf("logAddr(debug) = %q, %v", addr, ok)
	}
	if addr, ok := listeningAddr([]byte(log)); addr != "127.0.0.1:8080" || !ok {
		t.Errorf("listeningAddr = %q, %v", addr, ok)
	}
}

func TestParseRSS(t *testing.T) {
	status := "Name:\tkeyward\nVmPeak:\t 1200000 kB\nVmHWM:\t  485548 kB\nVmRSS:\t  446000 kB\nThreads:\t9\n"
	got := parseRSS(status)
	want := rss{HWM: 485548 << 10, RSS: 446000 << 10, OK: true}
	if got != want {
		t.Errorf("parseRSS = %+v, want %+v", got, want)
	}
	if got := parseRSS("Name:\tkeyward\nVmRSS:\t 100 kB\n"); got.OK {
		t.Errorf("without VmHWM: %+v, want not OK", got)
	}
}

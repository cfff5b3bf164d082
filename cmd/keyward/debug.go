package main

import (
	"encoding/json"
	"expvar"
	"net/http"
	"net/http/pprof"
)

// debugHandler serves Go's profiler, for --debug-addr, and the counters
// vars returns at /debug/vars. It is kept off the API's mux: the API must
// not expose it.
func debugHandler(vars func() map[string]any) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /debug/vars", handleVars(vars))
	return mux
}

// handleVars writes, as expvar's handler does, one JSON object: expvar's
// variables (cmdline, memstats) and the service's counters (the
// verification cache's under "keycache", the failure throttle's under
// "failure_throttle"), read at each request. The service's are not
// published in expvar's registry, which is global: a test that runs serve
// twice in one process would publish them twice.
func handleVars(vars func() map[string]any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := make(map[string]any)
		expvar.Do(func(kv expvar.KeyValue) { out[kv.Key] = json.RawMessage(kv.Value.String()) })
		for k, v := range vars() {
			out[k] = v
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	})
}

package httpapi

import (
	"net/http"
	"sync"
	"time"
)

// The request lines of answers a client can provoke at will (a 401 for
// each guessed key, a 404 for each made-up path) are sampled, so that a
// flood of them cannot flood the log: per (route, status), at most
// sampleBurst lines per samplePeriod are written, and every line left out
// is counted. The next line written for that (route, status) carries the
// count as "suppressed", so that the log still tells the true volume.
const (
	sampleBurst  = 5
	samplePeriod = time.Second
)

// sampled reports whether the request lines of a status are sampled: the
// client's failures (4xx, 499 included), the redirects the mux answers
// to unclean paths, and a 503 (a dependency that does not answer fails
// every request alike). Successes are the service's own traffic, and a
// 500 is a fault of ours: each is logged.
func sampled(status int) bool {
	return status >= 300 && status < 500 || status == http.StatusServiceUnavailable
}

// logSampler decides which sampled lines are written. It needs no
// goroutine: each (route, status) keeps the period it is in and counts,
// and the first line of a later period starts it afresh.
type logSampler struct {
	now   func() time.Time // the clock: time.Now, or a test's
	epoch time.Time        // periods are counted from here, monotonically

	mu     sync.RWMutex
	states map[sampleKey]*sampleState // routes × statuses: a few dozen at most
}

type sampleKey struct {
	route  string // a pattern of routes.go, or "unmatched"
	status int
}

type sampleState struct {
	mu         sync.Mutex
	period     int64  // the period logged counts lines in
	logged     int    // lines written in period
	suppressed uint64 // lines left out since the last one written
}

func newLogSampler(now func() time.Time) *logSampler {
	return &logSampler{now: now, epoch: now(), states: make(map[sampleKey]*sampleState)}
}

// admit reports whether a line for route and status may be written now,
// and, if so, how many lines for them were left out since the last one
// written (and forgets them: this line reports them).
func (s *logSampler) admit(route string, status int) (ok bool, suppressed uint64) {
	key := sampleKey{route, status}
	s.mu.RLock()
	st := s.states[key]
	s.mu.RUnlock()
	if st == nil {
		s.mu.Lock()
		if st = s.states[key]; st == nil {
			st = new(sampleState)
			s.states[key] = st
		}
		s.mu.Unlock()
	}
	period := int64(s.now().Sub(s.epoch) / samplePeriod)
	st.mu.Lock()
	defer st.mu.Unlock()
	if period != st.period {
		st.period, st.logged = period, 0
	}
	if st.logged >= sampleBurst {
		st.suppressed++
		return false, 0
	}
	st.logged++
	suppressed, st.suppressed = st.suppressed, 0
	return true, suppressed
}

// Package prometheus exposes Keyward's metrics in Prometheus's text format
// (github.com/prometheus/client_golang), for --metrics-addr.
//
// Two kinds of figures:
//
//   - Counted as they happen, on the request path: requests by route
//     pattern and status class with their latency (a histogram), and
//     verifications by outcome code. These cost one histogram observation
//     and one counter increment a request: the children are resolved
//     once, not looked up by label on every request.
//   - Read when Prometheus scrapes, from the counters the parts already
//     keep: the verification cache (hits, misses, size, store lookups,
//     the membership set's answers to unknown keys, the age of the
//     invalidation feed's last confirmation), the database's connection
//     pools, the last-used recorder, the failure throttle and the Redis
//     rate limiter. A scrape costs them nothing they do not already do.
//
// Nothing here ever sees a key's secret or its hash: labels are route
// patterns, status classes, outcome codes and pool names, all from fixed
// sets.
package prometheus

import (
	"net/http"
	"sync"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/keycache"
	"github.com/keyward/keyward/redis"
)

// latencyBuckets span a cached verification (tens of microseconds) to a
// request that waits out a database timeout (seconds).
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// lagBuckets span an invalidation heard from PostgreSQL in a millisecond
// or less, one read from SQLite's log within its poll interval (100ms at
// most), and one held up by a slow feed, up to the staleness bound and
// beyond.
var lagBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// flushBuckets span a flush of a few keys (a millisecond) to a paced
// flush of a million (minutes).
var flushBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300}

// Sources are the parts whose counters a scrape reads. Any may be nil
// (left out) but Cache.
type Sources struct {
	Cache    *keycache.Store
	DB       PoolStater
	LastUsed *keyward.LastUsedRecorder
	Throttle *httpapi.FailureThrottle
	Limiter  *redis.Limiter
}

// PoolStater reports a database's connection pools.
type PoolStater interface {
	PoolStats() []keyward.PoolStats
}

// Metrics is Keyward's registry: an httpapi.Observer for the request
// path, a hook for the last-used recorder, and the handler of /metrics.
type Metrics struct {
	reg *prom.Registry

	verifications *prom.CounterVec
	byCode        map[keyward.VerifyCode]prom.Counter

	requests *prom.HistogramVec
	mu       sync.RWMutex
	routes   map[string]*[5]prom.Observer // by route pattern, then status class 1xx..5xx

	flushDuration prom.Histogram
	flushedKeys   prom.Counter
	flushErrors   prom.Counter

	invalidationLag prom.Histogram
}

var _ keyward.InvalidationLagObserver = (*Metrics)(nil)

var _ httpapi.Observer = (*Metrics)(nil)

// New returns the registry of Keyward's metrics, reading src at each
// scrape, with Go's runtime and the process's own metrics.
func New(src Sources) *Metrics {
	m := &Metrics{
		reg: prom.NewRegistry(),
		verifications: prom.NewCounterVec(prom.CounterOpts{
			Name: "keyward_verifications_total",
			Help: "Verifications answered (POST /verify), by outcome code (VALID, NOT_FOUND, DISABLED, EXPIRED, INSUFFICIENT_PERMISSIONS, RATE_LIMITED, USAGE_EXCEEDED).",
		}, []string{"code"}),
		byCode: make(map[keyward.VerifyCode]prom.Counter),
		requests: prom.NewHistogramVec(prom.HistogramOpts{
			Name:    "keyward_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and status class; its _count is the requests answered.",
			Buckets: latencyBuckets,
		}, []string{"route", "code"}),
		routes: make(map[string]*[5]prom.Observer),
		flushDuration: prom.NewHistogram(prom.HistogramOpts{
			Name:    "keyward_last_used_flush_duration_seconds",
			Help:    "Time a flush of keys' last use to the database took, pauses of a paced flush included.",
			Buckets: flushBuckets,
		}),
		flushedKeys: prom.NewCounter(prom.CounterOpts{
			Name: "keyward_last_used_flushed_keys_total",
			Help: "Keys whose last use a flush wrote to the database.",
		}),
		flushErrors: prom.NewCounter(prom.CounterOpts{
			Name: "keyward_last_used_flush_errors_total",
			Help: "Flushes of last uses that failed (their uses stay pending, for the next flush).",
		}),
		invalidationLag: prom.NewHistogram(prom.HistogramOpts{
			Name:    "keyward_invalidation_lag_seconds",
			Help:    "Time from a change's commit (a create, update, disable, rotation, delete or restore, made by any instance) to its key leaving this instance's cache, by the writer's clock (SQLite) or the database server's (PostgreSQL) against this instance's.",
			Buckets: lagBuckets,
		}),
	}
	for _, c := range keyward.VerifyCodes {
		m.byCode[c] = m.verifications.WithLabelValues(string(c))
	}
	m.reg.MustRegister(
		m.verifications, m.requests, m.flushDuration, m.flushedKeys, m.flushErrors, m.invalidationLag,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&scraped{src: src},
	)
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry returns the registry, for a program that adds its own.
func (m *Metrics) Registry() *prom.Registry { return m.reg }

// Verification counts a verification's outcome.
func (m *Metrics) Verification(code keyward.VerifyCode) {
	if c, ok := m.byCode[code]; ok {
		c.Inc()
		return
	}
	m.verifications.WithLabelValues(string(code)).Inc()
}

// statusClasses are the code label's values, by status/100.
var statusClasses = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// Request observes a request's duration under its route and status
// class.
func (m *Metrics) Request(route string, status int, d time.Duration) {
	class := status/100 - 1
	if class < 0 || class >= len(statusClasses) {
		class = len(statusClasses) - 1
	}
	m.mu.RLock()
	obs := m.routes[route]
	m.mu.RUnlock()
	if obs == nil {
		obs = m.route(route)
	}
	obs[class].Observe(d.Seconds())
}

// route resolves the histograms of a route seen for the first time. The
// routes are the mux's patterns (and "unmatched"): a fixed set.
func (m *Metrics) route(route string) *[5]prom.Observer {
	m.mu.Lock()
	defer m.mu.Unlock()
	if obs := m.routes[route]; obs != nil {
		return obs
	}
	obs := new([5]prom.Observer)
	for i, c := range statusClasses {
		obs[i] = m.requests.WithLabelValues(route, c)
	}
	m.routes[route] = obs
	return obs
}

// Flushed records a flush of last uses (keyward.LastUsedRecorder's
// OnFlush).
func (m *Metrics) Flushed(keys int, took time.Duration, err error) {
	m.flushDuration.Observe(took.Seconds())
	m.flushedKeys.Add(float64(keys))
	if err != nil {
		m.flushErrors.Inc()
	}
}

// InvalidationLag observes the time an invalidation took to reach this
// instance's cache (keyward.InvalidationLagObserver).
func (m *Metrics) InvalidationLag(lag time.Duration) {
	m.invalidationLag.Observe(lag.Seconds())
}

// scraped is the collector of the figures read at each scrape.
type scraped struct{ src Sources }

func desc(name, help string, labels ...string) *prom.Desc {
	return prom.NewDesc(name, help, labels, nil)
}

var (
	cacheEntries   = desc("keyward_cache_entries", "Keys held by the verification cache.")
	cacheNegatives = desc("keyward_cache_unknown_entries", "Hashes the cache remembers as unknown (for a few seconds).")
	cacheLookups   = desc("keyward_cache_lookups_total", "Lookups of the verification cache, by result: hit (a cached key), unknown (a hash remembered as unknown), miss (read from the database), bypass (read from the database as the invalidation feed was not confirmed).", "result")
	cacheLoads     = desc("keyward_cache_store_lookups_total", "Database lookups the cache made (misses and bypasses share one lookup per hash).")
	cacheEvictions = desc("keyward_cache_evictions_total", "Keys pushed out of the full cache to make room.")
	cacheMembers   = desc("keyward_cache_members", "Hashes in the membership set of every stored key (flood protection).")
	cacheComplete  = desc("keyward_cache_members_complete", "1 while the membership set holds every stored hash, so that unknown keys are answered from memory.")
	cacheUnknown   = desc("keyward_cache_unknown_keys_total", "Lookups of hashes no stored key has, by how they were answered: memory (the set), lookup (a token of --max-unknown-lookups), wait (waited for the feed), unavailable (503: the feed did not confirm in time), refused (429: a throttled address).", "answer")
	cacheTrusted   = desc("keyward_cache_trusted", "1 while the invalidation feed has confirmed within the staleness bound, so that the cache answers from memory.")
	feedAge        = desc("keyward_invalidation_feed_confirmation_age_seconds", "Time since the invalidation feed last confirmed that every change made elsewhere had reached this instance; past --staleness-bound, verifications read the database.")
	warming        = desc("keyward_cache_warming", "1 while the cache is filled at start (/readyz answers 503 meanwhile).")

	dbConns     = desc("keyward_db_connections", "Database connections, by pool and state (in_use, idle).", "pool", "state")
	dbMax       = desc("keyward_db_connections_max", "Most connections a pool opens.", "pool")
	dbWaits     = desc("keyward_db_waits_total", "Times a request waited for a free connection.", "pool")
	dbWaitTotal = desc("keyward_db_wait_seconds_total", "Time spent waiting for a free connection.", "pool")

	lastUsedPending = desc("keyward_last_used_pending_keys", "Keys whose last use awaits the next flush.")

	throttleFailures  = desc("keyward_failure_throttle_failures_total", "Failures counted by the per-address throttle (/verify NOT_FOUND, management 401).")
	throttleThrottled = desc("keyward_failure_throttle_throttled_total", "Requests the throttle answered 429.")
	throttleAnswered  = desc("keyward_failure_throttle_answered_total", "Requests of throttled addresses answered all the same (their keys exist).")
	throttleAddresses = desc("keyward_failure_throttle_addresses", "Client addresses with failures not yet forgiven.")

	redisTakes      = desc("keyward_rate_limit_redis_takes_total", "Rate-limit checks of keys with limits, shared through Redis.")
	redisRoundTrips = desc("keyward_rate_limit_redis_round_trips_total", "Calls to Redis (leases taken and returned).")
	redisErrors     = desc("keyward_rate_limit_redis_errors_total", "Calls to Redis that failed or timed out.")
	redisDown       = desc("keyward_rate_limit_redis_unavailable_total", "Verifications decided without Redis, by --redis-failure-mode: admitted (open) or refused (closed).", "decision")
)

func (s *scraped) Describe(ch chan<- *prom.Desc) {
	for _, d := range []*prom.Desc{cacheEntries, cacheNegatives, cacheLookups, cacheLoads, cacheEvictions, cacheMembers,
		cacheComplete, cacheUnknown, cacheTrusted, feedAge, warming, dbConns, dbMax, dbWaits, dbWaitTotal, lastUsedPending,
		throttleFailures, throttleThrottled, throttleAnswered, throttleAddresses, redisTakes, redisRoundTrips, redisErrors, redisDown} {
		ch <- d
	}
}

func (s *scraped) Collect(ch chan<- prom.Metric) {
	gauge := func(d *prom.Desc, v float64, labels ...string) {
		ch <- prom.MustNewConstMetric(d, prom.GaugeValue, v, labels...)
	}
	counter := func(d *prom.Desc, v float64, labels ...string) {
		ch <- prom.MustNewConstMetric(d, prom.CounterValue, v, labels...)
	}
	if c := s.src.Cache; c != nil {
		st := c.Stats()
		gauge(cacheEntries, float64(st.Entries))
		gauge(cacheNegatives, float64(st.Negatives))
		counter(cacheLookups, float64(st.Hits), "hit")
		counter(cacheLookups, float64(st.NegHits), "unknown")
		counter(cacheLookups, float64(st.Misses), "miss")
		counter(cacheLookups, float64(st.Bypasses), "bypass")
		counter(cacheLoads, float64(st.Loads))
		counter(cacheEvictions, float64(st.Evictions))
		gauge(cacheMembers, float64(st.Members))
		gauge(cacheComplete, boolValue(st.MembersComplete))
		counter(cacheUnknown, float64(st.UnknownFromMemory), "memory")
		counter(cacheUnknown, float64(st.UnknownLookups), "lookup")
		counter(cacheUnknown, float64(st.UnknownWaits), "wait")
		counter(cacheUnknown, float64(st.UnknownUnavailable), "unavailable")
		counter(cacheUnknown, float64(st.UnknownRefused), "refused")
		gauge(cacheTrusted, boolValue(c.Trusted()))
		if at := c.Confirmed(); !at.IsZero() {
			gauge(feedAge, time.Since(at).Seconds())
		}
		gauge(warming, boolValue(c.Warming()))
	}
	if s.src.DB != nil {
		for _, p := range s.src.DB.PoolStats() {
			gauge(dbConns, float64(p.InUse), p.Name, "in_use")
			gauge(dbConns, float64(p.Idle), p.Name, "idle")
			gauge(dbMax, float64(p.Max), p.Name)
			counter(dbWaits, float64(p.WaitCount), p.Name)
			counter(dbWaitTotal, p.WaitDuration.Seconds(), p.Name)
		}
	}
	if u := s.src.LastUsed; u != nil {
		gauge(lastUsedPending, float64(u.Pending()))
	}
	if t := s.src.Throttle; t != nil {
		st := t.Stats()
		counter(throttleFailures, float64(st.Failures))
		counter(throttleThrottled, float64(st.Throttled))
		counter(throttleAnswered, float64(st.Answered))
		gauge(throttleAddresses, float64(st.Addresses))
	}
	if l := s.src.Limiter; l != nil {
		st := l.Stats()
		counter(redisTakes, float64(st.Takes))
		counter(redisRoundTrips, float64(st.RoundTrips))
		counter(redisErrors, float64(st.Errors))
		counter(redisDown, float64(st.FailOpenAdmitted), "admitted")
		counter(redisDown, float64(st.FailClosedRefused), "refused")
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

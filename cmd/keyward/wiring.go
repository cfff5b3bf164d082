package main

// This file is serve's wiring: everything serve builds on the open
// database to answer requests (the verification cache, the last-used
// recorder, the invalidation watch, the pruning and the HTTP handler) is
// here and nowhere else, so that it can be reworked in one place. Main opens the database
// before startService, serves service.handler, and calls service.stop once
// the HTTP server has stopped taking requests, before it closes the
// database.

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/console"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/keycache"
	"github.com/keyward/keyward/prometheus"
	"github.com/keyward/keyward/redis"
)

// service is what Main runs on the database.
type service struct {
	// svc answers through the cache; Main bootstraps the first root key
	// through it.
	svc *keyward.Service
	// handler is the HTTP API.
	handler http.Handler
	// stop ends the background work: the pruning, the invalidation
	// watch, then the last-used recorder, with its final flush.
	stop func()
	// vars are the counters --debug-addr serves at /debug/vars.
	vars func() map[string]any
	// metrics are what --metrics-addr serves; nil without it.
	metrics *prometheus.Metrics
}

// pruneInterval is how often deleted keys and expired idempotency records
// are pruned: a tenth of the retention, so that a record outlives it by at
// most a tenth, and at most every ten minutes.
func pruneInterval(retention time.Duration) time.Duration {
	return min(10*time.Minute, max(retention/10, time.Second))
}

// startService wires the service on db and starts its background work,
// which runs until service.stop; ctx gives it its values, not its end.
// limiter, if not nil, counts keys' rate limits (shared through Redis);
// otherwise the service counts them in memory, for this instance alone.
func startService(ctx context.Context, db database, limiter keyward.RateLimiter, cfg ServeConfig, logger *slog.Logger) *service {
	// The membership set of every stored hash keeps made-up keys off the
	// database: it loads when the invalidation watch starts (its reset).
	unknownLookups := cfg.MaxUnknownLookups
	if unknownLookups == 0 {
		unknownLookups = -1 // keycache's "none": its zero is the default
	}
	cache := keycache.New(db, keycache.Options{
		Size: cfg.CacheSize, TTL: cfg.CacheTTL, StalenessBound: cfg.StalenessBound, LoadTimeout: cfg.DBReadTimeout,
		Members: true, UnknownLookups: unknownLookups, Fill: cfg.CacheFill, Logger: logger,
	})
	handlerOpts := []httpapi.Option{httpapi.WithWarmUp(cache.Warming)}
	var throttle *httpapi.FailureThrottle
	if cfg.FailureBurst > 0 {
		hold := cfg.FailureHold
		if hold == 0 {
			hold = -1 // httpapi's "not held": its zero is the default
		}
		throttle = httpapi.NewFailureThrottle(httpapi.FailureThrottleOptions{Burst: cfg.FailureBurst, Refill: cfg.FailureRefill, Hold: hold})
		handlerOpts = append(handlerOpts, httpapi.WithFailureThrottle(throttle))
	}
	if cors, _ := cfg.cors(); cors != nil { // validated by Run
		handlerOpts = append(handlerOpts, httpapi.WithCORS(cors))
	}
	svc := keyward.NewService(cache)
	svc.LookupTimeout, svc.WriteTimeout, svc.DeletedKeyRetention = cfg.DBReadTimeout, cfg.DBWriteTimeout, cfg.Retention
	svc.AuditRetention, svc.UsageRetention = cfg.AuditRetention, cfg.UsageRetention
	svc.IdempotencySecret, _ = cfg.idempotencySecret() // validated by Run
	if limiter != nil {
		svc.RateLimiter = limiter
	}
	lastUsed := keyward.NewLastUsedRecorder(db)
	svc.LastUsed = lastUsed
	// Metrics, only when asked for: they put an observation on every
	// request.
	var metrics *prometheus.Metrics
	if cfg.MetricsAddr != "" {
		src := prometheus.Sources{Cache: cache, DB: db, LastUsed: lastUsed, Throttle: throttle}
		src.Limiter, _ = limiter.(*redis.Limiter)
		metrics = prometheus.New(src)
		handlerOpts = append(handlerOpts, httpapi.WithObserver(metrics))
		lastUsed.OnFlush = metrics.Flushed
	}
	var stops []func() // in the order they run
	background := func(f func(ctx context.Context)) {
		ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { defer close(done); f(ctx) }()
		stops = append(stops, func() { cancel(); <-done })
	}

	background(func(ctx context.Context) {
		svc.RunPruning(ctx, pruneInterval(cfg.Retention), func(p keyward.Pruned, err error) {
			if err != nil {
				logger.Warn("could not prune deleted keys, expired idempotency records, old audit events and old usage counts; will retry", "err", err)
			} else if p != (keyward.Pruned{}) {
				logger.Info("pruned", "deleted_keys", p.DeletedKeys, "idempotency_records", p.IdempotencyRecords, "audit_events", p.AuditEvents, "usage_hours", p.UsageHours)
			}
		})
	})
	// Keys changed by other processes leave this one's cache, and the
	// feed's confirmations keep the cache trusted.
	background(func(ctx context.Context) {
		var w keyward.InvalidationWatcher = cache
		if metrics != nil {
			w = lagObserved{cache, metrics}
		}
		if err := db.WatchInvalidations(ctx, w, cfg.StalenessBound/4); err != nil {
			logger.Error("not watching for keys changed by other processes; every verification reads the database", "err", err)
			// No reset will come to load the membership set and fill the
			// cache: /readyz must not wait for that fill.
			cache.StopLoading()
		}
	})
	// The watch has stopped, and with it the resets that start loads of
	// the membership set: stop the one under way, before the database
	// closes under it.
	stops = append(stops, cache.StopLoading)
	// Last: its final flush of last_used_at runs with the database open.
	background(func(ctx context.Context) {
		lastUsed.Run(ctx, cfg.LastUsedInterval, func(err error) {
			logger.Warn("could not record keys' last use; will retry", "err", err)
		})
	})

	var handler http.Handler = httpapi.NewHandler(logger, svc, db, handlerOpts...)
	if cfg.Console {
		handler = withConsole(handler, newConsole(logger, svc, db, throttle, cfg))
	}
	return &service{
		svc:     svc,
		handler: handler,
		metrics: metrics,
		stop: func() {
			for _, stop := range stops {
				stop()
			}
		},
		vars: func() map[string]any {
			vars := map[string]any{"keycache": cache.Stats()}
			if throttle != nil {
				vars["failure_throttle"] = throttle.Stats()
			}
			return vars
		},
	}
}

// newConsole is the web console on svc, its sessions in db. Failed
// sign-ins count in the API's failure throttle (nil: none), and its
// cookies are Secure when serve speaks TLS. The chart of each key's
// verifications per hour reads the service's hourly counts (KeyUsage).
func newConsole(logger *slog.Logger, svc *keyward.Service, db database, throttle *httpapi.FailureThrottle, cfg ServeConfig) http.Handler {
	opts := []console.Option{console.WithSessionLifetime(cfg.ConsoleSessionLifetime)}
	if throttle != nil {
		opts = append(opts, console.WithThrottle(throttle))
	}
	if cfg.TLSCert != "" || cfg.ConsoleSecureCookies {
		opts = append(opts, console.WithSecureCookies())
	}
	return console.New(logger, svc, db, opts...)
}

// withConsole serves the console at /console and everything under it, and
// the API everywhere else.
func withConsole(api, con http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, con)
	mux.Handle(console.Prefix+"/", con)
	mux.Handle("/", api)
	return mux
}

// lagObserved is the cache as the invalidation feed's watcher, with the
// time each invalidation took to arrive going to the metrics.
type lagObserved struct {
	*keycache.Store
	lags keyward.InvalidationLagObserver
}

func (w lagObserved) InvalidationLag(lag time.Duration) { w.lags.InvalidationLag(lag) }

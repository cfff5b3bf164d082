package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/keycache"
)

// ServeConfig is everything serve can be told. Each field is a flag and an
// environment variable, declared by its tags (see flags.go).
type ServeConfig struct {
	Addr             string        `flag:"addr" default:"127.0.0.1:8080" usage:"address to listen on (host:port; port 0 picks a free one)"`
	DB               DBConfig      // --db, --database-url
	Log              LogConfig     // --log-format, --log-level
	ShutdownTimeout  time.Duration `flag:"shutdown-timeout" default:"15s" usage:"how long in-flight requests may run on after SIGINT/SIGTERM"`
	CacheSize        int           `flag:"cache-size" default:"100000" usage:"how many keys the verification cache holds"`
	CacheTTL         time.Duration `flag:"cache-ttl" default:"30s" usage:"how long a key is served from the cache before it is read again;\nbounds how long a change made outside this process can go unseen"`
	DebugAddr        string        `flag:"debug-addr" usage:"if set, serve Go's profiler (/debug/pprof/) on this address;\nkeep it on loopback: it is not authenticated"`
	LastUsedInterval time.Duration `flag:"last-used-interval" default:"60s" usage:"how often keys' last_used_at is written (at most one write per key per interval)"`
}

// LogConfig chooses the log's format and level.
type LogConfig struct {
	Format string `flag:"log-format" default:"text" usage:"log format: text or json"`
	Level  string `flag:"log-level" default:"info" usage:"least severe level logged: debug, info, warn or error (debug adds a line per verification and health probe)"`
}

const serveSummary = "Run the Keyward HTTP API. On an empty database, create the first root key\nand print it once on stdout."

// DefaultServeConfig returns serve's configuration when no flag or
// environment variable is given.
func DefaultServeConfig() ServeConfig {
	var cfg ServeConfig
	newCommand("serve", serveSummary).register(&cfg)
	return cfg
}

// validate reports settings that no flag parser can catch.
func (c ServeConfig) validate() error {
	if c.CacheSize < 1 {
		return usageError{fmt.Errorf("--cache-size %d: must be at least 1", c.CacheSize)}
	}
	if c.CacheTTL <= 0 || c.LastUsedInterval <= 0 {
		return usageError{fmt.Errorf("--cache-ttl and --last-used-interval must be positive")}
	}
	return nil
}

func (l LogConfig) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", l.Level)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(l.Format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: want text or json", l.Format)}
}

// runServe is keyward serve: it runs until ctx is done (a signal).
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg ServeConfig
	cmd := newCommand("serve", serveSummary)
	cmd.register(&cfg)
	if _, err := cmd.parse(args, getenv, stdout, stderr); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	logger, err := cfg.Log.logger(stderr)
	if err != nil {
		return err
	}

	db, err := cfg.DB.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	cache := keycache.New(db, keycache.Options{Size: cfg.CacheSize, TTL: cfg.CacheTTL})
	svc := keyward.NewService(cache)
	usage := keyward.NewLastUsedRecorder(db)
	svc.LastUsed = usage
	usageCtx, stopUsage := context.WithCancel(context.WithoutCancel(ctx))
	usageDone := make(chan struct{})
	go func() {
		defer close(usageDone)
		usage.Run(usageCtx, cfg.LastUsedInterval, func(err error) {
			logger.Warn("could not record keys' last use; will retry", "err", err)
		})
	}()
	// After the server has stopped taking requests: the last flush of
	// last_used_at, then the database closes (deferred above).
	defer func() { stopUsage(); <-usageDone }()

	// Keys changed by other processes leave this one's cache.
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		if err := db.WatchInvalidations(watchCtx, cache, keycache.DefaultStalenessBound/4); err != nil {
			logger.Error("not watching for keys changed by other processes; every verification reads the database", "err", err)
		}
	}()
	defer func() { stopWatch(); <-watchDone }()

	if err := bootstrap(ctx, logger, svc, stdout); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler: httpapi.NewHandler(logger, svc, db),
		// Equal read timeouts cost one deadline per request, not two:
		// net/http moves the deadline only when they differ. A request is
		// at most 64 KiB of headers and 64 KiB of body.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if cfg.DebugAddr != "" {
		dln, err := net.Listen("tcp", cfg.DebugAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.DebugAddr, err)
		}
		dbg := &http.Server{Handler: debugHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = dbg.Serve(dln) }()
		defer dbg.Close()
		logger.Info("profiler listening", "addr", dln.Addr().String())
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "db", cfg.DB.name(), "version", version)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// bootstrap creates the first root key of an empty database and prints it,
// this one time, to stdout; logs never see it.
func bootstrap(ctx context.Context, logger *slog.Logger, svc *keyward.Service, stdout io.Writer) error {
	k, secret, created, err := svc.Bootstrap(ctx)
	if err != nil {
		return err
	}
	if !created {
		return nil
	}
	logger.Info("created the first root key; its secret is printed once on stdout", "key_id", k.ID.String())
	_, err = fmt.Fprintf(stdout, `
==================================================================
 Keyward created the first ROOT KEY for this database.
 It is shown this one time only: store it now (a secrets manager).
 It manages the API keys of every organization.

 ROOT KEY: %s

 Use it as:  Authorization: Bearer <root key>
 Lost it? Create another: keyward root-key create --db <path>
==================================================================

`, secret.Reveal())
	return err
}

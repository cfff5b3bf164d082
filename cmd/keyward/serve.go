package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/keycache"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/sqlite"
)

// dbFlags are the flags of every command that opens the database.
type dbFlags struct {
	path string // SQLite file
	url  string // PostgreSQL URL; when set, path is not used
}

func (d *dbFlags) register(f *envFlags) {
	f.String(&d.path, "db", "KEYWARD_DB", "keyward.db", "path of the SQLite database file (created if missing)")
	f.String(&d.url, "database-url", "KEYWARD_DATABASE_URL", "", "PostgreSQL URL (postgres://user:pass@host:5432/db?pool_max_conns=20);\nwhen set, --db is not used and several instances may share the database")
}

// database is what the commands need of a store: either backend.
type database interface {
	keyward.KeyStore
	keyward.InvalidationFeed
	SchemaVersion(ctx context.Context) (int64, error)
}

// name says which database is in use, for messages; a URL's password is
// never shown.
func (d *dbFlags) name() string {
	if d.url == "" {
		return d.path
	}
	u, err := url.Parse(d.url)
	if err != nil {
		return "(PostgreSQL URL)"
	}
	return u.Redacted()
}

// openStore opens and migrates the database.
func (d *dbFlags) openStore(ctx context.Context) (database, error) {
	if d.url != "" {
		if !strings.HasPrefix(d.url, "postgres://") && !strings.HasPrefix(d.url, "postgresql://") {
			return nil, usageError{fmt.Errorf("--database-url: want a postgres:// URL")}
		}
		db, err := postgres.Open(ctx, d.url)
		if err != nil {
			// pgx's errors may quote the URL, password included: say
			// only what kind of failure it was.
			return nil, fmt.Errorf("open database %s: %s", d.name(), redactURL(err.Error(), d.url))
		}
		if err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("migrate database %s: %w", d.name(), err)
		}
		return db, nil
	}
	db, err := sqlite.Open(ctx, d.path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", d.path, err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate database %s: %w", d.path, err)
	}
	return db, nil
}

// redactURL removes the password of rawURL from msg.
func redactURL(msg, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "cannot connect"
	}
	if p, ok := u.User.Password(); ok && p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return msg
}

// logFlags choose the log format and level.
type logFlags struct {
	format string
	level  string
}

func (l *logFlags) register(f *envFlags) {
	f.String(&l.format, "log-format", "KEYWARD_LOG_FORMAT", "text", "log format: text or json")
	f.String(&l.level, "log-level", "KEYWARD_LOG_LEVEL", "info", "least severe level logged: debug, info, warn or error (debug adds a line per verification and health probe)")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", l.level)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(l.format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: want text or json", l.format)}
}

// serveConfig is everything serve can be told.
type serveConfig struct {
	addr            string
	db              dbFlags
	log             logFlags
	shutdownTimeout time.Duration
	cache           keycache.Options
	usageInterval   time.Duration
	debugAddr       string
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg serveConfig
	f := newEnvFlags("serve", "Run the Keyward HTTP API.", getenv)
	f.String(&cfg.addr, "addr", "KEYWARD_ADDR", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	cfg.db.register(f)
	cfg.log.register(f)
	f.Duration(&cfg.shutdownTimeout, "shutdown-timeout", "KEYWARD_SHUTDOWN_TIMEOUT", 15*time.Second, "how long in-flight requests may run on after SIGINT/SIGTERM")
	f.Int(&cfg.cache.Size, "cache-size", "KEYWARD_CACHE_SIZE", keycache.DefaultSize, "how many keys the verification cache holds")
	f.Duration(&cfg.cache.TTL, "cache-ttl", "KEYWARD_CACHE_TTL", keycache.DefaultTTL, "how long a key is served from the cache before it is read again;\nbounds how long a change made outside this process can go unseen")
	f.String(&cfg.debugAddr, "debug-addr", "KEYWARD_DEBUG_ADDR", "", "if set, serve Go's profiler (/debug/pprof/) on this address;\nkeep it on loopback: it is not authenticated")
	f.Duration(&cfg.usageInterval, "last-used-interval", "KEYWARD_LAST_USED_INTERVAL", keyward.DefaultLastUsedInterval, "how often keys' last_used_at is written (at most one write per key per interval)")
	if err := parseFlags(f, args, stdout, stderr); err != nil {
		return err
	}
	if cfg.cache.Size < 1 {
		return usageError{fmt.Errorf("--cache-size %d: must be at least 1", cfg.cache.Size)}
	}
	if cfg.cache.TTL <= 0 || cfg.usageInterval <= 0 {
		return usageError{fmt.Errorf("--cache-ttl and --last-used-interval must be positive")}
	}
	logger, err := cfg.log.logger(stderr)
	if err != nil {
		return err
	}

	db, err := cfg.db.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	cache := keycache.New(db, cfg.cache)
	svc := keyward.NewService(cache)
	usage := keyward.NewLastUsedRecorder(db)
	svc.LastUsed = usage
	usageCtx, stopUsage := context.WithCancel(context.WithoutCancel(ctx))
	usageDone := make(chan struct{})
	go func() {
		defer close(usageDone)
		usage.Run(usageCtx, cfg.usageInterval, func(err error) {
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

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
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
	if cfg.debugAddr != "" {
		dln, err := net.Listen("tcp", cfg.debugAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.debugAddr, err)
		}
		dbg := &http.Server{Handler: debugHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = dbg.Serve(dln) }()
		defer dbg.Close()
		logger.Info("profiler listening", "addr", dln.Addr().String())
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "db", cfg.db.name(), "version", version)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests", "timeout", cfg.shutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
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

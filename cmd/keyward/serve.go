package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpapi"
	"github.com/keyward/keyward/redis"
)

// ServeConfig is everything serve can be told. Each field is a flag and an
// environment variable, declared by its tags (see flags.go).
type ServeConfig struct {
	Addr             string        `flag:"addr" default:"127.0.0.1:8080" usage:"address to listen on (host:port; port 0 picks a free one)"`
	TLSCert          string        `flag:"tls-cert" usage:"serve HTTPS with the certificate in this PEM file (the chain, leaf first),\nread again on SIGHUP; needs --tls-key. Without both, serve plain HTTP\n(behind a load balancer that terminates TLS)"`
	TLSKey           string        `flag:"tls-key" usage:"the PEM file of --tls-cert's private key, read again on SIGHUP"`
	CORSOrigins      string        `flag:"cors-origins" usage:"let web pages of these origins call the API from a browser (CORS):\nexact origins, comma-separated (https://app.example.com,http://localhost:3000),\nor * for any; none by default"`
	DB               DBConfig      // --db, --database-url
	Redis            RedisConfig   // --redis-url, --redis-failure-mode, --redis-timeout, --redis-key-prefix
	Log              LogConfig     // --log-format, --log-level
	ShutdownTimeout  time.Duration `flag:"shutdown-timeout" default:"15s" usage:"how long in-flight requests may run on after SIGINT/SIGTERM"`
	CacheSize        int           `flag:"cache-size" default:"100000" usage:"how many keys the verification cache holds"`
	CacheTTL         time.Duration `flag:"cache-ttl" default:"5m" usage:"how long a key is served from the cache before it is read again, whatever\nthe invalidation feed says: a last line of defence (changes made by other\nprocesses reach this one within --staleness-bound)"`
	CacheFill        bool          `flag:"cache-fill" default:"true" usage:"at start (and after the invalidation feed reconnects), read the live keys into\nthe verification cache until it is full, and answer /readyz 503 until then,\nso that a restart does not send every key's first verification to the database"`
	MemoryLimit      string        `flag:"memory-limit" default:"auto" usage:"soft limit of the Go runtime's memory (such as 512MiB or 1GiB): garbage is\ncollected more often near it; auto is 48MiB plus 200 bytes per --cache-size\nkey, at least 128MiB, unless GOMEMLIMIT is set; off for none"`
	MetricsAddr      string        `flag:"metrics-addr" usage:"if set, serve Prometheus metrics at /metrics on this address (such as\n0.0.0.0:9464): its own listener, so that the API's port does not show\noperational figures to the API's callers; unauthenticated, like any\nscrape target: keep it on a network only your monitoring reaches"`
	DebugAddr        string        `flag:"debug-addr" usage:"if set, serve Go's profiler (/debug/pprof/) and the counters of the cache and\nthe failure throttle (/debug/vars) on this address; keep it on loopback:\nit is not authenticated"`
	LastUsedInterval time.Duration `flag:"last-used-interval" default:"60s" usage:"how often keys' last_used_at is written (at most one write per key per interval)"`
	StalenessBound   time.Duration `flag:"staleness-bound" default:"1s" usage:"the longest a key changed or deleted by another process may still be\ntrusted here: cached answers are used only while the database's\ninvalidation feed has confirmed within this bound, whatever the network does"`
	DBReadTimeout    time.Duration `flag:"db-read-timeout" default:"2s" usage:"deadline of each database read made for a request; past it, the\nrequest answers 503"`
	DBWriteTimeout   time.Duration `flag:"db-write-timeout" default:"5s" usage:"deadline of each database write made for a request; past it, the\nrequest answers 503 (the write may still have been made: retry it\nwith the same Idempotency-Key)"`
	Retention        time.Duration `flag:"deleted-key-retention" default:"720h" usage:"how long a deleted key's record is kept (it can be restored, and its id\nand secret are not reused, meanwhile) before it is removed for good"`
	AuditRetention   time.Duration `flag:"audit-retention" default:"8760h" usage:"how long audit events are kept before they are removed for good"`
	UsageRetention   time.Duration `flag:"usage-retention" default:"720h" usage:"how long keys' hourly verification counts (GET .../api_keys/{key_id}/usage)\nare kept before they are removed for good"`
	// The flood protections (keycache's membership set, httpapi's
	// throttle).
	MaxUnknownLookups int           `flag:"max-unknown-lookups" default:"100" usage:"database lookups a second, at most, of keys that no stored key's hash matches\n(made-up keys): each pays for one lookup at once, so that a key created a\nmoment ago on another instance verifies without delay; past the rate, such\na key waits for the invalidation feed (a fraction of --staleness-bound) and\nis answered from memory; 0: always wait"`
	FailureBurst      int           `flag:"failure-burst" default:"20" usage:"failures (/verify NOT_FOUND, management 401) a client address may make\nat once; past them its requests get 429, but for keys held in memory;\n0 turns the throttle off"`
	FailureRefill     time.Duration `flag:"failure-refill" default:"1s" usage:"how often a throttled client address earns back one failure"`
	FailureHold       time.Duration `flag:"failure-hold" default:"1s" usage:"how long, at most, a throttled address's 429 is held before it is written\n(until the address may fail again), so that a flood over kept-alive\nconnections cannot run at the server's speed (at most 1024 held at once);\n0: not held"`
	// The web console (package console), mounted at /console.
	Console                bool          `flag:"console" default:"true" usage:"serve the web console at /console: sign in with a key that has manage, or a\nroot key; sessions are kept in the database, so every instance knows them"`
	ConsoleSecureCookies   bool          `flag:"console-secure-cookies" usage:"mark the console's cookies Secure (with the __Host- prefix) although serve\nspeaks plain HTTP: for a proxy or load balancer that terminates TLS in\nfront (with --tls-cert they always are)"`
	ConsoleSessionLifetime time.Duration `flag:"console-session-lifetime" default:"8h" usage:"how long a console session lasts at most from its sign-in (it also ends on\nsign-out, and when its key is deleted, disabled, expired or rotated)"`
	// IdempotencySecret is a secret: give it in the environment, where
	// ps does not show it.
	IdempotencySecret string `flag:"idempotency-secret" usage:"a random secret of at least 32 bytes, hex or base64, the same on every\ninstance: keys the sealed answers of idempotent creates, so that a copy\nof the database alone cannot open one (set it with the environment\nvariable, not the flag, which ps shows)"`
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
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return usageError{errors.New("--tls-cert and --tls-key go together: give both to serve HTTPS, or neither to serve plain HTTP")}
	}
	if _, err := c.cors(); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"cache-ttl", c.CacheTTL}, {"last-used-interval", c.LastUsedInterval}, {"staleness-bound", c.StalenessBound},
		{"db-read-timeout", c.DBReadTimeout}, {"db-write-timeout", c.DBWriteTimeout}, {"deleted-key-retention", c.Retention},
		{"audit-retention", c.AuditRetention}, {"usage-retention", c.UsageRetention},
		{"console-session-lifetime", c.ConsoleSessionLifetime},
	} {
		if d.v <= 0 {
			return usageError{fmt.Errorf("--%s %v: must be positive", d.name, d.v)}
		}
	}
	if _, err := c.idempotencySecret(); err != nil {
		return err
	}
	if _, err := c.memoryLimit(os.Getenv); err != nil {
		return err
	}
	if err := c.Redis.validate(); err != nil {
		return err
	}
	if c.MaxUnknownLookups < 0 {
		return usageError{fmt.Errorf("--max-unknown-lookups %d: must not be negative (0: never look an unknown key up at once)", c.MaxUnknownLookups)}
	}
	if c.FailureBurst < 0 {
		return usageError{fmt.Errorf("--failure-burst %d: must not be negative (0: no throttle)", c.FailureBurst)}
	}
	if c.FailureRefill <= 0 {
		return usageError{fmt.Errorf("--failure-refill %v: must be positive", c.FailureRefill)}
	}
	if c.FailureHold < 0 {
		return usageError{fmt.Errorf("--failure-hold %v: must not be negative (0: not held)", c.FailureHold)}
	}
	// The feed is confirmed every quarter of the bound; below that, a
	// heartbeat's round trip would use up the bound.
	if c.StalenessBound < 100*time.Millisecond {
		return usageError{fmt.Errorf("--staleness-bound %v: must be at least 100ms", c.StalenessBound)}
	}
	return nil
}

// cors decodes --cors-origins: nil when it is not set (no CORS).
func (c ServeConfig) cors() (*httpapi.CORS, error) {
	if strings.TrimSpace(c.CORSOrigins) == "" {
		return nil, nil
	}
	origins := strings.Split(c.CORSOrigins, ",")
	for i := range origins {
		origins[i] = strings.TrimSpace(origins[i])
	}
	cors, err := httpapi.NewCORS(origins)
	if err != nil {
		return nil, usageError{fmt.Errorf("--cors-origins: %w", err)}
	}
	return cors, nil
}

// memoryLimit decodes --memory-limit: the soft limit to set, in bytes, or
// 0 to leave the runtime's (GOMEMLIMIT's, or none).
func (c ServeConfig) memoryLimit(getenv func(string) string) (int64, error) {
	switch s := strings.TrimSpace(c.MemoryLimit); s {
	case "off", "0":
		return math.MaxInt64, nil
	case "auto", "":
		if getenv("GOMEMLIMIT") != "" {
			return 0, nil
		}
		return max(128<<20, 48<<20+200*int64(c.CacheSize)), nil
	default:
		n, err := parseSize(s)
		if err != nil || n < 16<<20 {
			return 0, usageError{fmt.Errorf("--memory-limit %q: want auto, off, or a size of at least 16MiB such as 512MiB or 2GiB", s)}
		}
		return n, nil
	}
}

// parseSize reads a number of bytes with an optional unit: B, KiB, MiB,
// GiB (powers of 1024) or KB, MB, GB (powers of 1000).
func parseSize(s string) (int64, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, err
	}
	units := map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 1e3, "MB": 1e6, "GB": 1e9}
	u, ok := units[strings.TrimSpace(s[i:])]
	if !ok || n > math.MaxInt64/u {
		return 0, fmt.Errorf("bad size")
	}
	return n * u, nil
}

// idempotencySecret decodes --idempotency-secret: nil if it is not set.
// Its value appears in no message.
func (c ServeConfig) idempotencySecret() ([]byte, error) {
	if c.IdempotencySecret == "" {
		return nil, nil
	}
	s := strings.TrimSpace(c.IdempotencySecret)
	b, err := hex.DecodeString(s)
	if err != nil {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err = enc.DecodeString(s); err == nil {
				break
			}
		}
	}
	if err != nil || len(b) < keyward.MinIdempotencySecretLen {
		return nil, usageError{fmt.Errorf("--idempotency-secret: want at least %d random bytes, in hex or base64 (openssl rand -hex 32)", keyward.MinIdempotencySecretLen)}
	}
	return b, nil
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

// Main is keyward serve as a value: its configuration and, once Run has
// returned, its running parts. ParseFlags fills Config from the command
// line; a test may set Config directly instead. Run starts serving and
// returns; Close undoes Run.
type Main struct {
	// Config is what Run starts.
	Config ServeConfig
	// Stdout receives the first root key, printed once; Stderr the log.
	Stdout, Stderr io.Writer

	logger      *slog.Logger
	db          database
	limiter     *redis.Limiter // nil: rate limits are counted in memory
	service     *service
	http        *http.Server
	addr        string
	served      chan struct{} // closed when http.Serve has returned
	serveErr    error         // what it returned
	debug       *http.Server
	debugAddr   string
	metrics     *http.Server
	metricsAddr string
	tls         *certificate // nil: plain HTTP
}

// NewMain returns a serve command with the default configuration, printing
// to stdout and logging to stderr.
func NewMain(stdout, stderr io.Writer) *Main {
	return &Main{Config: DefaultServeConfig(), Stdout: stdout, Stderr: stderr}
}

// ParseFlags sets m.Config from serve's arguments (those after "serve")
// and from the environment, read through getenv. It returns a usage error
// for a bad flag, argument or environment value, or flag.ErrHelp once it
// has printed the help that was asked for.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	cmd := newCommand("serve", serveSummary)
	cmd.register(&m.Config)
	if _, err := cmd.parse(args, getenv, m.Stdout, m.Stderr); err != nil {
		return err
	}
	m.Config.DB.URLFromEnv = cmd.fromEnv["database-url"]
	return nil
}

// Run opens and migrates the database, creates the first root key of an
// empty one, starts the background work and starts serving, and returns
// once it listens. ctx bounds the start; what Run starts runs until Close.
// If Run fails, it undoes what it had started.
func (m *Main) Run(ctx context.Context) (err error) {
	if err := m.Config.validate(); err != nil {
		return err
	}
	if m.logger, err = m.Config.Log.logger(m.Stderr); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = m.Close()
		}
	}()

	// Before the database: a start that cannot serve must not create and
	// print the first root key.
	if m.Config.TLSCert != "" {
		if m.tls, err = loadCertificate(m.Config.TLSCert, m.Config.TLSKey); err != nil {
			return err
		}
		logCertificate(m.logger, "serving HTTPS with the TLS certificate", m.tls.current.Load(), time.Now())
	}
	if limit, _ := m.Config.memoryLimit(os.Getenv); limit > 0 { // validated above
		debug.SetMemoryLimit(limit)
	}
	if m.db, err = m.Config.DB.open(ctx, m.logger); err != nil {
		return err
	}
	if m.limiter, err = m.Config.Redis.open(ctx, m.logger); err != nil {
		return err
	}
	var limiter keyward.RateLimiter
	if m.limiter != nil {
		limiter = m.limiter
	}
	m.service = startService(ctx, m.db, limiter, m.Config, m.logger)
	created, err := bootstrap(ctx, m.logger, m.service.svc, m.Config.DB, m.Stdout)
	if err != nil {
		return err
	}
	if !created {
		warnIfNoRootKey(ctx, m.logger, m.service.svc, m.Config.DB)
	}

	ln, err := net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", m.Config.Addr, err)
	}
	m.addr = ln.Addr().String()
	m.http = &http.Server{
		Handler: m.service.handler,
		// Equal read timeouts cost one deadline per request, not two:
		// net/http moves the deadline only when they differ. A request is
		// at most 64 KiB of headers and 64 KiB of body.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(serverErrorLog{m.logger}, "", 0),
	}
	if m.tls != nil {
		m.http.TLSConfig = m.tls.config()
	}
	if m.Config.MetricsAddr != "" {
		mln, err := net.Listen("tcp", m.Config.MetricsAddr)
		if err != nil {
			ln.Close()
			m.http = nil
			return fmt.Errorf("listen on %s: %w", m.Config.MetricsAddr, err)
		}
		m.metricsAddr = mln.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.service.metrics.Handler())
		m.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = m.metrics.Serve(mln) }()
		m.logger.Info("metrics listening", "addr", m.metricsAddr)
	}
	if m.Config.DebugAddr != "" {
		dln, err := net.Listen("tcp", m.Config.DebugAddr)
		if err != nil {
			ln.Close()
			m.http = nil
			if m.metrics != nil {
				m.metrics.Close()
				m.metrics = nil
			}
			return fmt.Errorf("listen on %s: %w", m.Config.DebugAddr, err)
		}
		m.debugAddr = dln.Addr().String()
		m.debug = &http.Server{Handler: debugHandler(m.service.vars), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = m.debug.Serve(dln) }()
		m.logger.Info("profiler and counters listening", "addr", m.debugAddr)
	}
	m.served = make(chan struct{})
	go func() {
		defer close(m.served)
		if m.tls != nil {
			// The certificate comes from TLSConfig.GetCertificate.
			m.serveErr = m.http.ServeTLS(ln, "", "")
			return
		}
		m.serveErr = m.http.Serve(ln)
	}()
	build := readBuild()
	attrs := []any{"addr", m.addr, "tls", m.tls != nil, "db", m.Config.DB.name(), "version", build.version}
	if build.revision != "" {
		attrs = append(attrs, "revision", build.revision)
	}
	m.logger.Info("listening", attrs...)
	return nil
}

// Addr returns the address the API listens on, host:port, once Run has
// returned: with --addr :0, the port picked.
func (m *Main) Addr() string { return m.addr }

// TLS reports whether the API serves HTTPS (--tls-cert, --tls-key).
func (m *Main) TLS() bool { return m.tls != nil }

// ReloadTLS reads the certificate and key files again, once Run has
// returned with TLS on, and serves the new certificate from the next
// handshake on; connections already open keep theirs. If the files cannot
// be loaded, it logs why and returns it, and the certificate served so far
// stays: a renewal written halfway, or with the wrong key, takes nothing
// down. keyward serve calls it on SIGHUP.
func (m *Main) ReloadTLS() error {
	if m.tls == nil {
		return errors.New("reload TLS: serve has no --tls-cert")
	}
	cert, err := m.tls.reload()
	if err != nil {
		m.logger.Error("could not reload the TLS certificate; still serving the previous one", "err", err)
		return err
	}
	logCertificate(m.logger, "reloaded the TLS certificate", cert, time.Now())
	return nil
}

// MetricsAddr returns the address of /metrics (--metrics-addr), once Run
// listens; "" without one.
func (m *Main) MetricsAddr() string { return m.metricsAddr }

// DebugAddr returns the address of the profiler (--debug-addr), once Run
// has returned; "" when there is none.
func (m *Main) DebugAddr() string { return m.debugAddr }

// Done returns a channel that is closed when the API has stopped serving:
// after Close, or before it if serving failed (Close then reports why).
// It must be called after a successful Run.
func (m *Main) Done() <-chan struct{} { return m.served }

// Close stops what Run started, in order: the API stops taking requests
// and lets those in flight finish, within Config.ShutdownTimeout; the
// background work stops, which writes the last uses of keys; the database
// closes. Close after a failed Run does nothing.
//
// The Redis limiter closes after the background work and before the
// database: it gives back the units this instance leased and did not
// spend, so that other instances can.
func (m *Main) Close() error {
	var errs []error
	if m.http != nil {
		m.logger.Info("shutting down: finishing in-flight requests", "timeout", m.Config.ShutdownTimeout)
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		err := m.http.Shutdown(ctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
			// What is still running would outlive the database.
			m.http.Close()
		}
		<-m.served
		if !errors.Is(m.serveErr, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serve: %w", m.serveErr))
		}
		m.http = nil
	}
	if m.metrics != nil {
		m.metrics.Close()
		m.metrics = nil
	}
	if m.debug != nil {
		m.debug.Close()
		m.debug = nil
	}
	if m.service != nil {
		m.service.stop()
		m.service = nil
	}
	if m.limiter != nil {
		if err := m.limiter.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close Redis: %w", err))
		}
		m.limiter = nil
	}
	if m.db != nil {
		if err := m.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close database: %w", err))
		}
		m.db = nil
		m.logger.Info("stopped")
	}
	return errors.Join(errs...)
}

// runServe is keyward serve: it runs until ctx is done (a signal) or
// serving fails. With TLS, SIGHUP reloads the certificate; without, SIGHUP
// keeps its default meaning (the process ends), as before TLS existed.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	m := NewMain(stdout, stderr)
	if err := m.ParseFlags(args, getenv); err != nil {
		return err
	}
	// Caught from before Run, which logs that it listens: a SIGHUP sent
	// once that line is seen must reload, not end the process.
	var hup chan os.Signal // nil without TLS: never ready
	if m.Config.TLSCert != "" {
		hup = make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}
	if err := m.Run(ctx); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return m.Close()
		case <-m.Done():
			return m.Close()
		case <-hup:
			_ = m.ReloadTLS() // logged; the previous certificate stays
		}
	}
}

// bootstrap creates the first root key of an empty database and prints it,
// this one time, to stdout; logs never see it. It reports whether it did.
func bootstrap(ctx context.Context, logger *slog.Logger, svc *keyward.Service, db DBConfig, stdout io.Writer) (bool, error) {
	k, secret, created, err := svc.Bootstrap(ctx)
	if err != nil || !created {
		return false, err
	}
	logger.Info("created the first root key; its secret is printed once on stdout", "key_id", k.ID.String())
	recovery, note := db.rootKeyCommand()
	if note != "" {
		note = "\n   (" + note + ")"
	}
	_, err = fmt.Fprintf(stdout, `
==================================================================
 Keyward created the first ROOT KEY for this database.
 It is shown this one time only: store it now (a secrets manager).
 It manages the API keys of every organization.

 ROOT KEY: %s

 Use it as:  Authorization: Bearer <root key>
 Lost it? Create another, with or without a server running:
   %s%s
==================================================================

`, secret.Reveal(), recovery, note)
	return true, err
}

// warnIfNoRootKey warns when the database has no live root key (all were
// revoked): no key can then be created for a new organization, and a
// database is bootstrapped only once, so serve will not make another.
func warnIfNoRootKey(ctx context.Context, logger *slog.Logger, svc *keyward.Service, db DBConfig) {
	page, err := svc.ListRootKeys(ctx, nil, 1)
	if err != nil {
		logger.Warn("could not check for a live root key", "err", err)
		return
	}
	if len(page.Keys) > 0 {
		return
	}
	cmd, note := db.rootKeyCommand()
	attrs := []any{"create_one_with", cmd}
	if note != "" {
		attrs = append(attrs, "note", note)
	}
	logger.Warn("no live root key: keys for a new organization cannot be created until there is one", attrs...)
}

package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// options are the flags of one run.
type options struct {
	keys          int
	duration      time.Duration
	warmup        time.Duration
	connections   int
	createClients int
	hotKeys       int
	floodConns    int
	serveArgs     string
	fill          bool
	keep          bool
	markdown      string
	databaseURL   string
	redisURL      string
	pin           bool
	commandLine   string // as typed, with any password in --database-url masked
}

// usageError is a mistake in how the bench was called: it exits with
// status 2, as the flag package does.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

const usage = `Usage: go run ./bench [flags]

Builds keyward, seeds a fresh database, and measures requests/s and latency
percentiles of verify (cold and hot cache; hot again under a flood of
made-up keys), list and create against a bare net/http ceiling on the same
machine, with a built-in load generator. See docs/performance.md.

Flags:
`

// parseOptions parses the flags (args without the program's name) and
// checks their values. The flag package writes its own complaints, and
// --help, to output.
func parseOptions(args []string, output io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	fs.IntVar(&o.keys, "keys", 1_000_000, "number of keys to seed (1000 per organization)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration of each scenario")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each scenario (none for cold verify)")
	fs.IntVar(&o.connections, "connections", 64, "concurrent connections of the ceiling, verify and list scenarios")
	fs.IntVar(&o.createClients, "create-clients", 16, "concurrent connections of the creates scenario")
	fs.IntVar(&o.hotKeys, "hot-keys", 10_000, "size of the hot key set")
	fs.IntVar(&o.floodConns, "flood-connections", 64, "connections of the flood of made-up keys, at full speed, in the flood scenario; 0 skips it")
	fs.StringVar(&o.serveArgs, "serve-args", "", "more flags for keyward serve, separated by spaces (such as \"--failure-hold 0\")")
	fs.BoolVar(&o.fill, "fill", true, "verify every key once before the hot scenario (keyward fills its cache at start; this adds a last use of every key, which its flush writes while the hot scenarios run)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (database, key files, logs)")
	fs.StringVar(&o.markdown, "markdown", "", "also write the report as a Markdown section to this `file`")
	fs.StringVar(&o.databaseURL, "database-url", "", "benchmark against PostgreSQL at this postgres:// `URL` (an empty database or schema) instead of a fresh SQLite file")
	fs.StringVar(&o.redisURL, "redis-url", "redis://127.0.0.1:6379/0", "also measure rate-limited verification with a keyward sharing its limits through this Redis (\"\" to skip)")
	fs.BoolVar(&o.pin, "pin", true, "pin the server to one CPU and the load generator to another with taskset, when possible")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return o, err
		}
		return o, usageError{err}
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if err := o.check(); err != nil {
		return o, usageError{err}
	}
	return o, nil
}

// check refuses values that would make a run meaningless or crash it
// minutes later, after the seeding.
func (o *options) check() error {
	switch {
	case o.keys < 1:
		return fmt.Errorf("--keys %d: must be at least 1", o.keys)
	case o.duration <= 0:
		return fmt.Errorf("--duration %v: must be positive", o.duration)
	case o.warmup < 0:
		return fmt.Errorf("--warmup %v: must not be negative", o.warmup)
	case o.connections < 1:
		return fmt.Errorf("--connections %d: must be at least 1", o.connections)
	case o.createClients < 1:
		return fmt.Errorf("--create-clients %d: must be at least 1", o.createClients)
	case o.hotKeys < 1:
		return fmt.Errorf("--hot-keys %d: must be at least 1", o.hotKeys)
	case o.floodConns < 0:
		return fmt.Errorf("--flood-connections %d: must not be negative", o.floodConns)
	}
	if o.databaseURL != "" {
		u, err := url.Parse(o.databaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			// Not the URL itself: it may hold a password.
			return fmt.Errorf("--database-url: want a postgres:// URL")
		}
	}
	return nil
}

// commandLine is the invocation (args with the program's name) as the
// report shows it: `go run ./bench ...` when run through go run, and never
// with a database's or Redis's password.
func commandLine(args []string) string {
	name := filepath.Base(args[0])
	if strings.Contains(args[0], "go-build") {
		name = "go run ./bench"
	}
	parts := []string{name}
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.HasPrefix(a, "--database-url=") || strings.HasPrefix(a, "-database-url=") ||
			strings.HasPrefix(a, "--redis-url=") || strings.HasPrefix(a, "-redis-url="):
			k, v, _ := strings.Cut(a, "=")
			a = k + "=" + redactURL(v)
		case (a == "--database-url" || a == "-database-url" || a == "--redis-url" || a == "-redis-url") && i+1 < len(args):
			parts = append(parts, a)
			i++
			a = redactURL(args[i])
		}
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// redactURL masks a URL's password, in its user part or its query.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "[unparsable URL]"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// shellQuote quotes s for a POSIX shell, unless it needs none, so that the
// report's command can be pasted back.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,@+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/sqlite"
)

// DBConfig names the database of every command that opens one.
type DBConfig struct {
	Path string `flag:"db" default:"keyward.db" usage:"path of the SQLite database file (serve and migrate create it if missing)"`
	URL  string `flag:"database-url" usage:"PostgreSQL URL (postgres://user:pass@host:5432/db?pool_max_conns=20);\nwhen set, --db is not used and several instances may share the database"`

	// URLFromEnv says that URL came from KEYWARD_DATABASE_URL, so that
	// messages point there instead of repeating the URL.
	URLFromEnv bool
}

// database is what the commands need of a store: either backend.
type database interface {
	keyward.KeyStore
	keyward.InvalidationFeed
	keyward.SessionStore // the web console's sessions
	SchemaVersion(ctx context.Context) (int64, error)
	PoolStats() []keyward.PoolStats // for --metrics-addr
}

// name says which database is in use, for messages; a URL's password is
// never shown.
func (d DBConfig) name() string {
	if d.URL == "" {
		return d.Path
	}
	redacted, _, ok := redactURL(d.URL)
	if !ok {
		return "(PostgreSQL URL)"
	}
	return redacted
}

// open opens and migrates the database, creating a SQLite file that does
// not exist: for serve and migrate, the commands that make a database.
func (d DBConfig) open(ctx context.Context, logger *slog.Logger) (database, error) {
	if d.URL != "" {
		if !strings.HasPrefix(d.URL, "postgres://") && !strings.HasPrefix(d.URL, "postgresql://") {
			return nil, usageError{fmt.Errorf("--database-url: want a postgres:// URL")}
		}
		db, err := postgres.Open(ctx, d.URL, postgres.WithLogger(logger))
		if err != nil {
			// pgx's errors may quote the URL, password included: say
			// only what kind of failure it was.
			return nil, fmt.Errorf("open database %s: %s", d.name(), redactIn(err.Error(), d.URL))
		}
		if err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("migrate database %s: %w", d.name(), err)
		}
		return db, nil
	}
	db, err := sqlite.Open(ctx, d.Path, sqlite.WithLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", d.Path, err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate database %s: %w", d.Path, err)
	}
	return db, nil
}

// openExisting is open for a database that must already exist: the
// root-key commands. Were they to create a SQLite file, a mistyped --db
// would hand out a root key for a new, empty database that no server uses.
func (d DBConfig) openExisting(ctx context.Context) (database, error) {
	if d.URL == "" {
		if _, err := os.Stat(d.Path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s: give --db the file that serve uses; only 'keyward serve' and 'keyward migrate' create a database", d.Path)
		}
	}
	return d.open(ctx, nil)
}

// rootKeyCommand is the command that creates a root key in this database,
// as the user can run it, and a note to print after it ("" if none). It
// never holds a password: a URL's is redacted, and note says so.
func (d DBConfig) rootKeyCommand() (cmd, note string) {
	const create = "keyward root-key create"
	switch {
	case d.URL == "":
		return create + " --db " + shellQuote(d.Path), ""
	case d.URLFromEnv:
		return create, "with KEYWARD_DATABASE_URL set as for this server"
	}
	redacted, hadPassword, ok := redactURL(d.URL)
	switch {
	case !ok:
		return create + " --database-url URL", "where URL is this server's PostgreSQL URL"
	case hadPassword:
		return create + " --database-url " + shellQuote(redacted), "the password in the URL is redacted here: put it back"
	}
	return create + " --database-url " + shellQuote(redacted), ""
}

// shellSafe matches what a POSIX shell takes literally.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellQuote quotes s, where needed, so that a shell passes it unchanged.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// redactURL returns rawURL with its passwords replaced by xxxxx: the one
// in its user information and any in its query (password=, sslpassword=,
// which libpq also reads), and whether it had one. ok is false if rawURL
// does not parse.
func redactURL(rawURL string) (redacted string, hadPassword, ok bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", false, false
	}
	if _, set := u.User.Password(); set {
		hadPassword = true
	}
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "xxxxx")
			hadPassword = true
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted(), hadPassword, true
}

// redactIn removes the passwords of rawURL from msg.
func redactIn(msg, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "cannot connect"
	}
	var secrets []string
	if p, ok := u.User.Password(); ok && p != "" {
		secrets = append(secrets, p)
	}
	for k, vs := range u.Query() {
		if strings.Contains(strings.ToLower(k), "password") {
			secrets = append(secrets, vs...)
		}
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		// As given in the URL, and as decoded: a message may quote either.
		for _, form := range []string{url.QueryEscape(s), url.PathEscape(s), s} {
			msg = strings.ReplaceAll(msg, form, "xxxxx")
		}
	}
	return msg
}

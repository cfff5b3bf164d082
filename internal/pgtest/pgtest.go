// Package pgtest gives tests a PostgreSQL database of their own: URL returns
// a connection URL whose search_path is a new, empty schema, dropped when
// the test ends, so that tests (and packages tested in parallel) share one
// server without seeing each other's tables.
//
// A test binary that dies before its cleanups run (killed, or stopped by
// go test's -timeout) cannot drop its schemas. The first URL of each test
// binary therefore drops the schemas such runs left behind: those created
// more than LeftoverAge ago that no session is using (sweepLeftovers).
//
// The server is the one at $KEYWARD_TEST_POSTGRES_URL or, when that is
// unset, at DefaultURL. A test that needs PostgreSQL is skipped when the
// variable is unset and nothing answers at DefaultURL, so that `go test
// ./...` passes on a machine without PostgreSQL; it fails when the variable
// is set and the server does not answer, so that CI, which sets it, cannot
// pass by skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable that holds the base URL of the test
// server, a postgres:// URL whose role may create and drop schemas.
const EnvURL = "KEYWARD_TEST_POSTGRES_URL"

// DefaultURL is where the tests look for a server when EnvURL is unset: a
// local PostgreSQL with trust authentication and a database named test.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// SchemaPrefix starts the name of every schema URL creates. The full name
// is SchemaPrefix, the Unix time of its creation in seconds, "_" and 16
// random hex digits: kwtest_1764612000_0123456789abcdef.
const SchemaPrefix = "kwtest_"

// LeftoverAge is how old a schema must be, and unused, for a later test
// run to drop it as a leftover of a run that died: far longer than any
// test holds one (go test stops a test binary after 10 minutes by
// default).
const LeftoverAge = time.Hour

// connectTimeout bounds each attempt to reach the server.
const connectTimeout = 10 * time.Second

// BaseURL returns the URL of the test server, without a schema of the
// test's own: for tests that need the server itself, such as to terminate
// other sessions' backends. It skips the test when EnvURL is unset and
// nothing answers at DefaultURL, and fails it when EnvURL is set and the
// server does not answer.
func BaseURL(t testing.TB) string {
	t.Helper()
	env, set := os.LookupEnv(EnvURL)
	return baseURL(t, env, set)
}

// URL returns a URL of the test server whose search_path is a new schema,
// named SchemaPrefix and 16 random hex digits, created for this test and
// dropped, with everything in it, when the test and its cleanups registered
// after this call have ended. Every session opened with the URL, through
// pgx, pgxpool or database/sql with pgx's stdlib driver, creates and finds
// unqualified tables in that schema. The URL also sets application_name to
// the schema's name, so that a test can find its own sessions in
// pg_stat_activity.
//
// The URL has the form
//
//	<base URL>?...&application_name=kwtest_<hex>&search_path=kwtest_<hex>
//
// where pgx sends both parameters to the server as run-time settings at
// connection start.
func URL(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	schema := newSchemaName(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", redact(base), err)
	}
	defer conn.Close(context.Background())
	sweepOnce(t, base, conn)
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+ident); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		// t.Context() is done by now; the drop gets a context of its own.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+ident+` CASCADE`); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvURL, err) // baseURL parsed it already
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// newSchemaName returns a schema name no other test uses, created at now.
func newSchemaName(now time.Time) string {
	var b [8]byte
	rand.Read(b[:])
	return SchemaPrefix + strconv.FormatInt(now.Unix(), 10) + "_" + hex.EncodeToString(b[:])
}

// schemaCreated returns the creation time written in the name of a schema
// that newSchemaName made, and false for any other name (among them the
// names without a time that earlier versions of this package made: their
// age is unknown, so they are never swept).
func schemaCreated(name string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(name, SchemaPrefix)
	if !ok {
		return time.Time{}, false
	}
	secs, random, ok := strings.Cut(rest, "_")
	if !ok || len(random) != 16 {
		return time.Time{}, false
	}
	if _, err := hex.DecodeString(random); err != nil {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// swept remembers, for each base URL, that this process has swept it.
var swept sync.Map // URL string -> *sync.Once

// sweepOnce runs sweepLeftovers on base once per process. A failure to
// sweep fails no test: it is logged on t.
func sweepOnce(t testing.TB, base string, conn *pgx.Conn) {
	t.Helper()
	once, _ := swept.LoadOrStore(base, new(sync.Once))
	once.(*sync.Once).Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		dropped, err := sweepLeftovers(ctx, conn, time.Now())
		if err != nil {
			t.Logf("pgtest: could not drop the schemas left by earlier test runs: %v", err)
		}
		if len(dropped) > 0 {
			t.Logf("pgtest: dropped %d schemas left by earlier test runs that ended before their cleanups", len(dropped))
		}
	})
}

// sweepLeftovers drops the schemas of this package that were created more
// than LeftoverAge before now and that no session is using (none has the
// schema's name as its application_name, which URL sets), and returns
// their names. Schemas whose name carries no creation time are kept.
//
// Several test binaries may sweep at once: a schema another one dropped
// first is skipped.
func sweepLeftovers(ctx context.Context, conn *pgx.Conn, now time.Time) ([]string, error) {
	rows, err := conn.Query(ctx, `
		SELECT n.nspname FROM pg_namespace n
		WHERE starts_with(n.nspname, $1)
		  AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.application_name = n.nspname)`, SchemaPrefix)
	if err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	var dropped []string
	var errs []error
	for _, name := range names {
		created, ok := schemaCreated(name)
		if !ok || now.Sub(created) < LeftoverAge {
			continue
		}
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			errs = append(errs, fmt.Errorf("drop schema %s: %w", name, err))
			continue
		}
		dropped = append(dropped, name)
	}
	return dropped, errors.Join(errs...)
}

// baseURL is BaseURL with the environment given: env is the value of
// EnvURL, and set whether it is set at all.
func baseURL(t testing.TB, env string, set bool) string {
	t.Helper()
	if !set || env == "" {
		if err := reachable(DefaultURL); err != nil {
			t.Skipf("PostgreSQL not reachable at %s (%v); set %s to run these tests", DefaultURL, err, EnvURL)
		}
		return DefaultURL
	}
	u, err := url.Parse(env)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Not err itself: it would show the URL, password and all.
		t.Fatalf("%s is not a postgres:// URL", EnvURL)
	}
	if err := reachable(env); err != nil {
		t.Fatalf("PostgreSQL not reachable at %s (from %s): %v", redact(env), EnvURL, err)
	}
	return env
}

// probes remembers, for each URL, whether the server answered, so that a
// test run asks once rather than once per test.
var probes sync.Map // URL string -> func() error

// reachable reports whether a server answers at rawURL, asking it once per
// process.
func reachable(rawURL string) error {
	probe, _ := probes.LoadOrStore(rawURL, sync.OnceValue(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, rawURL)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		return conn.Ping(ctx)
	}))
	return probe.(func() error)()
}

// redact returns rawURL with its password, if any, masked.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Sprintf("<unparsable %s>", EnvURL)
	}
	return u.Redacted()
}

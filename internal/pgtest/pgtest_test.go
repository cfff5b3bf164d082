package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// Every way of connecting with the URL lands in the test's schema, which
// no other URL shares, and the schema is gone once the test has ended.
func TestURL(t *testing.T) {
	var schema string
	t.Run("test", func(t *testing.T) {
		rawURL := URL(t)
		u, err := url.Parse(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		schema = u.Query().Get("search_path")
		if !strings.HasPrefix(schema, SchemaPrefix) {
			t.Fatalf("search_path = %q, want a schema named %s...", schema, SchemaPrefix)
		}
		if got := u.Query().Get("application_name"); got != schema {
			t.Errorf("application_name = %q, want %q", got, schema)
		}

		type session struct {
			name  string
			query func(q string, dest ...any) error
		}
		pool, err := pgxpool.New(t.Context(), rawURL)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		conn, err := pgx.Connect(t.Context(), rawURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		sqlDB, err := sql.Open("pgx", rawURL)
		if err != nil {
			t.Fatal(err)
		}
		defer sqlDB.Close()
		sessions := []session{
			{"pgxpool", func(q string, dest ...any) error { return pool.QueryRow(t.Context(), q).Scan(dest...) }},
			{"pgx", func(q string, dest ...any) error { return conn.QueryRow(t.Context(), q).Scan(dest...) }},
			{"database/sql", func(q string, dest ...any) error { return sqlDB.QueryRowContext(t.Context(), q).Scan(dest...) }},
		}
		if _, err := pool.Exec(t.Context(), `CREATE TABLE marker (n int)`); err != nil {
			t.Fatalf("create a table: %v", err)
		}
		for _, s := range sessions {
			var current, app, table string
			if err := s.query(`SELECT current_schema(), current_setting('application_name'), 'marker'::regclass::text`, &current, &app, &table); err != nil {
				t.Errorf("%s: %v", s.name, err)
				continue
			}
			if current != schema || app != schema || table != "marker" {
				t.Errorf("%s: schema %q, application_name %q, table %q; want %q, %q, %q", s.name, current, app, table, schema, schema, "marker")
			}
		}

		other, err := pgx.Connect(t.Context(), URL(t))
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close(context.Background())
		var found *string
		if err := other.QueryRow(t.Context(), `SELECT to_regclass('marker')::text`).Scan(&found); err != nil {
			t.Fatal(err)
		}
		if found != nil {
			t.Errorf("another test's URL sees the table: %s", *found)
		}
	})
	if schema == "" {
		return // skipped or failed
	}
	admin, err := pgx.Connect(t.Context(), BaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var n int
	if err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("schema %s still exists after the test", schema)
	}
}

// fakeTB records a Skip or a Fatal and ends the goroutine, as testing.T
// does.
type fakeTB struct {
	testing.TB
	mu              sync.Mutex
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.mu.Lock()
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// call runs baseURL with the given environment on a fake test.
func call(env string, set bool) (f *fakeTB, got string) {
	f = &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = baseURL(f, env, set)
	}()
	<-done
	return f, got
}

// Without the variable, an unreachable server skips; with it, fails. A
// URL's password never shows in the message.
func TestBaseURLUnreachable(t *testing.T) {
	// A port that nothing listens on: one just freed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	closed := "postgres://keyward:s3cret-pw@" + addr + "/test?sslmode=disable"

	f, _ := call(closed, true)
	if !f.failed || f.skipped {
		t.Errorf("%s set to an unreachable server: failed %v, skipped %v; want a failure", EnvURL, f.failed, f.skipped)
	}
	if !strings.Contains(f.msg, addr) || strings.Contains(f.msg, "s3cret-pw") {
		t.Errorf("failure message %q: want the address, not the password", f.msg)
	}

	f, _ = call("host=127.0.0.1 password=s3cret-pw", true)
	if !f.failed || strings.Contains(f.msg, "s3cret-pw") {
		t.Errorf("%s set to a key=value string: failed %v, message %q; want a failure without the password", EnvURL, f.failed, f.msg)
	}

	if err := reachable(DefaultURL); err != nil {
		f, _ = call("", false)
		if !f.skipped || f.failed {
			t.Errorf("%s unset, nothing at %s: skipped %v, failed %v; want a skip", EnvURL, DefaultURL, f.skipped, f.failed)
		}
	} else {
		f, got := call("", false)
		if f.skipped || f.failed || got != DefaultURL {
			t.Errorf("%s unset, a server at %s: got %q, skipped %v, failed %v", EnvURL, DefaultURL, got, f.skipped, f.failed)
		}
	}
}

// The proxy's faults do what the tests built on it assume: Reset breaks
// the connections it forwards and takes new ones at once; Freeze holds
// every byte, of new connections too, until Thaw.
func TestProxy(t *testing.T) {
	p := NewProxy(t, URL(t))
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, p.URL)
	if err != nil {
		t.Fatalf("connect through the proxy: %v", err)
	}
	defer conn.Close(context.Background())
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("ping through the proxy: %v", err)
	}

	p.Reset()
	if err := conn.Ping(ctx); err == nil {
		t.Error("a connection survived Reset")
	}
	fresh, err := pgx.Connect(ctx, p.URL)
	if err != nil {
		t.Fatalf("connect right after Reset: %v", err)
	}
	defer fresh.Close(context.Background())

	p.Freeze()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := fresh.Ping(short); err == nil {
		t.Error("a ping went through a frozen proxy")
	}
	short2, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	if c, err := pgx.Connect(short2, p.URL); err == nil {
		c.Close(context.Background())
		t.Error("a new connection went through a frozen proxy")
	}
	p.Thaw()
	again, err := pgx.Connect(ctx, p.URL)
	if err != nil {
		t.Fatalf("connect after Thaw: %v", err)
	}
	defer again.Close(context.Background())
	if err := again.Ping(ctx); err != nil {
		t.Errorf("ping after Thaw: %v", err)
	}
}

// A schema's name says when it was made, and only names that do are read
// as such.
func TestSchemaCreated(t *testing.T) {
	now := time.Unix(1764612000, 0)
	name := newSchemaName(now)
	if len(name) > 63 {
		t.Errorf("%s is longer than PostgreSQL's 63-byte names", name)
	}
	if got, ok := schemaCreated(name); !ok || !got.Equal(now) {
		t.Errorf("schemaCreated(%q) = %v, %v; want %v", name, got, ok, now)
	}
	for _, bad := range []string{
		"kwtest_0123456789abcdef", // made by an earlier version: no time
		"kwtest_1764612000_0123456789abcde",
		"kwtest_1764612000_0123456789abcdeg",
		"kwtest_-5_0123456789abcdef",
		"kwtest__0123456789abcdef",
		"other_1764612000_0123456789abcdef",
	} {
		if got, ok := schemaCreated(bad); ok {
			t.Errorf("schemaCreated(%q) = %v; want no time", bad, got)
		}
	}
}

// The sweep drops a schema made over LeftoverAge ago that no session uses,
// and keeps a recent one, an old one still in use, and one whose name has
// no time.
func TestSweepLeftovers(t *testing.T) {
	base := BaseURL(t)
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	now := time.Now()
	legacy := SchemaPrefix + fmt.Sprintf("%016x", now.UnixNano())
	schemas := map[string]bool{ // name → whether the sweep must drop it
		newSchemaName(now.Add(-LeftoverAge - time.Minute)): true,
		newSchemaName(now.Add(-LeftoverAge + time.Minute)): false,
		legacy: false,
	}
	inUse := newSchemaName(now.Add(-2 * LeftoverAge))
	schemas[inUse] = false
	for name := range schemas {
		ident := pgx.Identifier{name}.Sanitize()
		if _, err := admin.Exec(ctx, `CREATE SCHEMA `+ident+`; CREATE TABLE `+ident+`.t (n int)`); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = admin.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+ident+` CASCADE`) })
	}
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = inUse
	user, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer user.Close(context.Background())

	if _, err := sweepLeftovers(ctx, admin, now); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	for name, drop := range schemas {
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if gone := n == 0; gone != drop {
			t.Errorf("schema %s: dropped %v, want %v", name, gone, drop)
		}
	}
}

package postgres_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/storetest"
)

// waitTimeout bounds every wait for something that happens asynchronously:
// generous, as it only decides how long a broken test takes to fail.
const waitTimeout = 10 * time.Second

// openTestDB opens and migrates a store in a new schema of its own, closed
// when the test ends. It returns the schema's URL too.
func openTestDB(t testing.TB) (*postgres.DB, string) {
	t.Helper()
	rawURL := pgtest.URL(t)
	return openAt(t, rawURL), rawURL
}

// openAt opens and migrates the store at rawURL, closed when the test ends.
func openAt(t testing.TB, rawURL string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), rawURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// applicationName returns the application_name of the sessions of the
// store at rawURL, which pgtest sets to the schema's name.
func applicationName(t testing.TB, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	name := u.Query().Get("application_name")
	if name == "" {
		t.Fatal("the test URL sets no application_name")
	}
	return name
}

// terminate ends, with pg_terminate_backend, every session of the server
// whose application_name is name, and returns how many it ended.
func terminate(t testing.TB, name string) int {
	t.Helper()
	admin, err := pgx.Connect(t.Context(), pgtest.BaseURL(t))
	if err != nil {
		t.Fatalf("connect as admin: %v", err)
	}
	defer admin.Close(context.Background())
	var n int
	err = admin.QueryRow(t.Context(),
		`SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
		FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`, name,
	).Scan(&n)
	if err != nil {
		t.Fatalf("terminate sessions of %s: %v", name, err)
	}
	return n
}

// eventually calls f until it succeeds, failing the test if it has not
// within waitTimeout. Each failure must be EUNAVAILABLE: a store that lost
// its connections says so, and says nothing else, until it has new ones.
// It returns how many calls failed.
func eventually(t testing.TB, what string, f func() error) int {
	t.Helper()
	failed := 0
	for deadline := time.Now().Add(waitTimeout); ; {
		err := f()
		if err == nil {
			return failed
		}
		if code := keyward.ErrorCode(err); code != keyward.EUNAVAILABLE {
			t.Fatalf("%s: %v (code %q), want success or EUNAVAILABLE", what, err, code)
		}
		failed++
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, waitTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		NewDatabase: func(t *testing.T) string { return pgtest.URL(t) },
		Open: func(t *testing.T, rawURL string) (keyward.KeyStore, error) {
			db, err := postgres.Open(t.Context(), rawURL)
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { db.Close() })
			return db, db.Migrate(t.Context())
		},
	})
}

// Migrate and SchemaVersion (the KeyStore methods are the conformance
// suite's) return the error of a context cancelled or past its deadline,
// wrapped.
func TestMigrateContextErrors(t *testing.T) {
	db, _ := openTestDB(t)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"expired", expired, context.DeadlineExceeded},
	} {
		if err := db.Migrate(c.ctx); !errors.Is(err, c.want) {
			t.Errorf("Migrate with a %s context: %v, want %v", c.name, err, c.want)
		}
		if _, err := db.SchemaVersion(c.ctx); !errors.Is(err, c.want) {
			t.Errorf("SchemaVersion with a %s context: %v, want %v", c.name, err, c.want)
		}
	}
}

// A bootstrap waits for a key being created, and then stores nothing: it
// never stores a root key beside a key committed before it.
func TestBootstrapWaitsForCreate(t *testing.T) {
	db, rawURL := openTestDB(t)
	tx, err := db.Pool().Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	k := storetest.NewKey("acme")
	if _, err := tx.Exec(t.Context(),
		`INSERT INTO api_keys (id, org_id, root, name, permissions, secret_hash, hint, created_at, updated_at)
		VALUES ($1, 'acme', false, 'in flight', '{read}', $2, 'hint', now(), now())`, int64(k.ID), k.Hash[:],
	); err != nil {
		t.Fatalf("insert a key: %v", err)
	}

	type result struct {
		ok  bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		ok, err := db.BootstrapRootKey(t.Context(), storetest.NewKey(""), nil)
		done <- result{ok, err}
	}()
	// Wait until the bootstrap waits for a lock, or has returned (wrongly:
	// the key it must see is not committed yet).
	var res *result
	for deadline := time.Now().Add(waitTimeout); res == nil; {
		select {
		case r := <-done:
			res = &r
			continue
		default:
		}
		var waiting int
		if err := db.Pool().QueryRow(t.Context(),
			`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
			applicationName(t, rawURL),
		).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("BootstrapRootKey neither returned nor waited for a lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatalf("commit the key: %v", err)
	}
	if res == nil {
		r := <-done
		res = &r
	}
	if res.err != nil || res.ok {
		t.Errorf("BootstrapRootKey beside a key being created = %v, %v; want false, nil", res.ok, res.err)
	}
	keys, err := db.ListKeys(t.Context(), keyward.KeyFilter{Root: true})
	if err != nil || len(keys) != 0 {
		t.Errorf("root keys: %d, %v; want none", len(keys), err)
	}
}

// Open refuses a URL it cannot parse without showing its password, and a
// server that answers with a refusal at once, without waiting.
func TestOpenRefuses(t *testing.T) {
	if _, err := postgres.Open(t.Context(), "postgres://keyward:s3cret-pw@127.0.0.1:notaport/test"); err == nil {
		t.Error("Open of a bad URL succeeded")
	} else if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("Open of a bad URL: %v, which shows the password", err)
	}

	u, err := url.Parse(pgtest.BaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/keyward_no_such_database"
	db, err := postgres.Open(t.Context(), u.String())
	if err == nil {
		db.Close()
		t.Fatal("Open of a missing database succeeded")
	}
	if !strings.Contains(err.Error(), "does not exist") || keyward.ErrorCode(err) == keyward.EUNAVAILABLE {
		t.Errorf("Open of a missing database: %v (code %q), want the server's refusal, not EUNAVAILABLE", err, keyward.ErrorCode(err))
	}
}

// Open of a server that does not answer keeps trying until its context
// ends, then fails with EUNAVAILABLE and the cause.
func TestOpenUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, "postgres://keyward@"+addr+"/test?sslmode=disable")
	if err == nil {
		db.Close()
		t.Fatal("Open of a closed port succeeded")
	}
	if keyward.ErrorCode(err) != keyward.EUNAVAILABLE || !errors.Is(err, syscall.ECONNREFUSED) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Open of a closed port: %v (code %q), want EUNAVAILABLE for a refused connection, after the deadline", err, keyward.ErrorCode(err))
	}
	if !strings.HasPrefix(err.Error(), "open database: ") {
		t.Errorf("Open of a closed port: %q, want it to say what failed", err)
	}
}

// Every session of the store commits durably, even when the URL (or the
// server) turns synchronous_commit off; a store without an
// application_name in its URL is "keyward" in pg_stat_activity.
func TestSessionSettings(t *testing.T) {
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("synchronous_commit", "off")
	q.Set("pool_max_conns", "3")
	q.Del("application_name")
	u.RawQuery = q.Encode()
	db := openAt(t, u.String())

	conns := make([]*pgxpool.Conn, 0, 3)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for i := range 3 { // every connection the pool may have, at once
		c, err := db.Pool().Acquire(t.Context())
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		var syncCommit, app string
		if err := c.QueryRow(t.Context(),
			`SELECT current_setting('synchronous_commit'), current_setting('application_name')`,
		).Scan(&syncCommit, &app); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if syncCommit != "on" || app != postgres.DefaultApplicationName {
			t.Errorf("connection %d: synchronous_commit %q, application_name %q; want on, %q", i, syncCommit, app, postgres.DefaultApplicationName)
		}
	}
}

// When the server's sessions are terminated, as by an administrator or a
// restart, a call may fail with EUNAVAILABLE, and the store recovers on
// its own: the pool replaces the broken connections.
func TestTerminatedBackends(t *testing.T) {
	db, rawURL := openTestDB(t)
	k := storetest.NewKey("acme")
	if err := db.CreateKey(t.Context(), k, nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	// Several connections in the pool, all of them recently used.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := db.KeyByHash(t.Context(), k.Hash); err != nil {
				t.Errorf("KeyByHash: %v", err)
			}
		})
	}
	wg.Wait()

	for round := range 3 {
		if n := terminate(t, applicationName(t, rawURL)); n == 0 {
			t.Fatalf("round %d: no session of the store to terminate", round)
		}
		failed := eventually(t, "KeyByHash after the sessions were terminated", func() error {
			got, err := db.KeyByHash(t.Context(), k.Hash)
			if err == nil && got.ID != k.ID {
				t.Fatalf("KeyByHash returned key %v, want %v", got.ID, k.ID)
			}
			return err
		})
		t.Logf("round %d: %d calls failed before the store recovered", round, failed)
		checkWorks(t, db)
	}
}

// Batches of uses recorded at once, from several goroutines, each touching
// every key in its own order, all succeed, and each key keeps its latest
// use.
func TestTouchKeysConcurrent(t *testing.T) {
	db, _ := openTestDB(t)
	keys := make([]*keyward.Key, 50)
	for i := range keys {
		keys[i] = storetest.NewKey("acme")
		if err := db.CreateKey(t.Context(), keys[i], nil); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
	}
	const goroutines, batches = 8, 20
	latest := make(map[keyward.KeyID]time.Time)
	all := make([][]keyward.KeyUse, goroutines*batches)
	for b := range all {
		for _, i := range rand.Perm(len(keys)) {
			at := keys[i].CreatedAt.Add(time.Duration(rand.IntN(1_000_000)) * time.Microsecond)
			all[b] = append(all[b], keyward.KeyUse{ID: keys[i].ID, At: at})
			if at.After(latest[keys[i].ID]) {
				latest[keys[i].ID] = at
			}
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for b := g * batches; b < (g+1)*batches; b++ {
				if err := db.TouchKeys(t.Context(), all[b]); err != nil {
					t.Errorf("TouchKeys: %v", err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for _, k := range keys {
		got, err := db.Key(t.Context(), "acme", k.ID)
		if err != nil {
			t.Fatalf("Key: %v", err)
		}
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(latest[k.ID]) {
			t.Errorf("key %v: LastUsedAt %v, want %v", k.ID, got.LastUsedAt, latest[k.ID])
		}
	}
}

// checkWorks checks that every call of the store works, eventually (a
// connection broken while idle fails the call that finds it).
func checkWorks(t *testing.T, db *postgres.DB) {
	t.Helper()
	k := storetest.NewKey("acme")
	eventually(t, "CreateKey", func() error { return db.CreateKey(t.Context(), k, nil) })
	eventually(t, "Ping", func() error { return db.Ping(t.Context()) })
	eventually(t, "Key", func() error { _, err := db.Key(t.Context(), "acme", k.ID); return err })
	eventually(t, "ListKeys", func() error {
		_, err := db.ListKeys(t.Context(), keyward.KeyFilter{OrgID: "acme"})
		return err
	})
	eventually(t, "TouchKeys", func() error {
		return db.TouchKeys(t.Context(), []keyward.KeyUse{{ID: k.ID, At: time.Now()}})
	})
	eventually(t, "ListAuditEvents", func() error {
		_, err := db.ListAuditEvents(t.Context(), keyward.AuditFilter{OrgID: "acme"})
		return err
	})
	eventually(t, "DeleteKey", func() error { _, err := storetest.Delete(t.Context(), db, "acme", k.ID, time.Now()); return err })
}

// While the server cannot be reached every call fails, promptly, with
// EUNAVAILABLE; once it is back the store works again, without a restart.
func TestServerUnreachable(t *testing.T) {
	rawURL := pgtest.URL(t)
	p := pgtest.NewProxy(t, rawURL)
	db := openAt(t, p.URL)
	live := storetest.NewKey("acme")
	if err := db.CreateKey(t.Context(), live, nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}

	for round := range 2 {
		p.Stop()
		calls := map[string]func() error{
			"CreateKey": func() error { return db.CreateKey(t.Context(), storetest.NewKey("acme"), nil) },
			"BootstrapRootKey": func() error {
				_, err := db.BootstrapRootKey(t.Context(), storetest.NewKey(""), nil)
				return err
			},
			"KeyByHash": func() error { _, err := db.KeyByHash(t.Context(), live.Hash); return err },
			"Key":       func() error { _, err := db.Key(t.Context(), "acme", live.ID); return err },
			"ListKeys": func() error {
				_, err := db.ListKeys(t.Context(), keyward.KeyFilter{OrgID: "acme", Limit: 10})
				return err
			},
			"DeleteKey": func() error { _, err := storetest.Delete(t.Context(), db, "acme", live.ID, time.Now()); return err },
			"CreateKey with an event": func() error {
				k := storetest.NewKey("acme")
				return db.CreateKey(t.Context(), k, &keyward.AuditEvent{ID: keyward.NewEventID(), At: k.CreatedAt, OrgID: "acme", Actor: "cli", Action: keyward.ActionCreate, KeyID: k.ID})
			},
			"ListAuditEvents": func() error {
				_, err := db.ListAuditEvents(t.Context(), keyward.AuditFilter{OrgID: "acme", Limit: 10})
				return err
			},
			"PruneAuditEvents": func() error { _, err := db.PruneAuditEvents(t.Context(), time.Now(), 10); return err },
			"TouchKeys": func() error {
				return db.TouchKeys(t.Context(), []keyward.KeyUse{{ID: live.ID, At: time.Now()}})
			},
			"Ping": func() error { return db.Ping(t.Context()) },
			"SchemaVersion": func() error {
				_, err := db.SchemaVersion(t.Context())
				return err
			},
			"Migrate": func() error { return db.Migrate(t.Context()) },
		}
		for name, call := range calls {
			err := call()
			if code := keyward.ErrorCode(err); code != keyward.EUNAVAILABLE {
				t.Errorf("round %d: %s with the server unreachable: %v (code %q), want EUNAVAILABLE", round, name, err, code)
			} else if msg := keyward.ErrorMessage(err); msg != "database unavailable" {
				t.Errorf("round %d: %s with the server unreachable: message %q", round, name, msg)
			}
		}
		p.Start()
		checkWorks(t, db)
		got, err := db.KeyByHash(t.Context(), live.Hash)
		if err != nil || got.ID != live.ID || got.DeletedAt != nil {
			t.Fatalf("round %d: KeyByHash after the outage = %v, %v; want the live key", round, got, err)
		}
	}
}

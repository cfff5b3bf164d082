package postgres_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/postgres"
)

// events records what a Listen reports, in order: "reset", "listening",
// and "evict <hex of the hash>".
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.log = append(e.log, s)
	e.mu.Unlock()
}

// snapshot returns the events so far.
func (e *events) snapshot() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

// waitFor waits until ok holds for the events so far, failing the test if
// it has not within waitTimeout.
func (e *events) waitFor(t testing.TB, what string, ok func(log []string) bool) []string {
	t.Helper()
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(5 * time.Millisecond) {
		log := e.snapshot()
		if ok(log) {
			return log
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; events: %v", waitTimeout, what, log)
		}
	}
}

// evicted is the event of onEvict(h).
func evicted(h keyward.SecretHash) string { return "evict " + hex.EncodeToString(h[:]) }

// lifecycle returns log without its evictions: what Listen reports of its
// connection. Tests in other processes delete keys in the same database,
// so evictions of theirs may come at any time.
func lifecycle(log []string) []string {
	return slices.DeleteFunc(slices.Clone(log), func(e string) bool { return strings.HasPrefix(e, "evict ") })
}

// count returns how many times ev occurs in log.
func count(log []string, ev string) int {
	n := 0
	for _, e := range log {
		if e == ev {
			n++
		}
	}
	return n
}

// listen runs db.Listen until the test ends, recording its events, and
// waits until it listens. The cleanup checks that Listen returns nil.
func listen(t *testing.T, db *postgres.DB, opts ...postgres.ListenOption) *events {
	t.Helper()
	ev := &events{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- db.Listen(ctx,
			func(h keyward.SecretHash) { ev.add(evicted(h)) },
			func() { ev.add("reset") },
			append(opts, postgres.OnListening(func() { ev.add("listening") }))...,
		)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Listen: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("Listen did not return within %v of its context's end", waitTimeout)
		}
	})
	log := ev.waitFor(t, "the listener to listen", func(log []string) bool { return count(log, "listening") == 1 })
	if !slices.Equal(lifecycle(log), []string{"reset", "listening"}) {
		t.Errorf("events of a new listener: %v, want [reset listening]", log)
	}
	return ev
}

// Listen reports the hash of each key deleted, once the delete commits,
// and only of keys deleted.
//
// The listener checks its connection every 10ms here, so that the checks
// happen while it listens: none of them may reset it.
func TestListenEvictsDeletedKeys(t *testing.T) {
	db, _ := openTestDB(t)
	ev := listen(t, db, postgres.ListenChecks(10*time.Millisecond, waitTimeout))
	kept, deleted, root := newKey(t, "acme"), newKey(t, "acme"), newKey(t, "")
	for _, k := range []*keyward.Key{kept, deleted, root} {
		if err := db.CreateKey(t.Context(), k); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
	}
	// A delete that finds no key notifies nothing. Notifications arrive in
	// the order their transactions commit, so kept's, had it been sent,
	// would come before deleted's.
	if _, err := db.DeleteKey(t.Context(), "globex", kept.ID, time.Now()); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Fatalf("DeleteKey in the wrong organization: %v, want ENOTFOUND", err)
	}
	for _, k := range []*keyward.Key{deleted, root} {
		if _, err := db.DeleteKey(t.Context(), k.OrgID, k.ID, time.Now()); err != nil {
			t.Fatalf("DeleteKey: %v", err)
		}
	}
	log := ev.waitFor(t, "the deleted keys' hashes", func(log []string) bool {
		return count(log, evicted(deleted.Hash)) == 1 && count(log, evicted(root.Hash)) == 1
	})
	if slices.Index(log, evicted(deleted.Hash)) > slices.Index(log, evicted(root.Hash)) {
		t.Errorf("evictions out of the order of the deletes: %v", log)
	}
	if slices.Contains(log, evicted(kept.Hash)) {
		t.Error("Listen reported the hash of a key not deleted")
	}
	if n := count(log, "reset"); n != 1 {
		t.Errorf("%d resets, want only the first one: %v", n, log)
	}
}

// Listen ignores payloads that are not a hash, and goes on listening.
func TestListenIgnoresMalformedPayloads(t *testing.T) {
	db, _ := openTestDB(t)
	ev := listen(t, db, postgres.ListenChecks(10*time.Millisecond, waitTimeout))
	first, last := keyward.NewSecret().Hash(), keyward.NewSecret().Hash()
	payloads := []string{
		hex.EncodeToString(first[:]),
		"",
		"not a hash",
		strings.Repeat("zz", 32),
		hex.EncodeToString(last[:31]),
		hex.EncodeToString(last[:]) + "00",
		" " + hex.EncodeToString(last[:31]) + " ",
		hex.EncodeToString(last[:]),
	}
	// One transaction's notifications arrive together, in order, with no
	// other transaction's between them.
	tx, err := db.Pool().Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	for _, p := range payloads {
		if _, err := tx.Exec(t.Context(), `SELECT pg_notify($1, $2)`, postgres.NotifyChannel, p); err != nil {
			t.Fatalf("notify %q: %v", p, err)
		}
	}
	// A notification on another channel is none of Listen's business.
	if _, err := tx.Exec(t.Context(), `SELECT pg_notify('keyward_other', $1)`, hex.EncodeToString(first[:])); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	log := ev.waitFor(t, "the last notification", func(log []string) bool { return slices.Contains(log, evicted(last)) })
	i := slices.Index(log, evicted(first))
	if i < 0 || i+1 >= len(log) || log[i+1] != evicted(last) {
		t.Errorf("events: %v; want %q right before %q, with nothing for the malformed payloads between", log, evicted(first), evicted(last))
	}
	if count(log, "reset") != 1 {
		t.Errorf("malformed payloads reset the listener: %v", log)
	}
}

// When the listener's session is terminated, Listen calls onReset,
// reconnects, calls onReset again once it listens, and goes on reporting
// deletes.
func TestListenReconnects(t *testing.T) {
	db, rawURL := openTestDB(t)
	ev := listen(t, db)
	for round := range 3 {
		before := len(ev.snapshot())
		if n := terminate(t, applicationName(t, rawURL)+postgres.ListenerSuffix); n != 1 {
			t.Fatalf("round %d: terminated %d listener sessions, want 1", round, n)
		}
		log := lifecycle(ev.waitFor(t, "the listener to listen again", func(log []string) bool {
			return count(log[before:], "listening") == 1
		})[before:])
		// A reset when the connection drops, then one after the LISTEN
		// that follows, right before the listener reports it listens.
		n := len(log)
		if n < 3 || log[0] != "reset" || log[n-2] != "reset" || log[n-1] != "listening" {
			t.Errorf("round %d: events after the session ended: %v, want [reset ... reset listening]", round, log)
		}

		k := newKey(t, "acme")
		if err := db.CreateKey(t.Context(), k); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		if _, err := db.DeleteKey(t.Context(), "acme", k.ID, time.Now()); err != nil {
			t.Fatalf("DeleteKey: %v", err)
		}
		ev.waitFor(t, fmt.Sprintf("round %d: the deleted key's hash", round), func(log []string) bool {
			return slices.Contains(log, evicted(k.Hash))
		})
	}
}

// While the server cannot be reached the listener keeps trying; once it
// is back, it listens again, and deletes made meanwhile are covered by
// its resets.
func TestListenThroughOutage(t *testing.T) {
	rawURL := openTestDBURL(t)
	p := pgtest.NewProxy(t, rawURL)
	db := openAt(t, p.URL)
	direct := openAt(t, rawURL) // deletes while the proxy is down
	ev := listen(t, db)

	p.Stop()
	before := len(ev.snapshot())
	ev.waitFor(t, "a reset once the connection is lost", func(log []string) bool {
		return count(log[before:], "reset") >= 1
	})
	k := newKey(t, "acme")
	if err := direct.CreateKey(t.Context(), k); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if _, err := direct.DeleteKey(t.Context(), "acme", k.ID, time.Now()); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}

	p.Start()
	log := lifecycle(ev.waitFor(t, "the listener to listen again", func(log []string) bool {
		return count(log[before:], "listening") == 1
	})[before:])
	if n := len(log); n < 3 || log[n-2] != "reset" || log[n-1] != "listening" {
		t.Errorf("events after the outage: %v, want [reset ... reset listening]", log)
	}
	k = newKey(t, "acme")
	if err := direct.CreateKey(t.Context(), k); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if _, err := direct.DeleteKey(t.Context(), "acme", k.ID, time.Now()); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	ev.waitFor(t, "the hash of a key deleted after the outage", func(log []string) bool {
		return slices.Contains(log, evicted(k.Hash))
	})
}

// A connection that stops answering, without closing, is found out by the
// listener's ping, and replaced once the server answers again.
func TestListenThroughSilence(t *testing.T) {
	rawURL := openTestDBURL(t)
	p := pgtest.NewProxy(t, rawURL)
	db := openAt(t, p.URL)
	direct := openAt(t, rawURL)
	ev := listen(t, db, postgres.ListenChecks(50*time.Millisecond, 200*time.Millisecond))

	before := len(ev.snapshot())
	p.Freeze()
	ev.waitFor(t, "a reset once the ping goes unanswered", func(log []string) bool {
		return count(log[before:], "reset") >= 1
	})
	p.Thaw()
	log := lifecycle(ev.waitFor(t, "the listener to listen again", func(log []string) bool {
		return count(log[before:], "listening") == 1
	})[before:])
	if n := len(log); n < 3 || log[n-2] != "reset" || log[n-1] != "listening" {
		t.Errorf("events after the silence: %v, want [reset ... reset listening]", log)
	}
	k := newKey(t, "acme")
	if err := direct.CreateKey(t.Context(), k); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if _, err := direct.DeleteKey(t.Context(), "acme", k.ID, time.Now()); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	ev.waitFor(t, "the hash of a key deleted after the silence", func(log []string) bool {
		return slices.Contains(log, evicted(k.Hash))
	})
}

// openTestDBURL returns the URL of a new, migrated schema.
func openTestDBURL(t *testing.T) string {
	t.Helper()
	_, rawURL := openTestDB(t)
	return rawURL
}

// Close stops Listen, which returns nil and calls nothing once Close has
// returned; Listen on a closed DB returns at once.
func TestListenStopsOnClose(t *testing.T) {
	db, err := postgres.Open(t.Context(), openTestDBURL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var closed, lateCall atomic.Bool
	called := func() {
		if closed.Load() {
			lateCall.Store(true)
		}
	}
	listening := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- db.Listen(t.Context(), func(keyward.SecretHash) { called() }, called,
			postgres.OnListening(func() { called(); listening <- struct{}{} }))
	}()
	select {
	case <-listening:
	case err := <-done:
		t.Fatalf("Listen returned before it listened: %v", err)
	case <-time.After(waitTimeout):
		t.Fatal("Listen did not listen")
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed.Store(true)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Listen after Close: %v, want nil", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Listen did not return after Close")
	}
	if lateCall.Load() {
		t.Error("Listen called back after Close returned")
	}
	if err := db.Listen(t.Context(), func(keyward.SecretHash) {}, nil); err != nil {
		t.Errorf("Listen on a closed DB: %v, want nil", err)
	}
	if err := db.Listen(t.Context(), nil, nil); err == nil {
		t.Error("Listen without onEvict: no error")
	}
}

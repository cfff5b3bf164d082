package postgres_test

import (
	"context"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/storetest"
)

// heartbeat is how often the watchers of these tests confirm.
const heartbeat = 20 * time.Millisecond

// watch runs db.Watch into a new Watcher until the test ends, and waits
// until it listens and has confirmed once. The cleanup checks that Watch
// returns nil once stopped.
func watch(t *testing.T, db *postgres.DB, opts ...postgres.WatchOption) *storetest.Watcher {
	t.Helper()
	w := storetest.NewWatcher()
	watchWith(t, db, w, w, opts...)
	return w
}

// watchWith is watch into w, which records into rec.
func watchWith(t *testing.T, db *postgres.DB, w keyward.InvalidationWatcher, rec *storetest.Watcher, opts ...postgres.WatchOption) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.Watch(ctx, w, heartbeat, opts...) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("Watch did not return within %v of its context's end", waitTimeout)
		}
	})
	ev := rec.WaitFor(t, "the first confirmation", func(ev []storetest.Event) bool { return count(ev, "confirm") > 0 })
	if lifecycle(ev)[0] != "reset" {
		t.Errorf("a new watch began with %v, want a reset before its first confirmation", ev)
	}
}

// count returns how many events of kind ev holds.
func count(ev []storetest.Event, kind string) int {
	n := 0
	for _, e := range ev {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// lifecycle returns the kinds of ev without its invalidations and with
// runs of confirmations collapsed: what Watch reports of its connection.
// Tests in other processes change keys in the same database, so their
// invalidations may come at any time.
func lifecycle(ev []storetest.Event) []string {
	var out []string
	for _, e := range ev {
		if e.Kind == "invalidate" || e.Kind == "confirm" && len(out) > 0 && out[len(out)-1] == "confirm" {
			continue
		}
		out = append(out, e.Kind)
	}
	return out
}

// changeAndCheck creates and deletes a key through db, and checks that w
// hears the create and the delete (once each) before it confirms a time
// after the delete was acknowledged: the feed's guarantee.
func changeAndCheck(t *testing.T, db *postgres.DB, w *storetest.Watcher) {
	t.Helper()
	k, acked := createAndDelete(t, db)
	ev := w.WaitFor(t, "a confirmation after the delete", func(ev []storetest.Event) bool {
		return storetest.ConfirmedAfter(ev, acked) >= 0
	})
	c := storetest.ConfirmedAfter(ev, acked)
	if n := countHash(ev[:c], k.Hash); n != 2 {
		t.Errorf("before confirming a time after the delete, the watcher heard of the key %d times, want twice (its create, its delete): %v", n, ev)
	}
}

// createAndDelete creates a key through db and deletes it, and returns it
// with the time the delete was acknowledged.
func createAndDelete(t *testing.T, db *postgres.DB) (*keyward.Key, time.Time) {
	t.Helper()
	k := storetest.NewKey("acme")
	if err := db.CreateKey(t.Context(), k, nil); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if _, err := storetest.Delete(t.Context(), db, "acme", k.ID, time.Now()); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	return k, time.Now()
}

// countHash returns how many invalidations of h ev holds.
func countHash(ev []storetest.Event, h keyward.SecretHash) int {
	n := 0
	for _, e := range ev {
		if e.Kind == "invalidate" && e.Hash == h {
			n++
		}
	}
	return n
}

// Watch confirms again and again while its connection is healthy, and
// resets only as it starts; every change reaches it before a confirmation
// of a time after the change.
func TestWatchConfirms(t *testing.T) {
	db, _ := openTestDB(t)
	w := watch(t, db)
	for range 5 {
		changeAndCheck(t, db, w)
	}
	ev := w.WaitFor(t, "ten confirmations", func(ev []storetest.Event) bool { return count(ev, "confirm") >= 10 })
	if n := count(ev, "reset"); n != 1 {
		t.Errorf("%d resets on a healthy connection, want only the first: %v", n, lifecycle(ev))
	}
	var last time.Time
	for _, e := range ev {
		if e.Kind == "confirm" {
			if !e.AsOf.After(last) {
				t.Errorf("confirmations out of order: %v after %v", e.AsOf, last)
			}
			last = e.AsOf
		}
	}
}

// Watch ignores payloads that are not a hash, and notifications on other
// channels, and goes on.
func TestWatchIgnoresMalformedPayloads(t *testing.T) {
	db, _ := openTestDB(t)
	w := watch(t, db)
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
	if _, err := tx.Exec(t.Context(), `SELECT pg_notify('keyward_other', $1)`, hex.EncodeToString(first[:])); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	ev := w.WaitFor(t, "the last notification", func(ev []storetest.Event) bool { return storetest.Index(ev, last) >= 0 })
	i := storetest.Index(ev, first)
	if i < 0 || ev[i+1].Kind != "invalidate" || ev[i+1].Hash != last {
		t.Errorf("events: %v; want the first hash right before the last, with nothing for the malformed payloads between", ev)
	}
	if count(ev, "reset") != 1 {
		t.Errorf("malformed payloads reset the watcher: %v", lifecycle(ev))
	}
}

// A lag is reported only for hashes announced after a time on
// CommittedChannel, as many as it counts, from the same session: hashes
// from a writer of an earlier version (no time), or after a malformed
// time, are passed on without one; a well-formed time counts down its
// hashes, and the next are again without one.
func TestWatchLagFollowsCommittedTimes(t *testing.T) {
	db, _ := openTestDB(t)
	w := storetest.NewLagWatcher()
	watchWith(t, db, w, w.Watcher)
	hashes := make([]string, 6)
	for i := range hashes {
		h := keyward.NewSecret().Hash()
		hashes[i] = hex.EncodeToString(h[:])
	}
	at := strconv.FormatInt(time.Now().Add(-time.Second).UnixMicro(), 10)
	notes := [][2]string{
		{postgres.NotifyChannel, hashes[0]}, // an earlier version's writer
		{postgres.CommittedChannel, "not a time"},
		{postgres.NotifyChannel, hashes[1]},
		{postgres.CommittedChannel, at + " 0"},
		{postgres.NotifyChannel, hashes[2]},
		{postgres.CommittedChannel, at + " 2"},
		{postgres.NotifyChannel, hashes[3]},
		{postgres.NotifyChannel, hashes[4]},
		{postgres.NotifyChannel, hashes[5]}, // past the count
	}
	tx, err := db.Pool().Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	for _, n := range notes {
		if _, err := tx.Exec(t.Context(), `SELECT pg_notify($1, $2)`, n[0], n[1]); err != nil {
			t.Fatalf("notify %q: %v", n, err)
		}
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	var last keyward.SecretHash
	hex.Decode(last[:], []byte(hashes[5]))
	ev := w.WaitFor(t, "the last notification", func(ev []storetest.Event) bool { return storetest.Index(ev, last) >= 0 })
	var got []string
	for _, e := range ev {
		switch e.Kind {
		case "invalidate":
			got = append(got, "invalidate")
		case "lag":
			if e.Lag < time.Second {
				t.Errorf("lag %v of a change stamped a second ago", e.Lag)
			}
			got = append(got, "lag")
		}
	}
	want := []string{"invalidate", "invalidate", "invalidate", "invalidate", "lag", "invalidate", "lag", "invalidate"}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// When the watcher's session is terminated, Watch reconnects, resets once
// it listens again, and only then confirms; changes made meanwhile are
// covered by that reset, and later ones are heard.
func TestWatchReconnects(t *testing.T) {
	db, rawURL := openTestDB(t)
	w := watch(t, db)
	for round := range 3 {
		before := len(w.Events())
		if n := terminate(t, applicationName(t, rawURL)+postgres.ListenerSuffix); n != 1 {
			t.Fatalf("round %d: terminated %d watcher sessions, want 1", round, n)
		}
		w.WaitFor(t, "a reset, and a confirmation after it", func(ev []storetest.Event) bool {
			l := lifecycle(ev[before:])
			r := slices.Index(l, "reset")
			return r >= 0 && slices.Contains(l[r:], "confirm")
		})
		changeAndCheck(t, db, w)
	}
}

// While the server cannot be reached nothing is confirmed; once it is
// back, Watch listens again and resets before it confirms, so that a
// delete made meanwhile cannot be trusted away.
func TestWatchThroughOutage(t *testing.T) {
	rawURL := openTestDBURL(t)
	p := pgtest.NewProxy(t, rawURL)
	db := openAt(t, p.URL)
	direct := openAt(t, rawURL)
	w := watch(t, db)

	p.Stop()
	stopped := time.Now()
	_, acked := createAndDelete(t, direct)
	time.Sleep(10 * heartbeat)
	if i := storetest.ConfirmedAfter(w.Events(), stopped.Add(heartbeat)); i >= 0 {
		t.Fatalf("confirmed a time after the connection was cut: %v", w.Events())
	}
	p.Start()
	ev := w.WaitFor(t, "a confirmation after the outage", func(ev []storetest.Event) bool {
		return storetest.ConfirmedAfter(ev, acked) >= 0
	})
	c := storetest.ConfirmedAfter(ev, acked)
	if count(ev[:c], "reset") < 2 {
		t.Errorf("confirmed after the outage without a reset: %v", lifecycle(ev))
	}
	changeAndCheck(t, direct, w)
}

// A connection that stops answering, without closing, stops the
// confirmations; the watcher gives up on it after the reply timeout and
// listens again once the server answers, and every delete made during the
// silence reaches it (or a reset does) before a later confirmation.
func TestWatchThroughSilence(t *testing.T) {
	rawURL := openTestDBURL(t)
	p := pgtest.NewProxy(t, rawURL)
	db := openAt(t, p.URL)
	direct := openAt(t, rawURL)
	w := watch(t, db, postgres.WatchTimeouts(200*time.Millisecond, 200*time.Millisecond))

	p.Freeze()
	frozen := time.Now()
	k, acked := createAndDelete(t, direct)
	time.Sleep(500 * time.Millisecond)
	if i := storetest.ConfirmedAfter(w.Events(), frozen.Add(heartbeat)); i >= 0 {
		t.Fatalf("confirmed a time after the connection went silent: %v", lifecycle(w.Events()))
	}
	p.Thaw()
	ev := w.WaitFor(t, "a confirmation after the silence", func(ev []storetest.Event) bool {
		return storetest.ConfirmedAfter(ev, acked) >= 0
	})
	c := storetest.ConfirmedAfter(ev, acked)
	heard := countHash(ev[:c], k.Hash) == 1
	reset := count(ev[:c], "reset") >= 2
	if !heard && !reset {
		t.Errorf("confirmed a time after the delete without hearing it or resetting: %v", ev)
	}
	changeAndCheck(t, direct, w)
}

// openTestDBURL returns the URL of a new, migrated schema.
func openTestDBURL(t *testing.T) string {
	t.Helper()
	_, rawURL := openTestDB(t)
	return rawURL
}

// Close stops Watch, which returns nil and calls nothing once Close has
// returned; Watch on a closed DB returns at once.
func TestWatchStopsOnClose(t *testing.T) {
	db, err := postgres.Open(t.Context(), openTestDBURL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var closed, lateCall atomic.Bool
	w := &lateWatcher{closed: &closed, late: &lateCall, confirmed: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() { done <- db.Watch(t.Context(), w, heartbeat) }()
	select {
	case <-w.confirmed:
	case err := <-done:
		t.Fatalf("Watch returned before it confirmed: %v", err)
	case <-time.After(waitTimeout):
		t.Fatal("Watch did not confirm")
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed.Store(true)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch after Close: %v, want nil", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Watch did not return after Close")
	}
	if lateCall.Load() {
		t.Error("Watch called back after Close returned")
	}
	if err := db.Watch(t.Context(), storetest.NewWatcher(), heartbeat); err != nil {
		t.Errorf("Watch on a closed DB: %v, want nil", err)
	}
	if err := db.Watch(t.Context(), nil, heartbeat); err == nil {
		t.Error("Watch without a watcher: no error")
	}
}

// lateWatcher notes any call made after closed is set.
type lateWatcher struct {
	closed, late *atomic.Bool
	confirmed    chan struct{}
}

func (w *lateWatcher) call() {
	if w.closed.Load() {
		w.late.Store(true)
	}
}
func (w *lateWatcher) Invalidate(keyward.SecretHash) { w.call() }
func (w *lateWatcher) Reset()                        { w.call() }
func (w *lateWatcher) Confirm(time.Time) {
	w.call()
	select {
	case w.confirmed <- struct{}{}:
	default:
	}
}

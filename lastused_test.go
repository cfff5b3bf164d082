package keyward_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// TestLastUsedRecorderFlushWritesLatest: uses recorded in any order are
// written once, as the latest, and only on a flush.
func TestLastUsedRecorderFlushWritesLatest(t *testing.T) {
	ctx := context.Background()
	s, db := newServiceAndStore(t)
	root := mustRoot(t, s)
	k, _ := mustKey(t, s, root, "acme", keyward.PermRead)
	u := keyward.NewLastUsedRecorder(db)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	u.Record(k.ID, t0.Add(2*time.Second))
	u.Record(k.ID, t0.Add(5*time.Second))
	u.Record(k.ID, t0.Add(3*time.Second))
	if n := u.Pending(); n != 1 {
		t.Fatalf("Pending = %d, want 1 (one key)", n)
	}
	got, _ := s.Key(ctx, root, "acme", k.ID)
	if got.LastUsedAt != nil {
		t.Fatal("last use written before a flush")
	}
	if err := u.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Key(ctx, root, "acme", k.ID)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("LastUsedAt = %v, want the latest use", got.LastUsedAt)
	}
	if n := u.Pending(); n != 0 {
		t.Errorf("Pending after flush = %d", n)
	}
}

// TestLastUsedRecorderManyKeys: more uses than one batch holds are all written.
func TestLastUsedRecorderManyKeys(t *testing.T) {
	ctx := context.Background()
	s, db := newServiceAndStore(t)
	root := mustRoot(t, s)
	k, _ := mustKey(t, s, root, "acme", keyward.PermRead)
	u := keyward.NewLastUsedRecorder(db)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 2500 {
		u.Record(keyward.KeyID(i+1), at) // ids that do not exist are ignored
	}
	u.Record(k.ID, at)
	if err := u.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Key(ctx, root, "acme", k.ID)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) {
		t.Fatalf("LastUsedAt = %v", got.LastUsedAt)
	}
}

// TestLastUsedRecorderFailedFlushKeepsUses: uses that could not be written
// stay pending for the next flush.
func TestLastUsedRecorderFailedFlushKeepsUses(t *testing.T) {
	_, db := newServiceAndStore(t)
	u := keyward.NewLastUsedRecorder(db)
	u.Record(keyward.KeyID(7), time.Now())
	u.Record(keyward.KeyID(8), time.Now())
	db.Close()
	if err := u.Flush(context.Background()); err == nil {
		t.Fatal("Flush on a closed store succeeded")
	}
	if n := u.Pending(); n != 2 {
		t.Fatalf("Pending after a failed flush = %d, want 2", n)
	}
}

// TestLastUsedRecorderRunFlushesOnStop: stopping Run writes what is pending,
// so a graceful shutdown loses no use.
func TestLastUsedRecorderRunFlushesOnStop(t *testing.T) {
	ctx := context.Background()
	s, db := newServiceAndStore(t)
	root := mustRoot(t, s)
	k, secret := mustKey(t, s, root, "acme", keyward.PermRead)
	u := keyward.NewLastUsedRecorder(db)
	s.LastUsed = u
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { u.Run(runCtx, time.Hour, func(err error) { t.Error(err) }); close(done) }()
	if _, err := s.Authenticate(ctx, secret.Reveal()); err != nil {
		t.Fatal(err)
	}
	stop()
	<-done
	got, _ := s.Key(ctx, root, "acme", k.ID)
	if got.LastUsedAt == nil {
		t.Fatal("use lost when Run stopped")
	}
}

// TestServiceVerify: the codes, and that only a live key is described.
func TestServiceVerify(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	root := mustRoot(t, s)
	k, secret := mustKey(t, s, root, "acme", keyward.PermRead, keyward.PermManage)
	for _, tc := range []struct {
		name     string
		key      string
		required []keyward.Permission
		code     keyward.VerifyCode
	}{
		{"live", secret.Reveal(), nil, keyward.VerifyValid},
		{"held", secret.Reveal(), []keyward.Permission{keyward.PermRead}, keyward.VerifyValid},
		{"not implied", secret.Reveal(), []keyward.Permission{keyward.PermWrite}, keyward.VerifyInsufficientPermissions},
		{"malformed", "kw_x", nil, keyward.VerifyNotFound},
		{"unknown", keyward.NewSecret().Reveal(), nil, keyward.VerifyNotFound},
	} {
		v, err := s.Verify(ctx, tc.key, tc.required)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if v.Code != tc.code || v.Valid() != (tc.code == keyward.VerifyValid) {
			t.Errorf("%s: %+v, want %s", tc.name, v, tc.code)
		}
		if (v.Key != nil) != (tc.code != keyward.VerifyNotFound) || (v.Key != nil && v.Key.ID != k.ID) {
			t.Errorf("%s: key %v", tc.name, v.Key)
		}
	}
}

// TestLastUsedRecorderOnFlush: Run reports each flush to OnFlush, with
// the keys it wrote, and a failed one with its error.
func TestLastUsedRecorderOnFlush(t *testing.T) {
	ctx := context.Background()
	s, db := newServiceAndStore(t)
	root := mustRoot(t, s)
	_, secret := mustKey(t, s, root, "acme", keyward.PermRead)
	u := keyward.NewLastUsedRecorder(db)
	s.LastUsed = u
	type flushed struct {
		keys int
		err  error
	}
	flushes := make(chan flushed, 16)
	u.OnFlush = func(keys int, took time.Duration, err error) {
		if took < 0 {
			t.Errorf("OnFlush: took %v", took)
		}
		flushes <- flushed{keys, err}
	}
	if _, err := s.Authenticate(ctx, secret.Reveal()); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { u.Run(runCtx, time.Hour, nil); close(done) }()
	stop() // the flush at the end of Run
	<-done
	if f := <-flushes; f.keys != 1 || f.err != nil {
		t.Fatalf("OnFlush(%d, %v), want 1 key, no error", f.keys, f.err)
	}

	if _, err := s.Authenticate(ctx, secret.Reveal()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	runCtx, stop = context.WithCancel(ctx)
	done = make(chan struct{})
	go func() { u.Run(runCtx, time.Hour, nil); close(done) }()
	stop()
	<-done
	if f := <-flushes; f.keys != 0 || f.err == nil {
		t.Fatalf("OnFlush(%d, %v) on a closed store, want 0 keys and the error", f.keys, f.err)
	}
}

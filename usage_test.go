package keyward_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// Verifications are counted by outcome, per UTC hour, once flushed: the
// outcomes of a key that exists, each in its own counter; a disabled or
// expired key's verification is counted but is no use of the key; the
// management API's authentications and a root key's verification are not
// counted. KeyUsage answers every hour of the range, zeros included.
func TestKeyUsageCountsOutcomes(t *testing.T) {
	ctx := context.Background()
	s, db := newServiceAndStore(t)
	now := time.Date(2026, 1, 1, 10, 20, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	u := keyward.NewLastUsedRecorder(db)
	s.LastUsed = u
	root, rootSecret, err := s.CreateRootKey(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	k, secret, err := s.CreateKey(ctx, root, "acme", keyward.NewKey{
		Name: "k", Permissions: []keyward.Permission{keyward.PermRead, keyward.PermManage},
		RateLimits: []keyward.RateLimit{{Name: "minute", Limit: 3, Duration: time.Minute}},
		Credits:    &keyward.Credits{Remaining: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	disabled, disabledSecret := mustKey(t, s, root, "acme", keyward.PermRead)
	off := false
	if _, err := s.UpdateKey(ctx, root, "acme", disabled.ID, keyward.KeyPatch{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	expiry := now.Add(time.Hour)
	expiring, expiringSecret, err := s.CreateKey(ctx, root, "acme", keyward.NewKey{Name: "e", Permissions: []keyward.Permission{keyward.PermRead}, ExpiresAt: &expiry})
	if err != nil {
		t.Fatal(err)
	}

	verify := func(secret string, want keyward.VerifyCode, perms ...keyward.Permission) {
		t.Helper()
		v, err := s.Verify(ctx, secret, perms)
		if err != nil || v.Code != want {
			t.Fatalf("Verify = %v, %v; want %v", v.Code, err, want)
		}
	}
	read := keyward.PermRead
	verify(secret.Reveal(), keyward.VerifyValid, read)
	verify(secret.Reveal(), keyward.VerifyValid, read)
	verify(secret.Reveal(), keyward.VerifyUsageExceeded, read)
	verify(secret.Reveal(), keyward.VerifyRateLimited, read)
	verify(secret.Reveal(), keyward.VerifyInsufficientPermissions, keyward.PermWrite)
	verify(disabledSecret.Reveal(), keyward.VerifyDisabled)
	verify(rootSecret.Reveal(), keyward.VerifyNotFound)
	verify("kw_nonsense", keyward.VerifyNotFound)
	if _, err := s.Authenticate(ctx, secret.Reveal()); err != nil {
		t.Fatal(err)
	}
	thisHour := now.Truncate(time.Hour)
	now = now.Add(2 * time.Hour) // the key expired meanwhile
	verify(expiringSecret.Reveal(), keyward.VerifyExpired, read)
	verify(secret.Reveal(), keyward.VerifyInsufficientPermissions, keyward.PermWrite)

	if got, _ := s.KeyUsage(ctx, root, "acme", k.ID, keyward.UsageRange{}); got.Totals.Total() != 0 {
		t.Fatalf("counts read before a flush: %+v", got.Totals)
	}
	if err := u.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	later := thisHour.Add(2 * time.Hour)
	for _, c := range []struct {
		name   string
		id     keyward.KeyID
		counts map[time.Time]keyward.VerifyCounts
		used   bool
	}{
		{"the key", k.ID, map[time.Time]keyward.VerifyCounts{
			thisHour: {Valid: 2, UsageExceeded: 1, RateLimited: 1, InsufficientPermissions: 1},
			later:    {InsufficientPermissions: 1},
		}, true},
		{"the disabled key", disabled.ID, map[time.Time]keyward.VerifyCounts{thisHour: {Disabled: 1}}, false},
		{"the expired key", expiring.ID, map[time.Time]keyward.VerifyCounts{later: {Expired: 1}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.KeyUsage(ctx, root, "acme", c.id, keyward.UsageRange{})
			if err != nil {
				t.Fatal(err)
			}
			// The last 7 days up to the current hour, included.
			if len(got.Hours) != 7*24 || !got.Until.Equal(later.Add(time.Hour)) || !got.Since.Equal(got.Until.Add(-7*24*time.Hour)) {
				t.Fatalf("%d hours from %v to %v; want 168 up to %v", len(got.Hours), got.Since, got.Until, later.Add(time.Hour))
			}
			var total keyward.VerifyCounts
			for i, h := range got.Hours {
				if want := got.Since.Add(time.Duration(i) * time.Hour); !h.Hour.Equal(want) || h.ID != c.id {
					t.Fatalf("hour %d is %v of %v, want %v of %v", i, h.Hour, h.ID, want, c.id)
				}
				if h.Counts != c.counts[h.Hour] {
					t.Errorf("%v: %+v, want %+v", h.Hour, h.Counts, c.counts[h.Hour])
				}
				total.Add(c.counts[h.Hour])
			}
			if got.Totals != total {
				t.Errorf("Totals = %+v, want %+v", got.Totals, total)
			}
			if (got.Key.LastUsedAt != nil) != c.used {
				t.Errorf("LastUsedAt = %v; want a use: %v", got.Key.LastUsedAt, c.used)
			}
		})
	}
}

// KeyUsage rounds its range out to whole hours and refuses a range that
// is empty or longer than MaxUsageRange, before it reads anything.
func TestKeyUsageRange(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	now := time.Date(2026, 1, 1, 10, 20, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	root := mustRoot(t, s)
	k, _ := mustKey(t, s, root, "acme", keyward.PermRead)
	// span is the range from since to until, either left out if nil.
	span := func(since, until *time.Time) keyward.UsageRange {
		return keyward.UsageRange{Since: since, Until: until}
	}
	at := func(h int, m int) time.Time { return time.Date(2026, 1, 1, h, m, 0, 0, time.UTC) }
	p := func(t time.Time) *time.Time { return &t }
	for _, c := range []struct {
		name         string
		r            keyward.UsageRange
		since, until time.Time // zero: EINVALID
	}{
		{"default", keyward.UsageRange{}, at(11, 0).Add(-7 * 24 * time.Hour), at(11, 0)},
		{"rounded out", span(p(at(3, 30)), p(at(5, 1))), at(3, 0), at(6, 0)},
		{"on the hour", span(p(at(3, 0)), p(at(5, 0))), at(3, 0), at(5, 0)},
		{"within an hour", span(p(at(3, 10)), p(at(3, 20))), at(3, 0), at(4, 0)},
		{"since only", span(p(at(1, 59)), nil), at(1, 0), at(11, 0)},
		{"until only", span(nil, p(at(5, 0))), at(5, 0).Add(-7 * 24 * time.Hour), at(5, 0)},
		{"31 days", span(p(at(0, 0).Add(-keyward.MaxUsageRange)), p(at(0, 0))), at(0, 0).Add(-keyward.MaxUsageRange), at(0, 0)},
		{"31 days and a minute", span(p(at(0, 0).Add(-keyward.MaxUsageRange)), p(at(0, 1))), time.Time{}, time.Time{}},
		{"until before since", span(p(at(5, 0)), p(at(4, 0))), time.Time{}, time.Time{}},
		{"until equal to since", span(p(at(5, 0)), p(at(5, 0))), time.Time{}, time.Time{}},
		{"since in the future", span(p(at(12, 0)), nil), time.Time{}, time.Time{}},
		{"since centuries ago", span(p(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)), nil), time.Time{}, time.Time{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.KeyUsage(ctx, root, "", k.ID, c.r)
			if c.since.IsZero() {
				wantCode(t, "KeyUsage", err, keyward.EINVALID)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Since.Equal(c.since) || !got.Until.Equal(c.until) || len(got.Hours) != int(c.until.Sub(c.since)/time.Hour) {
				t.Errorf("%v to %v in %d hours, want %v to %v", got.Since, got.Until, len(got.Hours), c.since, c.until)
			}
		})
	}
}

// KeyUsage answers only for a key the caller may see: another
// organization's key, a deleted key and an unknown id are ENOTFOUND, as
// for Key; a key without manage may not read usage at all.
func TestKeyUsageScope(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	root := mustRoot(t, s)
	admin, _ := mustKey(t, s, root, "acme", keyward.PermManage, keyward.PermRead)
	reader, _ := mustKey(t, s, root, "acme", keyward.PermRead)
	mine, _ := mustKey(t, s, root, "acme", keyward.PermRead)
	theirs, _ := mustKey(t, s, root, "globex", keyward.PermRead)
	gone, _ := mustKey(t, s, root, "acme", keyward.PermRead)
	if err := s.DeleteKey(ctx, root, "acme", gone.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.KeyUsage(ctx, admin, "", mine.ID, keyward.UsageRange{}); err != nil {
		t.Errorf("own organization's key: %v", err)
	}
	if _, err := s.KeyUsage(ctx, root, "", theirs.ID, keyward.UsageRange{}); err != nil {
		t.Errorf("root key, no organization named: %v", err)
	}
	for _, c := range []struct {
		name   string
		caller *keyward.Key
		org    keyward.OrgID
		id     keyward.KeyID
		code   string
	}{
		{"another organization's key", admin, "", theirs.ID, keyward.ENOTFOUND},
		{"another organization, named", admin, "globex", theirs.ID, keyward.ENOTFOUND},
		{"a key of another organization than named", root, "acme", theirs.ID, keyward.ENOTFOUND},
		{"a deleted key", admin, "", gone.ID, keyward.ENOTFOUND},
		{"an unknown key", admin, "", keyward.NewKeyID(), keyward.ENOTFOUND},
		{"a key without manage", reader, "", mine.ID, keyward.EFORBIDDEN},
		{"no caller", nil, "", mine.ID, keyward.EUNAUTHORIZED},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.KeyUsage(ctx, c.caller, c.org, c.id, keyward.UsageRange{})
			wantCode(t, "KeyUsage", err, c.code)
		})
	}
}

// Prune removes the hourly counts older than UsageRetention, however many
// batches that takes, and only those; with no retention set, the default
// (30 days) applies.
func TestPruneUsage(t *testing.T) {
	ctx := context.Background()
	s, db := newServiceAndStore(t)
	now := time.Date(2026, 6, 1, 12, 30, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	root := mustRoot(t, s)
	k, _ := mustKey(t, s, root, "acme", keyward.PermRead)
	var counts []keyward.UsageCount
	for i := range 1100 { // more than one batch: 1100 hours back
		counts = append(counts, keyward.UsageCount{ID: k.ID, Hour: now.Truncate(time.Hour).Add(-time.Duration(i) * time.Hour), Counts: keyward.VerifyCounts{Valid: 1}})
	}
	if err := db.RecordUsage(ctx, nil, counts); err != nil {
		t.Fatal(err)
	}
	left := func() int {
		t.Helper()
		got, err := db.KeyUsage(ctx, k.ID, now.Add(-2000*time.Hour), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	s.UsageRetention = 0 // the default
	p, err := s.Prune(ctx)
	// Kept: the hours that began at or after now minus 720h, the current
	// one and the 719 before it.
	if err != nil || p.UsageHours != 1100-720 || left() != 720 {
		t.Fatalf("prune with the default retention: %+v, %v, %d left; want %d pruned, 720 left", p, err, left(), 1100-720)
	}
	s.UsageRetention = 24 * time.Hour
	if p, err := s.Prune(ctx); err != nil || p.UsageHours != 720-24 || left() != 24 {
		t.Fatalf("prune with a day's retention: %+v, %v, %d left", p, err, left())
	}
}

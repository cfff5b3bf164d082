package keyward_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func TestParseRateLimits(t *testing.T) {
	ok := []keyward.RateLimit{{Name: "requests", Limit: 100, Duration: time.Minute}, {Name: "burst.1_s-x", Limit: 1, Duration: 1500 * time.Millisecond}}
	got, err := keyward.ParseRateLimits(ok)
	if err != nil || len(got) != 2 || got[1] != ok[1] {
		t.Fatalf("ParseRateLimits(%v) = %v, %v", ok, got, err)
	}
	got[0].Limit = 7
	if ok[0].Limit != 100 {
		t.Error("the result shares the input's array")
	}
	if got, err := keyward.ParseRateLimits(nil); got != nil || err != nil {
		t.Errorf("no limits: %v, %v", got, err)
	}
	for _, bad := range [][]keyward.RateLimit{
		{{Name: "", Limit: 1, Duration: time.Second}},
		{{Name: strings.Repeat("a", 33), Limit: 1, Duration: time.Second}},
		{{Name: "Upper", Limit: 1, Duration: time.Second}},
		{{Name: "sp ace", Limit: 1, Duration: time.Second}},
		{{Name: "a", Limit: 0, Duration: time.Second}},
		{{Name: "a", Limit: keyward.MaxRateLimit + 1, Duration: time.Second}},
		{{Name: "a", Limit: 1, Duration: 999 * time.Millisecond}},
		{{Name: "a", Limit: 1, Duration: 32 * 24 * time.Hour}},
		{{Name: "a", Limit: 1, Duration: time.Second + time.Microsecond}},
		{{Name: "a", Limit: 1, Duration: time.Second}, {Name: "a", Limit: 2, Duration: time.Minute}},
		make([]keyward.RateLimit, 11),
	} {
		if _, err := keyward.ParseRateLimits(bad); err == nil {
			t.Errorf("ParseRateLimits(%v) took it", bad)
		}
	}
}

func TestLimitDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"1s": time.Second, "60s": time.Minute, "1m": time.Minute, "1h30m": 90 * time.Minute, "1500ms": 1500 * time.Millisecond,
		"1d": 24 * time.Hour, "31d": 31 * 24 * time.Hour,
	} {
		got, err := keyward.ParseLimitDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseLimitDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
		back, err := keyward.ParseLimitDuration(keyward.FormatLimitDuration(got))
		if err != nil || back != got {
			t.Errorf("%q does not read back: %v, %v", keyward.FormatLimitDuration(got), back, err)
		}
	}
	for _, in := range []string{"", "0s", "999ms", "32d", "-1d", "+1d", "1.5d", "1s1us", "1", "d", "1w", "1e3s"} {
		if d, err := keyward.ParseLimitDuration(in); err == nil {
			t.Errorf("ParseLimitDuration(%q) = %v, want an error", in, d)
		}
	}
	if s := keyward.FormatLimitDuration(time.Hour); s != "3600s" {
		t.Errorf("FormatLimitDuration(1h) = %q", s)
	}
	if s := keyward.FormatLimitDuration(1500 * time.Millisecond); s != "1500ms" {
		t.Errorf("FormatLimitDuration(1.5s) = %q", s)
	}
}

// Windows are aligned on the epoch, the same on every instance, and
// floor for times before it.
func TestRateLimitWindow(t *testing.T) {
	l := keyward.RateLimit{Duration: time.Minute}
	at := time.Date(2031, 3, 4, 10, 0, 30, 0, time.UTC)
	n, end := l.Window(at)
	if !end.Equal(time.Date(2031, 3, 4, 10, 1, 0, 0, time.UTC)) {
		t.Errorf("window end %v", end)
	}
	if n2, _ := l.Window(at.Add(29*time.Second + 999*time.Millisecond)); n2 != n {
		t.Error("the last millisecond of the window is in another window")
	}
	if n3, _ := l.Window(at.Add(30 * time.Second)); n3 != n+1 {
		t.Error("the window's end is not the next window's start")
	}
	n, end = l.Window(time.UnixMilli(-1))
	if n != -1 || end.UnixMilli() != 0 {
		t.Errorf("before the epoch: window %d ending %v", n, end)
	}
}

func TestCreditsRefill(t *testing.T) {
	day := keyward.Refill{Amount: 10, Interval: keyward.RefillDaily}
	month := keyward.Refill{Amount: 10, Interval: keyward.RefillMonthly}
	at := time.Date(2031, 12, 31, 23, 59, 59, 0, time.FixedZone("x", -3600)) // 2032-01-01T00:59:59Z
	if got := day.PeriodStart(at); !got.Equal(time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("daily period start %v", got)
	}
	if got := month.NextPeriod(time.Date(2031, 12, 15, 0, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("monthly next period %v", got)
	}
	if got := day.NextPeriod(time.Date(2032, 2, 28, 12, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2032, 2, 29, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("daily next period in a leap year %v", got)
	}

	set := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)
	c := keyward.Credits{Remaining: 2, Refill: &day, RefilledAt: set}
	c, ok := c.Spend(2, set.Add(time.Hour))
	if !ok || c.Remaining != 0 {
		t.Fatalf("spend 2 of 2: %+v %v", c, ok)
	}
	if c2, ok := c.Spend(1, set.Add(13*time.Hour)); ok || c2.Remaining != 0 {
		t.Errorf("spend at zero the same day: %+v %v", c2, ok)
	}
	midnight := time.Date(2031, 3, 5, 0, 0, 0, 0, time.UTC)
	if c.Due(midnight.Add(-time.Nanosecond)) || !c.Due(midnight) {
		t.Error("the refill is not due exactly at midnight")
	}
	c3, ok := c.Spend(3, midnight)
	if !ok || c3.Remaining != 7 || !c3.RefilledAt.Equal(midnight) {
		t.Errorf("spend 3 after the refill: %+v %v", c3, ok)
	}
	// A refused spend still applies the refill it found due.
	c4, ok := c.Spend(11, midnight.Add(time.Hour))
	if ok || c4.Remaining != 10 || !c4.RefilledAt.Equal(midnight) {
		t.Errorf("refused spend after the refill: %+v %v", c4, ok)
	}
	none := keyward.Credits{Remaining: 1, RefilledAt: set}
	if none.Due(set.AddDate(1, 0, 0)) {
		t.Error("credits without a refill are refilled")
	}
}

func TestPatchCredits(t *testing.T) {
	now := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)
	set := now.Add(-time.Hour)
	cur := &keyward.Credits{Remaining: 5, Refill: &keyward.Refill{Amount: 10, Interval: keyward.RefillDaily}, RefilledAt: set}
	for _, tc := range []struct {
		cur   *keyward.Credits
		patch string
		want  *keyward.Credits // nil with err: an error
		err   bool
	}{
		{cur, `null`, nil, false},
		{cur, `{"remaining":7}`, &keyward.Credits{Remaining: 7, Refill: cur.Refill, RefilledAt: now}, false},
		{cur, `{"refill":null}`, &keyward.Credits{Remaining: 5, RefilledAt: set}, false},
		{cur, `{"refill":{"interval":"monthly"}}`, &keyward.Credits{Remaining: 5, Refill: &keyward.Refill{Amount: 10, Interval: keyward.RefillMonthly}, RefilledAt: set}, false},
		{cur, `{}`, &keyward.Credits{Remaining: 5, Refill: cur.Refill, RefilledAt: set}, false},
		{nil, `{"remaining":3,"refill":{"amount":3,"interval":"daily"}}`, &keyward.Credits{Remaining: 3, Refill: &keyward.Refill{Amount: 3, Interval: keyward.RefillDaily}, RefilledAt: now}, false},
		{nil, `{"refill":{"amount":3,"interval":"daily"}}`, nil, true},
		{nil, `{"remaining":1,"refill":{"amount":3}}`, nil, true},
		{cur, `{"remaining":-1}`, nil, true},
		{cur, `{"remaining":1.0}`, nil, true},
		{cur, `{"remaining":"1"}`, nil, true},
		{cur, `{"refill":{"amount":0}}`, nil, true},
		{cur, `{"refill":{"interval":"hourly"}}`, nil, true},
		{cur, `{"other":1}`, nil, true},
		{cur, `[]`, nil, true},
		{cur, `1`, nil, true},
	} {
		got, err := keyward.PatchCredits(tc.cur, []byte(tc.patch), now)
		switch {
		case tc.err && err == nil:
			t.Errorf("%s: took it: %+v", tc.patch, got)
		case !tc.err && err != nil:
			t.Errorf("%s: %v", tc.patch, err)
		case !tc.err && (got == nil) != (tc.want == nil):
			t.Errorf("%s: got %+v, want %+v", tc.patch, got, tc.want)
		case !tc.err && got != nil && (got.Remaining != tc.want.Remaining || !got.RefilledAt.Equal(tc.want.RefilledAt) ||
			(got.Refill == nil) != (tc.want.Refill == nil) || got.Refill != nil && *got.Refill != *tc.want.Refill):
			t.Errorf("%s: got %+v, want %+v", tc.patch, got, tc.want)
		}
	}
	if cur.Refill.Interval != keyward.RefillDaily {
		t.Error("a patch changed the credits it was given")
	}
	// A refill due when the patch is made is not lost: the current
	// credits are patched.
	old := &keyward.Credits{Remaining: 0, Refill: &keyward.Refill{Amount: 10, Interval: keyward.RefillDaily}, RefilledAt: now.AddDate(0, 0, -2)}
	got, err := keyward.PatchCredits(old, []byte(`{"refill":{"amount":20}}`), now)
	if err != nil || got.Remaining != 10 || got.Refill.Amount != 20 {
		t.Errorf("patching credits with a refill due: %+v, %v", got, err)
	}
}

// The in-memory limiter spends all limits or none, resets with windows,
// and never admits more than a limit under concurrent use.
func TestMemoryRateLimiter(t *testing.T) {
	ctx := context.Background()
	m := keyward.NewMemoryRateLimiter()
	at := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)
	limits := []keyward.RateLimit{{Name: "minute", Limit: 3, Duration: time.Minute}, {Name: "second", Limit: 2, Duration: time.Second}}
	take := func(id keyward.KeyID, cost int64, now time.Time) ([]keyward.LimitState, bool) {
		t.Helper()
		s, ok, err := m.Take(ctx, id, limits, cost, now)
		if err != nil {
			t.Fatal(err)
		}
		return s, ok
	}
	if s, ok := take(1, 2, at); !ok || s[0].Remaining != 1 || s[1].Remaining != 0 || !s[1].Reset.Equal(at.Add(time.Second)) {
		t.Fatalf("cost 2: %+v %v", s, ok)
	}
	if s, ok := take(1, 1, at); ok || !s[1].Exceeded || s[0].Exceeded || s[0].Remaining != 1 {
		t.Fatalf("past the second's limit: %+v %v", s, ok)
	}
	if _, ok := take(2, 1, at); !ok {
		t.Error("another key shares the first's counters")
	}
	if s, ok := take(1, 1, at.Add(time.Second)); !ok || s[0].Remaining != 0 || s[1].Remaining != 1 {
		t.Errorf("the next second: %+v %v", s, ok)
	}
	if s, ok := take(1, 0, at.Add(time.Second)); !ok || s[0].Remaining != 0 {
		t.Errorf("cost 0 at zero: %+v %v", s, ok)
	}
	if _, ok := take(1, 1, at.Add(2*time.Second)); ok {
		t.Error("the minute's limit admitted a fourth")
	}
	// A changed duration starts a new count.
	other := []keyward.RateLimit{{Name: "minute", Limit: 3, Duration: time.Hour}}
	if _, ok, _ := m.Take(ctx, 1, other, 1, at.Add(2*time.Second)); !ok {
		t.Error("a limit whose duration changed kept the old count")
	}

	// Concurrently: exactly the limit is admitted.
	one := []keyward.RateLimit{{Name: "requests", Limit: 500, Duration: time.Hour}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if _, ok, _ := m.Take(ctx, 3, one, 1, at); ok {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if admitted != 500 {
		t.Errorf("admitted %d of 1600 against a limit of 500", admitted)
	}

	// Counters of ended windows are swept: 5,000 keys counted in one
	// hour, then 5,000 others in a later one, all in one shard.
	for i := range 10_000 {
		now := at
		if i >= 5000 {
			now = at.Add(2 * time.Hour)
		}
		m.Take(ctx, keyward.KeyID(64*i+5), one, 1, now)
	}
	if n := m.Len(); n > 6000 {
		t.Errorf("%d counters held after 5,000 of 10,000 windows ended", n)
	}
}

// The stored form of rate limits reads back exactly; none is nothing.
func TestEncodeRateLimits(t *testing.T) {
	ls := []keyward.RateLimit{{Name: "a", Limit: 5, Duration: 1500 * time.Millisecond}, {Name: "b.c", Limit: 1e9, Duration: 31 * 24 * time.Hour}}
	b, err := keyward.EncodeRateLimits(ls)
	if err != nil || string(b) != `[{"name":"a","limit":5,"duration_ms":1500},{"name":"b.c","limit":1000000000,"duration_ms":2678400000}]` {
		t.Fatalf("EncodeRateLimits = %s, %v", b, err)
	}
	back, err := keyward.DecodeRateLimits(b)
	if err != nil || len(back) != 2 || back[0] != ls[0] || back[1] != ls[1] {
		t.Errorf("DecodeRateLimits = %v, %v", back, err)
	}
	if b, err := keyward.EncodeRateLimits(nil); b != nil || err != nil {
		t.Errorf("no limits encode as %q, %v", b, err)
	}
	if _, err := keyward.EncodeRateLimits([]keyward.RateLimit{{Name: "a", Limit: 1, Duration: time.Second + 1}}); err == nil {
		t.Error("a duration of a fraction of a millisecond was stored")
	}
	for _, bad := range []string{`[]`, `{}`, `[{"name":1}]`, ``} {
		if _, err := keyward.DecodeRateLimits([]byte(bad)); err == nil {
			t.Errorf("DecodeRateLimits(%q) took it", bad)
		}
	}
}

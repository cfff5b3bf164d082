package console

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// The chart puts each hour's counts in its bar, valid at the foot and
// refused stacked on them, ignores hours outside the week, scales to a
// round ceiling, and labels each midnight.
func TestLayoutChart(t *testing.T) {
	until := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	c := &chart{Since: until.Add(-chartHours * time.Hour), Until: until}
	layoutChart(c, []hourCount{
		{Hour: until.Add(-time.Hour), Valid: 30, Refused: 10},
		{Hour: until.Add(-time.Hour), Valid: 3}, // the same hour, again
		{Hour: until.Add(-50 * time.Hour), Refused: 2},
		{Hour: until, Valid: 1000},                              // after the range
		{Hour: c.Since.Add(-time.Hour), Valid: 1000},            // before it
		{Hour: until.Add(-3*time.Hour + time.Minute), Valid: 5}, // within an hour
	})
	if c.Valid != 38 || c.Refused != 12 {
		t.Fatalf("totals: %d valid, %d refused; want 38, 12", c.Valid, c.Refused)
	}
	if len(c.Bars) != 3 {
		t.Fatalf("%d bars, want 3", len(c.Bars))
	}
	last := c.Bars[len(c.Bars)-1]
	if !last.HasValid || !last.HasRefused || last.RefusedY+last.RefusedH != last.ValidY || last.ValidY+last.ValidH != plotBottom {
		t.Errorf("the last bar is not stacked on the axis: %+v", last)
	}
	if !strings.Contains(last.Title, "33 valid, 10 refused") {
		t.Errorf("the last bar's title: %q", last.Title)
	}
	if top := c.Grid[len(c.Grid)-1].Label; top != "50" {
		t.Errorf("the axis tops at %s, want 50", top)
	}
	if len(c.Days) != 7 {
		t.Errorf("%d day labels, want 7", len(c.Days))
	}
}

func TestNiceCeiling(t *testing.T) {
	for v, want := range map[int64]int64{0: 4, 3: 4, 5: 5, 6: 10, 11: 20, 43: 50, 51: 100, 100: 100, 101: 200, 2666: 5000} {
		if got := niceCeiling(v); got != want {
			t.Errorf("niceCeiling(%d) = %d, want %d", v, got, want)
		}
	}
}

// metadataPatch makes the merge patch that turns the stored metadata into
// what was typed: applied by the service's own merge, it gives exactly
// that.
func TestMetadataPatch(t *testing.T) {
	for _, tt := range []struct{ stored, typed string }{
		{"", `{"a":1}`},
		{`{"a":1}`, ``},
		{`{"a":1}`, `{"a":1}`},
		{`{"a":1,"b":2}`, `{"b":3}`},
		{`{"a":{"x":1,"y":2}}`, `{"a":{"y":2,"z":3}}`},
		{`{"a":{"x":1}}`, `{"a":5}`},
		{`{"a":5}`, `{"a":{"x":1}}`},
		{`{"list":[1,2]}`, `{"list":[2]}`},
	} {
		patch, err := metadataPatch(tt.stored, tt.typed)
		if err != nil {
			t.Fatalf("metadataPatch(%s, %s): %v", tt.stored, tt.typed, err)
		}
		want, _ := keyward.ParseMetadata([]byte(orEmpty(tt.typed)))
		if patch == nil {
			if want != tt.stored {
				t.Errorf("metadataPatch(%s, %s) = nil, but they differ", tt.stored, tt.typed)
			}
			continue
		}
		got, err := keyward.MergeMetadata(tt.stored, patch)
		if err != nil || got != want {
			t.Errorf("%s patched with %s = %s, %v; want %s", tt.stored, patch, got, err, want)
		}
	}
	if _, err := metadataPatch("", "not json"); err == nil {
		t.Error("metadataPatch of something that is not JSON: no error")
	}
}

func orEmpty(s string) string {
	if s == "" {
		return "{}"
	}
	return s
}

// creditsPatch sets what the form says, and nothing when it says what the
// key has.
func TestCreditsPatch(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	cur := &keyward.Credits{Remaining: 10, Refill: &keyward.Refill{Amount: 100, Interval: keyward.RefillDaily}, RefilledAt: now}
	if p := creditsPatch(cur, &keyward.Credits{Remaining: 10, Refill: &keyward.Refill{Amount: 100, Interval: keyward.RefillDaily}}, now); p != nil {
		t.Errorf("the same credits: patch %s", p)
	}
	if p := creditsPatch(cur, nil, now); string(p) != "null" {
		t.Errorf("credits removed: patch %s", p)
	}
	p := creditsPatch(cur, &keyward.Credits{Remaining: 5}, now)
	got, err := keyward.PatchCredits(cur, p, now)
	if err != nil || got.Remaining != 5 || got.Refill != nil {
		t.Errorf("patch %s gives %+v, %v", p, got, err)
	}
	var v map[string]any
	if json.Unmarshal(p, &v) != nil {
		t.Errorf("patch %s is not JSON", p)
	}
}

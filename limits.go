package keyward

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate limits and usage credits: what a key may spend, and how fast.
//
// A rate limit allows a key Limit units in each window of its Duration.
// Windows are fixed and aligned on multiples of the duration since the
// Unix epoch, so that every instance agrees on them without talking to
// the others, and each answer can say exactly when the window resets.
// (A fixed window lets a client spend a limit at the end of one window
// and again at the start of the next: at most twice the limit in one
// duration. That is the price of an exact reset time and of counters
// that several instances can share.) A RateLimiter counts them: in
// memory on one instance, shared through Redis across several.
//
// Usage credits are a budget: each VALID verification spends one (or its
// cost), and at zero the key answers USAGE_EXCEEDED until credits are
// added or refilled. They live in the database, which spends them with
// one atomic write per verification: exact across instances and across
// restarts (see KeyStore.SpendCredits).

// RateLimit is one of a key's named rate limits: at most Limit units in
// each window of Duration.
type RateLimit struct {
	Name     string
	Limit    int64
	Duration time.Duration
}

// Bounds of rate limits.
const (
	MaxRateLimits        = 10
	MaxRateLimitNameLen  = 32
	MaxRateLimit         = 1_000_000_000
	MinRateLimitDuration = time.Second
	MaxRateLimitDuration = 31 * 24 * time.Hour
)

// ParseRateLimits validates a key's rate limits: at most MaxRateLimits,
// each with a name of 1 to MaxRateLimitNameLen characters of
// [a-z0-9_.-] unique among them, a limit from 1 to MaxRateLimit and a
// duration from 1s to 31d in whole milliseconds. An empty list is no
// limit. The result is a copy, in the order given.
func ParseRateLimits(in []RateLimit) ([]RateLimit, error) {
	if len(in) > MaxRateLimits {
		return nil, fmt.Errorf("must hold at most %d limits", MaxRateLimits)
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]RateLimit, len(in))
	seen := make(map[string]bool, len(in))
	for i, l := range in {
		if err := checkLimitName(l.Name); err != nil {
			return nil, fmt.Errorf("limit %d: name %v", i+1, err)
		}
		if seen[l.Name] {
			return nil, fmt.Errorf("limit %d: name %q is used twice", i+1, l.Name)
		}
		seen[l.Name] = true
		if l.Limit < 1 || l.Limit > MaxRateLimit {
			return nil, fmt.Errorf("limit %d (%q): limit must be an integer from 1 to %d", i+1, l.Name, MaxRateLimit)
		}
		if l.Duration < MinRateLimitDuration || l.Duration > MaxRateLimitDuration || l.Duration%time.Millisecond != 0 {
			return nil, fmt.Errorf("limit %d (%q): duration must be from 1s to 31d, in whole milliseconds", i+1, l.Name)
		}
		out[i] = l
	}
	return out, nil
}

func checkLimitName(s string) error {
	if len(s) == 0 || len(s) > MaxRateLimitNameLen {
		return fmt.Errorf("must be 1 to %d characters", MaxRateLimitNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("must contain only lower-case letters, digits, '_', '.' and '-'")
		}
	}
	return nil
}

// ParseLimitDuration reads a rate limit's duration as the API writes it:
// a Go duration ("60s", "1m30s", "1h", "1500ms") or whole days ("1d").
func ParseLimitDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("must be a duration from 1s to 31d, such as \"60s\", \"1h\" or \"1d\"")
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" && !strings.ContainsAny(days, "+-.") {
		n, err := strconv.Atoi(days)
		if err != nil || n > int(MaxRateLimitDuration/(24*time.Hour)) {
			return 0, bad
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d < MinRateLimitDuration || d > MaxRateLimitDuration || d%time.Millisecond != 0 {
		return 0, bad
	}
	return d, nil
}

// FormatLimitDuration writes a duration as the API does: whole seconds as
// "60s", anything else in milliseconds ("1500ms"). ParseLimitDuration
// reads both back.
func FormatLimitDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
}

// Window returns the window of l that holds t: its number (counted from
// the Unix epoch) and the instant it ends.
func (l RateLimit) Window(t time.Time) (n int64, end time.Time) {
	ms := t.UnixMilli()
	d := l.Duration.Milliseconds()
	n = ms / d
	if ms < 0 && ms%d != 0 {
		n-- // floor, for times before 1970
	}
	return n, time.UnixMilli((n + 1) * d).UTC()
}

// LimitState is where a key stands against one of its rate limits after a
// verification.
type LimitState struct {
	Name      string
	Limit     int64
	Remaining int64     // units left in the window
	Reset     time.Time // when the window ends and the limit is whole again
	// Exceeded is set on each limit that had fewer units left than the
	// verification's cost: the reason it was refused.
	Exceeded bool
}

// MaxCost is the largest cost a verification may spend.
const MaxCost = 1_000_000

// RateLimiter counts keys' uses against their rate limits.
type RateLimiter interface {
	// Take spends cost units of each of key id's limits in the windows
	// that hold now, all or none: if any limit has fewer than cost units
	// left, it spends none and reports false. It returns the state of
	// each limit, in the order of limits. A cost of 0 spends nothing
	// and reports where the key stands. An error means the limiter
	// could not decide (a shared limiter's service is unreachable).
	Take(ctx context.Context, id KeyID, limits []RateLimit, cost int64, now time.Time) ([]LimitState, bool, error)
}

// Credits are a key's usage credits: what it may still spend, and how it
// is refilled.
type Credits struct {
	// Remaining is what the key may still spend, as stored: a refill due
	// since RefilledAt is applied when credits are next spent (see
	// Current).
	Remaining int64
	// Refill, if set, resets Remaining to its Amount at the start of each
	// of its periods.
	Refill *Refill
	// RefilledAt is when Remaining was last set: at the key's creation,
	// by an update that set it, or by a refill.
	RefilledAt time.Time
}

// Refill says how a key's credits are refilled.
type Refill struct {
	Amount   int64
	Interval RefillInterval
}

// RefillInterval is how often credits are refilled.
type RefillInterval string

// Refill intervals. Periods begin at midnight UTC: every day, or on the
// first day of every month.
const (
	RefillDaily   RefillInterval = "daily"
	RefillMonthly RefillInterval = "monthly"
)

// MaxCredits bounds credits: the largest integer a JavaScript number holds
// exactly.
const MaxCredits = 1<<53 - 1

// PeriodStart returns the start of the refill period that holds t.
func (r Refill) PeriodStart(t time.Time) time.Time {
	t = t.UTC()
	if r.Interval == RefillMonthly {
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// NextPeriod returns the start of the refill period after the one that
// holds t.
func (r Refill) NextPeriod(t time.Time) time.Time {
	s := r.PeriodStart(t)
	if r.Interval == RefillMonthly {
		return s.AddDate(0, 1, 0)
	}
	return s.AddDate(0, 0, 1)
}

// Due reports whether a refill is due at now: a refill period began after
// the credits were last set.
func (c *Credits) Due(now time.Time) bool {
	return c.Refill != nil && c.Refill.PeriodStart(now).After(c.RefilledAt)
}

// Current returns the credits as they stand at now: refilled, if a refill
// is due.
func (c *Credits) Current(now time.Time) Credits {
	cur := *c
	if c.Due(now) {
		cur.Remaining = c.Refill.Amount
		cur.RefilledAt = c.Refill.PeriodStart(now)
	}
	return cur
}

// Spend returns the credits after spending cost at now, refilled first if
// a refill is due, and whether there were enough: if not, nothing is
// spent (but a due refill is still applied). Backends call it inside the
// transaction that spends, so that every backend refills alike.
func (c Credits) Spend(cost int64, now time.Time) (Credits, bool) {
	cur := c.Current(now)
	if cur.Remaining < cost {
		return cur, false
	}
	cur.Remaining -= cost
	return cur, true
}

// ParseCredits validates credits asked for at create or by an update:
// remaining from 0 to MaxCredits and, with a refill, an amount from 1 to
// MaxCredits and an interval of daily or monthly.
func ParseCredits(c Credits) (*Credits, error) {
	if c.Remaining < 0 || c.Remaining > MaxCredits {
		return nil, fmt.Errorf("remaining must be an integer from 0 to %d", int64(MaxCredits))
	}
	out := &Credits{Remaining: c.Remaining, RefilledAt: c.RefilledAt}
	if c.Refill != nil {
		switch {
		case c.Refill.Amount < 1 || c.Refill.Amount > MaxCredits:
			return nil, fmt.Errorf("refill amount must be an integer from 1 to %d", int64(MaxCredits))
		case c.Refill.Interval != RefillDaily && c.Refill.Interval != RefillMonthly:
			return nil, fmt.Errorf("refill interval must be daily or monthly")
		}
		r := *c.Refill
		out.Refill = &r
	}
	return out, nil
}

// CreditSpend is what KeyStore.SpendCredits did.
type CreditSpend struct {
	// Limited is false if the key has no credits: nothing was spent.
	Limited bool
	// OK reports whether the key had enough credits: they were spent.
	OK bool
	// Remaining is what is left after the spend (or the refusal).
	Remaining int64
	// Credits are the key's credits as stored after the call.
	Credits Credits
}

// PatchCredits applies patch, a JSON merge patch (RFC 7396) of the
// credits object as the API writes it ({"remaining": n, "refill":
// {"amount": n, "interval": "daily"}}), to cur (nil for none) at now:
// null removes the credits, a remaining sets them (and RefilledAt to
// now), a refill of null removes the refill, and a refill object is
// merged into the current one. A key that had no credits needs a
// remaining. The current credits are taken as they stand at now
// (Credits.Current), so that a refill due is not lost.
func PatchCredits(cur *Credits, patch []byte, now time.Time) (*Credits, error) {
	patch = bytes.TrimSpace(patch)
	if string(patch) == "null" {
		return nil, nil
	}
	var p struct {
		Remaining json.RawMessage `json:"remaining"`
		Refill    json.RawMessage `json:"refill"`
	}
	if err := decodeObject(patch, &p); err != nil {
		return nil, err
	}
	var next Credits
	if cur != nil {
		next = cur.Current(now)
		if next.Refill != nil {
			r := *next.Refill
			next.Refill = &r
		}
	}
	switch {
	case p.Remaining != nil:
		n, err := jsonInt(p.Remaining)
		if err != nil {
			return nil, fmt.Errorf("remaining must be an integer from 0 to %d", int64(MaxCredits))
		}
		next.Remaining, next.RefilledAt = n, now
	case cur == nil:
		return nil, errNeedsRemaining
	}
	switch {
	case p.Refill == nil:
	case string(p.Refill) == "null":
		next.Refill = nil
	default:
		var r struct {
			Amount   json.RawMessage `json:"amount"`
			Interval *string         `json:"interval"`
		}
		if err := decodeObject(p.Refill, &r); err != nil {
			return nil, fmt.Errorf("refill %w", err)
		}
		if next.Refill == nil {
			if r.Amount == nil || r.Interval == nil {
				return nil, fmt.Errorf("refill needs an amount and an interval")
			}
			next.Refill = &Refill{}
		}
		if r.Amount != nil {
			n, err := jsonInt(r.Amount)
			if err != nil {
				return nil, fmt.Errorf("refill amount must be an integer from 1 to %d", int64(MaxCredits))
			}
			next.Refill.Amount = n
		}
		if r.Interval != nil {
			next.Refill.Interval = RefillInterval(*r.Interval)
		}
	}
	return ParseCredits(next)
}

// errNeedsRemaining refuses credits patched onto a key without any that
// do not say how many.
var errNeedsRemaining = errors.New("remaining is required to give a key credits")

// decodeObject decodes a JSON object into v, refusing members v does not
// name.
func decodeObject(b []byte, v any) error {
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("must be a JSON object with known members only: %v", jsonProblem(err))
	}
	return nil
}

// jsonProblem describes a decoding error without quoting the input.
func jsonProblem(err error) string {
	if s, ok := strings.CutPrefix(err.Error(), "json: "); ok {
		return s
	}
	return "malformed JSON"
}

// jsonInt reads a JSON number that is a whole number from 0 to
// MaxCredits.
func jsonInt(b json.RawMessage) (int64, error) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 || n > MaxCredits {
		return 0, fmt.Errorf("not an integer in range")
	}
	return n, nil
}

// limitsView is how rate limits appear in an audit event's changes.
func limitsView(ls []RateLimit) any {
	type view struct {
		Name     string `json:"name"`
		Limit    int64  `json:"limit"`
		Duration string `json:"duration"`
	}
	out := make([]view, len(ls))
	for i, l := range ls {
		out[i] = view{l.Name, l.Limit, FormatLimitDuration(l.Duration)}
	}
	return out
}

// creditsView is how credits appear in an audit event's changes: null for
// none.
func creditsView(c *Credits) any {
	if c == nil {
		return nil
	}
	type refill struct {
		Amount   int64          `json:"amount"`
		Interval RefillInterval `json:"interval"`
	}
	v := struct {
		Remaining int64   `json:"remaining"`
		Refill    *refill `json:"refill"`
	}{Remaining: c.Remaining}
	if c.Refill != nil {
		v.Refill = &refill{c.Refill.Amount, c.Refill.Interval}
	}
	return v
}

// storedLimit is one rate limit as backends store it, in a JSON array:
// the duration in whole milliseconds.
type storedLimit struct {
	Name       string `json:"name"`
	Limit      int64  `json:"limit"`
	DurationMS int64  `json:"duration_ms"`
}

// EncodeRateLimits writes a key's rate limits as every backend stores
// them: a compact JSON array of {"name", "limit", "duration_ms"}, or nil
// for none. A duration that is not whole milliseconds (which
// ParseRateLimits refuses) is an error rather than rounded.
func EncodeRateLimits(ls []RateLimit) ([]byte, error) {
	if len(ls) == 0 {
		return nil, nil
	}
	out := make([]storedLimit, len(ls))
	for i, l := range ls {
		if l.Duration%time.Millisecond != 0 {
			return nil, fmt.Errorf("rate limit %d: duration %v is not a whole number of milliseconds", i+1, l.Duration)
		}
		out[i] = storedLimit{Name: l.Name, Limit: l.Limit, DurationMS: l.Duration.Milliseconds()}
	}
	return json.Marshal(out)
}

// DecodeRateLimits reads what EncodeRateLimits wrote. A stored list is
// never empty (none is stored as nothing).
func DecodeRateLimits(b []byte) ([]RateLimit, error) {
	var stored []storedLimit
	if err := json.Unmarshal(b, &stored); err != nil {
		return nil, err
	}
	if len(stored) == 0 {
		return nil, fmt.Errorf("an empty list")
	}
	ls := make([]RateLimit, len(stored))
	for i, l := range stored {
		ls[i] = RateLimit{Name: l.Name, Limit: l.Limit, Duration: time.Duration(l.DurationMS) * time.Millisecond}
	}
	return ls, nil
}

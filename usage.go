package keyward

import (
	"context"
	"fmt"
	"time"
)

// DefaultUsageRetention is how long the hourly verification counts are
// kept by default (see Service.UsageRetention): 30 days, what a month's
// chart needs.
const DefaultUsageRetention = 30 * 24 * time.Hour

// DefaultUsageRange is the span KeyUsage answers when asked for none: the
// last 7 days, up to and including the current hour.
const DefaultUsageRange = 7 * 24 * time.Hour

// MaxUsageRange bounds the span of one KeyUsage answer: 31 days, 744
// hours, a month's chart, every hour in it answered.
const MaxUsageRange = 31 * 24 * time.Hour

// VerifyCounts counts verifications of one key by outcome. Only the
// outcomes of a key that exists are counted: a NOT_FOUND names no key.
type VerifyCounts struct {
	Valid                   int64
	Disabled                int64
	Expired                 int64
	InsufficientPermissions int64
	RateLimited             int64
	UsageExceeded           int64
}

// Total is the number of verifications counted, whatever their outcome.
func (c VerifyCounts) Total() int64 {
	return c.Valid + c.Disabled + c.Expired + c.InsufficientPermissions + c.RateLimited + c.UsageExceeded
}

// IsZero reports whether nothing is counted.
func (c VerifyCounts) IsZero() bool { return c == VerifyCounts{} }

// Add adds o's counts to c's.
func (c *VerifyCounts) Add(o VerifyCounts) {
	c.Valid += o.Valid
	c.Disabled += o.Disabled
	c.Expired += o.Expired
	c.InsufficientPermissions += o.InsufficientPermissions
	c.RateLimited += o.RateLimited
	c.UsageExceeded += o.UsageExceeded
}

// countedCodes are the outcomes VerifyCounts counts, in the order of the
// recorder's counters (see countIndex).
var countedCodes = [...]VerifyCode{VerifyValid, VerifyDisabled, VerifyExpired,
	VerifyInsufficientPermissions, VerifyRateLimited, VerifyUsageExceeded}

// countIndex is the recorder's counter of code, or -1 for an outcome that
// is not counted (NOT_FOUND, or a code it does not know). A switch on the
// string, not a map: it runs on every verification.
func countIndex(code VerifyCode) int {
	switch code {
	case VerifyValid:
		return 0
	case VerifyDisabled:
		return 1
	case VerifyExpired:
		return 2
	case VerifyInsufficientPermissions:
		return 3
	case VerifyRateLimited:
		return 4
	case VerifyUsageExceeded:
		return 5
	}
	return -1
}

// verifyCountsOf returns the counts held by the recorder's counters.
func verifyCountsOf(n *[len(countedCodes)]uint32) VerifyCounts {
	return VerifyCounts{
		Valid: int64(n[0]), Disabled: int64(n[1]), Expired: int64(n[2]),
		InsufficientPermissions: int64(n[3]), RateLimited: int64(n[4]), UsageExceeded: int64(n[5]),
	}
}

// UsageCount is the count of the verifications of key ID in the hour
// that starts at Hour (UTC, on the hour).
type UsageCount struct {
	ID     KeyID
	Hour   time.Time
	Counts VerifyCounts
}

// Usage is a key's verifications, hour by hour, as KeyUsage answers.
type Usage struct {
	Key *Key
	// Since and Until bound the hours answered: Since is the first hour's
	// start, Until the last one's end.
	Since, Until time.Time
	// Hours has one entry for every hour from Since to Until, in order,
	// with zero counts for hours without verifications, so that a chart
	// needs no filling.
	Hours []UsageCount
	// Totals adds up Hours.
	Totals VerifyCounts
}

// UsageRange is the span of hours a KeyUsage query covers, as given (nil
// for a bound not given); KeyUsage rounds it out to whole hours.
type UsageRange struct {
	Since, Until *time.Time
}

// hours returns the hours r covers at now: from Since's hour to the end
// of Until's (Until, if on the hour, ends the range), Until now and Since
// DefaultUsageRange before Until if not given. A range that is empty or
// longer than MaxUsageRange is EINVALID.
func (r UsageRange) hours(now time.Time) (time.Time, time.Time, error) {
	if r.Since != nil && r.Until != nil && !r.Since.Before(*r.Until) {
		return time.Time{}, time.Time{}, Invalid("invalid query", FieldError{Field: "until", Reason: "must be after since"})
	}
	until := now
	if r.Until != nil {
		until = *r.Until
	}
	until = ceilHour(until)
	since := until.Add(-DefaultUsageRange)
	if r.Since != nil {
		since = r.Since.UTC().Truncate(time.Hour)
	}
	switch {
	case !since.Before(until): // since in the future, until not given
		return time.Time{}, time.Time{}, Invalid("invalid query", FieldError{Field: "since", Reason: "must be before until (now, if until is not given)"})
	case until.Sub(since) > MaxUsageRange:
		return time.Time{}, time.Time{}, Invalid("invalid query", FieldError{Field: "since",
			Reason: fmt.Sprintf("must be at most %d days (%d hours) before until, in whole hours", MaxUsageRange/(24*time.Hour), MaxUsageRange/time.Hour)})
	}
	return since, until, nil
}

// ceilHour returns the first instant on the hour not before t, in UTC.
func ceilHour(t time.Time) time.Time {
	h := t.UTC().Truncate(time.Hour)
	if h.Before(t) {
		h = h.Add(time.Hour)
	}
	return h
}

// KeyUsage returns the verifications of key id of org ("" for the
// caller's own or, for a root key, the key's own), hour by hour, over r,
// if caller may see the key (as for Key: a key it may not see, or a
// deleted one, is ENOTFOUND). Hours older than UsageRetention read as
// zero: their counts were pruned.
func (s *Service) KeyUsage(ctx context.Context, caller *Key, org OrgID, id KeyID, r UsageRange) (*Usage, error) {
	since, until, err := r.hours(s.Now())
	if err != nil {
		return nil, err
	}
	k, err := s.Key(ctx, caller, org, id)
	if err != nil {
		return nil, err
	}
	stored, err := lookup(ctx, s, func(ctx context.Context) ([]UsageCount, error) {
		return s.store.KeyUsage(ctx, k.ID, since, until)
	})
	if err != nil {
		return nil, fmt.Errorf("key usage: %w", err)
	}
	u := &Usage{Key: k, Since: since, Until: until, Hours: make([]UsageCount, 0, until.Sub(since)/time.Hour)}
	i := 0
	for h := since; h.Before(until); h = h.Add(time.Hour) {
		c := UsageCount{ID: k.ID, Hour: h}
		for ; i < len(stored) && !stored[i].Hour.After(h); i++ {
			if stored[i].Hour.Equal(h) {
				c.Counts.Add(stored[i].Counts)
			}
		}
		u.Totals.Add(c.Counts)
		u.Hours = append(u.Hours, c)
	}
	return u, nil
}

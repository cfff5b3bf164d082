package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keyward/keyward/client"
)

// How the API commands show keys, events and verifications: aligned tables
// with times relative to now for people, and JSON documents for scripts
// (the API's own field names, exact times).

// humanTime says when t is relative to now, as people say it: "just now",
// "3 minutes ago", "in 2 days". nil is never (or "-").
func humanTime(t *time.Time, now time.Time, never string) string {
	if t == nil || t.IsZero() {
		return never
	}
	d := t.Sub(now)
	future := d > 0
	if !future {
		d = -d
	}
	var n int64
	var unit string
	switch {
	case d < 45*time.Second:
		return "just now"
	case d < 90*time.Second:
		n, unit = 1, "minute"
	case d < 45*time.Minute:
		n, unit = int64((d+30*time.Second)/time.Minute), "minute"
	case d < 90*time.Minute:
		n, unit = 1, "hour"
	case d < 36*time.Hour:
		n, unit = int64((d+30*time.Minute)/time.Hour), "hour"
	case d < 45*24*time.Hour:
		n, unit = int64((d+12*time.Hour)/(24*time.Hour)), "day"
	case d < 365*24*time.Hour:
		n, unit = int64((d+15*24*time.Hour)/(30*24*time.Hour)), "month"
	default:
		n, unit = int64((d+182*24*time.Hour)/(365*24*time.Hour)), "year"
	}
	s := strconv.FormatInt(n, 10) + " " + unit
	if n != 1 {
		s += "s"
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// exactTime writes t for the detail views: UTC to the second, and how long
// ago (or until) in words.
func exactTime(t *time.Time, now time.Time, never string) string {
	if t == nil || t.IsZero() {
		return never
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC") + " (" + humanTime(t, now, never) + ")"
}

// table writes aligned columns: a header in capitals, then one row per
// line. Cells are kept to one line.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		c = strings.ReplaceAll(oneLine(c), "\t", " ")
		if c == "" {
			c = "-"
		}
		cells[i] = c
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// keyJSON is a key as the API commands print it in JSON: the API's object,
// with its version (etag) and, from a create or a rotation only, its
// secret (key).
type keyJSON struct {
	client.Key
	ETag                    string     `json:"etag,omitempty"`
	Secret                  string     `json:"key,omitempty"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
}

// writeKeyTable writes the keys of a list, one a row.
func writeKeyTable(w io.Writer, keys []client.Key, now time.Time) error {
	t := newTable(w, "ID", "NAME", "STATE", "PERMISSIONS", "HINT", "CREATED", "LAST USED", "EXPIRES")
	for _, k := range keys {
		t.row(k.ID, k.Name, k.State, strings.Join(k.Permissions, ","), k.Hint,
			humanTime(&k.CreatedAt, now, "-"), humanTime(k.LastUsedAt, now, "never"), humanTime(k.ExpiresAt, now, "never"))
	}
	return t.flush()
}

// writeKeyDetail writes one key, a field a line.
func writeKeyDetail(w io.Writer, k *client.Key, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	line := func(name, value string) {
		if value == "" {
			value = "-"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", name, oneLine(value))
	}
	line("ID", k.ID)
	line("Name", k.Name)
	line("Organization", k.OrgID)
	line("State", k.State)
	line("Permissions", strings.Join(k.Permissions, ", "))
	line("Hint", k.Hint)
	line("Created", exactTime(&k.CreatedAt, now, "-"))
	if k.CreatedBy != "" {
		line("Created by", k.CreatedBy)
	}
	line("Updated", exactTime(&k.UpdatedAt, now, "-"))
	line("Last used", exactTime(k.LastUsedAt, now, "never"))
	line("Expires", exactTime(k.ExpiresAt, now, "never"))
	if k.DeletedAt != nil {
		line("Deleted", exactTime(k.DeletedAt, now, "-"))
	}
	line("Metadata", compactJSON(k.Metadata))
	var limits []string
	for _, l := range k.RateLimits {
		limits = append(limits, formatRateLimit(l))
	}
	line("Rate limits", orNone(strings.Join(limits, ", ")))
	credits := "unlimited"
	if c := k.Credits; c != nil {
		credits = strconv.FormatInt(c.Remaining, 10) + " remaining"
		if c.Refill != nil {
			credits += fmt.Sprintf(", refilled to %d %s", c.Refill.Amount, c.Refill.Interval)
		}
	}
	line("Credits", credits)
	if k.ETag != "" {
		line("Version (ETag)", k.ETag)
	}
	return tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// formatRateLimit writes a limit as --rate-limit reads it: requests=100/60s.
func formatRateLimit(l client.RateLimit) string {
	d := strconv.FormatInt(l.Duration.Milliseconds(), 10) + "ms"
	if l.Duration%time.Second == 0 {
		d = strconv.FormatInt(int64(l.Duration/time.Second), 10) + "s"
	}
	return fmt.Sprintf("%s=%d/%s", l.Name, l.Limit, d)
}

// compactJSON writes v as compact JSON, "{}" for an empty object.
func compactJSON(v any) string {
	if m, ok := v.(map[string]any); ok && len(m) == 0 {
		return "{}"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "(not JSON)"
	}
	return string(b)
}

// writeAuditTable writes audit events.
func writeAuditTable(w io.Writer, events []client.AuditEvent, now time.Time) error {
	t := newTable(w, "TIME", "ACTION", "KEY", "ACTOR", "CHANGES", "REQUEST ID")
	for _, e := range events {
		fields := make([]string, 0, len(e.Changes))
		for f := range e.Changes {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		t.row(humanTime(&e.Time, now, "-"), e.Action, e.KeyID, e.Actor, strings.Join(fields, ","), e.RequestID)
	}
	return t.flush()
}

// writeUsageTable writes a key's usage: a row per hour with any
// verification, in UTC, then the range's total.
func writeUsageTable(w io.Writer, u *client.KeyUsage) error {
	t := newTable(w, "HOUR (UTC)", "TOTAL", "VALID", "RATE LIMITED", "USAGE EXCEEDED", "NO PERMISSION", "DISABLED", "EXPIRED")
	row := func(label string, c client.VerificationCounts) {
		n := func(v int64) string { return strconv.FormatInt(v, 10) }
		t.row(label, n(c.Total), n(c.Valid), n(c.RateLimited), n(c.UsageExceeded), n(c.InsufficientPermissions), n(c.Disabled), n(c.Expired))
	}
	for _, h := range u.Hours {
		if h.Total > 0 {
			row(h.Hour.UTC().Format("2006-01-02 15:04"), h.VerificationCounts)
		}
	}
	row("all, "+u.Since.UTC().Format("2006-01-02 15:04")+" to "+u.Until.UTC().Format("2006-01-02 15:04"), u.Totals)
	return t.flush()
}

// writeVerification writes the outcome of a verification, a field a line.
func writeVerification(w io.Writer, v *client.Verification, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	line := func(name, value string) {
		if value == "" {
			value = "-"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", name, oneLine(value))
	}
	line("Code", string(v.Code))
	line("Valid", strconv.FormatBool(v.Valid))
	if v.Code != client.VerifyNotFound {
		line("Key", v.KeyID)
		line("Organization", v.OrgID)
		line("Name", v.Name)
		line("Permissions", strings.Join(v.Permissions, ", "))
		line("Expires", exactTime(v.ExpiresAt, now, "never"))
		if v.SecretExpiresAt != nil {
			line("Secret expires", exactTime(v.SecretExpiresAt, now, "never"))
		}
		line("Metadata", compactJSON(v.Metadata))
		for _, l := range v.RateLimits {
			state := fmt.Sprintf("%d of %d left, resets in %ds", l.Remaining, l.Limit, l.Reset)
			if l.Exceeded {
				state += " (exceeded)"
			}
			line("Rate limit "+l.Name, state)
		}
		if v.Credits != nil {
			line("Credits", strconv.FormatInt(v.Credits.Remaining, 10)+" remaining")
		}
	}
	return tw.Flush()
}

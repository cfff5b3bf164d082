package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// The hot queries read an index and never sort or scan the table: a change
// to a query or to the schema that loses its index fails here, not in
// production under load.
func TestQueryPlans(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "keyward.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	plan := func(q string, args ...any) string {
		t.Helper()
		rows, err := db.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatalf("EXPLAIN QUERY PLAN: %v", err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var id, parent, notUsed int
			var detail string
			if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	check := func(name, plan string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(plan, w) {
				t.Errorf("%s: plan lacks %q:\n%s", name, w, plan)
			}
		}
		for _, bad := range []string{"SCAN", "TEMP B-TREE"} {
			if strings.Contains(plan, bad) {
				t.Errorf("%s: plan has %q:\n%s", name, bad, plan)
			}
		}
	}

	// Both halves of KeyByHash read an index: the current secret's and the
	// previous secret's.
	check("KeyByHash", plan(queryKeyByHash, make([]byte, 32)),
		"USING INDEX sqlite_autoindex_api_keys_", "USING INDEX api_keys_prev_secret_hash")
	after := &keyward.Cursor{CreatedAt: time.Now(), ID: 42}
	for name, f := range map[string]keyward.KeyFilter{
		"first page":      {OrgID: "acme", Limit: 101},
		"next page":       {OrgID: "acme", After: after, Limit: 101},
		"root keys":       {Root: true, Limit: 101},
		"next root keys":  {Root: true, After: after, Limit: 101},
		"without a limit": {OrgID: "acme"},
	} {
		q, args := listKeysQuery(f)
		check("ListKeys, "+name, plan(q, args...), "USING INDEX api_keys_live_by_org")
	}
	check("Key", plan(queryKey, 1, "acme", 0), "USING INTEGER PRIMARY KEY")
	check("LiveKeys", plan(queryLiveKeys, 42, 1000), "USING INTEGER PRIMARY KEY")
	check("UpdateKey's read", plan(queryKeyRecord, 1, "acme", 0), "USING INTEGER PRIMARY KEY")

	// Listings by state read the partial index of live keys, of deleted
	// keys, or both merged: never the table, never a sort.
	now := time.Now()
	all := []keyward.KeyState{keyward.StateActive, keyward.StateExpired, keyward.StateDisabled, keyward.StateDeleted}
	for name, tt := range map[string]struct {
		f     keyward.KeyFilter
		index []string
	}{
		"active":             {keyward.KeyFilter{OrgID: "acme", States: all[:1], Now: now, Limit: 101}, []string{"api_keys_live_by_org"}},
		"expired, next page": {keyward.KeyFilter{OrgID: "acme", States: all[1:2], Now: now, After: after, Limit: 101}, []string{"api_keys_live_by_org"}},
		"disabled or active": {keyward.KeyFilter{OrgID: "acme", States: []keyward.KeyState{keyward.StateDisabled, keyward.StateActive}, Now: now, Limit: 101}, []string{"api_keys_live_by_org"}},
		"deleted":            {keyward.KeyFilter{OrgID: "acme", States: all[3:], Now: now, Limit: 101}, []string{"api_keys_deleted_by_org"}},
		"all":                {keyward.KeyFilter{OrgID: "acme", States: all, Now: now, Limit: 101}, []string{"api_keys_live_by_org", "api_keys_deleted_by_org"}},
		"all, next page":     {keyward.KeyFilter{OrgID: "acme", States: all, Now: now, After: after, Limit: 101}, []string{"api_keys_live_by_org", "api_keys_deleted_by_org"}},
		"expired or deleted": {keyward.KeyFilter{OrgID: "acme", States: []keyward.KeyState{keyward.StateExpired, keyward.StateDeleted}, Now: now, Limit: 101}, []string{"api_keys_live_by_org", "api_keys_deleted_by_org"}},
	} {
		q, args := listKeysQuery(tt.f)
		check("ListKeys by state, "+name, plan(q, args...), tt.index...)
	}

	// Audit events: an organization's, one key's, filtered, paged; and the
	// pruning's oldest first.
	since, until := now.Add(-time.Hour), now
	cursor := &keyward.EventCursor{At: now, ID: 42}
	for name, tt := range map[string]struct {
		f     keyward.AuditFilter
		index string
	}{
		"an organization's":      {keyward.AuditFilter{OrgID: "acme", Limit: 101}, "audit_events_by_org"},
		"next page":              {keyward.AuditFilter{OrgID: "acme", After: cursor, Limit: 101}, "audit_events_by_org"},
		"an action, in a period": {keyward.AuditFilter{OrgID: "acme", Action: keyward.ActionRotate, Since: &since, Until: &until, Limit: 101}, "audit_events_by_org"},
		"one key's":              {keyward.AuditFilter{OrgID: "acme", KeyID: 7, Limit: 101}, "audit_events_by_key"},
		"one key's, next page":   {keyward.AuditFilter{OrgID: "acme", KeyID: 7, After: cursor, Since: &since, Limit: 101}, "audit_events_by_key"},
	} {
		q, args := listEventsQuery(tt.f)
		check("ListAuditEvents, "+name, plan(q, args...), "USING INDEX "+tt.index)
	}
	check("PruneAuditEvents", plan(pruneEventsQuery, now.UnixMicro(), 10),
		"USING COVERING INDEX audit_events_by_time")

	// TouchKeys reads its bound rows and finds each key by id: the only
	// scan is of the VALUES list.
	touch := plan(touchQuery(3), 1, 2, 3, 4, 5, 6)
	if !strings.Contains(touch, "SEARCH k USING INTEGER PRIMARY KEY") || strings.Count(touch, "SCAN") != 1 ||
		!strings.Contains(touch, "SCAN 3-ROW VALUES CLAUSE") || strings.Contains(touch, "TEMP B-TREE") {
		t.Errorf("TouchKeys: plan is not one pass over the values with a lookup by id:\n%s", touch)
	}
}

package postgres

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/pgtest"
)

// The hot queries read an index and never sort or scan the table: a change
// to a query or to the schema that loses its index fails here, not in
// production under load. The test tables are small, so the planner is told
// to avoid sequential and bitmap scans where it can: it still picks them
// when no index serves the query. They are not empty, and analyzed: on an
// empty table every index costs the same, and the planner may walk a whole
// index where one probe of another would do.
func TestQueryPlans(t *testing.T) {
	db, err := Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	tx, err := db.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	for _, set := range []string{"enable_seqscan", "enable_bitmapscan"} {
		if _, err := tx.Exec(t.Context(), `SELECT set_config($1, 'off', true)`, set); err != nil {
			t.Fatal(err)
		}
	}
	// Keys of many organizations, some deleted, some rotated, and many
	// more organizations' events, as in a store of many tenants, where an
	// organization's rows are few among the table's; ANALYZE counts the
	// rows its own transaction inserted.
	for _, q := range []string{
		`INSERT INTO api_keys (id, org_id, root, name, permissions, secret_hash, hint, created_at, updated_at,
			deleted_at, prev_secret_hash, prev_expires_at)
		SELECT i, 'org' || (i % 200), false, 'k', '{read}', sha256(int8send(i)), 'hint',
			now() - i * interval '1 minute', now(),
			CASE WHEN i % 7 = 0 THEN now() END,
			CASE WHEN i % 5 = 0 THEN sha256(int8send(-i)) END,
			CASE WHEN i % 5 = 0 THEN now() END
		FROM generate_series(1, 20000) AS i`,
		`INSERT INTO audit_events (id, org_id, at, actor, action, key_id, request_id, client_ip, user_agent)
		SELECT i, 'org' || (i % 200), now() - i * interval '1 second', 'cli', 'create', i % 20000 + 1, '', '', ''
		FROM generate_series(1, 20000) AS i`,
		`ANALYZE api_keys, audit_events, key_last_used`,
	} {
		if _, err := tx.Exec(t.Context(), q); err != nil {
			t.Fatalf("fill the tables: %v", err)
		}
	}
	explain := func(q string, args ...any) string {
		t.Helper()
		rows, err := tx.Query(t.Context(), "EXPLAIN "+q, args...)
		if err != nil {
			t.Fatalf("EXPLAIN: %v", err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("EXPLAIN: %v", err)
		}
		return strings.Join(lines, "\n")
	}
	// plan returns the plans of q for args: the custom plan, made for
	// these values, and the generic plan, made for any, which the server
	// may switch to for a statement pgx has prepared.
	plans := 0
	plan := func(q string, args ...any) (custom, generic string) {
		t.Helper()
		custom = explain(q, args...)
		if _, err := tx.Exec(t.Context(), `SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`); err != nil {
			t.Fatal(err)
		}
		defer tx.Exec(t.Context(), `SELECT set_config('plan_cache_mode', 'auto', true)`)
		plans++
		name := fmt.Sprintf("plan_test_%d", plans)
		if _, err := tx.Exec(t.Context(), `PREPARE `+name+` AS `+q); err != nil {
			t.Fatalf("PREPARE: %v", err)
		}
		params := make([]string, len(args))
		for i, a := range args {
			params[i] = literal(t, a)
		}
		generic = explain(`EXECUTE ` + name + `(` + strings.Join(params, ", ") + `)`)
		return custom, generic
	}
	check := func(name string, custom, generic string, want ...string) {
		t.Helper()
		for _, p := range []struct{ kind, plan string }{{"custom", custom}, {"generic", generic}} {
			name, plan := name+" ("+p.kind+" plan)", p.plan
			for _, w := range want {
				if !strings.Contains(plan, w) {
					t.Errorf("%s: plan lacks %q:\n%s", name, w, plan)
				}
			}
			// "Sort  (" is a sort node (a Merge Append has a Sort Key).
			for _, bad := range []string{"Seq Scan", "Sort  (", "Bitmap"} {
				if strings.Contains(plan, bad) {
					t.Errorf("%s: plan has %q:\n%s", name, bad, plan)
				}
			}
		}
	}

	custom, generic := plan(queryKeyByHash, make([]byte, 32))
	check("KeyByHash", custom, generic,
		"Index Scan using api_keys_secret_hash_key", "Index Scan using api_keys_prev_secret_hash_key")
	// The previous secret's branch runs only if the current secret's finds
	// nothing: the LIMIT is above the Append of the two.
	for _, p := range []string{custom, generic} {
		if !strings.HasPrefix(strings.TrimSpace(p), "Limit") || !strings.Contains(p, "Append") {
			t.Errorf("KeyByHash: not a limited Append:\n%s", p)
		}
	}
	custom, generic = plan(queryKeyForUpdate, 1, "acme", false)
	check("UpdateKey's read", custom, generic, "Index Scan using api_keys_pkey")
	after := &keyward.Cursor{CreatedAt: time.Now(), ID: 42}
	now := time.Now()
	active, deleted := []keyward.KeyState{keyward.StateActive}, []keyward.KeyState{keyward.StateDeleted}
	every := []keyward.KeyState{keyward.StateActive, keyward.StateExpired, keyward.StateDisabled, keyward.StateDeleted}
	live, gone := "Index Scan using api_keys_live_by_org", "Index Scan using api_keys_deleted_by_org"
	// A listing of live and deleted keys merges the two indexes in order;
	// its limit is below an organization's keys, where merging, rather
	// than reading all and sorting, pays.
	for name, c := range map[string]struct {
		f    keyward.KeyFilter
		want []string
	}{
		"first page":          {keyward.KeyFilter{OrgID: "org1", Limit: 101}, []string{live}},
		"next page":           {keyward.KeyFilter{OrgID: "org1", After: after, Limit: 101}, []string{live}},
		"root keys":           {keyward.KeyFilter{Root: true, Limit: 101}, []string{live}},
		"next root keys":      {keyward.KeyFilter{Root: true, After: after, Limit: 101}, []string{live}},
		"without a limit":     {keyward.KeyFilter{OrgID: "org1"}, []string{live}},
		"active":              {keyward.KeyFilter{OrgID: "org1", States: active, Now: now, Limit: 101}, []string{live}},
		"next active":         {keyward.KeyFilter{OrgID: "org1", States: active, Now: now, After: after, Limit: 101}, []string{live}},
		"disabled or expired": {keyward.KeyFilter{OrgID: "org1", States: []keyward.KeyState{keyward.StateDisabled, keyward.StateExpired}, Now: now, Limit: 101}, []string{live}},
		"deleted":             {keyward.KeyFilter{OrgID: "org1", States: deleted, Now: now, Limit: 101}, []string{gone}},
		"next deleted":        {keyward.KeyFilter{OrgID: "org1", States: deleted, Now: now, After: after, Limit: 101}, []string{gone}},
		"all":                 {keyward.KeyFilter{OrgID: "org1", States: every, Now: now, Limit: 11}, []string{"Merge Append", live, gone}},
		"next all":            {keyward.KeyFilter{OrgID: "org1", States: every, Now: now, After: after, Limit: 11}, []string{"Merge Append", live, gone}},
	} {
		q, args, err := listKeysQuery(c.f)
		if err != nil {
			t.Fatal(err)
		}
		custom, generic := plan(q, args...)
		check("ListKeys, "+name, custom, generic, c.want...)
		if c.f.After == nil {
			continue
		}
		// The cursor bounds the scan of each index, rather than filtering
		// its rows.
		for _, p := range []string{custom, generic} {
			scans := 0
			for _, w := range c.want {
				if strings.HasPrefix(w, "Index Scan") {
					scans++
				}
			}
			if strings.Count(indexConds(p), "ROW(created_at, id) < ROW(") != scans {
				t.Errorf("ListKeys, %s: the cursor is not a condition of the index scan:\n%s", name, p)
			}
		}
	}
	since, until := now.Add(-time.Hour), now
	byOrg, byKey := "Index Scan using audit_events_by_org", "Index Scan using audit_events_by_key"
	for name, c := range map[string]struct {
		f    keyward.AuditFilter
		want string
	}{
		"first page":      {keyward.AuditFilter{OrgID: "org1", Limit: 101}, byOrg},
		"next page":       {keyward.AuditFilter{OrgID: "org1", After: &keyward.EventCursor{At: now, ID: 42}, Limit: 101}, byOrg},
		"of an action":    {keyward.AuditFilter{OrgID: "org1", Action: keyward.ActionRotate, Limit: 101}, byOrg},
		"in a time range": {keyward.AuditFilter{OrgID: "org1", Since: &since, Until: &until, Limit: 101}, byOrg},
		"of a key":        {keyward.AuditFilter{OrgID: "org1", KeyID: 11, Limit: 101}, byKey},
		"next of a key":   {keyward.AuditFilter{OrgID: "org1", KeyID: 11, After: &keyward.EventCursor{At: now, ID: 42}, Limit: 101}, byKey},
		"without a limit": {keyward.AuditFilter{OrgID: "org1"}, byOrg},
	} {
		q, args := listEventsQuery(c.f)
		custom, generic := plan(q, args...)
		check("ListAuditEvents, "+name, custom, generic, c.want)
		if c.f.After == nil {
			continue
		}
		for _, p := range []string{custom, generic} {
			if !strings.Contains(indexConds(p), "ROW(at, id) < ROW(") {
				t.Errorf("ListAuditEvents, %s: the cursor is not a condition of the index scan:\n%s", name, p)
			}
		}
	}
	custom, generic = plan(queryPrunableEvents, now, int64(1000))
	check("PruneAuditEvents", custom, generic, "Index Scan using audit_events_at")

	// Either index finds one key by id: the primary key, or the listing's,
	// which holds the id and only live keys.
	custom, generic = plan(queryKey, 1, "acme", false)
	check("Key", custom, generic, "Index Scan using api_keys_")

	// A fill's page walks the primary key from the cursor: no sort of
	// every live key (the plan stale statistics gave, see ImportKeys).
	custom, generic = plan(queryLiveKeys, 42, 1000)
	check("LiveKeys", custom, generic, "Index Scan using api_keys_pkey")
}

// literal returns v as an SQL literal, for EXECUTE, which takes no
// parameters.
func literal(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case bool:
		return fmt.Sprint(v)
	case int, int64:
		return fmt.Sprint(v)
	case []byte:
		return fmt.Sprintf("'\\x%x'::bytea", v)
	case time.Time:
		return "'" + v.Format(time.RFC3339Nano) + "'::timestamptz"
	case *int64:
		if v == nil {
			return "NULL"
		}
		return fmt.Sprint(*v)
	}
	t.Fatalf("no literal for %T", v)
	return ""
}

// indexConds returns the lines of plan that hold index conditions.
func indexConds(plan string) string {
	var b strings.Builder
	for line := range strings.Lines(plan) {
		if strings.Contains(line, "Index Cond:") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// A page of LiveKeys walks the primary key even when the statistics
// still say the table is empty (a bulk import that autovacuum has not
// looked at yet): the plan liveKeysPlan pins, not the sort of every live
// row the planner picks otherwise.
func TestLiveKeysPlanWithStaleStatistics(t *testing.T) {
	db, err := Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if _, err := db.pool.Exec(t.Context(), `ANALYZE api_keys`); err != nil { // empty: the stale statistics
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(t.Context(), `INSERT INTO api_keys (id, org_id, root, name, permissions, secret_hash, hint, created_at, updated_at)
		SELECT i, 'org' || (i % 200), false, 'k', '{read}', sha256(int8send(i)), 'hint', now(), now()
		FROM generate_series(1, 50000) AS i`); err != nil {
		t.Fatal(err)
	}
	explain := func(pin bool) string {
		t.Helper()
		tx, err := db.pool.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(t.Context())
		if pin {
			if _, err := tx.Exec(t.Context(), liveKeysPlan); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := tx.Query(t.Context(), "EXPLAIN "+queryLiveKeys, 25000, 1000)
		if err != nil {
			t.Fatalf("EXPLAIN: %v", err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("EXPLAIN: %v", err)
		}
		return strings.Join(lines, "\n")
	}
	p := explain(true)
	if !strings.Contains(p, "Index Scan using api_keys_pkey") || strings.Contains(p, "Sort  (") || strings.Contains(p, "Bitmap") {
		t.Errorf("LiveKeys with stale statistics: not a walk of the primary key:\n%s", p)
	}
	t.Logf("without the pinned plan:\n%s", explain(false))
}

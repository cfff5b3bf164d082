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
// production under load. The test tables are tiny, so the planner is told
// to avoid sequential and bitmap scans where it can: it still picks them
// when no index serves the query.
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
			for _, bad := range []string{"Seq Scan", "Sort", "Bitmap"} {
				if strings.Contains(plan, bad) {
					t.Errorf("%s: plan has %q:\n%s", name, bad, plan)
				}
			}
		}
	}

	custom, generic := plan(queryKeyByHash, make([]byte, 32))
	check("KeyByHash", custom, generic, "Index Scan using api_keys_secret_hash_key")
	after := &keyward.Cursor{CreatedAt: time.Now(), ID: 42}
	for name, f := range map[string]keyward.KeyFilter{
		"first page":      {OrgID: "acme", Limit: 101},
		"next page":       {OrgID: "acme", After: after, Limit: 101},
		"root keys":       {Root: true, Limit: 101},
		"next root keys":  {Root: true, After: after, Limit: 101},
		"without a limit": {OrgID: "acme"},
	} {
		q, args := listKeysQuery(f)
		custom, generic := plan(q, args...)
		check("ListKeys, "+name, custom, generic, "Index Scan using api_keys_live_by_org")
		if f.After == nil {
			continue
		}
		// The cursor bounds the scan, rather than filtering its rows.
		for _, p := range []string{custom, generic} {
			if !strings.Contains(indexCond(p), "ROW(created_at, id) < ROW(") {
				t.Errorf("ListKeys, %s: the cursor is not a condition of the index scan:\n%s", name, p)
			}
		}
	}
	// Either index finds one key by id: the primary key, or the listing's,
	// which holds the id and only live keys.
	custom, generic = plan(queryKey, 1, "acme", false)
	check("Key", custom, generic, "Index Scan using api_keys_")
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

// indexCond returns the line of plan that holds its index condition.
func indexCond(plan string) string {
	for line := range strings.Lines(plan) {
		if strings.Contains(line, "Index Cond:") {
			return line
		}
	}
	return ""
}

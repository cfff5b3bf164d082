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

	check("KeyByHash", plan(queryKeyByHash, make([]byte, 32)), "USING INDEX sqlite_autoindex_api_keys_")
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

	// TouchKeys reads its bound rows and finds each key by id: the only
	// scan is of the VALUES list.
	touch := plan(touchQuery(3), 1, 2, 3, 4, 5, 6)
	if !strings.Contains(touch, "SEARCH k USING INTEGER PRIMARY KEY") || strings.Count(touch, "SCAN") != 1 ||
		!strings.Contains(touch, "SCAN 3-ROW VALUES CLAUSE") || strings.Contains(touch, "TEMP B-TREE") {
		t.Errorf("TouchKeys: plan is not one pass over the values with a lookup by id:\n%s", touch)
	}
}

package storetest

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// listFixture stores, in random order, the live keys of acme (several
// sharing a creation time, as keys made in one microsecond do) among keys
// that ListKeys of acme must not return: other organizations', root keys,
// and deleted ones. It returns acme's live keys and the live root keys,
// each newest first.
func listFixture(t *testing.T, s keyward.KeyStore) (live, roots []*keyward.Key) {
	t.Helper()
	for _, d := range []time.Duration{
		-time.Hour,
		0, 0, 0, // three in one microsecond
		time.Microsecond, time.Microsecond,
		time.Second,
		2 * time.Hour,
		-24 * time.Hour,
	} {
		live = append(live, newKey(t, acme, base.Add(d)))
	}
	roots = []*keyward.Key{newRootKey(t, base), newRootKey(t, base.Add(time.Microsecond))}
	noise := []*keyward.Key{
		newKey(t, globex, base),
		newKey(t, globex, base.Add(time.Second)),
		newKey(t, upper, base),
		newKey(t, "acme2", base),
		roots[0],
		roots[1],
	}
	deleted := []*keyward.Key{
		newKey(t, acme, base),                       // ties with live keys
		newKey(t, acme, base.Add(3*time.Hour)),      // would be first
		newKey(t, acme, base.Add(-48*time.Hour)),    // would be last
		newKey(t, acme, base.Add(time.Microsecond)), // ties with live keys
		newRootKey(t, base.Add(time.Hour)),
	}
	all := append(append(append([]*keyward.Key{}, live...), noise...), deleted...)
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for _, k := range all {
		create(t, s, k)
	}
	for _, k := range deleted {
		remove(t, s, k, base.Add(4*time.Hour))
	}
	return newestFirst(live), newestFirst(roots)
}

// ListKeys returns exactly the organization's live keys, newest first by
// creation time and then by id, each equal in every field.
func testListKeysOrder(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	want, _ := listFixture(t, s)
	checkList(t, "ListKeys(acme)", list(t, s, keyward.KeyFilter{OrgID: acme}), want)
}

// ListKeys returns at most Limit keys: the newest.
func testListKeysLimit(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	want, _ := listFixture(t, s)
	for _, limit := range []int{1, 2, 3, 4, len(want) - 1, len(want), len(want) + 1, 1000} {
		got, err := s.ListKeys(t.Context(), keyward.KeyFilter{OrgID: acme, Limit: limit})
		if err != nil {
			t.Fatalf("ListKeys(limit %d): %v", limit, err)
		}
		checkList(t, fmt.Sprintf("ListKeys(limit %d)", limit), got, want[:min(limit, len(want))])
	}
}

// Pages walked with the cursor after each page's last key return every key
// exactly once, in order, also where a page ends among keys that share a
// creation time. The cursor works as given and through its encoding.
func testListKeysPaging(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	want, _ := listFixture(t, s)
	for _, limit := range []int{1, 2, 3, 4, len(want) - 1, len(want), len(want) + 1} {
		for _, encoded := range []bool{false, true} {
			var got []*keyward.Key
			var after *keyward.Cursor
			for page := 0; ; page++ {
				if page > len(want)+1 {
					t.Fatalf("limit %d: more pages than keys", limit)
				}
				keys, err := s.ListKeys(t.Context(), keyward.KeyFilter{OrgID: acme, After: after, Limit: limit})
				if err != nil {
					t.Fatalf("limit %d, page %d: ListKeys: %v", limit, page, err)
				}
				if len(keys) > limit {
					t.Fatalf("limit %d, page %d: %d keys", limit, page, len(keys))
				}
				got = append(got, keys...)
				if len(keys) < limit {
					break
				}
				after = keyward.CursorAfter(keys[len(keys)-1])
				if encoded {
					if after, err = keyward.ParseCursor(after.Encode()); err != nil {
						t.Fatalf("ParseCursor: %v", err)
					}
				}
			}
			checkList(t, fmt.Sprintf("pages of %d (encoded cursor: %v)", limit, encoded), got, want)
		}
	}

	// After the last key there is nothing.
	got, err := s.ListKeys(t.Context(), keyward.KeyFilter{OrgID: acme, After: keyward.CursorAfter(want[len(want)-1]), Limit: 10})
	if err != nil {
		t.Fatalf("ListKeys after the last key: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("ListKeys after the last key: %v, want none", ids(got))
	}
}

// With Root set, ListKeys returns the live root keys and nothing else; the
// root keys are no organization's, not even the empty one's.
func testListKeysRootKeys(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	_, roots := listFixture(t, s)
	more := []*keyward.Key{newRootKey(t, base.Add(-time.Minute)), newRootKey(t, base.Add(time.Minute)), newRootKey(t, base)}
	for _, k := range more {
		create(t, s, k)
	}
	deleted := newRootKey(t, base.Add(time.Hour))
	create(t, s, deleted)
	remove(t, s, deleted, base.Add(2*time.Hour))

	want := newestFirst(append(roots, more...))
	checkList(t, "ListKeys(root)", list(t, s, keyward.KeyFilter{Root: true}), want)
	if got := list(t, s, keyward.KeyFilter{OrgID: ""}); len(got) != 0 {
		t.Errorf("ListKeys of the empty organization without Root: %v, want none", ids(got))
	}
}

// An organization without keys lists as empty, without error.
func testListKeysEmptyOrg(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	for _, f := range []keyward.KeyFilter{{OrgID: acme, Limit: 10}, {Root: true, Limit: 10}} {
		got, err := s.ListKeys(t.Context(), f)
		if err != nil || len(got) != 0 {
			t.Errorf("ListKeys(%+v) on an empty store = %v, %v; want none, nil", f, ids(got), err)
		}
	}
	listFixture(t, s)
	got, err := s.ListKeys(t.Context(), keyward.KeyFilter{OrgID: "initech", Limit: 10})
	if err != nil || len(got) != 0 {
		t.Errorf("ListKeys(initech) = %v, %v; want none, nil", ids(got), err)
	}
}

// ListKeys with Name returns the keys whose name contains it, ignoring the
// case of ASCII letters only, in every state asked for, paged as ever; a
// name that is a pattern in SQL (%, _) matches only itself.
func testListKeysByName(t *testing.T, newStore newStoreFunc) {
	s := newStore(t)
	named := func(name string, at time.Duration, opts ...KeyOption) *keyward.Key {
		return NewKey(acme, append([]KeyOption{Name(name), CreatedAt(base.Add(at))}, opts...)...)
	}
	backend := named("Backend (prod)", 0)
	backendOld := named("old backend", -time.Hour, Disabled())
	backendGone := named("BACKEND gone", -2*time.Hour, DeletedAt(base))
	percent := named("100% up_time", -3*time.Hour)
	accented := named("Ébène", -4*time.Hour)
	others := []*keyward.Key{named("frontend", time.Hour), named("back end", 2*time.Hour), NewKey(globex, Name("backend"), CreatedAt(base))}
	for _, k := range append([]*keyward.Key{backend, backendOld, backendGone, percent, accented}, others...) {
		create(t, s, k)
	}
	every := []keyward.KeyState{keyward.StateActive, keyward.StateDisabled, keyward.StateExpired, keyward.StateDeleted}
	for _, tt := range []struct {
		name   string
		states []keyward.KeyState
		want   []*keyward.Key
	}{
		{"backend", nil, []*keyward.Key{backend, backendOld}},
		{"BackEnd", nil, []*keyward.Key{backend, backendOld}},
		{"backend", every, []*keyward.Key{backend, backendOld, backendGone}},
		{"backend", []keyward.KeyState{keyward.StateDisabled}, []*keyward.Key{backendOld}},
		{"%", nil, []*keyward.Key{percent}},
		{"0%_", nil, nil}, // as a LIKE pattern, it would match "0% "
		{"_", nil, []*keyward.Key{percent}},
		{"ébène", nil, nil},
		{"Ébène", nil, []*keyward.Key{accented}},
		{"zzz", every, nil},
	} {
		f := keyward.KeyFilter{OrgID: acme, Name: tt.name, States: tt.states, Now: base.Add(time.Minute)}
		checkList(t, fmt.Sprintf("ListKeys(name %q, states %v)", tt.name, tt.states), list(t, s, f), tt.want)
	}
}

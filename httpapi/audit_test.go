package httpapi_test

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

type eventBody struct {
	ID        string                     `json:"id"`
	Time      string                     `json:"time"`
	OrgID     *string                    `json:"organization_id"`
	Actor     string                     `json:"actor"`
	Action    string                     `json:"action"`
	KeyID     string                     `json:"key_id"`
	RequestID *string                    `json:"request_id"`
	ClientIP  *string                    `json:"client_ip"`
	UserAgent *string                    `json:"user_agent"`
	Changes   map[string]json.RawMessage `json:"changes"`
}

// events lists audit events and fails unless the answer is 200.
func (e *env) events(path, key string) ([]eventBody, response) {
	e.t.Helper()
	r := e.req("GET", path, key, nil)
	want(e.t, r, http.StatusOK)
	var evs []eventBody
	r.decode(e.t, &evs)
	return evs, r
}

// TestAuditEvents: every action is recorded with who made it and where
// the request came from; the log filters and pages; another organization
// sees none of it.
func TestAuditEvents(t *testing.T) {
	clock := newFakeClock(t0)
	e := newEnvAt(t, clock)
	admin := e.createKey("acme", "admin", "read", "write", "manage")
	const ua = "lifecycle-test/1.0 (audit)"
	step := 0
	// act makes one change as admin, a second later than the last, with
	// its own request id.
	act := func(method, path, body string, status int) string {
		t.Helper()
		step++
		clock.Advance(time.Second)
		reqID := "audit-step-" + string(rune('a'+step))
		r := e.req(method, path, admin.Key, body, "User-Agent", ua, "X-Request-Id", reqID, "Content-Type", "application/json")
		want(t, r, status)
		if status < 300 && (method == "POST" && strings.HasSuffix(path, "/api_keys") || strings.HasSuffix(path, "/rotate")) {
			var k keyBody
			r.decode(t, &k)
			e.secrets = append(e.secrets, k.Key)
		}
		return reqID
	}
	var k keyBody
	clock.Advance(time.Second)
	r := e.req("POST", "/api_keys", admin.Key, `{"name":"audited","permissions":["read"]}`, "User-Agent", ua, "X-Request-Id", "audit-step-create")
	want(t, r, http.StatusCreated)
	r.decode(t, &k)
	e.secrets = append(e.secrets, k.Key)
	path := "/orgs/acme/api_keys/" + k.ID
	reqIDs := []string{"audit-step-create"}
	reqIDs = append(reqIDs, act("PATCH", path, `{"name":"renamed","metadata":{"a":1}}`, 200))
	reqIDs = append(reqIDs, act("POST", path+"/rotate", `{"grace_period":"1h"}`, 200))
	reqIDs = append(reqIDs, act("POST", "/api_keys/"+k.ID+"/disable", ``, 200))
	reqIDs = append(reqIDs, act("POST", path+"/enable", ``, 200))
	reqIDs = append(reqIDs, act("DELETE", path, ``, 200))
	reqIDs = append(reqIDs, act("POST", path+"/restore", ``, 200))
	act("PATCH", path, `{"name":"renamed"}`, 200) // changes nothing: no event
	act("PATCH", path, `{"name":null}`, 400)      // fails: no event
	actions := []string{"create", "update", "rotate", "disable", "enable", "delete", "restore"}

	evs, _ := e.events("/orgs/acme/audit_events?key_id="+k.ID, admin.Key)
	if len(evs) != len(actions) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(actions), evs)
	}
	for i, ev := range evs {
		j := len(actions) - 1 - i // newest first
		if ev.Action != actions[j] || ev.KeyID != k.ID || ev.Actor != admin.ID || ev.OrgID == nil || *ev.OrgID != "acme" ||
			ev.RequestID == nil || *ev.RequestID != reqIDs[j] || ev.UserAgent == nil || *ev.UserAgent != ua ||
			ev.ClientIP == nil || *ev.ClientIP != "127.0.0.1" || !strings.HasPrefix(ev.ID, "evt-") {
			t.Errorf("event %d: %+v", i, ev)
		}
		at, err := time.Parse(time.RFC3339Nano, ev.Time)
		if err != nil || !at.Equal(t0.Add(time.Duration(j+1)*time.Second)) {
			t.Errorf("event %d (%s) at %s, want %s", i, ev.Action, ev.Time, t0.Add(time.Duration(j+1)*time.Second))
		}
	}
	update := evs[len(evs)-2]
	if string(update.Changes["name"]) != `{"from":"audited","to":"renamed"}` || string(update.Changes["metadata"]) != `{"from":{},"to":{"a":1}}` {
		t.Errorf("the update's changes: %v", update.Changes)
	}
	if c := evs[len(evs)-1].Changes; len(c) != 0 {
		t.Errorf("the create lists changes: %v", c)
	}
	if c := evs[len(evs)-4].Changes; string(c["enabled"]) != `{"from":true,"to":false}` {
		t.Errorf("the disable's changes: %v", c)
	}

	// The caller-scoped log is the caller's organization's; a root key
	// names it, or reads the events about root keys.
	mine, _ := e.events("/audit_events?key_id="+k.ID, admin.Key)
	byRoot, _ := e.events("/audit_events?organization_id=acme&key_id="+k.ID, e.root)
	if len(mine) != len(evs) || len(byRoot) != len(evs) || mine[0].ID != evs[0].ID || byRoot[0].ID != evs[0].ID {
		t.Errorf("caller-scoped: %d and %d events, want %d", len(mine), len(byRoot), len(evs))
	}
	rootEvents, _ := e.events("/audit_events", e.root)
	for _, ev := range rootEvents {
		if ev.OrgID != nil {
			t.Errorf("a root key's log without organization_id shows %+v", ev)
		}
	}
	// The organization's log holds the admin key's creation too (by the
	// root key, from the API).
	all, _ := e.events("/orgs/acme/audit_events", e.root)
	if len(all) != len(actions)+1 || all[len(all)-1].KeyID != admin.ID || all[len(all)-1].Actor == admin.ID {
		t.Errorf("the organization's log: %d events", len(all))
	}

	t.Run("filters", func(t *testing.T) {
		for _, tt := range []struct {
			query string
			want  []string
		}{
			{"action=rotate", []string{"rotate"}},
			{"action=create&key_id=" + strings.TrimPrefix(k.ID, "key-"), []string{"create"}},
			{"key_id=" + k.ID + "&since=" + t0.Add(4*time.Second).Format(time.RFC3339), []string{"restore", "delete", "enable", "disable"}},
			{"key_id=" + k.ID + "&until=" + t0.Add(4*time.Second).Format(time.RFC3339), []string{"rotate", "update", "create"}},
			{"since=" + t0.Add(3*time.Second).Format(time.RFC3339) + "&until=" + t0.Add(5*time.Second).Format(time.RFC3339), []string{"disable", "rotate"}},
			{"key_id=key-42", nil},
		} {
			evs, _ := e.events("/orgs/acme/audit_events?"+tt.query, admin.Key)
			var got []string
			for _, ev := range evs {
				got = append(got, ev.Action)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s: %v, want %v", tt.query, got, tt.want)
			}
		}
	})

	t.Run("pagination", func(t *testing.T) {
		var got []string
		next := "/orgs/acme/audit_events?key_id=" + k.ID + "&limit=3"
		for pages := 0; next != ""; pages++ {
			if pages > 5 {
				t.Fatal("the pages do not end")
			}
			evs, r := e.events(next, admin.Key)
			for _, ev := range evs {
				got = append(got, ev.ID)
			}
			next = ""
			if link := r.header.Get("Link"); link != "" {
				next = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
				if !strings.Contains(next, "key_id="+k.ID) || !strings.Contains(next, "limit=3") {
					t.Errorf("Link %q loses the filter or the limit", link)
				}
			}
		}
		var want []string
		for _, ev := range evs {
			want = append(want, ev.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("paged: %v, want %v", got, want)
		}
	})

	t.Run("another organization", func(t *testing.T) {
		globex := e.createKey("globex", "globex admin", "read", "manage")
		theirs, _ := e.events("/audit_events", globex.Key)
		for _, ev := range theirs {
			if ev.OrgID == nil || *ev.OrgID != "globex" {
				t.Errorf("globex sees %+v", ev)
			}
		}
		if evs, _ := e.events("/audit_events?key_id="+k.ID, globex.Key); len(evs) != 0 {
			t.Errorf("globex sees %d events of acme's key", len(evs))
		}
		want(t, e.req("GET", "/orgs/acme/audit_events", globex.Key, nil), http.StatusNotFound)
		want(t, e.req("GET", "/audit_events?organization_id=acme", globex.Key, nil), http.StatusNotFound)
	})

	t.Run("errors", func(t *testing.T) {
		reader := e.createKey("acme", "reader", "read")
		keyCursor := (&keyward.Cursor{CreatedAt: t0, ID: 1}).Encode()
		for _, tt := range []struct {
			name, path, key string
			status          int
			field           string
		}{
			{"no key", "/audit_events", "", 401, ""},
			{"without manage", "/audit_events", reader.Key, 403, ""},
			{"without manage, org-scoped", "/orgs/acme/audit_events", reader.Key, 403, ""},
			{"unknown action", "/audit_events?action=read", admin.Key, 400, "action"},
			{"bad key id", "/audit_events?key_id=abc", admin.Key, 400, "key_id"},
			{"bad since", "/audit_events?since=yesterday", admin.Key, 400, "since"},
			{"since in the year 10000 in UTC", "/audit_events?since=9999-12-31T23:59:59-23:59", admin.Key, 400, "since"},
			{"until in the year 10000 in UTC", "/audit_events?until=9999-12-31T23:59:59-23:59", admin.Key, 400, "until"},
			{"since in the year 0 in UTC", "/audit_events?since=0001-01-01T00:00:00%2B00:01", admin.Key, 400, "since"},
			{"until in the year 0", "/audit_events?until=0000-06-01T00:00:00Z", admin.Key, 400, "until"},
			{"until before since", "/audit_events?since=2031-03-05T00:00:00Z&until=2031-03-04T00:00:00Z", admin.Key, 400, "until"},
			{"a key list's cursor", "/audit_events?cursor=" + keyCursor, admin.Key, 400, "cursor"},
			{"limit zero", "/orgs/acme/audit_events?limit=0", admin.Key, 400, "limit"},
			{"bad organization", "/audit_events?organization_id=a%20b", e.root, 400, "organization_id"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := e.req("GET", tt.path, tt.key, nil)
				want(t, r, tt.status)
				if p := r.problem(t); tt.field != "" && p.fieldErr(tt.field) == "" {
					t.Errorf("problem does not name %s: %+v", tt.field, p)
				}
			})
		}
		// Events cannot be changed or deleted through the API.
		for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
			want(t, e.req(m, "/orgs/acme/audit_events", admin.Key, `{}`), http.StatusMethodNotAllowed)
			want(t, e.req(m, "/audit_events", admin.Key, `{}`), http.StatusMethodNotAllowed)
		}
	})
}

// wholeSecret matches a whole secret, as a scanner finds one (a hint,
// "kw_Ab3d...x9Zq", is not).
var wholeSecret = regexp.MustCompile(`\b` + keyward.SecretPattern + `\b`)

// TestNoSecretInAnswers scans every audit event and every list and get
// answer, in every state, for every secret the test saw created, and for
// each one's hash.
func TestNoSecretInAnswers(t *testing.T) {
	clock := newFakeClock(t0)
	e := newEnvAt(t, clock)
	admin := e.createKey("acme", "admin", "read", "write", "manage")
	var ids []string
	for i, name := range []string{"a", "b", "c", "d"} {
		k := e.createWith(name, []string{"read"}, map[string]any{"expires_at": t0.Add(time.Duration(i+1) * time.Hour).Format(time.RFC3339)})
		ids = append(ids, k.ID)
		path := "/orgs/acme/api_keys/" + k.ID
		r := e.req("POST", path+"/rotate", admin.Key, `{"grace_period":"24h"}`)
		want(t, r, http.StatusOK)
		var rot keyBody
		r.decode(t, &rot)
		e.secrets = append(e.secrets, rot.Key)
		want(t, e.patch(path, admin.Key, `{"name":"renamed `+name+`"}`), http.StatusOK)
		switch i {
		case 1:
			want(t, e.req("POST", path+"/disable", admin.Key, nil), http.StatusOK)
		case 2:
			want(t, e.req("DELETE", path, admin.Key, nil), http.StatusOK)
		case 3:
			want(t, e.req("DELETE", path, admin.Key, nil), http.StatusOK)
			want(t, e.req("POST", path+"/restore", admin.Key, nil), http.StatusOK)
		}
	}
	clock.Advance(90 * time.Minute) // the first key has expired
	var answers []response
	for _, q := range []string{"", "?state=active", "?state=disabled", "?state=expired", "?state=deleted", "?state=all"} {
		answers = append(answers, e.req("GET", "/orgs/acme/api_keys"+q, admin.Key, nil), e.req("GET", "/api_keys"+q, admin.Key, nil))
	}
	for _, id := range ids {
		answers = append(answers, e.req("GET", "/orgs/acme/api_keys/"+id, admin.Key, nil), e.req("GET", "/api_keys/"+id, e.root, nil))
	}
	for _, q := range []string{"", "?action=rotate", "?action=create", "?action=update"} {
		answers = append(answers, e.req("GET", "/orgs/acme/audit_events"+q, admin.Key, nil), e.req("GET", "/audit_events"+q, admin.Key, nil))
	}
	answers = append(answers, e.req("GET", "/audit_events", e.root, nil))
	events := 0
	for _, r := range answers {
		if r.status != http.StatusOK && r.status != http.StatusNotFound {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if strings.Contains(string(r.body), `"evt-`) {
			events++
		}
		for _, s := range e.secrets {
			secret, err := keyward.ParseSecret(s)
			if err != nil {
				t.Fatalf("not a secret: %s", hint(s))
			}
			h := secret.Hash()
			if strings.Contains(string(r.body), s) || strings.Contains(string(r.body), s[3:]) ||
				strings.Contains(strings.ToLower(string(r.body)), hex.EncodeToString(h[:])) {
				t.Errorf("an answer shows the secret %s or its hash: %.200s", hint(s), r.body)
			}
		}
		if wholeSecret.Match(r.body) {
			t.Errorf("an answer holds something shaped like a secret: %.200s", r.body)
		}
	}
	if events == 0 {
		t.Fatal("no audit event was scanned")
	}
}

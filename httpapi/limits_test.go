package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// limitsBody is what the API says of a key's limits and credits.
type limitsBody struct {
	RateLimits []struct {
		Name     string `json:"name"`
		Limit    int64  `json:"limit"`
		Duration string `json:"duration"`
	} `json:"rate_limits"`
	Credits *struct {
		Remaining int64 `json:"remaining"`
		Refill    *struct {
			Amount   int64  `json:"amount"`
			Interval string `json:"interval"`
		} `json:"refill"`
		RefilledAt string `json:"refilled_at"`
	} `json:"credits"`
}

// verifyLimits is what a verify answer says of limits and credits.
type verifyLimits struct {
	Code       string `json:"code"`
	RateLimits []struct {
		Name      string `json:"name"`
		Limit     int64  `json:"limit"`
		Remaining int64  `json:"remaining"`
		Reset     int64  `json:"reset"`
		ResetAt   string `json:"reset_at"`
		Exceeded  bool   `json:"exceeded"`
	} `json:"rate_limits"`
	Credits *struct {
		Remaining int64 `json:"remaining"`
	} `json:"credits"`
}

func (e *env) verifyCost(secret string, cost any) verifyLimits {
	e.t.Helper()
	body := map[string]any{"key": secret}
	if cost != nil {
		body["cost"] = cost
	}
	r := e.req("POST", "/verify", "", body)
	want(e.t, r, http.StatusOK)
	var v verifyLimits
	r.decode(e.t, &v)
	return v
}

func (e *env) limitsOf(path string) limitsBody {
	e.t.Helper()
	r := e.req("GET", path, e.root, nil)
	want(e.t, r, http.StatusOK)
	var l limitsBody
	r.decode(e.t, &l)
	return l
}

// A key's rate limits: shown, spent all or none, reset with their window,
// replaced and removed by PATCH.
func TestRateLimits(t *testing.T) {
	clock := newFakeClock(t0.Add(30 * time.Second)) // half way through a minute
	e := newEnvAt(t, clock)
	k := e.createWith("limited", []string{"read"}, map[string]any{"rate_limits": []map[string]any{
		{"name": "per-minute", "limit": 3, "duration": "1m"},
		{"name": "burst", "limit": 2, "duration": "1000ms"},
	}})
	path := "/orgs/acme/api_keys/" + k.ID
	l := e.limitsOf(path)
	if len(l.RateLimits) != 2 || l.RateLimits[0].Name != "per-minute" || l.RateLimits[0].Limit != 3 || l.RateLimits[0].Duration != "60s" ||
		l.RateLimits[1].Duration != "1s" || l.Credits != nil {
		t.Fatalf("the key's limits read back as %+v", l)
	}

	for i := range int64(2) {
		// per-minute has 3-(i+1) left, burst 2-(i+1).
		if v := e.verifyCost(k.Key, nil); v.Code != "VALID" || len(v.RateLimits) != 2 || v.RateLimits[0].Remaining != 2-i || v.RateLimits[1].Remaining != 1-i {
			t.Fatalf("verify %d: %+v", i+1, v)
		}
	}
	// The burst limit is spent: refused, and the minute's limit is not
	// spent either (all or none).
	v := e.verifyCost(k.Key, nil)
	if v.Code != "RATE_LIMITED" || !v.RateLimits[1].Exceeded || v.RateLimits[0].Exceeded || v.RateLimits[0].Remaining != 1 || v.RateLimits[1].Remaining != 0 {
		t.Fatalf("past the burst limit: %+v", v)
	}
	if v.RateLimits[1].Reset != 1 || v.RateLimits[0].Reset != 30 || v.RateLimits[0].ResetAt != "2031-03-04T10:01:00Z" {
		t.Errorf("resets: %+v", v.RateLimits)
	}
	// Cost 0 spends nothing and says where the key stands.
	if v := e.verifyCost(k.Key, 0); v.Code != "VALID" || v.RateLimits[0].Remaining != 1 || v.RateLimits[1].Remaining != 0 {
		t.Errorf("cost 0: %+v", v)
	}
	clock.Advance(time.Second) // the next burst window
	if v := e.verifyCost(k.Key, 2); v.Code != "RATE_LIMITED" || !v.RateLimits[0].Exceeded || v.RateLimits[1].Exceeded {
		t.Errorf("cost 2 with 1 left of the minute: %+v", v)
	}
	if v := e.verifyCost(k.Key, nil); v.Code != "VALID" || v.RateLimits[0].Remaining != 0 {
		t.Errorf("the minute's last unit: %+v", v)
	}
	if v := e.verifyCost(k.Key, nil); v.Code != "RATE_LIMITED" || !v.RateLimits[0].Exceeded {
		t.Errorf("past the minute's limit: %+v", v)
	}
	clock.Set(t0.Add(time.Minute)) // the next minute: every window resets
	if v := e.verifyCost(k.Key, nil); v.Code != "VALID" || v.RateLimits[0].Remaining != 2 || v.RateLimits[0].Reset != 60 {
		t.Errorf("in the next minute: %+v", v)
	}

	// PATCH replaces the limits, and null removes them; each is audited.
	want(t, e.patch(path, e.root, `{"rate_limits":[{"name":"hourly","limit":1000,"duration":"1h"}]}`), http.StatusOK)
	if l := e.limitsOf(path); len(l.RateLimits) != 1 || l.RateLimits[0].Name != "hourly" || l.RateLimits[0].Duration != "3600s" {
		t.Errorf("after PATCH: %+v", l)
	}
	if v := e.verifyCost(k.Key, nil); v.Code != "VALID" || len(v.RateLimits) != 1 || v.RateLimits[0].Remaining != 999 {
		t.Errorf("verify after PATCH: %+v", v)
	}
	want(t, e.patch(path, e.root, `{"rate_limits":null}`), http.StatusOK)
	if l := e.limitsOf(path); l.RateLimits == nil || len(l.RateLimits) != 0 {
		t.Errorf("after removing: %+v (want [])", l)
	}
	if v := e.verifyCost(k.Key, nil); v.Code != "VALID" || v.RateLimits != nil {
		t.Errorf("verify without limits: %+v", v)
	}
	r := e.req("GET", "/orgs/acme/audit_events?key_id="+k.ID+"&action=update", e.root, nil)
	want(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), `"rate_limits":{"from"`) {
		t.Errorf("audit log lacks the rate_limits change: %s", r.body)
	}
}

// What is wrong with limits, credits or a cost is a 400 naming the field,
// and changes nothing.
func TestLimitsBadInput(t *testing.T) {
	e := newEnvAt(t, newFakeClock(t0))
	for _, tc := range []struct {
		body  string
		field string
	}{
		{`"rate_limits":[{"name":"a","limit":0,"duration":"1s"}]`, "rate_limits"},
		{`"rate_limits":[{"name":"a","limit":1,"duration":"0s"}]`, "rate_limits"},
		{`"rate_limits":[{"name":"a","limit":1,"duration":"1500us"}]`, "rate_limits"},
		{`"rate_limits":[{"name":"a","limit":1,"duration":"32d"}]`, "rate_limits"},
		{`"rate_limits":[{"name":"A","limit":1,"duration":"1s"}]`, "rate_limits"},
		{`"rate_limits":[{"name":"a","limit":1,"duration":"1s"},{"name":"a","limit":2,"duration":"2s"}]`, "rate_limits"},
		{`"rate_limits":[{"name":"a","limit":1.5,"duration":"1s"}]`, "rate_limits"},
		{`"rate_limits":[{"name":"a","limit":1}]`, "rate_limits"},
		{`"rate_limits":[{"name":"a","limit":1,"duration":"1s","burst":3}]`, "rate_limits"},
		{`"rate_limits":{"name":"a"}`, "rate_limits"},
		{`"rate_limits":[` + strings.Repeat(`{"name":"x","limit":1,"duration":"1s"},`, 10) + `{"name":"y","limit":1,"duration":"1s"}]`, "rate_limits"},
		{`"credits":{"remaining":-1}`, "credits"},
		{`"credits":{"remaining":9007199254740992}`, "credits"},
		{`"credits":{}`, "credits"},
		{`"credits":{"remaining":1,"refill":{"amount":1,"interval":"weekly"}}`, "credits"},
		{`"credits":{"remaining":1,"refill":{"amount":0,"interval":"daily"}}`, "credits"},
		{`"credits":{"remaining":1,"refill":{"interval":"daily"}}`, "credits"},
		{`"credits":{"remaining":1,"extra":true}`, "credits"},
		{`"credits":5`, "credits"},
	} {
		r := e.req("POST", "/orgs/acme/api_keys", e.root, `{"name":"n","permissions":["read"],`+tc.body+`}`)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", tc.body, r.status, r.body)
			continue
		}
		if p := r.problem(t); p.fieldErr(tc.field) == "" {
			t.Errorf("%s: no error for %s: %+v", tc.body, tc.field, p)
		}
	}
	r := e.req("GET", "/orgs/acme/api_keys", e.root, nil)
	var keys []keyBody
	r.decode(t, &keys)
	if len(keys) != 0 {
		t.Errorf("a refused create left %d keys", len(keys))
	}

	k := e.createKey("acme", "k", "read")
	for _, cost := range []string{`-1`, `1000001`, `"1"`, `1.5`, `true`} {
		r := e.req("POST", "/verify", "", `{"key":"`+k.Key+`","cost":`+cost+`}`)
		if r.status != http.StatusBadRequest {
			t.Errorf("cost %s: status %d, want 400: %s", cost, r.status, r.body)
			continue
		}
		if p := r.problem(t); p.fieldErr("cost") == "" && (cost == "-1" || cost == "1000001") {
			t.Errorf("cost %s: no error for cost: %+v", cost, p)
		}
	}
}

// A key may not loosen its own limits, nor set another's unless it holds
// every permission of that key.
func TestLimitsCannotBeSelfServed(t *testing.T) {
	e := newEnvAt(t, newFakeClock(t0))
	manager := e.createWith("manager", []string{"manage", "read"}, map[string]any{"credits": map[string]any{"remaining": 1}})
	self := "/orgs/acme/api_keys/" + manager.ID
	for _, body := range []string{`{"credits":{"remaining":1000}}`, `{"credits":null}`, `{"rate_limits":[]}`} {
		if r := e.patch(self, manager.Key, body); r.status != http.StatusForbidden {
			t.Errorf("a key patching its own %s: status %d, want 403", body, r.status)
		}
	}
	writer := e.createKey("acme", "writer", "write")
	if r := e.patch("/orgs/acme/api_keys/"+writer.ID, manager.Key, `{"credits":{"remaining":5}}`); r.status != http.StatusForbidden {
		t.Errorf("setting the credits of a key with a permission the caller lacks: status %d, want 403", r.status)
	}
	reader := e.createKey("acme", "reader", "read")
	if r := e.patch("/orgs/acme/api_keys/"+reader.ID, manager.Key, `{"credits":{"remaining":5}}`); r.status != http.StatusOK {
		t.Errorf("setting the credits of a key within the caller's permissions: status %d, want 200: %s", r.status, r.body)
	}
}

// Credits: spent by each VALID verification, refused at zero, refilled at
// the period's start, set and removed by PATCH, shown by get and list.
func TestCredits(t *testing.T) {
	clock := newFakeClock(t0)
	e := newEnvAt(t, clock)
	k := e.createWith("metered", []string{"read"}, map[string]any{
		"credits": map[string]any{"remaining": 3, "refill": map[string]any{"amount": 5, "interval": "daily"}},
	})
	path := "/orgs/acme/api_keys/" + k.ID
	if l := e.limitsOf(path); l.Credits == nil || l.Credits.Remaining != 3 || l.Credits.Refill == nil || l.Credits.Refill.Amount != 5 ||
		l.Credits.Refill.Interval != "daily" || l.Credits.RefilledAt != "2031-03-04T10:00:00Z" {
		t.Fatalf("credits read back as %+v", l.Credits)
	}
	for want := int64(2); want >= 0; want-- {
		if v := e.verifyCost(k.Key, nil); v.Code != "VALID" || v.Credits == nil || v.Credits.Remaining != want {
			t.Fatalf("verify with %d to be left: %+v", want, v)
		}
	}
	for range 2 { // the second is answered from memory: still refused
		if v := e.verifyCost(k.Key, nil); v.Code != "USAGE_EXCEEDED" || v.Credits == nil || v.Credits.Remaining != 0 {
			t.Fatalf("verify at zero: %+v", v)
		}
	}
	// Permissions come first: a refused permission spends nothing.
	if v := e.verify(map[string]any{"key": k.Key, "permissions": []string{"write"}}); v.Code != "INSUFFICIENT_PERMISSIONS" {
		t.Errorf("a permission the key lacks: %+v", v)
	}
	r := e.req("GET", "/orgs/acme/api_keys", e.root, nil)
	var listed []limitsBody
	r.decode(t, &listed)
	if len(listed) != 1 || listed[0].Credits == nil || listed[0].Credits.Remaining != 0 {
		t.Errorf("list shows %+v", listed)
	}

	clock.Set(time.Date(2031, time.March, 5, 0, 0, 0, 0, time.UTC)) // the next day: refilled
	if l := e.limitsOf(path); l.Credits.Remaining != 5 || l.Credits.RefilledAt != "2031-03-05T00:00:00Z" {
		t.Errorf("on the next day, get shows %+v", l.Credits)
	}
	if v := e.verifyCost(k.Key, 2); v.Code != "VALID" || v.Credits.Remaining != 3 {
		t.Errorf("cost 2 after the refill: %+v", v)
	}
	if v := e.verifyCost(k.Key, 4); v.Code != "USAGE_EXCEEDED" || v.Credits.Remaining != 3 {
		t.Errorf("cost 4 with 3 left: %+v", v)
	}

	// An update that adds credits is seen at once, though the key was
	// remembered as short of them.
	want(t, e.patch(path, e.root, `{"credits":{"remaining":100,"refill":null}}`), http.StatusOK)
	if v := e.verifyCost(k.Key, 4); v.Code != "VALID" || v.Credits.Remaining != 96 {
		t.Errorf("after adding credits: %+v", v)
	}
	if l := e.limitsOf(path); l.Credits.Refill != nil || l.Credits.Remaining != 96 {
		t.Errorf("after removing the refill: %+v", l.Credits)
	}
	want(t, e.patch(path, e.root, `{"credits":{"refill":{"amount":7,"interval":"monthly"}}}`), http.StatusOK)
	if l := e.limitsOf(path); l.Credits.Refill == nil || l.Credits.Refill.Interval != "monthly" || l.Credits.Remaining != 96 {
		t.Errorf("after adding a refill: %+v", l.Credits)
	}
	want(t, e.patch(path, e.root, `{"credits":null}`), http.StatusOK)
	if v := e.verifyCost(k.Key, nil); v.Code != "VALID" || v.Credits != nil {
		t.Errorf("without credits: %+v", v)
	}
	r = e.req("GET", "/orgs/acme/audit_events?key_id="+k.ID+"&action=update", e.root, nil)
	if !strings.Contains(string(r.body), `"credits":{"from"`) {
		t.Errorf("audit log lacks the credits change: %s", r.body)
	}
	// A spend is use, not a change: the key's version moved only with the
	// three updates.
	if _, etag := e.getKey(path, e.root); etag != `"4"` {
		t.Errorf("ETag %s after three updates and many spends, want \"4\"", etag)
	}
}

// A rate limit refuses before credits are spent.
func TestRateLimitBeforeCredits(t *testing.T) {
	e := newEnvAt(t, newFakeClock(t0))
	k := e.createWith("both", []string{"read"}, map[string]any{
		"rate_limits": []map[string]any{{"name": "requests", "limit": 1, "duration": "60s"}},
		"credits":     map[string]any{"remaining": 10},
	})
	if v := e.verifyCost(k.Key, nil); v.Code != "VALID" || v.Credits.Remaining != 9 {
		t.Fatalf("first: %+v", v)
	}
	if v := e.verifyCost(k.Key, nil); v.Code != "RATE_LIMITED" || v.Credits != nil {
		t.Fatalf("second: %+v", v)
	}
	var l limitsBody
	r := e.req("GET", "/orgs/acme/api_keys/"+k.ID, e.root, nil)
	r.decode(t, &l)
	if l.Credits.Remaining != 9 {
		t.Errorf("a rate-limited verification spent credits: %d left", l.Credits.Remaining)
	}
	raw, _ := json.Marshal(l)
	if !strings.Contains(string(raw), `"requests"`) {
		t.Errorf("limits not shown: %s", raw)
	}
}

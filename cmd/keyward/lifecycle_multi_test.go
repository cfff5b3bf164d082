package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/pgtest"
)

// verifyAnswer is the part of a /verify answer these tests read.
type verifyAnswer struct {
	Code            string          `json:"code"`
	Metadata        json.RawMessage `json:"metadata"`
	ExpiresAt       *time.Time      `json:"expires_at"`
	SecretExpiresAt *time.Time      `json:"secret_expires_at"`
}

// verifyOn asks p to verify key with the given permissions.
func verifyOn(t *testing.T, p *proc, key string, perms ...string) verifyAnswer {
	t.Helper()
	ps, _ := json.Marshal(perms)
	if perms == nil {
		ps = []byte("[]")
	}
	status, body := call(t, "POST", p.url+"/verify", "", fmt.Sprintf(`{"key":%q,"permissions":%s}`, key, ps))
	if status != http.StatusOK {
		t.Fatalf("verify on %s: %d %s", p.url, status, body)
	}
	var v verifyAnswer
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// mustCall makes a request that must answer want, and returns its body.
func mustCall(t *testing.T, want int, method, url, key, body string) []byte {
	t.Helper()
	status, b := call(t, method, url, key, body)
	if status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, status, b, want)
	}
	return b
}

// converges verifies key on b until ok holds of the answer, and fails the
// test if any verification sent more than propagationTarget after acked
// (when instance A acknowledged the change) still saw the old answer. It
// returns how long the change took to reach b.
func converges(t *testing.T, b *proc, what string, acked time.Time, ok func(verifyAnswer) bool, key string, perms ...string) time.Duration {
	t.Helper()
	for {
		sent := time.Now()
		v := verifyOn(t, b, key, perms...)
		if ok(v) {
			return time.Since(acked)
		}
		if sent.Sub(acked) > propagationTarget {
			t.Fatalf("%s: B still answered %+v to a verification sent %v after A acknowledged the change", what, v, sent.Sub(acked))
		}
		time.Sleep(time.Millisecond)
	}
}

func code(want string) func(verifyAnswer) bool {
	return func(v verifyAnswer) bool { return v.Code == want }
}

// TestEveryChangeReachesTheOtherInstance: each kind of change made on
// instance A (update of permissions and metadata, disable, enable, expiry
// set and cleared, rotation with and without grace, rotation cutting a
// grace short, delete, restore) changes the answer of instance B, which
// has the key in its cache, within propagationTarget; and an expiry, and
// the end of a grace period, take effect on B on the exact second. On both backends: PostgreSQL, and
// two processes sharing one SQLite file.
func TestEveryChangeReachesTheOtherInstance(t *testing.T) {
	for _, backend := range []string{"postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			var a, b *proc
			// The test verifies refused keys again and again: no failure
			// throttle (its own test is elsewhere).
			noThrottle := []string{"--failure-burst", "0"}
			if backend == "postgres" {
				url := pgtest.URL(t)
				a = startProcessWith(t, true, append([]string{"--database-url", url}, noThrottle...)...)
				b = startProcessWith(t, false, append([]string{"--database-url", url}, noThrottle...)...)
			} else {
				db := filepath.Join(t.TempDir(), "shared.db")
				a = startProcessWith(t, true, append([]string{"--db", db}, noThrottle...)...)
				b = startProcessWith(t, false, append([]string{"--db", db}, noThrottle...)...)
			}
			everyChangeReachesB(t, a, b)
		})
	}
}

func everyChangeReachesB(t *testing.T, a, b *proc) {
	id, secret := createOn(t, a, a.root)
	keyURL := a.url + "/orgs/acme/api_keys/" + id
	var took, onTheSecond []string
	step := func(what string, d time.Duration) {
		took = append(took, fmt.Sprintf("%s %v", what, d.Round(100*time.Microsecond)))
	}

	// B caches the key.
	if v := verifyOn(t, b, secret, "write"); v.Code != "INSUFFICIENT_PERMISSIONS" {
		t.Fatalf("B before any change: %+v", v)
	}

	mustCall(t, 200, "PATCH", keyURL, a.root, `{"permissions":["read","manage","write"]}`)
	step("permissions", converges(t, b, "permissions granted on A", time.Now(), code("VALID"), secret, "write"))

	mustCall(t, 200, "PATCH", keyURL, a.root, `{"metadata":{"tier":"gold"}}`)
	step("metadata", converges(t, b, "metadata set on A", time.Now(), func(v verifyAnswer) bool {
		return string(v.Metadata) == `{"tier":"gold"}`
	}, secret))

	mustCall(t, 200, "POST", keyURL+"/disable", a.root, "")
	step("disable", converges(t, b, "disabled on A", time.Now(), code("DISABLED"), secret))

	mustCall(t, 200, "POST", keyURL+"/enable", a.root, "")
	step("enable", converges(t, b, "enabled on A", time.Now(), code("VALID"), secret))

	// An expiry set on A reaches B, and B applies it on its second: every
	// verification answered before it is VALID, every one sent from it on
	// is EXPIRED.
	end := time.Now().Add(1500 * time.Millisecond).UTC().Truncate(time.Millisecond)
	mustCall(t, 200, "PATCH", keyURL, a.root, fmt.Sprintf(`{"expires_at":%q}`, end.Format(time.RFC3339Nano)))
	step("expiry set", converges(t, b, "expiry set on A", time.Now(), func(v verifyAnswer) bool {
		return v.ExpiresAt != nil && v.ExpiresAt.Equal(end)
	}, secret))
	onTheSecond = append(onTheSecond, "expiry: "+changesOnTheSecond(t, b, "the key's expiry", end, "EXPIRED", secret))
	mustCall(t, 200, "PATCH", keyURL, a.root, `{"expires_at":null}`)
	step("expiry cleared", converges(t, b, "expiry cleared on A", time.Now(), code("VALID"), secret))

	// Rotation without grace: the old secret stops on B, the new one works.
	var rotated struct{ Key string }
	if err := json.Unmarshal(mustCall(t, 200, "POST", keyURL+"/rotate", a.root, ""), &rotated); err != nil || rotated.Key == "" {
		t.Fatalf("rotate: %v, %+v", err, rotated)
	}
	step("rotation", converges(t, b, "rotated on A without grace", time.Now(), code("NOT_FOUND"), secret))
	if v := verifyOn(t, b, rotated.Key); v.Code != "VALID" {
		t.Fatalf("the new secret on B: %+v", v)
	}
	// With a grace period, B accepts the old secret and says until when;
	// rotating again ends that grace on B too.
	old := rotated.Key
	if err := json.Unmarshal(mustCall(t, 200, "POST", keyURL+"/rotate", a.root, `{"grace_period":"1h"}`), &rotated); err != nil {
		t.Fatal(err)
	}
	step("rotation with grace", converges(t, b, "rotated on A with grace", time.Now(), func(v verifyAnswer) bool {
		return v.Code == "VALID" && v.SecretExpiresAt != nil
	}, old))
	mustCall(t, 200, "POST", keyURL+"/rotate", a.root, `{"grace_period":"1h"}`)
	step("grace cut short", converges(t, b, "rotated again on A", time.Now(), code("NOT_FOUND"), old))

	latest := struct{ Key string }{}
	if err := json.Unmarshal(mustCall(t, 200, "POST", keyURL+"/rotate", a.root, ""), &latest); err != nil {
		t.Fatal(err)
	}
	if v := verifyOn(t, b, latest.Key); v.Code != "VALID" {
		t.Fatalf("the newest secret on B: %+v", v)
	}

	// A grace period that runs out on its own, with no change to announce:
	// B, which has the old secret cached, applies its end on the second.
	// Every verification of the old secret answered before the end is
	// VALID, every one sent from the end on is NOT_FOUND.
	var graced struct {
		Key                     string
		PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	}
	if err := json.Unmarshal(mustCall(t, 200, "POST", keyURL+"/rotate", a.root, `{"grace_period":"2s"}`), &graced); err != nil ||
		graced.Key == "" || graced.PreviousSecretExpiresAt == nil {
		t.Fatalf("rotate with a grace of 2s: %v, %+v", err, graced)
	}
	graceEnd := *graced.PreviousSecretExpiresAt
	step("rotation with a 2s grace", converges(t, b, "rotated on A with a 2s grace", time.Now(), func(v verifyAnswer) bool {
		return v.Code == "VALID" && v.SecretExpiresAt != nil && v.SecretExpiresAt.Equal(graceEnd)
	}, latest.Key))
	onTheSecond = append(onTheSecond, "grace end: "+changesOnTheSecond(t, b, "the grace period's end", graceEnd, "NOT_FOUND", latest.Key))
	if v := verifyOn(t, b, graced.Key); v.Code != "VALID" || v.SecretExpiresAt != nil {
		t.Fatalf("the new secret on B after the grace: %+v", v)
	}

	mustCall(t, 200, "DELETE", keyURL, a.root, "")
	step("delete", converges(t, b, "deleted on A", time.Now(), code("NOT_FOUND"), graced.Key))
	mustCall(t, 200, "POST", keyURL+"/restore", a.root, "")
	step("restore", converges(t, b, "restored on A", time.Now(), code("VALID"), graced.Key))

	t.Logf("A→B, from A's acknowledgment to B's new answer: %v", took)
	t.Logf("on B, at a time set on A: %s", strings.Join(onTheSecond, "; "))
}

// changesOnTheSecond verifies key on b until a verification sent at or
// after end has been answered, and fails the test unless every answer
// received before end was VALID and the one sent from end on is after.
// By the times of sending and answering alone, with no threshold: a
// verification in flight across end may get either. It returns how many
// verifications were answered VALID, how long before end the last of
// them was answered, and how long after end the deciding one was sent.
func changesOnTheSecond(t *testing.T, b *proc, what string, end time.Time, after, key string) string {
	t.Helper()
	valid, lastValid := 0, time.Time{}
	for {
		sent := time.Now()
		v := verifyOn(t, b, key)
		answered := time.Now()
		if !sent.Before(end) {
			if v.Code != after {
				t.Fatalf("B answered %+v to a verification sent %v after %s, want %s", v, sent.Sub(end), what, after)
			}
			return fmt.Sprintf("%d VALID, the last answered %v before the end; %s to one sent %v after",
				valid, end.Sub(lastValid).Round(time.Microsecond), after, sent.Sub(end).Round(time.Microsecond))
		}
		if answered.Before(end) {
			if v.Code != "VALID" {
				t.Fatalf("B answered %+v %v before %s, want VALID", v, end.Sub(answered), what)
			}
			valid, lastValid = valid+1, answered
		}
		time.Sleep(time.Millisecond)
	}
}

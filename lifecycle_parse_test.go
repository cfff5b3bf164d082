package keyward_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

func TestParseMetadata(t *testing.T) {
	deep := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	secret := keyward.NewSecret().Reveal()
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"object compacted, members in order", "{ \"plan\" : \"pro\",\n \"n\": 1.50 }", `{"n":1.50,"plan":"pro"}`, true},
		{"escapes undone where JSON allows", `{"s":"\u00e9\u003c\/"}`, `{"s":"é</"}`, true},
		{"an escaped secret", `{"k":"kw\u005f` + secret[3:] + `"}`, "", false},
		{"a secret as a member name", `{"` + secret + `":1}`, "", false},
		{"empty object is none", `{}`, "", true},
		{"nested five levels", deep(5), deep(5), true},
		{"arrays count as levels", `{"a":[[[[1]]]]}`, `{"a":[[[[1]]]]}`, true},
		{"six levels", deep(6), "", false},
		{"arrays six levels", `{"a":[[[[[1]]]]]}`, "", false},
		{"array", `[1]`, "", false},
		{"string", `"x"`, "", false},
		{"null", `null`, "", false},
		{"invalid", `{"a":}`, "", false},
		{"duplicate member", `{"a":1,"a":2}`, "", false},
		{"duplicate nested", `{"b":{"a":1,"a":2}}`, "", false},
		{"same name in two objects", `{"a":{"a":1},"b":{"a":2}}`, `{"a":{"a":1},"b":{"a":2}}`, true},
		{"value equal to a name", `{"a":"a","b":"a"}`, `{"a":"a","b":"a"}`, true},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", "", false},
		{"a secret", `{"k":"` + secret + `"}`, "", false},
		{"too large", `{"a":"` + strings.Repeat("x", keyward.MaxMetadataSize) + `"}`, "", false},
		{"at the limit", `{"a":"` + strings.Repeat("x", keyward.MaxMetadataSize-8) + `"}`, `{"a":"` + strings.Repeat("x", keyward.MaxMetadataSize-8) + `"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keyward.ParseMetadata([]byte(tt.in))
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseMetadata = %q, %v; want %q, ok %v", got, err, tt.want, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("the error quotes the secret")
			}
		})
	}
}

func TestMergeMetadata(t *testing.T) {
	tests := []struct{ target, patch, want string }{
		// RFC 7396's appendix A examples that apply to objects.
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, ``},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{``, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`{"a":1}`, `null`, ``},
		{`{"n":12345678901234567890}`, `{}`, `{"n":12345678901234567890}`},
		{``, `{"h":"<&>"}`, `{"h":"<&>"}`},
	}
	for _, tt := range tests {
		got, err := keyward.MergeMetadata(tt.target, []byte(tt.patch))
		if err != nil || got != tt.want {
			t.Errorf("MergeMetadata(%s, %s) = %q, %v; want %q", tt.target, tt.patch, got, err, tt.want)
		}
	}
	for _, bad := range []string{`[1]`, `"x"`, `{"a":1,"a":2}`, `{`} {
		if _, err := keyward.MergeMetadata(`{"a":1}`, []byte(bad)); err == nil {
			t.Errorf("MergeMetadata with patch %s: no error", bad)
		}
	}
}

func TestParseGracePeriod(t *testing.T) {
	good := map[string]time.Duration{"0s": 0, "90s": 90 * time.Second, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "1d": 24 * time.Hour, "168h": 168 * time.Hour, "1h30m": 90 * time.Minute}
	for in, want := range good {
		if got, err := keyward.ParseGracePeriod(in); err != nil || got != want {
			t.Errorf("ParseGracePeriod(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "8d", "168h1s", "-1s", "d", "+1d", "1.5d", "90", "soon", "1e3s"} {
		if got, err := keyward.ParseGracePeriod(bad); err == nil {
			t.Errorf("ParseGracePeriod(%q) = %v, want an error", bad, got)
		}
	}
}

func TestParseIfMatch(t *testing.T) {
	k := &keyward.Key{Version: 3}
	if k.ETag() != `"3"` {
		t.Fatalf("ETag = %s", k.ETag())
	}
	deleted := &keyward.Key{Version: 3, DeletedAt: new(time.Time)}
	tests := []struct {
		in                string
		ok                bool // parses
		matches, matchDel bool // the condition holds for k, for deleted
	}{
		{`*`, true, true, false},
		{`"3"`, true, true, true},
		{` "1" , "3"`, true, true, true},
		{`"1", , "3",`, true, true, true}, // empty elements are skipped
		{`"1"`, true, false, false},
		{`W/"3"`, true, false, false}, // a weak tag never matches
		{`"x"`, true, false, false},   // well-formed, not ours: no match
		{`"0"`, true, false, false},
		{`""`, true, false, false},
		{`3`, false, false, false},
		{`"3`, false, false, false},
		{``, false, false, false},
		{`,`, false, false, false},
		{`"a b"`, false, false, false},
	}
	for _, tt := range tests {
		c, err := keyward.ParseIfMatch(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseIfMatch(%q): %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		if !tt.ok {
			if keyward.ErrorCode(err) != keyward.EINVALID {
				t.Errorf("ParseIfMatch(%q): %v, want EINVALID", tt.in, err)
			}
			continue
		}
		if got := c.Matches(k); got != tt.matches {
			t.Errorf("ParseIfMatch(%q) matches a live key at version 3: %v, want %v", tt.in, got, tt.matches)
		}
		if got := c.Matches(deleted); got != tt.matchDel {
			t.Errorf("ParseIfMatch(%q) matches a deleted key at version 3: %v, want %v", tt.in, got, tt.matchDel)
		}
	}
}

func TestKeyState(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Second)
	tests := []struct {
		k    keyward.Key
		want keyward.KeyState
	}{
		{keyward.Key{}, keyward.StateActive},
		{keyward.Key{ExpiresAt: &future}, keyward.StateActive},
		{keyward.Key{ExpiresAt: &now}, keyward.StateExpired},
		{keyward.Key{ExpiresAt: &past, Disabled: true}, keyward.StateDisabled},
		{keyward.Key{Disabled: true, DeletedAt: &past}, keyward.StateDeleted},
	}
	for _, tt := range tests {
		if got := tt.k.State(now); got != tt.want {
			t.Errorf("State(%+v) = %s, want %s", tt.k, got, tt.want)
		}
	}
}

// FuzzMetadata: whatever a client sends as metadata or as a merge patch of
// it, the answer is an error or metadata that is a valid JSON object
// within the limits, which parses again to itself.
func FuzzMetadata(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":{"c":[1,2]}}`), []byte(`{"a":null,"b":{"d":true}}`))
	f.Add([]byte(`{}`), []byte(`null`))
	f.Add([]byte(`{"a":{"b":{"c":{"d":1}}}}`), []byte(`{"a":{"b":{"c":{"d":{"e":1}}}}}`))
	f.Add([]byte(`{"x":"\u00e9\ud83d\ude00"}`), []byte(`{"x":1e400}`))
	f.Fuzz(func(t *testing.T, md, patch []byte) {
		check := func(what, got string) {
			if got == "" {
				return
			}
			if len(got) > keyward.MaxMetadataSize || got[0] != '{' || !json.Valid([]byte(got)) {
				t.Fatalf("%s gave %q", what, got)
			}
			again, err := keyward.ParseMetadata([]byte(got))
			if err != nil || again != got {
				t.Fatalf("%s gave %q, which parses to %q, %v", what, got, again, err)
			}
		}
		got, err := keyward.ParseMetadata(md)
		if err != nil {
			return
		}
		check("ParseMetadata", got)
		merged, err := keyward.MergeMetadata(got, patch)
		if err == nil {
			check("MergeMetadata", merged)
		}
	})
}

// A clone shares nothing a change could reach through it.
func TestKeyClone(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := &keyward.Key{Permissions: []keyward.Permission{keyward.PermRead}, LastUsedAt: &at, DeletedAt: &at, ExpiresAt: &at, Previous: &keyward.PreviousSecret{ExpiresAt: at},
		RateLimits: []keyward.RateLimit{{Name: "a", Limit: 1, Duration: time.Second}},
		Credits:    &keyward.Credits{Remaining: 5, Refill: &keyward.Refill{Amount: 5, Interval: keyward.RefillDaily}}}
	c := k.Clone()
	c.Permissions[0] = keyward.PermWrite
	*c.LastUsedAt, *c.DeletedAt, *c.ExpiresAt = at.Add(1), at.Add(2), at.Add(3)
	c.Previous.ExpiresAt = at.Add(4)
	c.RateLimits[0].Limit = 2
	c.Credits.Remaining, c.Credits.Refill.Amount = 6, 6
	if k.Permissions[0] != keyward.PermRead || !k.LastUsedAt.Equal(at) || !k.DeletedAt.Equal(at) || !k.ExpiresAt.Equal(at) || !k.Previous.ExpiresAt.Equal(at) || !at.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		k.RateLimits[0].Limit != 1 || k.Credits.Remaining != 5 || k.Credits.Refill.Amount != 5 {
		t.Errorf("changing the clone changed the key: %+v", k)
	}
}

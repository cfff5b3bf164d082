package keyward_test

import (
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
		{"object compacted", "{ \"plan\" : \"pro\",\n \"n\": 1.50 }", `{"plan":"pro","n":1.50}`, true},
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
	tests := []struct {
		in   string
		want []int64 // nil: no condition
		ok   bool
	}{
		{`*`, nil, true},
		{`"3"`, []int64{3}, true},
		{` "1" , "3"`, []int64{1, 3}, true},
		{`W/"3"`, []int64{}, true}, // a weak tag never matches
		{`3`, nil, false},
		{`"x"`, nil, false},
		{`"0"`, nil, false},
		{`""`, nil, false},
		{``, nil, false},
		{`"3`, nil, false},
	}
	for _, tt := range tests {
		c, err := keyward.ParseIfMatch(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseIfMatch(%q): %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		if !tt.ok {
			continue
		}
		if tt.want == nil && c != nil || tt.want != nil && (c == nil || len(c.Versions) != len(tt.want)) {
			t.Errorf("ParseIfMatch(%q) = %+v, want %v", tt.in, c, tt.want)
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

package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// TestNameRules: a name with a format character, a line or paragraph
// separator, or a secret in it is a 400 naming the field, on both creates,
// and the problem quotes neither the name nor the secret.
func TestNameRules(t *testing.T) {
	e := newEnv(t)
	secret := keyward.NewSecret().Reveal()
	names := []struct{ name, value, why string }{
		{"right-to-left override", "invoice\u202egpj.exe", "U+202E"},
		{"zero-width joiner", "ad\u200dmin", "U+200D"},
		{"byte order mark", "\ufeffbackend", "U+FEFF"},
		{"paragraph separator", "a\u2029b", "U+2029"},
		{"a secret", "old " + secret, "shaped like an API key"},
	}
	for _, n := range names {
		for _, c := range []struct {
			path, field string
			body        map[string]any
		}{
			{"/orgs/acme/api_keys", "name", map[string]any{"name": n.value, "permissions": []string{"read"}}},
			{"/api_keys", "key_name", map[string]any{"key_name": n.value, "key_scope": []string{"read"}, "organization_id": "acme"}},
		} {
			t.Run(n.name+" "+c.path, func(t *testing.T) {
				r := e.req("POST", c.path, e.root, c.body)
				want(t, r, http.StatusBadRequest)
				if reason := r.problem(t).fieldErr(c.field); !strings.Contains(reason, n.why) {
					t.Errorf("reason %q does not say %q", reason, n.why)
				}
				if strings.Contains(string(r.body), secret) || strings.Contains(string(r.body), strings.TrimSpace(n.value)) {
					t.Error("the problem quotes the name")
				}
			})
		}
	}
	r := e.req("GET", "/orgs/acme/api_keys", e.root, nil)
	if string(r.body) != "[]\n" {
		t.Errorf("a refused name was stored: %s", r.body)
	}
}

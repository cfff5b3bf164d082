package keyward_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/keyward/keyward"
)

func TestParseOrgID(t *testing.T) {
	valid := []struct {
		name string
		in   string
	}{
		{"word", "acme"},
		{"one character", "a"},
		{"64 characters", strings.Repeat("a", 64)},
		{"every kind of character", "a.b_c-D9"},
		{"digits", "0123"},
		{"punctuation only", "._-"},
		{"three dots", "..."},
		{"leading dot", ".acme"},
		{"leading dots", "..acme"},
		{"trailing dots", "acme.."},
	}
	for _, tt := range valid {
		t.Run("valid "+tt.name, func(t *testing.T) {
			got, err := keyward.ParseOrgID(tt.in)
			if err != nil {
				t.Fatalf("ParseOrgID(%q) = %v", tt.in, err)
			}
			if got != keyward.OrgID(tt.in) {
				t.Fatalf("ParseOrgID(%q) = %q", tt.in, got)
			}
		})
	}
	invalid := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"65 characters", strings.Repeat("a", 65)},
		{"space", "a b"},
		{"slash", "a/b"},
		{"non-ASCII letter", "ü"},
		{"percent-encoded slash", "a%2F"},
		{"leading space", " acme"},
		{"trailing newline", "acme\n"},
		{"NUL", "ac\x00me"},
		{"colon", "a:b"},
		{"question mark", "a?b"},
		{"invalid UTF-8", "a\xffb"},
		{"64 characters then one more", strings.Repeat("a", 64) + "ü"},
		{"dot", "."},
		{"dot dot", ".."},
	}
	for _, tt := range invalid {
		t.Run("invalid "+tt.name, func(t *testing.T) {
			got, err := keyward.ParseOrgID(tt.in)
			if err == nil {
				t.Fatalf("ParseOrgID(%q) = %q, want an error", tt.in, got)
			}
			if got != "" {
				t.Fatalf("ParseOrgID(%q) returned %q with its error", tt.in, got)
			}
		})
	}
}

// FuzzParseOrgID: every accepted id is a URL path segment as it stands:
// escaping leaves it alone, and a request to the route that carries it
// reaches the handler with the same id, not redirected or resolved to
// another path.
func FuzzParseOrgID(f *testing.F) {
	for _, s := range []string{
		"acme", "432", "a.b_c-D9", "._-", "...", ".a", "a.", "", ".", "..", "a/b", "a%2Fb", "%2e%2e",
		"a b", "a?b", "a#b", "a;b", "ü", "\u212a", strings.Repeat("a", 64), strings.Repeat("a", 65),
	} {
		f.Add(s)
	}
	const pattern = "GET /orgs/{org_id}/api_keys/{key_id}"
	var got string
	mux := http.NewServeMux()
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { got = r.PathValue("org_id") })
	f.Fuzz(func(t *testing.T, in string) {
		id, err := keyward.ParseOrgID(in)
		if err != nil {
			if id != "" {
				t.Fatalf("ParseOrgID(%q) returned %q with its error", in, id)
			}
			return
		}
		if string(id) != in || len(in) > keyward.MaxOrgIDLen {
			t.Fatalf("ParseOrgID(%q) = %q", in, id)
		}
		if esc := url.PathEscape(in); esc != in {
			t.Fatalf("url.PathEscape(%q) = %q: the id is not a path segment as it stands", in, esc)
		}
		got = ""
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", "/orgs/"+in+"/api_keys/key-1", nil))
		if w.Code != http.StatusOK || got != in {
			t.Fatalf("GET /orgs/%s/api_keys/key-1: status %d (Location %q), org_id %q: the id does not survive the URL path",
				in, w.Code, w.Header().Get("Location"), got)
		}
	})
}

func TestParseKeyID(t *testing.T) {
	valid := []struct {
		name string
		in   string
		want keyward.KeyID
	}{
		{"prefixed", "key-456", 456},
		{"bare", "456", 456},
		{"one", "1", 1},
		{"prefixed one", "key-1", 1},
		{"largest", "9007199254740991", keyward.MaxKeyID - 1},
		{"largest prefixed", "key-9007199254740991", keyward.MaxKeyID - 1},
		{"inner zero", "key-1000", 1000},
	}
	for _, tt := range valid {
		t.Run("valid "+tt.name, func(t *testing.T) {
			got, err := keyward.ParseKeyID(tt.in)
			if err != nil {
				t.Fatalf("ParseKeyID(%q) = %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseKeyID(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
	invalid := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"prefix only", "key-"},
		{"zero", "0"},
		{"prefixed zero", "key-0"},
		{"negative", "-1"},
		{"prefixed negative", "key--1"},
		{"leading zero", "0456"},
		{"prefixed leading zero", "key-0456"},
		{"exponent", "1e3"},
		{"letters", "key-abc"},
		{"2^53", "9007199254740992"},
		{"prefixed 2^53", "key-9007199254740992"},
		{"beyond int64", "99999999999999999999"},
		{"int64 max", "9223372036854775807"},
		{"leading space", " 456"},
		{"trailing space", "456 "},
		{"upper-case prefix", "KEY-456"},
		{"prefix twice", "key-key-456"},
		{"underscore", "1_000"},
		{"hex", "0x1c8"},
		{"decimal point", "456.0"},
		{"other prefix", "id-456"},
		{"trailing letters", "456abc"},
		{"full-width digits", "４５６"},
	}
	for _, tt := range invalid {
		t.Run("invalid "+tt.name, func(t *testing.T) {
			got, err := keyward.ParseKeyID(tt.in)
			if err == nil {
				t.Fatalf("ParseKeyID(%q) = %d, want an error", tt.in, got)
			}
			if got != 0 {
				t.Fatalf("ParseKeyID(%q) returned %d with its error", tt.in, got)
			}
		})
	}
}

// TestParseKeyIDCanonical exposes a bug: ParseKeyID rejects "0456" so that a
// key has one spelling, but strconv.ParseInt accepts a leading '+', so
// "+456", "key-+456" and even "+0456" are all accepted as key-456.
func TestParseKeyIDCanonical(t *testing.T) {
	for _, in := range []string{"+456", "key-+456", "+0456", "key-+0456", "+1"} {
		t.Run(in, func(t *testing.T) {
			if got, err := keyward.ParseKeyID(in); err == nil {
				t.Fatalf("ParseKeyID(%q) = %v, want an error: only %q and %q spell that id",
					in, got, got.String(), strings.TrimPrefix(got.String(), "key-"))
			}
		})
	}
}

func TestKeyIDString(t *testing.T) {
	tests := []struct {
		id   keyward.KeyID
		want string
	}{
		{1, "key-1"},
		{456, "key-456"},
		{1000, "key-1000"},
		{keyward.MaxKeyID - 1, "key-9007199254740991"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.id.String(); got != tt.want {
				t.Fatalf("KeyID(%d).String() = %q, want %q", int64(tt.id), got, tt.want)
			}
			back, err := keyward.ParseKeyID(tt.id.String())
			if err != nil || back != tt.id {
				t.Fatalf("ParseKeyID(%q) = %d, %v, want %d", tt.id.String(), back, err, tt.id)
			}
		})
	}
}

func TestMaxKeyID(t *testing.T) {
	// Key ids must survive a JavaScript number: below 2^53.
	if keyward.MaxKeyID != 1<<53 {
		t.Fatalf("MaxKeyID = %d, want 2^53", keyward.MaxKeyID)
	}
}

func TestNewKeyID(t *testing.T) {
	const n = 1000
	seen := make(map[keyward.KeyID]bool, n)
	var high bool
	for range n {
		id := keyward.NewKeyID()
		if id < 1 || id >= keyward.MaxKeyID {
			t.Fatalf("NewKeyID() = %d, outside [1, 2^53)", int64(id))
		}
		if seen[id] {
			t.Fatalf("NewKeyID() returned %d twice in %d draws", int64(id), n)
		}
		seen[id] = true
		if back, err := keyward.ParseKeyID(id.String()); err != nil || back != id {
			t.Fatalf("ParseKeyID(%q) = %d, %v", id.String(), back, err)
		}
		high = high || id >= keyward.MaxKeyID/2
	}
	// Half of all draws land in the upper half; none in 1000 is a
	// narrowed range, not bad luck.
	if !high {
		t.Fatalf("no id of %d drawn in [2^52, 2^53): the range is narrower than documented", n)
	}
}

func TestParsePermissions(t *testing.T) {
	valid := []struct {
		name string
		in   []string
		want []keyward.Permission
	}{
		{"one", []string{"read"}, []keyward.Permission{keyward.PermRead}},
		{"upper case", []string{"READ"}, []keyward.Permission{keyward.PermRead}},
		{"mixed case", []string{"MaNaGe"}, []keyward.Permission{keyward.PermManage}},
		{"surrounding space", []string{" write "}, []keyward.Permission{keyward.PermWrite}},
		{"dedupe keeps first appearance order", []string{"write", "READ", "read"},
			[]keyward.Permission{keyward.PermWrite, keyward.PermRead}},
		{"dedupe later duplicates", []string{"delete", "read", "DELETE", "read", "Read"},
			[]keyward.Permission{keyward.PermDelete, keyward.PermRead}},
		{"all six", []string{"read", "write", "create", "update", "delete", "manage"},
			[]keyward.Permission{keyward.PermRead, keyward.PermWrite, keyward.PermCreate,
				keyward.PermUpdate, keyward.PermDelete, keyward.PermManage}},
		{"all six reversed", []string{"manage", "delete", "update", "create", "write", "read"},
			[]keyward.Permission{keyward.PermManage, keyward.PermDelete, keyward.PermUpdate,
				keyward.PermCreate, keyward.PermWrite, keyward.PermRead}},
	}
	for _, tt := range valid {
		t.Run("valid "+tt.name, func(t *testing.T) {
			got, err := keyward.ParsePermissions(tt.in)
			if err != nil {
				t.Fatalf("ParsePermissions(%q) = %v", tt.in, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ParsePermissions(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	invalid := []struct {
		name string
		in   []string
	}{
		{"nil", nil},
		{"empty", []string{}},
		{"empty name", []string{""}},
		{"unknown", []string{"admin"}},
		{"unknown after valid", []string{"read", "admin"}},
		{"plural", []string{"reads"}},
		{"prefix of a name", []string{"rea"}},
		{"wildcard", []string{"*"}},
		{"comma-joined", []string{"read,write"}},
		{"inner space", []string{"re ad"}},
		{"long unknown", []string{strings.Repeat("x", 1000)}},
		{"dotted capital I", []string{"WR\u0130TE"}},
		{"dotless small i", []string{"wr\u0131te"}},
		{"Kelvin sign", []string{"\u212aey"}},
		{"fullwidth letters", []string{"\uff52\uff45\uff41\uff44"}},
		{"no-break space around", []string{"\u00a0read\u00a0"}},
		{"ideographic space around", []string{"\u3000read"}},
		{"line separator around", []string{"read\u2028"}},
	}
	for _, tt := range invalid {
		t.Run("invalid "+tt.name, func(t *testing.T) {
			got, err := keyward.ParsePermissions(tt.in)
			if err == nil {
				t.Fatalf("ParsePermissions(%q) = %q, want an error", tt.in, got)
			}
			if got != nil {
				t.Fatalf("ParsePermissions(%q) returned %q with its error", tt.in, got)
			}
			// The message must tell the client what it may send.
			for _, p := range keyward.AllPermissions {
				if !strings.Contains(err.Error(), string(p)) {
					t.Errorf("error %q does not name the allowed value %q", err, p)
				}
			}
			if len(err.Error()) > 200 {
				t.Errorf("error message is %d bytes long; the bad value should be cut short: %q", len(err.Error()), err)
			}
		})
	}
	t.Run("unknown value is named", func(t *testing.T) {
		_, err := keyward.ParsePermissions([]string{"read", "admin"})
		if err == nil || !strings.Contains(err.Error(), `"admin"`) {
			t.Fatalf("error %v does not name the unknown value", err)
		}
	})
}

func TestAllPermissions(t *testing.T) {
	want := []keyward.Permission{"read", "write", "create", "update", "delete", "manage"}
	if !slices.Equal(keyward.AllPermissions, want) {
		t.Fatalf("AllPermissions = %q, want %q", keyward.AllPermissions, want)
	}
	for _, p := range keyward.AllPermissions {
		if !p.Valid() {
			t.Errorf("%q.Valid() = false", p)
		}
	}
	for _, p := range []keyward.Permission{"", "READ", "admin", "read "} {
		if p.Valid() {
			t.Errorf("%q.Valid() = true", p)
		}
	}
}

func TestParseName(t *testing.T) {
	valid := []struct {
		name string
		in   string
		want string
	}{
		{"plain", "CI deploy key", "CI deploy key"},
		{"trimmed", "  prod\t\n", "prod"},
		{"one character", "x", "x"},
		{"200 ASCII", strings.Repeat("a", 200), strings.Repeat("a", 200)},
		{"200 two-byte runes", strings.Repeat("é", 200), strings.Repeat("é", 200)},
		{"200 four-byte runes", strings.Repeat("🔑", 200), strings.Repeat("🔑", 200)},
		{"200 after trimming", "  " + strings.Repeat("a", 200) + "  ", strings.Repeat("a", 200)},
		{"inner tab-free spaces", "a  b", "a  b"},
		{"non-Latin", "ключ API", "ключ API"},
		{"combining accent", "cafe\u0301", "cafe\u0301"},
		{"emoji with variation selector", "\u2764\ufe0f key", "\u2764\ufe0f key"},
		{"right-to-left script", "\u05de\u05e4\u05ea\u05d7", "\u05de\u05e4\u05ea\u05d7"},
		{"no-break space inside", "a\u00a0b", "a\u00a0b"},
		{"secret prefix alone", "kw_ rotation", "kw_ rotation"},
		{"secret shape, one character short", "kw_" + strings.Repeat("a", 48), "kw_" + strings.Repeat("a", 48)},
		{"secret shape, one character long", "kw_" + strings.Repeat("a", 50), "kw_" + strings.Repeat("a", 50)},
		{"secret shape inside a word", "x" + "kw_" + strings.Repeat("a", 49), "x" + "kw_" + strings.Repeat("a", 49)},
		{"secret shape, upper-case prefix", "KW_" + strings.Repeat("a", 49), "KW_" + strings.Repeat("a", 49)},
	}
	for _, tt := range valid {
		t.Run("valid "+tt.name, func(t *testing.T) {
			got, err := keyward.ParseName(tt.in)
			if err != nil {
				t.Fatalf("ParseName(%q) = %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	invalid := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"spaces", "   "},
		{"whitespace", " \t\n\r\v\f"},
		{"201 ASCII", strings.Repeat("a", 201)},
		{"201 two-byte runes", strings.Repeat("é", 201)},
		{"newline inside", "a\nb"},
		{"carriage return inside", "a\rb"},
		{"tab inside", "a\tb"},
		{"NUL", "a\x00b"},
		{"NUL only", "\x00"},
		{"DEL", "a\x7fb"},
		{"escape", "a\x1b[31mb"},
		{"C1 control", "a\u0085b"},
		{"invalid UTF-8", "a\xffb"},
		{"truncated rune", "a\xc3"},
		{"overlong encoding", "a\xc0\xafb"},
		{"surrogate half", "a\xed\xa0\x80b"},
	}
	for _, tt := range invalid {
		t.Run("invalid "+tt.name, func(t *testing.T) {
			got, err := keyward.ParseName(tt.in)
			if err == nil {
				t.Fatalf("ParseName(%q) = %q, want an error", tt.in, got)
			}
			if got != "" {
				t.Fatalf("ParseName(%q) returned %q with its error", tt.in, got)
			}
		})
	}
	secret := keyward.NewSecret().Reveal()
	refused := []struct {
		name string
		in   string
		why  string // a substring of the error
	}{
		{"bell", "a\u0007b", "control characters (found U+0007)"},
		{"left-to-right embedding", "a\u202ab", "format characters"},
		{"right-to-left embedding", "a\u202bb", "format characters"},
		{"pop directional formatting", "a\u202cb", "format characters"},
		{"left-to-right override", "a\u202db", "format characters"},
		{"right-to-left override", "invoice\u202egpj.exe", "format characters, such as bidirectional controls, zero-width characters or soft hyphens (found U+202E)"},
		{"left-to-right isolate", "a\u2066b", "format characters"},
		{"right-to-left isolate", "a\u2067b", "format characters"},
		{"first strong isolate", "a\u2068b", "format characters"},
		{"pop directional isolate", "a\u2069b", "format characters"},
		{"left-to-right mark", "a\u200eb", "format characters"},
		{"right-to-left mark", "a\u200fb", "format characters"},
		{"Arabic letter mark", "a\u061cb", "format characters"},
		{"zero-width space", "a\u200bb", "format characters, such as bidirectional controls, zero-width characters or soft hyphens (found U+200B)"},
		{"zero-width non-joiner", "a\u200cb", "format characters"},
		{"zero-width joiner", "a\u200db", "format characters"},
		{"word joiner", "a\u2060b", "format characters"},
		{"byte order mark, leading", "\ufeffname", "format characters, such as bidirectional controls, zero-width characters or soft hyphens (found U+FEFF)"},
		{"byte order mark, trailing", "name\ufeff", "format characters"},
		{"soft hyphen", "pass\u00adword", "format characters, such as bidirectional controls, zero-width characters or soft hyphens (found U+00AD)"},
		{"interlinear annotation", "a\ufff9b", "format characters"},
		{"tag character", "a\U000e0041b", "format characters"},
		{"line separator", "a\u2028b", "line or paragraph separators (found U+2028)"},
		{"paragraph separator", "a\u2029b", "line or paragraph separators (found U+2029)"},
		{"a secret", secret, "shaped like an API key"},
		{"a secret in prose", "deploy key " + secret + " (old)", "shaped like an API key"},
		{"a secret after punctuation", "key:" + secret + ";", "shaped like an API key"},
		{"a secret after a non-ASCII letter", "\u00e9" + secret, "shaped like an API key"},
		{"a made-up secret", "kw_" + strings.Repeat("a", 49), "shaped like an API key"},
	}
	for _, tt := range refused {
		t.Run("refused "+tt.name, func(t *testing.T) {
			got, err := keyward.ParseName(tt.in)
			if err == nil || got != "" {
				t.Fatalf("ParseName(%q) = %q, %v, want an error", tt.in, got, err)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("ParseName(%q): %q does not say %q", tt.in, err, tt.why)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
				t.Fatalf("ParseName(%q): the error %q quotes the name", tt.in, err)
			}
		})
	}
}

// TestParsePermissionsQuotesNoSecret: an unknown permission is quoted
// back only when it is short and cannot be part of a secret, since a
// client that misplaces a key could send it as a permission.
func TestParsePermissionsQuotesNoSecret(t *testing.T) {
	secret := keyward.NewSecret().Reveal()
	for _, tt := range []struct {
		name  string
		in    string
		quote bool
	}{
		{"a typo", "raed", true},
		{"16 bytes", strings.Repeat("x", 16), true},
		{"17 bytes", strings.Repeat("x", 17), false},
		{"a secret", secret, false},
		{"a secret's start", secret[:10], false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := keyward.ParsePermissions([]string{"read", tt.in})
			if err == nil {
				t.Fatalf("ParsePermissions accepted %q", tt.in)
			}
			if quoted := strings.Contains(err.Error(), strconv.Quote(tt.in)); quoted != tt.quote {
				t.Fatalf("ParsePermissions(%q): %q quotes it: %v, want %v", tt.in, err, quoted, tt.quote)
			}
			if strings.Contains(err.Error(), "kw_") || !strings.Contains(err.Error(), "allowed: read") {
				t.Fatalf("ParsePermissions(%q): %q", tt.in, err)
			}
		})
	}
}

func TestKeyHas(t *testing.T) {
	root := &keyward.Key{ID: 1, Root: true}
	reader := &keyward.Key{ID: 2, OrgID: "acme", Permissions: []keyward.Permission{keyward.PermRead}}
	manager := &keyward.Key{ID: 3, OrgID: "acme", Permissions: []keyward.Permission{keyward.PermWrite, keyward.PermManage}}
	none := &keyward.Key{ID: 4, OrgID: "acme"}
	tests := []struct {
		name string
		key  *keyward.Key
		want []keyward.Permission // every other permission must be refused
	}{
		{"root holds all", root, keyward.AllPermissions},
		{"reader", reader, []keyward.Permission{keyward.PermRead}},
		{"manager", manager, []keyward.Permission{keyward.PermWrite, keyward.PermManage}},
		{"no permissions", none, nil},
	}
	for _, tt := range tests {
		for _, p := range keyward.AllPermissions {
			want := slices.Contains(tt.want, p)
			t.Run(tt.name+" "+string(p), func(t *testing.T) {
				if got := tt.key.Has(p); got != want {
					t.Fatalf("Has(%q) = %v, want %v", p, got, want)
				}
			})
		}
	}
	t.Run("unknown permission", func(t *testing.T) {
		if reader.Has("admin") || reader.Has("READ") {
			t.Fatal("a non-root key holds a permission it was not given")
		}
	})
}

func FuzzParseKeyID(f *testing.F) {
	for _, s := range []string{
		"key-456", "456", "1", "key-1", "9007199254740991", "9007199254740992",
		"", "key-", "0", "key-0", "-1", "0456", "1e3", "key-abc",
		"99999999999999999999", " 456", "KEY-456", "key-key-1", "+1", "1_0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		id, err := keyward.ParseKeyID(in)
		if err != nil {
			if id != 0 {
				t.Fatalf("ParseKeyID(%q) returned %d with its error", in, id)
			}
			return
		}
		if id < 1 || id >= keyward.MaxKeyID {
			t.Fatalf("ParseKeyID(%q) = %d, outside [1, 2^53)", in, int64(id))
		}
		s := id.String()
		if !strings.HasPrefix(s, "key-") {
			t.Fatalf("KeyID(%d).String() = %q lacks the key- prefix", int64(id), s)
		}
		again, err := keyward.ParseKeyID(s)
		if err != nil || again != id {
			t.Fatalf("ParseKeyID(%q) = %d, %v, want %d", s, again, err, id)
		}
		if n, err := strconv.ParseInt(strings.TrimPrefix(in, "key-"), 10, 64); err != nil || n != int64(id) {
			t.Fatalf("ParseKeyID(%q) = %d, but its digits say %d (%v)", in, id, n, err)
		}
	})
}

func FuzzParsePermissions(f *testing.F) {
	for _, s := range []string{
		"read", "READ,write", "write,READ,read", "", "admin", "read,,write", " manage ", "read,admin",
		"WR\u0130TE", "\u00a0read", "read\u2028", "\t\vdelete\f\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		in := strings.Split(joined, ",")
		got, err := keyward.ParsePermissions(in)
		if err != nil {
			if got != nil {
				t.Fatalf("ParsePermissions(%q) returned %q with its error", in, got)
			}
			return
		}
		if len(got) == 0 || len(got) > len(in) || len(got) > len(keyward.AllPermissions) {
			t.Fatalf("ParsePermissions(%q) = %q: wrong length", in, got)
		}
		seen := map[keyward.Permission]bool{}
		for _, p := range got {
			if !p.Valid() {
				t.Fatalf("ParsePermissions(%q) returned invalid %q", in, p)
			}
			if seen[p] {
				t.Fatalf("ParsePermissions(%q) = %q has a duplicate", in, got)
			}
			seen[p] = true
		}
		// Every input is one of the result, spelled in ASCII, and the
		// result follows the order of first appearance.
		var order []keyward.Permission
		for _, s := range in {
			for i := 0; i < len(s); i++ {
				if s[i] >= utf8.RuneSelf {
					t.Fatalf("ParsePermissions(%q) accepted %q, which is not ASCII", in, s)
				}
			}
			p := keyward.Permission(strings.ToLower(strings.TrimSpace(s)))
			if !seen[p] {
				t.Fatalf("ParsePermissions(%q) accepted %q but returned %q", in, s, got)
			}
			if !slices.Contains(order, p) {
				order = append(order, p)
			}
		}
		if !slices.Equal(order, got) {
			t.Fatalf("ParsePermissions(%q) = %q, want %q", in, got, order)
		}
	})
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{
		"CI key", "  x  ", "", "a\nb", "\x00", strings.Repeat("é", 201), "a\xffb",
		"invoice\u202egpj.exe", "a\u200bb", "\ufeffname", "a\u2028b", "pass\u00adword", "a\U000e0041b",
		"kw_" + strings.Repeat("a", 49), "x kw_" + strings.Repeat("Z", 49) + " y", "kw_" + strings.Repeat("a", 50),
		"\u2764\ufe0f", "cafe\u0301",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := keyward.ParseName(in)
		if err != nil {
			return
		}
		if got == "" || got != strings.TrimSpace(got) || !strings.Contains(in, got) {
			t.Fatalf("ParseName(%q) = %q: not the trimmed input", in, got)
		}
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > keyward.MaxNameLen {
			t.Fatalf("ParseName(%q) = %q: invalid or too long", in, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("ParseName(%q) = %q contains control character %U", in, got, r)
			}
			if unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
				t.Fatalf("ParseName(%q) = %q contains %U, a format character or a separator", in, got, r)
			}
		}
		if loc := scannerRE.FindStringIndex(got); loc != nil {
			t.Fatalf("ParseName(%q) = %q holds what a secret scanner reports as a key, at %v", in, got, loc)
		}
	})
}

// scannerRE is what a secret scanner looks for in text.
var scannerRE = regexp.MustCompile(`\b` + keyward.SecretPattern + `\b`)

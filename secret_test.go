package keyward_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// base62 is the alphabet of a secret's body and checksum, in digit order.
const base62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// secretRE is SecretPattern anchored, as a scanner looking at one token would.
var secretRE = regexp.MustCompile(`^` + keyward.SecretPattern + `$`)

// checkLen is the length of a secret's checksum: base62 of a CRC32.
const checkLen = 6

// checksum computes, independently of the package, the checksum that follows
// prefixAndBody in a secret: the CRC32 (IEEE) of everything before it, in six
// base62 digits, most significant first.
func checksum(t testing.TB, prefixAndBody string) string {
	t.Helper()
	sum := crc32.ChecksumIEEE([]byte(prefixAndBody))
	var b [checkLen]byte
	for i := checkLen - 1; i >= 0; i-- {
		b[i] = base62[sum%62]
		sum /= 62
	}
	return string(b[:])
}

// newSecret returns a fresh secret, checked to parse, and its text.
func newSecret(t testing.TB) (keyward.Secret, string) {
	t.Helper()
	s := keyward.NewSecret()
	raw := s.Reveal()
	if _, err := keyward.ParseSecret(raw); err != nil {
		t.Fatalf("ParseSecret(NewSecret()) = %v", err)
	}
	return s, raw
}

// assertNoSecret fails if out shows the secret raw in any usual encoding,
// or the part of it the hint never shows.
func assertNoSecret(t *testing.T, out string, s keyward.Secret) {
	t.Helper()
	raw := s.Reveal()
	hidden := raw[len(keyward.SecretPrefix)+4 : len(raw)-4] // what Hint never shows
	for _, leak := range []string{
		raw,
		raw[len(keyward.SecretPrefix):],
		hidden,
		hex.EncodeToString([]byte(raw)),
		strings.ToUpper(hex.EncodeToString([]byte(raw))),
		hex.EncodeToString([]byte(hidden)),
		base64.StdEncoding.EncodeToString([]byte(raw)),
	} {
		if strings.Contains(out, leak) {
			t.Fatalf("output leaks the secret (%q found):\n%s", leak, out)
		}
	}
}

// assertNoHash fails if out shows the hash h in any usual encoding.
func assertNoHash(t *testing.T, out string, h keyward.SecretHash) {
	t.Helper()
	decimal := make([]string, len(h))
	for i, b := range h {
		decimal[i] = fmt.Sprint(b)
	}
	for _, leak := range []string{
		hex.EncodeToString(h[:]),
		strings.ToUpper(hex.EncodeToString(h[:])),
		base64.StdEncoding.EncodeToString(h[:]),
		base64.RawURLEncoding.EncodeToString(h[:]),
		strings.Join(decimal, ","),                                // encoding/json of a [32]byte
		strings.Join(decimal, " "),                                // fmt %v / %d of a [32]byte
		fmt.Sprintf("%#x, %#x, %#x, %#x", h[0], h[1], h[2], h[3]), // fmt %#v
	} {
		if strings.Contains(out, leak) {
			t.Fatalf("output leaks the secret hash (%q found):\n%s", leak, out)
		}
	}
}

func TestNewSecret(t *testing.T) {
	const n = 1000
	seen := make(map[string]bool, n)
	for range n {
		s := keyward.NewSecret()
		raw := s.Reveal()
		if len(raw) != keyward.SecretLen {
			t.Fatalf("len(%q) = %d, want SecretLen = %d", raw, len(raw), keyward.SecretLen)
		}
		if !strings.HasPrefix(raw, "kw_") {
			t.Fatalf("%q does not start with kw_", raw)
		}
		if !secretRE.MatchString(raw) {
			t.Fatalf("%q does not match %s", raw, secretRE)
		}
		got, err := keyward.ParseSecret(raw)
		if err != nil {
			t.Fatalf("ParseSecret(%q) = %v", raw, err)
		}
		if got.Reveal() != s.Reveal() {
			t.Fatalf("ParseSecret(%q) = a different secret", raw)
		}
		if want := checksum(t, raw[:len(raw)-checkLen]); raw[len(raw)-checkLen:] != want {
			t.Fatalf("checksum of %q is %q, want %q", raw, raw[len(raw)-checkLen:], want)
		}
		if seen[raw] {
			t.Fatalf("NewSecret returned %q twice", raw)
		}
		seen[raw] = true
	}
}

func TestSecretLen(t *testing.T) {
	// 3 for "kw_", 43 base62 digits for 32 random bytes, 6 for a CRC32.
	if keyward.SecretLen != 52 {
		t.Errorf("SecretLen = %d, want 52", keyward.SecretLen)
	}
	if keyward.SecretPrefix != "kw_" {
		t.Errorf("SecretPrefix = %q, want kw_", keyward.SecretPrefix)
	}
}

func TestSecretHint(t *testing.T) {
	s, raw := newSecret(t)
	hint := s.Hint()
	want := "kw_" + raw[3:7] + "..." + raw[len(raw)-4:]
	if hint != want {
		t.Fatalf("Hint() = %q, want %q", hint, want)
	}
	if len(hint) != len("kw_")+4+len("...")+4 {
		t.Errorf("len(Hint()) = %d, want 14", len(hint))
	}
	if strings.Contains(hint, raw) || strings.Contains(hint, raw[7:len(raw)-4]) {
		t.Errorf("Hint() = %q shows the secret %q", hint, raw)
	}
	if got := (keyward.Secret{}).Hint(); got != "" {
		t.Errorf("Hint() of a malformed secret = %q, want empty", got)
	}
}

func TestSecretHash(t *testing.T) {
	s, raw := newSecret(t)
	want := keyward.SecretHash(sha256.Sum256([]byte(raw)))
	if got := s.Hash(); got != want {
		t.Fatalf("Hash() = %x, want SHA-256 of the secret %x", got[:], want[:])
	}
	if first, again := s.Hash(), s.Hash(); first != again {
		t.Fatal("Hash() is not deterministic")
	}
	other, _ := newSecret(t)
	if s.Hash() == other.Hash() {
		t.Fatal("two secrets have the same hash")
	}
}

func TestSecretHashEqual(t *testing.T) {
	s, _ := newSecret(t)
	h := s.Hash()
	for i := range h {
		t.Run(fmt.Sprintf("byte %d differs", i), func(t *testing.T) {
			o := h
			o[i] ^= 0x01
			if h.Equal(o) || o.Equal(h) {
				t.Fatalf("hashes differing in byte %d compare equal", i)
			}
		})
	}
	t.Run("same", func(t *testing.T) {
		o := h
		if !h.Equal(o) || !h.Equal(s.Hash()) {
			t.Fatal("a hash is not Equal to itself")
		}
	})
	t.Run("zero", func(t *testing.T) {
		var zero keyward.SecretHash
		if !zero.Equal(keyward.SecretHash{}) {
			t.Fatal("zero hash is not Equal to zero hash")
		}
		if zero.Equal(h) {
			t.Fatal("zero hash is Equal to a real hash")
		}
	})
}

func TestSecretHashRedacted(t *testing.T) {
	s, _ := newSecret(t)
	h := s.Hash()
	tests := []struct {
		name string
		out  func() string
	}{
		{"String", h.String},
		{"LogValue", func() string { return h.LogValue().String() }},
		{"LogValue resolved", func() string { return h.LogValue().Resolve().String() }},
		{"fmt %v", func() string { return fmt.Sprintf("%v", h) }},
		{"fmt %s", func() string { return fmt.Sprintf("%s", h) }},
		{"fmt %x", func() string { return fmt.Sprintf("%x", h) }},
		{"fmt %+v of struct", func() string { return fmt.Sprintf("%+v", struct{ Hash keyward.SecretHash }{h}) }},
		{"slog text attr", func() string {
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", "hash", h)
			return buf.String()
		}},
		{"slog JSON attr", func() string {
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("msg", "hash", h)
			return buf.String()
		}},
		{"slog text Key", func() string {
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", "key", &keyward.Key{ID: 1, Hash: h})
			return buf.String()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertNoHash(t, tt.out(), h)
		})
	}
}

// TestSecretHashRedactedFromEncoders exposes a leak: SecretHash redacts
// itself only through String and LogValue. As a [32]byte it is written out
// whole by encoding/json (as an array of numbers) and by fmt's %#v and %d,
// so slog's JSON handler, which the service uses, logs the hash of any *Key
// it is given.
func TestSecretHashRedactedFromEncoders(t *testing.T) {
	s, _ := newSecret(t)
	h := s.Hash()
	key := &keyward.Key{ID: 1, OrgID: "acme", Hash: h, Hint: s.Hint()}
	tests := []struct {
		name string
		out  func() string
	}{
		{"json.Marshal hash", func() string { return mustJSON(t, h) }},
		{"json.Marshal Key", func() string { return mustJSON(t, key) }},
		{"slog JSON Key", func() string {
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("msg", "key", key)
			return buf.String()
		}},
		{"fmt %#v hash", func() string { return fmt.Sprintf("%#v", h) }},
		{"fmt %#v Key", func() string { return fmt.Sprintf("%#v", key) }},
		{"fmt %d hash", func() string { return fmt.Sprintf("%d", h) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertNoHash(t, tt.out(), h)
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	return string(b)
}

func TestParseSecretValid(t *testing.T) {
	body := strings.Repeat("0", 43)
	handMade := "kw_" + body
	handMade += checksum(t, handMade)
	maxBody := "kw_" + strings.Repeat("Z", 43)
	maxBody += checksum(t, maxBody)
	_, real := newSecret(t)
	tests := []struct {
		name string
		in   string
	}{
		{"new secret", real},
		{"all-zero body", handMade},
		{"all-Z body", maxBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keyward.ParseSecret(tt.in)
			if err != nil {
				t.Fatalf("ParseSecret(%q) = %v", tt.in, err)
			}
			if got.Reveal() != tt.in {
				t.Fatalf("ParseSecret(%q).Reveal() = %q", tt.in, got.Reveal())
			}
		})
	}
}

func TestParseSecretInvalid(t *testing.T) {
	_, real := newSecret(t)
	n := len(real) - checkLen
	wrongCheck := []byte(checksum(t, real[:n]))
	wrongCheck[checkLen-1] = base62[(strings.IndexByte(base62, wrongCheck[checkLen-1])+1)%62]
	zeroBody := "kw_" + strings.Repeat("0", 43)
	zeroCheck := []byte(checksum(t, zeroBody))
	zeroCheck[0] = base62[(strings.IndexByte(base62, zeroCheck[0])+1)%62]
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"prefix only", "kw_"},
		{"no prefix", real[3:]},
		{"upper-case prefix", "KW_" + real[3:]},
		{"dash prefix", "kw-" + real[3:]},
		{"other prefix", "gh_" + real[3:]},
		{"prefix at the end", real[3:] + "kw_"},
		{"one shorter", real[:len(real)-1]},
		{"one shorter at the front", "kw_" + real[4:]},
		{"one longer", real + "0"},
		{"one longer inside", real[:10] + "0" + real[10:]},
		{"twice", real + real},
		{"leading space", " " + real[:len(real)-1]},
		{"trailing newline", real[:len(real)-1] + "\n"},
		{"trailing newline added", real + "\n"},
		{"underscore in body", real[:10] + "_" + real[11:]},
		{"dash in body", real[:10] + "-" + real[11:]},
		{"plus in body", real[:10] + "+" + real[11:]},
		{"slash in body", real[:10] + "/" + real[11:]},
		{"equals in checksum", real[:len(real)-1] + "="},
		{"NUL in body", real[:10] + "\x00" + real[11:]},
		{"0xff in body", real[:10] + "\xff" + real[11:]},
		{"é in body", real[:10] + "é" + real[12:]},
		{"valid shape, wrong checksum", real[:n] + string(wrongCheck)},
		{"zero body, wrong checksum", zeroBody + string(zeroCheck)},
		{"checksum of another secret", real[:n] + checksum(t, "kw_"+strings.Repeat("1", 43))},
		{"all zeros", "kw_" + strings.Repeat("0", 49)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in == real {
				t.Fatalf("test case equals the real secret")
			}
			assertRejected(t, tt.in)
		})
	}
}

func assertRejected(t *testing.T, in string) {
	t.Helper()
	got, err := keyward.ParseSecret(in)
	if err == nil {
		t.Fatalf("ParseSecret(%q) accepted it", in)
	}
	if !errors.Is(err, keyward.ErrMalformedSecret) {
		t.Fatalf("ParseSecret(%q) = %v, want ErrMalformedSecret", in, err)
	}
	if got.Reveal() != "" {
		t.Fatalf("ParseSecret(%q) returned %q with its error", in, got.Reveal())
	}
}

// TestParseSecretSingleCharChange changes each character of a real secret to
// every other character of its alphabet: the prefix check or the CRC32 (which
// detects every error confined to 32 consecutive bits) must refuse each one.
func TestParseSecretSingleCharChange(t *testing.T) {
	_, real := newSecret(t)
	for i := range len(real) {
		t.Run(fmt.Sprintf("position %d", i), func(t *testing.T) {
			for _, c := range []byte(base62 + "_") {
				if c == real[i] {
					continue
				}
				b := []byte(real)
				b[i] = c
				assertRejected(t, string(b))
			}
		})
	}
}

func TestParseSecretAdjacentSwap(t *testing.T) {
	_, real := newSecret(t)
	for i := len(keyward.SecretPrefix); i < len(real)-1; i++ {
		if real[i] == real[i+1] {
			continue
		}
		b := []byte(real)
		b[i], b[i+1] = b[i+1], b[i]
		t.Run(fmt.Sprintf("positions %d and %d", i, i+1), func(t *testing.T) {
			assertRejected(t, string(b))
		})
	}
}

func TestSecretRedactedFromFmt(t *testing.T) {
	s, _ := newSecret(t)
	type holder struct {
		Name   string
		Secret keyward.Secret
	}
	values := []struct {
		name string
		v    any
	}{
		{"Secret", s},
		{"*Secret", &s},
		{"struct", holder{"n", s}},
		{"*struct", &holder{"n", s}},
		{"slice", []keyward.Secret{s}},
		{"map value", map[string]keyward.Secret{"k": s}},
		{"any in struct", struct{ V any }{s}},
		{"nested struct", struct{ H holder }{holder{"n", s}}},
	}
	verbs := []string{"%s", "%v", "%q", "%x", "%X", "%#v", "%+v", "%d", "%60s", "%-60v", "%.52s", "%#q", "%T %[1]v"}
	for _, v := range values {
		for _, verb := range verbs {
			t.Run(v.name+" "+verb, func(t *testing.T) {
				assertNoSecret(t, fmt.Sprintf(verb, v.v), s)
			})
		}
	}
	t.Run("Sprint", func(t *testing.T) { assertNoSecret(t, fmt.Sprint(s, holder{"n", s}), s) })
	t.Run("Sprintln", func(t *testing.T) { assertNoSecret(t, fmt.Sprintln(s, holder{"n", s}), s) })
	t.Run("Errorf %v", func(t *testing.T) {
		assertNoSecret(t, fmt.Errorf("authenticate %v: %w", s, errors.New("x")).Error(), s)
	})
	t.Run("String", func(t *testing.T) { assertNoSecret(t, s.String(), s) })
	t.Run("GoString", func(t *testing.T) { assertNoSecret(t, s.GoString(), s) })
}

// TestSecretRedactedFromFmtErrors exposes a leak: fmt writes the raw value of
// an argument it cannot format (a bad verb) without calling its Format
// method, and prints unexported struct fields without calling any of their
// methods. Secret, a string, is then printed in the clear: by %p, by %w
// (fmt.Errorf("...: %w", secret), a likely slip), and as an unexported field
// of any struct printed with fmt or logged with slog's text handler.
func TestSecretRedactedFromFmtErrors(t *testing.T) {
	s, _ := newSecret(t)
	type request struct {
		name   string
		secret keyward.Secret
	}
	tests := []struct {
		name string
		out  func() string
	}{
		{"%p", func() string { return fmt.Sprintf(verbP, s) }},
		{"Errorf %w", func() string { return fmt.Errorf(verbW, s).Error() }},
		{"%p of struct", func() string { return fmt.Sprintf(verbP, struct{ Secret keyward.Secret }{s}) }},
		{"unexported field %+v", func() string { return fmt.Sprintf("%+v", request{"n", s}) }},
		{"unexported field slog text", func() string {
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", "req", request{"n", s})
			return buf.String()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertNoSecret(t, tt.out(), s)
		})
	}
}

// Bad verbs kept in variables, so that vet lets the test use them.
var (
	verbP = "%p"
	verbW = "%w"
)

func TestSecretRedactedFromSlog(t *testing.T) {
	s, _ := newSecret(t)
	type holder struct {
		Name   string
		Secret keyward.Secret
	}
	handlers := []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
		{"JSON", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
	}
	logs := []struct {
		name string
		log  func(*slog.Logger)
	}{
		{"key-value", func(l *slog.Logger) { l.Info("msg", "secret", s) }},
		{"Any", func(l *slog.Logger) { l.Info("msg", slog.Any("secret", s)) }},
		{"LogAttrs", func(l *slog.Logger) { l.LogAttrs(t.Context(), slog.LevelInfo, "msg", slog.Any("secret", s)) }},
		{"pointer", func(l *slog.Logger) { l.Info("msg", "secret", &s) }},
		{"struct", func(l *slog.Logger) { l.Info("msg", "req", holder{"n", s}) }},
		{"*struct", func(l *slog.Logger) { l.Info("msg", "req", &holder{"n", s}) }},
		{"slice", func(l *slog.Logger) { l.Info("msg", "secrets", []keyward.Secret{s}) }},
		{"map value", func(l *slog.Logger) { l.Info("msg", "secrets", map[string]keyward.Secret{"k": s}) }},
		{"group", func(l *slog.Logger) { l.Info("msg", slog.Group("auth", "secret", s)) }},
		{"nested group", func(l *slog.Logger) {
			l.Info("msg", slog.Group("req", slog.Group("auth", slog.Any("secret", s))))
		}},
		{"group of struct", func(l *slog.Logger) { l.Info("msg", slog.Group("req", "body", holder{"n", s})) }},
		{"With", func(l *slog.Logger) { l.With("secret", s).Info("msg") }},
		{"WithGroup", func(l *slog.Logger) { l.WithGroup("auth").Info("msg", "secret", s) }},
		{"error value", func(l *slog.Logger) { l.Error("msg", "err", fmt.Errorf("bad key %v", s)) }},
		{"message", func(l *slog.Logger) { l.Info(fmt.Sprint("bad key ", s)) }},
	}
	// A handler that reflects on values instead of using fmt or
	// encoding/json sees only what LogValue resolves to.
	t.Run("resolved before any handler", func(t *testing.T) {
		v := slog.AnyValue(s).Resolve()
		if v.Kind() != slog.KindString {
			t.Fatalf("slog resolves a Secret to a %v, want a redacted string", v.Kind())
		}
		assertNoSecret(t, v.String(), s)
		assertNoSecret(t, s.LogValue().String(), s)
	})
	for _, h := range handlers {
		for _, lg := range logs {
			t.Run(h.name+" "+lg.name, func(t *testing.T) {
				var buf bytes.Buffer
				lg.log(slog.New(h.new(&buf)))
				if buf.Len() == 0 {
					t.Fatal("nothing was logged")
				}
				assertNoSecret(t, buf.String(), s)
			})
		}
	}
}

func TestSecretRedactedFromJSON(t *testing.T) {
	s, _ := newSecret(t)
	type holder struct {
		Name   string         `json:"name"`
		Secret keyward.Secret `json:"secret"`
	}
	tests := []struct {
		name string
		v    any
	}{
		{"Secret", s},
		{"*Secret", &s},
		{"struct", holder{"n", s}},
		{"*struct", &holder{"n", s}},
		{"slice", []keyward.Secret{s}},
		{"map value", map[string]keyward.Secret{"k": s}},
		{"any", map[string]any{"k": s}},
		{"omitempty", struct {
			S keyward.Secret `json:"s,omitempty"`
		}{s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := mustJSON(t, tt.v)
			if !json.Valid([]byte(out)) {
				t.Fatalf("json.Marshal produced invalid JSON: %s", out)
			}
			assertNoSecret(t, out, s)
		})
	}
	t.Run("MarshalIndent", func(t *testing.T) {
		b, err := json.MarshalIndent(holder{"n", s}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		assertNoSecret(t, string(b), s)
	})
	t.Run("Encoder", func(t *testing.T) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(holder{"n", s}); err != nil {
			t.Fatal(err)
		}
		assertNoSecret(t, buf.String(), s)
	})
}

// TestSecretRedactedFromJSONMapKey: encoding/json writes a map key of a
// string kind as the string itself, without calling any method of its type.
// Secret is a struct, so such a map cannot be encoded at all.
func TestSecretRedactedFromJSONMapKey(t *testing.T) {
	s, _ := newSecret(t)
	//lint:ignore SA1026 the test is that this map does not encode, or encodes no secret
	b, err := json.Marshal(map[keyward.Secret]int{s: 1})
	if err == nil {
		assertNoSecret(t, string(b), s)
	}
}

func TestSecretReveal(t *testing.T) {
	s, raw := newSecret(t)
	if got := s.Reveal(); got != raw {
		t.Fatalf("Reveal() = %q, want %q", got, raw)
	}
	if !secretRE.MatchString(s.Reveal()) {
		t.Fatalf("Reveal() = %q does not match SecretPattern", s.Reveal())
	}
}

func TestSecretPatternFindsLeaks(t *testing.T) {
	_, raw := newSecret(t)
	re := regexp.MustCompile(`\b` + keyward.SecretPattern + `\b`)
	tests := []struct {
		name string
		text string
		want string
	}{
		{"in prose", "my key is " + raw + ", don't tell", raw},
		{"in a header", "Authorization: Bearer " + raw + "\r\n", raw},
		{"in JSON", `{"key":"` + raw + `"}`, raw},
		{"too long", "x " + raw + "0 y", ""},
		{"too short", "x " + raw[:len(raw)-1] + " y", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := re.FindString(tt.text); got != tt.want {
				t.Fatalf("found %q in %q, want %q", got, tt.text, tt.want)
			}
		})
	}
}

func FuzzParseSecret(f *testing.F) {
	real := keyward.NewSecret().Reveal()
	zero := "kw_" + strings.Repeat("0", 43)
	zero += checksum(f, zero)
	for _, s := range []string{
		real,
		zero,
		"",
		"kw_",
		real[:len(real)-1],
		real + "0",
		"KW_" + real[3:],
		"kw-" + real[3:],
		real[:10] + "_" + real[11:],
		real[:len(real)-1] + "0",
		real[:len(real)-1] + "1",
		real[:20] + "é" + real[22:],
		"kw_" + strings.Repeat("0", 49),
		"kw_" + strings.Repeat("Z", 49),
		strings.Repeat("\x00", 52),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := keyward.ParseSecret(in)
		if err != nil {
			if !errors.Is(err, keyward.ErrMalformedSecret) {
				t.Fatalf("ParseSecret(%q) = %v, want ErrMalformedSecret", in, err)
			}
			if s.Reveal() != "" {
				t.Fatalf("ParseSecret(%q) returned %q with its error", in, s.Reveal())
			}
			return
		}
		raw := s.Reveal()
		if raw != in {
			t.Fatalf("ParseSecret(%q).Reveal() = %q", in, raw)
		}
		if len(raw) != keyward.SecretLen {
			t.Fatalf("accepted %q of length %d", in, len(raw))
		}
		if !strings.HasPrefix(raw, "kw_") {
			t.Fatalf("accepted %q without the kw_ prefix", in)
		}
		if !secretRE.MatchString(raw) {
			t.Fatalf("accepted %q, which SecretPattern does not match", in)
		}
		if want := checksum(t, raw[:len(raw)-checkLen]); raw[len(raw)-checkLen:] != want {
			t.Fatalf("accepted %q with checksum %q, want %q", in, raw[len(raw)-checkLen:], want)
		}
		again, err := keyward.ParseSecret(raw)
		if err != nil || again.Reveal() != s.Reveal() {
			t.Fatalf("re-parsing %q: %q, %v", raw, again.Reveal(), err)
		}
		if s.Hint() == "" {
			t.Fatalf("accepted %q has no hint", in)
		}
	})
}

var (
	benchSecret keyward.Secret
	benchHash   keyward.SecretHash
)

func BenchmarkParseSecret(b *testing.B) {
	raw := keyward.NewSecret().Reveal()
	b.ReportAllocs()
	for b.Loop() {
		s, err := keyward.ParseSecret(raw)
		if err != nil {
			b.Fatal(err)
		}
		benchSecret = s
	}
}

func BenchmarkSecretHash(b *testing.B) {
	s := keyward.NewSecret()
	b.ReportAllocs()
	for b.Loop() {
		benchHash = s.Hash()
	}
}

func BenchmarkNewSecret(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchSecret = keyward.NewSecret()
	}
}

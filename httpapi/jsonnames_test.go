package httpapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// The request types of the API, and one with nested structs, maps and
// arrays of objects, to reach every level of a document.
type (
	orgCreateBody struct {
		Name        *string   `json:"name"`
		Permissions *[]string `json:"permissions"`
	}
	callerCreateBody struct {
		KeyName        *string         `json:"key_name"`
		KeyScope       *[]string       `json:"key_scope"`
		OrganizationID json.RawMessage `json:"organization_id"`
	}
	nestedBody struct {
		Inner struct {
			A string `json:"a"`
		} `json:"inner"`
		List []struct {
			B string `json:"b"`
		} `json:"list"`
		Map     map[string]int `json:"map"`
		Any     any            `json:"any"`
		Skipped string         `json:"-"`
		Plain   string
		embeddedBody
	}
	embeddedBody struct {
		E string `json:"e"`
	}
	metadataBody struct {
		Name     *string  `json:"name"`
		Metadata freeForm `json:"metadata"`
	}
)

// TestDecodeStrictNames: every name must be spelled exactly as a field's
// and given once per object, at every level, with case folded as
// encoding/json folds it; anything else is refused naming the field.
func TestDecodeStrictNames(t *testing.T) {
	secret := keyward.NewSecret().Reveal()
	tests := []struct {
		name  string
		body  string
		dst   func() any
		field string // "" when the body is accepted
		why   string // a substring of the reason
	}{
		// Accepted.
		{"exact names", `{"name":"a","permissions":["read"]}`, newOrgCreate, "", ""},
		{"escaped exact name", `{"n\u0061me":"a","permissions":["read"]}`, newOrgCreate, "", ""},
		{"verify body", `{"key":"a","permissions":["read"]}`, newVerify, "", ""},
		{"same name in two objects", `{"key_name":"a","key_scope":["read"],"organization_id":{"a":1,"b":{"a":1}}}`, newCallerCreate, "", ""},
		{"map with distinct names", `{"map":{"k":1,"j":2}}`, newNested, "", ""},
		{"nested struct", `{"inner":{"a":"x"},"list":[{"b":"1"},{"b":"2"}],"Plain":"p","e":"e"}`, newNested, "", ""},
		{"any value", `{"any":{"x":[{"y":1},{"y":2}]}}`, newNested, "", ""},
		{"names inside strings", `{"name":"\"name\":","permissions":["NAME"]}`, newOrgCreate, "", ""},

		// Inside a free-form value (metadata), names differing in case
		// are distinct members, at every depth, and any name is allowed.
		{"metadata: names differing in case", `{"metadata":{"ID":1,"id":2}}`, newMetadata, "", ""},
		{"metadata: Kelvin sign beside k", `{"metadata":{"key":1,"\u212Aey":2}}`, newMetadata, "", ""},
		{"metadata: nested case variants", `{"metadata":{"a":{"X":1,"x":[{"Y":1,"y":2}]}}}`, newMetadata, "", ""},
		{"metadata: names a struct would not know", `{"metadata":{"Name":"n","name":"m"},"name":"k"}`, newMetadata, "", ""},

		// Duplicates, exact or in another case, at every level.
		{"exact duplicate", `{"name":"a","name":"b","permissions":["read"]}`, newOrgCreate, "name", "more than once"},
		{"escaped duplicate", `{"key":"a","k\u0065y":"b"}`, newVerify, "key", "more than once"},
		{"upper-case duplicate", `{"name":"a","NAME":"b","permissions":["read"]}`, newOrgCreate, "name", "differing only in case"},
		{"mixed-case duplicate", `{"key":"bogus","Key":"real"}`, newVerify, "key", "differing only in case"},
		{"duplicate array", `{"key":"k","permissions":["manage"],"PERMISSIONS":[]}`, newVerify, "permissions", "more than once"},
		{"Kelvin sign duplicate", `{"key":"a","` + "\u212a" + `ey":"b"}`, newVerify, "key", "more than once"},
		{"escaped Kelvin sign duplicate", `{"key":"a","\u212Aey":"b"}`, newVerify, "key", "more than once"},
		{"long s duplicate", `{"key":"a","permissions":[],"permi` + "\u017f\u017f" + `ions":["read"]}`, newVerify, "permissions", "more than once"},
		{"duplicate in a raw value", `{"key_name":"a","key_scope":["read"],"organization_id":{"a":1,"A":2}}`, newCallerCreate, "organization_id.a", "more than once"},
		{"duplicate in an array's object", `{"key_name":"a","key_scope":["read"],"organization_id":[{"x":1},{"x":1,"x":2}]}`, newCallerCreate, "organization_id.x", "more than once"},
		{"duplicate in a nested struct", `{"inner":{"a":"x","a":"y"}}`, newNested, "inner.a", "more than once"},
		{"duplicate in an array of structs", `{"list":[{"b":"1"},{"b":"1","B":"2"}]}`, newNested, "list.b", "more than once"},
		{"duplicate in a map", `{"map":{"k":1,"K":2}}`, newNested, "map.k", "more than once"},
		{"duplicate in any", `{"any":{"deep":{"deeper":[{"z":1,"Z":2}]}}}`, newNested, "any.deep.deeper.z", "more than once"},
		{"duplicate after a nested object", `{"inner":{"a":"x"},"list":[],"inner":{}}`, newNested, "inner", "more than once"},

		{"metadata: an exact duplicate", `{"metadata":{"a":1,"a":2}}`, newMetadata, "metadata.a", "more than once"},
		{"metadata: an exact duplicate, nested", `{"metadata":{"a":[{"ID":1,"id":2,"id":3}]}}`, newMetadata, "metadata.a.id", "more than once"},
		{"metadata given twice in two cases", `{"metadata":{},"METADATA":{}}`, newMetadata, "metadata", "differing only in case"},
		{"metadata given twice", `{"metadata":{"a":1},"metadata":{"A":1}}`, newMetadata, "metadata", "more than once"},

		// Names that encoding/json would match to a field, not spelled so.
		{"metadata in title case", `{"Metadata":{"id":1}}`, newMetadata, "Metadata", `did you mean "metadata"`},
		{"upper case alone", `{"NAME":"x","permissions":["read"]}`, newOrgCreate, "NAME", `did you mean "name"`},
		{"title case alone", `{"Key":"x"}`, newVerify, "Key", `did you mean "key"`},
		{"Kelvin sign alone", `{"` + "\u212a" + `ey":"x"}`, newVerify, "\u212aey", `did you mean "key"`},
		{"long s alone", `{"key":"x","permi` + "\u017f\u017f" + `ions":["read"]}`, newVerify, "permi\u017f\u017fions", `did you mean "permissions"`},
		{"case variant in a nested struct", `{"inner":{"A":"x"}}`, newNested, "inner.A", `did you mean "a"`},
		{"case variant of a Go name", `{"plain":"p"}`, newNested, "plain", `did you mean "Plain"`},
		{"case variant of an embedded field", `{"E":"e"}`, newNested, "E", `did you mean "e"`},
		{"a skipped field", `{"Skipped":"s"}`, newNested, "Skipped", "not a known field"},
		{"unknown", `{"key":"x","admin":true}`, newVerify, "admin", "not a known field"},
		{"unknown, shaped like a secret", `{"key":"x","` + secret + `":1}`, newVerify, "kw_[REDACTED]", "not a known field"},
		{"unknown, long", `{"key":"x","` + strings.Repeat("é", 100) + `":1}`, newVerify, strings.Repeat("é", 32) + "...", "not a known field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := decodeStrict([]byte(tt.body), tt.dst())
			if tt.field == "" {
				if err != nil {
					t.Fatalf("decodeStrict(%s) = %v, want it accepted", tt.body, err)
				}
				return
			}
			if code := keyward.ErrorCode(err); code != keyward.EINVALID {
				t.Fatalf("decodeStrict(%s) = %v (code %q), want EINVALID", tt.body, err, code)
			}
			fields := keyward.ErrorFields(err)
			if len(fields) != 1 || fields[0].Field != tt.field || !strings.Contains(fields[0].Reason, tt.why) {
				t.Fatalf("decodeStrict(%s) fields %+v, want field %q saying %q", tt.body, fields, tt.field, tt.why)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatal("the error quotes a secret")
			}
		})
	}
}

// TestDecodeStrictNamesLeaveSyntaxToDecode: a body that is not JSON, or
// not one object, is explained as it was before names were checked.
func TestDecodeStrictNamesLeaveSyntaxToDecode(t *testing.T) {
	for _, tt := range []struct{ name, body, detail string }{
		{"truncated", `{"name":"a"`, "ends too early"},
		{"syntax", `{"name" "a"}`, "not valid JSON"},
		{"an array", `[{"a":1,"a":2}]`, "must be a JSON object"},
		{"null", `null`, "must be a JSON object"},
		{"a string", `"name"`, "must be a JSON object"},
		{"trailing data", `{"name":"a","permissions":["read"]}{"name":"b","name":"c"}`, "exactly one"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := decodeStrict([]byte(tt.body), newOrgCreate())
			if keyward.ErrorCode(err) != keyward.EINVALID || !strings.Contains(keyward.ErrorMessage(err), tt.detail) {
				t.Fatalf("decodeStrict(%s) = %v, want EINVALID saying %q", tt.body, err, tt.detail)
			}
		})
	}
}

// TestFoldNameAsEncodingJSON: two names fold alike exactly when
// encoding/json would match one to a field named the other.
func TestFoldNameAsEncodingJSON(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{"key", "KEY", true},
		{"key", "\u212aey", true},
		{"ss", "\u017f\u017f", true},
		{"\u00e9", "\u00c9", true},
		{"\u03c3", "\u03c2", true}, // σ and final ς fold together
		{"key", "keys", false},
		{"\u01c4", "\u01c5", true}, // DŽ and its title case Dž
		{"i", "\u0130", false},     // İ has no simple fold to i
		{"a_b", "a-b", false},
	} {
		t.Run(tt.a+" "+tt.b, func(t *testing.T) {
			if got := foldName(tt.a) == foldName(tt.b); got != tt.same {
				t.Errorf("foldName(%q) == foldName(%q) is %v, want %v", tt.a, tt.b, got, tt.same)
			}
			// The oracle: encoding/json itself.
			if matched := decodesInto(tt.a, tt.b); matched != tt.same {
				t.Errorf("encoding/json fills a field named %q from %q: %v, want %v", tt.a, tt.b, matched, tt.same)
			}
		})
	}
}

// FuzzFoldName: two names fold alike exactly when encoding/json would take
// one for the other (it matches names as strings.EqualFold compares them).
func FuzzFoldName(f *testing.F) {
	for _, pair := range [][2]string{
		{"key", "KEY"}, {"key", "\u212aey"}, {"ss", "\u017f\u017f"}, {"\u03c3", "\u03c2"},
		{"i", "\u0130"}, {"key", "keys"}, {"", ""}, {"\u01c4", "\u01c6"}, {"a\xffb", "a\ufffdb"},
	} {
		f.Add(pair[0], pair[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		// Names reach foldName from json.Decoder, always valid UTF-8.
		a, b = strings.ToValidUTF8(a, "\ufffd"), strings.ToValidUTF8(b, "\ufffd")
		if got, want := foldName(a) == foldName(b), strings.EqualFold(a, b); got != want {
			t.Fatalf("foldName(%q) == foldName(%q) is %v; strings.EqualFold says %v", a, b, got, want)
		}
	})
}

// decodesInto reports whether encoding/json decodes a member named name
// into a struct field whose JSON name is field.
func decodesInto(field, name string) bool {
	typ := reflect.StructOf([]reflect.StructField{{
		Name: "F", Type: reflect.TypeFor[*string](), Tag: reflect.StructTag(`json:"` + field + `"`),
	}})
	v := reflect.New(typ)
	body, _ := json.Marshal(map[string]string{name: "x"}) // a map of strings always encodes
	if err := json.Unmarshal(body, v.Interface()); err != nil {
		return false
	}
	return v.Elem().Field(0).Interface().(*string) != nil
}

func newOrgCreate() any    { return new(orgCreateBody) }
func newCallerCreate() any { return new(callerCreateBody) }
func newVerify() any       { return new(verifyRequest) }
func newNested() any       { return new(nestedBody) }
func newMetadata() any     { return new(metadataBody) }

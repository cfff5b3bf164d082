package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward"
)

// Bodies the fast parser must take itself: what clients send.
var fastVerifyBodies = []string{
	`{"key":"kw_abc"}`,
	`{"key":"kw_abc","permissions":["read","write"]}`,
	`{"permissions":["read"],"key":"kw_abc"}`,
	`{"key":"kw_abc","permissions":[]}`,
	" \n{ \"key\" : \"kw_abc\" ,\r\n\t\"permissions\" : [ \"read\" , \"manage\" ] } \n",
	`{"key":""}`,
	`{"key":"not a key at all, but a string"}`,
	`{"key":"kw_abc","permissions":["READ","nonsense"]}`,
	`{"key":"kw_abc","cost":0}`,
	`{"key":"kw_abc","permissions":["read"],"cost":25}`,
	`{"cost": 999999999999999 ,"key":"kw_abc"}`,
}

// Bodies it must leave to encoding/json, which may accept or refuse them.
var slowVerifyBodies = []string{
	``, ` `, `null`, `[]`, `"key"`, `{}`, `{"permissions":["read"]}`,
	`{"key":null}`, `{"key":1}`, `{"key":"a","permissions":null}`, `{"key":"a","permissions":"read"}`,
	`{"key":"a","permissions":[1]}`, `{"key":"a","permissions":["read",]}`, `{"key":"a",}`,
	`{"key":"a"`, `{"key":"a"}x`, `{"key":"a"}{}`, `{"key":"a"} {"key":"b"}`,
	`{"KEY":"a"}`, `{"Key":"a"}`, `{"key":"a","key":"b"}`, `{"key":"a","permissions":[],"permissions":["read"]}`,
	`{"key":"a\"b"}`, `{"key":"a\\b"}`, `{"key":"\u006b"}`, `{"key":"é"}`, "{\"key\":\"a\x01\"}", "{\"key\":\"a\x7f\"}",
	`{"k\u0065y":"a"}`, `{"key":"a","other":1}`, `{"key":"a","permissions":["re\"ad"]}`,
	`{"key":"a","permissions":[["read"]]}`, `{"key" "a"}`, `{key:"a"}`, `{'key':'a'}`,
	"\xef\xbb\xbf{\"key\":\"a\"}",
	`{"key":"a","cost":-1}`, `{"key":"a","cost":1.5}`, `{"key":"a","cost":1e3}`, `{"key":"a","cost":01}`,
	`{"key":"a","cost":"1"}`, `{"key":"a","cost":null}`, `{"key":"a","cost":1000000000000000}`, `{"key":"a","cost":1,"cost":2}`,
	`{"key":"a","cost":}`,
}

// Bodies that name a member twice or not exactly: a gateway reading them
// sees another request than encoding/json would decode. The fast parser
// leaves them to decodeStrict, which refuses every one.
var ambiguousVerifyBodies = []string{
	`{"key":"a","key":"b"}`,
	`{"key":"bogus","Key":"kw_real"}`,
	`{"Key":"kw_real","key":"bogus"}`,
	`{"key":"a","KEY":"b"}`,
	`{"KEY":"a"}`,
	`{"Key":"a"}`,
	`{"kEy":"a"}`,
	`{"key":"a","k\u0065y":"b"}`,
	`{"key":"a","\u212Aey":"b"}`,
	"{\"key\":\"a\",\"\u212aey\":\"b\"}",
	"{\"\u212aey\":\"a\"}",
	`{"key":"a","permissions":["manage"],"PERMISSIONS":[]}`,
	`{"key":"a","permissions":["manage"],"permissions":[]}`,
	`{"key":"a","permissions":[],"permissions":["manage"]}`,
	`{"key":"a","Permissions":["read"]}`,
	"{\"key\":\"a\",\"permi\u017f\u017fions\":[\"read\"]}",
	`{"key":"a","permissions":["read"],"permi\u017f\u017fions":[]}`,
	`{"key":"a","cost":1,"Cost":5}`,
}

// The fast parser takes the common bodies, and whatever it takes, it reads
// exactly as encoding/json does.
func TestParseVerifyFast(t *testing.T) {
	for _, body := range fastVerifyBodies {
		if _, ok := parseVerifyFast([]byte(body)); !ok {
			t.Errorf("fast parser refused %q, a body it exists for", body)
		}
		checkVerifyParse(t, []byte(body))
	}
	for _, body := range slowVerifyBodies {
		if _, ok := parseVerifyFast([]byte(body)); ok {
			t.Errorf("fast parser took %q, which encoding/json must decide", body)
		}
		checkVerifyParse(t, []byte(body))
	}
	for _, body := range ambiguousVerifyBodies {
		if _, ok := parseVerifyFast([]byte(body)); ok {
			t.Errorf("fast parser took %q, which names a member twice or not exactly", body)
		}
		var in verifyRequest
		if err := decodeStrict([]byte(body), &in); keyward.ErrorCode(err) != keyward.EINVALID {
			t.Errorf("decodeStrict(%q) = %v, want EINVALID", body, err)
		}
		checkVerifyParse(t, []byte(body))
	}
}

func FuzzParseVerifyFast(f *testing.F) {
	for _, body := range slices.Concat(fastVerifyBodies, slowVerifyBodies, ambiguousVerifyBodies) {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkVerifyParse(t, body) })
}

// checkVerifyParse fails if the fast parser takes body and reads it
// otherwise than decodeStrict (so, too, if it takes a body decodeStrict
// refuses), or if either takes a body whose names are not exactly "key",
// "permissions" and "cost", each at most once.
func checkVerifyParse(t *testing.T, body []byte) {
	t.Helper()
	fast, fastOK := parseVerifyFast(body)
	var slow verifyRequest
	err := decodeStrict(body, &slow)
	if err != nil && keyward.ErrorCode(err) != keyward.EINVALID {
		t.Fatalf("decodeStrict(%q) = %v, want nil or EINVALID", body, err)
	}
	if fastOK && err != nil {
		t.Fatalf("fast parser took %q, which decodeStrict refuses: %v", body, err)
	}
	if fastOK && !reflect.DeepEqual(fast, slow) {
		t.Fatalf("body %q: fast parser read %s, decodeStrict %s", body, showVerifyRequest(fast), showVerifyRequest(slow))
	}
	if err != nil {
		return
	}
	names, ok := topLevelNames(body)
	if !ok {
		t.Fatalf("decodeStrict took %q, which is not one JSON object", body)
	}
	seen := map[string]bool{}
	for _, name := range names {
		if name != "key" && name != "permissions" && name != "cost" || seen[name] {
			t.Fatalf("decodeStrict took %q, whose names are %q", body, names)
		}
		seen[name] = true
	}
}

// topLevelNames lists the names of the members of the object in body, as
// given, repeats included: an oracle for the tests, independent of
// checkNames. ok is false unless body is one JSON object.
func topLevelNames(body []byte) (names []string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		name, _ := tok.(string)
		names = append(names, name)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, false
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, false
	}
	return names, true
}

func showVerifyRequest(in verifyRequest) string {
	b, _ := json.Marshal(in)
	return string(b)
}

// appendVerifyJSON writes what json.Marshal writes, byte for byte.
func TestAppendVerifyJSON(t *testing.T) {
	for _, v := range []verifyJSON{
		{Code: keyward.VerifyNotFound},
		{Valid: true, Code: keyward.VerifyValid, KeyID: 123, OrgID: "acme", Name: "ci deploy", Permissions: []keyward.Permission{"read", "write"}},
		{Code: keyward.VerifyInsufficientPermissions, KeyID: 1, OrgID: "o", Name: "reader", Permissions: []keyward.Permission{"manage"}},
		{Valid: true, Code: keyward.VerifyValid, KeyID: 9007199254740991, OrgID: "acme", Name: `quote " back \ <b>&</b> é 日本 ` + "\u2028\x01\t\x7f\xff"},
		{Code: "SOME_NEW_CODE", Permissions: []keyward.Permission{}},
		{Code: keyward.VerifyDisabled, KeyID: 7, OrgID: "o", Name: "n", Permissions: []keyward.Permission{"read"}, Metadata: "{}"},
		{Valid: true, Code: keyward.VerifyValid, KeyID: 7, OrgID: "o", Name: "n", Metadata: `{"plan":"pro","nested":{"a":[1,2.5,null,true]},"html":"<b>&amp;</b>","sep":"` + " " + `"}`,
			ExpiresAt: &exp, SecretExpiresAt: &graceEnd},
		{Code: keyward.VerifyExpired, KeyID: 7, ExpiresAt: &exp},
		{Code: keyward.VerifyRateLimited, KeyID: 7, RateLimits: []limitStateJSON{
			{Name: "requests", Limit: 100, Remaining: 0, Reset: 17, ResetAt: exp, Exceeded: true},
			{Name: "burst.1_s-x", Limit: 1, Remaining: 1, Reset: 1, ResetAt: graceEnd},
		}, Credits: &creditsLeftJSON{Remaining: 9007199254740991}},
		{Valid: true, Code: keyward.VerifyValid, KeyID: 7, Credits: &creditsLeftJSON{}},
	} {
		checkVerifyJSON(t, v)
	}
}

var (
	exp      = jsonTime(time.Date(2031, 3, 4, 11, 0, 0, 0, time.UTC))
	graceEnd = jsonTime(time.Date(2031, 3, 4, 11, 0, 0, 123456000, time.FixedZone("x", 3600)))
)

func FuzzAppendVerifyJSON(f *testing.F) {
	f.Add(true, "VALID", uint64(1), "acme", "name", "read")
	f.Add(false, "NOT_FOUND", uint64(0), "", "<&>\u2028", "")
	f.Add(true, "VALID", uint64(1<<53-1), "o", "\xff\xfe", "a\"b")
	f.Add(true, "VALID", uint64(9), "o", "n", `{"a":"<b>&\u2028","b":[1,{"c":null}]}`)
	f.Fuzz(func(t *testing.T, valid bool, code string, keyID uint64, org string, name, perm string) {
		v := verifyJSON{Valid: valid, Code: keyward.VerifyCode(code), KeyID: jsonKeyID(keyID % (1 << 53)), OrgID: org, Name: name}
		if perm != "" {
			v.Permissions = []keyward.Permission{keyward.Permission(perm), "read"}
		}
		// The permission's text, when it is metadata the domain takes,
		// is the metadata too, as the domain keeps it.
		if md, err := keyward.ParseMetadata([]byte(perm)); err == nil {
			v.Metadata = rawJSON(md)
			if md == "" {
				v.Metadata = "{}"
			}
			t := time.Unix(int64(keyID%(1<<34)), int64(keyID%1e9)).UTC()
			v.ExpiresAt, v.SecretExpiresAt = (*jsonTime)(&t), (*jsonTime)(&t)
		}
		checkVerifyJSON(t, v)
	})
}

// checkVerifyJSON holds appendVerifyJSON to json.Marshal, byte for byte
// once HTML's characters are escaped: the metadata is appended as the
// domain keeps it, without json.Marshal's escapes of <, >, &, U+2028 and
// U+2029, which change the bytes and not the value.
func checkVerifyJSON(t *testing.T, v verifyJSON) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	json.HTMLEscape(&got, appendVerifyJSON(nil, v))
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("appendVerifyJSON wrote\n%s\njson.Marshal writes\n%s", got.Bytes(), want)
	}
}

// benchVerifyRequest keeps the parser's result alive, so that the compiler
// cannot drop the work.
var benchVerifyRequest verifyRequest

// BenchmarkParseVerifyFast measures the fast parser alone on the body real
// clients send: it runs on every verification, so it must stay cheap.
func BenchmarkParseVerifyFast(b *testing.B) {
	body := []byte(`{"key":"` + keyward.NewSecret().Reveal() + `","permissions":["read"]}`)
	b.ReportAllocs()
	for b.Loop() {
		in, ok := parseVerifyFast(body)
		if !ok {
			b.Fatal("the fast parser refused the common body")
		}
		benchVerifyRequest = in
	}
}

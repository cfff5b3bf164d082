package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

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
	}
}

func FuzzParseVerifyFast(f *testing.F) {
	for _, body := range append(fastVerifyBodies, slowVerifyBodies...) {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkVerifyParse(t, body) })
}

// checkVerifyParse fails if the fast parser takes body and reads it
// otherwise than decodeStrict.
func checkVerifyParse(t *testing.T, body []byte) {
	t.Helper()
	fast, ok := parseVerifyFast(body)
	if !ok {
		return
	}
	var slow verifyRequest
	if err := decodeStrict(body, &slow); err != nil {
		t.Fatalf("fast parser took %q, which encoding/json refuses: %v", body, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("body %q: fast parser read %s, encoding/json %s", body, showVerifyRequest(fast), showVerifyRequest(slow))
	}
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
	} {
		checkVerifyJSON(t, v)
	}
}

func FuzzAppendVerifyJSON(f *testing.F) {
	f.Add(true, "VALID", uint64(1), "acme", "name", "read")
	f.Add(false, "NOT_FOUND", uint64(0), "", "<&>\u2028", "")
	f.Add(true, "VALID", uint64(1<<53-1), "o", "\xff\xfe", "a\"b")
	f.Fuzz(func(t *testing.T, valid bool, code string, keyID uint64, org string, name, perm string) {
		v := verifyJSON{Valid: valid, Code: keyward.VerifyCode(code), KeyID: jsonKeyID(keyID % (1 << 53)), OrgID: org, Name: name}
		if perm != "" {
			v.Permissions = []keyward.Permission{keyward.Permission(perm), "read"}
		}
		checkVerifyJSON(t, v)
	})
}

func checkVerifyJSON(t *testing.T, v verifyJSON) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendVerifyJSON(nil, v); !bytes.Equal(got, want) {
		t.Fatalf("appendVerifyJSON wrote\n%s\njson.Marshal writes\n%s", got, want)
	}
}

package httpapi

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/keyward/keyward"
)

// The verify endpoint reads and writes its small bodies without reflection:
// encoding/json cost about a tenth of a verification. Each fast path covers
// the bodies real clients send and hands everything else to encoding/json,
// so that what is accepted, refused and written is encoding/json's answer
// in every case (verifyjson_test.go holds the two to the same output).

// parseVerifyFast reads a verify body of the common shape: one object with
// "key" and, optionally, "permissions" (an array of strings), in either
// order, each once, spelled exactly so, every string printable ASCII
// without escapes. For any other body, valid or not, ok is false and the
// caller decodes with encoding/json.
func parseVerifyFast(body []byte) (in verifyRequest, ok bool) {
	p := fastParser{b: body}
	if !p.byte('{') {
		return in, false
	}
	for {
		name, ok := p.raw()
		if !ok || !p.byte(':') {
			return in, false
		}
		// string(name) == "..." compares without making a string.
		switch {
		case string(name) == "key" && in.Key == nil:
			s, ok := p.str()
			if !ok {
				return in, false
			}
			in.Key = &s
		case string(name) == "permissions" && in.Permissions == nil:
			if in.Permissions, ok = p.strs(); !ok {
				return in, false
			}
		case string(name) == "cost" && in.Cost == nil:
			n, ok := p.uint()
			if !ok {
				return in, false
			}
			in.Cost = &n
		default:
			// Unknown, given twice, or not spelled exactly ("Key",
			// "\u006bey", "\u212Aey"): decodeStrict decides, and refuses
			// every duplicate and every case variant.
			return in, false
		}
		if p.byte('}') {
			break
		}
		if !p.byte(',') {
			return in, false
		}
	}
	p.space()
	return in, in.Key != nil && p.i == len(p.b)
}

// fastParser reads the subset of JSON that parseVerifyFast accepts.
type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte skips white space and then c, if c is next.
func (p *fastParser) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (p *fastParser) str() (string, bool) {
	b, ok := p.raw()
	return string(b), ok
}

// raw reads a string of printable ASCII without escapes, and returns its
// bytes within the body: a member's name need not become a string.
func (p *fastParser) raw() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			b := p.b[start:p.i]
			p.i++
			return b, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// uint reads a non-negative integer of at most 15 digits, without sign,
// fraction or exponent (decodeStrict reads any other number, and refuses
// what is out of range).
func (p *fastParser) uint() (int64, bool) {
	p.space()
	start := p.i
	var n int64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		n = n*10 + int64(p.b[p.i]-'0')
		p.i++
	}
	digits := p.i - start
	switch {
	case digits == 0 || digits > 15 || (digits > 1 && p.b[start] == '0'):
		return 0, false
	case p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E'):
		return 0, false
	}
	return n, true
}

// strs reads an array of such strings; never nil on success.
func (p *fastParser) strs() ([]string, bool) {
	if !p.byte('[') {
		return nil, false
	}
	out := []string{}
	if p.byte(']') {
		return out, true
	}
	for {
		s, ok := p.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		if p.byte(']') {
			return out, true
		}
		if !p.byte(',') {
			return nil, false
		}
	}
}

// appendVerifyJSON appends v as json.Marshal writes it, but for the
// metadata, appended as the domain keeps it (compact, valid JSON) without
// json.Marshal's escapes of <, >, &, U+2028 and U+2029 in its strings: the
// same JSON value, and no second encoding on the hot path.
func appendVerifyJSON(b []byte, v verifyJSON) []byte {
	b = append(b, `{"valid":`...)
	b = strconv.AppendBool(b, v.Valid)
	b = append(b, `,"code":`...)
	b = appendJSONString(b, string(v.Code))
	if v.KeyID != 0 {
		b = append(b, `,"key_id":"`...) // "key-" and digits: nothing to escape
		b = keyward.KeyID(v.KeyID).Append(b)
		b = append(b, '"')
	}
	if v.OrgID != "" {
		b = append(b, `,"org_id":`...)
		b = appendJSONString(b, v.OrgID)
	}
	if v.Name != "" {
		b = append(b, `,"name":`...)
		b = appendJSONString(b, v.Name)
	}
	if len(v.Permissions) > 0 {
		b = append(b, `,"permissions":[`...)
		for i, p := range v.Permissions {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, string(p))
		}
		b = append(b, ']')
	}
	if v.Metadata != "" {
		b = append(b, `,"metadata":`...)
		b = append(b, v.Metadata...)
	}
	if v.ExpiresAt != nil {
		b = append(b, `,"expires_at":"`...)
		b = appendExactTime(b, time.Time(*v.ExpiresAt))
		b = append(b, '"')
	}
	if v.SecretExpiresAt != nil {
		b = append(b, `,"secret_expires_at":"`...)
		b = appendExactTime(b, time.Time(*v.SecretExpiresAt))
		b = append(b, '"')
	}
	if len(v.RateLimits) > 0 {
		b = append(b, `,"rate_limits":[`...)
		for i, l := range v.RateLimits {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendJSONString(b, l.Name)
			b = append(b, `,"limit":`...)
			b = strconv.AppendInt(b, l.Limit, 10)
			b = append(b, `,"remaining":`...)
			b = strconv.AppendInt(b, l.Remaining, 10)
			b = append(b, `,"reset":`...)
			b = strconv.AppendInt(b, l.Reset, 10)
			b = append(b, `,"reset_at":"`...)
			b = appendExactTime(b, time.Time(l.ResetAt))
			b = append(b, `","exceeded":`...)
			b = strconv.AppendBool(b, l.Exceeded)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if v.Credits != nil {
		b = append(b, `,"credits":{"remaining":`...)
		b = strconv.AppendInt(b, v.Credits.Remaining, 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string, as json.Marshal writes it:
// directly when it needs no escape, through encoding/json when it does
// (quotes, backslashes, control characters, HTML's <, > and &, non-ASCII).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

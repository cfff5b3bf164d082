package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/keyward/keyward"
)

// checkNames refuses a JSON body that encoding/json would read otherwise
// than a gateway, a WAF or any other strict parser on the way: encoding/json
// matches member names case-insensitively and keeps the last of duplicate
// names, so {"key":"bogus","Key":"<real>"} would be inspected as one key and
// verified as another. It refuses, at every level of the document, a name
// given twice in one object, exactly or differing only in case; and, in an
// object decoded into a struct, a name that is not exactly one of the
// struct's JSON names. Case is folded as encoding/json folds it (Unicode
// simple folding: the Kelvin sign K matches k, and ſ matches s), so that
// no name encoding/json would match to a field slips through.
//
// A freeForm value (a key's metadata) is the client's own JSON, kept as
// given and never matched to fields: there, at every depth, only a name
// given twice exactly is refused, and {"ID":1,"id":2} is two members, as
// the domain takes it.
//
// t is the type the body is decoded into; a struct or a map must come from
// an object, not null. A body that is not valid JSON returns nil: decoding
// it explains what is wrong.
func checkNames(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	// One frame per open object or array. The walk is a loop over a stack,
	// not a recursion: a 64 KiB body can open tens of thousands of arrays.
	type frame struct {
		object bool
		fields map[string]reflect.Type // a struct's names; nil: any name
		elem   reflect.Type            // a map's or an array's values; nil: any
		seen   map[string]string       // folded name → the name as given
		name   bool                    // an object expects a name next
		path   string                  // where the frame is, for errors
		free   bool                    // inside a freeForm value
	}
	var stack []*frame
	next, path := t, ""
	// valueEnded moves on past a value (a scalar, or an object or array
	// just closed), and reports whether the document goes on: the first
	// value is all Decode reads.
	valueEnded := func() bool {
		if len(stack) == 0 {
			return false
		}
		top := stack[len(stack)-1]
		if top.object {
			top.name = true
		} else {
			next, path = top.elem, top.path
		}
		return true
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // not JSON: Decode says why
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.name {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				if !valueEnded() {
					return nil
				}
				continue
			}
			name, _ := tok.(string) // json.Decoder gives nothing else here
			folded := name
			if !top.free {
				folded = foldName(name)
			}
			if first, dup := top.seen[folded]; dup {
				field := joinPath(top.path, first)
				if first != name {
					return keyward.Invalid("invalid request", keyward.FieldError{Field: field, Reason: "is given more than once (as " + quoteLabel(first) + " and " + quoteLabel(name) + "; names differing only in case are the same name)"})
				}
				return keyward.Invalid("invalid request", keyward.FieldError{Field: field, Reason: "is given more than once"})
			}
			if top.seen == nil {
				top.seen = make(map[string]string, 4)
			}
			top.seen[folded] = name
			next, path = top.elem, joinPath(top.path, name)
			if top.fields != nil {
				ft, ok := top.fields[name]
				if !ok {
					reason := "is not a known field"
					for known := range top.fields {
						if foldName(known) == folded {
							reason = "is not a known field: names are case-sensitive (did you mean " + quoteLabel(known) + "?)"
						}
					}
					return keyward.Invalid("invalid request", keyward.FieldError{Field: joinPath(top.path, name), Reason: reason})
				}
				next = ft
			}
			top.name = false
			continue
		}
		if len(stack) == 0 && tok != json.Delim('{') && objectKind(t) {
			// encoding/json would take null as an empty object.
			return keyward.Invalid("the request body must be a JSON object")
		}
		free := top != nil && top.free || next == freeFormType
		switch tok {
		case json.Delim('{'):
			fields, elem := objectType(next)
			stack = append(stack, &frame{object: true, fields: fields, elem: elem, name: true, path: path, free: free})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{elem: arrayElem(next), path: path, free: free})
			next = arrayElem(next)
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if !valueEnded() {
			return nil
		}
	}
}

// freeForm is a request member whose value is the client's own JSON, such
// as a key's metadata: read raw, as json.RawMessage is, and checked by
// checkNames for exact duplicate names only, since no name in it is matched
// to a field.
type freeForm []byte

// UnmarshalJSON keeps the value as given; null stays "null", told from
// absent (nil).
func (f *freeForm) UnmarshalJSON(b []byte) error {
	*f = append((*f)[:0], b...)
	return nil
}

// freeFormType is checkNames' marker of a freeForm value.
var freeFormType = reflect.TypeFor[freeForm]()

// unmarshalerType is json.Unmarshaler, whose implementations (such as
// json.RawMessage) read any JSON value of their own.
var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// concrete strips pointers from t and returns nil for a type that takes
// any JSON value: an interface, or one that decodes itself.
func concrete(t reflect.Type) reflect.Type {
	for t != nil {
		if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) || t.Kind() == reflect.Interface {
			return nil
		}
		if t.Kind() != reflect.Pointer {
			return t
		}
		t = t.Elem()
	}
	return nil
}

// objectType says which names an object decoded into t may hold: a
// struct's JSON names (with their types), or, for anything else, any name,
// with values of elem (a map's values, or nil for any).
func objectType(t reflect.Type) (fields map[string]reflect.Type, elem reflect.Type) {
	switch t = concrete(t); {
	case t == nil:
		return nil, nil
	case t.Kind() == reflect.Struct:
		return structFields(t), nil
	case t.Kind() == reflect.Map:
		return nil, t.Elem()
	}
	return nil, nil // not an object type: Decode will say so
}

// objectKind reports whether t decodes only from a JSON object.
func objectKind(t reflect.Type) bool {
	t = concrete(t)
	return t != nil && (t.Kind() == reflect.Struct || t.Kind() == reflect.Map)
}

// arrayElem is the type of the elements of an array decoded into t, or
// nil for any.
func arrayElem(t reflect.Type) reflect.Type {
	if t = concrete(t); t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		return t.Elem()
	}
	return nil
}

// fieldsCache holds structFields' answers: request types are few.
var fieldsCache sync.Map // reflect.Type → map[string]reflect.Type

// structFields returns the JSON names of struct type t, as encoding/json
// names its fields (the tag's name, or the Go name; "-" leaves a field
// out; an untagged embedded struct lends its fields), with their types.
func structFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldsCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := make(map[string]reflect.Type)
	addStructFields(fields, t, 0)
	fieldsCache.Store(t, fields)
	return fields
}

func addStructFields(fields map[string]reflect.Type, t reflect.Type, depth int) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct && depth < 8 {
			addStructFields(fields, ft, depth+1)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, taken := fields[name]; !taken {
			fields[name] = f.Type
		}
	}
}

// foldName folds a name as encoding/json does to match it to a field
// (encoding/json's appendFoldedName): ASCII letters to upper case, and any
// other rune to the smallest rune of its Unicode simple-folding orbit.
func foldName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		switch {
		case r < utf8.RuneSelf:
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
		default:
			for {
				f := unicode.SimpleFold(r)
				if f <= r {
					r = f
					break
				}
				r = f
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// maxLabelLen bounds a client's name quoted back in an error.
const maxLabelLen = 64

// secretLike matches anything shaped like the start of a Keyward secret.
var secretLike = regexp.MustCompile(keyward.SecretPrefix + `[0-9A-Za-z]+`)

// fieldLabel is how an error names a field the client sent: at most
// maxLabelLen bytes, cut at a rune boundary, with anything shaped like a
// secret masked. A name is not meant to hold a secret, but a client that
// misplaces its quotes can put one there, and errors never show secrets.
func fieldLabel(name string) string {
	return cutText(secretLike.ReplaceAllString(name, keyward.SecretPrefix+"[REDACTED]"), maxLabelLen, "...")
}

// quoteLabel is fieldLabel in quotes, for a reason's text.
func quoteLabel(name string) string {
	b, _ := json.Marshal(fieldLabel(name)) // a string always encodes
	return string(b)
}

// joinPath names a member inside path as encoding/json's errors do:
// "outer.inner".
func joinPath(path, name string) string {
	name = fieldLabel(name)
	if path == "" {
		return name
	}
	return path + "." + name
}

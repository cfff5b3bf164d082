package keyward

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxMetadataSize bounds a key's metadata, compactly encoded: it travels
// with the key in every cache entry and every verify answer.
const MaxMetadataSize = 8 << 10

// MaxMetadataDepth bounds how deeply metadata nests: the object itself is
// level 1, so a member may hold an object or array down to this level.
const MaxMetadataDepth = 5

// ParseMetadata validates raw as a key's metadata and returns it in its
// one canonical encoding: compact, members in name order, strings escaped
// only where JSON requires, numbers as written. It must be a JSON object of
// at most MaxMetadataSize bytes so encoded and MaxMetadataDepth levels, in
// valid UTF-8, without a member name given twice in one object (which
// parsers read differently) and without anything shaped like a secret,
// escaped or not, which a secret scanner would report as a leaked key. An
// empty object is "": no metadata. Two objects that mean the same are the
// same metadata, so that a change that changes nothing is seen as such.
func ParseMetadata(raw []byte) (string, error) {
	if !utf8.Valid(raw) {
		return "", fmt.Errorf("must be valid UTF-8")
	}
	if !json.Valid(raw) {
		return "", fmt.Errorf("must be a JSON object")
	}
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return "", fmt.Errorf("must be a JSON object")
	}
	if err := checkJSONShape(raw); err != nil {
		return "", err
	}
	var v map[string]any
	if err := decodeNumbers(raw, &v); err != nil {
		return "", fmt.Errorf("must be a JSON object")
	}
	b, err := encodeCanonical(v)
	if err != nil {
		return "", fmt.Errorf("must be a JSON object")
	}
	if len(b) > MaxMetadataSize {
		return "", fmt.Errorf("must be at most %d bytes encoded, not %d", MaxMetadataSize, len(b))
	}
	if secretInText.Match(b) {
		return "", errSecretInMetadata
	}
	if string(b) == "{}" {
		return "", nil
	}
	return string(b), nil
}

var errSecretInMetadata = fmt.Errorf("must not contain anything shaped like an API key (%s followed by 49 letters and digits), which secret scanners would report as a leaked key", SecretPrefix)

// encodeCanonical writes v compact, members in name order, without
// encoding/json's HTML escapes.
func encodeCanonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkJSONShape walks a valid JSON document and refuses one nested
// deeper than MaxMetadataDepth or with a member name twice in one object.
func checkJSONShape(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		names  map[string]bool // nil for an array
		expect bool            // in an object, the next string is a name
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("must be a JSON object")
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if top >= 0 && stack[top].names != nil {
					stack[top].expect = true
				}
				if len(stack) == MaxMetadataDepth {
					return fmt.Errorf("must nest at most %d levels deep", MaxMetadataDepth)
				}
				f := frame{}
				if t == '{' {
					f = frame{names: map[string]bool{}, expect: true}
				}
				stack = append(stack, f)
			default:
				stack = stack[:top]
				if top > 0 && stack[top-1].names != nil {
					stack[top-1].expect = true
				}
			}
		case string:
			if secretInText.MatchString(t) {
				return errSecretInMetadata
			}
			if top >= 0 && stack[top].names != nil && stack[top].expect {
				if stack[top].names[t] {
					return fmt.Errorf("must not give the member %s twice in one object", quoteShort(t))
				}
				stack[top].names[t] = true
				stack[top].expect = false
				continue
			}
			if top >= 0 && stack[top].names != nil {
				stack[top].expect = true
			}
		default:
			if top >= 0 && stack[top].names != nil {
				stack[top].expect = true
			}
		}
	}
}

// quoteShort quotes a member name for an error, or describes a long one.
func quoteShort(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("(a name of %d bytes)", len(s))
}

// MergeMetadata applies an RFC 7396 merge patch to metadata (as
// ParseMetadata returns it) and returns the result, validated as
// ParseMetadata does. A null patch removes every member; an object merges
// member by member, null members removing what they name.
func MergeMetadata(metadata string, patch []byte) (string, error) {
	patch = bytes.TrimSpace(patch)
	if string(patch) == "null" {
		return "", nil
	}
	if len(patch) == 0 || patch[0] != '{' {
		return "", fmt.Errorf("must be a JSON object, or null to remove all metadata")
	}
	if _, err := ParseMetadataPatch(patch); err != nil {
		return "", err
	}
	var target, p map[string]any
	if metadata != "" {
		if err := decodeNumbers([]byte(metadata), &target); err != nil {
			return "", fmt.Errorf("stored metadata: %w", err)
		}
	}
	if err := decodeNumbers(patch, &p); err != nil {
		return "", fmt.Errorf("must be a JSON object")
	}
	merged, err := encodeCanonical(mergePatch(target, p))
	if err != nil {
		return "", fmt.Errorf("must be a JSON object")
	}
	return ParseMetadata(merged)
}

// ParseMetadataPatch checks a merge patch of metadata as ParseMetadata
// checks metadata, but for its size: a patch that removes much may be
// larger than what it leaves.
func ParseMetadataPatch(patch []byte) (string, error) {
	if !utf8.Valid(patch) {
		return "", fmt.Errorf("must be valid UTF-8")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, patch); err != nil || buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return "", fmt.Errorf("must be a JSON object, or null to remove all metadata")
	}
	if err := checkJSONShape(buf.Bytes()); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// mergePatch is RFC 7396's MergePatch for a patch that is an object.
func mergePatch(target any, patch map[string]any) map[string]any {
	t, ok := target.(map[string]any)
	if !ok || t == nil {
		t = map[string]any{}
	}
	for name, v := range patch {
		switch v := v.(type) {
		case nil:
			delete(t, name)
		case map[string]any:
			t[name] = mergePatch(t[name], v)
		default:
			t[name] = v
		}
	}
	return t
}

// MaxGracePeriod bounds how long a rotated key's previous secret keeps
// verifying.
const MaxGracePeriod = 7 * 24 * time.Hour

// ParseGracePeriod reads a rotation's grace period: a Go duration ("90s",
// "1h30m") or a whole number of days ("7d"), from 0 to MaxGracePeriod.
func ParseGracePeriod(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" && !strings.ContainsAny(days, "+-.") {
		n, err := strconv.Atoi(days)
		if err != nil || n > int(MaxGracePeriod/(24*time.Hour)) {
			return 0, fmt.Errorf("must be a duration from 0s to 7d, such as \"90s\", \"24h\" or \"7d\"")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("must be a duration from 0s to 7d, such as \"90s\", \"24h\" or \"7d\"")
		}
	}
	if d < 0 || d > MaxGracePeriod {
		return 0, fmt.Errorf("must be a duration from 0s to 7d, such as \"90s\", \"24h\" or \"7d\"")
	}
	return d, nil
}

// checkExpiry refuses an expiry that is not after now, or past the year
// 9999, which RFC 3339 cannot write.
func checkExpiry(t *time.Time, now time.Time) *FieldError {
	switch {
	case t == nil:
		return nil
	case !t.After(now):
		return &FieldError{Field: "expires_at", Reason: "must be in the future"}
	case t.UTC().Year() > 9999:
		return &FieldError{Field: "expires_at", Reason: "must be before the year 10000"}
	}
	return nil
}

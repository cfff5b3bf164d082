package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/keyward/keyward"
)

// maxBodyBytes caps every request body.
const maxBodyBytes = 64 << 10

// encode writes v as JSON with the given status. Headers must be set before.
func encode(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, r, fmt.Errorf("encode response: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// decodeWrite reads the JSON body of a POST that writes into dst: it must
// be JSON by content type, at most maxBodyBytes, one object with no
// unknown fields and no trailing data (the error says what is wrong: a
// 400, 413 or 415). It also reads the request's Idempotency-Key header, if
// there is one, and returns the Retry that makes the write idempotent,
// with the fingerprint of the request (method, path and body) that a
// repeat must match.
func decodeWrite(w http.ResponseWriter, r *http.Request, dst any) (*keyward.Retry, error) {
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	if err := decodeStrict(body, dst); err != nil {
		return nil, err
	}
	values := r.Header.Values("Idempotency-Key")
	switch len(values) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, keyward.Invalid("invalid request", keyward.FieldError{Field: "Idempotency-Key", Reason: "must be given once"})
	}
	key, err := keyward.ParseIdempotencyKey(values[0])
	if err != nil {
		return nil, keyward.Invalid("invalid request", keyward.FieldError{Field: "Idempotency-Key", Reason: err.Error()})
	}
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	h.Write(body)
	retry := &keyward.Retry{Key: key}
	h.Sum(retry.Request[:0])
	return retry, nil
}

// readBody reads a JSON body: it must be JSON by content type and at most
// maxBodyBytes. The error says what is wrong (a 400, 413 or 415).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if !isJSON(r.Header.Get("Content-Type")) {
		return nil, errStatus(http.StatusUnsupportedMediaType, "the request body must be JSON (Content-Type: application/json)")
	}
	return readRaw(w, r)
}

// readRaw reads a body of at most maxBodyBytes, whatever its type. The
// error says what is wrong (a 400 or 413).
func readRaw(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	var body []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= maxBodyBytes {
		// The length is known and allowed (net/http will not read past
		// it): one read into a buffer of that size.
		body = make([]byte, n)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, errStatus(http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body must be at most %d bytes", maxBodyBytes))
	case err != nil:
		return nil, errStatus(http.StatusBadRequest, "the request body could not be read")
	}
	return body, nil
}

// decodeStrict unmarshals one JSON object and explains any failure as an
// EINVALID *keyward.Error naming the bad field. Every name must be spelled
// exactly as dst's field and given once (checkNames), so that the request
// Keyward acts on is the one any other parser reads. Messages never quote
// the body's values, which may hold a secret.
func decodeStrict(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return keyward.Invalid("the request body is required")
	}
	if err := checkNames(body, reflect.TypeOf(dst)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		if _, err := dec.Token(); err != io.EOF {
			return keyward.Invalid("the request body must hold exactly one JSON object")
		}
		return nil
	case errors.As(err, &syntax):
		return keyward.Invalid(fmt.Sprintf("the request body is not valid JSON (at byte %d)", syntax.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return keyward.Invalid("the request body is not valid JSON (it ends too early)")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return keyward.Invalid("the request body must be a JSON object")
		}
		return keyward.Invalid("invalid request", keyward.FieldError{Field: typ.Field, Reason: "must be " + jsonTypeName(typ.Type)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// checkNames refuses unknown names first; this is a second line.
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return keyward.Invalid("invalid request", keyward.FieldError{Field: fieldLabel(field), Reason: "is not a known field"})
	default:
		return keyward.Invalid("the request body is not valid JSON")
	}
}

// jsonTypeName says which JSON type a Go type is decoded from.
func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(jsonTypeName(t.Elem()), "a "), "an ") + "s"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	default:
		return "an object"
	}
}

// isJSON reports whether a Content-Type names JSON (application/json or a
// +json type, any parameters).
func isJSON(contentType string) bool {
	if contentType == "application/json" {
		return true // as nearly every client sends it: no parsing
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

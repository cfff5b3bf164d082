package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The codes of Error: the kinds of problem Keyward answers with, the last
// part of the problem document's type (urn:keyward:problem:<code>).
const (
	CodeInvalid              = "invalid"                // 400
	CodeUnauthorized         = "unauthorized"           // 401
	CodeForbidden            = "forbidden"              // 403
	CodeNotFound             = "not-found"              // 404
	CodeMethodNotAllowed     = "method-not-allowed"     // 405
	CodeConflict             = "conflict"               // 409
	CodePreconditionFailed   = "precondition-failed"    // 412
	CodePayloadTooLarge      = "payload-too-large"      // 413
	CodeUnsupportedMediaType = "unsupported-media-type" // 415
	CodeUnprocessable        = "unprocessable"          // 422
	CodeTooManyRequests      = "too-many-requests"      // 429
	CodeInternal             = "internal"               // 500
	CodeUnavailable          = "unavailable"            // 503
)

// problemTypePrefix starts the type of every problem Keyward answers with.
const problemTypePrefix = "urn:keyward:problem:"

// Error is an answer of Keyward's other than a success: its problem
// document (RFC 9457), decoded. Branch on Code (or Status); Detail is for
// people. Use errors.As to get it from an error a method returned.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Type is the problem's type, such as "urn:keyward:problem:not-found".
	Type string
	// Code is Type's last part, such as CodeNotFound; for an answer that
	// was not a Keyward problem document (a proxy's page), the code its
	// status would have.
	Code string
	// Title and Detail say what went wrong: Title the same for every
	// occurrence, Detail this one. Keyward never puts a secret in either.
	Title, Detail string
	// Instance is the path the problem occurred at.
	Instance string
	// RequestID is the request's X-Request-Id, to quote when reporting a
	// problem: Keyward logs it with the error.
	RequestID string
	// Fields lists each bad field of a 400.
	Fields []FieldError
	// RetryAfter is how long the answer asked to wait (a 429 or a 503).
	RetryAfter time.Duration
	// Method and Path are the request's.
	Method, Path string

	retryAfterGiven bool
}

// FieldError is one bad input field of a 400, and what is wrong with it.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// Error says what failed: the request, the status, the code, the detail,
// each bad field and the request id. It holds nothing the client sent.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("keyward: ")
	if e.Method != "" {
		fmt.Fprintf(&b, "%s %s: ", e.Method, e.Path)
	}
	fmt.Fprintf(&b, "%d %s", e.Status, e.Code)
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", f.Field, f.Reason)
		if i == len(e.Fields)-1 {
			b.WriteString(")")
		}
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request %s]", e.RequestID)
	}
	return b.String()
}

// ErrorCode returns the Code of the *Error in err's chain, or "" if there
// is none (a connection that failed, a context that ended).
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// codeOfStatus is the code of a status, for answers that are not problem
// documents.
var codeOfStatus = map[int]string{
	http.StatusBadRequest:            CodeInvalid,
	http.StatusUnauthorized:          CodeUnauthorized,
	http.StatusForbidden:             CodeForbidden,
	http.StatusNotFound:              CodeNotFound,
	http.StatusMethodNotAllowed:      CodeMethodNotAllowed,
	http.StatusConflict:              CodeConflict,
	http.StatusPreconditionFailed:    CodePreconditionFailed,
	http.StatusRequestEntityTooLarge: CodePayloadTooLarge,
	http.StatusUnsupportedMediaType:  CodeUnsupportedMediaType,
	http.StatusUnprocessableEntity:   CodeUnprocessable,
	http.StatusTooManyRequests:       CodeTooManyRequests,
	http.StatusInternalServerError:   CodeInternal,
	http.StatusBadGateway:            CodeUnavailable,
	http.StatusServiceUnavailable:    CodeUnavailable,
	http.StatusGatewayTimeout:        CodeUnavailable,
}

// newError decodes the answer of a failed request. A body that is not a
// problem document (a proxy's HTML page) is not quoted: only its status is
// kept.
func newError(method, path string, resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode, Method: method, Path: path}
	var p struct {
		Type      string       `json:"type"`
		Title     string       `json:"title"`
		Status    int          `json:"status"`
		Detail    string       `json:"detail"`
		Instance  string       `json:"instance"`
		RequestID string       `json:"request_id"`
		Errors    []FieldError `json:"errors"`
	}
	if isProblem(resp.Header.Get("Content-Type")) && json.Unmarshal(body, &p) == nil {
		e.Type, e.Title, e.Detail, e.Instance, e.RequestID, e.Fields = p.Type, p.Title, p.Detail, p.Instance, p.RequestID, p.Errors
	}
	if code, ok := strings.CutPrefix(e.Type, problemTypePrefix); ok {
		e.Code = code
	} else {
		e.Code = codeOfStatus[e.Status]
		if e.Code == "" {
			e.Code = strings.ToLower(strings.ReplaceAll(http.StatusText(e.Status), " ", "-"))
		}
	}
	if e.Title == "" {
		e.Title = http.StatusText(e.Status)
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Request-Id")
	}
	e.RetryAfter, e.retryAfterGiven = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return e
}

// isProblem reports whether a Content-Type is a JSON document: Keyward's
// problems are application/problem+json.
func isProblem(ct string) bool {
	ct, _, _ = strings.Cut(ct, ";")
	ct = strings.TrimSpace(strings.ToLower(ct))
	return ct == "application/problem+json" || ct == "application/json"
}

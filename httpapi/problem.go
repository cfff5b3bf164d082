package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/keyward/keyward"
)

// problem is an RFC 9457 problem detail. Type is a URN naming the kind of
// problem; Errors lists each bad field of a 400.
type problem struct {
	Type      string               `json:"type"`
	Title     string               `json:"title"`
	Status    int                  `json:"status"`
	Detail    string               `json:"detail"`
	Instance  string               `json:"instance,omitempty"`
	RequestID string               `json:"request_id,omitempty"`
	Errors    []keyward.FieldError `json:"errors,omitempty"`
}

// problemTypes names the type URN of each status we answer with.
var problemTypes = map[int]string{
	http.StatusBadRequest:            "urn:keyward:problem:invalid",
	http.StatusUnauthorized:          "urn:keyward:problem:unauthorized",
	http.StatusForbidden:             "urn:keyward:problem:forbidden",
	http.StatusNotFound:              "urn:keyward:problem:not-found",
	http.StatusMethodNotAllowed:      "urn:keyward:problem:method-not-allowed",
	http.StatusConflict:              "urn:keyward:problem:conflict",
	http.StatusPreconditionFailed:    "urn:keyward:problem:precondition-failed",
	http.StatusUnprocessableEntity:   "urn:keyward:problem:unprocessable",
	http.StatusRequestEntityTooLarge: "urn:keyward:problem:payload-too-large",
	http.StatusUnsupportedMediaType:  "urn:keyward:problem:unsupported-media-type",
	http.StatusTooManyRequests:       "urn:keyward:problem:too-many-requests",
	http.StatusServiceUnavailable:    "urn:keyward:problem:unavailable",
	http.StatusInternalServerError:   "urn:keyward:problem:internal",
}

// statusOf is the one mapping from domain error codes to HTTP statuses.
func statusOf(code string) int {
	switch code {
	case keyward.EINVALID:
		return http.StatusBadRequest
	case keyward.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case keyward.EFORBIDDEN:
		return http.StatusForbidden
	case keyward.ENOTFOUND:
		return http.StatusNotFound
	case keyward.ECONFLICT:
		return http.StatusConflict
	case keyward.EUNPROCESSABLE:
		return http.StatusUnprocessableEntity
	case keyward.EPRECONDITION:
		return http.StatusPreconditionFailed
	case keyward.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case keyward.ETHROTTLED:
		return http.StatusTooManyRequests
	default:
		return http.StatusInternalServerError
	}
}

// retryAfterSeconds is what a 503 asks the client to wait.
const retryAfterSeconds = 1

// statusClientClosed is the status logged for a request whose client went
// away before the answer (nginx's 499): nobody reads the answer, and it is
// no fault of the server's.
const statusClientClosed = 499

// httpError is a problem of HTTP's own rather than the domain's: a body
// too large, a media type, a route or a path that names nothing.
type httpError struct {
	status int
	detail string
	fields []keyward.FieldError
}

func (e *httpError) Error() string { return e.detail }

// errStatus returns an httpError.
func errStatus(status int, detail string, fields ...keyward.FieldError) error {
	return &httpError{status: status, detail: detail, fields: fields}
}

// writeError is the one way a handler answers with an error: the problem
// document err stands for, with the status its code maps to. The request's
// log line (see observe) carries err for a 5xx; a 500 shows the client
// only "internal error", and domain messages never contain a secret. If
// the request failed because its client went away (its context ended),
// nothing is written, and the request is logged as a 499, not as a failure
// of the server; any other failure is reported as it is.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		noteOutcome(w, statusClientClosed, err)
		return
	}
	status, detail, fields := statusOf(keyward.ErrorCode(err)), keyward.ErrorMessage(err), keyward.ErrorFields(err)
	if e, ok := errors.AsType[*httpError](err); ok {
		status, detail, fields = e.status, e.detail, e.fields
	}
	switch status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	case http.StatusUnauthorized:
		if w.Header().Get("WWW-Authenticate") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
		}
	}
	noteOutcome(w, status, err)
	writeProblem(w, r, status, detail, fields)
}

// noteOutcome tells observe, through the response writer it gave the
// handler, the error a request failed with, for its log line.
func noteOutcome(w http.ResponseWriter, status int, err error) {
	if sw, ok := w.(*statusWriter); ok {
		sw.err = err
		if status == statusClientClosed {
			sw.status = status
		}
	}
}

// writeProblem writes a problem+json response with the given status.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail string, fields []keyward.FieldError) {
	p := problem{
		Type:      problemTypes[status],
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    detail,
		Instance:  r.URL.Path,
		RequestID: requestID(w),
		Errors:    fields,
	}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	body, err := json.Marshal(p)
	if err != nil { // cannot happen: every field is a plain value
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"internal error"}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

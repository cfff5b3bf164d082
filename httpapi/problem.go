package httpapi

import (
	"encoding/json"
	"log/slog"
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
	http.StatusRequestEntityTooLarge: "urn:keyward:problem:payload-too-large",
	http.StatusUnsupportedMediaType:  "urn:keyward:problem:unsupported-media-type",
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
	case keyward.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// retryAfterSeconds is what a 503 asks the client to wait.
const retryAfterSeconds = 1

// writeError answers with the problem err stands for. Internal errors are
// logged with the request id and shown to the client only as "internal
// error"; domain messages never contain a secret.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := keyward.ErrorCode(err)
	status := statusOf(code)
	switch status {
	case http.StatusInternalServerError:
		logger.ErrorContext(r.Context(), "internal error", "request_id", requestID(w), "route", r.Pattern, "err", err)
	case http.StatusServiceUnavailable:
		logger.WarnContext(r.Context(), "dependency unavailable", "request_id", requestID(w), "route", r.Pattern, "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
	}
	writeProblem(w, r, status, keyward.ErrorMessage(err), keyward.ErrorFields(err))
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

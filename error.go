package keyward

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to exactly one HTTP status in package httpapi.
const (
	EINVALID      = "invalid"      // the request is malformed or fails validation
	ENOTFOUND     = "not_found"    // no such thing, or not visible to the caller
	EUNAUTHORIZED = "unauthorized" // no credential, or one that does not verify
	EFORBIDDEN    = "forbidden"    // a valid credential without the needed permission
	ECONFLICT     = "conflict"     // the write collides with existing state
	// EUNPROCESSABLE: the request is well-formed but contradicts an earlier
	// one it claims to repeat (an idempotency key given again with another
	// request).
	EUNPROCESSABLE = "unprocessable"
	// EPRECONDITION: a conditional write (If-Match) found the key changed
	// since the version it names.
	EPRECONDITION = "precondition_failed"
	EUNAVAILABLE  = "unavailable" // a dependency (the database) cannot be reached
	EINTERNAL     = "internal"    // a fault of ours; details are logged, never shown

	// ETHROTTLED: the client failed too often (unknown keys, refused
	// credentials) and must wait before it tries again.
	ETHROTTLED = "throttled"
)

// Error is the one error type the domain returns to its callers. Its Message
// is safe to show to a client; it never contains a secret.
type Error struct {
	Code    string
	Message string
	// Fields lists each bad input and why, for EINVALID.
	Fields []FieldError
	// Err is the underlying cause, for logs only.
	Err error
}

// FieldError names one bad input field and says what is wrong with it.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause, so errors.Is sees through an *Error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error listing each bad field.
func Invalid(message string, fields ...FieldError) *Error {
	return &Error{Code: EINVALID, Message: message, Fields: fields}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e != nil && e.Code != "" {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of the first *Error in err's
// chain, or "internal error" for anything else, so that no internal detail
// reaches a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e != nil && e.Code != EINTERNAL && e.Code != "" {
		return e.Message
	}
	return "internal error"
}

// ErrorFields returns the field errors of the first *Error in err's chain.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e.Fields
	}
	return nil
}

package keyward_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// errDisk stands for an internal cause whose text must never reach a client.
var errDisk = errors.New("open /var/lib/keyward/keyward.db: permission denied")

func TestErrorCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"*Error", keyward.Errorf(keyward.ENOTFOUND, "no such key"), keyward.ENOTFOUND},
		{"*Error with cause", &keyward.Error{Code: keyward.EUNAVAILABLE, Message: "database down", Err: errDisk}, keyward.EUNAVAILABLE},
		{"wrapped *Error", fmt.Errorf("delete key: %w", keyward.Errorf(keyward.ECONFLICT, "taken")), keyward.ECONFLICT},
		{"twice wrapped *Error", fmt.Errorf("a: %w", fmt.Errorf("b: %w", keyward.Errorf(keyward.EFORBIDDEN, "no"))), keyward.EFORBIDDEN},
		{"joined with a plain error", errors.Join(errDisk, keyward.Errorf(keyward.EUNAUTHORIZED, "who")), keyward.EUNAUTHORIZED},
		{"outer *Error wins", &keyward.Error{Code: keyward.ENOTFOUND, Message: "m", Err: keyward.Errorf(keyward.EINVALID, "inner")}, keyward.ENOTFOUND},
		{"Invalid", keyward.Invalid("bad request"), keyward.EINVALID},
		{"plain error", errDisk, keyward.EINTERNAL},
		{"wrapped plain error", fmt.Errorf("create key: %w", errDisk), keyward.EINTERNAL},
		{"context canceled", context.Canceled, keyward.EINTERNAL},
		{"error wrapped with %v loses its code", fmt.Errorf("x: %v", keyward.Errorf(keyward.ENOTFOUND, "m")), keyward.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keyward.ErrorCode(tt.err); got != tt.want {
				t.Fatalf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"*Error", keyward.Errorf(keyward.ENOTFOUND, "key %s not found", "key-456"), "key key-456 not found"},
		{"wrapped *Error", fmt.Errorf("get key: %w", keyward.Errorf(keyward.EFORBIDDEN, "lacks manage")), "lacks manage"},
		{"*Error with cause shows only its message",
			&keyward.Error{Code: keyward.EUNAVAILABLE, Message: "try again later", Err: errDisk}, "try again later"},
		{"Invalid", keyward.Invalid("name is required"), "name is required"},
		{"EINTERNAL *Error", keyward.Errorf(keyward.EINTERNAL, "sqlite: database is locked"), "internal error"},
		{"wrapped EINTERNAL *Error", fmt.Errorf("x: %w", keyward.Errorf(keyward.EINTERNAL, "stack: y")), "internal error"},
		{"EINTERNAL wrapping a client error",
			&keyward.Error{Code: keyward.EINTERNAL, Message: "secret detail", Err: keyward.Errorf(keyward.ENOTFOUND, "nf")}, "internal error"},
		{"plain error", errDisk, "internal error"},
		{"wrapped plain error", fmt.Errorf("create key: %w", errDisk), "internal error"},
		{"path error", &fs.PathError{Op: "open", Path: "/etc/keyward", Err: fs.ErrPermission}, "internal error"},
		{"nil", nil, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := keyward.ErrorMessage(tt.err)
			if got != tt.want {
				t.Fatalf("ErrorMessage(%v) = %q, want %q", tt.err, got, tt.want)
			}
			if strings.Contains(got, "permission denied") || strings.Contains(got, "/var/lib") ||
				strings.Contains(got, "secret detail") || strings.Contains(got, "sqlite") {
				t.Fatalf("ErrorMessage(%v) = %q shows an internal detail", tt.err, got)
			}
		})
	}
}

func TestErrorUnwrap(t *testing.T) {
	inner := keyward.Errorf(keyward.EINVALID, "inner")
	tests := []struct {
		name   string
		err    error
		target error
	}{
		{"cause", &keyward.Error{Code: keyward.EUNAVAILABLE, Message: "m", Err: errDisk}, errDisk},
		{"wrapped cause", fmt.Errorf("ping: %w", &keyward.Error{Code: keyward.EUNAVAILABLE, Message: "m", Err: context.DeadlineExceeded}),
			context.DeadlineExceeded},
		{"cause of a cause", &keyward.Error{Code: keyward.EINTERNAL, Message: "m", Err: fmt.Errorf("q: %w", fs.ErrNotExist)}, fs.ErrNotExist},
		{"inner *Error", &keyward.Error{Code: keyward.ENOTFOUND, Message: "m", Err: inner}, inner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.target) {
				t.Fatalf("errors.Is(%v, %v) = false", tt.err, tt.target)
			}
			var e *keyward.Error
			if !errors.As(tt.err, &e) {
				t.Fatalf("errors.As(%v, *Error) = false", tt.err)
			}
		})
	}
	t.Run("no cause", func(t *testing.T) {
		e := keyward.Errorf(keyward.ENOTFOUND, "m")
		if e.Unwrap() != nil {
			t.Fatalf("Unwrap() = %v, want nil", e.Unwrap())
		}
		if errors.Is(e, errDisk) {
			t.Fatal("errors.Is matched an unrelated error")
		}
	})
}

func TestErrorError(t *testing.T) {
	tests := []struct {
		name string
		err  *keyward.Error
		want string
	}{
		{"without cause", keyward.Errorf(keyward.ENOTFOUND, "key %d not found", 7), "not_found: key 7 not found"},
		{"with cause", &keyward.Error{Code: keyward.EUNAVAILABLE, Message: "database down", Err: errDisk},
			"unavailable: database down: " + errDisk.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Fatalf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorf(t *testing.T) {
	e := keyward.Errorf(keyward.EFORBIDDEN, "this API key lacks the %q permission", keyward.PermManage)
	if e.Code != keyward.EFORBIDDEN || e.Message != `this API key lacks the "manage" permission` {
		t.Fatalf("Errorf = %+v", e)
	}
	if e.Err != nil || e.Fields != nil {
		t.Fatalf("Errorf set a cause or fields: %+v", e)
	}
}

func TestInvalid(t *testing.T) {
	name := keyward.FieldError{Field: "name", Reason: "is required"}
	perms := keyward.FieldError{Field: "permissions", Reason: "must list at least one"}
	tests := []struct {
		name   string
		err    error
		want   []keyward.FieldError
		wantOK bool
	}{
		{"no fields", keyward.Invalid("bad request"), nil, true},
		{"one field", keyward.Invalid("bad request", name), []keyward.FieldError{name}, true},
		{"two fields in order", keyward.Invalid("bad request", name, perms), []keyward.FieldError{name, perms}, true},
		{"wrapped", fmt.Errorf("create key: %w", keyward.Invalid("bad request", perms)), []keyward.FieldError{perms}, true},
		{"not an *Error", errDisk, nil, false},
		{"nil", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keyward.ErrorFields(tt.err); !slices.Equal(got, tt.want) {
				t.Fatalf("ErrorFields = %+v, want %+v", got, tt.want)
			}
			if !tt.wantOK {
				return
			}
			if code := keyward.ErrorCode(tt.err); code != keyward.EINVALID {
				t.Fatalf("ErrorCode = %q, want %q", code, keyward.EINVALID)
			}
			if msg := keyward.ErrorMessage(tt.err); msg != "bad request" {
				t.Fatalf("ErrorMessage = %q, want %q", msg, "bad request")
			}
		})
	}
}

func TestFieldErrorJSON(t *testing.T) {
	got := mustJSON(t, keyward.FieldError{Field: "name", Reason: "is required"})
	if want := `{"field":"name","reason":"is required"}`; got != want {
		t.Fatalf("json.Marshal(FieldError) = %s, want %s", got, want)
	}
}

func TestErrorCodesDistinct(t *testing.T) {
	codes := []string{keyward.EINVALID, keyward.ENOTFOUND, keyward.EUNAUTHORIZED, keyward.EFORBIDDEN,
		keyward.ECONFLICT, keyward.EUNAVAILABLE, keyward.EINTERNAL}
	seen := map[string]bool{}
	for _, c := range codes {
		if c == "" || seen[c] {
			t.Fatalf("error code %q is empty or repeated", c)
		}
		seen[c] = true
	}
}

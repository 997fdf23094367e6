// Package hub holds the hub's domain types and service interfaces. It imports only the standard
// library; adapters live in subpackages (postgres, web, jobs, live) and cmd/hub wires them.
package hub

import (
	"errors"
	"fmt"
)

// Error codes, shared with the HTTP error shape of CONTRACT.md.
const (
	EINVALID      = "invalid"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ENOTFOUND     = "not_found"
	ECONFLICT     = "conflict"
	ERATELIMITED  = "rate_limited"
	EINTERNAL     = "internal"
	// EUNPROCESSABLE is an invalid request whose form is right but whose content breaks a rule
	// (the completion gate, say). It maps to 422; EINVALID maps to 400.
	EUNPROCESSABLE = "unprocessable"
)

// Error is the one domain error type: a code, a message that is safe to show, and optional field
// messages. Anything that is not an *Error is internal and is logged, never shown.
type Error struct {
	Code    string
	Message string
	Fields  map[string]string
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s %v", e.Code, e.Message, e.Fields)
}

// Errorf builds an *Error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid builds a validation error with field messages.
func Invalid(fields map[string]string) *Error {
	return &Error{Code: EINVALID, Message: "the request has invalid fields", Fields: fields}
}

// ErrorCode returns the code of an *Error in err's chain, or EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// Fields collects field validation messages; Err returns nil when none were added.
type Fields map[string]string

// Add records a message for a field, keeping the first message per field.
func (f Fields) Add(field, msg string) {
	if _, ok := f[field]; !ok {
		f[field] = msg
	}
}

// Err returns an invalid *Error carrying the messages, or nil.
func (f Fields) Err() error {
	if len(f) == 0 {
		return nil
	}
	return Invalid(f)
}

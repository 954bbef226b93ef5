package model

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. Clients switch on it, so a
// code never changes meaning once released.
type Code string

// The error codes. api/errors.go maps each one to an HTTP status.
const (
	EMalformed        Code = "malformed"         // the request body is not valid JSON or has unknown fields
	EInvalid          Code = "invalid"           // a field failed validation; Fields names it
	EUnsupportedMedia Code = "unsupported_media" // the body is not application/json
	ETooLarge         Code = "too_large"         // the body exceeds MaxRequestBytes
	EUnauthenticated  Code = "unauthenticated"   // no, bad or expired credentials
	EForbidden        Code = "forbidden"         // authenticated, but not allowed
	ENotFound         Code = "not_found"         // does not exist, or the caller may not know it exists
	EConflict         Code = "conflict"          // clashes with the current state (duplicate name, …)
	ERateLimited      Code = "rate_limited"      // too many requests; retry later
	EUnavailable      Code = "unavailable"       // the server is shutting down; retry, maybe elsewhere
	EInternal         Code = "internal"          // our fault; details are logged, never shown
)

// Codes lists every Code, so tests can check that each one is mapped.
var Codes = []Code{
	EMalformed, EInvalid, EUnsupportedMedia, ETooLarge, EUnauthenticated,
	EForbidden, ENotFound, EConflict, ERateLimited, EUnavailable, EInternal,
}

// Error is a failure the caller can act on. Message is shown to users
// verbatim; Fields holds per-field problems and is set only with EInvalid.
type Error struct {
	Code    Code
	Message string
	Fields  map[string]string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EInvalid error about one field.
func FieldError(field, problem string) *Error {
	return &Error{Code: EInvalid, Message: field + ": " + problem, Fields: map[string]string{field: problem}}
}

// ErrorCode returns the code of the *Error in err's chain, or EInternal when
// there is none. A nil err has no code.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

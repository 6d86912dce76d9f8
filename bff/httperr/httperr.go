// Package httperr is the one typed error the bff's handlers return: a stable code, an HTTP status,
// a message that is safe to show a client, per-field problems for forms, and the internal cause
// (logged, never sent).
package httperr

import (
	"errors"
	"fmt"
	"net/http"
)

// Stable error codes. Codes that match the reference keep its number (ERR_EDGEWAY_1212 is the
// reference's 1212); codes of our own are named.
const (
	CodeInternal           = "ERR_EDGEWAY_INTERNAL"
	CodeNotFound           = "ERR_EDGEWAY_NOT_FOUND"
	CodeMethodNotAllowed   = "ERR_EDGEWAY_METHOD_NOT_ALLOWED"
	CodeValidation         = "ERR_EDGEWAY_VALIDATION"
	CodeInvalidJSON        = "ERR_EDGEWAY_INVALID_JSON"
	CodeUnsupportedMedia   = "ERR_EDGEWAY_UNSUPPORTED_MEDIA_TYPE"
	CodeBodyTooLarge       = "ERR_EDGEWAY_BODY_TOO_LARGE"
	CodeUnauthorized       = "ERR_EDGEWAY_UNAUTHORIZED"
	CodeForbidden          = "ERR_EDGEWAY_FORBIDDEN"
	CodeCSRF               = "ERR_EDGEWAY_CSRF"
	CodeVersionMissing     = "ERR_EDGEWAY_VERSION_MISSING"
	CodeVersionUnsupported = "ERR_EDGEWAY_VERSION_UNSUPPORTED"
	CodeInvalidPagination  = "ERR_EDGEWAY_INVALID_PAGINATION"
	CodeEmailTaken         = "ERR_EDGEWAY_EMAIL_TAKEN"
	CodeBadCredentials     = "ERR_EDGEWAY_BAD_CREDENTIALS"
	CodeLoginThrottled     = "ERR_EDGEWAY_LOGIN_THROTTLED"
	CodeRateLimited        = "ERR_EDGEWAY_RATE_LIMITED"
	CodeUnavailable        = "ERR_EDGEWAY_UNAVAILABLE"
)

// Error is an error with everything a handler needs to answer a client.
type Error struct {
	Status  int               // HTTP status
	Code    string            // stable error code
	Msg     string            // client-safe message that says what to fix
	Fields  map[string]string // per-field problems (form and JSON field name -> message)
	Details map[string]any    // extra client-safe details for the JSON body
	Err     error             // internal cause: logged, never sent
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Msg, e.Err)
	}
	return e.Code + ": " + e.Msg
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with a status, code and message.
func New(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Msg: msg}
}

// Wrap returns an Error with an internal cause.
func Wrap(err error, status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Msg: msg, Err: err}
}

// Internal wraps an unexpected error as a 500 without leaking it.
func Internal(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
		Msg: "Something went wrong on our side. The problem was logged; please try again.", Err: err}
}

// Validation returns a 400 with per-field problems. msg summarises them.
func Validation(msg string, fields map[string]string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeValidation, Msg: msg, Fields: fields}
}

// NotFound returns a 404 naming what was not found.
func NotFound(what string) *Error {
	return New(http.StatusNotFound, CodeNotFound, what+" was not found.")
}

// As returns err as an *Error when it is one (or wraps one).
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

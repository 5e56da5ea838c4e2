// Package errs holds the one error type the service returns to people: a
// code from a small set, the field at fault when there is one, and a message
// meant for a person. Transports map codes to status codes in one place.
package errs

import (
	"errors"
	"fmt"
)

// Code classifies an error for transports and callers.
type Code string

// The codes an Error may carry.
const (
	Invalid      Code = "invalid"                // the input is wrong; nothing was applied
	NotFound     Code = "not_found"              // a named thing does not exist
	Conflict     Code = "conflict"               // the request contradicts the current state
	Unauthorized Code = "unauthorized"           // no or unknown credentials
	Forbidden    Code = "forbidden"              // the caller may not do this
	TooLarge     Code = "too_large"              // the request body or file is over its limit
	Unsupported  Code = "unsupported_media_type" // the body is of a type the route does not take
	Unavailable  Code = "unavailable"            // a dependency is down; try again later
	Internal     Code = "internal"               // a fault of ours; details are logged, not shown
)

// Error is an error meant to be shown to the person who caused it.
type Error struct {
	Code    Code
	Field   string // dotted path of the offending field, when there is one
	Message string
}

// Error renders "field: message" or just the message.
func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// E builds an Error with a formatted message and no field.
func E(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Field builds an Invalid error naming the field at fault.
func Field(field, format string, args ...any) *Error {
	return &Error{Code: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of the first Error in err's chain, Internal when
// there is none, and "" for a nil error.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries the given code.
func Is(err error, code Code) bool { return err != nil && CodeOf(err) == code }

// MessageOf returns the person-readable message of err: the Error's text
// when it has one, "internal error" otherwise, so that internals never leak.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return "internal error"
}

// Wrap adds what was being done to an unexpected error; an error meant for
// the caller (invalid, not found, conflict, forbidden...) passes as it is,
// so that its code and message reach them unchanged.
func Wrap(err error, format string, args ...any) error {
	if err == nil || CodeOf(err) != Internal {
		return err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/ofii/allowances/internal/errs"
)

// The exit statuses of the commands.
const (
	ExitOK      = 0 // the command did what was asked
	ExitFailure = 1 // it failed, or what it checked is not right
	ExitUsage   = 2 // the command line or the input is wrong; nothing was done
)

// UsageError is a mistake in the command line: an unknown command or flag,
// a missing argument, a malformed flag value.
type UsageError struct{ Err error }

// Error returns the message of the mistake.
func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the mistake.
func (e *UsageError) Unwrap() error { return e.Err }

// Usage marks err as a mistake in the command line; nil stays nil.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return &UsageError{Err: err}
}

// ExitCode returns the exit status for err: ExitOK for nil, ExitUsage for a
// UsageError or an errs.Error saying the input is invalid or too large,
// ExitFailure otherwise.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var u *UsageError
	if errors.As(err, &u) {
		return ExitUsage
	}
	switch errs.CodeOf(err) {
	case errs.Invalid, errs.TooLarge:
		return ExitUsage
	}
	return ExitFailure
}

// PrintError writes err to w on one line: "error: <field>: <message>" for
// an errs.Error, whose message is written for people and needs none of the
// context it was wrapped in, and "error: <message>" with the whole chain of
// context for any other error.
func PrintError(w io.Writer, err error) {
	if err == nil {
		return
	}
	var e *errs.Error
	if errors.As(err, &e) {
		fmt.Fprintf(w, "error: %s\n", e.Error())
		return
	}
	fmt.Fprintf(w, "error: %s\n", err.Error())
}

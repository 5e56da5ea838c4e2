package reconcile

import (
	"errors"
	"strconv"
	"strings"
)

// ErrTooLarge is wrapped by the FormatError of a file over Options.MaxBytes.
var ErrTooLarge = errors.New("file too large")

// FormatError says why a statement file is refused and where. Every error a
// reader returns about the file's content is a *FormatError; other errors
// come from reading the input.
type FormatError struct {
	// Line is the 1-based line of the file the fault is on: for XML the
	// decoder's position when it noticed, for CFONB the record's number
	// (its line, or its rank in a file without line ends). 0 when the
	// fault is the whole file's.
	Line int
	// Element locates the fault: for XML the element path with the rank
	// of repeated elements, e.g. "Document/BkToCstmrStmt/Stmt[2]/Ntry[5]/Amt";
	// for CFONB the record, e.g. "record 04".
	Element string
	// Field names the statement field concerned, e.g. "Amount", "Closing",
	// "amount (columns 91-104)"; empty when the fault is structural.
	Field string
	// Reason says what is wrong, for a person.
	Reason string
	// Err is the underlying error, if any (ErrTooLarge, *xml.SyntaxError).
	Err error
}

// Error writes "line 12, Document/.../Amt, field Amount: reason".
func (e *FormatError) Error() string {
	var parts []string
	if e.Line > 0 {
		parts = append(parts, "line "+strconv.Itoa(e.Line))
	}
	if e.Element != "" {
		parts = append(parts, e.Element)
	}
	if e.Field != "" {
		parts = append(parts, "field "+e.Field)
	}
	if len(parts) == 0 {
		return "malformed statement file: " + e.Reason
	}
	return "malformed statement file: " + strings.Join(parts, ", ") + ": " + e.Reason
}

// Unwrap returns the underlying error.
func (e *FormatError) Unwrap() error { return e.Err }

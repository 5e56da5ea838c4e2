package bank

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrUnavailable is wrapped by every error of an HTTPGateway call that the
// bank could not answer: its circuit breaker is open, or every attempt failed
// (network error, timeout, 5xx, 429). The call may be made again later; a
// payment file is resent with the same bytes and MsgId, so a file the bank
// did receive comes back as a duplicate, never paid twice.
var ErrUnavailable = errors.New("bank unavailable")

// Refusal is the bank's business answer to a request it understood and
// declined: an invalid file (FF01), an unknown MsgId (NOTFOUND), a refused
// token. It is not a failure of the bank: it is never retried and does not
// count against the circuit breaker.
type Refusal struct {
	Status  int    // the HTTP status of the answer (400, 404, 409, 422...)
	Code    string // the bank's code: FF01, DU01, NOTFOUND...
	Message string // the bank's explanation, for a person
}

// Error renders "bank refused (FF01): message".
func (r *Refusal) Error() string {
	if r.Message == "" {
		return fmt.Sprintf("bank refused (%s)", r.Code)
	}
	return fmt.Sprintf("bank refused (%s): %s", r.Code, r.Message)
}

// failure is an answer that shows the bank failing (5xx, 429): it is retried
// and counts against the circuit breaker.
type failure struct {
	status  int
	message string
}

func (f *failure) Error() string {
	s := fmt.Sprintf("bank answered %d %s", f.status, http.StatusText(f.status))
	if f.message != "" {
		s += ": " + f.message
	}
	return s
}

// abandoned marks the error of an attempt whose caller gave up (its context
// was cancelled or ran out): whatever went wrong, it says nothing about the
// bank, so the circuit breaker ignores it.
type abandoned struct{ err error }

func (a *abandoned) Error() string { return a.err.Error() }
func (a *abandoned) Unwrap() error { return a.err }

func isRefusal(err error) bool {
	var r *Refusal
	return errors.As(err, &r)
}

func isAbandoned(err error) bool {
	var a *abandoned
	return errors.As(err, &a)
}

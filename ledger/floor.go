package ledger

import (
	"fmt"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
)

// Shortfall is a balance that an entry would take below its floor.
type Shortfall struct {
	Account string
	Balance decimal.Decimal // the signed balance the entry would leave
	Min     decimal.Decimal // the floor
}

// FloorError refuses an entry that would take balances below their
// floors (NewEntry.Floors); nothing of the entry was written. It is a
// conflict (errs.CodeOf), and errors.As finds it for a caller that words
// the figures its own way.
type FloorError struct {
	Shortfalls []Shortfall
}

// Error names each account with the balance it would have and its floor.
func (e *FloorError) Error() string {
	parts := make([]string, len(e.Shortfalls))
	for i, s := range e.Shortfalls {
		parts[i] = fmt.Sprintf("%s would be %s, below its floor of %s", s.Account, s.Balance.StringFixed(2), s.Min.StringFixed(2))
	}
	return "the entry is refused: " + strings.Join(parts, "; ")
}

// Unwrap gives the conflict that transports show.
func (e *FloorError) Unwrap() error { return &errs.Error{Code: errs.Conflict, Message: e.Error()} }

// validateFloors checks the floors of an entry: each on an account the
// entry posts to, once, with at most two decimals.
func validateFloors(floors []Floor, lines []Line) error {
	posted := make(map[string]bool, len(lines))
	for _, l := range lines {
		posted[l.Account] = true
	}
	seen := make(map[string]bool, len(floors))
	for i, f := range floors {
		field := fmt.Sprintf("floors[%d]", i)
		if !posted[f.Account] {
			return errs.Field(field+".account", "%q is not posted to by the entry", f.Account)
		}
		if seen[f.Account] {
			return errs.Field(field+".account", "%q has two floors", f.Account)
		}
		seen[f.Account] = true
		if !f.Min.Equal(f.Min.Round(2)) {
			return errs.Field(field+".min", "%s has more than two decimals", f.Min.String())
		}
	}
	return nil
}

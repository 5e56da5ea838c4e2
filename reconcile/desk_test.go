package reconcile_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/reconcile"
)

func TestCheckPayments(t *testing.T) {
	line := reconcile.OpenLine{PostedLine: reconcile.PostedLine{Direction: reconcile.Debit, Amount: dec("724.20")}}
	a := reconcile.PaymentState{ID: "A", Amount: dec("411.80")}
	b := reconcile.PaymentState{ID: "B", Amount: dec("312.40")}
	booked, rejected := a, b
	booked.Booked, rejected.Rejected = true, true
	tests := []struct {
		name string
		ids  []string
		pays []reconcile.PaymentState
		want string // "" when the payments explain the line
	}{
		{"two payments add up to the line", []string{"A", "B"}, []reconcile.PaymentState{a, b}, ""},
		{"booked already", []string{"A", "B"}, []reconcile.PaymentState{booked, b}, "payment A is booked already"},
		{"rejected", []string{"A", "B"}, []reconcile.PaymentState{a, rejected}, "payment B was rejected by the bank"},
		{"unknown", []string{"A", "C"}, []reconcile.PaymentState{a}, "payment C does not exist"},
		{"named twice", []string{"A", "A", "B"}, []reconcile.PaymentState{a, b}, "a payment is named twice"},
		{"short by a cent", []string{"A"}, []reconcile.PaymentState{a}, "the payments add up to 411.80, the line is of 724.20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := reconcile.CheckPayments(line, tt.ids, tt.pays)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if errs.CodeOf(err) != errs.Invalid || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want invalid payments: %s", err, tt.want)
			}
		})
	}
}

// A match's id is its line's and rule's, so that a retried transaction
// makes the same match, unless a match of the line was undone.
func TestMatchID(t *testing.T) {
	l := reconcile.OpenLine{PostedLine: reconcile.PostedLine{Line: reconcile.LineRef{StatementID: uuid.New(), Index: 7}}}
	first, again := reconcile.MatchID(l, reconcile.RuleManual), reconcile.MatchID(l, reconcile.RuleManual)
	if first != again || first == reconcile.MatchID(l, reconcile.RuleSuspense) {
		t.Fatal("the id of a match is not its line's and rule's")
	}
	l.Undone = true
	if next := reconcile.MatchID(l, reconcile.RuleManual); next == first || next == reconcile.MatchID(l, reconcile.RuleManual) {
		t.Fatal("a line whose match was undone gets the same id again")
	}
}

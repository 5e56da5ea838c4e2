package reconcile_test

import (
	"strings"
	"testing"

	"github.com/ofii/allowances/reconcile"
)

func TestCascadeRules(t *testing.T) {
	pay := func(amount string) *reconcile.Candidate { return &reconcile.Candidate{ID: "L1", Amount: dec(amount)} }
	booked := pay("204.00")
	booked.Booked = true
	rejected := pay("204.00")
	rejected.Rejected = true
	returned := pay("204.00")
	returned.Booked, returned.Returned = true, true
	tests := []struct {
		name string
		got  reconcile.Verdict
		kind reconcile.ExceptionKind // "" with match: a match; "" without: nothing decided
		want string                  // in the reason
	}{
		{"booked by EndToEndId", reconcile.BookByEndToEnd(dec("204.00"), pay("204.00")), "", ""},
		{"no payment of the EndToEndId", reconcile.BookByEndToEnd(dec("204.00"), nil), "", ""},
		{"rejected", reconcile.BookByEndToEnd(dec("204.00"), rejected), reconcile.ExceptionUnmatched, "status report rejected"},
		{"booked twice", reconcile.BookByEndToEnd(dec("204.00"), booked), reconcile.ExceptionDuplicate, "booked already"},
		{"another amount by a cent", reconcile.BookByEndToEnd(dec("204.01"), pay("204.00")), reconcile.ExceptionAmountMismatch,
			"payment L1 is of 204.00, the statement line of 204.01"},
		{"return", reconcile.ReturnByEndToEnd(dec("201.35"), "E1", "AC04", booked), "", ""},
		{"return of a payment never made", reconcile.ReturnByEndToEnd(dec("204.00"), "E1", "AC04", nil), reconcile.ExceptionUnmatched,
			"return (AC04) of E1, a payment the service never made"},
		{"return of a payment not booked", reconcile.ReturnByEndToEnd(dec("204.00"), "E1", "AC04", pay("204.00")), reconcile.ExceptionUnmatched,
			"not booked or was returned already"},
		{"returned twice", reconcile.ReturnByEndToEnd(dec("204.00"), "E1", "AC04", returned), reconcile.ExceptionUnmatched, "returned already"},
		{"return of more than paid", reconcile.ReturnByEndToEnd(dec("204.01"), "E1", "AC04", booked), reconcile.ExceptionAmountMismatch,
			"return of 204.01 for payment L1 of 204.00"},
		{"batch", reconcile.BookByBatch(dec("99990.00"), 3, "PMT-1", 3, dec("99990.00")), "", ""},
		{"batch of no payment", reconcile.BookByBatch(dec("99990.00"), 3, "PMT-1", 0, dec("0")), "", ""},
		{"batch short by a cent", reconcile.BookByBatch(dec("99990.00"), 0, "PMT-1", 3, dec("99989.99")), reconcile.ExceptionAmountMismatch,
			"batch PMT-1: 3 payments not yet booked for 99989.99, the line books 99990.00"},
		{"batch of another count", reconcile.BookByBatch(dec("99990.00"), 4, "PMT-1", 3, dec("99990.00")), reconcile.ExceptionAmountMismatch, "3 payments"},
		{"no suggestion", reconcile.Suggest(nil, 3), "", ""},
		{"one suggestion", reconcile.Suggest([]string{"L1"}, 3), reconcile.ExceptionSuggestion, "payment L1 has the amount"},
		{"several", reconcile.Suggest([]string{"L1", "L2"}, 3), reconcile.ExceptionAmbiguous, "2 payments have the amount and the payee account of this line (L1, L2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.got
			if v.Exception != tt.kind || !strings.Contains(v.Reason, tt.want) || (v.Match && v.Exception != "") {
				t.Fatalf("verdict %+v, want %q %q", v, tt.kind, tt.want)
			}
		})
	}
	if !reconcile.BookByEndToEnd(dec("204.00"), pay("204.00")).Match || reconcile.BookByEndToEnd(dec("204.00"), nil).Match {
		t.Error("rule 1 matches wrongly")
	}
}

func TestIsCharge(t *testing.T) {
	for code, want := range map[string]bool{"PMNT/CCRD/CHRG": true, "acmt/mdop/chrg": true, "ACMT/MDOP/OTHR": true, "PMNT/ICDT/ESCT": false,
		"PMNT/CHRG/OTHR": true, "": false} {
		if got := reconcile.IsCharge(reconcile.Debit, code); got != want {
			t.Errorf("%q: %v, want %v", code, got, want)
		}
	}
	if reconcile.IsCharge(reconcile.Credit, "ACMT/MDOP/CHRG") {
		t.Error("a credit is a charge")
	}
}

func TestUnexplained(t *testing.T) {
	if got := reconcile.Unexplained(reconcile.Debit, "E9"); got != "no payment has EndToEndId E9" {
		t.Error(got)
	}
	if got := reconcile.Unexplained(reconcile.Credit, "E9"); !strings.Contains(got, "credit") {
		t.Error(got)
	}
}

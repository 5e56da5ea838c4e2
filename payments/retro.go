package payments

import (
	"fmt"
	"slices"

	"github.com/shopspring/decimal"
)

// An event may take effect before the periods already paid: a household
// accommodated from a day of a month paid in full, rights closed or
// suspended backwards. The periods it reaches are computed again
// (ComputeADA on the timeline as it now stands) and compared with what was
// paid for them: the difference is an adjustment paid with the next run, or
// an overpayment established and recovered by deductions (Recover).

// PeriodPayment is what has been paid gross for one period, all batches
// together: the first payment and every adjustment since.
//
// An overpayment already established for the period by an earlier
// reassessment counts as not paid: give Paid less those overpayments, so
// that reassessing the period again establishes only what is new.
type PeriodPayment struct {
	Period Period          `json:"period"`
	Paid   decimal.Decimal `json:"paid"`
}

// Reassessment is the outcome of computing a paid period again. Exactly one
// of Adjustment and Overpayment is positive, the other zero, and
// Paid + Adjustment − Overpayment = Due.
type Reassessment struct {
	Period      Period          `json:"period"`
	Due         decimal.Decimal `json:"due"`         // what the period now comes to
	Paid        decimal.Decimal `json:"paid"`        // what was paid for it
	Adjustment  decimal.Decimal `json:"adjustment"`  // still to pay for it
	Overpayment decimal.Decimal `json:"overpayment"` // paid without right, to recover
	Why         string          `json:"why"`
}

// Difference compares what was paid for a period with what is due for it:
// an adjustment to pay when more is due, an overpayment to establish when
// less is; both are zero when nothing changed, and never negative.
func Difference(paid, due decimal.Decimal) (adjustment, overpayment decimal.Decimal) {
	switch d := due.Sub(paid); {
	case d.IsPositive():
		return d, decimal.Zero
	case d.IsNegative():
		return decimal.Zero, d.Neg()
	}
	return decimal.Zero, decimal.Zero
}

// Reassess compares, for each period of due, what it now comes to with what
// history says was paid for it, and returns the periods whose amount
// changed, oldest first; periods that come to what was paid are left out.
//
// A run passes in due the earlier periods to reassess, each computed again
// on the current timeline: every period already paid that a fact covering
// one of its days reached after the period was last computed. Periods of
// history that are not in due are not reassessed. A period of due with no payment in
// history counts as paid nothing (rights opened backwards over a month
// already run), so it must be a period that was run; several entries of
// history for one period add up.
func Reassess(history []PeriodPayment, due map[Period]decimal.Decimal) []Reassessment {
	paid := make(map[Period]decimal.Decimal, len(history))
	for _, h := range history {
		paid[h.Period] = paid[h.Period].Add(h.Paid)
	}
	periods := make([]Period, 0, len(due))
	for p := range due {
		periods = append(periods, p)
	}
	slices.SortFunc(periods, Period.Compare)

	var out []Reassessment
	for _, p := range periods {
		r := Reassessment{Period: p, Due: due[p], Paid: paid[p]}
		r.Adjustment, r.Overpayment = Difference(r.Paid, r.Due)
		switch {
		case r.Adjustment.IsPositive():
			r.Why = fmt.Sprintf("%s now due %s, paid %s: %s to pay", p, r.Due.StringFixed(2), r.Paid.StringFixed(2), r.Adjustment.StringFixed(2))
		case r.Overpayment.IsPositive():
			r.Why = fmt.Sprintf("%s now due %s, paid %s: %s overpaid", p, r.Due.StringFixed(2), r.Paid.StringFixed(2), r.Overpayment.StringFixed(2))
		default:
			continue
		}
		out = append(out, r)
	}
	return out
}

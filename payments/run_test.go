package payments

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// monthDays returns the days of p for one adult with open rights,
// accommodated from day accommodatedFrom of the month (0: never).
func monthDays(p Period, accommodatedFrom int) []Day {
	var out []Day
	for d, i := p.First(), 1; !d.After(p.Last()); d, i = d.AddDays(1), i+1 {
		out = append(out, Day{Date: d, RightsOpen: true, Adults: 1, Territory: DefaultTerritory,
			Accommodated: accommodatedFrom > 0 && i >= accommodatedFrom})
	}
	return out
}

// An overpayment found for an earlier period carries what was paid for it
// when it was found, and the run's own line recovers it under the cap.
func TestComputeADALinesFindsOverpaymentsWithTheirBasis(t *testing.T) {
	oct, err := ParsePeriod("2026-10")
	if err != nil {
		t.Fatal(err)
	}
	nov := oct.Next()
	paid := decimal.RequireFromString("440.20") // 31 × 14.20
	c := ADACase{BeneficiaryID: "X", Period: nov, Days: monthDays(nov, 1), Paid: decimal.Zero,
		Earlier: []EarlierPeriod{{Period: oct, Days: monthDays(oct, 15), Paid: paid}}}
	out, err := ComputeADALines(uuid.New(), time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC), c, DefaultSchedules())
	if err != nil {
		t.Fatal(err)
	}
	// October: 14 × 14.20 + 17 × 6.80 = 314.40, 125.80 overpaid.
	if len(out.Overpayments) != 1 {
		t.Fatalf("overpayments: %+v", out.Overpayments)
	}
	o := out.Overpayments[0]
	if o.ID != "RETRO-X-2026-10" || o.Period != oct || !o.Amount.Equal(decimal.RequireFromString("125.80")) || !o.Basis.Equal(paid) {
		t.Errorf("overpayment: %+v", o)
	}
	if len(out.Lines) != 1 {
		t.Fatalf("lines: %+v", out.Lines)
	}
	l := out.Lines[0]
	if l.Period != nov || !l.Gross.Equal(decimal.RequireFromString("204.00")) || !l.Deduction.Equal(decimal.RequireFromString("61.20")) ||
		len(l.Deductions) != 1 || l.Deductions[0].OverpaymentID != o.ID {
		t.Errorf("November line: %+v", l)
	}
}

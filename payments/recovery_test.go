package payments

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// debtOn is a debt established on day at noon.
func debtOn(id, day, remaining string, fraud bool) Debt {
	return Debt{OverpaymentID: id, EstablishedAt: mustDate(day).Time().Add(12 * time.Hour),
		Remaining: eurAmount(remaining), Fraud: fraud}
}

func TestRecover(t *testing.T) {
	capRate := eurAmount("0.30")
	cases := []struct {
		name       string
		gross      string
		debts      []Debt
		capRate    decimal.Decimal
		last       bool
		cap        string
		deductions []Deduction // in the order taken; amounts to the cent
		net        string
		why        string
	}{
		{"the retroactive case of the rules", "204.00",
			[]Debt{debtOn("IND-2026-0311", "2026-11-05", "88.80", false)}, capRate, false,
			"61.20", []Deduction{{"IND-2026-0311", eurAmount("61.20")}}, "142.80",
			"30 % cap 61.20 of 204.00; IND-2026-0311: 61.20 of 88.80 recovered, 27.60 remains"},
		{"the cap is rounded down to the cent", "100.99",
			[]Debt{debtOn("IND-1", "2026-01-10", "500.00", false)}, capRate, false,
			"30.29", []Deduction{{"IND-1", eurAmount("30.29")}}, "70.70",
			"30 % cap 30.29 of 100.99; IND-1: 30.29 of 500.00 recovered, 469.71 remains"},
		{"a debt smaller than the cap", "204.00",
			[]Debt{debtOn("IND-1", "2026-01-10", "20.00", false)}, capRate, false,
			"61.20", []Deduction{{"IND-1", eurAmount("20.00")}}, "184.00",
			"30 % cap 61.20 of 204.00; IND-1: 20.00 of 20.00 recovered, nothing remains"},
		{"fraud: no cap", "204.00",
			[]Debt{debtOn("IND-F", "2026-01-10", "300.00", true)}, capRate, false,
			"61.20", []Deduction{{"IND-F", eurAmount("204.00")}}, "0.00",
			"30 % cap 61.20 of 204.00; IND-F (fraud, no cap): 204.00 of 300.00 recovered, 96.00 remains"},
		{"fraud smaller than the gross", "204.00",
			[]Debt{debtOn("IND-F", "2026-01-10", "150.00", true)}, capRate, false,
			"61.20", []Deduction{{"IND-F", eurAmount("150.00")}}, "54.00",
			"30 % cap 61.20 of 204.00; IND-F (fraud, no cap): 150.00 of 150.00 recovered, nothing remains"},
		{"fraud first, then the others within what it left of the cap", "200.00",
			[]Debt{debtOn("IND-1", "2026-01-10", "100.00", false), debtOn("IND-F", "2026-05-10", "50.00", true)}, capRate, false,
			"60.00", []Deduction{{"IND-F", eurAmount("50.00")}, {"IND-1", eurAmount("10.00")}}, "140.00",
			"30 % cap 60.00 of 200.00; IND-F (fraud, no cap): 50.00 of 50.00 recovered, nothing remains; " +
				"IND-1: 10.00 of 100.00 recovered, 90.00 remains"},
		{"fraud beyond the cap leaves the others nothing", "200.00",
			[]Debt{debtOn("IND-1", "2026-01-10", "100.00", false), debtOn("IND-F", "2026-05-10", "80.00", true)}, capRate, false,
			"60.00", []Deduction{{"IND-F", eurAmount("80.00")}}, "120.00",
			"30 % cap 60.00 of 200.00; IND-F (fraud, no cap): 80.00 of 80.00 recovered, nothing remains; " +
				"IND-1: 0.00 of 100.00 recovered, 100.00 remains"},
		{"last payment: the whole gross", "204.00",
			[]Debt{debtOn("IND-1", "2026-01-10", "300.00", false)}, capRate, true,
			"204.00", []Deduction{{"IND-1", eurAmount("204.00")}}, "0.00",
			"last payment: up to the whole 204.00; IND-1: 204.00 of 300.00 recovered, 96.00 remains"},
		{"last payment: no more than the debt", "204.00",
			[]Debt{debtOn("IND-2026-0311", "2026-11-05", "88.80", false)}, capRate, true,
			"204.00", []Deduction{{"IND-2026-0311", eurAmount("88.80")}}, "115.20",
			"last payment: up to the whole 204.00; IND-2026-0311: 88.80 of 88.80 recovered, nothing remains"},
		{"last payment: oldest first, fraud or not", "100.00",
			[]Debt{debtOn("IND-F", "2026-05-10", "80.00", true), debtOn("IND-1", "2026-01-10", "70.00", false)}, capRate, true,
			"100.00", []Deduction{{"IND-1", eurAmount("70.00")}, {"IND-F", eurAmount("30.00")}}, "0.00",
			"last payment: up to the whole 100.00; IND-1: 70.00 of 70.00 recovered, nothing remains; " +
				"IND-F: 30.00 of 80.00 recovered, 50.00 remains"},
		{"several debts, oldest first", "400.00",
			[]Debt{
				debtOn("IND-B", "2026-03-01", "100.00", false),
				debtOn("IND-C", "2026-01-10", "50.00", false),
				debtOn("IND-D", "2026-04-01", "10.00", false),
				debtOn("IND-A", "2026-01-10", "50.00", false),
			}, capRate, false,
			"120.00", []Deduction{{"IND-A", eurAmount("50.00")}, {"IND-C", eurAmount("50.00")}, {"IND-B", eurAmount("20.00")}}, "280.00",
			"30 % cap 120.00 of 400.00; IND-A: 50.00 of 50.00 recovered, nothing remains; " +
				"IND-C: 50.00 of 50.00 recovered, nothing remains; IND-B: 20.00 of 100.00 recovered, 80.00 remains; " +
				"IND-D: 0.00 of 10.00 recovered, 10.00 remains"},
		{"gross zero", "0.00",
			[]Debt{debtOn("IND-1", "2026-01-10", "88.80", false), debtOn("IND-F", "2026-01-11", "10.00", true)}, capRate, false,
			"0.00", nil, "0.00",
			"30 % cap 0.00 of 0.00; IND-F (fraud, no cap): 0.00 of 10.00 recovered, 10.00 remains; " +
				"IND-1: 0.00 of 88.80 recovered, 88.80 remains"},
		{"gross zero, last payment", "0",
			[]Debt{debtOn("IND-1", "2026-01-10", "88.80", false)}, capRate, true,
			"0.00", nil, "0.00",
			"last payment: up to the whole 0.00; IND-1: 0.00 of 88.80 recovered, 88.80 remains"},
		{"no debt", "204.00", nil, capRate, false, "61.20", nil, "204.00",
			"30 % cap 61.20 of 204.00; no overpayment to recover"},
		{"debts with nothing remaining are left out", "204.00",
			[]Debt{debtOn("IND-0", "2026-01-01", "0.00", false), debtOn("IND-N", "2026-01-02", "-5.00", true),
				debtOn("IND-1", "2026-01-10", "10.00", false)}, capRate, false,
			"61.20", []Deduction{{"IND-1", eurAmount("10.00")}}, "194.00",
			"30 % cap 61.20 of 204.00; IND-1: 10.00 of 10.00 recovered, nothing remains"},
		{"a negative gross withholds nothing", "-10.00",
			[]Debt{debtOn("IND-F", "2026-01-10", "50.00", true)}, capRate, true,
			"0.00", nil, "-10.00",
			"last payment: up to the whole -10.00; IND-F: 0.00 of 50.00 recovered, 50.00 remains"},
		{"a cap rate above one is read as one", "100.00",
			[]Debt{debtOn("IND-1", "2026-01-10", "500.00", false)}, eurAmount("1.5"), false,
			"100.00", []Deduction{{"IND-1", eurAmount("100.00")}}, "0.00",
			"100 % cap 100.00 of 100.00; IND-1: 100.00 of 500.00 recovered, 400.00 remains"},
		{"a negative cap rate is read as zero", "100.00",
			[]Debt{debtOn("IND-1", "2026-01-10", "500.00", false)}, eurAmount("-0.30"), false,
			"0.00", nil, "100.00",
			"0 % cap 0.00 of 100.00; IND-1: 0.00 of 500.00 recovered, 500.00 remains"},
		{"a schedule's other cap rate", "204.00",
			[]Debt{debtOn("IND-1", "2026-01-10", "500.00", false)}, eurAmount("0.25"), false,
			"51.00", []Deduction{{"IND-1", eurAmount("51.00")}}, "153.00",
			"25 % cap 51.00 of 204.00; IND-1: 51.00 of 500.00 recovered, 449.00 remains"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			debts := slices.Clone(c.debts)
			r := Recover(eurAmount(c.gross), c.debts, c.capRate, c.last)
			if !slices.EqualFunc(debts, c.debts, func(a, b Debt) bool { return a == b }) {
				t.Error("the debts given were changed")
			}
			if !r.Gross.Equal(eurAmount(c.gross)) || r.Cap.StringFixed(2) != c.cap || !r.Cap.Equal(eurAmount(c.cap)) ||
				!r.Net.Equal(eurAmount(c.net)) {
				t.Errorf("gross %s cap %s net %s, want %s %s %s", r.Gross, r.Cap, r.Net, c.gross, c.cap, c.net)
			}
			sum := decimal.Zero
			for _, d := range c.deductions {
				sum = sum.Add(d.Amount)
			}
			if !r.Deduction.Equal(sum) || !r.Gross.Sub(r.Deduction).Equal(r.Net) {
				t.Errorf("deduction %s, want %s", r.Deduction, sum)
			}
			if r.Deductions == nil || len(r.Deductions) != len(c.deductions) {
				t.Fatalf("deductions %v, want %v", r.Deductions, c.deductions)
			}
			for i, d := range c.deductions {
				if g := r.Deductions[i]; g.OverpaymentID != d.OverpaymentID || !g.Amount.Equal(d.Amount) {
					t.Errorf("deduction %d: %s %s, want %s %s", i, g.OverpaymentID, g.Amount, d.OverpaymentID, d.Amount)
				}
			}
			if r.Why != c.why {
				t.Errorf("why\n got %q\nwant %q", r.Why, c.why)
			}
		})
	}
}

// Whatever the debts, a payment is never negative, a debt gives no more than
// it owes, ordinary debts stay within the cap, and nothing is left withheld
// that the rules would take.
func TestRecoverProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 30))
	cents := func(max int) decimal.Decimal { return decimal.New(int64(r.IntN(max)), -2) }
	day := mustDate("2025-01-01").Time()
	for n := range 2000 {
		gross := cents(200000)
		capRate := eurAmount([]string{"0.30", "0.25", "0.333", "1"}[r.IntN(4)])
		last := r.IntN(5) == 0
		var debts []Debt
		for i := range r.IntN(5) {
			debts = append(debts, Debt{OverpaymentID: "IND-" + strconv.Itoa(i), EstablishedAt: day.AddDate(0, 0, r.IntN(30)),
				Remaining: cents(100000), Fraud: r.IntN(4) == 0})
		}
		rec := Recover(gross, debts, capRate, last)
		if rec.Net.IsNegative() || !rec.Net.Equal(gross.Sub(rec.Deduction)) || rec.Deduction.GreaterThan(gross) {
			t.Fatalf("case %d: gross %s deduction %s net %s", n, gross, rec.Deduction, rec.Net)
		}
		if want := gross.Mul(capRate).RoundFloor(2); !last && !rec.Cap.Equal(want) {
			t.Fatalf("case %d: cap %s, want %s", n, rec.Cap, want)
		}
		taken := map[string]decimal.Decimal{}
		sum, ordinary, fraudOwed, ordinaryOwed, fraudTaken := decimal.Zero, decimal.Zero, decimal.Zero, decimal.Zero, decimal.Zero
		for _, d := range rec.Deductions {
			if !d.Amount.IsPositive() {
				t.Fatalf("case %d: deduction %v", n, d)
			}
			taken[d.OverpaymentID] = d.Amount
			sum = sum.Add(d.Amount)
		}
		for _, d := range debts {
			if taken[d.OverpaymentID].GreaterThan(d.Remaining) {
				t.Fatalf("case %d: %s gives %s of %s", n, d.OverpaymentID, taken[d.OverpaymentID], d.Remaining)
			}
			if d.Fraud {
				fraudOwed = fraudOwed.Add(d.Remaining)
				fraudTaken = fraudTaken.Add(taken[d.OverpaymentID])
			} else {
				ordinaryOwed = ordinaryOwed.Add(d.Remaining)
				ordinary = ordinary.Add(taken[d.OverpaymentID])
			}
		}
		if !sum.Equal(rec.Deduction) {
			t.Fatalf("case %d: deductions add up to %s, not %s", n, sum, rec.Deduction)
		}
		// What the rules take: on the last payment, everything up to the
		// gross; otherwise fraud up to the gross, then the rest of the cap.
		var want decimal.Decimal
		if last {
			want = decimal.Min(gross, fraudOwed.Add(ordinaryOwed))
		} else {
			f := decimal.Min(gross, fraudOwed)
			want = f.Add(decimal.Min(ordinaryOwed, decimal.Max(decimal.Zero, rec.Cap.Sub(f))))
			if !fraudTaken.Equal(f) || fraudTaken.Add(ordinary).GreaterThan(decimal.Max(rec.Cap, fraudTaken)) {
				t.Fatalf("case %d: fraud %s, ordinary %s, cap %s", n, fraudTaken, ordinary, rec.Cap)
			}
		}
		if !rec.Deduction.Equal(want) {
			t.Fatalf("case %d: deduction %s, want %s (%+v)", n, rec.Deduction, want, rec)
		}
	}
}

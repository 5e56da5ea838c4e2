package payments

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// segmentsTextRule is segmentsText as fmt writes it, the reference of the
// concatenation the runs use.
func segmentsTextRule(segs []ADASegment) string {
	if len(segs) == 0 {
		return "no day covered."
	}
	parts := make([]string, len(segs))
	total := decimal.Zero
	for i, s := range segs {
		days := s.From.String()
		if s.To.After(s.From) {
			days += " to " + s.To.String()
		}
		parts[i] = fmt.Sprintf("%s: %d × %s (%s) = %s", days, s.Days, s.Daily.StringFixed(2), s.Why, s.Amount.StringFixed(2))
		total = total.Add(s.Amount)
	}
	text := strings.Join(parts, "; ")
	if len(segs) > 1 {
		text += "; in all " + total.StringFixed(2)
	}
	return text + "."
}

// The fast paths of a run (segmentsText without fmt, Period.String,
// Date.NextDay, ComputeADA's check of the days, no Recover without debts)
// give what the rule's plain forms give, on a varied population.
func TestRunFastPathsMatchTheRule(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	sch := DefaultSchedules()
	for range 2000 {
		p := Period{Year: 2020 + r.IntN(8), Month: 1 + r.IntN(12)}
		days := variedDays(r, p)
		res, err := ComputeADA("X", p, days, sch)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := segmentsText(res.Segments), segmentsTextRule(res.Segments); got != want {
			t.Fatalf("segmentsText = %q, want %q", got, want)
		}
		// ComputeADA still refuses days that are not the period's, in
		// order.
		bad := append([]Day(nil), days...)
		switch k := r.IntN(4); k {
		case 0:
			bad = bad[:len(bad)-1]
		case 1:
			bad = append(bad, Day{Date: p.Last().AddDays(1)})
		case 2:
			i := r.IntN(len(bad))
			bad[i].Date = bad[i].Date.AddDays(1)
		case 3:
			i := r.IntN(len(bad))
			bad[i].Date = ledger.Date{}
		}
		if _, err := ComputeADA("X", p, bad, sch); err == nil {
			t.Fatalf("ComputeADA accepted days %v", bad)
		}
		gross := decimal.New(int64(r.IntN(200000)), -int32(r.IntN(3)))
		capRate := decimal.New(int64(r.IntN(120)), -2)
		for _, last := range []bool{false, true} {
			rec := Recover(gross, nil, capRate, last)
			if !rec.Deduction.Equal(decimal.Zero) || len(rec.Deductions) != 0 || rec.Deductions == nil || !rec.Net.Equal(gross.Sub(decimal.Zero)) {
				t.Fatalf("Recover without debts: %+v", rec)
			}
		}
	}
	for _, p := range []Period{{}, {Year: 2026, Month: 10}, {Year: 1, Month: 1}, {Year: 9999, Month: 12}, {Year: 10000, Month: 1},
		{Year: -5, Month: 3}, {Year: 2026, Month: 100}, {Year: 2026, Month: -1}, {Year: 987, Month: 7}} {
		if got, want := p.String(), fmt.Sprintf("%04d-%02d", p.Year, p.Month); got != want {
			t.Errorf("Period.String = %q, want %q", got, want)
		}
	}
	for d := ledger.NewDate(2023, time.January, 1); d.Before(ledger.NewDate(2029, time.January, 1)); d = d.AddDays(1) {
		if n := d.NextDay(); n != d.AddDays(1) {
			t.Fatalf("NextDay of %s = %s, want %s", d, n, d.AddDays(1))
		}
	}
	if n := (ledger.Date{}).NextDay(); n != (ledger.Date{}).AddDays(1) {
		t.Fatalf("NextDay of the zero date = %v", n)
	}
}

package payments

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// ComputeADA computes the ADA a beneficiary is owed for period p
// (docs/rules.md §1).
//
// days are the days of p, every one of them and in order, as
// Beneficiaries.Days returns them for p.First() to p.Last(); any other input
// is an error, so that a missing day never goes unpaid silently. For each
// covered day (Day.Covered), the daily amount is that of the schedule in
// force on that day, so a rate change during the month splits it. Consecutive
// covered days with the same daily amount and the same explanation form one
// segment, whose amount is its days times its daily amount; Gross is the sum
// of the segments, in exact decimals, with no rounding.
func ComputeADA(beneficiaryID string, p Period, days []Day, sch Schedules) (ADAResult, error) {
	fail := func(format string, args ...any) (ADAResult, error) {
		return ADAResult{}, fmt.Errorf("ADA of %s for %s: %w", beneficiaryID, p, fmt.Errorf(format, args...))
	}
	if err := periodError(p); err != nil {
		return ADAResult{}, fmt.Errorf("ADA of %s: %w", beneficiaryID, err)
	}
	if sch == nil {
		return fail("no rate schedules")
	}
	first, n := p.First(), p.Days()
	want := first
	for i, d := range days {
		// The day expected, which is in p while i < n: the checks below
		// find nothing to say.
		ok := i < n && adaSameDate(d.Date, want)
		want = want.NextDay()
		if ok {
			continue
		}
		if !p.Contains(d.Date) {
			return fail("day %d is %s, outside the period", i+1, adaDateText(d.Date))
		}
		if want := first.AddDays(i); !adaSameDate(d.Date, want) {
			return fail("day %d is %s where %s was expected: the days must be the period's, in order", i+1, d.Date, want)
		}
	}
	if len(days) != n {
		return fail("%d days given for a month of %d", len(days), n)
	}

	res := ADAResult{BeneficiaryID: beneficiaryID, Period: p, Gross: decimal.Zero, Segments: []ADASegment{}}
	// The previous covered day's inputs and result: a household's days are
	// mostly alike, and the schedule need not be asked twice for the same.
	type inputs struct {
		schedule     *Schedule
		territory    string
		adults       int
		children     int
		accommodated bool
	}
	var (
		last     inputs
		haveLast bool
		daily    decimal.Decimal
		why      string
	)
	open := -1 // index in res.Segments of the segment the previous day belongs to, or -1
	for _, d := range days {
		if !d.Covered() {
			open = -1
			continue
		}
		s, err := sch.On(d.Date)
		if err == nil && s == nil {
			err = errors.New("no schedule in force")
		}
		if err != nil {
			return fail("%s: %w", d.Date, err)
		}
		in := inputs{s, d.Territory, d.Adults, d.Children, d.Accommodated}
		if !haveLast || in != last {
			daily, why, err = s.ADADaily(d.Territory, d.Adults, d.Children, d.Accommodated)
			if err != nil {
				return fail("%s: schedule %s: %w", d.Date, s.Version, err)
			}
			last, haveLast = in, true
		}
		res.CoveredDays++
		if open >= 0 {
			if seg := &res.Segments[open]; seg.Daily.Equal(daily) && seg.Why == why {
				seg.To = d.Date
				seg.Days++
				continue
			}
		}
		res.Segments = append(res.Segments, ADASegment{From: d.Date, To: d.Date, Days: 1, Daily: daily, Why: why})
		open = len(res.Segments) - 1
	}
	for i := range res.Segments {
		seg := &res.Segments[i]
		seg.Amount = seg.Daily.Mul(decimal.NewFromInt(int64(seg.Days)))
		res.Gross = res.Gross.Add(seg.Amount)
	}
	return res, nil
}

// adaSameDate reports whether a and b are the same day.
func adaSameDate(a, b ledger.Date) bool { return !a.Before(b) && !a.After(b) }

// adaDateText writes d, or "unset" for the zero date.
func adaDateText(d ledger.Date) string {
	if d.IsZero() {
		return "unset"
	}
	return d.String()
}

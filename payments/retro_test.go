package payments

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestDifference(t *testing.T) {
	cases := []struct{ paid, due, adjustment, overpayment string }{
		{"411.80", "323.00", "0", "88.80"},
		{"323.00", "411.80", "88.80", "0"},
		{"411.80", "411.80", "0", "0"},
		{"0", "204.00", "204.00", "0"},
		{"204.00", "0", "0", "204.00"},
		{"0", "0", "0", "0"},
		{"100.005", "100.00", "0", "0.005"},
	}
	for _, c := range cases {
		adj, over := Difference(eurAmount(c.paid), eurAmount(c.due))
		if !adj.Equal(eurAmount(c.adjustment)) || !over.Equal(eurAmount(c.overpayment)) {
			t.Errorf("paid %s due %s: adjustment %s overpayment %s, want %s %s", c.paid, c.due, adj, over, c.adjustment, c.overpayment)
		}
	}
}

func TestReassess(t *testing.T) {
	history := []PeriodPayment{
		{testPeriod("2026-08"), eurAmount("400.00")},
		{testPeriod("2026-10"), eurAmount("411.80")},
		{testPeriod("2026-09"), eurAmount("300.00")},
		{testPeriod("2026-09"), eurAmount("126.00")}, // an adjustment paid later
		{testPeriod("2026-07"), eurAmount("100.00")},
	}
	due := map[Period]decimal.Decimal{
		testPeriod("2026-10"): eurAmount("323.00"), // overpaid
		testPeriod("2026-09"): eurAmount("426.00"), // unchanged, across two batches
		testPeriod("2026-08"): eurAmount("426.00"), // underpaid
		testPeriod("2026-06"): eurAmount("50.00"),  // never paid
		testPeriod("2026-05"): eurAmount("0"),      // never paid, nothing due
	}
	got := Reassess(history, due)
	want := []Reassessment{
		{Period: testPeriod("2026-06"), Due: eurAmount("50.00"), Paid: decimal.Zero, Adjustment: eurAmount("50.00"), Overpayment: decimal.Zero,
			Why: "2026-06 now due 50.00, paid 0.00: 50.00 to pay"},
		{Period: testPeriod("2026-08"), Due: eurAmount("426.00"), Paid: eurAmount("400.00"), Adjustment: eurAmount("26.00"), Overpayment: decimal.Zero,
			Why: "2026-08 now due 426.00, paid 400.00: 26.00 to pay"},
		{Period: testPeriod("2026-10"), Due: eurAmount("323.00"), Paid: eurAmount("411.80"), Adjustment: decimal.Zero, Overpayment: eurAmount("88.80"),
			Why: "2026-10 now due 323.00, paid 411.80: 88.80 overpaid"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.Period != w.Period || !g.Due.Equal(w.Due) || !g.Paid.Equal(w.Paid) || !g.Adjustment.Equal(w.Adjustment) ||
			!g.Overpayment.Equal(w.Overpayment) || g.Why != w.Why {
			t.Errorf("reassessment %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if got := Reassess(history, nil); len(got) != 0 {
		t.Errorf("nothing to reassess: %+v", got)
	}
	if got := Reassess(nil, map[Period]decimal.Decimal{testPeriod("2026-10"): decimal.Zero}); len(got) != 0 {
		t.Errorf("nothing paid, nothing due: %+v", got)
	}
}

// The retroactive case of docs/rules.md §4, from the days to the net paid.
func TestRetroactiveCase(t *testing.T) {
	sch := DefaultSchedules()
	october, november := testPeriod("2026-10"), testPeriod("2026-11")
	const id = "OFII-2026-000123"

	// October is run on 2026-11-05 and paid 411.80.
	if err := ValidateRunPeriod(october, mustDate("2026-11-05")); err != nil {
		t.Fatal(err)
	}
	paid, err := ComputeADA(id, october, timelineDays(october, adaHousehold{}, openSpan("2026-10-03", 1, 0, false)), sch)
	if err != nil {
		t.Fatal(err)
	}
	if !paid.Gross.Equal(eurAmount("411.80")) {
		t.Fatalf("October paid %s", paid.Gross)
	}
	history := []PeriodPayment{{Period: october, Paid: paid.Gross}}

	// In November an event says the household was accommodated from
	// 2026-10-20: October is computed again.
	octoberNow := timelineDays(october, adaHousehold{}, openSpan("2026-10-03", 1, 0, false), openSpan("2026-10-20", 1, 0, true))
	due, err := ComputeADA(id, october, octoberNow, sch)
	if err != nil {
		t.Fatal(err)
	}
	checkADAResult(t, due, sch, octoberNow, "323.00", 29, []wantSegment{
		{"2026-10-03", "2026-10-19", 17, "14.20", "241.40", []string{"1 adult, not accommodated: 6.80 + 7.40"}},
		{"2026-10-20", "2026-10-31", 12, "6.80", "81.60", []string{"1 adult, accommodated: 6.80"}},
	})
	re := Reassess(history, map[Period]decimal.Decimal{october: due.Gross})
	if len(re) != 1 || re[0].Period != october || !re[0].Overpayment.Equal(eurAmount("88.80")) || !re[0].Adjustment.IsZero() {
		t.Fatalf("reassessment %+v", re)
	}

	// November, accommodated all month, recovers part of it.
	if err := ValidateRunPeriod(november, mustDate("2026-12-05")); err != nil {
		t.Fatal(err)
	}
	nov, err := ComputeADA(id, november, timelineDays(november, openSpan("", 1, 0, true)), sch)
	if err != nil {
		t.Fatal(err)
	}
	if !nov.Gross.Equal(eurAmount("204.00")) {
		t.Fatalf("November gross %s", nov.Gross)
	}
	in, err := sch.On(november.Last())
	if err != nil {
		t.Fatal(err)
	}
	debt := Debt{OverpaymentID: "IND-2026-0311", EstablishedAt: time.Date(2026, 11, 12, 9, 30, 0, 0, time.UTC),
		Remaining: re[0].Overpayment}
	rec := Recover(nov.Gross, []Debt{debt}, in.ADA.RecoveryCap, false)
	if !rec.Cap.Equal(eurAmount("61.20")) || !rec.Deduction.Equal(eurAmount("61.20")) || !rec.Net.Equal(eurAmount("142.80")) {
		t.Errorf("recovery %+v", rec)
	}
	if remains := debt.Remaining.Sub(rec.Deductions[0].Amount); !remains.Equal(eurAmount("27.60")) {
		t.Errorf("remains %s", remains)
	}
	if want := "30 % cap 61.20 of 204.00; IND-2026-0311: 61.20 of 88.80 recovered, 27.60 remains"; rec.Why != want {
		t.Errorf("why %q, want %q", rec.Why, want)
	}

	// December, the last payment, takes the rest.
	debt.Remaining = eurAmount("27.60")
	dec, err := ComputeADA(id, testPeriod("2026-12"), timelineDays(testPeriod("2026-12"), openSpan("", 1, 0, true),
		adaHousehold{from: "2026-12-11"}), sch)
	if err != nil {
		t.Fatal(err)
	}
	last := Recover(dec.Gross, []Debt{debt}, in.ADA.RecoveryCap, true)
	if !dec.Gross.Equal(eurAmount("68.00")) || !last.Deduction.Equal(eurAmount("27.60")) || !last.Net.Equal(eurAmount("40.40")) {
		t.Errorf("last payment %s: %+v", dec.Gross, last)
	}
}

// adaRetroChange changes a timeline from day start on, as an event that
// takes effect in the past would: accommodation, household, territory,
// rights closed or opened again, or a suspension of some days.
func adaRetroChange(r *rand.Rand, days []Day) (changed []Day, start int) {
	changed = slices.Clone(days)
	start = r.IntN(len(days))
	switch kind := r.IntN(6); kind {
	case 0:
		accommodated := r.IntN(2) == 0
		for i := start; i < len(changed); i++ {
			changed[i].Accommodated = accommodated
		}
	case 1:
		adults, children := adaRandomHousehold(r)
		for i := start; i < len(changed); i++ {
			changed[i].Adults, changed[i].Children = adults, children
		}
	case 2:
		territory := Territories[r.IntN(len(Territories))]
		for i := start; i < len(changed); i++ {
			changed[i].Territory = territory
		}
	case 3:
		for i := start; i < len(changed); i++ {
			changed[i].RightsOpen, changed[i].Suspended = false, false
		}
	case 4:
		for i := start; i < len(changed); i++ {
			changed[i].RightsOpen = true
		}
	case 5:
		for i := start; i < min(len(changed), start+1+r.IntN(60)); i++ {
			changed[i].Suspended = changed[i].RightsOpen
		}
	}
	return changed, start
}

// Over random timelines, after a random change in the past, what was paid
// plus the adjustments less the overpayments is what is now due, period by
// period and in total.
func TestReassessProperty(t *testing.T) {
	periods := propertyPeriods()
	schedules := propertySchedules(t)
	changedSome := 0
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 0x2E7))
		sch := schedules[seed%uint64(len(schedules))]
		days := adaRandomTimeline(r, periods)
		before := dueByPeriod(t, periods, days, sch)

		// The history: each period paid what it came to, sometimes in two
		// batches.
		var history []PeriodPayment
		paid := decimal.Zero
		for _, p := range periods {
			g := before[p].Gross
			paid = paid.Add(g)
			if r.IntN(4) == 0 && g.IsPositive() {
				part := g.Mul(eurAmount("0.4")).RoundFloor(2)
				history = append(history, PeriodPayment{p, part}, PeriodPayment{p, g.Sub(part)})
				continue
			}
			history = append(history, PeriodPayment{p, g})
		}
		r.Shuffle(len(history), func(i, j int) { history[i], history[j] = history[j], history[i] })

		changed, start := adaRetroChange(r, days)
		after := dueByPeriod(t, periods, changed, sch)
		// The run reassesses the periods from the change on.
		from := PeriodOf(changed[start].Date)
		due := map[Period]decimal.Decimal{}
		totalDue := decimal.Zero
		for _, p := range periods {
			totalDue = totalDue.Add(after[p].Gross)
			if !p.Before(from) {
				due[p] = after[p].Gross
			} else if !after[p].Gross.Equal(before[p].Gross) {
				t.Fatalf("seed %d: %s changed before the change of %s", seed, p, changed[start].Date)
			}
		}
		re := Reassess(history, due)
		if len(re) > 0 {
			changedSome++
		}

		adjusted := map[Period]decimal.Decimal{}
		total := paid
		for i, x := range re {
			if i > 0 && !re[i-1].Period.Before(x.Period) {
				t.Fatalf("seed %d: reassessments out of order", seed)
			}
			if x.Period.Before(from) {
				t.Fatalf("seed %d: %s reassessed, before %s", seed, x.Period, from)
			}
			if x.Adjustment.IsNegative() || x.Overpayment.IsNegative() || x.Adjustment.IsPositive() == x.Overpayment.IsPositive() {
				t.Fatalf("seed %d: %+v", seed, x)
			}
			if !x.Paid.Equal(before[x.Period].Gross) || !x.Due.Equal(after[x.Period].Gross) {
				t.Fatalf("seed %d: %s paid %s due %s, want %s %s", seed, x.Period, x.Paid, x.Due,
					before[x.Period].Gross, after[x.Period].Gross)
			}
			adjusted[x.Period] = x.Adjustment.Sub(x.Overpayment)
			total = total.Add(x.Adjustment).Sub(x.Overpayment)
		}
		for _, p := range periods {
			if got := before[p].Gross.Add(adjusted[p]); !got.Equal(after[p].Gross) {
				t.Fatalf("seed %d: %s paid %s, adjusted by %s, is not the %s now due", seed, p, before[p].Gross, adjusted[p], after[p].Gross)
			}
		}
		if !total.Equal(totalDue) {
			t.Fatalf("seed %d: paid and reassessed %s, now due %s", seed, total, totalDue)
		}
	}
	if changedSome < 100 {
		t.Errorf("only %d of 200 changes changed an amount", changedSome)
	}
}

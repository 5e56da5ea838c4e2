package payments

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

func TestCheckAmendment(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	good := Amendment{Scheme: SchemeADA, Year: 2027, Kind: AmendmentInitial, Amount: decimal.RequireFromString("1000000.00"),
		Reference: "LFI 2027 prog. 303", Reason: "initial appropriation"}
	if err := CheckAmendment(good, now); err != nil {
		t.Fatalf("good amendment refused: %v", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Amendment)
		field string
	}{
		{"unknown scheme", func(a *Amendment) { a.Scheme = "express" }, "scheme"},
		{"empty scheme", func(a *Amendment) { a.Scheme = "" }, "scheme"},
		{"past year", func(a *Amendment) { a.Year = 2025 }, "year"},
		{"far year", func(a *Amendment) { a.Year = 2040 }, "year"},
		{"zero year", func(a *Amendment) { a.Year = 0 }, "year"},
		{"unknown kind", func(a *Amendment) { a.Kind = "gift" }, "kind"},
		{"zero amount", func(a *Amendment) { a.Amount = decimal.Zero }, "amount"},
		{"negative amount", func(a *Amendment) { a.Amount = decimal.RequireFromString("-5.00") }, "amount"},
		{"three decimals", func(a *Amendment) { a.Amount = decimal.RequireFromString("10.005") }, "amount"},
		{"huge amount", func(a *Amendment) { a.Amount = decimal.RequireFromString("1e15") }, "amount"},
		{"no reference", func(a *Amendment) { a.Reference = "  " }, "reference"},
		{"no reason", func(a *Amendment) { a.Reason = "" }, "reason"},
		{"long reason", func(a *Amendment) { a.Reason = strings.Repeat("x", MaxAmendmentText+1) }, "reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := good
			tc.edit(&a)
			err := CheckAmendment(a, now)
			var e *errs.Error
			if err == nil || !asErr(err, &e) || e.Field != tc.field || e.Code != errs.Invalid {
				t.Fatalf("got %v, want an invalid %s", err, tc.field)
			}
		})
	}
	// The current year is allowed; trailing zeros are not more decimals.
	a := good
	a.Year, a.Amount = 2026, decimal.RequireFromString("12.3400")
	if err := CheckAmendment(a, now); err != nil {
		t.Fatalf("current year, 12.3400: %v", err)
	}
}

func asErr(err error, e **errs.Error) bool {
	x, ok := err.(*errs.Error)
	*e = x
	return ok
}

func TestCheckAvailable(t *testing.T) {
	out := Amendment{Scheme: SchemeReturn, Year: 2027, Kind: AmendmentTransferOut, Amount: decimal.RequireFromString("100.01")}
	if err := CheckAvailable(out, decimal.RequireFromString("100.00")); err == nil || !strings.Contains(err.Error(), "100.00 available") {
		t.Fatalf("transfer over available: %v", err)
	}
	if err := CheckAvailable(out, decimal.RequireFromString("100.01")); err != nil {
		t.Fatalf("transfer of all available: %v", err)
	}
	out.Kind = AmendmentSupplementary
	if err := CheckAvailable(out, decimal.Zero); err != nil {
		t.Fatalf("an addition is never refused: %v", err)
	}
}

func TestBudgetPostings(t *testing.T) {
	id := uuid.MustParse("00000000-0000-0000-0000-000000000001")
	at := time.Date(2027, 1, 15, 23, 30, 0, 0, time.UTC) // 16 January in Paris
	amt := decimal.RequireFromString("2500.50")
	for _, tc := range []struct {
		kind      AmendmentKind
		available string
	}{{AmendmentInitial, "2500.5"}, {AmendmentSupplementary, "2500.5"}, {AmendmentTransferIn, "2500.5"}, {AmendmentTransferOut, "-2500.5"}} {
		e := AmendmentPosting(Amendment{ID: id, Scheme: SchemeADA, Year: 2027, Kind: tc.kind, Amount: amt, Reference: "R"}, at)
		if e.IdempotencyKey != "budget:amendment:"+id.String() || e.EffectiveDate.String() != "2027-01-16" {
			t.Fatalf("%s: key %s date %s", tc.kind, e.IdempotencyKey, e.EffectiveDate)
		}
		if len(e.Lines) != 2 || e.Lines[0].Account != "budget:available:ada:2027" || e.Lines[0].Amount.String() != tc.available ||
			e.Lines[1].Account != "budget:appropriation:ada:2027" || !e.Lines[0].Amount.Add(e.Lines[1].Amount).IsZero() {
			t.Fatalf("%s: lines %+v", tc.kind, e.Lines)
		}
	}
	b := Batch{ID: id, Period: Period{Year: 2027, Month: 1}, ApprovedAt: at, Totals: map[Scheme]Totals{
		SchemeReinsertion: {Net: amt}, SchemeReturn: {Net: decimal.RequireFromString("10.00")}}}
	c := CommitmentPosting(b, []Scheme{SchemeReinsertion, SchemeReturn}, true)
	if c.IdempotencyKey != fmt.Sprintf("budget:commit:%s:%d", id, at.UnixMicro()) || c.EffectiveDate.String() != "2027-01-16" ||
		len(c.Lines) != 4 || c.Lines[0].Account != "budget:committed:reinsertion:2027" || c.Lines[1].Account != "budget:available:reinsertion:2027" ||
		!c.Lines[0].Amount.Equal(amt) || !c.Lines[1].Amount.Equal(amt.Neg()) || c.Lines[3].Account != "budget:available:return:2027" {
		t.Fatalf("commitment %s %+v", c.IdempotencyKey, c.Lines)
	}
	if len(c.Floors) != 2 || c.Floors[1].Account != "budget:available:return:2027" || !c.Floors[1].Min.IsZero() {
		t.Fatalf("floors %+v", c.Floors)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if u := CommitmentPosting(b, []Scheme{SchemeReturn}, false); len(u.Floors) != 0 || len(u.Lines) != 2 {
		t.Fatalf("unguarded %+v", u)
	}
	refused := CommitmentRefused(b, &ledger.FloorError{Shortfalls: []ledger.Shortfall{
		{Account: "budget:available:reinsertion:2027", Balance: decimal.RequireFromString("-500.50")}}})
	if errs.CodeOf(refused) != errs.Conflict || !strings.HasSuffix(refused.Error(),
		"is beyond its budget: reinsertion 2027: the batch commits 2500.50, 2000.00 available (500.50 over)") {
		t.Fatalf("refused: %v", refused)
	}
	s := SpendingPosting(id, SchemeReinsertion, 2027, amt, at)
	if s.Lines[0].Account != "budget:spent:reinsertion:2027" || s.Lines[1].Account != "budget:committed:reinsertion:2027" {
		t.Fatalf("spending %+v", s.Lines)
	}
	err := CheckCommitment(SchemeADA, 2027, decimal.RequireFromString("150.00"), decimal.RequireFromString("100.25"))
	if errs.CodeOf(err) != errs.Conflict || err.Error() != "budget ada 2027: the batch commits 150.00, 100.25 available (49.75 over)" {
		t.Fatalf("overrun: %v", err)
	}
	if err := CheckCommitment(SchemeADA, 2027, decimal.RequireFromString("100.25"), decimal.RequireFromString("100.25")); err != nil {
		t.Fatalf("exactly available: %v", err)
	}
}

func TestBudgetChart(t *testing.T) {
	c := BudgetChart()
	if len(c) != 16 {
		t.Fatalf("%d accounts", len(c))
	}
	for _, a := range c {
		if !a.SubLedger || !a.Type.Valid() || a.Metadata["memorandum"] != "true" {
			t.Fatalf("account %+v", a)
		}
	}
}

// TestForecastOfASyntheticYear checks the forecast to the cent against a
// month-by-month computation written here.
func TestForecastOfASyntheticYear(t *testing.T) {
	d := decimal.RequireFromString
	// Three households with open rights; their last three months' net.
	households := [][3]string{{"426.00", "426.00", "426.00"}, {"204.00", "210.60", "198.30"}, {"511.20", "0.00", "511.20"}}
	run := decimal.Zero
	for _, h := range households {
		sum := decimal.Zero
		for _, m := range h {
			sum = sum.Add(d(m))
		}
		run = run.Add(sum.Div(decimal.NewFromInt(3)))
	}
	// 426 + 204.30 + 340.80 = 971.10 a month.
	if !run.Equal(d("971.1")) {
		t.Fatalf("run %s", run)
	}
	l := BudgetLine{Scheme: SchemeADA, Year: 2027, Appropriation: d("10000.00"), Spent: d("4200.00"), Committed: d("971.10"),
		Available: d("4828.90"), MonthlyRun: run}
	got := Forecast(l, Period{Year: 2027, Month: 5})
	// Seven months left (June to December).
	want := d("4200.00").Add(d("971.10")).Add(d("971.10").Mul(decimal.NewFromInt(7)))
	if !got.Forecast.Equal(want) || got.Forecast.StringFixed(2) != "11968.80" {
		t.Fatalf("forecast %s, want %s", got.Forecast, want)
	}
	// Month by month: June 6142.20, July 7113.30, August 8084.40, September
	// 9055.50, October 10026.60 > 10000.
	if got.RunsOut != "2027-10" {
		t.Fatalf("runs out %q", got.RunsOut)
	}
	if got.MonthsOfCover.StringFixed(2) != "4.97" { // 4828.90 / 971.10
		t.Fatalf("cover %s", got.MonthsOfCover)
	}
	// Enough appropriation: it lasts the year.
	l.Appropriation = d("12000.00")
	if got := Forecast(l, Period{Year: 2027, Month: 5}); got.RunsOut != "" {
		t.Fatalf("runs out %q with enough", got.RunsOut)
	}
	// Nothing runs: 99 months of cover, forecast is what is used.
	l.MonthlyRun = decimal.Zero
	if got := Forecast(l, Period{Year: 2027, Month: 5}); !got.MonthsOfCover.Equal(d("99")) || got.Forecast.StringFixed(2) != "5171.10" {
		t.Fatalf("no run: %+v", got)
	}
	// A later year has twelve months to go.
	l.MonthlyRun, l.Spent, l.Committed = d("1000"), decimal.Zero, decimal.Zero
	if got := Forecast(l, Period{Year: 2026, Month: 12}); got.Forecast.StringFixed(2) != "12000.00" || got.RunsOut != "" {
		t.Fatalf("next year: %+v", got)
	}
}

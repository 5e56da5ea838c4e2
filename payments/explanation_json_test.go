package payments

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// variedDays returns the days of p for a household drawn by r: 1 to 8
// persons, any territory of the schedule, accommodated or not, rights
// opening or closing within the month, suspended for some days, the
// household changing on a day.
func variedDays(r *rand.Rand, p Period) []Day {
	territories := []string{DefaultTerritory, "guyane", "saint-martin"}
	adults, children := 1+r.IntN(2), r.IntN(7)
	territory := territories[r.IntN(len(territories))]
	accommodated := r.IntN(3) == 0
	opened, closed := 1, p.Days()
	if r.IntN(4) == 0 {
		opened = 1 + r.IntN(p.Days())
	}
	if r.IntN(4) == 0 {
		closed = opened + r.IntN(p.Days()-opened+1)
	}
	suspendFrom, suspendTo := 0, 0
	if r.IntN(5) == 0 {
		suspendFrom = 1 + r.IntN(p.Days())
		suspendTo = suspendFrom + r.IntN(10)
	}
	change := 0
	if r.IntN(4) == 0 {
		change = 1 + r.IntN(p.Days())
	}
	var out []Day
	for d, i := p.First(), 1; !d.After(p.Last()); d, i = d.AddDays(1), i+1 {
		day := Day{Date: d, RightsOpen: i >= opened && i <= closed, Adults: adults, Children: children, Territory: territory,
			Accommodated: accommodated, Suspended: i >= suspendFrom && i <= suspendTo && suspendFrom > 0}
		if change > 0 && i >= change {
			day.Children++
			day.Accommodated = !accommodated
		}
		out = append(out, day)
	}
	return out
}

// Explanation.AppendJSON writes what json.Marshal writes, byte for byte,
// for the lines ComputeADALines makes of a varied population (earlier
// periods reassessed, overpayments found and recovered, several rates in a
// month), and for explanations of any text.
func TestExplanationAppendJSONIsJSONMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	sch := DefaultSchedules()
	oct := Period{Year: 2026, Month: 10}
	check := func(e Explanation) {
		t.Helper()
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.AppendJSON([]byte("prefix"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[len("prefix"):], want) || string(got[:len("prefix")]) != "prefix" {
			t.Fatalf("AppendJSON:\n%s\njson.Marshal:\n%s", got, want)
		}
	}
	lines := 0
	for i := range 3000 {
		p := oct
		for range r.IntN(30) {
			p = p.Prev()
		}
		c := ADACase{BeneficiaryID: "HH-" + uuid.NewString()[:8], Period: p, Days: variedDays(r, p), Paid: decimal.Zero,
			Payee: Payee{Name: "Household", IBAN: "FR7630006000011234567890189"}}
		if r.IntN(3) == 0 {
			c.Paid = decimal.New(int64(r.IntN(150000)), -2)
		}
		if r.IntN(4) == 0 {
			c.Debts = []Debt{{OverpaymentID: "OP-" + string(rune('A'+i%26)), EstablishedAt: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
				Remaining: decimal.New(int64(1+r.IntN(90000)), -2), Fraud: r.IntN(2) == 0}}
		}
		c.RightsEnd = r.IntN(10) == 0
		for q := p.Prev(); len(c.Earlier) < r.IntN(4); q = q.Prev() {
			c.Earlier = append([]EarlierPeriod{{Period: q, Days: variedDays(r, q), Paid: decimal.New(int64(r.IntN(150000)), -2)}}, c.Earlier...)
		}
		out, err := ComputeADALines(uuid.New(), time.Date(2026, 11, 5, 8, 0, 0, 0, time.UTC), c, sch)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range out.Lines {
			check(l.Explanation)
			lines++
		}
	}
	if lines < 2000 {
		t.Fatalf("only %d lines computed", lines)
	}
	due, paid := decimal.RequireFromString("-0.5"), decimal.RequireFromString("1234567.891")
	day := ledger.NewDate(2026, time.February, 28)
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "<html> & </html>", "tab\tnew\nline\rcr\bbs\fff\x00\x01\x1f\x7f",
		"é × ü 😀", "line\u2028para\u2029", "bad \xff\xfe utf-8 \xc3", "\xe2\x80"} {
		check(Explanation{Text: s})
		check(Explanation{Text: s, Recovery: s, Due: &due, Paid: &paid})
		check(Explanation{Text: s, Segments: []ADASegment{{From: day, To: day, Days: 1, Daily: due, Amount: paid, Why: s},
			{Days: -3, Why: s}}, Paid: &paid})
	}
}

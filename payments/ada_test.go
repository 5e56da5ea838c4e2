package payments

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// eurAmount reads a decimal written in a test.
func eurAmount(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// testPeriod reads a period written in a test.
func testPeriod(s string) Period {
	p, err := ParsePeriod(s)
	if err != nil {
		panic(err)
	}
	return p
}

// periodDays returns the days of p as f says they were.
func periodDays(p Period, f func(d ledger.Date) Day) []Day {
	days := make([]Day, 0, p.Days())
	for d := p.First(); !d.After(p.Last()); d = d.AddDays(1) {
		day := f(d)
		day.Date = d
		days = append(days, day)
	}
	return days
}

// adaHousehold is a household's situation in a test, from a day on.
type adaHousehold struct {
	from         string // first day it applies; "" for the whole period
	rightsOpen   bool
	suspended    bool
	adults       int
	children     int
	accommodated bool
	territory    string
}

// timelineDays returns the days of p under the situations of spans, each in
// force from its day until the next one's.
func timelineDays(p Period, spans ...adaHousehold) []Day {
	return periodDays(p, func(d ledger.Date) Day {
		var cur adaHousehold
		for _, s := range spans {
			if s.from == "" || !mustDate(s.from).After(d) {
				cur = s
			}
		}
		territory := cur.territory
		if territory == "" {
			territory = DefaultTerritory
		}
		return Day{RightsOpen: cur.rightsOpen, Suspended: cur.suspended, Adults: cur.adults, Children: cur.children,
			Accommodated: cur.accommodated, Territory: territory}
	})
}

// openSpan is a household with rights open and not suspended.
func openSpan(from string, adults, children int, accommodated bool) adaHousehold {
	return adaHousehold{from: from, rightsOpen: true, adults: adults, children: children, accommodated: accommodated}
}

// adaDailyOn is the daily amount and explanation of day d under sch, computed
// on its own.
func adaDailyOn(t testing.TB, sch Schedules, d Day) (decimal.Decimal, string) {
	t.Helper()
	s, err := sch.On(d.Date)
	if err != nil {
		t.Fatalf("no schedule on %s: %v", d.Date, err)
	}
	daily, why, err := s.ADADaily(d.Territory, d.Adults, d.Children, d.Accommodated)
	if err != nil {
		t.Fatalf("daily amount on %s: %v", d.Date, err)
	}
	return daily, why
}

// wantSegment is a segment a test expects.
type wantSegment struct {
	from, to string
	days     int
	daily    string
	amount   string
	why      []string // words its explanation must hold
}

// checkADAResult compares a result with what a test expects, to the cent, and
// checks that its segments are consistent with the days.
func checkADAResult(t *testing.T, res ADAResult, sch Schedules, days []Day, gross string, covered int, segs []wantSegment) {
	t.Helper()
	if !res.Gross.Equal(eurAmount(gross)) || res.Gross.StringFixed(2) != gross {
		t.Errorf("gross %s, want %s", res.Gross, gross)
	}
	if res.CoveredDays != covered {
		t.Errorf("covered days %d, want %d", res.CoveredDays, covered)
	}
	if segs != nil {
		if len(res.Segments) != len(segs) {
			t.Fatalf("segments %+v, want %d", res.Segments, len(segs))
		}
		for i, w := range segs {
			g := res.Segments[i]
			if g.From.String() != w.from || g.To.String() != w.to || g.Days != w.days ||
				!g.Daily.Equal(eurAmount(w.daily)) || !g.Amount.Equal(eurAmount(w.amount)) {
				t.Errorf("segment %d: %s..%s %d × %s = %s, want %s..%s %d × %s = %s",
					i, g.From, g.To, g.Days, g.Daily, g.Amount, w.from, w.to, w.days, w.daily, w.amount)
			}
			for _, word := range w.why {
				if !strings.Contains(g.Why, word) {
					t.Errorf("segment %d: why %q does not say %q", i, g.Why, word)
				}
			}
		}
	}
	checkSegmentsAgainstDays(t, res, sch, days)
}

// checkSegmentsAgainstDays checks that res says, segment by segment, what the
// days say one by one: each covered day is in exactly one segment, whose
// daily amount and explanation are that day's, segments are as long as they
// can be, and their amounts add up to the gross.
func checkSegmentsAgainstDays(t testing.TB, res ADAResult, sch Schedules, days []Day) {
	t.Helper()
	var seg int
	sum := decimal.Zero
	covered := 0
	for _, d := range days {
		if !d.Covered() {
			continue
		}
		covered++
		daily, why := adaDailyOn(t, sch, d)
		for seg < len(res.Segments) && res.Segments[seg].To.Before(d.Date) {
			seg++
		}
		if seg == len(res.Segments) || res.Segments[seg].From.After(d.Date) {
			t.Fatalf("covered day %s is in no segment of %+v", d.Date, res.Segments)
		}
		s := res.Segments[seg]
		if !s.Daily.Equal(daily) || s.Why != why {
			t.Fatalf("day %s: segment says %s (%s), the day alone %s (%s)", d.Date, s.Daily, s.Why, daily, why)
		}
		sum = sum.Add(daily)
	}
	total := decimal.Zero
	n := 0
	for i, s := range res.Segments {
		if !res.Period.Contains(s.From) || !res.Period.Contains(s.To) || s.To.Before(s.From) {
			t.Fatalf("segment %d %s..%s is not within %s", i, s.From, s.To, res.Period)
		}
		if !s.Amount.Equal(s.Daily.Mul(decimal.NewFromInt(int64(s.Days)))) {
			t.Fatalf("segment %d: %d × %s is not %s", i, s.Days, s.Daily, s.Amount)
		}
		if i > 0 {
			prev := res.Segments[i-1]
			if !prev.To.Before(s.From) {
				t.Fatalf("segments %d and %d overlap", i-1, i)
			}
			if adaSameDate(prev.To.AddDays(1), s.From) && prev.Daily.Equal(s.Daily) && prev.Why == s.Why {
				t.Fatalf("segments %d and %d should be one: %+v %+v", i-1, i, prev, s)
			}
		}
		total = total.Add(s.Amount)
		n += s.Days
	}
	if !total.Equal(res.Gross) || !sum.Equal(res.Gross) {
		t.Fatalf("gross %s, segments add up to %s, days to %s", res.Gross, total, sum)
	}
	if n != covered || res.CoveredDays != covered {
		t.Fatalf("covered days %d, segments hold %d, days say %d", res.CoveredDays, n, covered)
	}
}

// The ADA examples of docs/rules.md §4.
func TestComputeADAWorkedExamples(t *testing.T) {
	sch := DefaultSchedules()
	cases := []struct {
		name    string
		period  string
		spans   []adaHousehold
		gross   string
		covered int
		segs    []wantSegment
	}{
		{"1 adult not accommodated, rights from 2026-10-03", "2026-10",
			[]adaHousehold{{}, openSpan("2026-10-03", 1, 0, false)}, "411.80", 29,
			[]wantSegment{{"2026-10-03", "2026-10-31", 29, "14.20", "411.80", []string{"1 adult", "not accommodated"}}}},
		{"2 adults 1 child accommodated, whole month", "2026-11",
			[]adaHousehold{openSpan("", 2, 1, true)}, "408.00", 30,
			[]wantSegment{{"2026-11-01", "2026-11-30", 30, "13.60", "408.00", []string{"2 adults", "1 child", "accommodated"}}}},
		{"2 adults 1 child not accommodated, whole month", "2026-11",
			[]adaHousehold{openSpan("", 2, 1, false)}, "852.00", 30,
			[]wantSegment{{"2026-11-01", "2026-11-30", 30, "28.40", "852.00", []string{"2 adults", "1 child", "not accommodated", "13.60", "7.40"}}}},
		{"1 adult not accommodated, a child from 2026-11-15", "2026-11",
			[]adaHousehold{openSpan("", 1, 0, false), openSpan("2026-11-15", 1, 1, false)}, "480.40", 30,
			[]wantSegment{
				{"2026-11-01", "2026-11-14", 14, "14.20", "198.80", []string{"1 adult", "not accommodated", "6.80", "7.40"}},
				{"2026-11-15", "2026-11-30", 16, "17.60", "281.60", []string{"1 adult", "1 child", "not accommodated", "10.20", "7.40"}},
			}},
		{"1 adult accommodated, suspended from 11-10, resumed from 11-20", "2026-11",
			[]adaHousehold{openSpan("", 1, 0, true), {from: "2026-11-10", rightsOpen: true, suspended: true, adults: 1, accommodated: true},
				openSpan("2026-11-20", 1, 0, true)}, "136.00", 20,
			[]wantSegment{
				{"2026-11-01", "2026-11-09", 9, "6.80", "61.20", []string{"1 adult", "accommodated"}},
				{"2026-11-20", "2026-11-30", 11, "6.80", "74.80", []string{"1 adult", "accommodated"}},
			}},
		{"guyane, 1 adult not accommodated, whole month", "2026-11",
			[]adaHousehold{{rightsOpen: true, adults: 1, territory: "guyane"}}, "255.00", 30,
			[]wantSegment{{"2026-11-01", "2026-11-30", 30, "8.50", "255.00", []string{"1 adult", "not accommodated", "3.80", "4.70"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := testPeriod(c.period)
			days := timelineDays(p, c.spans...)
			res, err := ComputeADA("OFII-2026-000123", p, days, sch)
			if err != nil {
				t.Fatal(err)
			}
			if res.BeneficiaryID != "OFII-2026-000123" || res.Period != p {
				t.Errorf("result of %s for %s", res.BeneficiaryID, res.Period)
			}
			checkADAResult(t, res, sch, days, c.gross, c.covered, c.segs)
		})
	}
}

// The explanations of the worked example whose household grows are the
// schedule's, one per segment.
func TestComputeADASegmentWhy(t *testing.T) {
	sch := DefaultSchedules()
	p := testPeriod("2026-11")
	days := timelineDays(p, openSpan("", 1, 0, false), openSpan("2026-11-15", 1, 1, false))
	res, err := ComputeADA("OFII-2026-000123", p, days, sch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Segments) != 2 {
		t.Fatalf("segments %+v", res.Segments)
	}
	for i, d := range []Day{days[0], days[14]} {
		_, why := adaDailyOn(t, sch, d)
		if res.Segments[i].Why != why || why == "" {
			t.Errorf("segment %d says %q, the schedule %q", i, res.Segments[i].Why, why)
		}
	}
	if res.Segments[0].Why == res.Segments[1].Why {
		t.Errorf("both segments say %q", res.Segments[0].Why)
	}
}

// versionedSchedules is a Schedules made of versions sorted by
// EffectiveFrom.
type versionedSchedules []*Schedule

func (v versionedSchedules) On(d ledger.Date) (*Schedule, error) {
	var in *Schedule
	for _, s := range v {
		if !s.EffectiveFrom.After(d) {
			in = s
		}
	}
	if in == nil {
		return nil, fmt.Errorf("no schedule in force on %s", d)
	}
	return in, nil
}

// copyScheduleRates copies s deeply enough that changing the copy's ADA rates
// leaves s alone.
func copyScheduleRates(s *Schedule) *Schedule {
	c := *s
	c.ADA.Base = make(map[string][]decimal.Decimal, len(s.ADA.Base))
	for k, v := range s.ADA.Base {
		c.ADA.Base[k] = slices.Clone(v)
	}
	c.ADA.AboveTen = make(map[string]decimal.Decimal, len(s.ADA.AboveTen))
	for k, v := range s.ADA.AboveTen {
		c.ADA.AboveTen[k] = v
	}
	c.ADA.Additional = make(map[string]decimal.Decimal, len(s.ADA.Additional))
	for k, v := range s.ADA.Additional {
		c.ADA.Additional[k] = v
	}
	return &c
}

// schedulesChangingOn returns the shipped schedule in force on day on, and
// a copy of it altered by change, in force from on.
func schedulesChangingOn(t testing.TB, on string, change func(*Schedule)) versionedSchedules {
	t.Helper()
	base, err := DefaultSchedules().On(mustDate(on))
	if err != nil {
		t.Fatal(err)
	}
	next := copyScheduleRates(base)
	next.Version = base.Version + "-changed-" + on
	next.EffectiveFrom = mustDate(on)
	change(next)
	return versionedSchedules{base, next}
}

// A schedule that changes on the 15th splits the month; one whose amounts
// stay the same does not.
func TestComputeADAScheduleChangesMidMonth(t *testing.T) {
	p := testPeriod("2026-11")
	cases := []struct {
		name   string
		change func(*Schedule)
		spans  []adaHousehold
		gross  string
		segs   []wantSegment
	}{
		{"additional amount 7.60 from the 15th",
			func(s *Schedule) { s.ADA.Additional["metropole"] = eurAmount("7.60") },
			[]adaHousehold{openSpan("", 1, 0, false)}, "429.20",
			[]wantSegment{
				{"2026-11-01", "2026-11-14", 14, "14.20", "198.80", []string{"7.40"}},
				{"2026-11-15", "2026-11-30", 16, "14.40", "230.40", []string{"7.60"}},
			}},
		{"base amount 7.00 from the 15th, accommodated",
			func(s *Schedule) { s.ADA.Base["metropole"][0] = eurAmount("7.00") },
			[]adaHousehold{openSpan("", 1, 0, true)}, "207.20",
			[]wantSegment{
				{"2026-11-01", "2026-11-14", 14, "6.80", "95.20", nil},
				{"2026-11-15", "2026-11-30", 16, "7.00", "112.00", nil},
			}},
		{"another territory's amount changes",
			func(s *Schedule) { s.ADA.Additional["guyane"] = eurAmount("5.00") },
			[]adaHousehold{openSpan("", 1, 0, false)}, "426.00",
			[]wantSegment{{"2026-11-01", "2026-11-30", 30, "14.20", "426.00", nil}}},
		{"a new version with the same amounts",
			func(*Schedule) {},
			[]adaHousehold{openSpan("", 2, 1, false)}, "852.00",
			[]wantSegment{{"2026-11-01", "2026-11-30", 30, "28.40", "852.00", nil}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sch := schedulesChangingOn(t, "2026-11-15", c.change)
			days := timelineDays(p, c.spans...)
			res, err := ComputeADA("OFII-2026-000123", p, days, sch)
			if err != nil {
				t.Fatal(err)
			}
			checkADAResult(t, res, sch, days, c.gross, 30, c.segs)
		})
	}
	// The copies left the shipped schedule as it was.
	days := timelineDays(p, openSpan("", 1, 0, false))
	res, err := ComputeADA("OFII-2026-000123", p, days, DefaultSchedules())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Gross.Equal(eurAmount("426.00")) {
		t.Errorf("default schedule after the test: %s", res.Gross)
	}
}

// A period without a covered day is zero, with no segment.
func TestComputeADANothingCovered(t *testing.T) {
	p := testPeriod("2026-02")
	days := timelineDays(p, adaHousehold{adults: 1})
	res, err := ComputeADA("OFII-2026-000123", p, days, DefaultSchedules())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Gross.IsZero() || res.CoveredDays != 0 || res.Segments == nil || len(res.Segments) != 0 {
		t.Errorf("result %+v", res)
	}
}

// noSchedules has no schedule at all.
type noSchedules struct{}

func (noSchedules) On(d ledger.Date) (*Schedule, error) {
	return nil, errs.E(errs.NotFound, "no schedule in force on %s", d)
}

func TestComputeADABadInput(t *testing.T) {
	p := testPeriod("2026-11")
	good := func() []Day { return timelineDays(p, openSpan("", 1, 0, false)) }
	cases := []struct {
		name   string
		period Period
		days   func() []Day
		sch    Schedules
		want   string // words of the error
	}{
		{"a day of the month before", p, func() []Day {
			return append(timelineDays(p.Prev(), openSpan("", 1, 0, false))[30:], good()[1:]...)
		}, DefaultSchedules(), "day 1 is 2026-10-31, outside the period"},
		{"a day of the month after", p, func() []Day {
			return append(good(), timelineDays(p.Next(), openSpan("", 1, 0, false))[0])
		}, DefaultSchedules(), "day 31 is 2026-12-01, outside the period"},
		{"the days of another month", testPeriod("2026-10"), good, DefaultSchedules(), "outside the period"},
		{"a day without a date", p, func() []Day { d := good(); d[3].Date = ledger.Date{}; return d },
			DefaultSchedules(), "day 4 is unset"},
		{"a day missing", p, func() []Day { d := good(); return slices.Delete(d, 10, 11) },
			DefaultSchedules(), "day 11 is 2026-11-12 where 2026-11-11 was expected"},
		{"a day twice", p, func() []Day { d := good(); return slices.Insert(d, 5, d[5]) },
			DefaultSchedules(), "day 7 is 2026-11-06 where 2026-11-07 was expected"},
		{"days out of order", p, func() []Day { d := good(); d[0], d[1] = d[1], d[0]; return d },
			DefaultSchedules(), "day 1 is 2026-11-02 where 2026-11-01 was expected"},
		{"the month's end missing", p, func() []Day { return good()[:29] }, DefaultSchedules(), "29 days given for a month of 30"},
		{"no day", p, func() []Day { return nil }, DefaultSchedules(), "0 days given for a month of 30"},
		{"no schedules", p, good, nil, "no rate schedules"},
		{"no schedule in force", p, good, noSchedules{}, "2026-11-01: no schedule in force on 2026-11-01"},
		{"an invalid period", Period{Year: 2026, Month: 13}, good, DefaultSchedules(), "period: 2026-13"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ComputeADA("OFII-2026-000123", c.period, c.days(), c.sch)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "OFII-2026-000123") {
				t.Errorf("error %q does not say %q and the beneficiary", err, c.want)
			}
		})
	}

	// The schedule's own error stays in the chain, with the day.
	_, err := ComputeADA("OFII-2026-000123", p, good(), noSchedules{})
	if !errs.Is(err, errs.NotFound) {
		t.Errorf("error %v lost its code", err)
	}
	var e *errs.Error
	if !errors.As(err, &e) || e.Message != "no schedule in force on 2026-11-01" {
		t.Errorf("error %v", err)
	}

	// A territory the schedule has no rate for is an error naming the day.
	days := good()
	days[20].Territory = "atlantis"
	if _, err := ComputeADA("OFII-2026-000123", p, days, DefaultSchedules()); err == nil ||
		!strings.Contains(err.Error(), "2026-11-21") {
		t.Errorf("unknown territory: %v", err)
	}
}

// propertyPeriods are the 24 months the random timelines cover.
func propertyPeriods() []Period {
	var ps []Period
	for p := testPeriod("2025-01"); len(ps) < 24; p = p.Next() {
		ps = append(ps, p)
	}
	return ps
}

// adaRandomHousehold draws a household: mostly small, now and then large
// enough to pass ten persons.
func adaRandomHousehold(r *rand.Rand) (adults, children int) {
	if r.IntN(10) == 0 {
		adults = 1 + r.IntN(6)
		return adults, r.IntN(maxHouseholdPersons - adults + 1)
	}
	return 1 + r.IntN(3), r.IntN(6)
}

// adaRandomTimeline draws what applied on every day of periods: rights opened,
// closed and opened again, suspensions, changes of household, of
// accommodation and of territory.
func adaRandomTimeline(r *rand.Rand, periods []Period) []Day {
	from, to := periods[0].First(), periods[len(periods)-1].Last()
	rightsOpen := r.IntN(2) == 0
	suspended := false
	adults, children := adaRandomHousehold(r)
	accommodated := r.IntN(2) == 0
	territory := Territories[r.IntN(len(Territories))]
	var days []Day
	for d := from; !d.After(to); d = d.AddDays(1) {
		switch {
		case rightsOpen && r.IntN(150) == 0:
			rightsOpen, suspended = false, false
		case !rightsOpen && r.IntN(40) == 0:
			rightsOpen = true
		}
		switch {
		case rightsOpen && !suspended && r.IntN(120) == 0:
			suspended = true
		case suspended && r.IntN(10) == 0:
			suspended = false
		}
		if r.IntN(90) == 0 {
			adults, children = adaRandomHousehold(r)
		}
		if r.IntN(60) == 0 {
			accommodated = !accommodated
		}
		if r.IntN(250) == 0 {
			territory = Territories[r.IntN(len(Territories))]
		}
		days = append(days, Day{Date: d, RightsOpen: rightsOpen, Suspended: suspended, Adults: adults,
			Children: children, Accommodated: accommodated, Territory: territory})
	}
	return days
}

// propertySchedules are the schedules of the random timelines: the shipped
// one, and versions of it changing in the middle of months.
func propertySchedules(t testing.TB) []Schedules {
	base, err := DefaultSchedules().On(mustDate("2025-01-01"))
	if err != nil {
		t.Fatal(err)
	}
	v2 := copyScheduleRates(base)
	v2.Version, v2.EffectiveFrom = "test-2025-07-15", mustDate("2025-07-15")
	v2.ADA.Additional["metropole"] = eurAmount("7.55")
	v2.ADA.Additional["guyane"] = eurAmount("4.85")
	v3 := copyScheduleRates(v2)
	v3.Version, v3.EffectiveFrom = "test-2026-03-11", mustDate("2026-03-11")
	v3.ADA.Base["metropole"][0] = eurAmount("6.95")
	v3.ADA.Base["saint-martin"][2] = eurAmount("10.75")
	v3.ADA.AboveTen["metropole"] = eurAmount("3.45")
	return []Schedules{DefaultSchedules(), versionedSchedules{base, v2, v3}}
}

// dueByPeriod computes each period of a timeline with ComputeADA.
func dueByPeriod(t testing.TB, periods []Period, days []Day, sch Schedules) map[Period]ADAResult {
	t.Helper()
	out := make(map[Period]ADAResult, len(periods))
	i := 0
	for _, p := range periods {
		n := p.Days()
		res, err := ComputeADA("OFII-2025-000001", p, days[i:i+n], sch)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = res
		i += n
	}
	return out
}

// Over random timelines of 24 months, the months computed by segments add
// up to the days computed one by one.
func TestComputeADAProperty(t *testing.T) {
	periods := propertyPeriods()
	schedules := propertySchedules(t)
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 0xADA))
		days := adaRandomTimeline(r, periods)
		sch := schedules[seed%uint64(len(schedules))]
		byDay := decimal.Zero
		for _, d := range days {
			if d.Covered() {
				daily, _ := adaDailyOn(t, sch, d)
				byDay = byDay.Add(daily)
			}
		}
		byPeriod := decimal.Zero
		results := dueByPeriod(t, periods, days, sch)
		i := 0
		for _, p := range periods {
			res := results[p]
			checkSegmentsAgainstDays(t, res, sch, days[i:i+p.Days()])
			byPeriod = byPeriod.Add(res.Gross)
			i += p.Days()
		}
		if !byPeriod.Equal(byDay) {
			t.Fatalf("seed %d: the periods add up to %s, the days to %s", seed, byPeriod, byDay)
		}
	}
}

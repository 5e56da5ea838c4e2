package payments

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// asPeriodError returns err as an *errs.Error of code Invalid naming
// "period".
func asPeriodError(t testing.TB, err error) *errs.Error {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is a %T, not an *errs.Error", err, err)
	}
	if e.Code != errs.Invalid || e.Field != "period" || e.Message == "" {
		t.Fatalf("error %+v: want an invalid period", e)
	}
	return e
}

func TestParsePeriod(t *testing.T) {
	good := []struct {
		in          string
		year, month int
	}{
		{"2026-11", 2026, 11},
		{"2026-01", 2026, 1},
		{"2026-12", 2026, 12},
		{"2000-01", 2000, 1},
		{"2199-12", 2199, 12},
	}
	for _, c := range good {
		p, err := ParsePeriod(c.in)
		if err != nil || p != (Period{Year: c.year, Month: c.month}) || p.String() != c.in {
			t.Errorf("ParsePeriod(%q) = %v, %v", c.in, p, err)
		}
	}
	bad := []struct{ in, msg string }{
		{"2026-13", "2026-13 has month 13; a month runs from 01 to 12"},
		{"2026-00", "2026-00 has month 0; a month runs from 01 to 12"},
		{"26-11", `"26-11" is not a month of the form YYYY-MM`},
		{"2026-1", `"2026-1" is not a month of the form YYYY-MM`},
		{"", `"" is not a month of the form YYYY-MM`},
		{"2026-11-01", `"2026-11-01" is not a month of the form YYYY-MM`},
		{" 2026-11", `" 2026-11" is not a month of the form YYYY-MM`},
		{"2026/11", `"2026/11" is not a month of the form YYYY-MM`},
		{"+026-11", `"+026-11" is not a month of the form YYYY-MM`},
		{"２026-11", `"２026-11" is not a month of the form YYYY-MM`},
		{"1999-12", "1999-12 is in the year 1999, outside 2000 to 2199"},
		{"2200-01", "2200-01 is in the year 2200, outside 2000 to 2199"},
	}
	for _, c := range bad {
		p, err := ParsePeriod(c.in)
		if err == nil {
			t.Errorf("ParsePeriod(%q) = %v, want an error", c.in, p)
			continue
		}
		if e := asPeriodError(t, err); e.Message != c.msg {
			t.Errorf("ParsePeriod(%q): %q, want %q", c.in, e.Message, c.msg)
		}
	}
}

func TestPeriodDays(t *testing.T) {
	cases := []struct {
		period      string
		first, last string
		days        int
		prev, next  string
	}{
		{"2026-11", "2026-11-01", "2026-11-30", 30, "2026-10", "2026-12"},
		{"2026-12", "2026-12-01", "2026-12-31", 31, "2026-11", "2027-01"},
		{"2026-01", "2026-01-01", "2026-01-31", 31, "2025-12", "2026-02"},
		{"2026-02", "2026-02-01", "2026-02-28", 28, "2026-01", "2026-03"},
		{"2028-02", "2028-02-01", "2028-02-29", 29, "2028-01", "2028-03"},
		{"2100-02", "2100-02-01", "2100-02-28", 28, "2100-01", "2100-03"},
	}
	for _, c := range cases {
		p := testPeriod(c.period)
		if p.First().String() != c.first || p.Last().String() != c.last || p.Days() != c.days ||
			p.Prev().String() != c.prev || p.Next().String() != c.next {
			t.Errorf("%s: %s..%s, %d days, after %s, before %s", p, p.First(), p.Last(), p.Days(), p.Prev(), p.Next())
		}
		if p.Next().Prev() != p || p.Prev().Next() != p {
			t.Errorf("%s: next and prev do not undo each other", p)
		}
		for _, d := range []string{c.first, c.last} {
			if !p.Contains(mustDate(d)) || PeriodOf(mustDate(d)) != p {
				t.Errorf("%s does not contain %s", p, d)
			}
		}
		if p.Contains(p.First().AddDays(-1)) || p.Contains(p.Last().AddDays(1)) || p.Contains(ledger.Date{}) {
			t.Errorf("%s contains a day around it", p)
		}
		if p.Compare(p) != 0 || p.Compare(p.Next()) != -1 || p.Compare(p.Prev()) != 1 ||
			!p.Before(p.Next()) || p.Before(p) || p.Next().Before(p) {
			t.Errorf("%s compares wrong with its neighbours", p)
		}
	}
	if !testPeriod("2025-12").Before(testPeriod("2026-01")) || testPeriod("2026-01").Before(testPeriod("2025-12")) {
		t.Error("periods of different years compare wrong")
	}
}

func TestPeriodJSON(t *testing.T) {
	type doc struct {
		Period Period            `json:"period"`
		Unset  Period            `json:"unset"`
		Paid   map[Period]string `json:"paid"`
		Result ADAResult         `json:"result"`
		Many   []Period          `json:"many"`
		Ptr    *Period           `json:"ptr"`
	}
	in := doc{Period: testPeriod("2026-11"), Paid: map[Period]string{testPeriod("2026-10"): "411.80"},
		Result: ADAResult{Period: testPeriod("2026-09")}, Many: []Period{testPeriod("2026-01"), testPeriod("2026-12")}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"period":"2026-11","unset":null,"paid":{"2026-10":"411.80"},` +
		`"result":{"beneficiary_id":"","period":"2026-09","gross":"0","covered_days":0,"segments":null},` +
		`"many":["2026-01","2026-12"],"ptr":null}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Period != in.Period || !out.Unset.IsZero() || out.Paid[testPeriod("2026-10")] != "411.80" ||
		out.Result.Period != in.Result.Period || len(out.Many) != 2 || out.Many[1] != testPeriod("2026-12") {
		t.Errorf("read back %+v", out)
	}

	for _, bad := range []string{`{"period":"2026-13"}`, `{"period":"26-11"}`, `{"period":202611}`,
		`{"paid":{"2026-1":"1"}}`, `{"many":["2026-11",""]}`} {
		var d doc
		err := json.Unmarshal([]byte(bad), &d)
		if err == nil {
			t.Errorf("%s read as %+v", bad, d)
			continue
		}
		asPeriodError(t, err)
	}
	if _, err := json.Marshal(Period{Year: 2026, Month: 13}); err == nil {
		t.Error("month 13 written")
	}
	if _, err := json.Marshal(map[Period]int{{}: 1}); err == nil {
		t.Error("an unset period keyed an object")
	}
}

func TestValidateRunPeriod(t *testing.T) {
	cases := []struct {
		period, today string
		msg           string // "" when the run may go
	}{
		{"2026-11", "2026-12-05", ""},
		{"2026-11", "2026-12-01", ""},
		{"2026-11", "2026-11-30", "2026-11 is not over yet"},
		{"2026-12", "2026-12-05", "2026-12 is not over yet"},
		{"2027-01", "2026-12-05", "2027-01 is not over yet"},
		{"2030-06", "2026-12-05", "2030-06 is not over yet"},
		{"2025-12", "2026-01-02", ""},
		{"2024-12", "2026-12-05", ""},
		{"2024-12", "2026-12-31", ""},
		{"2024-11", "2026-12-05",
			"2024-11 is older than the two-year limitation: on 2026-12-05 the oldest period that may be run is 2024-12"},
		{"2020-01", "2026-12-05",
			"2020-01 is older than the two-year limitation: on 2026-12-05 the oldest period that may be run is 2024-12"},
		{"2024-01", "2026-01-10", ""},
		{"2023-12", "2026-01-10",
			"2023-12 is older than the two-year limitation: on 2026-01-10 the oldest period that may be run is 2024-01"},
	}
	for _, c := range cases {
		err := ValidateRunPeriod(testPeriod(c.period), mustDate(c.today))
		if c.msg == "" {
			if err != nil {
				t.Errorf("%s on %s: %v", c.period, c.today, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s on %s: no error", c.period, c.today)
			continue
		}
		if e := asPeriodError(t, err); e.Message != c.msg {
			t.Errorf("%s on %s: %q, want %q", c.period, c.today, e.Message, c.msg)
		}
	}
	if err := ValidateRunPeriod(testPeriod("2026-12"), mustDate("2026-12-05")); err == nil ||
		err.Error() != "period: 2026-12 is not over yet" {
		t.Errorf("error %v", err)
	}
	for _, p := range []Period{{}, {Year: 2026, Month: 13}, {Year: 2026}} {
		err := ValidateRunPeriod(p, mustDate("2026-12-05"))
		if err == nil {
			t.Errorf("%v accepted", p)
			continue
		}
		asPeriodError(t, err)
	}
	// A run may take exactly LimitationMonths periods.
	today := mustDate("2026-12-05")
	n := 0
	for p := testPeriod("2020-01"); p.Before(testPeriod("2028-01")); p = p.Next() {
		if ValidateRunPeriod(p, today) == nil {
			n++
		}
	}
	if n != LimitationMonths {
		t.Errorf("%d periods may be run, want %d", n, LimitationMonths)
	}
}

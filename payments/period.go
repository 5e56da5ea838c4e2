package payments

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// LimitationMonths is the two-year limitation on ADA claims: a run may take a
// period at most this many months before the month of the day it runs.
const LimitationMonths = 24

var periodSyntax = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}$`)

// ParsePeriod reads a period written 2026-11: four digits of year, two of
// month. The error is an *errs.Error of code Invalid naming "period".
func ParsePeriod(s string) (Period, error) {
	if !periodSyntax.MatchString(s) {
		return Period{}, errs.Field("period", "%q is not a month of the form YYYY-MM", s)
	}
	y, _ := strconv.Atoi(s[:4])
	m, _ := strconv.Atoi(s[5:])
	p := Period{Year: y, Month: m}
	if err := periodError(p); err != nil {
		return Period{}, err
	}
	return p, nil
}

// periodError returns an error naming "period" when p is not a month of a
// year the service deals with.
func periodError(p Period) error {
	if p.Month < 1 || p.Month > 12 {
		return errs.Field("period", "%s has month %d; a month runs from 01 to 12", p, p.Month)
	}
	if p.Year < minEventYear || p.Year > maxEventYear {
		return errs.Field("period", "%s is in the year %d, outside %d to %d", p, p.Year, minEventYear, maxEventYear)
	}
	return nil
}

// PeriodOf returns the period that contains d.
func PeriodOf(d ledger.Date) Period {
	y, m, _ := d.Time().Date()
	return Period{Year: y, Month: int(m)}
}

// String writes p as 2026-11.
func (p Period) String() string {
	if p.Year < 0 || p.Year > 9999 || p.Month < 0 || p.Month > 99 {
		return fmt.Sprintf("%04d-%02d", p.Year, p.Month)
	}
	y, m := p.Year, p.Month
	return string([]byte{byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10), '-',
		byte('0' + m/10), byte('0' + m%10)})
}

// IsZero reports whether p is unset.
func (p Period) IsZero() bool { return p == Period{} }

// First returns the first day of p.
func (p Period) First() ledger.Date { return ledger.NewDate(p.Year, time.Month(p.Month), 1) }

// Last returns the last day of p.
func (p Period) Last() ledger.Date { return p.Next().First().AddDays(-1) }

// Days returns the number of days of p.
func (p Period) Days() int {
	_, _, d := p.Last().Time().Date()
	return d
}

// Next returns the month after p.
func (p Period) Next() Period { return p.addMonths(1) }

// Prev returns the month before p.
func (p Period) Prev() Period { return p.addMonths(-1) }

// Contains reports whether d is a day of p.
func (p Period) Contains(d ledger.Date) bool { return !d.IsZero() && PeriodOf(d) == p }

// Compare returns -1, 0 or +1 as p is before, equal to or after o.
func (p Period) Compare(o Period) int {
	switch a, b := p.monthIndex(), o.monthIndex(); {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Before reports whether p is earlier than o.
func (p Period) Before(o Period) bool { return p.Compare(o) < 0 }

// monthIndex counts months from year 0, so that periods subtract.
func (p Period) monthIndex() int { return p.Year*12 + p.Month - 1 }

func (p Period) addMonths(n int) Period {
	i := p.monthIndex() + n
	return Period{Year: i / 12, Month: i%12 + 1}
}

// MarshalJSON writes "2026-11", or null when unset.
func (p Period) MarshalJSON() ([]byte, error) {
	if p.IsZero() {
		return []byte("null"), nil
	}
	if err := periodError(p); err != nil {
		return nil, err
	}
	return json.Marshal(p.String())
}

// UnmarshalJSON reads "2026-11" or null.
func (p *Period) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*p = Period{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errs.Field("period", "must be a string of the form YYYY-MM")
	}
	v, err := ParsePeriod(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalText writes 2026-11, so that a period can key a JSON object.
func (p Period) MarshalText() ([]byte, error) {
	if err := periodError(p); err != nil {
		return nil, err
	}
	return []byte(p.String()), nil
}

// UnmarshalText reads 2026-11.
func (p *Period) UnmarshalText(b []byte) error {
	v, err := ParsePeriod(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// ValidateRunPeriod says whether a run may compute p on today. ADA is paid in
// arrears, so the period must be over: the current month and later ones are
// refused. A period more than LimitationMonths months before today's month is
// refused too, the claim being time-barred: run on 2026-12-05, the oldest
// period accepted is 2024-12. The error is an *errs.Error of code Invalid
// naming "period".
func ValidateRunPeriod(p Period, today ledger.Date) error {
	if err := periodError(p); err != nil {
		return err
	}
	current := PeriodOf(today)
	if !p.Before(current) {
		return errs.Field("period", "%s is not over yet", p)
	}
	if current.monthIndex()-p.monthIndex() > LimitationMonths {
		return errs.Field("period", "%s is older than the two-year limitation: on %s the oldest period that may be run is %s",
			p, today, current.addMonths(-LimitationMonths))
	}
	return nil
}

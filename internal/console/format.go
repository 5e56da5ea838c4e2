package console

import (
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// nnbsp is the narrow no-break space that groups thousands and sets the
// euro sign apart, as French typography does.
const nnbsp = "\u202f"

// paris is the time zone the staff read times in.
var paris = func() *time.Location {
	if l, err := time.LoadLocation("Europe/Paris"); err == nil {
		return l
	}
	return time.FixedZone("CET", 3600)
}()

// Euros writes an amount the French way: "1 234,56 €", thousands grouped
// by narrow no-break spaces, two decimals after a comma.
func Euros(d decimal.Decimal) string {
	s := d.StringFixed(2)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteString("−")
	}
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteString(nnbsp)
		}
		b.WriteRune(c)
	}
	b.WriteString("," + frac + nnbsp + "€")
	return b.String()
}

// Date writes a day as "04/12/2026".
func Date(d ledger.Date) string {
	if d.IsZero() {
		return ""
	}
	return d.Time().Format("02/01/2006")
}

// DateTime writes an instant in Paris time as "04/12/2026 à 14:05"; the
// zero time is empty.
func DateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(paris).Format("02/01/2006 à 15:04")
}

// Day writes the day of an instant, in Paris time, as "04/12/2026".
func Day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(paris).Format("02/01/2006")
}

var months = [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}

// Month writes a month as "octobre 2026".
func Month(year, month int) string {
	if month < 1 || month > 12 {
		return ""
	}
	return months[month-1] + " " + strconv.Itoa(year)
}

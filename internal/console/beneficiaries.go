package console

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// BeneficiaryReader reads a beneficiary's timeline and days
// (payments.Beneficiaries).
type BeneficiaryReader interface {
	Beneficiary(ctx context.Context, id string) (payments.Beneficiary, error)
	Days(ctx context.Context, id string, from, to ledger.Date) ([]payments.Day, error)
	RecordReads(ctx context.Context, by payments.Actor, reads []payments.Read) error
}

// maxPayableLines is how many postings of a beneficiary's payable account
// the page shows.
const maxPayableLines = 200

// beneficiaryData is the "Bénéficiaires" page.
type beneficiaryData struct {
	ID         string
	Error      string
	B          *payments.Beneficiary
	Payees     []payeeView
	Exceptions []exceptionView
	// The calendar of a month (?mois=AAAA-MM): the days covered and why.
	Month      string // AAAA-MM
	MonthLabel string
	MonthError string
	Prev, Next string // the months around, AAAA-MM
	Weeks      [][]calDay
	Covered    int
	// What was due, paid and withheld: the postings of payable:<id>.
	Payable    []ledger.StatementLine
	PayableBal *ledger.Balance
	MorePay    bool
	// Overpaid is the balance of receivable:overpayment:<id>.
	Overpaid *ledger.Balance
}

// calDay is one cell of the month's calendar.
type calDay struct {
	Day    int    // 0: a cell of another month
	State  string // covered, suspended, none
	Label  string
	Detail string
}

type payeeView struct {
	Since string
	Name  string
	IBAN  string // masked
}

// validBeneficiaryID reports whether s may be a beneficiary's id: 1 to 40
// capitals, digits and dashes.
func validBeneficiaryID(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// beneficiaryPage finds a beneficiary by id and shows their timeline, the
// IBANs masked, and the payments the bank rejected; the read is recorded
// first, as the API records it.
func (c *Console) beneficiaryPage(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	d := beneficiaryData{ID: strings.ToUpper(strings.TrimSpace(r.URL.Query().Get("id")))}
	if d.ID == "" {
		c.render(w, r, s, http.StatusOK, "beneficiaries", "Bénéficiaires", d)
		return
	}
	if !validBeneficiaryID(d.ID) {
		d.Error = "Indiquez un identifiant de la forme OFII-2026-000123 (lettres capitales, chiffres et tirets)."
		c.render(w, r, s, http.StatusBadRequest, "beneficiaries", "Bénéficiaires", d)
		return
	}
	b, err := c.opts.Beneficiaries.Beneficiary(ctx, d.ID)
	if errs.Is(err, errs.NotFound) {
		d.Error = "Aucun bénéficiaire ne porte cet identifiant."
		c.render(w, r, s, http.StatusNotFound, "beneficiaries", "Bénéficiaires", d)
		return
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	status := http.StatusOK
	first := defaultMonth(b, payments.LegalDay(c.opts.Now()))
	if m := strings.TrimSpace(r.URL.Query().Get("mois")); m != "" {
		p, err := payments.ParsePeriod(m)
		if err != nil {
			d.MonthError = "Indiquez un mois sous la forme AAAA-MM, par exemple 2026-10."
			status = http.StatusBadRequest
		} else {
			first = ledger.NewDate(p.Year, time.Month(p.Month), 1)
		}
	}
	last := first.AddDays(32)
	last = ledger.NewDate(last.Time().Year(), last.Time().Month(), 1).AddDays(-1)
	d.Month = first.Time().Format("2006-01")
	d.MonthLabel = Month(first.Time().Year(), int(first.Time().Month()))
	d.Prev = first.AddDays(-1).Time().Format("2006-01")
	d.Next = last.AddDays(1).Time().Format("2006-01")
	days, err := c.opts.Beneficiaries.Days(ctx, b.ID, first, last)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.Weeks, d.Covered = calendar(first, days, b.Suspensions)
	payable := ledger.Payable + ":" + b.ID
	st, err := c.opts.Books.Statement(ctx, ledger.StatementQuery{Account: payable, Limit: maxPayableLines})
	switch {
	case errs.Is(err, errs.NotFound):
	case err != nil:
		c.fail(w, r, s, err)
		return
	default:
		d.Payable, d.MorePay = st.Lines, st.NextCursor != ""
		bal, err := c.opts.Books.Balance(ctx, payable, ledger.AsOf{})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.PayableBal = &bal
	}
	over := ledger.OverpaymentReceivable + ":" + b.ID
	if bal, err := c.opts.Books.Balance(ctx, over, ledger.AsOf{}); err == nil {
		d.Overpaid = &bal
	} else if !errs.Is(err, errs.NotFound) {
		c.fail(w, r, s, err)
		return
	}
	via := map[string]any{"via": "console"}
	reads := []payments.Read{
		{What: payments.ReadTimeline, ObjectID: b.ID, Beneficiary: b.ID, Fields: []string{}, Details: via},
		{What: payments.ReadDays, ObjectID: b.ID, Beneficiary: b.ID, Fields: []string{},
			Details: map[string]any{"from": first.String(), "to": last.String(), "via": "console"}},
		{What: payments.ReadStatement, ObjectID: payable, Beneficiary: b.ID, Fields: []string{}, Details: via},
		{What: payments.ReadBalance, ObjectID: over, Beneficiary: b.ID, Fields: []string{}, Details: via},
	}
	if err := c.opts.Beneficiaries.RecordReads(ctx, actor(s, r), reads); err != nil {
		c.fail(w, r, s, err)
		return
	}
	for _, p := range b.Payees {
		d.Payees = append(d.Payees, payeeView{Since: DateTime(p.Since), Name: p.Payee.Name, IBAN: mask.MaskIBAN(p.Payee.IBAN)})
	}
	b.MaskIBANs()
	d.B = &b
	xs, err := c.opts.Files.Exceptions(ctx, payments.ExceptionFilter{Limit: 100})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var mine []payments.PaymentException
	for _, x := range xs {
		if x.BeneficiaryID == b.ID {
			mine = append(mine, x)
			d.Exceptions = append(d.Exceptions, viewException(x))
		}
	}
	if err := c.recordExceptionReads(r, s, mine); err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, s, status, "beneficiaries", "Bénéficiaire "+b.ID, d)
}

// defaultMonth is the month a beneficiary's calendar opens on: the
// current one while their rights are open, else the last month of rights.
func defaultMonth(b payments.Beneficiary, today ledger.Date) ledger.Date {
	day := today
	if n := len(b.Rights); n > 0 && !b.Rights[n-1].LastDay.IsZero() && b.Rights[n-1].LastDay.Before(today) {
		day = b.Rights[n-1].LastDay
	}
	return ledger.NewDate(day.Time().Year(), day.Time().Month(), 1)
}

var weekdays = [...]string{"lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"}

// calendar lays the days of a month out in weeks from Monday, each day
// saying whether ADA is due and why; it returns the days covered too.
func calendar(first ledger.Date, days []payments.Day, susp []payments.SuspensionSpan) ([][]calDay, int) {
	var weeks [][]calDay
	week := make([]calDay, (int(first.Time().Weekday())+6)%7)
	covered := 0
	for _, d := range days {
		c := calDay{Day: d.Date.Time().Day()}
		switch {
		case d.Covered():
			covered++
			c.State, c.Label, c.Detail = "covered", "Couvert", household(d)
		case d.RightsOpen && d.Suspended:
			c.State, c.Label = "suspended", "Suspendu"
			for _, sp := range susp {
				if !d.Date.Before(sp.From) && (sp.Until.IsZero() || d.Date.Before(sp.Until)) && sp.Reason != "" {
					c.Detail = sp.Reason
				}
			}
		default:
			c.State, c.Label = "none", "Sans droits"
		}
		week = append(week, c)
		if len(week) == 7 {
			weeks = append(weeks, week)
			week = nil
		}
	}
	if len(week) > 0 {
		for len(week) < 7 {
			week = append(week, calDay{})
		}
		weeks = append(weeks, week)
	}
	return weeks, covered
}

// household says the composition and housing of a day.
func household(d payments.Day) string {
	s := plural(d.Adults, "adulte", "adultes")
	if d.Children > 0 {
		s += ", " + plural(d.Children, "enfant", "enfants")
	}
	if d.Accommodated {
		s += ", hébergé"
	} else {
		s += ", non hébergé"
	}
	if d.Territory != "" {
		s += ", " + d.Territory
	}
	return s
}

func plural(n int, one, many string) string {
	if n <= 1 {
		return strconv.Itoa(n) + " " + one
	}
	return strconv.Itoa(n) + " " + many
}

func init() {
	funcs["weekdays"] = func() []string { return weekdays[:] }
	funcs["neg"] = func(d decimal.Decimal) decimal.Decimal { return d.Neg() }
	funcs["debit"] = func(d decimal.Decimal) bool { return d.IsPositive() }
	funcs["abs"] = func(d decimal.Decimal) decimal.Decimal { return d.Abs() }
}

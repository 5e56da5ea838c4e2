package console

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
	httptransport "github.com/ofii/allowances/transport/http"
)

// budgetData is the "Budget" page of a fiscal year.
type budgetData struct {
	Year       int
	YearText   string            // the year asked for, as typed
	Errors     map[string]string // the year's field
	AsOf       string            // the month the figures stand at, in words
	Lines      []budgetLineView
	Low        []budgetLineView // the lines whose cover is short
	MinMonths  int
	CSV        string // the download's address
	Amendments []amendmentView
	CanAmend   bool
	Form       amendmentForm // the modal's form, or the one sent back marked
	Marked     bool          // Form was sent and is marked
	Done       string
	Refusal    string
	Schemes    []option
	// refusalStatus is the status of the answer that says Refusal.
	refusalStatus int
	Kinds         []option
}

// option is one choice of a list.
type option struct{ Value, Label string }

// budgetLineView is one scheme's line, in words.
type budgetLineView struct {
	payments.BudgetLine
	Low     bool   // its cover is below BUDGET_MIN_MONTHS
	Cover   string // months of cover, "2,50"
	RunsOut string // the month it runs out, in words
}

// amendmentView is one amendment of the year, with what the person may do.
type amendmentView struct {
	payments.Amendment
	CanConfirm bool // recorded by another person, awaiting confirmation
	Own        bool // recorded by the person signed in
}

// amendmentForm is the form that records an amendment: its values as
// typed and the error of each field.
type amendmentForm struct {
	Scheme, Year, Kind, Amount, Reference, Reason string
	Errors                                        map[string]string
}

var amendmentKinds = []option{
	{string(payments.AmendmentInitial), "Initiale"},
	{string(payments.AmendmentSupplementary), "Complémentaire"},
	{string(payments.AmendmentTransferIn), "Virement entrant"},
	{string(payments.AmendmentTransferOut), "Virement sortant"},
}

// amendmentKindLabel names an amendment's kind in French.
func amendmentKindLabel(k payments.AmendmentKind) string {
	for _, o := range amendmentKinds {
		if o.Value == string(k) {
			return o.Label
		}
	}
	return string(k)
}

var budgetDone = map[string]string{
	"enregistree": "La modification des crédits a été enregistrée : une autre personne doit la confirmer pour qu'elle prenne effet.",
	"confirmee":   "La modification des crédits a été confirmée : les crédits ouverts en tiennent compte.",
}

// thisYear is the fiscal year of the console's clock.
func (c *Console) thisYear() int { return payments.LegalDay(c.opts.Now()).Time().Year() }

// budgetPage shows the budget of a year: each scheme's appropriation,
// commitments, spending and forecast, and the amendments of the year.
func (c *Console) budgetPage(w http.ResponseWriter, r *http.Request, s *Session) {
	q := r.URL.Query()
	d := c.newBudgetData(s, q.Get("annee"))
	d.Done = budgetDone[q.Get("fait")]
	c.showBudget(w, r, s, d)
}

// newBudgetData reads the year asked for; a bad one is marked.
func (c *Console) newBudgetData(s *Session, year string) budgetData {
	d := budgetData{Year: c.thisYear(), YearText: strings.TrimSpace(year), Errors: map[string]string{}, MinMonths: c.opts.BudgetMinMonths,
		CanAmend: s.Has(roleNames(httptransport.BudgetAmenders)...), Kinds: amendmentKinds}
	if d.YearText != "" {
		y, err := strconv.Atoi(d.YearText)
		if err != nil || len(d.YearText) != 4 || y < 2000 || y > d.Year+5 {
			d.Errors["annee"] = "Indiquez un exercice de 2000 à " + strconv.Itoa(d.Year+5) + ", sur quatre chiffres, par exemple " + strconv.Itoa(d.Year) + "."
		} else {
			d.Year = y
		}
	}
	for _, sc := range payments.Schemes {
		d.Schemes = append(d.Schemes, option{string(sc), schemeLabel(sc)})
	}
	d.Form = amendmentForm{Year: strconv.Itoa(max(d.Year, c.thisYear())), Kind: string(payments.AmendmentInitial), Errors: map[string]string{}}
	return d
}

// showBudget reads the report and the amendments of d's year and shows
// the page; a bad year shows the page with the field marked.
func (c *Console) showBudget(w http.ResponseWriter, r *http.Request, s *Session, d budgetData) {
	status := http.StatusOK
	if len(d.Errors) > 0 {
		c.render(w, r, s, http.StatusBadRequest, "budget", "Budget", d)
		return
	}
	ctx := r.Context()
	rep, err := c.opts.Budget.Report(ctx, d.Year)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.AsOf = Month(rep.AsOf.Year, rep.AsOf.Month)
	d.CSV = pathBudget + "/export.csv?" + url.Values{"annee": {strconv.Itoa(d.Year)}}.Encode()
	minMonths := decimal.NewFromInt(int64(d.MinMonths))
	for _, l := range rep.Lines {
		v := budgetLineView{BudgetLine: l, Cover: frenchNumber(l.MonthsOfCover), RunsOut: "—"}
		if p, err := payments.ParsePeriod(l.RunsOut); err == nil && l.RunsOut != "" {
			v.RunsOut = Month(p.Year, p.Month)
		}
		kept := !l.Appropriation.IsZero() || !l.Committed.IsZero() || !l.Spent.IsZero()
		v.Low = kept && d.MinMonths > 0 && l.MonthsOfCover.LessThan(minMonths)
		if v.Low {
			d.Low = append(d.Low, v)
		}
		d.Lines = append(d.Lines, v)
	}
	as, err := c.opts.Budget.Amendments(ctx, d.Year)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	for _, a := range as {
		own := a.RecordedBy == s.Name
		d.Amendments = append(d.Amendments, amendmentView{Amendment: a, Own: own,
			CanConfirm: d.CanAmend && !own && a.Status == payments.AmendmentRecorded})
	}
	if d.Marked || d.Refusal != "" {
		status = http.StatusBadRequest
		if d.Refusal != "" && d.refusalStatus != 0 {
			status = d.refusalStatus
		}
	}
	c.render(w, r, s, status, "budget", "Budget "+strconv.Itoa(d.Year), d)
}

// frenchNumber writes a number with two decimals after a comma.
func frenchNumber(d decimal.Decimal) string {
	return strings.Replace(strings.Replace(d.StringFixed(2), ".", ",", 1), "-", "−", 1)
}

// budgetCSV downloads the budget of a year as CSV: the very file of
// `ledgerctl budget show --csv` (payments.WriteBudgetCSV).
func (c *Console) budgetCSV(w http.ResponseWriter, r *http.Request, s *Session) {
	d := c.newBudgetData(s, r.URL.Query().Get("annee"))
	if len(d.Errors) > 0 {
		c.render(w, r, s, http.StatusBadRequest, "budget", "Budget", d)
		return
	}
	rep, err := c.opts.Budget.Report(r.Context(), d.Year)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var b bytes.Buffer
	if err := payments.WriteBudgetCSV(&b, rep); err != nil {
		c.fail(w, r, s, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="budget-`+strconv.Itoa(d.Year)+`.csv"`)
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

// amendmentFields are the form's names of the service's fields.
var amendmentFields = map[string]string{"scheme": "dispositif", "year": "exercice", "kind": "nature", "amount": "montant",
	"reference": "reference", "reason": "motif"}

// recordAmendment records an amendment through the budget's store, as the
// API does (the store checks the role and writes the audit trail). A
// field of a bad value, the store's or the form's, shows the form again
// with that field marked, nothing recorded.
func (c *Console) recordAmendment(w http.ResponseWriter, r *http.Request, s *Session) {
	f := amendmentForm{Scheme: r.PostFormValue("dispositif"), Year: strings.TrimSpace(r.PostFormValue("exercice")),
		Kind: r.PostFormValue("nature"), Amount: strings.TrimSpace(r.PostFormValue("montant")),
		Reference: strings.TrimSpace(r.PostFormValue("reference")), Reason: strings.TrimSpace(r.PostFormValue("motif")), Errors: map[string]string{}}
	d := c.newBudgetData(s, r.PostFormValue("annee"))
	a := payments.Amendment{Scheme: payments.Scheme(f.Scheme), Kind: payments.AmendmentKind(f.Kind), Reference: f.Reference, Reason: f.Reason}
	year, err := strconv.Atoi(f.Year)
	if err != nil || len(f.Year) != 4 {
		f.Errors["exercice"] = "Indiquez l'exercice sur quatre chiffres, par exemple " + strconv.Itoa(c.thisYear()) + "."
	}
	a.Year = year
	amount, ok := parseEuros(f.Amount)
	if !ok {
		f.Errors["montant"] = "Indiquez un montant en euros, par exemple 1 250 000,00."
	}
	a.Amount = amount
	for name, v := range map[string]string{"reference": f.Reference, "motif": f.Reason} {
		if strings.ContainsFunc(v, unicode.IsControl) {
			f.Errors[name] = "Le texte contient des caractères de contrôle."
		} else if utf8.RuneCountInString(v) > payments.MaxAmendmentText {
			f.Errors[name] = "Le texte dépasse " + strconv.Itoa(payments.MaxAmendmentText) + " caractères."
		}
	}
	if len(f.Errors) == 0 {
		a, err = c.opts.Budget.Record(r.Context(), a, actor(s, r))
		if err == nil {
			c.log.Info("console budget amendment recorded", "amendment", a.ID.String(), "name", s.Name)
			http.Redirect(w, r, pathBudget+"?"+url.Values{"annee": {strconv.Itoa(a.Year)}, "fait": {"enregistree"}}.Encode()+"#modifications", http.StatusSeeOther)
			return
		}
		var e *errs.Error
		if field, ok := amendmentFields[fieldOf(err, &e)]; ok && errs.Is(err, errs.Invalid) {
			f.Errors[field] = amendmentFieldError(field, e.Message, c.thisYear())
		} else {
			c.refuseOnBudget(w, r, s, d, err, "record")
			return
		}
	}
	d.Form, d.Marked = f, true
	c.showBudget(w, r, s, d)
}

// fieldOf is the field an error of the services names, "" when none.
func fieldOf(err error, e **errs.Error) string {
	if !errors.As(err, e) {
		return ""
	}
	return (*e).Field
}

// confirmAmendment confirms an amendment another person recorded, through
// the budget's store (which refuses the person who recorded it).
func (c *Console) confirmAmendment(w http.ResponseWriter, r *http.Request, s *Session) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		c.refuse(w, r, s, http.StatusNotFound, "Cette modification des crédits n'existe pas : son identifiant n'est pas valable.")
		return
	}
	a, err := c.opts.Budget.Confirm(r.Context(), id, actor(s, r))
	if err == nil {
		c.log.Info("console budget amendment confirmed", "amendment", id.String(), "name", s.Name)
		http.Redirect(w, r, pathBudget+"?"+url.Values{"annee": {strconv.Itoa(a.Year)}, "fait": {"confirmee"}}.Encode()+"#modifications", http.StatusSeeOther)
		return
	}
	year := r.PostFormValue("annee")
	if a.Year != 0 {
		year = strconv.Itoa(a.Year)
	}
	c.refuseOnBudget(w, r, s, c.newBudgetData(s, year), err, "confirm")
}

// refuseOnBudget shows the budget's page with why an action was refused.
func (c *Console) refuseOnBudget(w http.ResponseWriter, r *http.Request, s *Session, d budgetData, err error, action string) {
	status, msg := frenchError(err)
	if status >= 500 {
		c.log.Error("console budget action failed", "action", action, "error", err.Error())
	} else {
		c.log.Info("console budget action refused", "action", action, "name", s.Name, "reason", err.Error())
	}
	d.Refusal, d.refusalStatus = msg, status
	c.showBudget(w, r, s, d)
}

// parseEuros reads an amount as people type it: "1 250 000,50",
// "1250000.50"; spaces (narrow or not) group the thousands, a comma or a
// point sets the cents apart. The number's own checks (decimals, sign)
// are the service's.
func parseEuros(s string) (decimal.Decimal, bool) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "€")
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '\u202f' || r == '\u00a0' {
			return -1
		}
		return r
	}, s)
	s = strings.Replace(s, ",", ".", 1)
	s = strings.Replace(s, "−", "-", 1)
	if s == "" || len(s) > 20 || strings.ContainsAny(s, "eE") {
		return decimal.Zero, false
	}
	d, err := decimal.NewFromString(s)
	return d, err == nil
}

// amendmentFieldError says in French what is wrong with a field of an
// amendment, from the service's message.
func amendmentFieldError(field, msg string, thisYear int) string {
	switch field {
	case "dispositif":
		return "Choisissez un dispositif de la liste."
	case "nature":
		return "Choisissez une nature de la liste."
	case "exercice":
		return "L'exercice doit être l'année en cours ou l'une des cinq suivantes : de " + strconv.Itoa(thisYear) + " à " + strconv.Itoa(thisYear+5) + "."
	case "montant":
		switch {
		case strings.Contains(msg, "more than two decimals"):
			return "Le montant a plus de deux décimales : indiquez-le au centime près."
		case strings.Contains(msg, "not a positive amount"):
			return "Le montant doit être positif : pour retirer des crédits, choisissez « Virement sortant »."
		case strings.Contains(msg, "largest appropriation"):
			return "Le montant dépasse le plus grand crédit possible (1 000 000 000 000 €)."
		case strings.Contains(msg, "transferring out"):
			return "Ce virement sortant laisserait les crédits disponibles en dessous de zéro" + availableOf(msg) + "."
		}
		return "Le montant n'est pas valable."
	case "reference", "motif":
		if strings.Contains(msg, "required") {
			return "Ce champ est obligatoire : il est inscrit au journal d'audit."
		}
		return "Le texte dépasse " + strconv.Itoa(payments.MaxAmendmentText) + " octets."
	}
	return "Cette valeur n'est pas valable."
}

var availablePattern = regexp.MustCompile(`: (-?\d+\.\d\d) available`)

// availableOf is ", 1 234,56 € disponibles" from a refusal that says what
// is available, "" otherwise.
func availableOf(msg string) string {
	m := availablePattern.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	return " : " + Euros(decimal.RequireFromString(m[1])) + " disponibles"
}

var (
	budgetOver = regexp.MustCompile(`^(\S+) (\d{4}): the batch commits (-?\d+\.\d\d), (-?\d+\.\d\d) available \((-?\d+\.\d\d) over\)$`)
	budgetNone = regexp.MustCompile(`^(\S+) (\d{4}) has no appropriation \(the batch commits (-?\d+\.\d\d)\)$`)
)

// budgetRefusal says in words why a batch's approval was refused for its
// budget (payments.CheckBatchBudget, payments.CommitmentRefused): for each
// scheme at fault, what the batch commits, what is available and by how
// much it is over.
func budgetRefusal(msg string) string {
	_, faults, _ := strings.Cut(msg, "is beyond its budget: ")
	var out []string
	for _, f := range strings.Split(faults, "; ") {
		if m := budgetOver.FindStringSubmatch(f); m != nil {
			out = append(out, schemeLabel(payments.Scheme(m[1]))+", exercice "+m[2]+" : le lot engage "+
				Euros(decimal.RequireFromString(m[3]))+", les crédits disponibles sont de "+Euros(decimal.RequireFromString(m[4]))+
				", soit "+Euros(decimal.RequireFromString(m[5]))+" au-delà")
		} else if m := budgetNone.FindStringSubmatch(f); m != nil {
			out = append(out, schemeLabel(payments.Scheme(m[1]))+", exercice "+m[2]+" : aucun crédit n'est ouvert, le lot engage "+
				Euros(decimal.RequireFromString(m[3])))
		}
	}
	text := "Les crédits ne suffisent pas : le lot n'a pas été approuvé."
	if len(out) > 0 {
		text = "Les crédits ne suffisent pas : le lot n'a pas été approuvé. " + strings.Join(out, " ; ") + "."
	}
	return text
}

package console

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
	httptransport "github.com/ofii/allowances/transport/http"
)

// Reconciliation imports the bank's statements and settles what they do
// not explain (reconcile.Service): the very checks and audit trail of the
// API.
type Reconciliation interface {
	ImportFrom(ctx context.Context, file io.ReadSeeker, by payments.Actor) (reconcile.ImportResult, error)
	Exceptions(ctx context.Context, f reconcile.ExceptionFilter) ([]reconcile.Exception, error)
	MatchByHand(ctx context.Context, id uuid.UUID, payments []string, by payments.Actor, reason string) (reconcile.Exception, error)
	Confirm(ctx context.Context, id uuid.UUID, by payments.Actor) (reconcile.Exception, error)
	BookToSuspense(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (reconcile.Exception, error)
	Close(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (reconcile.Exception, error)
	Assign(ctx context.Context, id uuid.UUID, owner string, by payments.Actor) (reconcile.Exception, error)
	UndoMatch(ctx context.Context, matchID uuid.UUID, by payments.Actor, reason string) error
	Matches(ctx context.Context, f reconcile.MatchFilter) ([]reconcile.Match, error)
	Report(ctx context.Context, account string, day ledger.Date) (reconcile.Report, error)
}

// reconListed is how many exceptions and matches the page lists.
const reconListed = 100

// reconData is the "Rapprochement" page.
type reconData struct {
	Day         string
	DayError    string
	Status      reconcile.ExceptionStatus // of the exceptions listed
	StatusError string
	Statuses    []reconcile.ExceptionStatus
	Report      *reconcile.Report
	Exceptions  []reconExceptionView
	Matches     []reconcile.Match
	CanImport   bool
	CanResolve  bool
	Imported    *reconcile.ImportResult
	Done        string
	Refusal     string
	// Form is a move sent with a bad value, shown again with its field
	// marked (nothing done).
	Form     *reconForm
	RowError map[string]string // "releve": the upload's
}

// reconExceptionView is an exception with the payments that may explain it
// and the moves the person's roles allow on it.
type reconExceptionView struct {
	reconcile.Exception
	Candidates []string
	Moves      []reconMove
}

// reconMove is one move of an exception, confirmed in a modal.
type reconMove struct {
	Name    string // match, confirm...
	Label   string
	Title   string
	Field   string // the text field's label; empty: none
	Primary bool
	roles   []httptransport.Role
}

var reconMoves = []reconMove{
	{Name: "confirm", Label: "Confirmer la suggestion", Title: "Confirmer le rapprochement suggéré", Primary: true, roles: httptransport.Reconcilers},
	{Name: "match", Label: "Rapprocher", Title: "Rapprocher la ligne de paiements", Field: "Motif : comment ces paiements expliquent la ligne", Primary: true,
		roles: httptransport.Reconcilers},
	{Name: "suspense", Label: "Compte d'attente", Title: "Passer la ligne en compte d'attente", Field: "Motif, pour qui soldera le compte d'attente",
		roles: httptransport.Reconcilers},
	{Name: "close", Label: "Clore", Title: "Clore l'anomalie sans écriture", Field: "Motif : pourquoi rien n'est à passer", roles: httptransport.Reconcilers},
	{Name: "assign", Label: "Attribuer", Title: "Attribuer l'anomalie", Field: "Personne responsable (son identifiant)", roles: httptransport.ExceptionAssigners},
}

// reconForm is a move sent with a bad value, shown again in the open.
type reconForm struct {
	Title  string
	Action string // the form's address
	Name   string // the move
	Fields []formField
}

// formField is one field of a form shown again.
type formField struct {
	Name, Label, Value, Error string
	Area                      bool
}

// exceptionMoves are the moves s's roles allow on x.
func exceptionMoves(s *Session, x reconcile.Exception) []reconMove {
	if x.Status != reconcile.ExceptionOpen {
		return nil
	}
	var out []reconMove
	for _, a := range reconMoves {
		if !s.Has(roleNames(a.roles)...) {
			continue
		}
		switch a.Name {
		case "confirm":
			if x.Kind != reconcile.ExceptionSuggestion {
				continue
			}
		case "match", "suspense":
			if x.Line == nil {
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// candidatesIn reads the payments the cascade found for a line: the one
// of a suggestion, the several of an ambiguous line (listed in its reason).
var candidatesIn = regexp.MustCompile(`\(([A-Za-z0-9_.:/-]+(?:, [A-Za-z0-9_.:/-]+)+)\)`)

// candidates are the payments that may explain x.
func candidates(x reconcile.Exception) []string {
	var out []string
	if x.Payment != "" {
		out = append(out, x.Payment)
	}
	if m := candidatesIn.FindStringSubmatch(x.Reason); m != nil {
		for _, id := range strings.Split(m[1], ", ") {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

var reconDone = map[string]string{
	"confirm":  "La suggestion a été confirmée : la ligne du relevé est rapprochée du paiement.",
	"match":    "La ligne du relevé a été rapprochée des paiements choisis.",
	"suspense": "La ligne du relevé a été passée en compte d'attente.", "close": "L'anomalie a été close sans écriture.",
	"assign": "L'anomalie a été attribuée.",
	"undo":   "Le rapprochement a été défait : ses écritures sont contre-passées et la ligne du relevé est de nouveau à rapprocher.",
}

// reconPage shows the report of a day, the open exceptions and the latest
// matches, with the statement upload and the actions of the person's
// roles.
func (c *Console) reconPage(w http.ResponseWriter, r *http.Request, s *Session) {
	d := c.newReconData(r, s)
	d.Day = strings.TrimSpace(r.URL.Query().Get("jour"))
	d.Done = reconDone[r.URL.Query().Get("fait")]
	status := http.StatusOK
	if st := r.URL.Query().Get("statut"); st != "" {
		v, err := httptransport.ParseReconStatus(st)
		if err != nil {
			d.StatusError = "Ce statut d'anomalie n'existe pas : choisissez ouvertes, résolues ou closes."
			status = http.StatusBadRequest
		} else {
			d.Status = v
		}
	}
	c.showRecon(w, r, s, d, status)
}

func (c *Console) newReconData(_ *http.Request, s *Session) reconData {
	return reconData{CanImport: s.Has(roleNames(httptransport.StatementImporters)...),
		CanResolve: s.Has(roleNames(httptransport.Reconcilers)...), RowError: map[string]string{}, Status: reconcile.ExceptionOpen,
		Statuses: []reconcile.ExceptionStatus{reconcile.ExceptionOpen, reconcile.ExceptionResolved, reconcile.ExceptionClosed}}
}

func (c *Console) showRecon(w http.ResponseWriter, r *http.Request, s *Session, d reconData, status int) {
	ctx := r.Context()
	day := payments.LegalDay(c.opts.Now()).AddDays(-1)
	if d.Day != "" && d.DayError == "" {
		t, err := time.Parse("02/01/2006", d.Day)
		if err != nil {
			d.DayError = "Indiquez une date sous la forme JJ/MM/AAAA, par exemple 04/12/2026."
			status = http.StatusBadRequest
		} else {
			day = ledger.NewDate(t.Year(), t.Month(), t.Day())
		}
	} else if d.Day == "" {
		d.Day = Date(day)
	}
	if d.DayError == "" {
		rep, err := c.opts.Reconcile.Report(ctx, c.opts.BankAccount, day)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Report = &rep
	}
	xs, err := c.opts.Reconcile.Exceptions(ctx, reconcile.ExceptionFilter{Status: d.Status, Limit: reconListed})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	for _, x := range xs {
		x = httptransport.MaskReconException(x)
		d.Exceptions = append(d.Exceptions, reconExceptionView{Exception: x, Candidates: candidates(x), Moves: exceptionMoves(s, x)})
	}
	ms, err := c.opts.Reconcile.Matches(ctx, reconcile.MatchFilter{Limit: reconListed})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	for _, m := range ms {
		d.Matches = append(d.Matches, httptransport.MaskMatch(m))
	}
	c.render(w, r, s, status, "reconciliation", "Rapprochement", d)
}

// importStatement imports a statement file sent from the page (camt.053,
// camt.054 or CFONB 120), bounded by reconcile.DefaultMaxBytes.
func (c *Console) importStatement(w http.ResponseWriter, r *http.Request, s *Session) {
	d := c.newReconData(r, s)
	f, _, err := r.FormFile("releve")
	if err != nil {
		d.RowError["releve"] = "Choisissez le fichier du relevé à importer."
		c.showRecon(w, r, s, d, http.StatusBadRequest)
		return
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, reconcile.DefaultMaxBytes+1))
	if err != nil || len(b) > reconcile.DefaultMaxBytes {
		d.RowError["releve"] = "Le fichier est trop volumineux ou illisible."
		c.showRecon(w, r, s, d, http.StatusBadRequest)
		return
	}
	res, err := c.opts.Reconcile.ImportFrom(r.Context(), bytes.NewReader(b), actor(s, r))
	if err != nil {
		status, msg := frenchError(err)
		if status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge {
			msg = "Ce fichier n'est pas un relevé lisible (camt.053, camt.054 ou CFONB 120) : " + err.Error()
		}
		d.RowError["releve"] = msg
		c.showRecon(w, r, s, d, status)
		return
	}
	c.log.Info("console statement imported", "name", s.Name, "statements", len(res.Statements), "exceptions", res.Match.Exceptions)
	d.Imported = &res
	if len(res.Statements) > 0 {
		d.Day = Date(res.Statements[0].Date)
	}
	c.showRecon(w, r, s, d, http.StatusOK)
}

// reconAction takes one move of an exception through the reconciliation
// (match by hand, confirm a suggestion, suspense, close, assign): the
// roles are checked here as the API checks them, and by the service again.
// A field of a bad value shows the page again with the move's form open
// and the field marked, nothing done; a refusal is said in French.
func (c *Console) reconAction(w http.ResponseWriter, r *http.Request, s *Session) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		c.refuse(w, r, s, http.StatusNotFound, "Cette anomalie n'existe pas.")
		return
	}
	name := r.PostFormValue("action")
	i := slices.IndexFunc(reconMoves, func(a reconMove) bool { return a.Name == name })
	if i < 0 {
		c.refuse(w, r, s, http.StatusBadRequest, "Cette action n'existe pas.")
		return
	}
	a := reconMoves[i]
	if !s.Has(roleNames(a.roles)...) {
		c.refuse(w, r, s, http.StatusForbidden, "Votre rôle ne permet pas d'accéder à cette page ou de faire cette action.")
		return
	}
	text := strings.TrimSpace(r.PostFormValue("motif"))
	form := reconForm{Title: a.Title, Name: name, Action: pathRecon + "/anomalies/" + id.String()}
	by := actor(s, r)
	ctx := r.Context()
	switch name {
	case "confirm":
		_, err = c.opts.Reconcile.Confirm(ctx, id, by)
	case "match":
		picked := append([]string{}, r.PostForm["paiements"]...)
		others := strings.TrimSpace(r.PostFormValue("autres"))
		picked = append(picked, strings.FieldsFunc(others, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })...)
		pf := formField{Name: "autres", Label: "Paiements (identifiants de ligne, séparés par des virgules)", Value: strings.Join(picked, ", ")}
		tf := formField{Name: "motif", Label: a.Field, Value: text, Area: true, Error: textProblem(text, true)}
		ids, perr := httptransport.CheckPaymentIDs("paiements", picked)
		if perr != nil {
			pf.Error = paymentIDsProblem(perr, len(picked))
		}
		if pf.Error != "" || tf.Error != "" {
			form.Fields = []formField{pf, tf}
			break
		}
		_, err = c.opts.Reconcile.MatchByHand(ctx, id, ids, by, text)
	case "suspense", "close":
		if msg := textProblem(text, true); msg != "" {
			form.Fields = []formField{{Name: "motif", Label: a.Field, Value: text, Area: true, Error: msg}}
			break
		}
		if name == "suspense" {
			_, err = c.opts.Reconcile.BookToSuspense(ctx, id, by, text)
		} else {
			_, err = c.opts.Reconcile.Close(ctx, id, by, text)
		}
	case "assign":
		owner := strings.TrimSpace(r.PostFormValue("responsable"))
		o, oerr := httptransport.CheckOwner("responsable", owner)
		if oerr != nil {
			msg := "Indiquez l'identifiant de la personne, sans espace, par exemple claire.controller."
			if utf8.RuneCountInString(owner) > 100 {
				msg = "L'identifiant dépasse 100 caractères."
			}
			form.Fields = []formField{{Name: "responsable", Label: a.Field, Value: owner, Error: msg}}
			break
		}
		_, err = c.opts.Reconcile.Assign(ctx, id, o, by)
	}
	if form.Fields == nil && err == nil {
		c.log.Info("console reconciliation action", "action", name, "exception", id.String(), "name", s.Name)
		http.Redirect(w, r, pathRecon+"?fait="+name, http.StatusSeeOther)
		return
	}
	c.reconAgain(w, r, s, form, err)
}

// paymentIDsProblem says in French why the payments of a match are not
// valid.
func paymentIDsProblem(err error, n int) string {
	if n == 0 {
		return "Choisissez au moins un paiement, ou indiquez son identifiant de ligne."
	}
	msg := errs.MessageOf(err)
	switch {
	case strings.Contains(msg, "given twice"):
		return "Un paiement est indiqué deux fois."
	case strings.Contains(msg, "characters"):
		return "Un identifiant de ligne est trop long (" + strconv.Itoa(payments.LineIDLen) + " caractères au plus)."
	}
	return "Un identifiant de ligne n'est pas valable : lettres, chiffres et ponctuation, sans espace."
}

// reconAgain shows the page again after a move that was not made: with
// the form of a bad value, or the refusal of the service.
func (c *Console) reconAgain(w http.ResponseWriter, r *http.Request, s *Session, form reconForm, err error) {
	d := c.newReconData(r, s)
	status := http.StatusBadRequest
	if form.Fields != nil {
		d.Form = &form
	} else {
		status, d.Refusal = frenchError(err)
		if detail := errs.MessageOf(err); status < 500 && detail != "" {
			d.Refusal += " Détail du service : « " + detail + " »."
		}
	}
	c.showRecon(w, r, s, d, status)
}

// undoMatch undoes a match, with a reason: its postings are reversed and
// the line is an exception again.
func (c *Console) undoMatch(w http.ResponseWriter, r *http.Request, s *Session) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		c.refuse(w, r, s, http.StatusNotFound, "Ce rapprochement n'existe pas.")
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("motif"))
	form := reconForm{Title: "Défaire le rapprochement", Name: "undo", Action: pathRecon + "/rapprochements/" + id.String() + "/defaire"}
	if p := textProblem(reason, true); p != "" {
		form.Fields = []formField{{Name: "motif", Label: "Motif : pourquoi ce rapprochement était faux", Value: reason, Area: true, Error: p}}
	} else if err = c.opts.Reconcile.UndoMatch(r.Context(), id, actor(s, r), reason); err == nil {
		c.log.Info("console match undone", "match", id.String(), "name", s.Name)
		http.Redirect(w, r, pathRecon+"?fait=undo", http.StatusSeeOther)
		return
	}
	c.reconAgain(w, r, s, form, err)
}

// reconStatusLabel names the status of a reconciliation exception in
// French.
func reconStatusLabel(s reconcile.ExceptionStatus) string {
	switch s {
	case reconcile.ExceptionOpen:
		return "ouvertes"
	case reconcile.ExceptionResolved:
		return "résolues"
	case reconcile.ExceptionClosed:
		return "closes"
	}
	return string(s)
}

package console

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
	httptransport "github.com/ofii/allowances/transport/http"
)

// Reconciliation imports the bank's statements and settles what they do
// not explain (reconcile.Service).
type Reconciliation interface {
	ImportFrom(ctx context.Context, file io.ReadSeeker, by payments.Actor) (reconcile.ImportResult, error)
	Exceptions(ctx context.Context, f reconcile.ExceptionFilter) ([]reconcile.Exception, error)
	Confirm(ctx context.Context, id uuid.UUID, by payments.Actor) (reconcile.Exception, error)
	BookToSuspense(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (reconcile.Exception, error)
	Close(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (reconcile.Exception, error)
	UndoMatch(ctx context.Context, matchID uuid.UUID, by payments.Actor, reason string) error
	Matches(ctx context.Context, f reconcile.MatchFilter) ([]reconcile.Match, error)
	Report(ctx context.Context, account string, day ledger.Date) (reconcile.Report, error)
}

// reconData is the "Rapprochement" page.
type reconData struct {
	Day        string
	DayError   string
	Report     *reconcile.Report
	Exceptions []reconcile.Exception
	Matches    []reconcile.Match
	CanImport  bool
	CanResolve bool
	Imported   *reconcile.ImportResult
	Done       string
	Refusal    string
	RowError   map[string]string // by exception or match id
	RowValue   map[string]string
}

var reconDone = map[string]string{
	"confirm":  "La suggestion a été confirmée : la ligne du relevé est rapprochée du paiement.",
	"suspense": "La ligne du relevé a été passée en compte d'attente.", "close": "L'anomalie a été close sans écriture.",
	"undo": "Le rapprochement a été défait : la ligne du relevé est de nouveau à rapprocher.",
}

// reconPage shows the report of a day, the open exceptions and the latest
// matches, with the statement upload and the actions of the person's
// roles.
func (c *Console) reconPage(w http.ResponseWriter, r *http.Request, s *Session) {
	d := c.newReconData(r, s)
	d.Day = strings.TrimSpace(r.URL.Query().Get("jour"))
	d.Done = reconDone[r.URL.Query().Get("fait")]
	c.showRecon(w, r, s, d, http.StatusOK)
}

func (c *Console) newReconData(_ *http.Request, s *Session) reconData {
	return reconData{CanImport: s.Has(roleNames(httptransport.StatementImporters)...),
		CanResolve: s.Has(roleNames(httptransport.Reconcilers)...), RowError: map[string]string{}, RowValue: map[string]string{}}
}

func (c *Console) showRecon(w http.ResponseWriter, r *http.Request, s *Session, d reconData, status int) {
	ctx := r.Context()
	day := payments.LegalDay(c.opts.Now()).AddDays(-1)
	if d.Day != "" {
		t, err := time.Parse("02/01/2006", d.Day)
		if err != nil {
			d.DayError = "Indiquez une date sous la forme JJ/MM/AAAA, par exemple 04/12/2026."
			status = http.StatusBadRequest
		} else {
			day = ledger.NewDate(t.Year(), t.Month(), t.Day())
		}
	} else {
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
	xs, err := c.opts.Reconcile.Exceptions(ctx, reconcile.ExceptionFilter{Status: reconcile.ExceptionOpen, Limit: 100})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.Exceptions = xs
	ms, err := c.opts.Reconcile.Matches(ctx, reconcile.MatchFilter{Limit: 50})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.Matches = ms
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

// reconAction confirms a suggestion, books a line to suspense or closes an
// exception; a reason left empty shows the page again, the row marked.
func (c *Console) reconAction(w http.ResponseWriter, r *http.Request, s *Session) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		c.refuse(w, r, s, http.StatusNotFound, "Cette anomalie n'existe pas.")
		return
	}
	action := r.PostFormValue("action")
	reason := strings.TrimSpace(r.PostFormValue("motif"))
	by := actor(s, r)
	d := c.newReconData(r, s)
	switch action {
	case "confirm":
		_, err = c.opts.Reconcile.Confirm(r.Context(), id, by)
	case "suspense", "close":
		if p := textProblem(reason, true); p != "" {
			d.RowError[id.String()], d.RowValue[id.String()] = p, reason
			c.showRecon(w, r, s, d, http.StatusBadRequest)
			return
		}
		if action == "suspense" {
			_, err = c.opts.Reconcile.BookToSuspense(r.Context(), id, by, reason)
		} else {
			_, err = c.opts.Reconcile.Close(r.Context(), id, by, reason)
		}
	default:
		c.refuse(w, r, s, http.StatusBadRequest, "Cette action n'existe pas.")
		return
	}
	if err != nil {
		status, msg := frenchError(err)
		d.Refusal = msg
		c.showRecon(w, r, s, d, status)
		return
	}
	http.Redirect(w, r, pathRecon+"?fait="+action, http.StatusSeeOther)
}

// undoMatch undoes a match, with a reason.
func (c *Console) undoMatch(w http.ResponseWriter, r *http.Request, s *Session) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		c.refuse(w, r, s, http.StatusNotFound, "Ce rapprochement n'existe pas.")
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("motif"))
	d := c.newReconData(r, s)
	if p := textProblem(reason, true); p != "" {
		d.RowError[id.String()], d.RowValue[id.String()] = p, reason
		c.showRecon(w, r, s, d, http.StatusBadRequest)
		return
	}
	if err := c.opts.Reconcile.UndoMatch(r.Context(), id, actor(s, r), reason); err != nil {
		status, msg := frenchError(err)
		d.Refusal = msg
		c.showRecon(w, r, s, d, status)
		return
	}
	http.Redirect(w, r, pathRecon+"?fait=undo", http.StatusSeeOther)
}

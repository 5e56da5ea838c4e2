package console

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/payments"
	httptransport "github.com/ofii/allowances/transport/http"
)

// linesPerPage is how many lines a batch's page shows at once; maxLines
// how many of a batch's lines are searched and sorted.
const (
	linesPerPage = 50
	maxLines     = 20000
	maxNote      = 500
)

// batchesData is the "Lots" page.
type batchesData struct {
	Batches  []payments.Batch
	Status   string
	Kind     string
	Period   string
	Errors   map[string]string
	Statuses []payments.BatchStatus
}

var listedStatuses = []payments.BatchStatus{payments.BatchDraft, payments.BatchPending, payments.BatchApproved, payments.BatchReleasing,
	payments.BatchReleased, payments.BatchSettled, payments.BatchPartlyRejected, payments.BatchCancelled}

// batchesPage lists the batches, filtered by status, kind and month; a
// filter of a bad value is shown again, marked, and nothing is listed.
func (c *Console) batchesPage(w http.ResponseWriter, r *http.Request, s *Session) {
	q := r.URL.Query()
	d := batchesData{Status: q.Get("statut"), Kind: q.Get("nature"), Period: q.Get("mois"), Errors: map[string]string{},
		Statuses: listedStatuses}
	f := payments.BatchFilter{Limit: 100}
	if d.Status != "" {
		if !slices.Contains(listedStatuses, payments.BatchStatus(d.Status)) {
			d.Errors["statut"] = "Choisissez un statut de la liste."
		}
		f.Status = payments.BatchStatus(d.Status)
	}
	switch d.Kind {
	case "":
	case string(payments.RunADA), string(payments.RunGrants), string(payments.RunReissue):
		f.Kind = payments.RunKind(d.Kind)
	default:
		d.Errors["nature"] = "Choisissez une nature de la liste."
	}
	if d.Period != "" {
		p, err := payments.ParsePeriod(d.Period)
		if err != nil {
			d.Errors["mois"] = "Indiquez un mois sous la forme AAAA-MM, par exemple 2026-10."
		}
		f.Period = p
	}
	status := http.StatusOK
	if len(d.Errors) > 0 {
		status = http.StatusBadRequest
	} else {
		bs, err := c.opts.Batches.Batches(r.Context(), f)
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Batches = bs
	}
	c.render(w, r, s, status, "batches", "Lots", d)
}

// batchData is a batch's page.
type batchData struct {
	Batch   payments.Batch
	Schemes []schemeTotal
	Lines   []lineView
	Total   int // lines found
	Page    int
	Pages   int
	Query   string
	Sort    string
	Partial bool // the batch has more lines than are searched
	Prev    string
	Next    string
	Actions []actionView
	Done    string // what was just done, in words
	Refusal string // why the action was refused, in words
	Form    *actionView
	Changes *batchChanges
}

type schemeTotal struct {
	Scheme payments.Scheme
	payments.Totals
}

type lineView struct {
	payments.BatchLine
	IBAN string // masked
}

// actionView is one action the person may take on the batch, confirmed in
// a modal with a note or a reason.
type actionView struct {
	Name     string // submit, approve...
	Label    string // the button
	Title    string // the modal's title
	Field    string // the label of the text field
	Required bool   // the text is a reason, required
	Primary  bool
	Value    string
	Error    string
	// CanForce: the approval may be forced beyond the budget (an
	// approver who holds the budget role); Force and ForceReason are
	// the form's, ForceError the reason's error.
	CanForce    bool
	Force       bool
	ForceReason string
	ForceError  string
}

var actions = []struct {
	actionView
	roles  []httptransport.Role
	status []payments.BatchStatus
}{
	{actionView{Name: "submit", Label: "Soumettre à l'approbation", Title: "Soumettre le lot à l'approbation", Field: "Note (facultative)", Primary: true},
		httptransport.BatchSubmitters, []payments.BatchStatus{payments.BatchDraft}},
	{actionView{Name: "approve", Label: "Approuver", Title: "Approuver le lot", Field: "Note (facultative)", Primary: true},
		httptransport.BatchApprovers, []payments.BatchStatus{payments.BatchPending}},
	{actionView{Name: "reject", Label: "Rejeter", Title: "Rejeter le lot", Field: "Motif du rejet", Required: true},
		httptransport.BatchApprovers, []payments.BatchStatus{payments.BatchPending}},
	{actionView{Name: "release", Label: "Envoyer à la banque", Title: "Envoyer le lot à la banque", Primary: true},
		httptransport.BatchApprovers, []payments.BatchStatus{payments.BatchApproved}},
	{actionView{Name: "cancel", Label: "Annuler le lot", Title: "Annuler le lot", Field: "Motif de l'annulation", Required: true},
		httptransport.BatchCancellers, []payments.BatchStatus{payments.BatchDraft, payments.BatchPending, payments.BatchApproved, payments.BatchReleasing}},
}

// canForce reports whether s may force an approval beyond the budget:
// an approver who also holds the budget role (payments.BudgetOverride).
func canForce(s *Session) bool { return s.Has(payments.RoleApprover) && s.Has(payments.RoleBudget) }

// allowedActions are the actions s's roles allow on b in its status.
func allowedActions(s *Session, b payments.Batch) []actionView {
	var out []actionView
	for _, a := range actions {
		if s.Has(roleNames(a.roles)...) && slices.Contains(a.status, b.Status) {
			v := a.actionView
			v.CanForce = v.Name == "approve" && canForce(s)
			out = append(out, v)
		}
	}
	return out
}

var doneText = map[string]string{
	"submit":  "Le lot a été soumis à l'approbation.",
	"approve": "Votre approbation a été enregistrée.",
	"reject":  "Le lot a été rejeté et renvoyé en brouillon.",
	"release": "Le lot a été envoyé : ses fichiers de virement partent vers la banque.",
	"cancel":  "Le lot a été annulé.",
}

// batchPage shows a batch: its totals per scheme, its approvals, its lines
// (searched by beneficiary, sorted by amount, a page at a time) and the
// actions the person's roles allow.
func (c *Console) batchPage(w http.ResponseWriter, r *http.Request, s *Session) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		c.refuse(w, r, s, http.StatusNotFound, "Ce lot n'existe pas : son identifiant n'est pas valable.")
		return
	}
	d, ok := c.loadBatch(w, r, s, id)
	if !ok {
		return
	}
	d.Done = doneText[r.URL.Query().Get("fait")]
	c.render(w, r, s, http.StatusOK, "batch", "Lot "+shortID(id.String()), d)
}

// loadBatch reads what a batch's page shows; on failure it has answered.
func (c *Console) loadBatch(w http.ResponseWriter, r *http.Request, s *Session, id uuid.UUID) (batchData, bool) {
	ctx := r.Context()
	b, err := c.opts.Batches.Batch(ctx, id)
	if err != nil {
		c.fail(w, r, s, err)
		return batchData{}, false
	}
	d := batchData{Batch: b, Actions: allowedActions(s, b)}
	for _, sc := range payments.Schemes {
		if t, ok := b.Totals[sc]; ok {
			d.Schemes = append(d.Schemes, schemeTotal{sc, t})
		}
	}
	q := r.URL.Query()
	d.Query = strings.TrimSpace(q.Get("beneficiaire"))
	if utf8.RuneCountInString(d.Query) > 100 {
		d.Query = ""
	}
	d.Sort = q.Get("tri")
	if d.Sort != "montant-croissant" && d.Sort != "montant-decroissant" {
		d.Sort = ""
	}
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = max(d.Page, 1)

	var lines []payments.BatchLine
	net := map[string]decimal.Decimal{}
	cursor, read := "", 0
	for {
		page, next, err := c.opts.Batches.BatchLines(ctx, id, cursor, 1000)
		if err != nil {
			c.fail(w, r, s, err)
			return batchData{}, false
		}
		for _, l := range page {
			net[l.BeneficiaryID] = net[l.BeneficiaryID].Add(l.Net)
			if d.Query == "" || strings.Contains(strings.ToUpper(l.BeneficiaryID), strings.ToUpper(d.Query)) {
				lines = append(lines, l)
			}
		}
		read += len(page)
		if next == "" || read >= maxLines {
			d.Partial = next != ""
			break
		}
		cursor = next
	}
	if !d.Partial {
		ch, err := c.changesOf(ctx, b, net)
		if err != nil {
			c.fail(w, r, s, err)
			return batchData{}, false
		}
		d.Changes = ch
	}
	switch d.Sort {
	case "montant-croissant":
		slices.SortStableFunc(lines, func(a, b payments.BatchLine) int { return a.Net.Cmp(b.Net) })
	case "montant-decroissant":
		slices.SortStableFunc(lines, func(a, b payments.BatchLine) int { return b.Net.Cmp(a.Net) })
	default:
		slices.SortStableFunc(lines, func(a, b payments.BatchLine) int { return cmp.Compare(a.ID, b.ID) })
	}
	d.Total = len(lines)
	d.Pages = max(1, (d.Total+linesPerPage-1)/linesPerPage)
	d.Page = min(d.Page, d.Pages)
	shown := lines[(d.Page-1)*linesPerPage : min(d.Page*linesPerPage, d.Total)]
	for _, l := range shown {
		v := lineView{BatchLine: l, IBAN: mask.MaskIBAN(l.Payee.IBAN)}
		v.Payee.IBAN = ""
		d.Lines = append(d.Lines, v)
	}
	link := func(page int) string {
		v := url.Values{}
		if d.Query != "" {
			v.Set("beneficiaire", d.Query)
		}
		if d.Sort != "" {
			v.Set("tri", d.Sort)
		}
		v.Set("page", strconv.Itoa(page))
		return "?" + v.Encode() + "#lignes"
	}
	if d.Page > 1 {
		d.Prev = link(d.Page - 1)
	}
	if d.Page < d.Pages {
		d.Next = link(d.Page + 1)
	}
	// Who read whose lines is recorded before they are shown, as the API
	// does; the IBANs are masked.
	if err := c.opts.Batches.RecordReads(ctx, actor(s, r), append(linesRead(id.String(), shown), changeReads(id.String(), d.Changes)...)); err != nil {
		c.fail(w, r, s, err)
		return batchData{}, false
	}
	return d, true
}

// linesRead is the reads of the lines shown: one per beneficiary.
func linesRead(batch string, lines []payments.BatchLine) []payments.Read {
	count := map[string]int{}
	var order []string
	for _, l := range lines {
		if count[l.BeneficiaryID] == 0 {
			order = append(order, l.BeneficiaryID)
		}
		count[l.BeneficiaryID]++
	}
	reads := make([]payments.Read, len(order))
	for i, b := range order {
		reads[i] = payments.Read{What: payments.ReadBatchLines, ObjectID: batch, Beneficiary: b, Fields: []string{},
			Details: map[string]any{"lines": count[b], "via": "console"}}
	}
	return reads
}

// batchAction takes one action on a batch, through the approval workflow:
// the roles are checked here as the API checks them, the four-eyes rules
// by the workflow itself. A text field of a bad value shows the page again
// with the field marked; a refusal is said in French.
func (c *Console) batchAction(w http.ResponseWriter, r *http.Request, s *Session) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		c.refuse(w, r, s, http.StatusNotFound, "Ce lot n'existe pas : son identifiant n'est pas valable.")
		return
	}
	name := r.PathValue("action")
	i := slices.IndexFunc(actions, func(a struct {
		actionView
		roles  []httptransport.Role
		status []payments.BatchStatus
	}) bool {
		return a.Name == name
	})
	if i < 0 {
		c.refuse(w, r, s, http.StatusNotFound, "Cette action n'existe pas.")
		return
	}
	a := actions[i]
	if !s.Has(roleNames(a.roles)...) {
		c.refuse(w, r, s, http.StatusForbidden, "Votre rôle ne vous permet pas de faire cette action.")
		return
	}
	text := strings.TrimSpace(r.PostFormValue("texte"))
	form := a.actionView
	form.Value = text
	switch {
	case a.Required && text == "":
		form.Error = "Indiquez le motif : il est inscrit au journal d'audit."
	case utf8.RuneCountInString(text) > maxNote:
		form.Error = "Le texte dépasse " + strconv.Itoa(maxNote) + " caractères."
	case strings.ContainsFunc(text, func(r rune) bool { return r < ' ' && r != '\n' && r != '\r' && r != '\t' }):
		form.Error = "Le texte contient des caractères de contrôle."
	}
	var override payments.BudgetOverride
	if name == "approve" {
		form.CanForce = canForce(s)
		form.Force = r.PostFormValue("forcer") != ""
		form.ForceReason = strings.TrimSpace(r.PostFormValue("motif_credits"))
		if form.Force && !form.CanForce {
			c.refuse(w, r, s, http.StatusForbidden, "Seule une personne qui détient aussi le rôle budget peut forcer une approbation au-delà des crédits.")
			return
		}
		switch {
		case form.Force && form.ForceReason == "":
			form.ForceError = "Indiquez pourquoi vous forcez l'approbation au-delà des crédits : le motif est inscrit au journal d'audit."
		case utf8.RuneCountInString(form.ForceReason) > maxNote:
			form.ForceError = "Le texte dépasse " + strconv.Itoa(maxNote) + " caractères."
		case strings.ContainsFunc(form.ForceReason, func(r rune) bool { return r < ' ' && r != '\n' && r != '\r' && r != '\t' }):
			form.ForceError = "Le texte contient des caractères de contrôle."
		}
		if form.Force {
			override = payments.BudgetOverride{Force: true, Reason: form.ForceReason}
		} else {
			form.ForceReason = ""
		}
	}
	by := actor(s, r)
	if form.Error == "" && form.ForceError == "" {
		ctx := r.Context()
		switch name {
		case "submit":
			_, err = c.opts.Workflow.Submit(ctx, id, by, text)
		case "approve":
			_, err = c.opts.Workflow.ApproveOverriding(ctx, id, by, text, override)
		case "reject":
			_, err = c.opts.Workflow.Reject(ctx, id, by, text)
		case "cancel":
			_, err = c.opts.Workflow.Cancel(ctx, id, by, text)
		case "release":
			_, err = c.opts.Workflow.Release(ctx, id, by)
		default:
			err = errors.New("unknown action " + name)
		}
		if err == nil {
			c.log.Info("console batch action", "action", name, "batch", id.String(), "name", s.Name)
			http.Redirect(w, r, pathBatches+"/"+id.String()+"?fait="+name, http.StatusSeeOther)
			return
		}
	}
	d, ok := c.loadBatch(w, r, s, id)
	if !ok {
		return
	}
	status := http.StatusBadRequest
	if form.Error == "" && form.ForceError == "" {
		var msg string
		status, msg = frenchError(err)
		if status >= 500 {
			c.log.Error("console batch action failed", "action", name, "batch", id.String(), "error", err.Error())
		} else {
			c.log.Info("console batch action refused", "action", name, "batch", id.String(), "name", s.Name, "reason", err.Error())
		}
		d.Refusal = msg
	} else {
		d.Form = &form
	}
	c.render(w, r, s, status, "batch", "Lot "+shortID(id.String()), d)
}

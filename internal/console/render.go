package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
)

// pages are the parsed templates: each page's file with the layout.
type pages struct {
	byName map[string]*template.Template
}

var funcs = template.FuncMap{
	"euros":         Euros,
	"date":          Date,
	"datetime":      DateTime,
	"day":           Day,
	"month":         func(p payments.Period) string { return Month(p.Year, p.Month) },
	"batchStatus":   batchStatusLabel,
	"batchBadge":    batchStatusBadge,
	"fileStatus":    fileStatusLabel,
	"fileBadge":     fileStatusBadge,
	"scheme":        schemeLabel,
	"schemeShort":   schemeShort,
	"excStatus":     exceptionStatusLabel,
	"todo":          actionLabel,
	"auditAction":   auditActionLabel,
	"rule":          ruleLabel[reconcile.Rule],
	"reconKind":     reconKindLabel[reconcile.ExceptionKind],
	"reconStatus":   reconStatusLabel,
	"idstr":         func(id fmt.Stringer) string { return id.String() },
	"excBadge":      exceptionStatusBadge,
	"kind":          kindLabel,
	"amendmentKind": amendmentKindLabel,
	"cover":         frenchNumber,
	"role":          roleLabel,
	"roles":         func(rs []string) string { return rolesLabel(rs) },
	"short":         func(s string) string { return shortID(s) },
	"isZeroAmount":  func(d decimal.Decimal) bool { return d.IsZero() },
	"zeroDate":      func(d ledger.Date) bool { return d.IsZero() },
	"add":           func(a, b int) int { return a + b },
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
}

func parsePages() (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(files, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		p.byName[base] = t
	}
	return p, nil
}

// view is what the layout shows around a page.
type view struct {
	Title   string
	Nav     []navView
	Session *Session
	CSRF    string
	Dev     bool
	Data    any
}

type navView struct {
	navItem
	Current bool
}

// render writes the page name with data, in the layout.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *Session, status int, name, title string, data any) {
	t := c.pages.byName[name]
	v := view{Title: title, Session: s, Dev: c.opts.Dev, Data: data}
	if s != nil {
		v.CSRF = s.CSRFToken()
		for _, n := range navigation {
			roles := n.Roles
			if len(roles) == 0 {
				roles = everyone
			}
			if s.Has(roles...) {
				v.Nav = append(v.Nav, navView{navItem: n, Current: r.URL.Path == n.Path || strings.HasPrefix(r.URL.Path, n.Path+"/")})
			}
		}
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		c.log.Error("console page not rendered", "page", name, "error", err.Error())
		http.Error(w, "erreur interne", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// refuse shows a page saying why the request was refused, in French.
func (c *Console) refuse(w http.ResponseWriter, r *http.Request, s *Session, status int, message string) {
	c.render(w, r, s, status, "error", "Action impossible", map[string]any{"Message": message, "Status": status})
}

// fail logs a fault and shows the page of the error's kind.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *Session, err error) {
	status, msg := frenchError(err)
	if status >= 500 {
		c.log.Error("console request failed", "path", r.URL.Path, "error", err.Error())
	}
	c.refuse(w, r, s, status, msg)
}

// frenchError says an error of the services in French, with the status of
// its kind; the four-eyes refusals and the statuses are said in words.
func frenchError(err error) (int, string) {
	msg := err.Error()
	switch {
	case strings.Contains(msg, " prepared batch "):
		return http.StatusForbidden, "Vous avez préparé ce lot : une autre personne doit l'approuver."
	case strings.Contains(msg, " computed batch "):
		return http.StatusForbidden, "Vous avez calculé ce lot (lancé son calcul) : une autre personne doit l'approuver."
	case strings.Contains(msg, "has already approved batch"):
		return http.StatusConflict, "Vous avez déjà approuvé ce lot : la seconde approbation doit venir d'un autre approbateur."
	case strings.Contains(msg, " recorded amendment "):
		return http.StatusForbidden, "Vous avez enregistré cette modification des crédits : une autre personne doit la confirmer."
	case strings.Contains(msg, "amendment ") && strings.Contains(msg, " was confirmed by "):
		return http.StatusConflict, "Cette modification des crédits a déjà été confirmée par une autre personne."
	case strings.Contains(msg, "is no longer awaiting confirmation"):
		return http.StatusConflict, "Cette modification des crédits n'attend plus de confirmation : rechargez la page."
	case strings.Contains(msg, "transferring out "):
		return http.StatusConflict, "Ce virement sortant laisserait les crédits disponibles en dessous de zéro" + availableOf(msg) + " : il n'a pas été confirmé."
	case strings.Contains(msg, "is beyond its budget: "):
		return http.StatusConflict, budgetRefusal(msg)
	case strings.Contains(msg, "does not hold the budget role"):
		return http.StatusForbidden, "Seule une personne qui détient aussi le rôle budget peut forcer une approbation au-delà des crédits."
	case strings.Contains(msg, "has no lines"):
		return http.StatusConflict, "Ce lot n'a aucune ligne : il n'y a rien à approuver."
	}
	for _, st := range []payments.BatchStatus{payments.BatchDraft, payments.BatchPending, payments.BatchApproving, payments.BatchApproved,
		payments.BatchReleasing, payments.BatchReleased, payments.BatchSettled, payments.BatchPartlyRejected, payments.BatchCancelled,
		payments.BatchCancelling, payments.BatchBuilding, payments.BatchReplaced, payments.BatchUnapproving} {
		if strings.Contains(msg, " is "+string(st)+": only") {
			return http.StatusConflict, "Cette action n'est pas possible : le lot est « " + batchStatusLabel(st) + " »."
		}
	}
	switch errs.CodeOf(err) {
	case errs.NotFound:
		return http.StatusNotFound, "Cet élément n'existe pas."
	case errs.Forbidden:
		return http.StatusForbidden, "Cette action vous est refusée."
	case errs.Conflict:
		return http.StatusConflict, "Cette action n'est pas possible dans l'état actuel : rechargez la page."
	case errs.Invalid:
		return http.StatusBadRequest, "Une valeur envoyée n'est pas valable."
	case errs.Unavailable:
		return http.StatusServiceUnavailable, "Un service nécessaire est indisponible : réessayez dans quelques instants."
	}
	var me *http.MaxBytesError
	if errors.As(err, &me) {
		return http.StatusRequestEntityTooLarge, "L'envoi est trop volumineux."
	}
	return http.StatusInternalServerError, "Une erreur interne est survenue ; elle a été enregistrée. Réessayez plus tard."
}

var batchStatuses = map[payments.BatchStatus][2]string{
	payments.BatchBuilding:       {"En construction", "info"},
	payments.BatchDraft:          {"Brouillon", "new"},
	payments.BatchReplaced:       {"Remplacé", "info"},
	payments.BatchPending:        {"En attente d'approbation", "warning"},
	payments.BatchApproving:      {"En cours d'approbation", "info"},
	payments.BatchUnapproving:    {"Approbation en cours d'annulation", "warning"},
	payments.BatchApproved:       {"Approuvé", "success"},
	payments.BatchReleasing:      {"En cours d'envoi", "info"},
	payments.BatchReleased:       {"Envoyé", "info"},
	payments.BatchSettled:        {"Réglé", "success"},
	payments.BatchPartlyRejected: {"Partiellement rejeté", "error"},
	payments.BatchCancelling:     {"En cours d'annulation", "warning"},
	payments.BatchCancelled:      {"Annulé", "error"},
}

func batchStatusLabel(s payments.BatchStatus) string {
	if l, ok := batchStatuses[s]; ok {
		return l[0]
	}
	return string(s)
}

func batchStatusBadge(s payments.BatchStatus) string {
	if l, ok := batchStatuses[s]; ok {
		return "fr-badge--" + l[1]
	}
	return ""
}

var fileStatuses = map[payments.FileStatus][2]string{
	payments.FileBuilding:       {"En préparation", "info"},
	payments.FileQueued:         {"En attente d'envoi", "new"},
	payments.FileSent:           {"Envoyé à la banque", "info"},
	payments.FileAccepted:       {"Accepté", "success"},
	payments.FilePartlyRejected: {"Partiellement rejeté", "error"},
	payments.FileRefused:        {"Refusé par la banque", "error"},
	payments.FileWithdrawn:      {"Retiré", "warning"},
}

func fileStatusLabel(s payments.FileStatus) string {
	if l, ok := fileStatuses[s]; ok {
		return l[0]
	}
	return string(s)
}

func fileStatusBadge(s payments.FileStatus) string {
	if l, ok := fileStatuses[s]; ok {
		return "fr-badge--" + l[1]
	}
	return ""
}

func schemeLabel(s payments.Scheme) string {
	switch s {
	case payments.SchemeADA:
		return "Allocation pour demandeur d'asile (ADA)"
	case payments.SchemeReturn:
		return "Aide au retour"
	case payments.SchemeReinsertion:
		return "Aide à la réinsertion"
	case payments.SchemeBusinessCreation:
		return "Aide à la création d'entreprise"
	}
	return string(s)
}

// schemeShort names a scheme in a table's cell.
func schemeShort(s payments.Scheme) string {
	switch s {
	case payments.SchemeADA:
		return "ADA"
	case payments.SchemeReturn:
		return "Retour"
	case payments.SchemeReinsertion:
		return "Réinsertion"
	case payments.SchemeBusinessCreation:
		return "Création d'entreprise"
	}
	return string(s)
}

func kindLabel(k payments.RunKind) string {
	switch k {
	case "ada":
		return "ADA mensuelle"
	case "grants":
		return "Aides au retour et à la réinsertion"
	case payments.RunReissue:
		return "Nouvel envoi"
	}
	return string(k)
}

func roleLabel(r string) string {
	switch r {
	case payments.RolePreparer:
		return "préparateur"
	case payments.RoleApprover:
		return "approbateur"
	case payments.RoleController:
		return "contrôleur"
	case payments.RoleAuditor:
		return "auditeur"
	case payments.RoleAdmin:
		return "administrateur"
	case payments.RoleBudget:
		return "budget"
	}
	return r
}

func rolesLabel(rs []string) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = roleLabel(r)
	}
	return strings.Join(out, ", ")
}

// shortID is the first 8 characters of an id, for tables.
func shortID(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// actionLabel says in French what to do about a rejected payment
// (sepa.Action).
func actionLabel(a string) string {
	switch a {
	case "fix_payee":
		return "corriger le bénéficiaire du virement (compte ou titulaire)"
	case "retry":
		return "renvoyer le paiement tel quel"
	case "never_resend":
		return "ne pas renvoyer ce paiement"
	case "our_bug":
		return "erreur du fichier émis : à signaler à l'équipe technique"
	case "stop_paying":
		return "cesser les paiements : le titulaire est décédé ou le compte est fermé définitivement"
	case "review":
		return "examiner le rejet avec la banque"
	}
	return a
}

var auditActions = map[string]string{
	"submit": "Soumission", "approve": "Approbation", "approved": "Approuvé", "reject": "Rejet", "cancel": "Annulation",
	"cancelled": "Annulé", "release": "Envoi à la banque", "released": "Envoyé", "send": "Transmission à la banque",
	"sent": "Transmis", "report": "Compte rendu de la banque", "refused": "Refusé par la banque", "withdraw": "Retrait",
	"correct_payee": "Correction du bénéficiaire", "close": "Clôture", "closed": "Clos", "reissue": "Nouvel envoi",
	"read": "Consultation", "record": "Enregistrement", "confirm": "Confirmation", "force_budget": "Dépassement des crédits forcé",
}

// auditActionLabel names an action of the audit trail in French, the
// code itself when it has no name.
func auditActionLabel(a string) string {
	if l, ok := auditActions[a]; ok {
		return l
	}
	return a
}

var rules = map[string]string{
	"end_to_end": "référence de bout en bout", "batch": "fichier entier", "return": "retour de fonds",
	"suggestion": "suggestion confirmée", "manual": "à la main", "fee": "frais bancaires", "suspense": "compte d'attente",
}

// ruleLabel names a matching rule in French.
func ruleLabel[T ~string](r T) string {
	if l, ok := rules[string(r)]; ok {
		return l
	}
	return string(r)
}

var reconKinds = map[string]string{
	"unmatched": "Ligne inexpliquée", "amount_mismatch": "Montant différent", "duplicate": "Doublon",
	"ambiguous": "Plusieurs paiements possibles", "suggestion": "Suggestion à confirmer", "returned": "Fonds retournés",
	"in_transit_too_long": "Paiement en transit depuis trop longtemps",
}

// reconKindLabel names a kind of reconciliation exception in French.
func reconKindLabel[T ~string](k T) string {
	if l, ok := reconKinds[string(k)]; ok {
		return l
	}
	return string(k)
}

package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ofii/allowances/payments"
)

// AuditTrail reads the audit trail (payments.Approvals).
type AuditTrail interface {
	Audit(ctx context.Context, f payments.AuditFilter) ([]payments.AuditEvent, string, error)
}

// journalData is the "Journal" page: the audit trail, filtered.
type journalData struct {
	Events      []payments.AuditEvent
	Actor       string
	Action      string
	Kind        string
	Object      string
	Beneficiary string
	Since       string
	Errors      map[string]string
	Next        string
}

// journalPage shows the audit trail, oldest first, a page at a time; a
// filter of a bad value is shown again, marked, and nothing is read.
func (c *Console) journalPage(w http.ResponseWriter, r *http.Request, s *Session) {
	q := r.URL.Query()
	d := journalData{Actor: strings.TrimSpace(q.Get("personne")), Action: strings.TrimSpace(q.Get("action")),
		Kind: strings.TrimSpace(q.Get("objet")), Object: strings.TrimSpace(q.Get("id")),
		Beneficiary: strings.TrimSpace(q.Get("beneficiaire")), Since: strings.TrimSpace(q.Get("depuis")), Errors: map[string]string{}}
	f := payments.AuditFilter{Actor: d.Actor, Action: d.Action, Kind: d.Kind, ObjectID: d.Object, Beneficiary: d.Beneficiary,
		After: q.Get("apres"), Limit: 50}
	for name, v := range map[string]string{"personne": d.Actor, "action": d.Action, "objet": d.Kind, "id": d.Object, "beneficiaire": d.Beneficiary} {
		if utf8.RuneCountInString(v) > 100 {
			d.Errors[name] = "Ce filtre dépasse 100 caractères."
		}
	}
	if d.Since != "" {
		t, err := time.ParseInLocation("02/01/2006", d.Since, paris)
		if err != nil {
			d.Errors["depuis"] = "Indiquez une date sous la forme JJ/MM/AAAA, par exemple 04/12/2026."
		}
		f.Since = t
	}
	if len(f.After) > 200 {
		d.Errors["apres"] = "Le repère de page n'est pas valable."
	}
	if len(d.Errors) > 0 {
		c.render(w, r, s, http.StatusBadRequest, "journal", "Journal d'audit", d)
		return
	}
	events, next, err := c.opts.Audit.Audit(r.Context(), f)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.Events = events
	if next != "" {
		v := url.Values{}
		for k, x := range map[string]string{"personne": d.Actor, "action": d.Action, "objet": d.Kind, "id": d.Object,
			"beneficiaire": d.Beneficiary, "depuis": d.Since} {
			if x != "" {
				v.Set(k, x)
			}
		}
		v.Set("apres", next)
		d.Next = "?" + v.Encode()
	}
	c.render(w, r, s, http.StatusOK, "journal", "Journal d'audit", d)
}

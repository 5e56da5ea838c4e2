package console

import (
	"context"
	"net/http"
	"strings"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/payments"
)

// BeneficiaryReader reads a beneficiary's timeline (payments.Beneficiaries).
type BeneficiaryReader interface {
	Beneficiary(ctx context.Context, id string) (payments.Beneficiary, error)
	RecordReads(ctx context.Context, by payments.Actor, reads []payments.Read) error
}

// beneficiaryData is the "Bénéficiaires" page.
type beneficiaryData struct {
	ID         string
	Error      string
	B          *payments.Beneficiary
	Payees     []payeeView
	Exceptions []exceptionView
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
	read := payments.Read{What: payments.ReadTimeline, ObjectID: b.ID, Beneficiary: b.ID, Fields: []string{}, Details: map[string]any{"via": "console"}}
	if err := c.opts.Beneficiaries.RecordReads(ctx, actor(s, r), []payments.Read{read}); err != nil {
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
	c.render(w, r, s, http.StatusOK, "beneficiaries", "Bénéficiaire "+b.ID, d)
}

package console

import (
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/payments"
	httptransport "github.com/ofii/allowances/transport/http"
)

// transfersData is the "Virements" page: the payment files of the latest
// batches sent, and the payment exceptions.
type transfersData struct {
	Files       []payments.PaymentFile
	ShowFiles   bool
	CanDownload bool
	Exceptions  []exceptionView
	Status      string
	StatusError string
	CanReissue  bool
	Corrected   int // exceptions corrected, waiting for a reissue batch
	Done        string
}

type exceptionView struct {
	payments.PaymentException
	IBAN      string // masked
	Corrected string // masked
}

var exceptionStatuses = map[payments.ExceptionStatus][2]string{
	payments.ExceptionOpen:      {"À corriger", "warning"},
	payments.ExceptionCorrected: {"Corrigé, à renvoyer", "info"},
	payments.ExceptionReissued:  {"Renvoyé", "success"},
	payments.ExceptionClosed:    {"Clos", "info"},
}

func exceptionStatusLabel(s payments.ExceptionStatus) string { return exceptionStatuses[s][0] }
func exceptionStatusBadge(s payments.ExceptionStatus) string {
	return "fr-badge--" + exceptionStatuses[s][1]
}

func viewException(x payments.PaymentException) exceptionView {
	v := exceptionView{PaymentException: x, IBAN: mask.MaskIBAN(x.Payee.IBAN)}
	if x.Corrected != nil {
		v.Corrected = x.Corrected.Name + " — " + mask.MaskIBAN(x.Corrected.IBAN)
	}
	v.Payee.IBAN = ""
	v.PaymentException.Corrected = nil
	return v
}

// transfersPage lists the files of the batches sent lately, with their
// statuses, and the payment exceptions of a status (open by default).
func (c *Console) transfersPage(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	d := transfersData{Status: r.URL.Query().Get("anomalies"), ShowFiles: s.Has(roleNames(httptransport.FileListers)...),
		CanDownload: s.Has(roleNames(httptransport.FileReaders)...), CanReissue: s.Has(roleNames(httptransport.PayeeCorrectors)...)}
	d.Done = map[string]string{"correction": "Le bénéficiaire du virement a été corrigé : le prochain lot de nouvel envoi le paiera.",
		"cloture": "L'anomalie a été close sans nouveau paiement."}[r.URL.Query().Get("fait")]
	if d.Status == "" {
		d.Status = string(payments.ExceptionOpen)
	}
	status := http.StatusOK
	if _, ok := exceptionStatuses[payments.ExceptionStatus(d.Status)]; !ok {
		d.StatusError = "Choisissez un statut de la liste."
		status = http.StatusBadRequest
	}
	if d.ShowFiles {
		for _, st := range []payments.BatchStatus{payments.BatchReleasing, payments.BatchReleased, payments.BatchPartlyRejected, payments.BatchSettled} {
			bs, err := c.opts.Batches.Batches(ctx, payments.BatchFilter{Status: st, Limit: 20})
			if err != nil {
				c.fail(w, r, s, err)
				return
			}
			for _, b := range bs {
				fs, err := c.opts.Files.Files(ctx, b.ID)
				if err != nil {
					c.fail(w, r, s, err)
					return
				}
				d.Files = append(d.Files, fs...)
			}
		}
		slices.SortFunc(d.Files, func(a, b payments.PaymentFile) int { return b.CreatedAt.Compare(a.CreatedAt) })
	}
	if d.StatusError == "" {
		xs, err := c.opts.Files.Exceptions(ctx, payments.ExceptionFilter{Status: payments.ExceptionStatus(d.Status), Limit: 100})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		if err := c.recordExceptionReads(r, s, xs); err != nil {
			c.fail(w, r, s, err)
			return
		}
		for _, x := range xs {
			d.Exceptions = append(d.Exceptions, viewException(x))
		}
	}
	if d.CanReissue {
		xs, err := c.opts.Files.Exceptions(ctx, payments.ExceptionFilter{Status: payments.ExceptionCorrected, Limit: 100})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Corrected = len(xs)
	}
	c.render(w, r, s, status, "transfers", "Virements", d)
}

// recordExceptionReads records the exceptions shown as read, IBANs masked,
// as the API does.
func (c *Console) recordExceptionReads(r *http.Request, s *Session, xs []payments.PaymentException) error {
	if len(xs) == 0 {
		return nil
	}
	reads := make([]payments.Read, len(xs))
	for i, x := range xs {
		reads[i] = payments.Read{What: payments.ReadException, ObjectID: x.ID.String(), Beneficiary: x.BeneficiaryID, Fields: []string{},
			Details: map[string]any{"via": "console"}}
	}
	return c.opts.Files.RecordReads(r.Context(), actor(s, r), reads)
}

// fileDownload sends a pain.001 file, once its bytes are checked against
// their recorded hash and every beneficiary it pays is recorded as read in
// full, as the API does.
func (c *Console) fileDownload(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	msgID := r.PathValue("msgid")
	if msgID == "" || len(msgID) > 35 {
		c.refuse(w, r, s, http.StatusNotFound, "Ce fichier n'existe pas.")
		return
	}
	f, content, err := c.opts.Files.FileContent(ctx, msgID)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	sum := sha256.Sum256(content)
	got := hex.EncodeToString(sum[:])
	if f.SHA256 != "" && !strings.EqualFold(f.SHA256, got) {
		c.log.Error("console: a payment file's bytes do not match their hash", "msg_id", msgID, "recorded", f.SHA256, "got", got)
		c.refuse(w, r, s, http.StatusInternalServerError, "Le contenu de ce fichier ne correspond plus à son empreinte : il n'est pas transmis.")
		return
	}
	bens, err := c.opts.Files.FileBeneficiaries(ctx, msgID)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	reads := make([]payments.Read, 0, len(bens))
	for _, b := range bens {
		reads = append(reads, payments.Read{What: payments.ReadFile, ObjectID: msgID, Beneficiary: b, Fields: []string{payments.FieldIBAN}})
	}
	if len(reads) == 0 {
		reads = append(reads, payments.Read{What: payments.ReadFile, ObjectID: msgID, Fields: []string{payments.FieldIBAN}})
	}
	if err := c.opts.Files.RecordReads(ctx, actor(s, r), reads); err != nil {
		c.fail(w, r, s, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(content)))
	h.Set("X-Content-Sha256", got)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.MsgID + ".xml"}))
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(content)
}

// exceptionData is a payment exception's page.
type exceptionData struct {
	Exception  exceptionView
	CanCorrect bool
	CanClose   bool
	Name       string
	IBANValue  string
	Reason     string
	Errors     map[string]string
	Refusal    string
}

// findException returns the exception id, looking through the pages of
// exceptions (at most 10,000).
func (c *Console) findException(r *http.Request, id uuid.UUID) (payments.PaymentException, bool, error) {
	var after uuid.UUID
	for range 100 {
		xs, err := c.opts.Files.Exceptions(r.Context(), payments.ExceptionFilter{After: after, Limit: 100})
		if err != nil {
			return payments.PaymentException{}, false, err
		}
		for _, x := range xs {
			if x.ID == id {
				return x, true, nil
			}
		}
		if len(xs) < 100 {
			break
		}
		after = xs[len(xs)-1].ID
	}
	return payments.PaymentException{}, false, nil
}

// exceptionPage shows one payment exception and the forms the person's
// roles allow: correct the payee, close it.
func (c *Console) exceptionPage(w http.ResponseWriter, r *http.Request, s *Session) {
	d, ok := c.loadException(w, r, s)
	if !ok {
		return
	}
	c.render(w, r, s, http.StatusOK, "exception", "Anomalie de paiement", d)
}

func (c *Console) loadException(w http.ResponseWriter, r *http.Request, s *Session) (exceptionData, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		c.refuse(w, r, s, http.StatusNotFound, "Cette anomalie n'existe pas : son identifiant n'est pas valable.")
		return exceptionData{}, false
	}
	x, found, err := c.findException(r, id)
	if err != nil {
		c.fail(w, r, s, err)
		return exceptionData{}, false
	}
	if !found {
		c.refuse(w, r, s, http.StatusNotFound, "Cette anomalie n'existe pas.")
		return exceptionData{}, false
	}
	if err := c.recordExceptionReads(r, s, []payments.PaymentException{x}); err != nil {
		c.fail(w, r, s, err)
		return exceptionData{}, false
	}
	open := x.Status == payments.ExceptionOpen
	return exceptionData{Exception: viewException(x), Errors: map[string]string{}, Name: x.Payee.Name,
		CanCorrect: open && s.Has(roleNames(httptransport.PayeeCorrectors)...),
		CanClose:   (open || x.Status == payments.ExceptionCorrected) && s.Has(roleNames(httptransport.ExceptionClosers)...)}, true
}

// textProblem says what is wrong with a free text, or "".
func textProblem(text string, required bool) string {
	switch {
	case required && text == "":
		return "Indiquez le motif : il est inscrit au journal d'audit."
	case utf8.RuneCountInString(text) > maxNote:
		return "Le texte dépasse " + strconv.Itoa(maxNote) + " caractères."
	case strings.ContainsFunc(text, func(r rune) bool { return r < ' ' && r != '\n' && r != '\r' && r != '\t' }):
		return "Le texte contient des caractères de contrôle."
	}
	return ""
}

// correctPayee records the payee an open exception is paid to again; a
// bad IBAN or name is shown again on its field, nothing recorded.
func (c *Console) correctPayee(w http.ResponseWriter, r *http.Request, s *Session) {
	d, ok := c.loadException(w, r, s)
	if !ok {
		return
	}
	d.Name = strings.TrimSpace(r.PostFormValue("nom"))
	d.IBANValue = strings.TrimSpace(r.PostFormValue("iban"))
	d.Reason = strings.TrimSpace(r.PostFormValue("motif"))
	switch {
	case d.Name == "":
		d.Errors["nom"] = "Indiquez le nom du titulaire du compte."
	case utf8.RuneCountInString(d.Name) > 70:
		d.Errors["nom"] = "Le nom dépasse 70 caractères, la limite des virements SEPA."
	}
	iban, err := payments.ValidateIBAN(d.IBANValue)
	if err != nil {
		d.Errors["iban"] = "Cet IBAN n'est pas valable : vérifiez le pays, la longueur et la clé de contrôle."
	}
	if p := textProblem(d.Reason, true); p != "" {
		d.Errors["motif"] = p
	}
	if len(d.Errors) == 0 {
		_, err := c.opts.Exceptions.CorrectPayee(r.Context(), d.Exception.ID, actor(s, r), payments.Payee{Name: d.Name, IBAN: iban}, d.Reason)
		if err == nil {
			c.log.Info("console payee corrected", "exception", d.Exception.ID.String(), "name", s.Name)
			http.Redirect(w, r, pathTransfers+"?fait=correction", http.StatusSeeOther)
			return
		}
		status, msg := frenchError(err)
		c.log.Info("console payee correction refused", "exception", d.Exception.ID.String(), "error", err.Error())
		d.Refusal = msg
		c.render(w, r, s, status, "exception", "Anomalie de paiement", d)
		return
	}
	c.render(w, r, s, http.StatusBadRequest, "exception", "Anomalie de paiement", d)
}

// closeException closes an exception without paying it again.
func (c *Console) closeException(w http.ResponseWriter, r *http.Request, s *Session) {
	d, ok := c.loadException(w, r, s)
	if !ok {
		return
	}
	d.Reason = strings.TrimSpace(r.PostFormValue("motif-cloture"))
	if p := textProblem(d.Reason, true); p != "" {
		d.Errors["motif-cloture"] = p
		c.render(w, r, s, http.StatusBadRequest, "exception", "Anomalie de paiement", d)
		return
	}
	if _, err := c.opts.Exceptions.CloseException(r.Context(), d.Exception.ID, actor(s, r), d.Reason); err != nil {
		status, msg := frenchError(err)
		d.Refusal = msg
		c.render(w, r, s, status, "exception", "Anomalie de paiement", d)
		return
	}
	http.Redirect(w, r, pathTransfers+"?fait=cloture", http.StatusSeeOther)
}

// reissue makes the draft batch that pays the corrected exceptions again,
// and shows it.
func (c *Console) reissue(w http.ResponseWriter, r *http.Request, s *Session) {
	note := strings.TrimSpace(r.PostFormValue("texte"))
	if p := textProblem(note, false); p != "" {
		c.refuse(w, r, s, http.StatusBadRequest, p)
		return
	}
	b, err := c.opts.Exceptions.Reissue(r.Context(), actor(s, r), note)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, pathBatches+"/"+b.ID.String(), http.StatusSeeOther)
}

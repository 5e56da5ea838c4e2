package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	auditlog "github.com/ofii/allowances/internal/audit"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sepa"
)

const exceptionCols = `id, line_id, batch_id, msg_id, beneficiary_id, scheme, period, amount, reason_code, status,
	payee_name, payee_iban, payee_bic, corrected_name, corrected_iban, corrected_bic, corrected_by, reissue_batch_id, note,
	created_at, updated_at`

func scanException(r pgx.CollectableRow) (payments.PaymentException, error) {
	var e payments.PaymentException
	var scheme, period, status string
	var c payments.Payee
	err := r.Scan(&e.ID, &e.LineID, &e.BatchID, &e.MsgID, &e.BeneficiaryID, &scheme, &period, &e.Amount, &e.ReasonCode, &status,
		&e.Payee.Name, &e.Payee.IBAN, &e.Payee.BIC, &c.Name, &c.IBAN, &c.BIC, &e.CorrectedBy, &e.ReissueBatch, &e.Note,
		&e.CreatedAt, &e.UpdatedAt)
	if err != nil {
		return e, err
	}
	e.Scheme, e.Status = payments.Scheme(scheme), payments.ExceptionStatus(status)
	if c.IBAN != "" {
		e.Corrected = &c
	}
	e.Reason = sepa.ReasonText(e.ReasonCode)
	e.Action = string(sepa.ReasonAction(e.ReasonCode))
	e.Period, err = payments.ParsePeriod(period)
	return e, err
}

var exceptionStatuses = []payments.ExceptionStatus{payments.ExceptionOpen, payments.ExceptionCorrected,
	payments.ExceptionReissued, payments.ExceptionClosed}

// Exceptions lists the payment exceptions f selects, in the order of their
// ids.
func (s *ApprovalStore) Exceptions(ctx context.Context, f payments.ExceptionFilter) ([]payments.PaymentException, error) {
	limit, err := listLimit(f.Limit)
	if err != nil {
		return nil, err
	}
	where := []string{"id > $1"}
	args := []any{f.After}
	if f.Status != "" {
		ok := false
		for _, st := range exceptionStatuses {
			ok = ok || st == f.Status
		}
		if !ok {
			return nil, errs.Field("status", "%q is not an exception status (open, corrected, reissued, closed)", f.Status)
		}
		args = append(args, string(f.Status))
		where = append(where, fmt.Sprintf("status = $%d", len(args)))
	}
	if f.BatchID != uuid.Nil {
		args = append(args, f.BatchID)
		where = append(where, fmt.Sprintf("batch_id = $%d", len(args)))
	}
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, `SELECT `+exceptionCols+` FROM payment_exceptions WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list payment exceptions: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanException)
	if err != nil {
		return nil, fmt.Errorf("list payment exceptions: %w", err)
	}
	if out == nil {
		out = []payments.PaymentException{}
	}
	return out, nil
}

func lockException(ctx context.Context, tx pgx.Tx, id uuid.UUID) (payments.PaymentException, error) {
	rows, err := tx.Query(ctx, `SELECT `+exceptionCols+` FROM payment_exceptions WHERE id = $1 FOR UPDATE`, id)
	if err != nil {
		return payments.PaymentException{}, err
	}
	e, err := pgx.CollectExactlyOneRow(rows, scanException)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, errs.E(errs.NotFound, "payment exception %s does not exist", id)
	}
	return e, err
}

// correctionSpace derives the id of the payee a correction records.
var correctionSpace = uuid.MustParse("9e1b7f20-5c3a-4d8e-b1f6-3a7c2d90e845")

// CorrectPayee records the payee an open (or already corrected) exception
// is to be paid to, and makes it the beneficiary's payee from now on, so
// that later runs pay it too. The beneficiary's other open exceptions on
// the same account (lines held at release) are corrected with it. The name is cleaned to the SEPA character
// set; the IBAN must be valid.
func (s *ApprovalStore) CorrectPayee(ctx context.Context, id uuid.UUID, by payments.Actor, p payments.Payee, reason string) (payments.PaymentException, error) {
	if err := by.Allow("correct a payee", payments.RolePreparer, payments.RoleAdmin); err != nil {
		return payments.PaymentException{}, err
	}
	reason, err := payments.CheckReason("reason", reason, true)
	if err != nil {
		return payments.PaymentException{}, err
	}
	if err := ledger.CheckText("name", p.Name); err != nil {
		return payments.PaymentException{}, err
	}
	if strings.TrimSpace(p.Name) != "" {
		if err := sepa.CheckName("name", p.Name); err != nil {
			return payments.PaymentException{}, err
		}
	}
	p.Name = sepa.Clean(p.Name, 70)
	if p.Name == "" {
		return payments.PaymentException{}, errs.Field("name", "is required (letters, digits and spaces)")
	}
	if p.IBAN, err = payments.ValidateIBAN(p.IBAN); err != nil {
		return payments.PaymentException{}, errs.Field("iban", "%v", err)
	}
	p.BIC = strings.ToUpper(strings.TrimSpace(p.BIC))
	if p.BIC != "" && !validBIC(p.BIC) {
		return payments.PaymentException{}, errs.Field("bic", "must be 8 or 11 letters and digits (4 bank, 2 country, 2 location, 3 branch)")
	}
	var out payments.PaymentException
	err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		e, err := lockException(ctx, tx, id)
		if err != nil {
			return err
		}
		if e.Status != payments.ExceptionOpen && e.Status != payments.ExceptionCorrected {
			return errs.E(errs.Conflict, "payment exception %s is %s: only an open or corrected one can be corrected", id, e.Status)
		}
		switch {
		case sepa.NameReason(e.ReasonCode):
			if p.IBAN == e.Payee.IBAN && p.Name == sepa.Clean(e.Payee.Name, 70) {
				return errs.Field("name", "is the name the bank could not take (%s): give it as the bank should read it", e.ReasonCode)
			}
		case p.IBAN == e.Payee.IBAN && sepa.ReasonAction(e.ReasonCode) == sepa.ActionFixPayee:
			return errs.Field("iban", "is the account the bank rejected (%s): give the corrected one", e.ReasonCode)
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE payment_exceptions SET status = 'corrected', corrected_name = $2, corrected_iban = $3,
			corrected_bic = $4, corrected_by = $5, note = $6, updated_at = $7 WHERE id = $1`, id, p.Name, p.IBAN, p.BIC, by.Name, reason, now); err != nil {
			return err
		}
		// The other open exceptions of the beneficiary on the same account
		// (lines held at release) are corrected with it.
		rows, err := tx.Query(ctx, `UPDATE payment_exceptions SET status = 'corrected', corrected_name = $4, corrected_iban = $5,
			corrected_bic = $6, corrected_by = $7, note = $8, updated_at = $9
			WHERE beneficiary_id = $1 AND payee_iban = $2 AND status = 'open' AND id <> $3 RETURNING id`,
			e.BeneficiaryID, e.Payee.IBAN, id, p.Name, p.IBAN, p.BIC, by.Name, reason, now)
		if err != nil {
			return err
		}
		siblings, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		for _, sib := range siblings {
			if err := audit(ctx, tx, now, by, "correct_payee", "exception", sib.String(), string(payments.ExceptionOpen),
				string(payments.ExceptionCorrected), reason, map[string]any{"with": id.String(), "iban": mask.MaskIBAN(p.IBAN)}); err != nil {
				return err
			}
		}
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE object_id = $1 AND action = 'correct_payee'`, id.String()).Scan(&n); err != nil {
			return err
		}
		payee := uuid.NewSHA1(correctionSpace, []byte(fmt.Sprintf("%s/%d", id, n+1)))
		if _, err := tx.Exec(ctx, `INSERT INTO payees (event_id, beneficiary_id, since, name, iban, bic) VALUES ($1, $2, $3, $4, $5, $6)`,
			payee, e.BeneficiaryID, now, p.Name, p.IBAN, p.BIC); err != nil {
			return fmt.Errorf("record the beneficiary's payee: %w", err)
		}
		if err := audit(ctx, tx, now, by, "correct_payee", "exception", id.String(), string(e.Status), string(payments.ExceptionCorrected),
			reason, map[string]any{"beneficiary_id": e.BeneficiaryID, "iban": mask.MaskIBAN(p.IBAN), "previous_iban": mask.MaskIBAN(e.Payee.IBAN)}); err != nil {
			return err
		}
		out, err = lockException(ctx, tx, id)
		return err
	})
	return out, errs.Wrap(err, "correct the payee of exception %s", id)
}

// validBIC checks the shape of a BIC: 4 letters, 2 letters, 2 letters or
// digits, and optionally 3 more.
func validBIC(b string) bool {
	if len(b) != 8 && len(b) != 11 {
		return false
	}
	for i, c := range b {
		letter, digit := c >= 'A' && c <= 'Z', c >= '0' && c <= '9'
		if (i < 6 && !letter) || (i >= 6 && !letter && !digit) {
			return false
		}
	}
	return true
}

// CloseException closes an exception that will not be paid again (the
// beneficiary's rights ended, the debt was settled otherwise): its amount
// stays due in the payee's payable account until an entry clears it.
func (s *ApprovalStore) CloseException(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (payments.PaymentException, error) {
	if err := by.Allow("close a payment exception", payments.RoleApprover, payments.RoleAdmin); err != nil {
		return payments.PaymentException{}, err
	}
	reason, err := payments.CheckReason("reason", reason, true)
	if err != nil {
		return payments.PaymentException{}, err
	}
	var out payments.PaymentException
	err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		e, err := lockException(ctx, tx, id)
		if err != nil {
			return err
		}
		if e.Status != payments.ExceptionOpen && e.Status != payments.ExceptionCorrected {
			return errs.E(errs.Conflict, "payment exception %s is %s: only an open or corrected one can be closed", id, e.Status)
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE payment_exceptions SET status = 'closed', note = $2, updated_at = $3 WHERE id = $1`, id, reason, now); err != nil {
			return err
		}
		if err := audit(ctx, tx, now, by, "close", "exception", id.String(), string(e.Status), string(payments.ExceptionClosed), reason, nil); err != nil {
			return err
		}
		out, err = lockException(ctx, tx, id)
		return err
	})
	return out, errs.Wrap(err, "close exception %s", id)
}

// Reissue makes a draft batch of kind reissue paying every corrected
// exception again to its corrected payee. It goes through the same
// approval as any batch; its approval posts nothing (the amounts were
// accrued by the first batch and are back in payable), its release posts
// payable → payments in transit.
func (s *ApprovalStore) Reissue(ctx context.Context, by payments.Actor, note string) (payments.Batch, error) {
	if err := by.Allow("make a reissue batch", payments.RolePreparer, payments.RoleAdmin); err != nil {
		return payments.Batch{}, err
	}
	note, err := payments.CheckReason("note", note, false)
	if err != nil {
		return payments.Batch{}, err
	}
	id := uuid.New()
	err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		now := s.now()
		period := payments.PeriodOf(payments.LegalDay(now))
		var draft bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM batches WHERE kind = 'reissue' AND period = $1 AND status = 'draft')`,
			period.String()).Scan(&draft); err != nil {
			return err
		}
		if draft {
			return errs.E(errs.Conflict, "a reissue batch of %s is a draft already: submit or cancel it first", period)
		}
		rows, err := tx.Query(ctx, `SELECT `+exceptionCols+` FROM payment_exceptions WHERE status = 'corrected' ORDER BY id FOR UPDATE`)
		if err != nil {
			return err
		}
		excs, err := pgx.CollectRows(rows, scanException)
		if err != nil {
			return err
		}
		if len(excs) == 0 {
			return errs.E(errs.Conflict, "no corrected payment exception to pay again")
		}
		var lr lineRows
		totals := map[payments.Scheme]payments.Totals{}
		var excIDs []string
		for _, e := range excs {
			l := payments.BatchLine{
				ID:      payments.LineID(e.Scheme, e.BeneficiaryID, e.Period, id, "REISSUE/"+e.LineID),
				BatchID: id, Scheme: e.Scheme, Kind: payments.LineReissue, BeneficiaryID: e.BeneficiaryID, Period: e.Period,
				Ref: e.LineID, Gross: e.Amount, Deduction: decimal.Zero, Net: e.Amount, Basis: decimal.Zero,
				Deductions: []payments.Deduction{}, Payee: *e.Corrected,
				Explanation: payments.Explanation{Text: fmt.Sprintf("Paid again: line %s of batch %s (%s %s) was rejected by the bank (%s); payee corrected by %s.",
					e.LineID, e.BatchID, e.Scheme, e.Period, e.Reason, e.CorrectedBy)},
			}
			if err := lr.add(l); err != nil {
				return err
			}
			t := totals[e.Scheme]
			t.Add(l)
			totals[e.Scheme] = t
			excIDs = append(excIDs, e.ID.String())
		}
		if _, err := tx.Exec(ctx, `INSERT INTO batches (id, run_id, kind, period, status, created_at, completed_at, lines, computed_by)
			VALUES ($1, $2, 'reissue', $3, 'draft', $4, $4, $5, $6)`, id, uuid.Nil, period.String(), now, int64(len(excs)), by.Name); err != nil {
			return err
		}
		if err := execStatement(ctx, tx, lr.statement()); err != nil {
			return err
		}
		var tr totalRows
		for sc, t := range totals {
			tr.add(id, sc, t)
		}
		if err := execStatement(ctx, tx, tr.statement()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE payment_exceptions SET status = 'reissued', reissue_batch_id = $2, updated_at = $3
			WHERE id = ANY($1::UUID[])`, excIDs, id, now); err != nil {
			return err
		}
		return audit(ctx, tx, now, by, "reissue", "batch", id.String(), "", string(payments.BatchDraft), note,
			map[string]any{"exceptions": len(excs)})
	})
	if err != nil {
		return payments.Batch{}, errs.Wrap(err, "make a reissue batch")
	}
	return s.runs.Batch(ctx, id)
}

// Audit reads the audit trail, oldest first. The cursor is the time and id
// of the last event of the previous page.
func (s *ApprovalStore) Audit(ctx context.Context, f payments.AuditFilter) ([]payments.AuditEvent, string, error) {
	limit, err := listLimit(f.Limit)
	if err != nil {
		return nil, "", err
	}
	var args []any
	var where []string
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.After != "" {
		at, id, ok := strings.Cut(f.After, "/")
		t, terr := time.Parse(time.RFC3339Nano, at)
		u, uerr := uuid.Parse(id)
		if !ok || terr != nil || uerr != nil {
			return nil, "", errs.Field("after", "is not a cursor of the audit trail")
		}
		where = append(where, "(at, id) > ("+arg(t)+", "+arg(u)+")")
	}
	for _, c := range []struct{ col, v string }{{"object_id", f.ObjectID}, {"actor", f.Actor}, {"action", f.Action},
		{"object_kind", f.Kind}, {"beneficiary_id", f.Beneficiary}} {
		if c.v != "" {
			where = append(where, c.col+" = "+arg(c.v))
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= "+arg(f.Since))
	}
	sql := `SELECT id, at, actor, roles, address, action, object_kind, object_id, from_status, to_status, reason, details,
		COALESCE(beneficiary_id, ''), fields_in_full FROM audit_events`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY at, id LIMIT " + arg(limit)
	var out []payments.AuditEvent
	err = queryEach(ctx, s.pool, sql, args, func(r pgx.Rows) error {
		var e payments.AuditEvent
		var roles string
		var details []byte
		var fields string
		if err := r.Scan(&e.ID, &e.At, &e.Actor, &roles, &e.Address, &e.Action, &e.ObjectKind, &e.ObjectID, &e.From, &e.To,
			&e.Reason, &details, &e.BeneficiaryID, &fields); err != nil {
			return err
		}
		if e.Action == payments.ReadAction {
			e.FieldsInFull = auditlog.SplitFields(fields)
		}
		e.Roles = []string{}
		if roles != "" {
			e.Roles = strings.Split(roles, "+")
		}
		if err := json.Unmarshal(details, &e.Details); err != nil {
			return fmt.Errorf("audit event %s: details: %w", e.ID, err)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("read the audit trail: %w", err)
	}
	if out == nil {
		out = []payments.AuditEvent{}
	}
	next := ""
	if len(out) == limit {
		last := out[len(out)-1]
		next = last.At.UTC().Format(time.RFC3339Nano) + "/" + last.ID.String()
	}
	return out, next, nil
}

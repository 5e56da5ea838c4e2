package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/audit"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments/sepa"
	"github.com/ofii/allowances/reconcile"
)

// The store of reconcile.Desk: the transactions in which the moves of the
// exception desk are written.

var _ reconcile.DeskStore = (*Store)(nil)

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// InTx runs fn in one transaction of the store's retry policy.
func (s *Store) InTx(ctx context.Context, fn func(context.Context, reconcile.DeskTx) error) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error { return fn(ctx, deskTx{s: s, tx: tx}) })
}

// PostPending posts the entries recorded and not posted yet.
func (s *Store) PostPending(ctx context.Context) error { return s.postPending(ctx) }

// deskTx is a transaction of the exception desk.
type deskTx struct {
	s  *Store
	tx pgx.Tx
}

// LockException reads an exception, FOR UPDATE.
func (t deskTx) LockException(ctx context.Context, id uuid.UUID) (reconcile.Exception, error) {
	return t.s.lockException(ctx, t.tx, id)
}

// OpenLine reads an exception's statement line, which must be unmatched.
func (t deskTx) OpenLine(ctx context.Context, x reconcile.Exception) (reconcile.OpenLine, error) {
	if x.Line == nil {
		return reconcile.OpenLine{}, errs.E(errs.Conflict, "exception %s has no statement line", x.ID)
	}
	rows, err := t.tx.Query(ctx, `SELECT `+lineCols+` FROM statement_lines l WHERE l.statement_id = $1 AND l.idx = $2 FOR UPDATE`,
		x.Line.StatementID, x.Line.Index)
	if err != nil {
		return reconcile.OpenLine{}, err
	}
	l, err := pgx.CollectExactlyOneRow(rows, scanLine)
	if err != nil {
		return reconcile.OpenLine{}, err
	}
	if l.matchStatus != "unmatched" {
		return reconcile.OpenLine{}, errs.E(errs.Conflict, "statement line %s is %s already", l.ref(), l.matchStatus)
	}
	return reconcile.OpenLine{PostedLine: l.posted(), Undone: l.rule == ruleUndone}, nil
}

// Payments reads the payments of ids that exist.
func (t deskTx) Payments(ctx context.Context, ids []string) ([]reconcile.PaymentState, error) {
	rows, err := t.tx.Query(ctx, `SELECT p.line_id, p.amount, p.status, b.match_id FROM line_payments p
		LEFT JOIN payment_bookings b ON b.line_id = p.line_id WHERE p.line_id = ANY($1::TEXT[])`, ids)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (reconcile.PaymentState, error) {
		var p reconcile.PaymentState
		var status string
		var booked *uuid.UUID
		err := r.Scan(&p.ID, &p.Amount, &status, &booked)
		p.Booked, p.Rejected = booked != nil, status == string(sepa.StatusRJCT)
		return p, err
	})
}

// openLine is the store's form of a line the desk matches.
func openLine(l reconcile.OpenLine) *stLine {
	x := &stLine{stmt: l.Line.StatementID, idx: l.Line.Index, amount: l.Amount, dir: l.Direction, booking: l.Booking, bank: l.Bank,
		matchStatus: "unmatched"}
	if l.Undone {
		x.rule = ruleUndone
	}
	return x
}

// RecordMatch writes a match a person made, its payments booked, its line
// matched and its entry to post.
func (t deskTx) RecordMatch(ctx context.Context, m reconcile.PersonMatch) error {
	l := openLine(m.Line)
	e := newEffects()
	payment := ""
	if len(m.Payments) == 1 {
		payment = m.Payments[0].ID
	}
	e.matchAs(l, m.ID, m.Rule, payment, m.By, m.Reason, m.At)
	for _, p := range m.Payments {
		e.booked[p.ID] = booking{m.ID, l.stmt, l.idx}
		if len(m.Payments) > 1 {
			e.multi = append(e.multi, []any{m.ID, p.ID, p.Amount})
		}
	}
	e.postings = append(e.postings, posting{statement: l.stmt, entry: m.Entry})
	if err := t.s.write(ctx, t.tx, e, m.At); err != nil {
		return err
	}
	return updateLines(ctx, t.tx, []*stLine{l})
}

// SetStatus marks an exception resolved or closed.
func (t deskTx) SetStatus(ctx context.Context, id uuid.UUID, to reconcile.ExceptionStatus, resolution, by string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE recon_exceptions SET status = $2, resolution = $3, resolved_by = $4, updated_at = $5 WHERE id = $1`,
		id, string(to), resolution, by, at)
	return err
}

// SetOwner gives an exception an owner.
func (t deskTx) SetOwner(ctx context.Context, id uuid.UUID, owner string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE recon_exceptions SET owner = $2, updated_at = $3 WHERE id = $1`, id, owner, at)
	return err
}

// LockMatch reads a match, FOR UPDATE. A match by EndToEndId, which is its
// booking and its line alone, gets its row in recon_matches now, to keep
// its undoing.
func (t deskTx) LockMatch(ctx context.Context, id uuid.UUID) (reconcile.UndoableMatch, error) {
	m := reconcile.UndoableMatch{ID: id}
	var rule, dir string
	var stmt uuid.UUID
	var idx int64
	var amount decimal.Decimal
	var booking ledger.Date
	var undone *time.Time
	tx := t.tx
	err := tx.QueryRow(ctx, `SELECT m.rule, m.statement_id, m.idx, m.amount, m.payment_line, m.undone_at, l.direction, l.booking_date
		FROM recon_matches m JOIN statement_lines l ON l.statement_id = m.statement_id AND l.idx = m.idx WHERE m.id = $1 FOR UPDATE`, id).
		Scan(&rule, &stmt, &idx, &amount, &m.Payment, &undone, &dir, &booking)
	if errors.Is(err, pgx.ErrNoRows) {
		err = tx.QueryRow(ctx, `SELECT l.rule, b.statement_id, b.idx, l.amount, b.line_id, l.direction, l.booking_date
			FROM payment_bookings b JOIN statement_lines l ON l.statement_id = b.statement_id AND l.idx = b.idx
			WHERE b.match_id = $1 AND l.match_id = $1`, id).Scan(&rule, &stmt, &idx, &amount, &m.Payment, &dir, &booking)
		if errors.Is(err, pgx.ErrNoRows) {
			return m, errs.E(errs.NotFound, "match %s does not exist", id)
		}
		if err != nil {
			return m, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO recon_matches (id, statement_id, idx, rule, amount, payment_line, matched_by, matched_at)
			SELECT $1, $2, $3, $4, $5, $6, f.imported_by, st.imported_at FROM statements st JOIN statement_files f ON f.sha256 = st.file_sha256
			WHERE st.id = $2`, id, stmt, idx, rule, amount, m.Payment); err != nil {
			return m, err
		}
	}
	if err != nil {
		return m, err
	}
	m.Rule, m.Undone = reconcile.Rule(rule), undone != nil
	m.Line = reconcile.PostedLine{Line: reconcile.LineRef{StatementID: stmt, Index: int(idx)}, Direction: reconcile.Direction(dir), Amount: amount,
		Booking: booking}
	if m.Undone {
		return m, nil
	}
	if m.Rule == reconcile.RuleReturn {
		var raw []byte
		if err := tx.QueryRow(ctx, `SELECT lines FROM recon_postings WHERE key = $1`, "recon:return:"+id.String()).Scan(&raw); err != nil {
			return m, fmt.Errorf("read the posting of the return: %w", err)
		}
		if err := jsonUnmarshal(raw, &m.Posted); err != nil {
			return m, err
		}
		return m, nil
	}
	if err := tx.QueryRow(ctx, `SELECT ledger_account FROM statements WHERE id = $1`, stmt).Scan(&m.Line.Bank); err != nil {
		return m, fmt.Errorf("read the ledger account of statement %s: %w", stmt, err)
	}
	return m, nil
}

// RecordUndo writes the undoing of a match.
func (t deskTx) RecordUndo(ctx context.Context, u reconcile.Undo) error {
	tx, m := t.tx, u.Match
	if m.Rule == reconcile.RuleReturn {
		if _, err := tx.Exec(ctx, `UPDATE line_payments SET returned_by = NULL WHERE returned_by = $1`, m.ID); err != nil {
			return err
		}
	} else if _, err := tx.Exec(ctx, `DELETE FROM payment_bookings WHERE match_id = $1 AND line_id IN
		(SELECT payment_line FROM recon_matches WHERE id = $1 UNION SELECT line_id FROM recon_match_payments WHERE match_id = $1)`, m.ID); err != nil {
		return err
	}
	if err := insertPostings(ctx, tx, u.At, []posting{{statement: m.Line.Line.StatementID, entry: u.Entry}}); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE recon_matches SET undone_by = $2, undone_at = $3, undo_reason = $4 WHERE id = $1`, m.ID, u.By, u.At,
		u.Reason); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE statement_lines SET match_status = 'unmatched', rule = $3, match_id = NULL WHERE statement_id = $1 AND idx = $2`,
		m.Line.Line.StatementID, int64(m.Line.Line.Index), ruleUndone); err != nil {
		return err
	}
	e := newEffects()
	e.exception(reconcile.ExceptionUnmatched, &stLine{stmt: m.Line.Line.StatementID, idx: m.Line.Line.Index}, m.Payment, m.Line.Amount, u.Why)
	return t.s.write(ctx, tx, e, u.At)
}

// Audit appends to the audit trail.
func (t deskTx) Audit(ctx context.Context, e reconcile.AuditEntry) error {
	return audit.Write(ctx, t.tx, audit.Event{At: e.At, By: e.By, Action: e.Action, Kind: e.Kind, ObjectID: e.ObjectID, From: e.From, To: e.To,
		Reason: e.Reason, Details: e.Details})
}

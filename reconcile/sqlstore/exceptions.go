package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sepa"
	"github.com/ofii/allowances/reconcile"
)

const excCols = `x.id, x.kind, x.statement_id, x.idx, x.payment_line, x.amount, x.reason, x.owner, x.status, x.resolution, x.resolved_by,
	x.created_at, x.updated_at, COALESCE(l.booking_date, DATE '0001-01-01'), COALESCE(l.direction, ''), COALESCE(l.label, '')`

const excFrom = ` FROM recon_exceptions x LEFT JOIN statement_lines l ON l.statement_id = x.statement_id AND l.idx = x.idx`

func (s *Store) scanException(r pgx.CollectableRow) (reconcile.Exception, error) {
	var e reconcile.Exception
	var kind, status, dir string
	var stmt uuid.UUID
	var idx int64
	var booking ledger.Date
	err := r.Scan(&e.ID, &kind, &stmt, &idx, &e.Payment, &e.Amount, &e.Reason, &e.Owner, &status, &e.Resolution, &e.ResolvedBy,
		&e.CreatedAt, &e.UpdatedAt, &booking, &dir, &e.Label)
	e.Kind, e.Status, e.Direction = reconcile.ExceptionKind(kind), reconcile.ExceptionStatus(status), reconcile.Direction(dir)
	if stmt != uuid.Nil {
		e.Line = &reconcile.LineRef{StatementID: stmt, Index: int(idx)}
	}
	if booking.Time().Year() > 1 {
		e.BookingDate = booking
	}
	e.AgeDays = int(s.now().Sub(e.CreatedAt).Hours() / 24)
	return e, err
}

// Exceptions lists the exceptions f selects, in the order of their ids.
func (s *Store) Exceptions(ctx context.Context, f reconcile.ExceptionFilter) ([]reconcile.Exception, error) {
	limit := f.Limit
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > 1000 {
		return nil, errs.Field("limit", "must be between 1 and 1000")
	}
	where := []string{"x.id > $1"}
	args := []any{f.After}
	add := func(col, v string) {
		args = append(args, v)
		where = append(where, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	switch f.Status {
	case "":
	case reconcile.ExceptionOpen, reconcile.ExceptionResolved, reconcile.ExceptionClosed:
		add("x.status", string(f.Status))
	default:
		return nil, errs.Field("status", "%q is not open, resolved or closed", f.Status)
	}
	if f.Kind != "" {
		known := false
		for _, k := range []reconcile.ExceptionKind{reconcile.ExceptionUnmatched, reconcile.ExceptionAmountMismatch, reconcile.ExceptionDuplicate,
			reconcile.ExceptionAmbiguous, reconcile.ExceptionSuggestion, reconcile.ExceptionReturned, reconcile.ExceptionInTransit} {
			known = known || k == f.Kind
		}
		if !known {
			return nil, errs.Field("kind", "%q is not a kind of reconciliation exception", f.Kind)
		}
		add("x.kind", string(f.Kind))
	}
	if f.Owner != "" {
		add("x.owner", f.Owner)
	}
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, `SELECT `+excCols+excFrom+` WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(" ORDER BY x.id LIMIT $%d", len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list the reconciliation exceptions: %w", err)
	}
	out, err := pgx.CollectRows(rows, s.scanException)
	if err != nil {
		return nil, fmt.Errorf("list the reconciliation exceptions: %w", err)
	}
	if out == nil {
		out = []reconcile.Exception{}
	}
	return out, nil
}

func (s *Store) lockException(ctx context.Context, tx pgx.Tx, id uuid.UUID) (reconcile.Exception, error) {
	rows, err := tx.Query(ctx, `SELECT `+excCols+excFrom+` WHERE x.id = $1 FOR UPDATE OF x`, id)
	if err != nil {
		return reconcile.Exception{}, err
	}
	e, err := pgx.CollectExactlyOneRow(rows, s.scanException)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, errs.E(errs.NotFound, "reconciliation exception %s does not exist", id)
	}
	return e, err
}

// resolve runs fn on an open exception, for a controller, then marks it
// resolved (or closed) with what was done, and audits it.
func (s *Store) resolve(ctx context.Context, id uuid.UUID, by payments.Actor, action, what string, to reconcile.ExceptionStatus, reason string,
	fn func(ctx context.Context, tx pgx.Tx, x reconcile.Exception, now time.Time) (string, error)) (reconcile.Exception, error) {
	if err := by.Allow(what, payments.RoleController); err != nil {
		return reconcile.Exception{}, err
	}
	var out reconcile.Exception
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		x, err := s.lockException(ctx, tx, id)
		if err != nil {
			return err
		}
		if x.Status != reconcile.ExceptionOpen {
			return errs.E(errs.Conflict, "reconciliation exception %s is %s already", id, x.Status)
		}
		now := s.now()
		resolution, err := fn(ctx, tx, x, now)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE recon_exceptions SET status = $2, resolution = $3, resolved_by = $4, updated_at = $5 WHERE id = $1`,
			id, string(to), resolution, by.Name, now); err != nil {
			return err
		}
		if err := writeAudit(ctx, tx, auditEvent(now, by, action, "recon_exception", id.String(), string(x.Status), string(to), reason,
			map[string]any{"kind": string(x.Kind), "resolution": resolution})); err != nil {
			return err
		}
		out, err = s.lockException(ctx, tx, id)
		return err
	})
	if err != nil {
		return out, errs.Wrap(err, "%s", what)
	}
	return out, s.postPending(ctx)
}

// lockLine reads an exception's statement line, which must be unmatched.
func lockLine(ctx context.Context, tx pgx.Tx, x reconcile.Exception) (*stLine, error) {
	if x.Line == nil {
		return nil, errs.E(errs.Conflict, "exception %s has no statement line", x.ID)
	}
	rows, err := tx.Query(ctx, `SELECT `+lineCols+` FROM statement_lines l WHERE l.statement_id = $1 AND l.idx = $2 FOR UPDATE`,
		x.Line.StatementID, x.Line.Index)
	if err != nil {
		return nil, err
	}
	l, err := pgx.CollectExactlyOneRow(rows, scanLine)
	if err != nil {
		return nil, err
	}
	if l.matchStatus != "unmatched" {
		return nil, errs.E(errs.Conflict, "statement line %s is %s already", l.ref(), l.matchStatus)
	}
	return l, nil
}

// matchLine matches a line to payments, for a person (rule manual or
// suggestion): the payments must be unbooked, accepted, and add up to the
// line's amount.
func (s *Store) matchLine(ctx context.Context, tx pgx.Tx, l *stLine, ids []string, rule reconcile.Rule, by, reason string, now time.Time) (uuid.UUID, error) {
	if l.dir != reconcile.Debit {
		return uuid.Nil, errs.Field("payments", "statement line %s is a credit: only a debit books payments", l.ref())
	}
	if len(ids) == 0 || len(ids) > 10000 {
		return uuid.Nil, errs.Field("payments", "give 1 to 10000 payments")
	}
	rows, err := tx.Query(ctx, `SELECT p.line_id, p.amount, p.status, b.match_id FROM line_payments p
		LEFT JOIN payment_bookings b ON b.line_id = p.line_id WHERE p.line_id = ANY($1::TEXT[])`, ids)
	if err != nil {
		return uuid.Nil, err
	}
	type pay struct {
		id, status string
		amount     decimal.Decimal
		booked     *uuid.UUID
	}
	pays, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pay, error) {
		var p pay
		err := r.Scan(&p.id, &p.amount, &p.status, &p.booked)
		return p, err
	})
	if err != nil {
		return uuid.Nil, err
	}
	found := map[string]bool{}
	sum := decimal.Zero
	for _, p := range pays {
		found[p.id] = true
		switch {
		case p.booked != nil:
			return uuid.Nil, errs.Field("payments", "payment %s is booked already", p.id)
		case p.status == string(sepa.StatusRJCT):
			return uuid.Nil, errs.Field("payments", "payment %s was rejected by the bank", p.id)
		}
		sum = sum.Add(p.amount)
	}
	for _, id := range ids {
		if !found[id] {
			return uuid.Nil, errs.Field("payments", "payment %s does not exist", id)
		}
	}
	if len(found) != len(ids) {
		return uuid.Nil, errs.Field("payments", "a payment is named twice")
	}
	if !sum.Equal(l.amount) {
		return uuid.Nil, errs.Field("payments", "the payments add up to %s, the line is of %s", sum.StringFixed(2), l.amount.StringFixed(2))
	}
	e := newEffects()
	payment := ""
	if len(ids) == 1 {
		payment = ids[0]
	}
	id := e.match(l, rule, payment, by, reason, now)
	for _, p := range pays {
		e.booked[p.id] = booking{id, l.stmt, l.idx}
		if len(ids) > 1 {
			e.multi = append(e.multi, []any{id, p.id, p.amount})
		}
	}
	e.postings = append(e.postings, posting{statement: l.stmt, entry: reconcile.MatchByPerson(l.posted(), rule, id, by)})
	if err := s.write(ctx, tx, e, now); err != nil {
		return uuid.Nil, err
	}
	return id, updateLines(ctx, tx, []*stLine{l})
}

// MatchByHand explains an exception's statement line by payments whose
// amounts add up to the line's.
func (s *Store) MatchByHand(ctx context.Context, id uuid.UUID, pays []string, by payments.Actor, reason string) (reconcile.Exception, error) {
	reason, err := payments.CheckReason("reason", reason, true)
	if err != nil {
		return reconcile.Exception{}, err
	}
	return s.resolve(ctx, id, by, "match", "match a statement line", reconcile.ExceptionResolved, reason,
		func(ctx context.Context, tx pgx.Tx, x reconcile.Exception, now time.Time) (string, error) {
			l, err := lockLine(ctx, tx, x)
			if err != nil {
				return "", err
			}
			m, err := s.matchLine(ctx, tx, l, pays, reconcile.RuleManual, by.Name, reason, now)
			return fmt.Sprintf("matched by hand to %s (match %s)", strings.Join(pays, ", "), m), err
		})
}

// Confirm confirms a suggestion: its line is matched to its payment.
func (s *Store) Confirm(ctx context.Context, id uuid.UUID, by payments.Actor) (reconcile.Exception, error) {
	return s.resolve(ctx, id, by, "confirm", "confirm a suggestion", reconcile.ExceptionResolved, "",
		func(ctx context.Context, tx pgx.Tx, x reconcile.Exception, now time.Time) (string, error) {
			if x.Kind != reconcile.ExceptionSuggestion {
				return "", errs.E(errs.Conflict, "exception %s is %s, not a suggestion", x.ID, x.Kind)
			}
			l, err := lockLine(ctx, tx, x)
			if err != nil {
				return "", err
			}
			m, err := s.matchLine(ctx, tx, l, []string{x.Payment}, reconcile.RuleSuggestion, by.Name, "suggestion confirmed", now)
			return fmt.Sprintf("suggestion confirmed: matched to %s (match %s)", x.Payment, m), err
		})
}

// BookToSuspense books an exception's statement line to suspense: a debit
// Dr suspense, Cr bank:main; a credit the other way.
func (s *Store) BookToSuspense(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (reconcile.Exception, error) {
	reason, err := payments.CheckReason("reason", reason, true)
	if err != nil {
		return reconcile.Exception{}, err
	}
	return s.resolve(ctx, id, by, "suspense", "book a statement line to suspense", reconcile.ExceptionResolved, reason,
		func(ctx context.Context, tx pgx.Tx, x reconcile.Exception, now time.Time) (string, error) {
			l, err := lockLine(ctx, tx, x)
			if err != nil {
				return "", err
			}
			e := newEffects()
			m := e.match(l, reconcile.RuleSuspense, "", by.Name, reason, now)
			e.postings = append(e.postings, posting{statement: l.stmt, entry: reconcile.BookToSuspense(l.posted(), m, reason)})
			if err := s.write(ctx, tx, e, now); err != nil {
				return "", err
			}
			return fmt.Sprintf("booked to suspense (match %s)", m), updateLines(ctx, tx, []*stLine{l})
		})
}

// Close closes an exception with a reason, posting nothing.
func (s *Store) Close(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (reconcile.Exception, error) {
	reason, err := payments.CheckReason("reason", reason, true)
	if err != nil {
		return reconcile.Exception{}, err
	}
	return s.resolve(ctx, id, by, "close", "close a reconciliation exception", reconcile.ExceptionClosed, reason,
		func(context.Context, pgx.Tx, reconcile.Exception, time.Time) (string, error) {
			return "closed: " + reason, nil
		})
}

// Assign gives an exception an owner.
func (s *Store) Assign(ctx context.Context, id uuid.UUID, owner string, by payments.Actor) (reconcile.Exception, error) {
	owner, err := payments.CheckReason("owner", owner, true)
	if err != nil {
		return reconcile.Exception{}, err
	}
	if err := by.Allow("assign an exception", payments.RoleController, payments.RoleAdmin); err != nil {
		return reconcile.Exception{}, err
	}
	var out reconcile.Exception
	err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		x, err := s.lockException(ctx, tx, id)
		if err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE recon_exceptions SET owner = $2, updated_at = $3 WHERE id = $1`, id, owner, now); err != nil {
			return err
		}
		if err := writeAudit(ctx, tx, auditEvent(now, by, "assign", "recon_exception", id.String(), x.Owner, owner, "", nil)); err != nil {
			return err
		}
		out, err = s.lockException(ctx, tx, id)
		return err
	})
	return out, errs.Wrap(err, "assign exception %s", id)
}

// UndoMatch takes a match back: its postings are reversed by a new entry,
// its payments are unbooked (or no longer returned), and its line is
// unmatched again, with an exception.
func (s *Store) UndoMatch(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) error {
	if err := by.Allow("undo a match", payments.RoleController); err != nil {
		return err
	}
	reason, err := payments.CheckReason("reason", reason, true)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var rule, dir, payment string
		var stmt uuid.UUID
		var idx int64
		var amount decimal.Decimal
		var booking ledger.Date
		var undone *time.Time
		err := tx.QueryRow(ctx, `SELECT m.rule, m.statement_id, m.idx, m.amount, m.payment_line, m.undone_at, l.direction, l.booking_date
			FROM recon_matches m JOIN statement_lines l ON l.statement_id = m.statement_id AND l.idx = m.idx WHERE m.id = $1 FOR UPDATE`, id).
			Scan(&rule, &stmt, &idx, &amount, &payment, &undone, &dir, &booking)
		if errors.Is(err, pgx.ErrNoRows) {
			// A match by EndToEndId: its booking and its line; it gets
			// its row in recon_matches now, to keep its undoing.
			err = tx.QueryRow(ctx, `SELECT l.rule, b.statement_id, b.idx, l.amount, b.line_id, l.direction, l.booking_date
				FROM payment_bookings b JOIN statement_lines l ON l.statement_id = b.statement_id AND l.idx = b.idx
				WHERE b.match_id = $1 AND l.match_id = $1`, id).Scan(&rule, &stmt, &idx, &amount, &payment, &dir, &booking)
			if errors.Is(err, pgx.ErrNoRows) {
				return errs.E(errs.NotFound, "match %s does not exist", id)
			}
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO recon_matches (id, statement_id, idx, rule, amount, payment_line, matched_by, matched_at)
				SELECT $1, $2, $3, $4, $5, $6, f.imported_by, st.imported_at FROM statements st JOIN statement_files f ON f.sha256 = st.file_sha256
				WHERE st.id = $2`, id, stmt, idx, rule, amount, payment); err != nil {
				return err
			}
		}
		if err != nil {
			return err
		}
		if undone != nil {
			return errs.E(errs.Conflict, "match %s was undone already", id)
		}
		now := s.now()
		var lines []ledger.Line
		if reconcile.Rule(rule) == reconcile.RuleReturn {
			var raw []byte
			if err := tx.QueryRow(ctx, `SELECT lines FROM recon_postings WHERE key = $1`, "recon:return:"+id.String()).Scan(&raw); err != nil {
				return fmt.Errorf("read the posting of the return: %w", err)
			}
			if err := jsonUnmarshal(raw, &lines); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE line_payments SET returned_by = NULL WHERE returned_by = $1`, id); err != nil {
				return err
			}
		} else {
			bank := ledger.BankMain
			if err := tx.QueryRow(ctx, `SELECT ledger_account FROM statements WHERE id = $1`, stmt).Scan(&bank); err != nil {
				return fmt.Errorf("read the ledger account of statement %s: %w", stmt, err)
			}
			lines = reconcile.MatchEffect(reconcile.Rule(rule), reconcile.PostedLine{Line: reconcile.LineRef{StatementID: stmt, Index: int(idx)},
				Direction: reconcile.Direction(dir), Amount: amount, Booking: booking, Bank: bank})
			if _, err := tx.Exec(ctx, `DELETE FROM payment_bookings WHERE match_id = $1 AND line_id IN
				(SELECT payment_line FROM recon_matches WHERE id = $1 UNION SELECT line_id FROM recon_match_payments WHERE match_id = $1)`, id); err != nil {
				return err
			}
		}
		if err := insertPostings(ctx, tx, now, []posting{{statement: stmt, entry: reconcile.UndoMatch(id, booking, lines, reason)}}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE recon_matches SET undone_by = $2, undone_at = $3, undo_reason = $4 WHERE id = $1`, id, by.Name, now, reason); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE statement_lines SET match_status = 'unmatched', rule = $3, match_id = NULL WHERE statement_id = $1 AND idx = $2`,
			stmt, idx, ruleUndone); err != nil {
			return err
		}
		e := newEffects()
		e.exception(reconcile.ExceptionUnmatched, &stLine{stmt: stmt, idx: int(idx)}, payment, amount, fmt.Sprintf("match %s (%s) undone by %s: %s", id, rule, by.Name, reason))
		if err := s.write(ctx, tx, e, now); err != nil {
			return err
		}
		return writeAudit(ctx, tx, auditEvent(now, by, "undo", "match", id.String(), "matched", "undone", reason, map[string]any{"rule": rule}))
	})
	if err != nil {
		return errs.Wrap(err, "undo match %s", id)
	}
	return s.postPending(ctx)
}

// Matches lists the matches f selects, newest first.
func (s *Store) Matches(ctx context.Context, f reconcile.MatchFilter) ([]reconcile.Match, error) {
	limit := f.Limit
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > 1000 {
		return nil, errs.Field("limit", "must be between 1 and 1000")
	}
	// The matches with a row, and the matches by EndToEndId, which are a
	// booking and a statement line alone.
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	whereM := []string{"true"}
	whereB := []string{"NOT EXISTS (SELECT 1 FROM recon_matches m2 WHERE m2.id = b.match_id)"}
	if f.StatementID != uuid.Nil {
		a := arg(f.StatementID)
		whereM, whereB = append(whereM, "m.statement_id = "+a), append(whereB, "b.statement_id = "+a)
	}
	if f.Payment != "" {
		a := arg(f.Payment)
		whereM = append(whereM, "(m.payment_line = "+a+" OR m.id IN (SELECT match_id FROM recon_match_payments WHERE line_id = "+a+"))")
		whereB = append(whereB, "b.line_id = "+a)
	}
	if f.Rule != "" {
		a := arg(string(f.Rule))
		whereM, whereB = append(whereM, "m.rule = "+a), append(whereB, "'end_to_end' = "+a)
	}
	sql := `SELECT * FROM (
		SELECT m.id, m.statement_id, m.idx, m.rule, m.amount, m.payment_line, m.matched_by, m.matched_at, m.reason, m.undone_by, m.undone_at,
			COALESCE((SELECT array_agg(p.line_id ORDER BY p.line_id) FROM recon_match_payments p WHERE p.match_id = m.id), ARRAY[]::TEXT[]) AS multi
		FROM recon_matches m WHERE ` + strings.Join(whereM, " AND ") + `
		UNION ALL
		SELECT b.match_id, b.statement_id, b.idx, 'end_to_end', l.amount, b.line_id, f.imported_by, st.imported_at, '', '',
			NULL::TIMESTAMPTZ, ARRAY[]::TEXT[]
		FROM payment_bookings b JOIN statement_lines l ON l.statement_id = b.statement_id AND l.idx = b.idx AND l.match_id = b.match_id
		JOIN statements st ON st.id = b.statement_id JOIN statement_files f ON f.sha256 = st.file_sha256
		WHERE ` + strings.Join(whereB, " AND ") + `) AS x
		ORDER BY matched_at DESC, id LIMIT ` + arg(limit)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list the matches: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (reconcile.Match, error) {
		var m reconcile.Match
		var idx int64
		var rule, payment string
		var undone *time.Time
		var multi []string
		err := r.Scan(&m.ID, &m.Line.StatementID, &idx, &rule, &m.Amount, &payment, &m.MatchedBy, &m.MatchedAt, &m.Reason, &m.UndoneBy, &undone, &multi)
		m.Line.Index, m.Rule = int(idx), reconcile.Rule(rule)
		m.Payments = multi
		if payment != "" {
			m.Payments = append([]string{payment}, multi...)
		}
		if m.Payments == nil {
			m.Payments = []string{}
		}
		if undone != nil {
			m.UndoneAt = *undone
		}
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("list the matches: %w", err)
	}
	if out == nil {
		out = []reconcile.Match{}
	}
	return out, nil
}

// Sweep opens an exception for each payment released and not booked
// InTransitDays business days after its execution date, whatever its file
// became: still queued for a bank that is down, refused, or accepted.
func (s *Store) Sweep(ctx context.Context, today ledger.Date) (int, error) {
	cutoff := sepa.AddBusinessDays(today, -s.cfg.InTransitDays)
	var n int64
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO recon_exceptions (id, kind, payment_line, amount, reason, status, created_at, updated_at)
			SELECT gen_random_uuid(), 'in_transit_too_long', p.line_id, p.amount,
				'released for execution on ' || f.execution_date::TEXT || ' in file ' || f.msg_id || ' (' || f.status ||
				') and still not on a statement', 'open', $2, $2
			FROM line_payments p JOIN payment_files f ON f.msg_id = p.msg_id
			WHERE NOT EXISTS (SELECT 1 FROM payment_bookings b WHERE b.line_id = p.line_id) AND p.status <> 'RJCT'
			AND f.status <> 'building' AND f.execution_date < $1
			ON CONFLICT (kind, statement_id, idx, payment_line) DO NOTHING`, cutoff, s.now())
		n = tag.RowsAffected()
		return err
	})
	return int(n), errs.Wrap(err, "sweep the payments in transit")
}

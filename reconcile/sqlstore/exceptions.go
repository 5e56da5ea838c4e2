package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
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

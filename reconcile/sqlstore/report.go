package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/reconcile"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// ReportFacts reads the report of one of the service's accounts on a day
// (Config.Account when account is ""): its statement's balances, its
// ledger account (bank:main for Config.Account), its lines matched by
// rule, the exceptions still open and the payments in transit by age.
// reconcile.Reports adds the ledger's balance and the verdict.
func (s *Store) ReportFacts(ctx context.Context, account string, day ledger.Date) (reconcile.Report, error) {
	if account == "" {
		account = s.accounts.Main()
	}
	r := reconcile.Report{Account: account, Date: day, Matched: map[reconcile.Rule]reconcile.Count{}, GeneratedAt: s.now()}
	bank, ok := s.accounts.LedgerAccount(account)
	if !ok {
		return r, errs.Field("account", "%s is not one of the service's accounts (%s)", account, s.accounts)
	}
	r.LedgerAccount = bank
	if day.IsZero() {
		return r, errs.Field("date", "is required")
	}
	// A statement whose matching or postings were interrupted is finished
	// first: the report never shows a difference that is only postings
	// not yet made.
	if _, err := s.finishPending(context.WithoutCancel(ctx)); err != nil {
		return r, fmt.Errorf("report: %w", err)
	}
	var simulated *bool
	err := s.pool.QueryRow(ctx, `SELECT
			(SELECT opening FROM statements WHERE stmt_date = $1 AND status = 'imported' AND format NOT LIKE 'camt.054%'
				AND ledger_account = $2 ORDER BY sequence, stmt_id LIMIT 1),
			(SELECT closing FROM statements WHERE stmt_date = $1 AND status = 'imported' AND format NOT LIKE 'camt.054%'
				AND ledger_account = $2 ORDER BY sequence DESC, stmt_id DESC LIMIT 1),
			(SELECT bool_or(simulated) FROM statements WHERE stmt_date = $1 AND status = 'imported' AND format NOT LIKE 'camt.054%'
				AND ledger_account = $2)`, day, bank).
		Scan(nullDecimal{&r.StatementOpening, nil}, nullDecimal{&r.StatementClosing, &r.StatementFound}, &simulated)
	if err != nil {
		return r, fmt.Errorf("report: %w", err)
	}
	err = queryRows(ctx, s.pool, `SELECT l.match_status, l.rule, count(*), COALESCE(sum(l.amount), 0) FROM statement_lines l
		JOIN statements st ON st.id = l.statement_id WHERE st.stmt_date = $1 AND st.status = 'imported' AND l.status = 'BOOK'
		AND st.format NOT LIKE 'camt.054%' AND st.ledger_account = $2 GROUP BY l.match_status, l.rule`, []any{day, bank}, func(rows pgx.Rows) error {
		var status, rule string
		var n int64
		var sum decimal.Decimal
		if err := rows.Scan(&status, &rule, &n, &sum); err != nil {
			return err
		}
		r.Lines += int(n)
		if status == "matched" {
			r.Matched[reconcile.Rule(rule)] = reconcile.Count{Count: int(n), Sum: sum}
		} else {
			r.Unmatched.Count += int(n)
			r.Unmatched.Sum = r.Unmatched.Sum.Add(sum)
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("report: lines: %w", err)
	}
	if r.OpenExceptions, err = s.Exceptions(ctx, reconcile.ExceptionFilter{Status: reconcile.ExceptionOpen, Limit: reconcile.MaxReportExceptions}); err != nil {
		return r, err
	}
	var openCount int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(amount), 0) FROM recon_exceptions WHERE status = 'open'`).
		Scan(&openCount, &r.OpenTotal.Sum); err != nil {
		return r, fmt.Errorf("report: count the open exceptions: %w", err)
	}
	r.OpenTotal.Count = int(openCount)
	if r.InTransit, r.InTransitTotal, err = s.inTransit(ctx, day); err != nil {
		return r, err
	}
	r.StatementSimulated = simulated != nil && *simulated
	return r, nil
}

// inTransit counts the payments released and not yet booked nor rejected
// (their file queued, sent, or refused by the bank: the ledger holds them in
// payments in transit all the same), by their age in business days from
// their execution date.
func (s *Store) inTransit(ctx context.Context, day ledger.Date) ([]reconcile.AgeBucket, reconcile.Count, error) {
	buckets := []reconcile.AgeBucket{{Ages: "0-2"}, {Ages: "3-5"}, {Ages: "6-10"}, {Ages: "over 10"}}
	var total reconcile.Count
	err := queryRows(ctx, s.pool, `SELECT f.execution_date, count(*), sum(p.amount) FROM line_payments p JOIN payment_files f ON f.msg_id = p.msg_id
		WHERE NOT EXISTS (SELECT 1 FROM payment_bookings b WHERE b.line_id = p.line_id) AND p.status <> 'RJCT'
		AND f.status <> 'building' AND f.created_at < $1::DATE + 1
		GROUP BY f.execution_date`, []any{day}, func(rows pgx.Rows) error {
		var exec ledger.Date
		var n int64
		var sum decimal.Decimal
		if err := rows.Scan(&exec, &n, &sum); err != nil {
			return err
		}
		age := businessDaysBetween(exec, day)
		i := 3
		switch {
		case age <= 2:
			i = 0
		case age <= 5:
			i = 1
		case age <= 10:
			i = 2
		}
		buckets[i].Count.Count += int(n)
		buckets[i].Sum = buckets[i].Sum.Add(sum)
		total.Count += int(n)
		total.Sum = total.Sum.Add(sum)
		return nil
	})
	return buckets, total, err
}

// businessDaysBetween counts the weekdays after from up to to (0 when to is
// not after from).
func businessDaysBetween(from, to ledger.Date) int {
	n := 0
	for d := from.AddDays(1); !d.After(to) && n < 1000; d = d.AddDays(1) {
		if wd := d.Time().Weekday(); wd != time.Saturday && wd != time.Sunday {
			n++
		}
	}
	return n
}

// nullDecimal scans a nullable decimal, telling whether it was set.
type nullDecimal struct {
	to  *decimal.Decimal
	set *bool
}

// Scan implements sql.Scanner.
func (n nullDecimal) Scan(src any) error {
	var d decimal.NullDecimal
	if err := d.Scan(src); err != nil {
		return err
	}
	if d.Valid {
		*n.to = d.Decimal
	}
	if n.set != nil {
		*n.set = d.Valid
	}
	return nil
}

// queryRows runs sql and calls fn on each row.
func queryRows(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, sql string, args []any, fn func(pgx.Rows) error) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	return nil
}

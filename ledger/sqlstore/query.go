package sqlstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

const entryCols = `e.id, e.idempotency_key, e.kind, e.status, e.effective_date, e.posted_at, e.description, e.source_ref, e.metadata,
	e.reverses, r.id, e.line_count, e.content_hash, e.seal_seq`

// entryHeader reads an entry without its postings.
func (s *Store) entryHeader(ctx context.Context, q querier, id uuid.UUID) (ledger.Entry, error) {
	var e ledger.Entry
	var meta, content []byte
	var date time.Time
	err := q.QueryRow(ctx, `SELECT `+entryCols+` FROM entries e LEFT JOIN entries r ON r.reverses = e.id WHERE e.id = $1`, id).
		Scan(&e.ID, &e.IdempotencyKey, &e.Kind, &e.Status, &date, &e.PostedAt, &e.Description, &e.SourceRef, &meta,
			&e.Reverses, &e.ReversedBy, &e.LineCount, &content, &e.SealSeq)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, errs.E(errs.NotFound, "entry %s does not exist", id)
	}
	if err != nil {
		return e, fmt.Errorf("read entry %s: %w", id, err)
	}
	e.EffectiveDate = ledger.DateOf(date)
	if content != nil {
		e.ContentHash = fmt.Sprintf("%x", content)
	}
	if len(meta) > 2 {
		_ = json.Unmarshal(meta, &e.Metadata)
	}
	return e, nil
}

// MaxEntryPostings is the most postings Entry returns with an entry; a
// larger (bulk) entry is read through account statements.
const MaxEntryPostings = 1000

// Entry returns an entry with its postings when it has at most
// MaxEntryPostings of them.
func (s *Store) Entry(ctx context.Context, id uuid.UUID) (ledger.Entry, error) {
	e, err := s.entryHeader(ctx, s.pool, id)
	if err != nil || e.LineCount > MaxEntryPostings {
		return e, err
	}
	rows, err := s.pool.Query(ctx, `SELECT entry_id, line, account_code, amount, currency, memo, effective_date, posted_at
		FROM postings WHERE entry_id = $1 ORDER BY line LIMIT $2`, id, MaxEntryPostings)
	if err != nil {
		return e, fmt.Errorf("read postings of %s: %w", id, err)
	}
	e.Postings, err = pgx.CollectRows(rows, scanPosting)
	if err != nil {
		return e, fmt.Errorf("read postings of %s: %w", id, err)
	}
	return e, nil
}

func scanPosting(r pgx.CollectableRow) (ledger.Posting, error) {
	var p ledger.Posting
	var d time.Time
	err := r.Scan(&p.EntryID, &p.Line, &p.Account, &p.Amount, &p.Currency, &p.Memo, &d, &p.PostedAt)
	p.EffectiveDate = ledger.DateOf(d)
	return p, err
}

// asOfFilter returns the SQL condition on postings (aliased p) for at,
// with its argument placed at $n.
func asOfFilter(at ledger.AsOf, n int) (string, []any) {
	switch {
	case !at.Date.IsZero():
		return fmt.Sprintf(" AND p.effective_date <= $%d", n), []any{at.Date.Time()}
	case !at.Time.IsZero():
		return fmt.Sprintf(" AND p.posted_at <= $%d", n), []any{at.Time}
	}
	return "", nil
}

// Balance returns the balance now from the balance rows, or as of a past
// moment from the postings.
func (s *Store) Balance(ctx context.Context, account string, at ledger.AsOf) (ledger.Balance, error) {
	a, err := s.Account(ctx, account)
	if err != nil {
		return ledger.Balance{}, err
	}
	var sum decimal.Decimal
	if at.IsZero() {
		err = s.pool.QueryRow(ctx, `SELECT COALESCE(sum(balance), 0) FROM account_balances WHERE account_code = $1`, account).Scan(&sum)
	} else {
		cond, args := asOfFilter(at, 2)
		err = s.pool.QueryRow(ctx, `SELECT COALESCE(sum(p.amount), 0) FROM postings p WHERE p.account_code = $1`+cond, append([]any{account}, args...)...).Scan(&sum)
	}
	if err != nil {
		return ledger.Balance{}, fmt.Errorf("balance of %s: %w", account, err)
	}
	return ledger.Balance{Account: account, Currency: a.Currency, Balance: sum, Natural: natural(a.NormalSide, sum), AsOf: at}, nil
}

func natural(side ledger.Side, signed decimal.Decimal) decimal.Decimal {
	if side == ledger.Credit {
		return signed.Neg()
	}
	return signed
}

// statementCursor is the position after the last line of a page.
type statementCursor struct {
	Date     string    `json:"d"`
	PostedAt time.Time `json:"t"`
	Entry    uuid.UUID `json:"e"`
	Line     int64     `json:"l"`
}

func (c statementCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (statementCursor, error) {
	var c statementCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Date == "" {
		return c, errs.Field("cursor", "is not a cursor returned by a previous page")
	}
	return c, nil
}

// Statement returns a page of an account's postings in effective-date
// order, with the running balance after each.
func (s *Store) Statement(ctx context.Context, q ledger.StatementQuery) (ledger.Statement, error) {
	a, err := s.Account(ctx, q.Account)
	if err != nil {
		return ledger.Statement{}, err
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < 1 || q.Limit > 1000 {
		return ledger.Statement{}, errs.Field("limit", "must be between 1 and 1000")
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return ledger.Statement{}, errs.Field("to", "%s is before from %s", q.To, q.From)
	}
	// Position: the cursor, or just before the first day asked for.
	pos := statementCursor{Date: "0001-01-01"}
	if !q.From.IsZero() {
		pos.Date = q.From.AddDays(-1).String()
		pos.PostedAt = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		pos.Entry = uuid.Max
		pos.Line = 1 << 62
	}
	if q.Cursor != "" {
		if pos, err = decodeCursor(q.Cursor); err != nil {
			return ledger.Statement{}, err
		}
	}
	key := `(p.effective_date, p.posted_at, p.entry_id, p.line)`
	args := []any{q.Account, pos.Date, pos.PostedAt, pos.Entry, pos.Line}
	var opening decimal.Decimal
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(sum(p.amount), 0) FROM postings p
		WHERE p.account_code = $1 AND `+key+` <= ($2::DATE, $3::TIMESTAMPTZ, $4::UUID, $5::BIGINT)`, args...).Scan(&opening); err != nil {
		return ledger.Statement{}, fmt.Errorf("statement of %s: %w", q.Account, err)
	}
	to := ""
	if !q.To.IsZero() {
		to = " AND p.effective_date <= $7"
		args = append(args, q.Limit+1, q.To.Time())
	} else {
		args = append(args, q.Limit+1)
	}
	rows, err := s.pool.Query(ctx, `SELECT p.entry_id, p.line, p.account_code, p.amount, p.currency, p.memo, p.effective_date, p.posted_at, e.description
		FROM postings p JOIN entries e ON e.id = p.entry_id
		WHERE p.account_code = $1 AND `+key+` > ($2::DATE, $3::TIMESTAMPTZ, $4::UUID, $5::BIGINT)`+to+`
		ORDER BY p.effective_date, p.posted_at, p.entry_id, p.line LIMIT $6`, args...)
	if err != nil {
		return ledger.Statement{}, fmt.Errorf("statement of %s: %w", q.Account, err)
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.StatementLine, error) {
		var l ledger.StatementLine
		var d time.Time
		err := r.Scan(&l.EntryID, &l.Line, &l.Account, &l.Amount, &l.Currency, &l.Memo, &d, &l.PostedAt, &l.Description)
		l.EffectiveDate = ledger.DateOf(d)
		return l, err
	})
	if err != nil {
		return ledger.Statement{}, fmt.Errorf("statement of %s: %w", q.Account, err)
	}
	st := ledger.Statement{Account: q.Account, Currency: a.Currency, Opening: opening}
	if len(lines) > q.Limit {
		lines = lines[:q.Limit]
		last := lines[len(lines)-1]
		st.NextCursor = statementCursor{Date: last.EffectiveDate.String(), PostedAt: last.PostedAt, Entry: last.EntryID, Line: last.Line}.encode()
	}
	run := opening
	for i := range lines {
		run = run.Add(lines[i].Amount)
		lines[i].Running = run
	}
	st.Lines = lines
	return st, nil
}

// TrialBalance lists every account with a non-zero balance at a moment.
func (s *Store) TrialBalance(ctx context.Context, at ledger.AsOf) (ledger.TrialBalance, error) {
	var sql string
	var args []any
	if at.IsZero() {
		sql = `SELECT a.code, a.name, a.type, a.currency, b.balance FROM accounts a
			JOIN (SELECT account_code, sum(balance) AS balance FROM account_balances GROUP BY account_code) b ON b.account_code = a.code
			WHERE b.balance <> 0 ORDER BY a.code`
	} else {
		cond, a := asOfFilter(at, 1)
		args = a
		sql = `SELECT a.code, a.name, a.type, a.currency, b.balance FROM accounts a
			JOIN (SELECT p.account_code, sum(p.amount) AS balance FROM postings p WHERE true` + cond + ` GROUP BY p.account_code) b
			ON b.account_code = a.code WHERE b.balance <> 0 ORDER BY a.code`
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return ledger.TrialBalance{}, fmt.Errorf("trial balance: %w", err)
	}
	tb := ledger.TrialBalance{AsOf: at, Totals: map[string]ledger.TrialBalanceSum{}}
	tb.Rows, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.TrialBalanceRow, error) {
		var row ledger.TrialBalanceRow
		var bal decimal.Decimal
		if err := r.Scan(&row.Account, &row.Name, &row.Type, &row.Currency, &bal); err != nil {
			return row, err
		}
		if bal.IsPositive() {
			row.Debit = bal
		} else {
			row.Credit = bal.Neg()
		}
		t := tb.Totals[row.Currency]
		t.Debit, t.Credit = t.Debit.Add(row.Debit), t.Credit.Add(row.Credit)
		t.Difference = t.Debit.Sub(t.Credit)
		tb.Totals[row.Currency] = t
		return row, nil
	})
	if err != nil {
		return tb, fmt.Errorf("trial balance: %w", err)
	}
	return tb, nil
}

package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/fec"
)

// The pages the FEC export reads at a time: entries of the period, then
// the postings of each. However many postings there are, the export holds
// at most one page of each in memory.
const (
	fecEntryPage   = 500
	fecPostingPage = 5000
)

var _ fec.Source = (*Store)(nil)

// FECSnapshot calls fn with a snapshot of the ledger read in one read-only
// REPEATABLE READ transaction (CockroachDB runs it as SERIALIZABLE): the
// export sees every entry whole, or not at all, whatever is posted while
// it runs.
func (s *Store) FECSnapshot(ctx context.Context, fn func(fec.Snapshot) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("open a snapshot of the ledger: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(fecSnapshot{tx: tx}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("close the snapshot of the ledger: %w", err)
	}
	return nil
}

type fecSnapshot struct{ tx pgx.Tx }

// TopAccounts returns the accounts without parent.
func (f fecSnapshot) TopAccounts(ctx context.Context) ([]ledger.Account, error) {
	rows, err := f.tx.Query(ctx, `SELECT `+accountCols+` FROM accounts WHERE parent_code IS NULL OR parent_code = '' ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("read the chart: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledger.Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, fmt.Errorf("read the chart: %w", err)
	}
	return out, nil
}

type fecEntry struct {
	id       uuid.UUID
	lines    int64
	key      string
	date     time.Time
	postedAt time.Time
	desc     string
	ref      string
}

// Postings reads the posted entries of the period by keyset pages in the
// order of (effective_date, posted_at, id) (index entries_effective_idx),
// and the postings of each by pages of its primary key. The lines of a
// beneficiary's payable account in an accrual or a release are joined to
// the booking of their payment (payment_bookings, by the payment's line id
// in the memo) when the statement booked it on or before the period's
// last day.
func (f fecSnapshot) Postings(ctx context.Context, p fec.Period, fn func(fec.Posting) error) error {
	var after *fecEntry
	page := make([]fecEntry, 0, fecEntryPage)
	for {
		page = page[:0]
		var rows pgx.Rows
		var err error
		const cols = `SELECT id, line_count, idempotency_key, effective_date, posted_at, description, source_ref FROM entries
			WHERE status = 'posted' AND effective_date >= $1 AND effective_date <= $2`
		if after == nil {
			rows, err = f.tx.Query(ctx, cols+` ORDER BY effective_date, posted_at, id LIMIT $3`, p.From.Time(), p.To.Time(), fecEntryPage)
		} else {
			rows, err = f.tx.Query(ctx, cols+` AND (effective_date, posted_at, id) > ($3, $4, $5)
				ORDER BY effective_date, posted_at, id LIMIT $6`, p.From.Time(), p.To.Time(), after.date, after.postedAt, after.id, fecEntryPage)
		}
		if err != nil {
			return fmt.Errorf("read the entries of the period: %w", err)
		}
		for rows.Next() {
			var e fecEntry
			if err := rows.Scan(&e.id, &e.lines, &e.key, &e.date, &e.postedAt, &e.desc, &e.ref); err != nil {
				rows.Close()
				return fmt.Errorf("read the entries of the period: %w", err)
			}
			page = append(page, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read the entries of the period: %w", err)
		}
		for _, e := range page {
			if err := f.entryPostings(ctx, e, p.To, fn); err != nil {
				return err
			}
		}
		if len(page) < fecEntryPage {
			return nil
		}
		last := page[len(page)-1]
		after = &last
	}
}

// entryPostings calls fn with the postings of one entry, by pages of line
// numbers: an entry's lines are numbered 0 to line_count-1, so each page is
// a range of its primary key, read whole however large the entry. An entry
// whose postings are not its line count fails the export: the file never
// holds part of an entry.
func (f fecSnapshot) entryPostings(ctx context.Context, e fecEntry, to ledger.Date, fn func(fec.Posting) error) error {
	lettered := fec.Lettered(e.key, ledger.Payable)
	head := fec.Posting{EntryID: e.id, IdempotencyKey: e.key, EffectiveDate: ledger.DateOf(e.date), PostedAt: e.postedAt,
		Description: e.desc, SourceRef: e.ref}
	page := make([]fec.Posting, 0, min(e.lines, fecPostingPage))
	var seen int64
	for after := int64(-1); after < e.lines-1; after += fecPostingPage {
		page = page[:0]
		rows, err := f.tx.Query(ctx, `SELECT p.line, p.account_code, COALESCE(a.name, ''), COALESCE(a.parent_code, ''), p.amount, p.memo,
				b.match_id, l.booking_date
			FROM (SELECT line, account_code, amount, memo FROM postings WHERE entry_id = $1 AND line > $2 AND line <= $3) p
			LEFT JOIN accounts a ON a.code = p.account_code
			LEFT JOIN payment_bookings b ON $4::BOOL AND a.parent_code = $5 AND p.memo <> '' AND b.line_id = p.memo
			LEFT JOIN statement_lines l ON l.statement_id = b.statement_id AND l.idx = b.idx AND l.booking_date <= $6
			ORDER BY p.line`,
			e.id, after, after+fecPostingPage, lettered, ledger.Payable, to.Time())
		if err != nil {
			return fmt.Errorf("read the postings of entry %s: %w", e.id, err)
		}
		for rows.Next() {
			ps := head
			var match *uuid.UUID
			var booked *time.Time
			var amount decimal.Decimal
			if err := rows.Scan(&ps.Line, &ps.Account, &ps.AccountName, &ps.Parent, &amount, &ps.Memo, &match, &booked); err != nil {
				rows.Close()
				return fmt.Errorf("read the postings of entry %s: %w", e.id, err)
			}
			ps.Amount = amount
			if match != nil && booked != nil {
				ps.Match, ps.MatchDate = match, ledger.DateOf(*booked)
			}
			page = append(page, ps)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read the postings of entry %s: %w", e.id, err)
		}
		seen += int64(len(page))
		for _, ps := range page {
			if err := fn(ps); err != nil {
				return err
			}
		}
	}
	if seen != e.lines {
		return fmt.Errorf("entry %s has %d postings numbered 0 to %d, not its %d lines: run ledgerctl verify", e.id, seen, e.lines-1, e.lines)
	}
	return nil
}

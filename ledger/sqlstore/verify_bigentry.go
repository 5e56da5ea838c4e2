package sqlstore

import (
	"context"
	"fmt"
	"sort"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/ledger"
)

// bigEntry is an entry of more lines than a page, checked over several.
type bigEntry struct {
	check *entryCheck
	out   pageOut          // what its pages found
	above []ledger.Problem // bad postings numbered past the chunks, reported last
}

// startBigEntry reads the entry id, its chunks and the postings that no
// chunk holds.
func startBigEntry(ctx context.Context, tx pgx.Tx, id uuid.UUID) (*bigEntry, error) {
	var e entryRow
	if err := scanEntry(tx.QueryRow(ctx, `SELECT `+verifiedEntryCols+` FROM entries WHERE id = $1`, id), &e); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT chunk, first_line, line_count, hash FROM entry_chunks WHERE entry_id = $1 ORDER BY chunk`, id)
	if err != nil {
		return nil, err
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chunkRow, error) {
		var c chunkRow
		return c, r.Scan(&c.no, &c.first, &c.count, &c.hash)
	})
	if err != nil {
		return nil, err
	}
	b := &bigEntry{check: newEntryCheck(e, cs), out: newPageOut()}
	b.out.entries = 1
	if e.status == string(ledger.StatusOpen) {
		b.out.open = 1
	}
	outside := func(p string) string { return p + "entry_id = $1 AND (" + p + "line < 0 OR " + p + "line >= $2)" }
	ps, err := b.postings(ctx, tx, outside(""), id, b.check.end)
	if err != nil {
		return nil, err
	}
	b.check.strays(ps)
	bad, err := b.badPostings(ctx, tx, outside("p."), id, b.check.end)
	if err != nil {
		return nil, err
	}
	for _, p := range bad {
		if p.line < 0 {
			b.out.found.add(checkBadPosting, p.Problem)
		} else {
			b.above = append(b.above, p.Problem)
		}
	}
	return b, nil
}

// postings reads the entry's postings that cond keeps, in line order,
// adding them to the page's sums.
func (b *bigEntry) postings(ctx context.Context, tx pgx.Tx, cond string, args ...any) ([]postingRow, error) {
	rows, err := tx.Query(ctx, `SELECT `+hashedCols+` FROM postings WHERE `+cond+` ORDER BY line`, args...)
	if err != nil {
		return nil, err
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (postingRow, error) {
		var p postingRow
		return p, r.Scan(p.dest()...)
	})
	for _, p := range ps {
		b.out.trial[p.cur] = b.out.trial[p.cur].Add(p.amt)
		b.out.postings++
	}
	return ps, err
}

type linedProblem struct {
	ledger.Problem
	line int64
}

// badPostings returns the entry's postings that cond (on p) keeps and that name an
// account that does not exist or is kept in another currency.
func (b *bigEntry) badPostings(ctx context.Context, tx pgx.Tx, cond string, args ...any) ([]linedProblem, error) {
	rows, err := tx.Query(ctx, `SELECT p.line, p.account_code, COALESCE(a.currency, ''), p.currency
		FROM postings p LEFT JOIN accounts a ON a.code = p.account_code
		WHERE (a.code IS NULL OR a.currency <> p.currency) AND `+cond+`
		ORDER BY p.line LIMIT `+fmt.Sprint(maxProblems), args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (linedProblem, error) {
		var p linedProblem
		var acur, pcur string
		if err := r.Scan(&p.line, &p.Account, &acur, &pcur); err != nil {
			return p, err
		}
		p.Kind, p.EntryID = "bad_posting", b.check.e.id.String()
		if acur == "" {
			p.Detail = fmt.Sprintf("line %d: account %q does not exist", p.line, p.Account)
		} else {
			p.Detail = fmt.Sprintf("line %d: posted in %s to account %s kept in %s", p.line, pcur, p.Account, acur)
		}
		return p, nil
	})
}

// finishBigEntry checks the entry's chunks, as many as hold at most a
// page of lines (one at least) in each transaction, then reports on it.
// The transactions read the lines from 0 to the end of the last chunk,
// each line once, whatever lies between the chunks: a chunk of an open
// entry written meanwhile falls whole in one of them.
func (v *verifier) finishBigEntry(ctx context.Context, rep *ledger.VerifyReport, b *bigEntry) error {
	cs := b.check.chunks
	var hi int64
	for len(cs) > 0 {
		n, lines := 1, cs[0].count
		for n < len(cs) && lines+cs[n].count <= int64(v.page) {
			lines += cs[n].count
			n++
		}
		group := cs[:n]
		lo := hi
		hi = max(lo, group[n-1].first+group[n-1].count)
		if n == len(cs) {
			hi = b.check.end
		}
		// The attempt works on copies, so that one run again counts
		// nothing twice.
		var try bigEntry
		err := db.InReadTx(ctx, v.pool, v.retry, func(ctx context.Context, tx pgx.Tx) error {
			check := *b.check
			check.hashes = append([][]byte(nil), b.check.hashes...)
			try = bigEntry{check: &check, out: newPageOut()}
			span := func(p string) string { return p + "entry_id = $1 AND " + p + "line >= $2 AND " + p + "line < $3" }
			ps, err := try.postings(ctx, tx, span(""), check.e.id, lo, hi)
			if err != nil {
				return err
			}
			for _, ch := range group {
				check.chunk(ch, within(ps, ch.first, ch.first+ch.count))
			}
			check.strays(ps)
			bad, err := try.badPostings(ctx, tx, span("p."), check.e.id, lo, hi)
			for _, p := range bad {
				try.out.found.add(checkBadPosting, p.Problem)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("lines %d to %d: %w", lo, hi-1, err)
		}
		b.check = try.check
		b.out.found.merge(&try.out.found)
		b.out.postings += try.out.postings
		for cur, sum := range try.out.trial {
			b.out.trial[cur] = b.out.trial[cur].Add(sum)
		}
		cs = cs[n:]
	}
	for _, p := range b.above {
		b.out.found.add(checkBadPosting, p)
	}
	// Every chunk is balanced when written: the entry balances unless its
	// postings were changed.
	currencies := make([]string, 0, len(b.out.trial))
	for cur := range b.out.trial {
		currencies = append(currencies, cur)
	}
	sort.Strings(currencies)
	for _, cur := range currencies {
		if sum := b.out.trial[cur]; !sum.IsZero() {
			b.out.found.add(checkUnbalanced, ledger.Problem{Kind: "unbalanced_entry", EntryID: b.check.e.id.String(),
				Detail: fmt.Sprintf("postings in %s sum to %s", cur, sum.StringFixed(2))})
		}
	}
	b.check.report(func(p ledger.Problem) { b.out.found.add(checkHashes, p) })
	v.merge(rep, &b.out)
	return nil
}

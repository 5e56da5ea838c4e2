package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/reconcile"
)

// watermarkOverlap is how long the watermark stays behind the clock: a
// release whose transaction took its timestamp before a pass but committed
// after it is still seen by the next passes. The payments of the last
// minutes are so looked at again; matching a line twice changes nothing.
const watermarkOverlap = 10 * time.Minute

// FinishPending finishes what the imports left undone, then matches the
// lines left unmatched against the payments new since the last pass. It is
// ledgerd's periodic bank pass:
//   - the statements whose matching or postings did not complete (a
//     process stopped between storing a statement and posting what its
//     lines owe the ledger) are matched and posted;
//   - the postings still pending are posted;
//   - the unmatched lines that a payment written or changed since the
//     watermark may explain (by EndToEndId, batch id, or payee account)
//     run through the cascade again, and the watermark moves on.
//
// Its cost depends on what changed, never on how many lines are left
// unmatched.
func (s *Store) FinishPending(ctx context.Context) (reconcile.MatchResult, error) {
	total, err := s.finishPending(ctx)
	if err != nil {
		return total, err
	}
	res, err := s.matchNewPayments(ctx)
	addResult(&total, res)
	if err != nil {
		return total, err
	}
	if err := s.postPending(ctx); err != nil {
		return total, err
	}
	return total, nil
}

// finishPending finishes the statements imported whose matching or
// postings did not complete, and posts the postings still pending.
func (s *Store) finishPending(ctx context.Context) (reconcile.MatchResult, error) {
	rows, err := s.pool.Query(ctx, `SELECT id::TEXT FROM statements WHERE match_pending AND status = 'imported' ORDER BY id`)
	if err != nil {
		return emptyResult(), fmt.Errorf("find the statements to finish: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return emptyResult(), fmt.Errorf("find the statements to finish: %w", err)
	}
	if len(ids) > 0 {
		s.log.Info("finishing the matching of statements left unfinished", "statements", len(ids))
	}
	res, err := s.finish(ctx, ids)
	if err != nil {
		return res, err
	}
	return res, s.postPending(ctx)
}

// finish runs the cascade over the lines still unmatched of the statements
// ids, posts what they owe the ledger and marks them finished. A statement
// is finished only once its postings are made: one interrupted before is
// finished by the next call.
func (s *Store) finish(ctx context.Context, ids []string) (reconcile.MatchResult, error) {
	if len(ids) == 0 {
		return emptyResult(), nil
	}
	res, err := s.matchLines(ctx, `l.statement_id = ANY($4::UUID[])`, ids)
	if err != nil {
		return res, err
	}
	if s.beforePostings != nil {
		if err := s.beforePostings(ctx); err != nil {
			return res, err
		}
	}
	if err := s.postPending(ctx); err != nil {
		return res, err
	}
	err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE statements SET match_pending = false WHERE id = ANY($1::UUID[]) AND match_pending
			AND status = 'imported'`, ids)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("mark the statements matched: %w", err)
	}
	return res, nil
}

// pendingOf lists those of the statements ids that are imported and not
// finished.
func (s *Store) pendingOf(ctx context.Context, ids []uuid.UUID) ([]string, error) {
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = id.String()
	}
	rows, err := s.pool.Query(ctx, `SELECT id::TEXT FROM statements WHERE id = ANY($1::UUID[]) AND match_pending AND status = 'imported'
		ORDER BY id`, strs)
	if err != nil {
		return nil, fmt.Errorf("find the statements to finish: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// matchNewPayments runs the cascade again over the unmatched lines that the
// payments written or changed since the watermark may explain, a page of
// payments at a time, and moves the watermark past them.
func (s *Store) matchNewPayments(ctx context.Context) (reconcile.MatchResult, error) {
	total := emptyResult()
	var mark time.Time
	err := s.pool.QueryRow(ctx, `SELECT at FROM recon_watermarks WHERE name = 'payments'`).Scan(&mark)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return total, fmt.Errorf("read the watermark of the payments matched: %w", err)
	}
	from := mark
	after, afterID := from, ""
	for {
		type pay struct {
			id, msg, pmtInf, iban string
			at                    time.Time
		}
		rows, err := s.pool.Query(ctx, `SELECT p.line_id, p.msg_id, p.pmt_inf_id, COALESCE(b.payee_iban, ''), p.updated_at
			FROM line_payments p LEFT JOIN batch_lines b ON b.id = p.line_id
			WHERE p.updated_at > $1 AND (p.updated_at, p.line_id) > ($2, $3)
			ORDER BY p.updated_at, p.line_id LIMIT $4`, from, after, afterID, s.cfg.ChunkSize)
		if err != nil {
			return total, fmt.Errorf("read the payments new since %s: %w", mark.Format(time.RFC3339), err)
		}
		page, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pay, error) {
			var p pay
			err := r.Scan(&p.id, &p.msg, &p.pmtInf, &p.iban, &p.at)
			return p, err
		})
		if err != nil {
			return total, fmt.Errorf("read the payments new since %s: %w", mark.Format(time.RFC3339), err)
		}
		if len(page) == 0 {
			break
		}
		set := func() map[string]bool { return map[string]bool{} }
		ids, batches, ibans := set(), set(), set()
		for _, p := range page {
			ids[p.id] = true
			for _, b := range []string{p.msg, p.pmtInf} {
				if b != "" {
					batches[b] = true
				}
			}
			if p.iban != "" {
				ibans[p.iban] = true
			}
		}
		res, err := s.matchCandidates(ctx, keys(ids), keys(batches), keys(ibans))
		addResult(&total, res)
		if err != nil {
			return total, err
		}
		last := page[len(page)-1]
		after, afterID = last.at, last.id
		next := last.at
		if limit := s.now().Add(-watermarkOverlap); next.After(limit) {
			next = limit
		}
		if next.After(mark) {
			if err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO recon_watermarks (name, at) VALUES ('payments', $1)
					ON CONFLICT (name) DO UPDATE SET at = greatest(recon_watermarks.at, excluded.at)`, next)
				return err
			}); err != nil {
				return total, fmt.Errorf("move the watermark of the payments matched: %w", err)
			}
			mark = next
		}
		if len(page) < s.cfg.ChunkSize {
			break
		}
	}
	return total, nil
}

// matchCandidates runs the cascade over the unmatched lines that payments
// of the ids given, of the batches (MsgId or PmtInfId) given or to the
// payee accounts given may explain: the lines are found through the
// indexes of the unmatched lines, never by reading them all.
func (s *Store) matchCandidates(ctx context.Context, ids, batches, ibans []string) (reconcile.MatchResult, error) {
	rows, err := s.pool.Query(ctx, `SELECT l.statement_id::TEXT, l.idx FROM statement_lines l
			WHERE l.match_status = 'unmatched' AND l.end_to_end_id = ANY($1::TEXT[])
		UNION SELECT l.statement_id::TEXT, l.idx FROM statement_lines l
			WHERE l.match_status = 'unmatched' AND l.pmt_inf_id = ANY($2::TEXT[])
		UNION SELECT l.statement_id::TEXT, l.idx FROM statement_lines l
			WHERE l.match_status = 'unmatched' AND l.msg_id = ANY($2::TEXT[])
		UNION SELECT l.statement_id::TEXT, l.idx FROM statement_lines l
			WHERE l.match_status = 'unmatched' AND l.counterparty_iban = ANY($3::TEXT[])`, ids, batches, ibans)
	if err != nil {
		return emptyResult(), fmt.Errorf("find the lines the new payments may explain: %w", err)
	}
	var stmts []string
	var idxs []int64
	var stmt string
	var idx int64
	if _, err := pgx.ForEachRow(rows, []any{&stmt, &idx}, func() error {
		stmts, idxs = append(stmts, stmt), append(idxs, idx)
		return nil
	}); err != nil {
		return emptyResult(), fmt.Errorf("find the lines the new payments may explain: %w", err)
	}
	if len(stmts) == 0 {
		return emptyResult(), nil
	}
	return s.matchLines(ctx, `(l.statement_id, l.idx) IN (SELECT u.s, u.i FROM unnest($4::UUID[], $5::BIGINT[]) AS u (s, i))`, stmts, idxs)
}

// keys lists the keys of m.
func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// emptyResult is the result of a pass that matched nothing.
func emptyResult() reconcile.MatchResult {
	return reconcile.MatchResult{Matched: map[reconcile.Rule]reconcile.Count{}}
}

// addResult adds r to total.
func addResult(total *reconcile.MatchResult, r reconcile.MatchResult) {
	for rule, c := range r.Matched {
		t := total.Matched[rule]
		t.Count += c.Count
		t.Sum = t.Sum.Add(c.Sum)
		total.Matched[rule] = t
	}
	total.Exceptions += r.Exceptions
	total.Unmatched += r.Unmatched
	total.Examined += r.Examined
}

package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
)

// MarkBatchApproved records a draft batch as approved, a chunk of lines at
// a time, after establishing the overpayments its run found: the batch is
// 'approving' meanwhile, and its lines already count as paid, so that no
// other batch can pay the same days. Each chunk checks
// that its lines were computed on what is paid now (basis), that no grant
// is paid twice and that no deduction takes more than remains of its
// overpayment; when one was not, what the approval recorded is taken back,
// the batch is a draft again (or replaced, if a newer draft exists) and the
// error is a conflict. Approving an approved batch does nothing; approving
// a batch left 'approving' by an interrupted approval finishes it. It posts
// nothing to the ledger: the approval workflow (payments/workflow) does.
func (s *RunStore) MarkBatchApproved(ctx context.Context, id uuid.UUID) error {
	done, err := s.beginApproval(ctx, id, payments.BatchDraft)
	if err != nil || done {
		return err
	}
	done, err = s.recordApproval(ctx, id)
	if err != nil || done {
		return err
	}
	return s.completeApproval(ctx, id, nil)
}

// beginApproval moves a batch from status from to 'approving'. It reports
// done when the batch is approved already; a batch left 'approving' is
// taken as it is, to finish its approval.
func (s *RunStore) beginApproval(ctx context.Context, id uuid.UUID, from payments.BatchStatus) (done bool, err error) {
	var status string
	err = db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT status FROM batches WHERE id = $1`, id).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return batchNotFound(id)
		}
		if err != nil {
			return err
		}
		switch payments.BatchStatus(status) {
		case payments.BatchApproved, payments.BatchApproving:
			return nil
		case from:
			_, err := tx.Exec(ctx, `UPDATE batches SET status = 'approving' WHERE id = $1`, id)
			return err
		}
		return errs.E(errs.Conflict, "batch %s is %s: only a batch %s can be approved", id, status, from)
	})
	if err != nil {
		if errs.CodeOf(err) != errs.Internal {
			return false, err
		}
		return false, fmt.Errorf("approve batch %s: %w", id, err)
	}
	return payments.BatchStatus(status) == payments.BatchApproved, nil
}

// recordApproval records the lines of an 'approving' batch as paid, a
// chunk at a time, and takes it all back on a conflict. It reports done
// when another call finished the approval meanwhile. A reissue batch pays
// again what an approved batch recorded: it records nothing.
func (s *RunStore) recordApproval(ctx context.Context, id uuid.UUID) (done bool, err error) {
	var kind string
	if err := s.pool.QueryRow(ctx, `SELECT kind FROM batches WHERE id = $1`, id).Scan(&kind); err != nil {
		return false, fmt.Errorf("approve batch %s: %w", id, err)
	}
	if payments.RunKind(kind) == payments.RunReissue {
		return false, nil
	}
	// The overpayments first: the lines' deductions may recover them.
	for _, chunk := range []func(context.Context, pgx.Tx, uuid.UUID, string) (int, string, error){s.establishChunk, s.approveChunk} {
		cursor := ""
		for {
			var n int
			var last string
			err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
				var err error
				n, last, err = chunk(ctx, tx, id, cursor)
				return err
			})
			if errors.Is(err, errApprovedMeanwhile) {
				return true, nil // another approval of the batch finished it
			}
			if err != nil {
				if errs.Is(err, errs.Conflict) {
					if uerr := s.unapprove(ctx, id); uerr != nil {
						return false, fmt.Errorf("%w (and undoing the approval failed: %v; approve again to finish it)", err, uerr)
					}
					return false, err
				}
				return false, fmt.Errorf("approve batch %s: %w", id, err)
			}
			if n < s.chunk {
				break
			}
			cursor = last
		}
	}
	return false, nil
}

// completeApproval moves an 'approving' batch to 'approved'; then, in the
// same transaction, it runs then, when set.
func (s *RunStore) completeApproval(ctx context.Context, id uuid.UUID, then func(context.Context, pgx.Tx) error) error {
	err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE batches SET status = 'approved', approved_at = COALESCE(approved_at, $2)
			WHERE id = $1 AND status = 'approving'`, id, s.stamp())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			if then != nil {
				return then(ctx, tx)
			}
			return nil
		}
		var status string
		if err := tx.QueryRow(ctx, `SELECT status FROM batches WHERE id = $1`, id).Scan(&status); err != nil {
			return err
		}
		if payments.BatchStatus(status) == payments.BatchApproved {
			return nil // another approval of the batch finished it
		}
		return errs.E(errs.Conflict, "batch %s is %s: no longer being approved", id, status)
	})
	if err != nil && errs.CodeOf(err) == errs.Internal {
		return fmt.Errorf("approve batch %s: %w", id, err)
	}
	return err
}

// errApprovedMeanwhile says that another call approved the batch while this
// one was recording it.
var errApprovedMeanwhile = errors.New("approved meanwhile")

// stillApproving fails when the batch is no longer being approved.
func stillApproving(ctx context.Context, tx pgx.Tx, batch uuid.UUID) error {
	var status string
	if err := tx.QueryRow(ctx, `SELECT status FROM batches WHERE id = $1`, batch).Scan(&status); err != nil {
		return err
	}
	switch payments.BatchStatus(status) {
	case payments.BatchApproving:
		return nil
	case payments.BatchApproved:
		return errApprovedMeanwhile
	}
	return errs.E(errs.Conflict, "batch %s is %s: its approval was undone", batch, status)
}

// establishChunk establishes the overpayments that the batch's run found,
// after cursor: each becomes a debt of its beneficiary, taken off what its
// period is taken to have been paid, with the record of the computation
// that found it. One found on what is no longer paid for its period, or
// whose id another overpayment holds, is a conflict. It returns how many
// it took and the last one's id.
func (s *RunStore) establishChunk(ctx context.Context, tx pgx.Tx, batch uuid.UUID, cursor string) (int, string, error) {
	now := s.stamp()
	if err := stillApproving(ctx, tx, batch); err != nil {
		return 0, "", err
	}
	type found struct {
		id, ben, period, reason, by string
		amount, basis               decimal.Decimal
		seen                        int64
		exists                      bool
	}
	rows, err := tx.Query(ctx, `SELECT f.overpayment_id, f.beneficiary_id, f.period, f.reason, f.amount, f.basis, f.facts_seen,
		o.overpayment_id IS NOT NULL, COALESCE(o.batch_id::TEXT, '')
		FROM batch_overpayments f LEFT JOIN overpayments o ON o.overpayment_id = f.overpayment_id
		WHERE f.batch_id = $1 AND f.overpayment_id > $2 ORDER BY f.overpayment_id LIMIT $3`, batch, cursor, s.chunk)
	if err != nil {
		return 0, "", err
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (found, error) {
		var f found
		err := r.Scan(&f.id, &f.ben, &f.period, &f.reason, &f.amount, &f.basis, &f.seen, &f.exists, &f.by)
		return f, err
	})
	if err != nil || len(all) == 0 {
		return 0, "", err
	}
	var todo []found
	var bens, periods []string
	for _, f := range all {
		switch {
		case f.exists && f.by == batch.String():
			continue // established by an earlier attempt at this approval
		case f.exists:
			return 0, "", errs.E(errs.Conflict, "overpayment %s of %s, found by this batch, is established already: "+
				"run the period again before approving", f.id, f.ben)
		}
		todo = append(todo, f)
		bens, periods = append(bens, f.ben), append(periods, f.period)
	}
	if len(todo) > 0 {
		type key struct{ ben, period string }
		paid := map[key]decimal.Decimal{}
		err = queryEach(ctx, tx, `SELECT beneficiary_id, period, sum(gross) FROM period_payments
			WHERE beneficiary_id = ANY($1::TEXT[]) AND scheme = 'ada' AND period = ANY($2::TEXT[]) GROUP BY beneficiary_id, period`,
			[]any{bens, periods}, func(r pgx.Rows) error {
				var k key
				var sum decimal.Decimal
				err := r.Scan(&k.ben, &k.period, &sum)
				paid[k] = sum
				return err
			})
		if err != nil {
			return 0, "", err
		}
		var o struct{ ids, events, bens, periods, amounts, negatives, dues, reasons []string }
		var seen []int64
		for _, f := range todo {
			if now := paid[key{f.ben, f.period}]; !now.Equal(f.basis) {
				return 0, "", errs.E(errs.Conflict, "overpayment %s (ADA %s of %s) was found on %s paid for the period, and %s is paid now: "+
					"run the period again before approving", f.id, f.period, f.ben, f.basis.StringFixed(2), now.StringFixed(2))
			}
			o.ids = append(o.ids, f.id)
			o.events = append(o.events, uuid.NewSHA1(retroSpace, []byte(f.id)).String())
			o.bens = append(o.bens, f.ben)
			o.periods = append(o.periods, f.period)
			o.amounts = append(o.amounts, f.amount.StringFixed(2))
			o.negatives = append(o.negatives, f.amount.Neg().StringFixed(2))
			o.dues = append(o.dues, f.basis.Sub(f.amount).StringFixed(2))
			o.reasons = append(o.reasons, f.reason)
			seen = append(seen, f.seen)
		}
		for _, st := range []statement{
			{what: "overpayments", n: len(o.ids), sql: `INSERT INTO overpayments
				(overpayment_id, event_id, beneficiary_id, established_at, amount, reason, fraud, batch_id)
				SELECT u.o, u.e, u.b, $5, u.a::DECIMAL(19,2), u.r, false, $7
				FROM unnest($1::TEXT[], $2::UUID[], $3::TEXT[], $4::TEXT[], $6::TEXT[]) AS u (o, e, b, a, r)`,
				args: []any{o.ids, o.events, o.bens, o.amounts, now, o.reasons, batch.String()}},
			// Taken off what the period was paid, outside the batch's
			// payments: cancelling the batch later leaves the debt.
			{what: "overpaid periods", n: len(o.ids), sql: `INSERT INTO period_payments
				(beneficiary_id, scheme, period, source_id, batch_id, ref, gross, recorded_at, due, facts_seen)
				SELECT u.b, 'ada', u.p, u.o, NULL, '', u.g::DECIMAL(19,2), $5, u.d::DECIMAL(19,2), u.fs
				FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $6::TEXT[], $7::BIGINT[]) AS u (b, p, o, g, d, fs)`,
				args: []any{o.bens, o.periods, o.ids, o.negatives, now, o.dues, seen}},
		} {
			if err := execStatement(ctx, tx, st); err != nil {
				return 0, "", err
			}
		}
	}
	return len(all), all[len(all)-1].id, nil
}

// approveChunk checks and records the lines of a batch after cursor; it
// returns how many it took and the last one's id.
func (s *RunStore) approveChunk(ctx context.Context, tx pgx.Tx, batch uuid.UUID, cursor string) (int, string, error) {
	now := s.stamp()
	if err := stillApproving(ctx, tx, batch); err != nil {
		return 0, "", err
	}
	rows, err := tx.Query(ctx, `SELECT id, scheme, beneficiary_id, period, ref, gross, basis, deductions, facts_seen FROM batch_lines
		WHERE batch_id = $1 AND id > $2 ORDER BY id LIMIT $3`, batch, cursor, s.chunk)
	if err != nil {
		return 0, "", err
	}
	type line struct {
		id, scheme, ben, period, ref string
		gross, basis                 decimal.Decimal
		deductions                   []payments.Deduction
		seen                         *int64
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (line, error) {
		var l line
		var ds []byte
		if err := r.Scan(&l.id, &l.scheme, &l.ben, &l.period, &l.ref, &l.gross, &l.basis, &ds, &l.seen); err != nil {
			return l, err
		}
		return l, json.Unmarshal(ds, &l.deductions)
	})
	if err != nil || len(lines) == 0 {
		return 0, "", err
	}
	var ids, bens, refs, debts []string
	seen := map[string]bool{}
	for _, l := range lines {
		ids = append(ids, l.id)
		if !seen[l.ben] {
			seen[l.ben] = true
			bens = append(bens, l.ben)
		}
		if l.ref != "" {
			refs = append(refs, l.ref)
		}
		for _, d := range l.deductions {
			debts = append(debts, d.OverpaymentID)
		}
	}
	// What is paid, leaving out what an earlier attempt at this chunk
	// recorded.
	type key struct{ ben, period string }
	paid := map[key]decimal.Decimal{}
	err = queryEach(ctx, tx, `SELECT beneficiary_id, period, sum(gross) FROM period_payments
		WHERE beneficiary_id = ANY($1::TEXT[]) AND scheme = 'ada' AND (batch_id IS DISTINCT FROM $2::UUID OR source_id <> ALL($3::TEXT[]))
		GROUP BY beneficiary_id, period`, []any{bens, batch.String(), ids}, func(r pgx.Rows) error {
		var k key
		var sum decimal.Decimal
		err := r.Scan(&k.ben, &k.period, &sum)
		paid[k] = sum
		return err
	})
	if err != nil {
		return 0, "", err
	}
	grantsPaid := map[string]bool{}
	if len(refs) > 0 {
		err = queryEach(ctx, tx, `SELECT ref FROM period_payments WHERE beneficiary_id = ANY($1::TEXT[]) AND scheme <> 'ada'
			AND ref = ANY($2::TEXT[]) AND (batch_id IS DISTINCT FROM $3::UUID OR source_id <> ALL($4::TEXT[]))`, []any{bens, refs, batch.String(), ids},
			func(r pgx.Rows) error {
				var ref string
				err := r.Scan(&ref)
				grantsPaid[ref] = true
				return err
			})
		if err != nil {
			return 0, "", err
		}
	}
	remaining := map[string]decimal.Decimal{}
	if len(debts) > 0 {
		err = queryEach(ctx, tx, `SELECT o.overpayment_id, o.amount - COALESCE(sum(r.amount), 0) FROM overpayments o
			LEFT JOIN recoveries r ON r.overpayment_id = o.overpayment_id AND (r.batch_id <> $2 OR r.line_id <> ALL($3::TEXT[]))
			WHERE o.overpayment_id = ANY($1::TEXT[]) GROUP BY o.overpayment_id, o.amount`, []any{debts, batch.String(), ids},
			func(r pgx.Rows) error {
				var id string
				var left decimal.Decimal
				err := r.Scan(&id, &left)
				remaining[id] = left
				return err
			})
		if err != nil {
			return 0, "", err
		}
	}

	var pp struct{ bens, schemes, periods, ids, refs, gross, dues []string }
	var ppSeen []int64
	var rec struct{ debts, ids, bens, amounts []string }
	for _, l := range lines {
		if l.scheme == string(payments.SchemeADA) {
			if now := paid[key{l.ben, l.period}]; !now.Equal(l.basis) {
				return 0, "", errs.E(errs.Conflict, "line %s (ADA %s of %s) was computed on %s paid for the period, and %s is paid now: "+
					"run the period again before approving", l.id, l.period, l.ben, l.basis.StringFixed(2), now.StringFixed(2))
			}
		} else if grantsPaid[l.ref] {
			return 0, "", errs.E(errs.Conflict, "line %s pays %s %s of %s, which another approved batch pays", l.id, l.scheme, l.ref, l.ben)
		}
		for _, d := range l.deductions {
			left, ok := remaining[d.OverpaymentID]
			if !ok || left.LessThan(d.Amount) {
				return 0, "", errs.E(errs.Conflict, "line %s deducts %s from overpayment %s of %s, of which %s remains: "+
					"run the period again before approving", l.id, d.Amount.StringFixed(2), d.OverpaymentID, l.ben, left.StringFixed(2))
			}
			remaining[d.OverpaymentID] = left.Sub(d.Amount)
			rec.debts = append(rec.debts, d.OverpaymentID)
			rec.ids = append(rec.ids, l.id)
			rec.bens = append(rec.bens, l.ben)
			rec.amounts = append(rec.amounts, d.Amount.StringFixed(2))
		}
		pp.bens = append(pp.bens, l.ben)
		pp.schemes = append(pp.schemes, l.scheme)
		pp.periods = append(pp.periods, l.period)
		pp.ids = append(pp.ids, l.id)
		pp.refs = append(pp.refs, l.ref)
		pp.gross = append(pp.gross, l.gross.StringFixed(2))
		// An ADA line records what it was computed from and what its period
		// then came to: what it was paid before (basis) and the line.
		due, seen := "", int64(-1)
		if l.scheme == string(payments.SchemeADA) && l.seen != nil {
			due, seen = l.basis.Add(l.gross).StringFixed(2), *l.seen
		}
		pp.dues = append(pp.dues, due)
		ppSeen = append(ppSeen, seen)
	}
	for _, st := range []statement{
		{what: "paid periods", n: len(pp.ids), sql: `INSERT INTO period_payments
			(beneficiary_id, scheme, period, source_id, batch_id, ref, gross, recorded_at, due, facts_seen)
			SELECT u.b, u.s, u.p, u.id, $7, u.r, u.g::DECIMAL(19,2), $8, NULLIF(u.du, '')::DECIMAL(19,2), NULLIF(u.fs, -1)
			FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $9::TEXT[], $10::BIGINT[])
				AS u (b, s, p, id, r, g, du, fs)
			ON CONFLICT DO NOTHING`,
			args: []any{pp.bens, pp.schemes, pp.periods, pp.ids, pp.refs, pp.gross, batch.String(), now, pp.dues, ppSeen}},
		{what: "recoveries", n: len(rec.ids), sql: `INSERT INTO recoveries (overpayment_id, line_id, beneficiary_id, batch_id, amount, recorded_at)
			SELECT u.o, u.l, u.b, $5, u.a::DECIMAL(19,2), $6
			FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[]) AS u (o, l, b, a)
			ON CONFLICT DO NOTHING`,
			args: []any{rec.debts, rec.ids, rec.bens, rec.amounts, batch.String(), now}},
	} {
		if err := execStatement(ctx, tx, st); err != nil {
			return 0, "", err
		}
	}
	return len(lines), lines[len(lines)-1].id, nil
}

// unapprove takes back what an approval of the batch recorded, a chunk at
// a time, and makes the batch a draft again, or replaced when a newer draft
// of its period exists.
func (s *RunStore) unapprove(ctx context.Context, id uuid.UUID) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	// First take the batch out of 'approving', so that no approval still
	// under way records a chunk after the deletes below. Only a batch this
	// call (or an interrupted one before it) moved out of 'approving' has
	// its records taken back: an approval that another call finished
	// meanwhile is left whole.
	var status string
	err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE batches SET status = 'unapproving' WHERE id = $1 AND status = 'approving'`, id); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT status FROM batches WHERE id = $1`, id).Scan(&status)
	})
	if err != nil {
		return err
	}
	if payments.BatchStatus(status) != payments.BatchUnapproving {
		return nil
	}
	if err := s.forgetPaid(ctx, id); err != nil {
		return err
	}
	return db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		// The overpayments the approval established, unless the ledger
		// has them already or a deduction recovered them.
		const unbooked = `SELECT o.overpayment_id FROM overpayments o WHERE o.batch_id = $1
			AND NOT EXISTS (SELECT 1 FROM overpayment_bookings k WHERE k.overpayment_id = o.overpayment_id)
			AND NOT EXISTS (SELECT 1 FROM recoveries r WHERE r.overpayment_id = o.overpayment_id)`
		if _, err := tx.Exec(ctx, `DELETE FROM period_payments WHERE scheme = 'ada' AND batch_id IS NULL
			AND source_id IN (`+unbooked+`)`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM overpayments WHERE overpayment_id IN (`+unbooked+`)`, id); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE batches b SET status = CASE WHEN EXISTS (SELECT 1 FROM batches d
			WHERE d.kind = b.kind AND d.period = b.period AND d.status = 'draft') THEN 'replaced' ELSE 'draft' END,
			approved_at = NULL, approvals_needed = 0
			WHERE b.id = $1 AND b.status = 'unapproving'`, id)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM batch_approvals WHERE batch_id = $1`, id)
		return err
	})
}

// forgetPaid takes back what the approval of a batch recorded as paid and
// recovered, a chunk at a time.
func (s *RunStore) forgetPaid(ctx context.Context, id uuid.UUID) error {
	for _, sql := range []string{
		`DELETE FROM period_payments WHERE (beneficiary_id, scheme, period, source_id) IN
			(SELECT beneficiary_id, scheme, period, source_id FROM period_payments WHERE batch_id = $1 LIMIT $2)`,
		`DELETE FROM recoveries WHERE (overpayment_id, line_id) IN
			(SELECT overpayment_id, line_id FROM recoveries WHERE batch_id = $1 LIMIT $2)`,
	} {
		if err := s.deleteChunks(ctx, sql, id); err != nil {
			return err
		}
	}
	return nil
}

// deleteChunks runs sql, a DELETE of at most $2 rows of batch $1, until it
// deletes fewer.
func (s *RunStore) deleteChunks(ctx context.Context, sql string, batch uuid.UUID) error {
	for {
		var n int64
		err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, sql, batch, s.chunk)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return err
		}
		if n < int64(s.chunk) {
			return nil
		}
	}
}

// collect removes the batches no one needs: drafts replaced by a newer one,
// and batches whose run stopped before finishing them. It is safe to run
// at any time, by several processes; what fails is left for the next time.
func (s *RunStore) collect(ctx context.Context) {
	rows, err := s.pool.Query(ctx, `SELECT b.id FROM batches b JOIN runs r ON r.id = b.run_id
		WHERE b.status = 'replaced' OR (b.status = 'building' AND r.status <> 'running') LIMIT 100`)
	if err != nil {
		return
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return
	}
	for _, id := range ids {
		if s.removeBatch(ctx, id) != nil {
			return
		}
	}
}

// removeBatch deletes a replaced or abandoned batch, its lines first.
func (s *RunStore) removeBatch(ctx context.Context, id uuid.UUID) error {
	var removable bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM batches b WHERE b.id = $1 AND (b.status = 'replaced'
		OR (b.status = 'building' AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = b.run_id AND r.status = 'running'))))`, id).Scan(&removable)
	if err != nil || !removable {
		return err
	}
	err = s.deleteChunks(ctx, `DELETE FROM batch_lines WHERE batch_id = $1 AND id IN
		(SELECT id FROM batch_lines WHERE batch_id = $1 ORDER BY id LIMIT $2)`, id)
	if err != nil {
		return err
	}
	err = s.deleteChunks(ctx, `DELETE FROM batch_overpayments WHERE batch_id = $1 AND overpayment_id IN
		(SELECT overpayment_id FROM batch_overpayments WHERE batch_id = $1 ORDER BY overpayment_id LIMIT $2)`, id)
	if err != nil {
		return err
	}
	return db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM batches b WHERE b.id = $1 AND (b.status = 'replaced'
			OR (b.status = 'building' AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = b.run_id AND r.status = 'running')))`, id)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM batch_totals WHERE batch_id = $1`, id)
		return err
	})
}

package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sepa"
)

// exceptionSpace derives an exception's id from the line it rejects.
var exceptionSpace = uuid.MustParse("0c3d6a2e-41f7-4b8e-9a55-d2b7e1c09f44")

// accepted reports whether a payment at st is accepted by the bank: it
// stays in transit until the statement books it.
func accepted(st sepa.Status) bool { return st.Accepted() }

// SentFiles lists the files sent and not yet answered for every payment,
// in the order they were sent, at most limit of them.
func (s *ApprovalStore) SentFiles(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT msg_id FROM payment_files WHERE status = 'sent' ORDER BY sent_at, msg_id LIMIT $1`, int64(limit))
	if err != nil {
		return nil, fmt.Errorf("list the files sent: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list the files sent: %w", err)
	}
	return ids, nil
}

// ReportApplied reports whether a status report of these bytes has been
// applied.
func (s *ApprovalStore) ReportApplied(ctx context.Context, content []byte) (bool, error) {
	sum := sha256.Sum256(content)
	var seen bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM status_reports WHERE sha256 = $1 AND status = 'applied')`,
		hex.EncodeToString(sum[:])).Scan(&seen); err != nil {
		return false, fmt.Errorf("read the status reports: %w", err)
	}
	return seen, nil
}

// PendingReports lists the reports whose rejections are not all posted
// yet ('posting'), oldest first, at most limit of them.
func (s *ApprovalStore) PendingReports(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT msg_id FROM status_reports WHERE status = 'posting' ORDER BY received_at LIMIT $1`, int64(limit))
	if err != nil {
		return nil, fmt.Errorf("list the reports being applied: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list the reports being applied: %w", err)
	}
	return ids, nil
}

// RecordReport records one pain.002 status report against the payments of
// the file it answers, 'posting' until its rejections are posted
// (workflow.Batches.ApplyReport). Statuses only move forward
// (sepa.Advance). A newly rejected payment becomes a payment exception;
// when every payment of a file has a final answer the file is accepted or
// partly rejected, and so is its batch once all its files are. A report
// recorded before (same MsgId or same bytes) changes nothing.
func (s *ApprovalStore) RecordReport(ctx context.Context, content []byte, by payments.Actor) (payments.ReportResult, error) {
	var res payments.ReportResult
	if by.Name != payments.System.Name {
		if err := by.Allow("apply a status report", payments.RoleController, payments.RoleAdmin); err != nil {
			return res, err
		}
	}
	if len(content) > MaxReportBytes {
		return res, errs.Field("report", "is larger than %d bytes", MaxReportBytes)
	}
	rep, err := sepa.ReadStatusReport(bytes.NewReader(content))
	if err != nil {
		return res, errs.Field("report", "%v", err)
	}
	res.MsgID, res.OriginalMsgID = rep.MsgID, rep.OriginalMsgID
	sum := sha256.Sum256(content)
	hash := hex.EncodeToString(sum[:])
	err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		res = payments.ReportResult{MsgID: rep.MsgID, OriginalMsgID: rep.OriginalMsgID}
		var status string
		err := tx.QueryRow(ctx, `SELECT status FROM status_reports WHERE msg_id = $1 OR sha256 = $2 LIMIT 1`, rep.MsgID, hash).Scan(&status)
		if err == nil {
			res.Replayed = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		f, err := readFile(ctx, tx, rep.OriginalMsgID)
		if errs.Is(err, errs.NotFound) {
			return errs.Field("report", "answers file %s, which the service never sent", rep.OriginalMsgID)
		}
		if err != nil {
			return err
		}
		type line struct {
			id, pmtInf, ben, status string
			amount                  decimal.Decimal
		}
		rows, err := tx.Query(ctx, `SELECT line_id, pmt_inf_id, beneficiary_id, status, amount FROM line_payments WHERE msg_id = $1
			ORDER BY line_id FOR UPDATE`, f.MsgID)
		if err != nil {
			return err
		}
		lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (line, error) {
			var l line
			err := r.Scan(&l.id, &l.pmtInf, &l.ben, &l.status, &l.amount)
			return l, err
		})
		if err != nil {
			return err
		}
		known := make(map[string]bool, len(lines))
		for _, l := range lines {
			known[l.id] = true
		}
		var unknown []string
		for _, t := range rep.Transactions {
			if !known[t.OriginalEndToEndID] {
				unknown = append(unknown, t.OriginalEndToEndID)
			}
		}
		if len(unknown) > 0 {
			return errs.Field("report", "names %d payments that are not in file %s (first: %s)", len(unknown), f.MsgID, unknown[0])
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `INSERT INTO status_reports (msg_id, original_msg_id, sha256, content, group_status, status, received_at)
			VALUES ($1, $2, $3, $4, $5, 'posting', $6)`, rep.MsgID, rep.OriginalMsgID, hash, content, string(rep.GroupStatus), now); err != nil {
			return err
		}
		var accIDs, accStatus, rejIDs, rejReasons []string
		final := 0
		for _, l := range lines {
			cur := sepa.Status(l.status)
			if cur == "QUEUED" {
				cur = ""
			}
			st, reason := rep.StatusOf(l.pmtInf, l.id)
			next, changed := sepa.Advance(cur, st)
			if next.Rejected() || accepted(next) {
				final++
			}
			if next == sepa.StatusCANC && reason == "" {
				reason = string(sepa.StatusCANC) // cancelled: the code is the reason
			}
			switch {
			case !changed:
				res.Unchanged++
			case next.Rejected():
				res.Rejected++
				rejIDs, rejReasons = append(rejIDs, l.id), append(rejReasons, reason)
			default:
				if accepted(next) && !accepted(cur) {
					res.Accepted++
				}
				accIDs, accStatus = append(accIDs, l.id), append(accStatus, string(next))
			}
		}
		if len(accIDs) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE line_payments p SET status = u.s, updated_at = $3
				FROM unnest($1::TEXT[], $2::TEXT[]) AS u (id, s) WHERE p.line_id = u.id`, accIDs, accStatus, now); err != nil {
				return err
			}
		}
		if len(rejIDs) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE line_payments p SET status = 'RJCT', reason = u.r, report_id = $3, updated_at = $4
				FROM unnest($1::TEXT[], $2::TEXT[]) AS u (id, r) WHERE p.line_id = u.id`, rejIDs, rejReasons, rep.MsgID, now); err != nil {
				return err
			}
			excIDs := make([]string, len(rejIDs))
			for i, id := range rejIDs {
				excIDs[i] = uuid.NewSHA1(exceptionSpace, []byte(id)).String()
			}
			if _, err := tx.Exec(ctx, `INSERT INTO payment_exceptions (id, line_id, batch_id, msg_id, beneficiary_id, scheme, period, amount,
				reason_code, status, payee_name, payee_iban, payee_bic, created_at, updated_at)
				SELECT u.e::UUID, l.id, l.batch_id, $4, l.beneficiary_id, l.scheme, l.period, l.net, u.r, 'open',
					l.payee_name, l.payee_iban, l.payee_bic, $5, $5
				FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[]) AS u (id, r, e) JOIN batch_lines l ON l.id = u.id
				ON CONFLICT (line_id) DO NOTHING`, rejIDs, rejReasons, excIDs, f.MsgID, now); err != nil {
				return fmt.Errorf("record the exceptions: %w", err)
			}
		}
		if final == len(lines) && (f.Status == payments.FileSent || f.Status == payments.FileQueued || f.Status == payments.FileAccepted) {
			if err := s.closeFile(ctx, tx, f, now); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE status_reports SET accepted = $2, rejected = $3, unchanged = $4 WHERE msg_id = $1`,
			rep.MsgID, int64(res.Accepted), int64(res.Rejected), int64(res.Unchanged)); err != nil {
			return err
		}
		return audit(ctx, tx, now, by, "status_report", "file", f.MsgID, "", string(rep.GroupStatus), "",
			map[string]any{"report": rep.MsgID, "accepted": res.Accepted, "rejected": res.Rejected, "unchanged": res.Unchanged})
	})
	if err != nil {
		return res, errs.Wrap(err, "apply status report %s", rep.MsgID)
	}
	return res, nil
}

// closeFile makes a file whose every payment has a final answer accepted
// or partly rejected, and its batch settled or partly rejected once every
// file of it is closed.
func (s *ApprovalStore) closeFile(ctx context.Context, tx pgx.Tx, f payments.PaymentFile, now time.Time) error {
	var rejected int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM line_payments WHERE msg_id = $1 AND status = 'RJCT'`, f.MsgID).Scan(&rejected); err != nil {
		return err
	}
	to := payments.FileAccepted
	if rejected > 0 {
		to = payments.FilePartlyRejected
	}
	if to == f.Status {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE payment_files SET status = $2 WHERE msg_id = $1`, f.MsgID, string(to)); err != nil {
		return err
	}
	if err := audit(ctx, tx, now, payments.System, "answered", "file", f.MsgID, string(f.Status), string(to), "",
		map[string]any{"rejected": rejected}); err != nil {
		return err
	}
	var open, partly int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status IN ('building', 'queued', 'sent')),
		count(*) FILTER (WHERE status = 'partly_rejected') FROM payment_files WHERE batch_id = $1`, f.BatchID).Scan(&open, &partly); err != nil {
		return err
	}
	if open > 0 {
		return nil
	}
	batchTo := payments.BatchSettled
	if partly > 0 {
		batchTo = payments.BatchPartlyRejected
	}
	var from string
	err := tx.QueryRow(ctx, `UPDATE batches SET status = $2, closed_at = $3 WHERE id = $1 AND status IN ('released', 'settled')
		RETURNING status`, f.BatchID, string(batchTo), now).Scan(&from)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return audit(ctx, tx, now, payments.System, "answered", "batch", f.BatchID.String(), string(payments.BatchReleased), string(batchTo), "", nil)
}

// Rejections reads how many payments status report rejected, and when it
// was received.
func (s *ApprovalStore) Rejections(ctx context.Context, report string) (n int64, received time.Time, err error) {
	if err := s.pool.QueryRow(ctx, `SELECT rejected, received_at FROM status_reports WHERE msg_id = $1`, report).Scan(&n, &received); err != nil {
		return 0, received, fmt.Errorf("read status report %s: %w", report, err)
	}
	return n, received, nil
}

// RejectedPayments reads the payments status report rejected, page by
// page.
func (s *ApprovalStore) RejectedPayments(ctx context.Context, report string) payments.Rows[payments.FilePayment] {
	return s.filePayments(ctx, `SELECT line_id, beneficiary_id, amount, amount FROM line_payments WHERE report_id = $1
		AND line_id > $2 ORDER BY line_id LIMIT $3`, report)
}

// MarkReportApplied marks a status report whose rejections are posted
// applied.
func (s *ApprovalStore) MarkReportApplied(ctx context.Context, report string) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE status_reports SET status = 'applied', applied_at = $2 WHERE msg_id = $1 AND status = 'posting'`,
			report, s.now())
		return err
	})
}

package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
)

// SendLeaseName is the name of the lease the bank sender holds while it
// sends the queued files (ledgerd's bank pass): a release is cancelled
// under it too, so that no file is withdrawn while it is on its way.
const SendLeaseName = "bank:send"

// UnderCancelLeases runs cancel, the cancellation of a 'releasing' batch
// for what it has not sent, holding the batch's release lease, so that it
// never runs beside a release finishing the batch, and the bank sender's,
// so that no queued file is withdrawn while it is being sent. A lease held
// by another is a conflict naming its holder.
func (s *ApprovalStore) UnderCancelLeases(ctx context.Context, id uuid.UUID, cancel func(context.Context) error) error {
	leases := s.runs.leaseStore()
	ok, held, err := leases.Run(ctx, ReleaseLeaseName(id), s.runs.lease, func(ctx context.Context) error {
		ok, held, err := leases.Run(ctx, SendLeaseName, s.runs.lease, cancel)
		if err == nil && !ok {
			return errs.E(errs.Conflict, "the bank sender %s is sending payment files (its lease is renewed until %s): cancel again once it is done",
				held.Holder, held.ExpiresAt.UTC().Format(time.RFC3339))
		}
		return err
	})
	if err == nil && !ok {
		return errs.E(errs.Conflict, "batch %s is being released by %s (its lease is renewed until %s): wait for it to finish, then cancel",
			id, held.Holder, held.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return err
}

// Withdraw marks the files of a 'releasing' batch that the bank has not got
// 'withdrawn' and the batch 'cancelling', in one transaction; the caller
// then undoes what they did. A batch already 'cancelling' is left as it is.
func (s *ApprovalStore) Withdraw(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		b, err := lockBatch(ctx, tx, id)
		if err != nil {
			return err
		}
		switch b.status {
		case payments.BatchCancelling:
			return nil
		case payments.BatchReleasing:
		default:
			return errs.E(errs.Conflict, "batch %s is %s: it is no longer releasing", id, b.status)
		}
		rows, err := tx.Query(ctx, `SELECT msg_id, status FROM payment_files WHERE batch_id = $1 AND status IN ('building', 'queued')
			ORDER BY part FOR UPDATE`, id)
		if err != nil {
			return err
		}
		type file struct{ msgID, from string }
		files, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (file, error) {
			var f file
			err := r.Scan(&f.msgID, &f.from)
			return f, err
		})
		if err != nil {
			return fmt.Errorf("withdraw the files not sent: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE payment_files SET status = 'withdrawn', next_attempt_at = NULL
			WHERE batch_id = $1 AND status IN ('building', 'queued')`, id); err != nil {
			return fmt.Errorf("withdraw the files not sent: %w", err)
		}
		var sent int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM payment_files WHERE batch_id = $1 AND status <> 'withdrawn'`, id).Scan(&sent); err != nil {
			return err
		}
		now := s.now()
		ids := make([]string, 0, len(files))
		for _, f := range files {
			ids = append(ids, f.msgID)
			if err := audit(ctx, tx, now, by, "withdraw", "file", f.msgID, f.from, string(payments.FileWithdrawn), reason,
				map[string]any{"batch_id": id.String()}); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE batches SET status = 'cancelling', reason = $2 WHERE id = $1`, id, reason); err != nil {
			return err
		}
		return audit(ctx, tx, now, by, "cancel", "batch", id.String(), string(payments.BatchReleasing), string(payments.BatchCancelling), reason,
			map[string]any{"withdrawn": ids, "sent": sent})
	})
}

// WithdrawnFiles lists a batch's withdrawn files and counts the others:
// those the bank got.
func (s *ApprovalStore) WithdrawnFiles(ctx context.Context, id uuid.UUID) ([]payments.PaymentFile, int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+fileCols+` FROM payment_files WHERE batch_id = $1 AND status = 'withdrawn' ORDER BY part`, id)
	if err != nil {
		return nil, 0, err
	}
	files, err := pgx.CollectRows(rows, scanFile)
	if err != nil {
		return nil, 0, err
	}
	var sent int64
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM payment_files WHERE batch_id = $1 AND status <> 'withdrawn'`, id).Scan(&sent)
	return files, sent, err
}

// FreeWithdrawn frees the payments of withdrawn files: their line_payments
// rows are removed, so that nothing takes them for sent. When keep is set
// (the batch is released with the files it sent), each becomes an open
// payment exception first, for a reissue batch to pay it.
func (s *ApprovalStore) FreeWithdrawn(ctx context.Context, b payments.Batch, f payments.PaymentFile, keep bool, reason string) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		now := s.now()
		if keep {
			if _, err := tx.Exec(ctx, `INSERT INTO payment_exceptions (id, line_id, batch_id, msg_id, beneficiary_id, scheme, period, amount,
				reason_code, status, payee_name, payee_iban, payee_bic, note, created_at, updated_at)
				SELECT gen_random_uuid(), l.id, l.batch_id, p.msg_id, l.beneficiary_id, l.scheme, l.period, l.net, 'CUST', 'open',
					l.payee_name, l.payee_iban, l.payee_bic, $3, $4, $4
				FROM line_payments p JOIN batch_lines l ON l.id = p.line_id WHERE p.msg_id = $1 AND p.batch_id = $2
				ON CONFLICT (line_id) DO NOTHING`, f.MsgID, b.ID,
				fmt.Sprintf("withdrawn with payment file %s, never sent, when the release was cancelled: %s", f.MsgID, reason), now); err != nil {
				return fmt.Errorf("keep the payments of file %s as exceptions: %w", f.MsgID, err)
			}
		}
		_, err := tx.Exec(ctx, `DELETE FROM line_payments WHERE msg_id = $1 AND batch_id = $2`, f.MsgID, b.ID)
		return err
	})
}

// KeepSent ends the cancellation of a release some of whose files the bank
// got: the batch is 'released' with them.
func (s *ApprovalStore) KeepSent(ctx context.Context, id uuid.UUID, withdrawn []payments.PaymentFile, sent int64, reason string) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		now := s.now()
		tag, err := tx.Exec(ctx, `UPDATE batches SET status = 'released', reason = $2 WHERE id = $1 AND status = 'cancelling'`, id, reason)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		ids := make([]string, 0, len(withdrawn))
		for _, f := range withdrawn {
			ids = append(ids, f.MsgID)
		}
		return audit(ctx, tx, now, payments.System, "released", "batch", id.String(), string(payments.BatchCancelling),
			string(payments.BatchReleased), reason, map[string]any{"files_sent": sent, "files_withdrawn": ids,
				"note": "released with the files the bank got; the payments withdrawn are payment exceptions, paid by a reissue batch"})
	})
}

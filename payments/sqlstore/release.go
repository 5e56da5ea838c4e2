package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sepa"
)

// StartRelease makes an approved batch 'releasing', released by by: the
// requested execution date is the next TARGET2 business day after the
// release, and the lines paying an account the bank rejected and staff
// have not corrected yet are held (holdLines). A batch already 'releasing'
// (a release interrupted) is left to be finished.
func (s *ApprovalStore) StartRelease(ctx context.Context, id uuid.UUID, by payments.Actor) error {
	var day ledger.Date
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		b, err := lockBatch(ctx, tx, id)
		if err != nil {
			return err
		}
		switch b.status {
		case payments.BatchReleasing:
			return nil // finish an interrupted release
		case payments.BatchApproved:
		default:
			return errs.E(errs.Conflict, "batch %s is %s: only an approved batch can be released", id, b.status)
		}
		now := s.now()
		day = sepa.AddBusinessDays(payments.LegalDay(now), 1)
		if _, err := tx.Exec(ctx, `UPDATE batches SET status = 'releasing', released_by = $2, released_at = $3, execution_date = $4
			WHERE id = $1`, id, by.Name, now, day); err != nil {
			return err
		}
		held, err := holdLines(ctx, tx, id, now)
		if err != nil {
			return err
		}
		return audit(ctx, tx, now, by, "release", "batch", id.String(), string(b.status), string(payments.BatchReleasing), "",
			map[string]any{"execution_date": day.String(), "held": held})
	})
	return errs.Wrap(err, "release batch %s", id)
}

// UnderReleaseLease runs finish, the writing, posting and queueing of the
// files of batch id, under the lease of its release (ReleaseLeaseName),
// renewed while it works: while another process holds it, the release is
// refused as a conflict naming that process.
func (s *ApprovalStore) UnderReleaseLease(ctx context.Context, id uuid.UUID, finish func(context.Context) error) error {
	ok, held, err := s.runs.leaseStore().Run(ctx, ReleaseLeaseName(id), s.runs.lease, finish)
	if err == nil && !ok {
		return errs.E(errs.Conflict, "batch %s is being released by %s (its lease is renewed until %s): wait for it to finish",
			id, held.Holder, held.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return err
}

// ReleaseLeaseName is the name of the lease held while the files of batch
// id are written, posted and queued.
func ReleaseLeaseName(id uuid.UUID) string { return "release:" + id.String() }

// holdCodes are the reasons of a rejection after which a payee's account is
// not paid again until staff correct it: the account is wrong or closed,
// or the beneficiary died.
var holdCodes = sepa.CodesFor(sepa.ActionFixPayee, sepa.ActionStopPaying)

// holdLines keeps out of a batch's files the lines paying an account the
// bank rejected for a beneficiary, whose exception is still open: each
// becomes a payment exception of its own, its amount stays in the payee's
// payable account, and it is paid by a reissue batch once the payee is
// corrected. It returns how many lines it held.
func holdLines(ctx context.Context, tx pgx.Tx, batch uuid.UUID, now time.Time) (int64, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO payment_exceptions (id, line_id, batch_id, msg_id, beneficiary_id, scheme, period, amount,
		reason_code, status, payee_name, payee_iban, payee_bic, note, created_at, updated_at)
		SELECT gen_random_uuid(), l.id, l.batch_id, '', l.beneficiary_id, l.scheme, l.period, l.net, x.reason_code, 'open',
			l.payee_name, l.payee_iban, l.payee_bic, 'held at release: the bank rejected this account for line ' || x.line_id, $2, $2
		FROM batch_lines l JOIN (SELECT DISTINCT ON (beneficiary_id, payee_iban) beneficiary_id, payee_iban, reason_code, line_id
			FROM payment_exceptions WHERE status = 'open' AND reason_code = ANY($3::TEXT[])
			ORDER BY beneficiary_id, payee_iban, created_at) x ON x.beneficiary_id = l.beneficiary_id AND x.payee_iban = l.payee_iban
		WHERE l.batch_id = $1 AND l.net > 0
		ON CONFLICT (line_id) DO NOTHING`, batch, now, holdCodes)
	if err != nil {
		return 0, fmt.Errorf("hold the lines paying rejected accounts: %w", err)
	}
	return tag.RowsAffected(), nil
}

// MsgID returns the MsgId of part n of a batch's payment files:
// OFII-<yyyymmdd>-<12 hex digits of the batch>-<nnn>, 30 characters.
func MsgID(batch uuid.UUID, day ledger.Date, part int) string {
	return fmt.Sprintf("OFII-%s-%s-%03d", strings.ReplaceAll(day.String(), "-", ""),
		strings.ReplaceAll(batch.String(), "-", "")[:12], part)
}

// QueueFile queues a written and posted payment file for the bank.
func (s *ApprovalStore) QueueFile(ctx context.Context, b payments.Batch, f payments.PaymentFile) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE payment_files SET status = 'queued' WHERE msg_id = $1 AND status = 'building'`, f.MsgID)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return audit(ctx, tx, s.now(), payments.System, "queue", "file", f.MsgID, string(payments.FileBuilding),
			string(payments.FileQueued), "", map[string]any{"batch_id": b.ID.String(), "transactions": f.Transactions,
				"total": f.Total.StringFixed(2), "sha256": f.SHA256})
	})
}

// EndRelease makes a 'releasing' batch whose files are all written, posted
// and queued 'released', or 'settled' when it had nothing to pay.
func (s *ApprovalStore) EndRelease(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var files int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM payment_files WHERE batch_id = $1`, id).Scan(&files); err != nil {
			return err
		}
		to := payments.BatchReleased
		closed := any(nil)
		if files == 0 {
			to, closed = payments.BatchSettled, s.now() // nothing to pay: every line was withheld
		}
		tag, err := tx.Exec(ctx, `UPDATE batches SET status = $2, closed_at = $3 WHERE id = $1 AND status = 'releasing'`, id, string(to), closed)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return audit(ctx, tx, s.now(), payments.System, "released", "batch", id.String(), string(payments.BatchReleasing),
			string(to), "", map[string]any{"files": files})
	})
}

// unpayableChunk is how many lines HoldUnpayable checks per transaction.
const unpayableChunk = 10000

// HoldUnpayable checks every line of a releasing batch not yet in a file
// as its payment file would carry it (sepa.CheckPayment), and holds those
// the bank could not take: each becomes a payment exception (RR03 for a
// name, AC01 for an account, RC01 for a BIC, MS03 otherwise) with what is
// wrong in words, its amount stays in the payee's payable account, and the
// rest of the batch is released. Staff correct the payee and reissue it.
func (s *ApprovalStore) HoldUnpayable(ctx context.Context, b payments.Batch) error {
	cursor := ""
	for {
		var n int
		var next string // set by the transaction; cursor moves once it commits
		err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT `+payCols+` FROM batch_lines l WHERE batch_id = $1 AND net > 0 AND id > $2
				AND NOT EXISTS (SELECT 1 FROM payment_exceptions x WHERE x.line_id = l.id)
				AND NOT EXISTS (SELECT 1 FROM line_payments p WHERE p.line_id = l.id) ORDER BY id LIMIT $3`, b.ID, cursor, unpayableChunk)
			if err != nil {
				return err
			}
			lines, err := pgx.CollectRows(rows, scanPayLine)
			if err != nil {
				return err
			}
			n = len(lines)
			var ids, codes, notes []string
			for _, l := range lines {
				err := sepa.CheckPayment(sepa.Payment{EndToEndID: l.ID, Amount: l.Net,
					Creditor: sepa.Party{Name: l.Payee.Name, IBAN: l.Payee.IBAN, BIC: l.Payee.BIC}, Remittance: remittance(l)}, s.cfg.Format)
				var e *errs.Error
				if !errors.As(err, &e) {
					continue
				}
				code := "MS03"
				switch e.Field {
				case "creditor.name":
					code = "RR03"
				case "creditor.iban":
					code = "AC01"
				case "creditor.bic":
					code = "RC01"
				}
				ids, codes = append(ids, l.ID), append(codes, code)
				notes = append(notes, "held at release: the bank could not take this payment: "+mask.MaskIBANsIn(e.Error()))
			}
			if n > 0 {
				next = lines[n-1].ID
			}
			if len(ids) == 0 {
				return nil
			}
			now := s.now()
			_, err = tx.Exec(ctx, `INSERT INTO payment_exceptions (id, line_id, batch_id, msg_id, beneficiary_id, scheme, period, amount,
				reason_code, status, payee_name, payee_iban, payee_bic, note, created_at, updated_at)
				SELECT gen_random_uuid(), l.id, l.batch_id, '', l.beneficiary_id, l.scheme, l.period, l.net, u.code, 'open',
					l.payee_name, l.payee_iban, l.payee_bic, u.note, $5, $5
				FROM unnest($2::TEXT[], $3::TEXT[], $4::TEXT[]) AS u (id, code, note) JOIN batch_lines l ON l.id = u.id AND l.batch_id = $1
				ON CONFLICT (line_id) DO NOTHING`, b.ID, ids, codes, notes, now)
			if err != nil {
				return fmt.Errorf("hold the lines the bank could not take: %w", err)
			}
			return audit(ctx, tx, now, payments.System, "hold", "batch", b.ID.String(), string(b.Status), string(b.Status), "",
				map[string]any{"lines": ids, "reasons": codes})
		})
		if err != nil {
			return fmt.Errorf("check the lines before the files: %w", err)
		}
		if n < unpayableChunk {
			return nil
		}
		cursor = next
	}
}

// remittance is the text the payee reads on their statement:
// "ADA 2026-11 OFII-2026-000123".
func remittance(l payments.BatchLine) string {
	parts := []string{payments.SchemeLabel(l.Scheme), l.Period.String()}
	if l.Scheme != payments.SchemeADA && l.Ref != "" && l.Kind != payments.LineReissue {
		parts = append(parts, l.Ref)
	}
	parts = append(parts, l.BeneficiaryID)
	if l.Kind == payments.LineReissue {
		parts = append(parts, "REEMISSION")
	}
	return strings.Join(parts, " ")
}

// WriteFile returns part n of the batch's files, writing it when it does
// not exist yet; ok is false when the batch has no more lines to pay.
func (s *ApprovalStore) WriteFile(ctx context.Context, b payments.Batch, part int) (payments.PaymentFile, bool, error) {
	msgID := MsgID(b.ID, b.Workflow.ExecutionDate, part)
	var f payments.PaymentFile
	var ok bool
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		f, err = readFile(ctx, tx, msgID)
		if err == nil {
			ok = true
			return nil
		}
		if !errs.Is(err, errs.NotFound) {
			return err
		}
		cursor := ""
		if part > 1 {
			err := tx.QueryRow(ctx, `SELECT last_line FROM payment_files WHERE batch_id = $1 AND part = $2`, b.ID, int64(part-1)).Scan(&cursor)
			if err != nil {
				return fmt.Errorf("read file %d: %w", part-1, err)
			}
		}
		rows, err := tx.Query(ctx, `SELECT `+payCols+` FROM batch_lines l WHERE batch_id = $1 AND net > 0 AND id > $2
			AND NOT EXISTS (SELECT 1 FROM payment_exceptions x WHERE x.line_id = l.id) ORDER BY id LIMIT $3`,
			b.ID, cursor, s.cfg.MaxFileTransactions)
		if err != nil {
			return err
		}
		lines, err := pgx.CollectRows(rows, scanPayLine)
		if err != nil || len(lines) == 0 {
			ok = false
			return err
		}
		now := s.now()
		m := sepa.Message{
			Version: s.cfg.Format, MsgID: msgID, CreatedAt: now, InitiatingParty: s.cfg.InitiatingParty, PmtInfID: msgID + "-P1",
			ExecutionDate: b.Workflow.ExecutionDate, Debtor: s.cfg.Debtor, CategoryPurpose: s.cfg.CategoryPurpose, BatchBooking: true,
		}
		total := decimal.Zero
		var ids, bens, amounts []string
		for _, l := range lines {
			m.Payments = append(m.Payments, sepa.Payment{EndToEndID: l.ID, Amount: l.Net,
				Creditor: sepa.Party{Name: l.Payee.Name, IBAN: l.Payee.IBAN, BIC: l.Payee.BIC}, Remittance: remittance(l)})
			total = total.Add(l.Net)
			ids, bens, amounts = append(ids, l.ID), append(bens, l.BeneficiaryID), append(amounts, l.Net.StringFixed(2))
		}
		var buf bytes.Buffer
		if err := sepa.Write(&buf, m); err != nil {
			return errs.E(errs.Invalid, "batch %s cannot be paid as it is: %s", b.ID, mask.MaskIBANsIn(err.Error()))
		}
		sum := sha256.Sum256(buf.Bytes())
		f = payments.PaymentFile{MsgID: msgID, BatchID: b.ID, Part: part, Format: string(s.cfg.Format), PmtInfID: m.PmtInfID,
			ExecutionDate: m.ExecutionDate, Transactions: len(lines), Total: total, SHA256: hex.EncodeToString(sum[:]),
			Status: payments.FileBuilding, CreatedAt: now, Simulated: s.cfg.Simulated}
		_, err = tx.Exec(ctx, `INSERT INTO payment_files (msg_id, batch_id, part, format, pmt_inf_id, execution_date, transactions,
			ctrl_sum, first_line, last_line, content, sha256, status, created_at, simulated)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'building', $13, $14)`,
			f.MsgID, f.BatchID, int64(part), f.Format, f.PmtInfID, f.ExecutionDate, int64(f.Transactions), f.Total,
			ids[0], ids[len(ids)-1], buf.Bytes(), f.SHA256, now, f.Simulated)
		if err != nil {
			return fmt.Errorf("store file %s: %w", msgID, err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO line_payments (line_id, batch_id, msg_id, pmt_inf_id, beneficiary_id, amount, status, updated_at)
			SELECT u.id, $4, $5, $6, u.b, u.a::DECIMAL(19,2), 'QUEUED', $7 FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[]) AS u (id, b, a)`,
			ids, bens, amounts, b.ID, msgID, m.PmtInfID, now)
		if err != nil {
			return fmt.Errorf("record the payments of file %s: %w", msgID, err)
		}
		ok = true
		return nil
	})
	return f, ok, err
}

// FilePayments reads the payments of file msgID, page by page.
func (s *ApprovalStore) FilePayments(ctx context.Context, msgID string) payments.Rows[payments.FilePayment] {
	return s.filePayments(ctx, `SELECT line_id, beneficiary_id, amount, amount FROM line_payments WHERE msg_id = $1
		AND line_id > $2 ORDER BY line_id LIMIT $3`, msgID)
}

// filePayments reads the payments sql selects for key, page by page.
func (s *ApprovalStore) filePayments(ctx context.Context, sql, key string) payments.Rows[payments.FilePayment] {
	return func(yield func(payments.FilePayment) error) error {
		return s.eachLine(ctx, sql, []any{key}, func(id, ben string, amount, _ decimal.Decimal) error {
			return yield(payments.FilePayment{LineID: id, BeneficiaryID: ben, Amount: amount})
		})
	}
}

const fileCols = `msg_id, batch_id, part, format, pmt_inf_id, execution_date, transactions, ctrl_sum, sha256, status, created_at,
	sent_at, attempts, next_attempt_at, last_error, simulated`

func scanFile(r pgx.CollectableRow) (payments.PaymentFile, error) {
	var f payments.PaymentFile
	var part, n, attempts int64
	var status string
	var sent, next *time.Time
	err := r.Scan(&f.MsgID, &f.BatchID, &part, &f.Format, &f.PmtInfID, &f.ExecutionDate, &n, &f.Total, &f.SHA256, &status,
		&f.CreatedAt, &sent, &attempts, &next, &f.LastError, &f.Simulated)
	f.Part, f.Transactions, f.Attempts, f.Status = int(part), int(n), int(attempts), payments.FileStatus(status)
	if sent != nil {
		f.SentAt = *sent
	}
	if next != nil {
		f.NextAttemptAt = *next
	}
	return f, err
}

func readFile(ctx context.Context, q querier, msgID string) (payments.PaymentFile, error) {
	rows, err := q.Query(ctx, `SELECT `+fileCols+` FROM payment_files WHERE msg_id = $1`, msgID)
	if err != nil {
		return payments.PaymentFile{}, err
	}
	f, err := pgx.CollectExactlyOneRow(rows, scanFile)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, errs.E(errs.NotFound, "payment file %s does not exist", msgID)
	}
	return f, err
}

// Files lists a batch's payment files in order.
func (s *ApprovalStore) Files(ctx context.Context, batch uuid.UUID) ([]payments.PaymentFile, error) {
	if _, err := s.runs.Batch(ctx, batch); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+fileCols+` FROM payment_files WHERE batch_id = $1 ORDER BY part`, batch)
	if err != nil {
		return nil, fmt.Errorf("list the files of batch %s: %w", batch, err)
	}
	out, err := pgx.CollectRows(rows, scanFile)
	if err != nil {
		return nil, fmt.Errorf("list the files of batch %s: %w", batch, err)
	}
	if out == nil {
		out = []payments.PaymentFile{}
	}
	return out, nil
}

// FileContent returns a payment file and its bytes, as sent.
func (s *ApprovalStore) FileContent(ctx context.Context, msgID string) (payments.PaymentFile, []byte, error) {
	if len(msgID) > 35 {
		return payments.PaymentFile{}, nil, errs.Field("msg_id", "has at most 35 characters")
	}
	f, err := readFile(ctx, s.pool, msgID)
	if err != nil {
		return f, nil, errs.Wrap(err, "read file %s", msgID)
	}
	var content []byte
	if err := s.pool.QueryRow(ctx, `SELECT content FROM payment_files WHERE msg_id = $1`, msgID).Scan(&content); err != nil {
		return f, nil, fmt.Errorf("read file %s: %w", msgID, err)
	}
	return f, content, nil
}

// FileBeneficiaries returns the beneficiaries file msgID pays, each once,
// in the order of their ids.
func (s *ApprovalStore) FileBeneficiaries(ctx context.Context, msgID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT beneficiary_id FROM line_payments WHERE msg_id = $1 ORDER BY beneficiary_id`, msgID)
	if err != nil {
		return nil, fmt.Errorf("beneficiaries of file %s: %w", msgID, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("beneficiaries of file %s: %w", msgID, err)
	}
	return out, nil
}

// DueFiles lists the queued files whose next attempt is due at now, oldest
// first, at most limit of them.
func (s *ApprovalStore) DueFiles(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT msg_id FROM payment_files WHERE status = 'queued'
		AND (next_attempt_at IS NULL OR next_attempt_at <= $1) ORDER BY created_at, msg_id LIMIT $2`, now, int64(limit))
	if err != nil {
		return nil, fmt.Errorf("list the queued files: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list the queued files: %w", err)
	}
	return ids, nil
}

// MarkSent records that the bank has queued file f (duplicate: it had it
// already); simulated says it went to the bank simulator.
func (s *ApprovalStore) MarkSent(ctx context.Context, f payments.PaymentFile, duplicate, simulated bool) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		now := s.now()
		tag, err := tx.Exec(ctx, `UPDATE payment_files SET status = 'sent', sent_at = $2, attempts = attempts + 1, next_attempt_at = NULL,
			last_error = '', simulated = $3 WHERE msg_id = $1 AND status = 'queued'`, f.MsgID, now, simulated)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		details := map[string]any{"attempt": f.Attempts + 1, "duplicate": duplicate, "sha256": f.SHA256}
		if simulated {
			details["simulated"] = true
		}
		return audit(ctx, tx, now, payments.System, "send", "file", f.MsgID, string(payments.FileQueued), string(payments.FileSent), "", details)
	})
}

// MarkFailed records a failed attempt to send queued file f, with what
// went wrong (IBANs masked): tried again after retry when the bank could
// not be reached, or 'refused' for staff to look at when the bank refused
// the file (simulated: by the bank simulator).
func (s *ApprovalStore) MarkFailed(ctx context.Context, f payments.PaymentFile, cause error, retry time.Duration, refused, simulated bool) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		now := s.now()
		msg := mask.MaskIBANsIn(cause.Error())
		if !refused {
			_, err := tx.Exec(ctx, `UPDATE payment_files SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3
				WHERE msg_id = $1 AND status = 'queued'`, f.MsgID, now.Add(retry), msg)
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE payment_files SET status = 'refused', attempts = attempts + 1, next_attempt_at = NULL,
			last_error = $2, simulated = $3 WHERE msg_id = $1 AND status = 'queued'`, f.MsgID, msg, simulated)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return audit(ctx, tx, now, payments.System, "refused", "file", f.MsgID, string(payments.FileQueued), string(payments.FileRefused),
			msg, nil)
	})
}

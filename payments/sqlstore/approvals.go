package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	auditlog "github.com/ofii/allowances/internal/audit"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sepa"
)

// ApprovalConfig configures the approval workflow and the release of
// batches to the bank.
type ApprovalConfig struct {
	// SecondApprovalAbove is the gross total above which a batch needs a
	// second approver; zero means DefaultSecondApprovalAbove.
	SecondApprovalAbove decimal.Decimal
	// Debtor is the service's account at the bank, the debtor of every
	// payment file.
	Debtor sepa.Party
	// InitiatingParty names the service in the files; empty means
	// DefaultInitiatingParty.
	InitiatingParty string
	// Format is the pain.001 version the bank takes; empty means .001.09.
	Format sepa.Version
	// MaxFileTransactions splits a batch's payments into files of at most
	// this many; 0 means DefaultMaxFileTransactions.
	MaxFileTransactions int
	// CategoryPurpose is SSBE (the default) or GOVT.
	CategoryPurpose string
	// Simulated says that the bank is the embedded bank simulator of dev
	// mode, which pays nobody: the files written for it are marked
	// simulated.
	Simulated bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// The defaults of ApprovalConfig.
var (
	DefaultSecondApprovalAbove = decimal.RequireFromString("100000.00")
	DefaultMaxFileTransactions = 10000
	DefaultInitiatingParty     = "OFII"
)

// MaxReportBytes bounds a status report.
const MaxReportBytes = 64 << 20

// ApprovalStore keeps the approval workflow of the batches on the
// database: its transitions, the payment files and their outbox, the
// status reports, the payment exceptions and the audit trail. It posts
// nothing: the services of payments/workflow post what the posting rules
// (payments/postings.go) give, and drive it step by step.
type ApprovalStore struct {
	pool *pgxpool.Pool
	runs *RunStore
	cfg  ApprovalConfig
}

var (
	_ payments.PaymentFiles      = (*ApprovalStore)(nil)
	_ payments.PaymentExceptions = (*ApprovalStore)(nil)
	_ payments.AuditLog          = (*ApprovalStore)(nil)
)

// NewApprovalStore returns the workflow of the batches of runs. The
// configuration is checked: a debtor without a valid IBAN or BIC is
// refused.
func NewApprovalStore(pool *pgxpool.Pool, runs *RunStore, cfg ApprovalConfig) (*ApprovalStore, error) {
	if cfg.SecondApprovalAbove.IsZero() {
		cfg.SecondApprovalAbove = DefaultSecondApprovalAbove
	}
	if cfg.SecondApprovalAbove.IsNegative() {
		return nil, errs.Field("second_approval_above", "must not be negative")
	}
	if cfg.InitiatingParty == "" {
		cfg.InitiatingParty = DefaultInitiatingParty
	}
	if cfg.Format == "" {
		cfg.Format = sepa.Pain001V09
	}
	if cfg.Format != sepa.Pain001V09 && cfg.Format != sepa.Pain001V03 {
		return nil, errs.Field("format", "%q is not a pain.001 version the service writes (%s or %s)", cfg.Format, sepa.Pain001V09, sepa.Pain001V03)
	}
	if cfg.MaxFileTransactions == 0 {
		cfg.MaxFileTransactions = DefaultMaxFileTransactions
	}
	if cfg.MaxFileTransactions < 1 || cfg.MaxFileTransactions > 100000 {
		return nil, errs.Field("max_file_transactions", "must be between 1 and 100000")
	}
	if cfg.CategoryPurpose == "" {
		cfg.CategoryPurpose = "SSBE"
	}
	if cfg.Debtor.Name == "" {
		return nil, errs.Field("debtor.name", "is required")
	}
	iban, err := payments.ValidateIBAN(cfg.Debtor.IBAN)
	if err != nil {
		return nil, errs.Field("debtor.iban", "%v", err)
	}
	cfg.Debtor.IBAN = iban
	if cfg.Debtor.BIC == "" {
		return nil, errs.Field("debtor.bic", "is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &ApprovalStore{pool: pool, runs: runs, cfg: cfg}, nil
}

func (s *ApprovalStore) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

func (s *ApprovalStore) tx(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
	return db.InTxWith(ctx, s.pool, s.runs.retry, fn)
}

// audit appends one event to the audit trail, in tx.
func audit(ctx context.Context, tx pgx.Tx, at time.Time, by payments.Actor, action, kind, id, from, to, reason string, details map[string]any) error {
	return auditlog.Write(ctx, tx, auditlog.Event{At: at, By: by, Action: action, Kind: kind, ObjectID: id, From: from, To: to,
		Reason: reason, Details: details})
}

// batchState is what the workflow reads of a batch before changing it.
type batchState struct {
	status                 payments.BatchStatus
	kind                   payments.RunKind
	period                 string
	runID                  uuid.UUID
	computedBy, preparedBy string
	needed                 int64
	lines                  int64
}

// lockBatch reads a batch for update.
func lockBatch(ctx context.Context, tx pgx.Tx, id uuid.UUID) (batchState, error) {
	var b batchState
	var status, kind string
	err := tx.QueryRow(ctx, `SELECT status, kind, period, run_id, computed_by, prepared_by, approvals_needed, lines
		FROM batches WHERE id = $1 FOR UPDATE`, id).Scan(&status, &kind, &b.period, &b.runID, &b.computedBy, &b.preparedBy, &b.needed, &b.lines)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, batchNotFound(id)
	}
	b.status, b.kind = payments.BatchStatus(status), payments.RunKind(kind)
	return b, err
}

// Submit asks for the approval of a draft: the batch's gross total fixes
// how many approvals it needs.
func (s *ApprovalStore) Submit(ctx context.Context, id uuid.UUID, by payments.Actor, note string) (payments.Batch, error) {
	if err := by.Allow("submit a batch", payments.RolePreparer, payments.RoleAdmin); err != nil {
		return payments.Batch{}, err
	}
	note, err := payments.CheckReason("note", note, false)
	if err != nil {
		return payments.Batch{}, err
	}
	err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		b, err := lockBatch(ctx, tx, id)
		if err != nil {
			return err
		}
		if b.status != payments.BatchDraft {
			return errs.E(errs.Conflict, "batch %s is %s: only a draft can be submitted", id, b.status)
		}
		if b.lines == 0 {
			return errs.E(errs.Conflict, "batch %s has no lines: there is nothing to approve", id)
		}
		computedBy := b.computedBy
		if b.kind != payments.RunReissue {
			if err := tx.QueryRow(ctx, `SELECT started_by FROM runs WHERE id = $1`, b.runID).Scan(&computedBy); err != nil {
				return fmt.Errorf("read the run of batch %s: %w", id, err)
			}
		}
		var gross decimal.Decimal
		if err := tx.QueryRow(ctx, `SELECT COALESCE(sum(gross), 0) FROM batch_totals WHERE batch_id = $1`, id).Scan(&gross); err != nil {
			return err
		}
		needed := 1
		if gross.GreaterThan(s.cfg.SecondApprovalAbove) {
			needed = 2
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE batches SET status = 'pending_approval', computed_by = $2, prepared_by = $3,
			submitted_at = $4, approvals_needed = $5, reason = '' WHERE id = $1`, id, computedBy, by.Name, now, int64(needed)); err != nil {
			return err
		}
		return audit(ctx, tx, now, by, "submit", "batch", id.String(), string(b.status), string(payments.BatchPending), note,
			map[string]any{"gross": gross.StringFixed(2), "approvals_needed": needed, "computed_by": computedBy})
	})
	if err != nil {
		return payments.Batch{}, errs.Wrap(err, "submit batch %s", id)
	}
	return s.runs.Batch(ctx, id)
}

// AddApproval records by's approval of a pending batch, with a note the
// caller checked (workflow.Batches.Approve). Nobody approves a batch they
// computed or prepared, nor twice; the last approval needed moves the
// batch to 'approving'. finish says the batch is 'approving' and must be
// finished (RecordApproval...CompleteApproval): by gave its last approval,
// or by approved a batch an interrupted approval left 'approving'.
func (s *ApprovalStore) AddApproval(ctx context.Context, id uuid.UUID, by payments.Actor, note string) (finish bool, err error) {
	err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		finish = false
		b, err := lockBatch(ctx, tx, id)
		if err != nil {
			return err
		}
		var mine bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM batch_approvals WHERE batch_id = $1 AND approver = $2)`,
			id, by.Name).Scan(&mine); err != nil {
			return err
		}
		switch {
		case b.status == payments.BatchApproving && mine:
			finish = true // resume an interrupted approval
			return nil
		case b.status != payments.BatchPending:
			return errs.E(errs.Conflict, "batch %s is %s: only a batch pending approval can be approved", id, b.status)
		case by.Name == b.preparedBy:
			return errs.E(errs.Forbidden, "%s prepared batch %s: another person must approve it", by.Name, id)
		case by.Name == b.computedBy:
			return errs.E(errs.Forbidden, "%s computed batch %s (started its run): another person must approve it", by.Name, id)
		case mine:
			return errs.E(errs.Conflict, "%s has already approved batch %s: a second approval must come from another approver", by.Name, id)
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `INSERT INTO batch_approvals (batch_id, approver, address, note, approved_at) VALUES ($1, $2, $3, $4, $5)`,
			id, by.Name, by.Address, note, now); err != nil {
			return err
		}
		var count int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM batch_approvals WHERE batch_id = $1`, id).Scan(&count); err != nil {
			return err
		}
		to := payments.BatchPending
		if count >= b.needed {
			to, finish = payments.BatchApproving, true
			if _, err := tx.Exec(ctx, `UPDATE batches SET status = 'approving', approved_at = $2 WHERE id = $1`, id, now); err != nil {
				return err
			}
		}
		return audit(ctx, tx, now, by, "approve", "batch", id.String(), string(b.status), string(to), note,
			map[string]any{"approval": count, "approvals_needed": b.needed})
	})
	if err != nil {
		return false, errs.Wrap(err, "approve batch %s", id)
	}
	return finish, nil
}

// RecordApproval establishes the overpayments an 'approving' batch's run
// found and records its lines as paid; done says another approval finished
// the batch meanwhile. When a line or an overpayment was computed on what
// has since changed, the approval is taken back, the batch is a draft
// again, by's approval is undone in the audit trail and the error is a
// conflict.
func (s *ApprovalStore) RecordApproval(ctx context.Context, id uuid.UUID, by payments.Actor) (done bool, err error) {
	done, err = s.runs.recordApproval(ctx, id)
	if err != nil {
		if errs.Is(err, errs.Conflict) {
			aerr := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
				return audit(ctx, tx, s.now(), by, "approval_undone", "batch", id.String(), string(payments.BatchApproving),
					string(payments.BatchDraft), err.Error(), nil)
			})
			if aerr != nil {
				return false, fmt.Errorf("%w (and writing the audit trail failed: %v)", err, aerr)
			}
		}
		return false, err
	}
	return done, nil
}

// RefuseApproval takes back the approval that made a batch 'approving'
// when its commitment was refused (nothing of the approval was posted):
// the batch is pending again, the last approval's row is removed, the
// round of its approval (approved_at) is cleared, and the refusal is
// audited with its reason. A batch no longer 'approving' is left as it is.
func (s *ApprovalStore) RefuseApproval(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) error {
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		b, err := lockBatch(ctx, tx, id)
		if err != nil || b.status != payments.BatchApproving {
			return err
		}
		var last string
		if err := tx.QueryRow(ctx, `SELECT approver FROM batch_approvals WHERE batch_id = $1 ORDER BY approved_at DESC, approver DESC LIMIT 1`,
			id).Scan(&last); err != nil {
			return fmt.Errorf("find the last approval: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM batch_approvals WHERE batch_id = $1 AND approver = $2`, id, last); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE batches SET status = 'pending_approval', approved_at = NULL WHERE id = $1`, id); err != nil {
			return err
		}
		return audit(ctx, tx, s.now(), by, "approval_refused", "batch", id.String(), string(payments.BatchApproving),
			string(payments.BatchPending), reason, map[string]any{"approval_removed": last})
	})
	if err != nil {
		return fmt.Errorf("take back the approval of batch %s: %w", id, err)
	}
	return nil
}

// CompleteApproval makes an 'approving' batch 'approved', once its
// postings are made.
func (s *ApprovalStore) CompleteApproval(ctx context.Context, b payments.Batch) error {
	return s.runs.completeApproval(ctx, b.ID, func(ctx context.Context, tx pgx.Tx) error {
		return audit(ctx, tx, s.now(), payments.System, "approved", "batch", b.ID.String(), string(payments.BatchApproving),
			string(payments.BatchApproved), "", map[string]any{"gross": b.Total.Gross.StringFixed(2), "net": b.Total.Net.StringFixed(2)})
	})
}

// Batch returns a batch with its totals and workflow.
func (s *ApprovalStore) Batch(ctx context.Context, id uuid.UUID) (payments.Batch, error) {
	return s.runs.Batch(ctx, id)
}

// AccrualLines reads the lines of a batch's scheme, page by page, for its
// accrual.
func (s *ApprovalStore) AccrualLines(ctx context.Context, batch uuid.UUID, sc payments.Scheme) payments.Rows[payments.AccrualLine] {
	return func(yield func(payments.AccrualLine) error) error {
		return s.eachLine(ctx, `SELECT id, beneficiary_id, net, deduction FROM batch_lines WHERE batch_id = $1 AND scheme = $2
			AND id > $3 ORDER BY id LIMIT $4`, []any{batch, string(sc)}, func(id, ben string, net, deduction decimal.Decimal) error {
			return yield(payments.AccrualLine{ID: id, BeneficiaryID: ben, Net: net, Deduction: deduction})
		})
	}
}

// eachLine pages through sql, which selects (id, beneficiary, amount,
// amount) rows after $n-1 ordered by id with a limit of $n, args coming
// first, and calls fn for each row.
func (s *ApprovalStore) eachLine(ctx context.Context, sql string, args []any, fn func(id, ben string, a, b decimal.Decimal) error) error {
	const page = 10000
	cursor := ""
	for {
		var ids, bens []string
		var as, bs []decimal.Decimal
		err := queryEach(ctx, s.pool, sql, append(append([]any{}, args...), cursor, page), func(r pgx.Rows) error {
			var id, ben string
			var a, b decimal.Decimal
			if err := r.Scan(&id, &ben, &a, &b); err != nil {
				return err
			}
			ids, bens, as, bs = append(ids, id), append(bens, ben), append(as, a), append(bs, b)
			return nil
		})
		if err != nil {
			return err
		}
		for i := range ids {
			if err := fn(ids[i], bens[i], as[i], bs[i]); err != nil {
				return err
			}
		}
		if len(ids) < page {
			return nil
		}
		cursor = ids[len(ids)-1]
	}
}

// UnbookedOverpayments lists the established overpayments not yet booked
// in the ledger, in the order of their ids, at most limit of them.
func (s *ApprovalStore) UnbookedOverpayments(ctx context.Context, limit int) ([]payments.EstablishedOverpayment, error) {
	var ops []payments.EstablishedOverpayment
	err := queryEach(ctx, s.pool, `SELECT o.overpayment_id, o.beneficiary_id, o.reason, o.amount, o.established_at FROM overpayments o
		WHERE NOT EXISTS (SELECT 1 FROM overpayment_bookings k WHERE k.overpayment_id = o.overpayment_id)
		ORDER BY o.overpayment_id LIMIT $1`, []any{int64(limit)}, func(r pgx.Rows) error {
		var o payments.EstablishedOverpayment
		var reason string
		err := r.Scan(&o.ID, &o.BeneficiaryID, &reason, &o.Amount, &o.EstablishedAt)
		ops = append(ops, o)
		return err
	})
	return ops, err
}

// OverpaymentBooked records that ledger entry booked overpayment id.
func (s *ApprovalStore) OverpaymentBooked(ctx context.Context, id string, entry uuid.UUID) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO overpayment_bookings (overpayment_id, entry_id, booked_at) VALUES ($1, $2, $3)
			ON CONFLICT (overpayment_id) DO NOTHING`, id, entry, s.now())
		return err
	})
}

// Reject sends a pending batch back to draft with a reason; its approvals
// are forgotten (the audit trail keeps them). When the period has a newer
// draft, the rejected batch is replaced by it.
func (s *ApprovalStore) Reject(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (payments.Batch, error) {
	if err := by.Allow("reject a batch", payments.RoleApprover); err != nil {
		return payments.Batch{}, err
	}
	reason, err := payments.CheckReason("reason", reason, true)
	if err != nil {
		return payments.Batch{}, err
	}
	err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		b, err := lockBatch(ctx, tx, id)
		if err != nil {
			return err
		}
		if b.status != payments.BatchPending {
			return errs.E(errs.Conflict, "batch %s is %s: only a batch pending approval can be rejected", id, b.status)
		}
		var to string
		err = tx.QueryRow(ctx, `UPDATE batches b SET status = CASE WHEN EXISTS (SELECT 1 FROM batches d
			WHERE d.kind = b.kind AND d.period = b.period AND d.status = 'draft') THEN 'replaced' ELSE 'draft' END,
			approvals_needed = 0, reason = $2 WHERE b.id = $1 RETURNING status`, id, reason).Scan(&to)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM batch_approvals WHERE batch_id = $1`, id); err != nil {
			return err
		}
		return audit(ctx, tx, s.now(), by, "reject", "batch", id.String(), string(b.status), to, reason, nil)
	})
	if err != nil {
		return payments.Batch{}, errs.Wrap(err, "reject batch %s", id)
	}
	return s.runs.Batch(ctx, id)
}

// StartCancel cancels a batch before its release, for a reason the caller
// checked (workflow.Batches.Cancel). A draft or pending batch is cancelled
// at once; an approved one is made 'cancelling' and reverse is set: its
// accrual must be reversed and what it recorded as paid taken back
// (EndCancel). A reissue batch's exceptions are corrected again, for the
// next reissue batch. A 'releasing' batch is left as it is and releasing
// is set: it is cancelled for what it has not sent, under its leases
// (UnderCancelLeases, Withdraw).
func (s *ApprovalStore) StartCancel(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (reverse, releasing bool, err error) {
	err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		reverse, releasing = false, false
		b, err := lockBatch(ctx, tx, id)
		if err != nil {
			return err
		}
		now := s.now()
		to := payments.BatchCancelled
		switch b.status {
		case payments.BatchDraft, payments.BatchPending:
		case payments.BatchApproved:
			to, reverse = payments.BatchCancelling, true
		case payments.BatchCancelling:
			reverse = true
			return nil
		case payments.BatchReleasing:
			releasing = true // withdrawn under the release lease
			return nil
		default:
			return errs.E(errs.Conflict, "batch %s is %s: only a draft, pending, approved or releasing batch can be cancelled", id, b.status)
		}
		closed := any(now)
		if reverse {
			closed = nil
		}
		if _, err := tx.Exec(ctx, `UPDATE batches SET status = $2, reason = $3, closed_at = $4 WHERE id = $1`,
			id, string(to), reason, closed); err != nil {
			return err
		}
		if !reverse {
			if _, err := tx.Exec(ctx, `DELETE FROM batch_approvals WHERE batch_id = $1`, id); err != nil {
				return err
			}
		}
		if b.kind == payments.RunReissue {
			if _, err := tx.Exec(ctx, `UPDATE payment_exceptions SET status = 'corrected', reissue_batch_id = NULL, updated_at = $2
				WHERE reissue_batch_id = $1`, id, now); err != nil {
				return err
			}
		}
		return audit(ctx, tx, now, by, "cancel", "batch", id.String(), string(b.status), string(to), reason, nil)
	})
	if err != nil {
		return false, false, errs.Wrap(err, "cancel batch %s", id)
	}
	return reverse, releasing, nil
}

// ForgetPaid takes back what a cancelled batch recorded as paid, so that
// its days can be paid by another batch.
func (s *ApprovalStore) ForgetPaid(ctx context.Context, id uuid.UUID) error {
	return s.runs.forgetPaid(ctx, id)
}

// EndCancel makes a 'cancelling' batch 'cancelled' once what it posted is
// undone: the lines its release held are closed (their days are paid by
// another batch) and a reissue batch's exceptions are corrected again.
func (s *ApprovalStore) EndCancel(ctx context.Context, b payments.Batch, withdrawn []payments.PaymentFile, reason string) error {
	id := b.ID
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		now := s.now()
		tag, err := tx.Exec(ctx, `UPDATE batches SET status = 'cancelled', closed_at = $2 WHERE id = $1 AND status = 'cancelling'`, id, now)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM batch_approvals WHERE batch_id = $1`, id); err != nil {
			return err
		}
		// The lines the release held are not owed by this batch any more.
		held, err := tx.Exec(ctx, `UPDATE payment_exceptions SET status = 'closed', note = $3, updated_at = $2
			WHERE batch_id = $1 AND msg_id = '' AND status IN ('open', 'corrected')`, id, now, "batch cancelled before its release: "+reason)
		if err != nil {
			return err
		}
		if b.Kind == payments.RunReissue {
			if _, err := tx.Exec(ctx, `UPDATE payment_exceptions SET status = 'corrected', reissue_batch_id = NULL, updated_at = $2
				WHERE reissue_batch_id = $1`, id, now); err != nil {
				return err
			}
		}
		details := map[string]any{"accrual_reversed": payments.AccruesOnApproval(b)}
		if len(withdrawn) > 0 {
			ids := make([]string, 0, len(withdrawn))
			for _, f := range withdrawn {
				ids = append(ids, f.MsgID)
			}
			details["files_withdrawn"], details["held_closed"] = ids, held.RowsAffected()
		}
		return audit(ctx, tx, now, payments.System, "cancelled", "batch", id.String(), string(payments.BatchCancelling),
			string(payments.BatchCancelled), reason, details)
	})
}

// PostingOf finds the ledger entry of an idempotency key: found is false
// when there is none; posted is false while a bulk entry is being written.
func (s *ApprovalStore) PostingOf(ctx context.Context, key string) (id uuid.UUID, found, posted bool, err error) {
	var status string
	err = s.pool.QueryRow(ctx, `SELECT id, status FROM entries WHERE idempotency_key = $1`, key).Scan(&id, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		return id, false, false, nil
	}
	if err != nil {
		return id, false, false, fmt.Errorf("find the entry %s: %w", key, err)
	}
	return id, true, status == string(ledger.StatusPosted), nil
}

package workflow

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// Ledger is where the workflow posts what the posting rules give.
type Ledger interface {
	Post(ctx context.Context, e ledger.NewEntry) (ledger.Entry, error)
	PostBulk(ctx context.Context, b ledger.BulkEntry) (ledger.Entry, error)
	Reverse(ctx context.Context, r ledger.Reversal) (ledger.Entry, error)
}

// ApprovalSteps are the stored steps of a batch's approval.
type ApprovalSteps interface {
	// Submit asks for the approval of a draft (one transaction).
	Submit(ctx context.Context, id uuid.UUID, by payments.Actor, note string) (payments.Batch, error)
	// Reject sends a pending batch back to draft (one transaction).
	Reject(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (payments.Batch, error)
	// AddApproval records one approval; finish says the batch is
	// 'approving' and must be finished.
	AddApproval(ctx context.Context, id uuid.UUID, by payments.Actor, note string) (finish bool, err error)
	// RecordApproval records an 'approving' batch's lines as paid; done
	// says another approval finished it meanwhile.
	RecordApproval(ctx context.Context, id uuid.UUID, by payments.Actor) (done bool, err error)
	// RefuseApproval takes back the approval that made a batch
	// 'approving' when its commitment was refused: pending again, the
	// last approval removed, the refusal audited with reason.
	RefuseApproval(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) error
	// CompleteApproval makes an 'approving' batch 'approved'.
	CompleteApproval(ctx context.Context, b payments.Batch) error
	// Batch reads a batch.
	Batch(ctx context.Context, id uuid.UUID) (payments.Batch, error)
}

// Accruals reads what an approval posts.
type Accruals interface {
	// UnbookedOverpayments lists established overpayments not yet booked.
	UnbookedOverpayments(ctx context.Context, limit int) ([]payments.EstablishedOverpayment, error)
	// OverpaymentBooked records the entry that booked an overpayment.
	OverpaymentBooked(ctx context.Context, id string, entry uuid.UUID) error
	// AccrualLines reads the lines of a batch's scheme.
	AccrualLines(ctx context.Context, batch uuid.UUID, sc payments.Scheme) payments.Rows[payments.AccrualLine]
}

// ReleaseSteps are the stored steps of a batch's release.
type ReleaseSteps interface {
	// StartRelease makes an approved batch 'releasing'.
	StartRelease(ctx context.Context, id uuid.UUID, by payments.Actor) error
	// UnderReleaseLease runs finish under the lease of the batch's
	// release.
	UnderReleaseLease(ctx context.Context, id uuid.UUID, finish func(context.Context) error) error
	// HoldUnpayable holds the lines the bank could not take.
	HoldUnpayable(ctx context.Context, b payments.Batch) error
	// WriteFile returns part n of the batch's files, writing it when
	// missing; ok is false past the last.
	WriteFile(ctx context.Context, b payments.Batch, part int) (f payments.PaymentFile, ok bool, err error)
	// FilePayments reads the payments of a file.
	FilePayments(ctx context.Context, msgID string) payments.Rows[payments.FilePayment]
	// QueueFile queues a written and posted file for the bank.
	QueueFile(ctx context.Context, b payments.Batch, f payments.PaymentFile) error
	// EndRelease makes a 'releasing' batch 'released'.
	EndRelease(ctx context.Context, id uuid.UUID) error
}

// CancelSteps are the stored steps of a batch's cancellation.
type CancelSteps interface {
	// StartCancel cancels a batch, or makes it 'cancelling' (reverse),
	// or says it is 'releasing'.
	StartCancel(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (reverse, releasing bool, err error)
	// PostingOf finds the ledger entry of an idempotency key.
	PostingOf(ctx context.Context, key string) (id uuid.UUID, found, posted bool, err error)
	// ForgetPaid takes back what a batch recorded as paid.
	ForgetPaid(ctx context.Context, id uuid.UUID) error
	// EndCancel makes a 'cancelling' batch 'cancelled'.
	EndCancel(ctx context.Context, b payments.Batch, withdrawn []payments.PaymentFile, reason string) error
}

// Withdrawals are the stored steps of cancelling a release for what it has
// not sent.
type Withdrawals interface {
	// UnderCancelLeases runs cancel under the release's and the bank
	// sender's leases.
	UnderCancelLeases(ctx context.Context, id uuid.UUID, cancel func(context.Context) error) error
	// Withdraw withdraws the files the bank has not got.
	Withdraw(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) error
	// WithdrawnFiles lists the withdrawn files and counts the others.
	WithdrawnFiles(ctx context.Context, id uuid.UUID) ([]payments.PaymentFile, int64, error)
	// FreeWithdrawn frees the payments of a withdrawn file.
	FreeWithdrawn(ctx context.Context, b payments.Batch, f payments.PaymentFile, keep bool, reason string) error
	// KeepSent makes the batch 'released' with the files the bank got.
	KeepSent(ctx context.Context, id uuid.UUID, withdrawn []payments.PaymentFile, sent int64, reason string) error
}

// ReportSteps are the stored steps of applying a status report.
type ReportSteps interface {
	// RecordReport records a report against its file's payments.
	RecordReport(ctx context.Context, content []byte, by payments.Actor) (payments.ReportResult, error)
	// PendingReports lists the reports whose rejections are not posted.
	PendingReports(ctx context.Context, limit int) ([]string, error)
	// Rejections reads how many payments a report rejected, and when it
	// was received.
	Rejections(ctx context.Context, report string) (n int64, received time.Time, err error)
	// RejectedPayments reads the payments a report rejected.
	RejectedPayments(ctx context.Context, report string) payments.Rows[payments.FilePayment]
	// MarkReportApplied marks a report applied.
	MarkReportApplied(ctx context.Context, report string) error
}

// Steps are all the stored steps the workflow drives.
type Steps interface {
	ApprovalSteps
	Accruals
	ReleaseSteps
	CancelSteps
	Withdrawals
	ReportSteps
}

// Batches moves the batches through their approval, release and
// cancellation, and applies the bank's status reports: it decides the
// flow, posts what the posting rules give, and has the store keep each
// step.
type Batches struct {
	steps  Steps
	ledger Ledger
	now    func() time.Time
	log    *slog.Logger
	// budget, when set, controls approvals against the appropriations
	// (SetBudget).
	budget  Budget
	enforce bool
}

var (
	_ payments.BatchWorkflow = (*Batches)(nil)
	_ payments.StatusReports = (*Batches)(nil)
)

// NewBatches returns the workflow of the batches of steps, posting to l;
// now is the clock (nil: time.Now) and log receives what the bank rejects
// (nil: slog.Default()).
func NewBatches(steps Steps, l Ledger, now func() time.Time, log *slog.Logger) *Batches {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Batches{steps: steps, ledger: l, now: now, log: log}
}

func (w *Batches) stamp() time.Time { return w.now().UTC().Truncate(time.Microsecond) }

// Submit asks for the approval of a draft: the batch's gross total fixes
// how many approvals it needs.
func (w *Batches) Submit(ctx context.Context, id uuid.UUID, by payments.Actor, note string) (payments.Batch, error) {
	return w.steps.Submit(ctx, id, by, note)
}

// Reject sends a pending batch back to draft with a reason; its approvals
// are forgotten (the audit trail keeps them). When the period has a newer
// draft, the rejected batch is replaced by it.
func (w *Batches) Reject(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (payments.Batch, error) {
	return w.steps.Reject(ctx, id, by, reason)
}

// Approve records one approval of a pending batch. Nobody approves a batch
// they computed or prepared, nor twice; the last approval needed moves the
// batch to 'approving', establishes the overpayments its run found, records
// its lines as paid, books the overpayments and posts the accrual, then
// makes it 'approved'. A batch left 'approving' by an interrupted approval
// is finished by any approver who approved it.
//
// With budget control on (SetBudget), an approval beyond the batch's
// budget is refused; ApproveOverriding may force it.
func (w *Batches) Approve(ctx context.Context, id uuid.UUID, by payments.Actor, note string) (payments.Batch, error) {
	return w.ApproveOverriding(ctx, id, by, note, payments.BudgetOverride{})
}

// approve is Approve once the budget is checked.
func (w *Batches) approve(ctx context.Context, id uuid.UUID, by payments.Actor, note string, a approval) (payments.Batch, error) {
	note, err := payments.CheckReason("note", note, false)
	if err != nil {
		return payments.Batch{}, err
	}
	finish, err := w.steps.AddApproval(ctx, id, by, note)
	if err != nil {
		return payments.Batch{}, err
	}
	if finish {
		if err := w.finishApproval(ctx, id, by, a); err != nil {
			return payments.Batch{}, err
		}
	}
	return w.steps.Batch(ctx, id)
}

// finishApproval commits an 'approving' batch's budget, establishes the
// overpayments its run found, records its lines as paid, books the
// overpayments, posts the accrual and makes the batch 'approved'.
//
// The commitment comes first, in one guarded entry (commitBudget): when
// it is refused, nothing of the approval has been posted or recorded but
// the approval itself, which is taken back. When a line or an overpayment
// was computed on what has since changed, the approval is taken back, the
// batch is a draft again and its commitment is given back.
func (w *Batches) finishApproval(ctx context.Context, id uuid.UUID, by payments.Actor, a approval) error {
	b, err := w.steps.Batch(ctx, id)
	if err != nil {
		return err
	}
	if b.Status == payments.BatchApproving {
		if err := w.commitBudget(ctx, b, by, a); err != nil {
			if errs.Is(err, errs.Conflict) {
				return err
			}
			return fmt.Errorf("approve batch %s: commit the budget (approve again to finish): %v", id, err)
		}
	}
	done, err := w.steps.RecordApproval(ctx, id, by)
	if err != nil {
		if errs.Is(err, errs.Conflict) {
			if gerr := w.giveBack(ctx, id, "approval taken back: the batch was computed on what has since changed"); gerr != nil {
				return fmt.Errorf("%s (and giving back its budget failed: %v; it is given back when the batch is approved again or cancelled)",
					errs.MessageOf(err), gerr)
			}
		}
		return err
	}
	if done {
		return nil
	}
	b, err = w.steps.Batch(ctx, id)
	if err != nil {
		return err
	}
	if payments.AccruesOnApproval(b) {
		// The ledger refusing what the workflow posts is never the
		// caller's fault: its error loses its code and is internal.
		if err := w.bookOverpayments(ctx); err != nil {
			return fmt.Errorf("approve batch %s: book the overpayments (approve again to finish): %v", id, err)
		}
		if err := w.postAccrual(ctx, b); err != nil {
			return fmt.Errorf("approve batch %s: post the accrual (approve again to finish): %v", id, err)
		}
	}
	return w.steps.CompleteApproval(ctx, b)
}

// postAccrual posts the accrual of each scheme of the batch
// (payments.AccrualPosting).
func (w *Batches) postAccrual(ctx context.Context, b payments.Batch) error {
	for _, sc := range payments.Schemes {
		if _, ok := b.Totals[sc]; !ok {
			continue
		}
		e, err := payments.AccrualPosting(b, sc, w.steps.AccrualLines(ctx, b.ID, sc))
		if err != nil {
			return err
		}
		if _, err := w.ledger.PostBulk(ctx, e); err != nil {
			return fmt.Errorf("%s: %w", sc, err)
		}
	}
	return nil
}

// bookOverpayments books every overpayment not yet in the ledger as a
// receivable (payments.OverpaymentPosting), one entry each, so that the
// deductions approved against it have a receivable to clear.
func (w *Batches) bookOverpayments(ctx context.Context) error {
	for {
		ops, err := w.steps.UnbookedOverpayments(ctx, 1000)
		if err != nil || len(ops) == 0 {
			return err
		}
		for _, o := range ops {
			e, err := w.ledger.Post(ctx, payments.OverpaymentPosting(o))
			if err != nil {
				return fmt.Errorf("book overpayment %s: %w", o.ID, err)
			}
			if err := w.steps.OverpaymentBooked(ctx, o.ID, e.ID); err != nil {
				return fmt.Errorf("book overpayment %s: %w", o.ID, err)
			}
		}
	}
}

// Release writes an approved batch's payment files, posts each one's
// payments from payable to payments in transit, and queues them for the
// bank. Each file is written once, in its own transaction, and kept byte
// for byte: a release interrupted part-way is finished by calling Release
// again, which writes the files still missing and never writes one twice.
// Lines whose net is zero (wholly withheld) are not paid, nor are lines
// paying an account the bank rejected and staff have not corrected yet.
// The requested execution date is the next TARGET2 business day after the
// release.
//
// The files are written, posted and queued under the lease of the batch's
// release, renewed while it works: a release asked for while another
// process finishes the same batch is refused as a conflict naming that
// process, and a release left 'releasing' by a process that stopped is
// finished by the next Release once its lease has expired.
func (w *Batches) Release(ctx context.Context, id uuid.UUID, by payments.Actor) (payments.Batch, error) {
	if err := by.Allow("release a batch", payments.RoleApprover); err != nil {
		return payments.Batch{}, err
	}
	if err := w.steps.StartRelease(ctx, id, by); err != nil {
		return payments.Batch{}, err
	}
	var finishErr error
	err := w.steps.UnderReleaseLease(ctx, id, func(ctx context.Context) error {
		finishErr = w.finishRelease(ctx, id)
		return finishErr
	})
	if err != nil && finishErr == nil && errs.Is(err, errs.Conflict) {
		return payments.Batch{}, err // another process is releasing the batch
	}
	if err != nil {
		return payments.Batch{}, fmt.Errorf("release batch %s (release again to finish): %w", id, err)
	}
	return w.steps.Batch(ctx, id)
}

// finishRelease writes the missing files of a 'releasing' batch, posts
// them, queues them and makes the batch 'released'.
func (w *Batches) finishRelease(ctx context.Context, id uuid.UUID) error {
	b, err := w.steps.Batch(ctx, id)
	if err != nil {
		return err
	}
	if b.Status != payments.BatchReleasing {
		return nil
	}
	// Every line is checked before the first file is written: a line the
	// bank could not take is held, not left to stop the release half-way.
	if err := w.steps.HoldUnpayable(ctx, b); err != nil {
		return err
	}
	// Every file is written and posted before any is queued: the bank gets
	// none of a release until all of it is written.
	var written []payments.PaymentFile
	for part := 1; ; part++ {
		f, ok, err := w.steps.WriteFile(ctx, b, part)
		if err != nil {
			return fmt.Errorf("file %d: %w", part, err)
		}
		if !ok {
			break
		}
		if f.Status != payments.FileBuilding {
			continue
		}
		if err := w.postRelease(ctx, b, f); err != nil {
			return fmt.Errorf("file %s: post its release: %v", f.MsgID, err)
		}
		written = append(written, f)
	}
	for _, f := range written {
		if err := w.steps.QueueFile(ctx, b, f); err != nil {
			return fmt.Errorf("queue file %s: %w", f.MsgID, err)
		}
	}
	if err := w.postSpending(ctx, b); err != nil {
		return err
	}
	return w.steps.EndRelease(ctx, id)
}

// postRelease posts a file's payments (payments.ReleasePosting).
func (w *Batches) postRelease(ctx context.Context, b payments.Batch, f payments.PaymentFile) error {
	_, err := w.ledger.PostBulk(ctx, payments.ReleasePosting(b, f, w.steps.FilePayments(ctx, f.MsgID)))
	return err
}

package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
)

// Cancel cancels a batch before its release. A draft or pending batch is
// cancelled at once; an approved one is 'cancelling' while its accrual is
// reversed and what it recorded as paid is taken back, so that its days
// can be paid by another batch. A reissue batch's exceptions are corrected
// again, for the next reissue batch.
//
// A 'releasing' batch (a release cut off, or still working) is cancelled
// for what it has not sent (cancelRelease): its files not at the bank are
// withdrawn and undone; with none sent the batch is cancelled as an
// approved one, else it is 'released' with the files the bank got.
func (w *Batches) Cancel(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (payments.Batch, error) {
	if err := by.Allow("cancel a batch", payments.RolePreparer, payments.RoleApprover, payments.RoleAdmin); err != nil {
		return payments.Batch{}, err
	}
	reason, err := payments.CheckReason("reason", reason, true)
	if err != nil {
		return payments.Batch{}, err
	}
	reverse, releasing, err := w.steps.StartCancel(ctx, id, by, reason)
	if err != nil {
		return payments.Batch{}, err
	}
	switch {
	case releasing:
		err = w.cancelRelease(ctx, id, by, reason)
	case reverse:
		err = w.finishCancel(ctx, id, reason)
	default:
		// A draft or pending batch commits nothing, unless the take-back
		// of an earlier approval was cut short before giving it back.
		err = w.giveBack(ctx, id, reason)
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return payments.Batch{}, errs.Wrap(err, "cancel batch %s", id)
	}
	if err != nil {
		return payments.Batch{}, fmt.Errorf("cancel batch %s (cancel again to finish): %w", id, err)
	}
	return w.steps.Batch(ctx, id)
}

// cancelRelease cancels a 'releasing' batch for what it has not sent: its
// files not yet at the bank (building or queued) are withdrawn, their
// release postings reversed and their payments freed. When no file of the
// batch reached the bank, the batch is cancelled whole, as an approved one
// (finishCancel); else it becomes 'released' with the files sent, and each
// payment withdrawn becomes a payment exception (CUST), its amount left in
// the payee's payable account, to be paid by a reissue batch. It works
// under the release's lease and the bank sender's, so that it never runs
// beside a release finishing the batch nor withdraws a file being sent.
func (w *Batches) cancelRelease(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) error {
	return w.steps.UnderCancelLeases(ctx, id, func(ctx context.Context) error {
		if err := w.steps.Withdraw(ctx, id, by, reason); err != nil {
			return err
		}
		return w.finishCancel(ctx, id, reason)
	})
}

// finishCancel undoes a 'cancelling' batch. The release postings of its
// withdrawn files are reversed and their payments freed; when the bank got
// some of its files, it is 'released' with them. Otherwise its accrual is
// reversed, what it recorded as paid is taken back, the lines its release
// held are closed (their days are paid by another batch), and it is
// 'cancelled'.
func (w *Batches) finishCancel(ctx context.Context, id uuid.UUID, reason string) error {
	b, err := w.steps.Batch(ctx, id)
	if err != nil {
		return err
	}
	if b.Status != payments.BatchCancelling {
		return nil
	}
	withdrawn, sent, err := w.steps.WithdrawnFiles(ctx, id)
	if err != nil {
		return fmt.Errorf("list the withdrawn files: %w", err)
	}
	for _, f := range withdrawn {
		if err := w.unpostRelease(ctx, b, f, reason); err != nil {
			return err
		}
		if err := w.steps.FreeWithdrawn(ctx, b, f, sent > 0, reason); err != nil {
			return fmt.Errorf("free the payments of file %s: %w", f.MsgID, err)
		}
	}
	if sent > 0 {
		// The batch ends 'released' with what the bank got; each payment
		// withdrawn is a payment exception awaiting a reissue, which
		// commits nothing again: the commitment is spent whole, before the
		// batch leaves 'cancelling' so that a cancellation cut short
		// finishes it.
		if err := w.postSpending(ctx, b); err != nil {
			return err
		}
		return w.steps.KeepSent(ctx, id, withdrawn, sent, reason)
	}
	if payments.AccruesOnApproval(b) {
		for _, sc := range payments.Schemes {
			if _, ok := b.Totals[sc]; !ok {
				continue
			}
			e, found, _, err := w.steps.PostingOf(ctx, payments.AccrualKey(b.ID, sc))
			if err != nil {
				return fmt.Errorf("find the %s accrual of batch %s: %w", sc, b.ID, err)
			}
			if !found {
				return fmt.Errorf("find the %s accrual of batch %s: it was never posted", sc, b.ID)
			}
			_, err = w.ledger.Reverse(ctx, payments.CancelReversal(b, sc, e, reason, w.stamp()))
			if err != nil && !errs.Is(err, errs.Conflict) {
				return fmt.Errorf("reverse the %s accrual: %w", sc, err)
			}
		}
		if err := w.steps.ForgetPaid(ctx, id); err != nil {
			return err
		}
		if err := w.giveBack(ctx, b.ID, reason); err != nil {
			return err
		}
	}
	return w.steps.EndCancel(ctx, b, withdrawn, reason)
}

// unpostRelease reverses the release posting of a withdrawn file, when it
// was made: its payments go back from payments in transit to the payees'
// payable accounts. A posting cut off half-way is finished first, so that
// the reversal undoes all of it.
func (w *Batches) unpostRelease(ctx context.Context, b payments.Batch, f payments.PaymentFile, reason string) error {
	entry, found, posted, err := w.steps.PostingOf(ctx, payments.ReleaseKey(f.MsgID))
	if err != nil {
		return fmt.Errorf("find the release posting of file %s: %w", f.MsgID, err)
	}
	if !found {
		return nil // never posted: nothing to undo
	}
	if !posted {
		if err := w.postRelease(ctx, b, f); err != nil {
			return fmt.Errorf("finish the release posting of file %s before reversing it: %w", f.MsgID, err)
		}
	}
	_, err = w.ledger.Reverse(ctx, payments.WithdrawalReversal(f, entry, reason, w.stamp()))
	if err != nil && !errs.Is(err, errs.Conflict) {
		return fmt.Errorf("reverse the release posting of file %s: %w", f.MsgID, err)
	}
	return nil
}

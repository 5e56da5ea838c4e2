package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// Budget is what the workflow asks of the budget's store.
type Budget interface {
	// SetUp creates the budget's accounts that do not exist yet.
	SetUp(ctx context.Context) error
	// Positions reads where the appropriation of every scheme stands.
	Positions(ctx context.Context, year int) (map[payments.Scheme]payments.BudgetPosition, error)
	// Overridden audits an approval forced beyond the budget.
	Overridden(ctx context.Context, batch uuid.UUID, by payments.Actor, reason, refused string) error
	// Committed records the entry that committed a batch's scheme.
	Committed(ctx context.Context, c payments.BudgetCommitment) error
	// Commitments reads what a batch committed.
	Commitments(ctx context.Context, batch uuid.UUID) ([]payments.BudgetCommitment, error)
	// MarkSpent and MarkReleased record the entries that spent or gave
	// back a commitment.
	MarkSpent(ctx context.Context, batch uuid.UUID, sc payments.Scheme, entry uuid.UUID) error
	MarkReleased(ctx context.Context, batch uuid.UUID, sc payments.Scheme, entry uuid.UUID) error
}

// SetBudget turns budget control on: approvals are checked against the
// appropriations of b and commit them. With enforce, a scheme without an
// appropriation for the year is refused like an overrun; without it, such
// a scheme is neither checked nor committed.
func (w *Batches) SetBudget(b Budget, enforce bool) {
	w.budget, w.enforce = b, enforce
}

// ApproveOverriding is Approve with a budget override: an approver who
// also holds the budget role may approve, with a reason, a batch beyond
// its budget; the override is audited.
func (w *Batches) ApproveOverriding(ctx context.Context, id uuid.UUID, by payments.Actor, note string, o payments.BudgetOverride) (payments.Batch, error) {
	if err := by.Allow("approve a batch", payments.RoleApprover); err != nil {
		return payments.Batch{}, err
	}
	if o.Force {
		if !by.Has(payments.RoleBudget) {
			return payments.Batch{}, errs.E(errs.Forbidden, "%s does not hold the budget role: only it may force an approval beyond the budget", by.Name)
		}
		r, err := payments.CheckReason("budget_reason", o.Reason, true)
		if err != nil {
			return payments.Batch{}, err
		}
		o.Reason = r
	} else {
		o.Reason = ""
	}
	if _, err := payments.CheckReason("note", note, false); err != nil {
		return payments.Batch{}, err
	}
	forced, err := w.checkBudget(ctx, id, by, o)
	if err != nil {
		return payments.Batch{}, err
	}
	return w.approve(ctx, id, by, note, approval{override: o, forced: forced})
}

// approval is how an approval stands against the budget: the override it
// asked for, and whether the check before it was forced (and audited).
type approval struct {
	override payments.BudgetOverride
	forced   bool
}

// checkBudget refuses an approval of a pending batch beyond its budget,
// unless forced; forced says the override was used, and audited. The
// check is made before anything is recorded, so that the common case is
// refused with nothing to take back; the commitment itself is checked
// again, atomically, when the last approval posts it (commitBudget).
func (w *Batches) checkBudget(ctx context.Context, id uuid.UUID, by payments.Actor, o payments.BudgetOverride) (forced bool, err error) {
	if w.budget == nil {
		return false, nil
	}
	b, err := w.steps.Batch(ctx, id)
	if err != nil {
		return false, err
	}
	if b.Status != payments.BatchPending {
		return false, nil // Approve says what is wrong, or finishes an approval
	}
	pos, err := w.budget.Positions(ctx, payments.BudgetYear(b))
	if err != nil {
		return false, fmt.Errorf("approve batch %s: %w", id, err)
	}
	refused := payments.CheckBatchBudget(b, pos, w.enforce)
	if refused == nil {
		return false, nil
	}
	if !o.Force {
		return false, refused
	}
	return true, w.budget.Overridden(ctx, id, by, o.Reason, refused.Error())
}

// commitBudget commits the net of each scheme of an 'approving' batch
// against its year's appropriation, in one entry (payments.CommitmentPosting)
// whose available accounts are floored at zero in the entry's own
// transaction: the check and the commitment are one, and of two batches
// committing at the same moment beyond what is available, one is refused.
// A refused commitment posts nothing; the approval that made the batch
// 'approving' is taken back (it is pending again) and the error is a
// conflict with the amounts. An approver of the budget role who asked to
// force it commits beyond, audited. A commitment of an earlier round of
// the batch's approval still standing (its take-back was cut short) is
// given back first.
func (w *Batches) commitBudget(ctx context.Context, b payments.Batch, by payments.Actor, a approval) error {
	if w.budget == nil || !payments.AccruesOnApproval(b) {
		return nil
	}
	if b.ApprovedAt.IsZero() {
		return fmt.Errorf("batch %s is %s with no time of approval: its commitment cannot be named", b.ID, b.Status)
	}
	pos, err := w.budget.Positions(ctx, payments.BudgetYear(b))
	if err != nil {
		return err
	}
	schemes := payments.CommittedSchemes(b, pos, w.enforce)
	if len(schemes) == 0 {
		return nil
	}
	if err := w.budget.SetUp(ctx); err != nil {
		return err
	}
	e := payments.CommitmentPosting(b, schemes, !a.forced)
	if err := w.giveBackStale(ctx, b, e.IdempotencyKey); err != nil {
		return err
	}
	entry, err := w.ledger.Post(ctx, e)
	var fe *ledger.FloorError
	if errors.As(err, &fe) {
		refused := payments.CommitmentRefused(b, fe)
		if !a.override.Force {
			if rerr := w.steps.RefuseApproval(ctx, b.ID, by, refused.Error()); rerr != nil {
				return fmt.Errorf("%s (and taking back the approval failed: %v; approve again to finish)", refused.Error(), rerr)
			}
			return refused
		}
		if err := w.budget.Overridden(ctx, b.ID, by, a.override.Reason, refused.Error()); err != nil {
			return err
		}
		e.Floors = nil
		entry, err = w.ledger.Post(ctx, e)
	}
	if err != nil {
		return fmt.Errorf("post the commitment: %v", err)
	}
	for _, sc := range schemes {
		if err := w.budget.Committed(ctx, payments.BudgetCommitment{Batch: b.ID, Scheme: sc, Year: payments.BudgetYear(b),
			Amount: b.Totals[sc].Net, Entry: entry.ID}); err != nil {
			return fmt.Errorf("record the commitment of %s: %w", sc, err)
		}
	}
	return nil
}

// giveBackStale gives back what an earlier round of a batch's approval
// committed and did not give back (its take-back was cut short): every
// commitment standing that is not the entry of key, this round's.
func (w *Batches) giveBackStale(ctx context.Context, b payments.Batch, key string) error {
	cs, err := w.budget.Commitments(ctx, b.ID)
	if err != nil || len(cs) == 0 {
		return err
	}
	this, found, _, err := w.steps.PostingOf(ctx, key)
	if err != nil {
		return err
	}
	var stale []payments.BudgetCommitment
	for _, c := range cs {
		if c.Released == nil && c.Spent == nil && (!found || c.Entry != this) {
			stale = append(stale, c)
		}
	}
	return w.giveBackCommitments(ctx, stale, "approval taken back: the batch is approved again")
}

// postSpending turns the commitments of a released batch into spending:
// those of a batch whose release ended, and those of a batch that became
// 'released' when its release was cancelled for what it had not sent
// (the payments withdrawn await a reissue, which commits nothing again).
// Each spending is posted once (its key), so that it may run again.
func (w *Batches) postSpending(ctx context.Context, b payments.Batch) error {
	if w.budget == nil {
		return nil
	}
	cs, err := w.budget.Commitments(ctx, b.ID)
	if err != nil {
		return err
	}
	at := b.Workflow.ReleasedAt
	if at.IsZero() {
		at = w.stamp()
	}
	for _, c := range cs {
		if c.Spent != nil || c.Released != nil {
			continue
		}
		e, err := w.ledger.Post(ctx, payments.SpendingPosting(b.ID, c.Scheme, c.Year, c.Amount, at))
		if err != nil {
			return fmt.Errorf("spend budget %s: %w", c.Scheme, err)
		}
		if err := w.budget.MarkSpent(ctx, b.ID, c.Scheme, e.ID); err != nil {
			return err
		}
	}
	return nil
}

// giveBack gives back what a batch committed (and spent, if its release
// was withdrawn whole), by reversing those entries: when it is cancelled,
// or when its approval is taken back.
func (w *Batches) giveBack(ctx context.Context, id uuid.UUID, reason string) error {
	if w.budget == nil {
		return nil
	}
	cs, err := w.budget.Commitments(ctx, id)
	if err != nil {
		return err
	}
	return w.giveBackCommitments(ctx, cs, reason)
}

// giveBackCommitments reverses the spending and the commitment of each of
// cs not given back yet, and records the reversal. The schemes of one
// round share its entry, reversed once. A reversal made by an earlier
// call cut short (its key is taken) is found and recorded.
func (w *Batches) giveBackCommitments(ctx context.Context, cs []payments.BudgetCommitment, reason string) error {
	reversed := map[uuid.UUID]uuid.UUID{}
	for _, c := range cs {
		if c.Released != nil {
			continue
		}
		if c.Spent != nil {
			if _, err := w.reverseOnce(ctx, *c.Spent, reason); err != nil {
				return fmt.Errorf("give back the spending of %s: %w", c.Scheme, err)
			}
		}
		r, ok := reversed[c.Entry]
		if !ok {
			var err error
			if r, err = w.reverseOnce(ctx, c.Entry, reason); err != nil {
				return fmt.Errorf("give back the commitment of %s: %w", c.Scheme, err)
			}
			reversed[c.Entry] = r
		}
		if err := w.budget.MarkReleased(ctx, c.Batch, c.Scheme, r); err != nil {
			return err
		}
	}
	return nil
}

// reverseOnce reverses a budget entry under its give-back key and returns
// the reversal, the one an earlier call made when the key is taken.
func (w *Batches) reverseOnce(ctx context.Context, entry uuid.UUID, reason string) (uuid.UUID, error) {
	key := payments.UncommitKey(entry)
	e, err := w.ledger.Reverse(ctx, ledger.Reversal{EntryID: entry, IdempotencyKey: key, Reason: reason})
	if err == nil {
		return e.ID, nil
	}
	if !errs.Is(err, errs.Conflict) {
		return uuid.Nil, err
	}
	id, found, posted, ferr := w.steps.PostingOf(ctx, key)
	if ferr != nil {
		return uuid.Nil, ferr
	}
	if !found || !posted {
		return uuid.Nil, err
	}
	return id, nil
}

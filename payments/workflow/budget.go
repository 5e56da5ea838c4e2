package workflow

import (
	"context"
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
	}
	if _, err := payments.CheckReason("note", note, false); err != nil {
		return payments.Batch{}, err
	}
	if err := w.checkBudget(ctx, id, by, o); err != nil {
		return payments.Batch{}, err
	}
	return w.approve(ctx, id, by, note)
}

// checkBudget refuses an approval of a pending batch beyond its budget,
// unless forced (then audited).
func (w *Batches) checkBudget(ctx context.Context, id uuid.UUID, by payments.Actor, o payments.BudgetOverride) error {
	if w.budget == nil {
		return nil
	}
	b, err := w.steps.Batch(ctx, id)
	if err != nil {
		return err
	}
	if b.Status != payments.BatchPending {
		return nil // Approve says what is wrong, or finishes an approval
	}
	pos, err := w.budget.Positions(ctx, payments.BudgetYear(b))
	if err != nil {
		return fmt.Errorf("approve batch %s: %w", id, err)
	}
	refused := payments.CheckBatchBudget(b, pos, w.enforce)
	if refused == nil {
		return nil
	}
	if !o.Force {
		return refused
	}
	return w.budget.Overridden(ctx, id, by, o.Reason, refused.Error())
}

// postCommitments commits the net of each scheme of an approved batch
// against its year's appropriation (payments.CommitmentPosting).
func (w *Batches) postCommitments(ctx context.Context, b payments.Batch) error {
	if w.budget == nil || !payments.AccruesOnApproval(b) {
		return nil
	}
	year := payments.BudgetYear(b)
	pos, err := w.budget.Positions(ctx, year)
	if err != nil {
		return err
	}
	for _, sc := range payments.Schemes {
		t, ok := b.Totals[sc]
		if !ok || !t.Net.IsPositive() || !payments.CommitsBudget(pos[sc], w.enforce) {
			continue
		}
		if err := w.budget.SetUp(ctx); err != nil {
			return err
		}
		e, err := w.ledger.Post(ctx, payments.CommitmentPosting(b.ID, sc, year, t.Net, b.ApprovedAt))
		if err != nil {
			return fmt.Errorf("commit budget %s: %w", sc, err)
		}
		if err := w.budget.Committed(ctx, payments.BudgetCommitment{Batch: b.ID, Scheme: sc, Year: year, Amount: t.Net, Entry: e.ID}); err != nil {
			return fmt.Errorf("commit budget %s: %w", sc, err)
		}
	}
	return nil
}

// postSpending turns the commitments of a released batch into spending.
func (w *Batches) postSpending(ctx context.Context, b payments.Batch) error {
	if w.budget == nil {
		return nil
	}
	cs, err := w.budget.Commitments(ctx, b.ID)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Spent != nil || c.Released != nil {
			continue
		}
		e, err := w.ledger.Post(ctx, payments.SpendingPosting(b.ID, c.Scheme, c.Year, c.Amount, b.Workflow.ReleasedAt))
		if err != nil {
			return fmt.Errorf("spend budget %s: %w", c.Scheme, err)
		}
		if err := w.budget.MarkSpent(ctx, b.ID, c.Scheme, e.ID); err != nil {
			return err
		}
	}
	return nil
}

// giveBack gives back what a cancelled batch committed (and spent, if its
// release was withdrawn whole), by reversing those entries.
func (w *Batches) giveBack(ctx context.Context, b payments.Batch, reason string) error {
	if w.budget == nil {
		return nil
	}
	cs, err := w.budget.Commitments(ctx, b.ID)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Released != nil {
			continue
		}
		if c.Spent != nil {
			if _, err := w.ledger.Reverse(ctx, ledger.Reversal{EntryID: *c.Spent, IdempotencyKey: payments.UncommitKey(*c.Spent),
				Reason: "batch cancelled: " + reason}); err != nil && !errs.Is(err, errs.Conflict) {
				return fmt.Errorf("give back the spending of %s: %w", c.Scheme, err)
			}
		}
		e, err := w.ledger.Reverse(ctx, ledger.Reversal{EntryID: c.Entry, IdempotencyKey: payments.UncommitKey(c.Entry),
			Reason: "batch cancelled: " + reason})
		if errs.Is(err, errs.Conflict) {
			continue // given back already; its mark follows on a retry
		}
		if err != nil {
			return fmt.Errorf("give back the commitment of %s: %w", c.Scheme, err)
		}
		if err := w.budget.MarkReleased(ctx, b.ID, c.Scheme, e.ID); err != nil {
			return err
		}
	}
	return nil
}

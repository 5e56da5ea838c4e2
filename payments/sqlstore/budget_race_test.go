package sqlstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sqlstore"
)

// gatedBudget holds the first n reads of the budget's positions until all
// n have come: the checks made before the approvals of n batches all read
// the same available funds, as when they are asked for at the same moment.
type gatedBudget struct {
	*sqlstore.BudgetStore
	mu      sync.Mutex
	waiting int
	open    chan struct{}
}

func newGatedBudget(bs *sqlstore.BudgetStore, n int) *gatedBudget {
	return &gatedBudget{BudgetStore: bs, waiting: n, open: make(chan struct{})}
}

func (g *gatedBudget) Positions(ctx context.Context, year int) (map[payments.Scheme]payments.BudgetPosition, error) {
	pos, err := g.BudgetStore.Positions(ctx, year)
	g.mu.Lock()
	gated := g.waiting > 0
	if gated {
		g.waiting--
		if g.waiting == 0 {
			close(g.open)
		}
	}
	g.mu.Unlock()
	if gated {
		<-g.open
	}
	return pos, err
}

// entries counts the ledger entries whose key starts with prefix.
func (e *approvalEnv) entries(prefix string) int {
	e.t.Helper()
	return e.count(`SELECT count(*) FROM entries WHERE idempotency_key LIKE $1 || '%'`, prefix)
}

// Two batches of ADA 2026 that each fit in what is available, but not
// together, approved at the same moment (both checks read the same
// available funds): the commitment, checked in its own transaction,
// approves exactly one; the other is refused whole with the amounts, is
// pending again and nothing of it is posted. Its approver of the budget
// role may then force it, audited.
func TestConcurrentApprovalsCannotBothOverspend(t *testing.T) {
	e, bs := budgetEnv(t, false)
	workedExamples(e.runEnv)
	e.at("2026-11-05T07:00:00Z")
	appropriate(t, e, bs, "2600.00")
	oct := e.runADA("2026-10") // 411.80
	workedExamplesNovember(e.runEnv)
	e.at("2026-12-05T07:00:00Z")
	nov := e.runADA("2026-11") // 2557.40
	for _, id := range []uuid.UUID{oct.BatchID, nov.BatchID} {
		if _, err := e.ap.Submit(e.ctx, id, paul, ""); err != nil {
			t.Fatal(err)
		}
	}
	e.ap.SetBudget(newGatedBudget(bs, 2), false)

	ids := []uuid.UUID{oct.BatchID, nov.BatchID}
	nets := map[uuid.UUID]string{oct.BatchID: "411.80", nov.BatchID: "2557.40"}
	errsOf := make([]error, 2)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errsOf[i] = e.ap.Approve(e.ctx, id, ana, "")
		}()
	}
	wg.Wait()
	if (errsOf[0] == nil) == (errsOf[1] == nil) {
		t.Fatalf("approvals: %v / %v, want exactly one refused", errsOf[0], errsOf[1])
	}
	won, lost, lostErr := ids[0], ids[1], errsOf[1]
	if errsOf[0] != nil {
		won, lost, lostErr = ids[1], ids[0], errsOf[0]
	}
	t.Logf("approved %s, refused: %v", nets[won], lostErr)
	avail := eur("2600.00").Sub(eur(nets[won]))
	over := eur(nets[lost]).Sub(avail)
	wantCode(t, "the approval beyond what the other left", lostErr, errs.Conflict,
		"ada 2026: the batch commits "+nets[lost]+", "+avail.StringFixed(2)+" available ("+over.StringFixed(2)+" over)")
	if b := e.batch(won); b.Status != payments.BatchApproved {
		t.Errorf("winner is %s", b.Status)
	}
	b := e.batch(lost)
	if b.Status != payments.BatchPending || len(b.Workflow.Approvals) != 0 || !b.ApprovedAt.IsZero() {
		t.Errorf("refused batch: %s, %d approvals, approved at %v", b.Status, len(b.Workflow.Approvals), b.ApprovedAt)
	}
	// Nothing of the refused approval is posted or recorded as paid.
	for what, n := range map[string]int{
		"accruals":        e.entries("accrual:" + lost.String()),
		"commitments":     e.entries("budget:commit:" + lost.String()),
		"commitment rows": e.count(`SELECT count(*) FROM budget_commitments WHERE batch_id = $1`, lost),
		"paid periods":    e.count(`SELECT count(*) FROM period_payments WHERE batch_id = $1`, lost),
	} {
		if n != 0 {
			t.Errorf("%d %s of the refused batch", n, what)
		}
	}
	wantAmount(t, "ADA expense", e.balance(ledger.ExpenseADA), nets[won])
	wantAmount(t, "committed", e.budget(payments.BudgetCommitted), nets[won])
	wantAmount(t, "available", e.budget(payments.BudgetAvailable), avail.StringFixed(2))
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action = 'approval_refused' AND object_id = $1 AND actor = $2
		AND from_status = 'approving' AND to_status = 'pending_approval' AND reason LIKE '%over)%'`, lost.String(), ana.Name); n != 1 {
		t.Errorf("%d audit events of the refusal", n)
	}
	e.verify()

	// Forced by an approver of the budget role: beyond, audited once.
	boss := payments.Actor{Name: "bea.budget", Roles: []string{payments.RoleApprover, "budget"}}
	if _, err := e.ap.Approve(e.ctx, lost, boss, ""); !errs.Is(err, errs.Conflict) {
		t.Fatalf("approval without force: %v", err)
	}
	b, err := e.ap.ApproveOverriding(e.ctx, lost, boss, "", payments.BudgetOverride{Force: true, Reason: "supplementary appropriation voted"})
	if err != nil || b.Status != payments.BatchApproved {
		t.Fatalf("forced approval: %v %+v", err, b)
	}
	wantAmount(t, "committed after the forced approval", e.budget(payments.BudgetCommitted), "2969.20")
	wantAmount(t, "available after the forced approval", e.budget(payments.BudgetAvailable), "-369.20")
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action = 'force_budget' AND object_id = $1 AND actor = 'bea.budget'`,
		lost.String()); n != 1 {
		t.Errorf("%d audit events of the forced approval", n)
	}
	e.verify()
}

// The floor is checked when the commitment is posted, whatever the check
// before the approval read: an approval forced while the check passed,
// whose commitment then goes beyond, is audited when it does.
func TestForcedApprovalIsAuditedWhenTheCommitmentGoesBeyond(t *testing.T) {
	e, bs := budgetEnv(t, false)
	workedExamples(e.runEnv)
	e.at("2026-11-05T07:00:00Z")
	appropriate(t, e, bs, "2600.00")
	oct := e.runADA("2026-10")
	workedExamplesNovember(e.runEnv)
	e.at("2026-12-05T07:00:00Z")
	nov := e.runADA("2026-11")
	for _, id := range []uuid.UUID{oct.BatchID, nov.BatchID} {
		if _, err := e.ap.Submit(e.ctx, id, paul, ""); err != nil {
			t.Fatal(err)
		}
	}
	e.ap.SetBudget(newGatedBudget(bs, 2), false)
	boss := payments.Actor{Name: "bea.budget", Roles: []string{payments.RoleApprover, "budget"}}
	force := payments.BudgetOverride{Force: true, Reason: "supplementary appropriation voted"}
	var wg sync.WaitGroup
	errsOf := make([]error, 2)
	for i, id := range []uuid.UUID{oct.BatchID, nov.BatchID} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errsOf[i] = e.ap.ApproveOverriding(e.ctx, id, boss, "", force)
		}()
	}
	wg.Wait()
	if errsOf[0] != nil || errsOf[1] != nil {
		t.Fatalf("forced approvals: %v / %v", errsOf[0], errsOf[1])
	}
	wantAmount(t, "available", e.budget(payments.BudgetAvailable), "-369.20")
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action = 'force_budget' AND reason = $1
		AND details->>'refused' LIKE '%over)%'`, force.Reason); n != 1 {
		t.Errorf("%d audit events of the forced commitment, want 1", n)
	}
	e.verify()
}

// An approval taken back because its lines were computed on what has
// since changed gives back the commitment it had just posted; approved
// again, the batch commits in a new round, under a new key.
func TestApprovalTakenBackGivesItsCommitmentBack(t *testing.T) {
	e, bs := budgetEnv(t, false)
	e.at("2026-10-03T09:00:00Z")
	e.apply(event(eid("s1"), payments.RightsOpened, "H1", ts("2026-10-03T09:00:00Z"), opened("2026-10-03", 1, 0, false)))
	e.at("2026-11-05T07:00:00Z")
	appropriate(t, e, bs, "10000.00")
	oct := e.runADA("2026-10")
	for _, step := range []func() error{
		func() error { _, err := e.ap.Submit(e.ctx, oct.BatchID, paul, ""); return err },
		func() error { _, err := e.ap.Approve(e.ctx, oct.BatchID, ana, ""); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	e.at("2026-11-10T09:00:00Z")
	e.apply(event(eid("s2"), payments.HouseholdChanged, "H1", ts("2026-11-10T09:00:00Z"), map[string]any{"from": "2026-10-25", "adults": 1, "children": 1}))
	e.at("2026-11-12T07:00:00Z")
	again := e.runADA("2026-10") // 23.80 more for October
	e.at("2026-12-05T07:00:00Z")
	nov := e.runADA("2026-11") // the same 23.80, and November's 528.00
	for _, id := range []uuid.UUID{nov.BatchID, again.BatchID} {
		if _, err := e.ap.Submit(e.ctx, id, paul, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ap.Approve(e.ctx, nov.BatchID, ana, ""); err != nil {
		t.Fatal(err)
	}
	wantAmount(t, "committed", e.budget(payments.BudgetCommitted), "963.60")

	e.at("2026-12-05T08:00:00Z")
	_, err := e.ap.Approve(e.ctx, again.BatchID, ana, "")
	wantCode(t, "approving the stale batch", err, errs.Conflict, "run the period again")
	if b := e.batch(again.BatchID); b.Status != payments.BatchDraft {
		t.Fatalf("stale batch: %s", b.Status)
	}
	wantAmount(t, "committed after the take-back", e.budget(payments.BudgetCommitted), "963.60")
	wantAmount(t, "available after the take-back", e.budget(payments.BudgetAvailable), "9036.40")
	prefix := "budget:commit:" + again.BatchID.String()
	if n := e.entries(prefix); n != 1 {
		t.Fatalf("%d commitments of the stale batch, want the one given back", n)
	}
	if n := e.count(`SELECT count(*) FROM budget_commitments c JOIN entries r ON r.id = c.released_entry
		WHERE c.batch_id = $1 AND r.reverses = c.entry_id`, again.BatchID); n != 1 {
		t.Errorf("%d commitments recorded as given back", n)
	}

	// November cancelled, the 23.80 is owed by the stale batch again: its
	// new approval commits under a new key.
	if _, err := e.ap.Cancel(e.ctx, nov.BatchID, paul, "wrong rates"); err != nil {
		t.Fatal(err)
	}
	wantAmount(t, "committed after November's cancellation", e.budget(payments.BudgetCommitted), "411.80")
	e.at("2026-12-06T08:00:00Z")
	if _, err := e.ap.Submit(e.ctx, again.BatchID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if b, err := e.ap.Approve(e.ctx, again.BatchID, ana, ""); err != nil || b.Status != payments.BatchApproved {
		t.Fatalf("approved again: %v %+v", err, b)
	}
	wantAmount(t, "committed after the new round", e.budget(payments.BudgetCommitted), "435.60")
	if n := e.entries(prefix); n != 2 {
		t.Errorf("%d commitments of the batch, want one per round", n)
	}
	if n := e.count(`SELECT count(*) FROM budget_commitments c JOIN entries k ON k.id = c.entry_id
		WHERE c.batch_id = $1 AND c.released_entry IS NULL AND k.idempotency_key LIKE $2 || '%'`, again.BatchID, prefix); n != 1 {
		t.Errorf("%d standing commitments of the new round", n)
	}
	e.verify()
}

// A release cut off and then cancelled for what it has not sent ends
// 'released' with the file the bank got: its commitment is spent whole,
// the payments withdrawn awaiting a reissue that commits nothing again.
func TestReleaseCancelledPartWaySpendsItsCommitment(t *testing.T) {
	e, bs := budgetEnvWith(t, false, sqlstore.ApprovalConfig{MaxFileTransactions: 3})
	nov := e.november()
	appropriate(t, e, bs, "5000.00")
	if _, err := e.ap.Submit(e.ctx, nov.ID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Approve(e.ctx, nov.ID, ana, ""); err != nil {
		t.Fatal(err)
	}
	wantAmount(t, "committed", e.budget(payments.BudgetCommitted), "2557.40")
	// Cut off when the second file is queued: the first is queued, and the
	// sender then sends it.
	for _, sql := range []string{`CREATE FUNCTION cut_off() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'cut off'; END $$`,
		`CREATE TRIGGER cut_off BEFORE UPDATE ON payment_files FOR EACH ROW WHEN (NEW.status = 'queued' AND NEW.part > 1) EXECUTE FUNCTION cut_off()`} {
		if _, err := e.pool.Exec(e.ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ap.Release(e.ctx, nov.ID, ana); err == nil || !strings.Contains(err.Error(), "release again") {
		t.Fatalf("release cut off: %v", err)
	}
	if _, err := e.pool.Exec(e.ctx, `DROP TRIGGER cut_off ON payment_files`); err != nil {
		t.Fatal(err)
	}
	wantAmount(t, "committed while releasing", e.budget(payments.BudgetCommitted), "2557.40")
	if _, err := e.pool.Exec(e.ctx, `UPDATE payment_files SET status = 'sent', sent_at = now(), attempts = 1 WHERE batch_id = $1 AND part = 1`,
		nov.ID); err != nil {
		t.Fatal(err)
	}
	b, err := e.ap.Cancel(e.ctx, nov.ID, paul, "second file to be checked")
	if err != nil || b.Status != payments.BatchReleased {
		t.Fatalf("cancel: %v %+v, want released with the file sent", err, b)
	}
	wantAmount(t, "committed after", e.budget(payments.BudgetCommitted), "0")
	wantAmount(t, "spent after", e.budget(payments.BudgetSpent), "2557.40")
	wantAmount(t, "available after", e.budget(payments.BudgetAvailable), "2442.60")
	if n := e.count(`SELECT count(*) FROM budget_commitments WHERE batch_id = $1 AND spent_entry IS NOT NULL`, nov.ID); n != 1 {
		t.Errorf("%d commitments recorded as spent", n)
	}
	e.verify()
}

package sqlstore_test

import (
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sqlstore"
)

// budgetEnv is an approval environment with budget control on.
func budgetEnv(t *testing.T, enforce bool) (*approvalEnv, *sqlstore.BudgetStore) {
	t.Helper()
	return budgetEnvWith(t, enforce, sqlstore.ApprovalConfig{})
}

// budgetEnvWith is budgetEnv with an approval configuration.
func budgetEnvWith(t *testing.T, enforce bool, cfg sqlstore.ApprovalConfig) (*approvalEnv, *sqlstore.BudgetStore) {
	t.Helper()
	e := newApprovalEnv(t, cfg)
	bs := sqlstore.NewBudgetStore(e.pool, e.ledger, e.clock)
	if err := bs.SetUp(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.ap.SetBudget(bs, enforce)
	return e, bs
}

// appropriate records and confirms an initial appropriation of ADA 2026.
func appropriate(t *testing.T, e *approvalEnv, bs *sqlstore.BudgetStore, amount string) {
	t.Helper()
	a, err := bs.Record(e.ctx, payments.Amendment{Scheme: payments.SchemeADA, Year: 2026, Kind: payments.AmendmentInitial,
		Amount: decimal.RequireFromString(amount), Reference: "LFI 2026", Reason: "programme 303"},
		payments.Actor{Name: "claire", Roles: []string{"budget"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Confirm(e.ctx, a.ID, payments.Actor{Name: "marc", Roles: []string{"budget"}}); err != nil {
		t.Fatal(err)
	}
}

func (e *approvalEnv) budget(control string) decimal.Decimal {
	e.t.Helper()
	b, err := e.ledger.Balance(e.ctx, payments.BudgetAccount(control, payments.SchemeADA, 2026), ledger.AsOf{})
	if errs.Is(err, errs.NotFound) {
		return decimal.Zero
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return b.Balance
}

func TestApprovalBeyondTheAppropriationIsRefusedOrForced(t *testing.T) {
	e, bs := budgetEnv(t, false)
	workedExamples(e.runEnv)
	e.at("2026-11-05T07:00:00Z")
	appropriate(t, e, bs, "400.00")
	oct := e.runADA("2026-10")
	if _, err := e.ap.Submit(e.ctx, oct.BatchID, paul, ""); err != nil {
		t.Fatal(err)
	}
	// 411.80 against 400.00: refused whole, nothing posted.
	_, err := e.ap.Approve(e.ctx, oct.BatchID, ana, "")
	wantCode(t, "approval beyond the budget", err, errs.Conflict, "ada 2026: the batch commits 411.80, 400.00 available (11.80 over)")
	if b := e.batch(oct.BatchID); b.Status != payments.BatchPending || len(b.Workflow.Approvals) != 0 {
		t.Fatalf("refused approval left %s with %d approvals", b.Status, len(b.Workflow.Approvals))
	}
	wantAmount(t, "expense after refusal", e.balance(ledger.ExpenseADA), "0")
	wantAmount(t, "committed after refusal", e.budget(payments.BudgetCommitted), "0")

	// Forcing needs the budget role and a reason.
	_, err = e.ap.ApproveOverriding(e.ctx, oct.BatchID, ana, "", payments.BudgetOverride{Force: true, Reason: "urgent"})
	wantCode(t, "forced by an approver without the budget role", err, errs.Forbidden, "budget role")
	boss := payments.Actor{Name: "bea.budget", Roles: []string{payments.RoleApprover, "budget"}}
	_, err = e.ap.ApproveOverriding(e.ctx, oct.BatchID, boss, "", payments.BudgetOverride{Force: true, Reason: " "})
	wantCode(t, "forced without a reason", err, errs.Invalid, "budget_reason")
	b, err := e.ap.ApproveOverriding(e.ctx, oct.BatchID, boss, "", payments.BudgetOverride{Force: true, Reason: "supplementary appropriation under way"})
	if err != nil || b.Status != payments.BatchApproved {
		t.Fatalf("forced approval: %v %+v", err, b)
	}
	wantAmount(t, "committed", e.budget(payments.BudgetCommitted), "411.80")
	wantAmount(t, "available", e.budget(payments.BudgetAvailable), "-11.80")
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action = 'force_budget' AND object_id = $1 AND actor = 'bea.budget'
		AND reason = 'supplementary appropriation under way'`, oct.BatchID.String()); n != 1 {
		t.Errorf("%d audit events of the forced approval", n)
	}

	// Cancelling gives the commitment back.
	if _, err := e.ap.Cancel(e.ctx, oct.BatchID, paul, "wrong household data"); err != nil {
		t.Fatal(err)
	}
	wantAmount(t, "committed after cancel", e.budget(payments.BudgetCommitted), "0")
	wantAmount(t, "available after cancel", e.budget(payments.BudgetAvailable), "400.00")
	wantAmount(t, "spent after cancel", e.budget(payments.BudgetSpent), "0")
	e.verify()
}

func TestApprovalWithinTheAppropriationCommitsAndReleaseSpends(t *testing.T) {
	e, bs := budgetEnv(t, true)
	workedExamples(e.runEnv)
	e.at("2026-11-05T07:00:00Z")
	oct := e.runADA("2026-10")
	if _, err := e.ap.Submit(e.ctx, oct.BatchID, paul, ""); err != nil {
		t.Fatal(err)
	}
	// Enforced: no appropriation is refused like an overrun.
	_, err := e.ap.Approve(e.ctx, oct.BatchID, ana, "")
	wantCode(t, "approval without appropriation", err, errs.Conflict, "ada 2026 has no appropriation (the batch commits 411.80)")
	appropriate(t, e, bs, "1000.00")
	if _, err := e.ap.Approve(e.ctx, oct.BatchID, ana, ""); err != nil {
		t.Fatal(err)
	}
	wantAmount(t, "committed", e.budget(payments.BudgetCommitted), "411.80")
	wantAmount(t, "available", e.budget(payments.BudgetAvailable), "588.20")
	if _, err := e.ap.Release(e.ctx, oct.BatchID, ana); err != nil {
		t.Fatal(err)
	}
	wantAmount(t, "committed after release", e.budget(payments.BudgetCommitted), "0")
	wantAmount(t, "spent after release", e.budget(payments.BudgetSpent), "411.80")
	got, err := bs.Appropriations(e.ctx, 2026)
	if err != nil {
		t.Fatal(err)
	}
	wantAmount(t, "appropriation", got[0].Appropriation, "1000.00")
	// As of November, one month left: the run is October's 411.80 over
	// three months, 137.27.
	rep, err := bs.Report(e.ctx, 2026)
	if err != nil {
		t.Fatal(err)
	}
	ada := rep.Lines[0]
	wantAmount(t, "monthly run", ada.MonthlyRun, "137.27")
	wantAmount(t, "forecast", ada.Forecast, "549.07")
	wantAmount(t, "available in the report", ada.Available, "588.20")
	if ada.RunsOut != "" || rep.AsOf.String() != "2026-11" {
		t.Errorf("report %+v", rep)
	}
	// Settled by the bank, the batch still counts in the run.
	if _, err := e.pool.Exec(e.ctx, `UPDATE batches SET status = 'settled' WHERE id = $1`, oct.BatchID); err != nil {
		t.Fatal(err)
	}
	if rep, err := bs.Report(e.ctx, 2026); err != nil || !rep.Lines[0].MonthlyRun.Equal(eur("137.27")) {
		t.Errorf("run of a settled batch: %v %+v", err, rep.Lines)
	}
	if _, err := bs.Report(e.ctx, 1999); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("report of 1999: %v", err)
	}
	e.verify()
}

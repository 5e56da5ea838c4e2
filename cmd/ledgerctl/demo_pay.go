package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/banking"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank/banksim"
	"github.com/ofii/allowances/payments/sepa"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/payments/workflow"
	"github.com/ofii/allowances/reconcile"
	reconsql "github.com/ofii/allowances/reconcile/sqlstore"
)

// The people of the demonstration.
var (
	demoPreparer  = payments.Actor{Name: "camille.preparer", Roles: []string{payments.RolePreparer}, Address: "demo"}
	demoApprover1 = payments.Actor{Name: "nadia.approver", Roles: []string{payments.RoleApprover}, Address: "demo"}
	demoApprover2 = payments.Actor{Name: "yann.approver", Roles: []string{payments.RoleApprover}, Address: "demo"}
)

// demoFunding is what the State puts on the disbursement account, in the
// ledger and at the bank alike.
var demoFunding = decimal.RequireFromString("500000.00")

// demoClosed is the household whose account the bank finds closed when
// the file arrives (rejected in the status report); demoReturned the one
// whose bank returns the payment demoReturnDays business days after
// booking it.
const (
	demoClosed     = 9
	demoReturned   = 17
	demoReturnDays = 3
)

// demoFee is what the bank charges per payment file.
var demoFee = decimal.RequireFromString("1.50")

// pay takes the batches through approval and release to an embedded bank
// simulator, applies its answers, pays a rejected payment again and fetches
// the statement.
func (d *demo) pay(ctx context.Context, svc ledger.Service, runs *paysql.RunStore, batches ...payments.Batch) error {
	cfg, err := d.a.config()
	if err != nil {
		return err
	}
	// The demo pays through a simulator, always: it is dev mode.
	cfg.Dev, cfg.BankURL, cfg.BankEmbeddedAddr = true, "", "127.0.0.1:0"
	cfg.SecondApprovalAbove = decimal.RequireFromString("10000.00") // the ADA batch needs two approvers
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	bk, err := banking.Open(cfg, quiet, nil, func(c *banksim.Config) {
		c.OpeningBalance = demoFunding
		c.RejectIBANs = map[string]bool{demoIBAN(demoClosed): true}
		c.ReturnIBANs = map[string]bool{demoIBAN(demoReturned): true}
		c.FeePerFile = demoFee
	})
	if err != nil {
		return err
	}
	defer bk.Close()
	store, err := paysql.NewApprovalStore(d.a.pool, runs, banking.ApprovalConfig(cfg, bk.Gateway))
	if err != nil {
		return err
	}
	ap := workflow.New(store, svc, banking.DeliveryConfig(cfg, bk.Gateway, quiet))
	// Budget control as production has it: a scheme without an
	// appropriation would be refused.
	budget := d.budgetStore(svc)
	ap.SetBudget(budget, true)
	e, err := svc.Post(ctx, ledger.NewEntry{IdempotencyKey: "demo-funding", EffectiveDate: payments.LegalDay(d.now()),
		Description: "State funding of the allowances", SourceRef: "demo", Lines: []ledger.Line{
			{Account: ledger.BankMain, Amount: demoFunding}, {Account: ledger.StateFunding, Amount: demoFunding.Neg()}}})
	if err != nil {
		return fmt.Errorf("funding: %w", err)
	}
	d.step("the State funds the disbursement account: %s (entry %s)", cli.Amount(demoFunding), e.ID.String()[:8])

	// Four eyes.
	for _, b := range batches {
		sb, err := ap.Submit(ctx, b.ID, demoPreparer, "")
		if err != nil {
			return err
		}
		d.step("%s submits the %s batch %s (%s gross): %d approval(s) needed", demoPreparer.Name, b.Kind, b.ID.String()[:8],
			cli.Amount(b.Total.Gross), sb.Workflow.ApprovalsNeeded)
	}
	if err := d.appropriate(ctx, budget, batches...); err != nil {
		return err
	}
	self := payments.Actor{Name: demoPreparer.Name, Roles: []string{payments.RolePreparer, payments.RoleApprover}}
	if _, err := ap.Approve(ctx, batches[0].ID, self, ""); err == nil {
		return fmt.Errorf("the preparer approved their own batch")
	} else {
		d.step("refused: %v", err)
	}
	for _, b := range batches {
		for _, who := range []payments.Actor{demoApprover1, demoApprover2} {
			cur, err := runs.Batch(ctx, b.ID)
			if err != nil {
				return err
			}
			if cur.Status != payments.BatchPending {
				break
			}
			ab, err := ap.Approve(ctx, b.ID, who, "")
			if err != nil {
				return err
			}
			d.step("%s approves the %s batch: %s", who.Name, b.Kind, ab.Status)
		}
	}
	d.balances(ctx, svc, "after approval")
	if err := d.committed(ctx, budget); err != nil {
		return err
	}

	// Release and the bank.
	for _, b := range batches {
		rb, err := ap.Release(ctx, b.ID, demoApprover1)
		if err != nil {
			return err
		}
		d.step("%s releases the %s batch: %s, execution date %s", demoApprover1.Name, b.Kind, rb.Status, rb.Workflow.ExecutionDate)
	}
	if err := d.files(ctx, ap, batches...); err != nil {
		return err
	}
	d.balances(ctx, svc, "after release")
	sent, err := ap.SendQueued(ctx)
	if err != nil {
		return err
	}
	d.step("outbox: %d file(s) sent to the bank at %s", sent.Sent, bk.URL)
	got, err := ap.FetchReports(ctx)
	if err != nil {
		return err
	}
	d.step("status reports: %d applied, %d payments accepted, %d rejected", got.Reports, got.Accepted, got.Rejected)
	excs, err := ap.Exceptions(ctx, payments.ExceptionFilter{Status: payments.ExceptionOpen})
	if err != nil {
		return err
	}
	for _, x := range excs {
		d.step("exception: %s %s %s to %s rejected: %s", x.BeneficiaryID, x.Scheme, cli.Amount(x.Amount), mask.MaskIBAN(x.Payee.IBAN), x.Reason)
	}
	d.balances(ctx, svc, "after the status reports")

	// The rejected payment paid again to a corrected account.
	if len(excs) > 0 {
		x, err := ap.CorrectPayee(ctx, excs[0].ID, demoPreparer, payments.Payee{Name: excs[0].Payee.Name, IBAN: demoIBAN(100000 + demoClosed)},
			"new account given by the beneficiary")
		if err != nil {
			return err
		}
		d.step("%s corrects the payee of %s: %s", demoPreparer.Name, x.BeneficiaryID, mask.MaskIBAN(x.Corrected.IBAN))
		re, err := ap.Reissue(ctx, demoPreparer, "")
		if err != nil {
			return err
		}
		if _, err := ap.Submit(ctx, re.ID, demoPreparer, ""); err != nil {
			return err
		}
		if _, err := ap.Approve(ctx, re.ID, demoApprover2, ""); err != nil {
			return err
		}
		if _, err := ap.Release(ctx, re.ID, demoApprover2); err != nil {
			return err
		}
		if _, err := ap.SendQueued(ctx); err != nil {
			return err
		}
		got, err := ap.FetchReports(ctx)
		if err != nil {
			return err
		}
		batches = append(batches, re)
		d.step("reissue batch %s (%s) submitted, approved, released and accepted by the bank (%d accepted)", re.ID.String()[:8],
			cli.Amount(re.Total.Net), got.Accepted)
	}
	for _, b := range batches {
		cur, err := runs.Batch(ctx, b.ID)
		if err != nil {
			return err
		}
		d.step("batch %s (%s): %s", b.ID.String()[:8], b.Kind, cur.Status)
	}

	// The year's budget after the month: what the batches committed and
	// their release spent.
	if err := d.budget(ctx, budget); err != nil {
		return err
	}

	// The statements: the day the bank booked the payments, and the day it
	// returned the payment to a closed account.
	recStore, err := reconsql.New(d.a.pool, svc, banking.ReconcileConfig(cfg, quiet))
	if err != nil {
		return err
	}
	rec := banking.Reconciliation(recStore, svc, banking.StatementFetcher(cfg, bk.Gateway, recStore))
	files, err := ap.Files(ctx, batches[0].ID)
	if err != nil || len(files) == 0 {
		return fmt.Errorf("the ADA batch has no files: %v", err)
	}
	booked := files[0].ExecutionDate
	returned := sepa.AddBusinessDays(booked, demoReturnDays)
	controller := payments.Actor{Name: "claire.controller", Roles: []string{payments.RoleController}, Address: "demo"}
	for _, day := range []ledger.Date{booked, returned} {
		bk.Sim.SetToday(day)
		res, err := rec.Fetch(ctx, day, controller)
		if err != nil {
			return err
		}
		for _, r := range res {
			var parts []string
			for _, rule := range reconcile.Rules {
				if c, ok := r.Match.Matched[rule]; ok {
					parts = append(parts, fmt.Sprintf("%d by %s", c.Count, rule))
				}
			}
			for _, st := range r.Statements {
				d.step("%s imports the camt.053 statement %s of %s: %d lines; matched %s; %d unmatched", controller.Name, st.StmtID, st.Date,
					st.Lines, strings.Join(parts, ", "), r.Match.Unmatched)
			}
		}
	}
	if err := d.close(ctx, svc); err != nil {
		return err
	}
	report, err := rec.Report(ctx, cfg.DebtorIBAN, returned)
	if err != nil {
		return err
	}
	return d.report(report)
}

// report prints the reconciliation report.
func (d *demo) report(r reconcile.Report) error {
	fmt.Fprintf(d.w, "reconciliation of %s on %s\n\n", mask.MaskIBAN(r.Account), r.Date)
	t := cli.NewTable(d.w, "", "AMOUNT")
	t.Row("statement opening balance", cli.Amount(r.StatementOpening))
	t.Row("statement closing balance", cli.Amount(r.StatementClosing))
	t.Row("bank:main in the ledger", cli.Amount(r.LedgerClosing))
	t.Row("difference", cli.Amount(r.Difference))
	for _, rule := range reconcile.Rules {
		if c, ok := r.Matched[rule]; ok {
			t.Row(fmt.Sprintf("matched by %s (%d lines)", rule, c.Count), cli.Amount(c.Sum))
		}
	}
	t.Row(fmt.Sprintf("unmatched (%d lines)", r.Unmatched.Count), cli.Amount(r.Unmatched.Sum))
	t.Row(fmt.Sprintf("payments in transit (%d)", r.InTransitTotal.Count), cli.Amount(r.InTransitTotal.Sum))
	if err := t.Flush(); err != nil {
		return err
	}
	for _, x := range r.OpenExceptions {
		fmt.Fprintf(d.w, "\nopen exception (%s, %s): %s\n", x.Kind, cli.Amount(x.Amount), x.Reason)
	}
	fmt.Fprintf(d.w, "\n%s\n", r.Verdict)
	return nil
}

// files prints the payment files of the batches.
func (d *demo) files(ctx context.Context, ap payments.PaymentFiles, batches ...payments.Batch) error {
	fmt.Fprintln(d.w)
	t := cli.NewTable(d.w, "FILE", "FORMAT", "PAYMENTS", "TOTAL", "EXECUTION", "STATUS")
	for _, b := range batches {
		fs, err := ap.Files(ctx, b.ID)
		if err != nil {
			return err
		}
		for _, f := range fs {
			t.Row(f.MsgID, f.Format, fmt.Sprint(f.Transactions), cli.Amount(f.Total), f.ExecutionDate.String(), fileStatus(f))
		}
	}
	if err := t.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(d.w)
	return nil
}

// balances prints the accounts the payments move through.
func (d *demo) balances(ctx context.Context, svc ledger.Service, when string) {
	var parts []string
	for _, acc := range []string{ledger.ExpenseADA, ledger.PaymentsInTransit, ledger.BankMain} {
		b, err := svc.Balance(ctx, acc, ledger.AsOf{})
		if err != nil {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s", acc, cli.Amount(b.Natural)))
	}
	tb, err := svc.TrialBalance(ctx, ledger.AsOf{})
	if err == nil {
		payable := decimal.Zero
		for _, r := range tb.Rows {
			if strings.HasPrefix(r.Account, ledger.Payable+":") {
				payable = payable.Add(r.Credit).Sub(r.Debit)
			}
		}
		parts = append(parts, fmt.Sprintf("payable:* %s", cli.Amount(payable)))
	}
	d.step("balances %s: %s", when, strings.Join(parts, ", "))
}

// close seals the books and prints the trial balance and verify.
func (d *demo) close(ctx context.Context, svc ledger.Service) error {
	s, err := svc.Seal(ctx, "end of the demonstration month")
	if err != nil {
		return err
	}
	if s != nil {
		d.step("books sealed: seal %d over %d entries, %s…", s.Seq, s.EntryCount, s.Hash[:16])
	}
	fmt.Fprintln(d.w)
	// The demonstration has no ledgerd: it reads its books itself.
	tb, err := svc.TrialBalance(ctx, ledger.AsOf{})
	if err != nil {
		return fmt.Errorf("trial balance: %w", err)
	}
	if err := d.a.writeTrialBalance(tb); err != nil {
		return err
	}
	fmt.Fprintln(d.w)
	verify := verifyCmd(d.a) // verify reads the database unless --api
	verify.SetContext(ctx)
	// The demonstration's books are small: prove them from every posting.
	if err := verify.Flags().Set("full", "true"); err != nil {
		return err
	}
	if err := verify.RunE(verify, nil); err != nil {
		return err
	}
	fmt.Fprintln(d.w)
	return nil
}

// now is the demonstration's clock: the real time.
func (d *demo) now() time.Time { return time.Now() }

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/banking"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank/banksim"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/reconcile"
)

// The people of the demonstration.
var (
	demoRun       = "demo" // started the runs
	demoPreparer  = payments.Actor{Name: "camille.preparer", Roles: []string{payments.RolePreparer}, Address: "demo"}
	demoApprover1 = payments.Actor{Name: "nadia.approver", Roles: []string{payments.RoleApprover}, Address: "demo"}
	demoApprover2 = payments.Actor{Name: "yann.approver", Roles: []string{payments.RoleApprover}, Address: "demo"}
)

// demoFunding is what the State puts on the disbursement account, in the
// ledger and at the bank alike.
var demoFunding = decimal.RequireFromString("500000.00")

// demoClosed is the household whose account the bank finds closed.
const demoClosed = 9

// pay takes the batches through approval and release to an embedded bank
// simulator, applies its answers, pays a rejected payment again and fetches
// the statement.
func (d *demo) pay(ctx context.Context, svc ledger.Service, runs *paysql.RunStore, batches ...payments.Batch) error {
	cfg, err := d.a.config()
	if err != nil {
		return err
	}
	cfg.BankURL, cfg.BankEmbeddedAddr = "", "127.0.0.1:0"
	cfg.SecondApprovalAbove = decimal.RequireFromString("10000.00") // the ADA batch needs two approvers
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	bk, err := banking.Open(cfg, quiet, nil, func(c *banksim.Config) {
		c.OpeningBalance = demoFunding
		c.RejectIBANs = map[string]bool{demoIBAN(demoClosed): true}
	})
	if err != nil {
		return err
	}
	defer bk.Close()
	ap, err := paysql.NewApprovalStore(d.a.pool, runs, svc, banking.ApprovalConfig(cfg, bk.Gateway, quiet))
	if err != nil {
		return err
	}
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

	// The statement of the day the bank booked the payments.
	files, err := ap.Files(ctx, batches[0].ID)
	if err != nil || len(files) == 0 {
		return fmt.Errorf("the ADA batch has no files: %v", err)
	}
	day := files[0].ExecutionDate
	bk.Sim.SetToday(day)
	docs, err := bk.Gateway.Statements(ctx, cfg.DebtorIBAN, day)
	if err != nil {
		return err
	}
	for _, doc := range docs {
		sum, err := reconcile.Check(reconcile.NewCamt053Reader(bytes.NewReader(doc.Bytes), reconcile.Options{}))
		if err != nil {
			return fmt.Errorf("statement %s: %w", doc.ID, err)
		}
		for _, st := range sum.Statements {
			d.step("camt.053 statement %s of %s fetched: %d entries, opening %s, closing %s", st.ID, st.Date, st.Entries,
				cli.Amount(st.Opening.Amount), cli.Amount(st.Closing.Amount))
		}
	}
	return d.close(ctx, svc)
}

// files prints the payment files of the batches.
func (d *demo) files(ctx context.Context, ap *paysql.ApprovalStore, batches ...payments.Batch) error {
	fmt.Fprintln(d.w)
	t := cli.NewTable(d.w, "FILE", "FORMAT", "PAYMENTS", "TOTAL", "EXECUTION", "STATUS")
	for _, b := range batches {
		fs, err := ap.Files(ctx, b.ID)
		if err != nil {
			return err
		}
		for _, f := range fs {
			t.Row(f.MsgID, f.Format, fmt.Sprint(f.Transactions), cli.Amount(f.Total), f.ExecutionDate.String(), string(f.Status))
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

// close corrects a fee keyed twice, seals the books and prints the trial
// balance and verify.
func (d *demo) close(ctx context.Context, svc ledger.Service) error {
	pair := func(key, desc string, amount decimal.Decimal) ledger.NewEntry {
		return ledger.NewEntry{IdempotencyKey: key, EffectiveDate: payments.LegalDay(d.now()), Description: desc, SourceRef: "demo",
			Lines: []ledger.Line{{Account: ledger.ExpenseBankFees, Amount: amount}, {Account: ledger.BankMain, Amount: amount.Neg()}}}
	}
	fee := decimal.RequireFromString("12.50")
	if _, err := svc.Post(ctx, pair("demo-fee", "Bank fee, November 2026", fee)); err != nil {
		return err
	}
	dup, err := svc.Post(ctx, pair("demo-fee-again", "Bank fee, November 2026 (keyed twice)", fee))
	if err != nil {
		return err
	}
	e, err := svc.Reverse(ctx, ledger.Reversal{EntryID: dup.ID, IdempotencyKey: "demo-fee-again-reversal", Reason: "fee keyed twice"})
	if err != nil {
		return err
	}
	d.step("a fee keyed twice, corrected by reversal %s", e.ID.String()[:8])
	s, err := svc.Seal(ctx, "end of the demonstration month")
	if err != nil {
		return err
	}
	if s != nil {
		d.step("books sealed: seal %d over %d entries, %s…", s.Seq, s.EntryCount, s.Hash[:16])
	}
	fmt.Fprintln(d.w)
	for _, sub := range []*cobra.Command{trialBalanceCmd(d.a), verifyCmd(d.a)} {
		sub.SetContext(ctx)
		if err := sub.RunE(sub, nil); err != nil {
			return err
		}
		fmt.Fprintln(d.w)
	}
	return nil
}

// now is the demonstration's clock: the real time.
func (d *demo) now() time.Time { return time.Now() }

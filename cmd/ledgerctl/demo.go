package main

import (
	"context"
	"fmt"
	"io"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/ledger"
)

// demoHousehold is one household of the demonstration month.
type demoHousehold struct {
	adults, children int
	accommodated     bool
}

// daily is the ADA daily amount in metropolitan France (docs/rules.md §1):
// the published base for the household's size, plus 7.40 per adult when
// the household is not accommodated.
func (h demoHousehold) daily() decimal.Decimal {
	base := []string{"", "6.80", "10.20", "13.60", "17.00", "20.40", "23.80"}[h.adults+h.children]
	d := decimal.RequireFromString(base)
	if !h.accommodated {
		d = d.Add(decimal.RequireFromString("7.40").Mul(decimal.NewFromInt(int64(h.adults))))
	}
	return d
}

var demoProfiles = []demoHousehold{
	{1, 0, false}, {1, 0, true}, {2, 1, false}, {2, 2, true}, {1, 2, false}, {2, 0, false}, {2, 3, true},
}

func demoCmd(a *app) *cobra.Command {
	var households int
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a month of the ledger on the configured database and prove it",
		Long: `Migrate, set up the chart of accounts, then post a month of ADA for a few
hundred households: the State's funding, the approval of October's
allowances as one bulk entry, the recovery of an overpayment, the release to
the bank, the bank's booking, and a mistaken bank fee corrected by a
reversal. It seals the books and prints the trial balance and verify.
Running it again changes nothing: every entry has a fixed idempotency key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if households < 1 || households > 100000 {
				return cli.Usage(fmt.Errorf("--households: must be between 1 and 100000"))
			}
			ctx := cmd.Context()
			svc, err := a.service(ctx)
			if err != nil {
				return err
			}
			w := a.stderr
			if !a.json() {
				w = a.stdout
			}
			if err := ledger.SetUpChart(ctx, svc); err != nil {
				return err
			}
			fmt.Fprintf(w, "chart of accounts: %d accounts set up\n", len(ledger.Chart))
			if err := runDemo(ctx, svc, w, households, a.json() || !cli.IsTerminal(a.stderr)); err != nil {
				return err
			}
			fmt.Fprintln(w)
			for _, sub := range []*cobra.Command{trialBalanceCmd(a), verifyCmd(a)} {
				sub.SetContext(ctx)
				if err := sub.RunE(sub, nil); err != nil {
					return err
				}
				fmt.Fprintln(w)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&households, "households", 300, "households paid in the demonstration month")
	return cmd
}

func runDemo(ctx context.Context, svc ledger.Service, w io.Writer, n int, quiet bool) error {
	date := ledger.NewDate(2026, 11, 5)
	const days = 31 // October 2026
	step := func(what string, e ledger.Entry, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		note := ""
		if e.Replayed {
			note = " (already posted: replayed, nothing changed)"
		}
		fmt.Fprintf(w, "%-58s entry %s, %d postings%s\n", what, e.ID.String()[:8], e.LineCount, note)
		return nil
	}
	pair := func(key, desc, debit, credit string, amount decimal.Decimal) ledger.NewEntry {
		return ledger.NewEntry{IdempotencyKey: key, EffectiveDate: date, Description: desc, SourceRef: "demo",
			Lines: []ledger.Line{{Account: debit, Amount: amount}, {Account: credit, Amount: amount.Neg()}}}
	}
	benef := func(i int) string { return fmt.Sprintf("OFII-2026-%06d", i+1) }

	e, err := svc.Post(ctx, pair("demo-2026-10-funding", "State funding of ADA, October 2026", ledger.BankMain, ledger.StateFunding, decimal.NewFromInt(500000)))
	if err := step("State funds the disbursement account", e, err); err != nil {
		return err
	}
	// An overpayment found on household 3 (paid for days after it left).
	over := decimal.RequireFromString("142.00")
	e, err = svc.Post(ctx, pair("demo-2026-10-overpayment-"+benef(2), "Overpayment established, ADA 2026-09 "+benef(2),
		ledger.SubAccount(ledger.OverpaymentReceivable, benef(2)), ledger.ExpenseADA, over))
	if err := step("Overpayment of 142.00 established on "+benef(2), e, err); err != nil {
		return err
	}
	gross := make([]decimal.Decimal, n)
	net := make([]decimal.Decimal, n)
	var totalNet decimal.Decimal
	for i := range n {
		gross[i] = demoProfiles[i%len(demoProfiles)].daily().Mul(decimal.NewFromInt(days))
		net[i] = gross[i]
		totalNet = totalNet.Add(net[i])
	}
	// Recovery: at most 30 % of the month's gross, rounded down to the cent.
	deduction := decimal.Min(over, gross[2].Mul(decimal.RequireFromString("0.30")).RoundDown(2))
	net[2] = gross[2].Sub(deduction)
	totalNet = totalNet.Sub(deduction)

	bar := cli.NewProgress(w, int64(n), "approval", quiet)
	e, err = svc.PostBulk(ctx, ledger.BulkEntry{
		IdempotencyKey: "demo-2026-10-ada-approval", EffectiveDate: date, Description: "ADA 2026-10, batch approved",
		SourceRef: "demo", Contra: ledger.ExpenseADA, ContraMemo: "ADA 2026-10 gross", ChunkSize: 100,
		Lines: func(yield func(ledger.Line) error) error {
			for i := range n {
				if err := yield(ledger.Line{Account: ledger.SubAccount(ledger.Payable, benef(i)), Amount: net[i].Neg(), Memo: "ADA 2026-10 " + benef(i)}); err != nil {
					return err
				}
				if i == 2 {
					if err := yield(ledger.Line{Account: ledger.SubAccount(ledger.OverpaymentReceivable, benef(i)), Amount: deduction.Neg(), Memo: "recovery"}); err != nil {
						return err
					}
				}
			}
			return nil
		},
		Progress: func(l int64) { bar.Set(min(l, int64(n))) },
	})
	bar.Finish()
	if err := step(fmt.Sprintf("October ADA approved for %d households", n), e, err); err != nil {
		return err
	}
	bar = cli.NewProgress(w, int64(n), "release", quiet)
	e, err = svc.PostBulk(ctx, ledger.BulkEntry{
		IdempotencyKey: "demo-2026-10-ada-release", EffectiveDate: date, Description: "ADA 2026-10, released to the bank",
		SourceRef: "demo", Contra: ledger.PaymentsInTransit, ContraMemo: "pain.001 ADA 2026-10", ChunkSize: 100,
		Lines: func(yield func(ledger.Line) error) error {
			for i := range n {
				if err := yield(ledger.Line{Account: ledger.SubAccount(ledger.Payable, benef(i)), Amount: net[i], Memo: "ADA 2026-10 " + benef(i)}); err != nil {
					return err
				}
			}
			return nil
		},
		Progress: func(l int64) { bar.Set(min(l, int64(n))) },
	})
	bar.Finish()
	if err := step("Payment file released to the bank", e, err); err != nil {
		return err
	}
	e, err = svc.Post(ctx, pair("demo-2026-10-ada-booked", "Bank statement books ADA 2026-10", ledger.PaymentsInTransit, ledger.BankMain, totalNet))
	if err := step("Bank books the payments ("+totalNet.StringFixed(2)+")", e, err); err != nil {
		return err
	}
	fee := pair("demo-2026-10-fee", "Bank fee, October 2026", ledger.ExpenseBankFees, ledger.BankMain, decimal.RequireFromString("12.50"))
	e, err = svc.Post(ctx, fee)
	if err := step("Bank fee of 12.50 posted", e, err); err != nil {
		return err
	}
	dup := pair("demo-2026-10-fee-duplicate", "Bank fee, October 2026 (keyed twice)", ledger.ExpenseBankFees, ledger.BankMain, decimal.RequireFromString("12.50"))
	e, err = svc.Post(ctx, dup)
	if err := step("The same fee keyed twice by mistake", e, err); err != nil {
		return err
	}
	e, err = svc.Reverse(ctx, ledger.Reversal{EntryID: e.ID, IdempotencyKey: "demo-2026-10-fee-duplicate-reversal", Reason: "fee keyed twice"})
	if err := step("...corrected by a reversal", e, err); err != nil {
		return err
	}
	s, err := svc.Seal(ctx, "end of demonstration month")
	if err != nil {
		return err
	}
	if s != nil {
		fmt.Fprintf(w, "%-58s seal %d over %d entries, %s…\n", "Books sealed", s.Seq, s.EntryCount, s.Hash[:16])
	} else {
		fmt.Fprintf(w, "%-58s nothing new to seal\n", "Books sealed")
	}
	for _, acct := range []string{ledger.BankMain, ledger.ExpenseADA, ledger.PaymentsInTransit, ledger.SubAccount(ledger.OverpaymentReceivable, benef(2))} {
		b, err := svc.Balance(ctx, acct, ledger.AsOf{})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  balance %-40s %14s\n", acct, b.Natural.StringFixed(2))
	}
	return nil
}

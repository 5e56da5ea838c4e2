package main

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/apiclient"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
)

func reconcileReportCmd(a *app) *cobra.Command {
	var day, account string
	var csvOut bool
	cmd := &cobra.Command{
		Use:   "report [--date YYYY-MM-DD] [--account IBAN] [--csv]",
		Short: "Reconcile a bank account's ledger account with the bank's statement of a day",
		Long: `Read from ledgerd (GET /v1/reconciliation/report) the comparison of the
closing balance of the bank's statement of a day (default today) of an
account (default DEBTOR_IBAN's) with its ledger account (bank:main, or the
bank:<name> of BANK_ACCOUNTS) at the end of that day, and whether they agree. The
report counts what each rule matched, the lines nothing explains yet, the
payments in transit by age and the open exceptions. --csv writes it as
ledgerd serves it in CSV, one row per rule and the summary rows.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := reconDay("--date", day)
			if err != nil {
				return err
			}
			if csvOut && a.json() {
				return cli.Usage(errs.Field("--csv", "writes CSV: it does not go with -o json"))
			}
			q := url.Values{"date": {d.String()}}
			if account != "" {
				iban, err := payments.ValidateIBAN(account)
				if err != nil {
					return cli.Usage(errs.Field("--account", "%v", err))
				}
				q.Set("account", iban)
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			names := map[string]string{"date": "--date", "account": "--account"}
			if csvOut {
				q.Set("format", "csv")
				return apiclient.RenameFields(c.Do(cmd.Context(), "GET", "/v1/reconciliation/report", q, "", nil, a.stdout), names)
			}
			var rep reconcile.Report
			if err := c.Get(cmd.Context(), "/v1/reconciliation/report", q, &rep); err != nil {
				return apiclient.RenameFields(err, names)
			}
			if rep.Matched == nil {
				rep.Matched = map[reconcile.Rule]reconcile.Count{}
			}
			if rep.OpenExceptions == nil {
				rep.OpenExceptions = []reconcile.Exception{}
			}
			if rep.InTransit == nil {
				rep.InTransit = []reconcile.AgeBucket{}
			}
			return a.write(rep, func(w io.Writer) error { return reportTable(w, rep) })
		},
	}
	cmd.Flags().StringVar(&day, "date", "", "the day to reconcile, YYYY-MM-DD (default: today)")
	cmd.Flags().StringVar(&account, "account", "", "the account's IBAN (default: the account ledgerd reconciles)")
	cmd.Flags().BoolVar(&csvOut, "csv", false, "write the report as CSV")
	return cmd
}

// reportTable writes a report: the verdict, the balances, what each rule
// matched, the payments in transit and the open exceptions.
func reportTable(w io.Writer, r reconcile.Report) error {
	fmt.Fprintf(w, "%s\n\n", r.Headline())
	t := cli.NewTable(w)
	t.Row("account", r.Account)
	t.Row("date", r.Date.String())
	if r.LedgerAccount != "" {
		t.Row("ledger account", r.LedgerAccount)
	}
	if r.StatementFound {
		t.Row("statement opening", cli.Amount(r.StatementOpening))
		t.Row("statement closing", cli.Amount(r.StatementClosing))
	} else {
		t.Row("statement", "none imported")
	}
	t.Row("ledger closing", cli.Amount(r.LedgerClosing))
	if r.StatementFound {
		t.Row("difference", cli.Amount(r.Difference))
	}
	t.Row("lines", strconv.Itoa(r.Lines))
	t.Row("unmatched", plural(r.Unmatched.Count, "line")+", "+cli.Amount(r.Unmatched.Sum))
	t.Row("in transit", plural(r.InTransitTotal.Count, "payment")+", "+cli.Amount(r.InTransitTotal.Sum))
	open := strconv.Itoa(r.OpenTotal.Count)
	if r.OpenTotal.Count > len(r.OpenExceptions) {
		open += fmt.Sprintf(" (the %d oldest listed below)", len(r.OpenExceptions))
	}
	t.Row("open exceptions", open)
	if r.Verdict != "" {
		t.Row("verdict", r.Verdict)
	}
	if !r.GeneratedAt.IsZero() {
		t.Row("generated", r.GeneratedAt.Format(time.RFC3339))
	}
	if err := t.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := matchedTable(w, r.Matched); err != nil {
		return err
	}
	if len(r.InTransit) > 0 {
		fmt.Fprintln(w)
		t := cli.NewTable(w, "IN TRANSIT (BUSINESS DAYS)", "PAYMENTS", "AMOUNT")
		for _, b := range r.InTransit {
			t.Row(b.Ages, strconv.Itoa(b.Count.Count), cli.Amount(b.Sum))
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	if len(r.OpenExceptions) > 0 {
		fmt.Fprintln(w)
		return reconExceptionsTable(w, r.OpenExceptions)
	}
	return nil
}

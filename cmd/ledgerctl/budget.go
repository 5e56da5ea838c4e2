package main

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
)

func budgetCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "budget",
		Short: "Read the budget of a fiscal year and amend its appropriations",
		Long: `Read the appropriation of each scheme for a fiscal year, what approved
batches committed and released batches spent, what is available and the
forecast to the year end; record and confirm the amendments of an
appropriation (one person records, another confirms).`,
	}
	cmd.AddCommand(budgetShowCmd(a), budgetAmendCmd(a), budgetConfirmCmd(a))
	return cmd
}

func budgetShowCmd(a *app) *cobra.Command {
	var year int
	var csvOut bool
	cmd := &cobra.Command{
		Use:   "show --year YYYY [--csv]",
		Short: "Show the budget of a fiscal year, per scheme, with its forecast",
		Long: `Show per scheme the appropriation, committed, spent and available funds of a
fiscal year, the current monthly run, the forecast to the year end (spent
+ committed + the remaining months × the monthly run), the month the
appropriation runs out at that pace and the months of cover. --csv writes
it as CSV; -o json as JSON.
` + calledLedgerd,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if csvOut && a.json() {
				return cli.Usage(errs.Field("--csv", "writes CSV: it does not go with -o json"))
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			var rep payments.BudgetReport
			if err := c.Get(cmd.Context(), "/v1/budget", url.Values{"year": {strconv.Itoa(year)}}, &rep); err != nil {
				return flagNames(err, "year")
			}
			if csvOut {
				return budgetCSV(a.stdout, rep)
			}
			return a.write(rep, func(w io.Writer) error { return budgetTable(w, rep) })
		},
	}
	cmd.Flags().IntVar(&year, "year", 0, "the fiscal year (required)")
	cmd.Flags().BoolVar(&csvOut, "csv", false, "write the budget as CSV")
	_ = cmd.MarkFlagRequired("year")
	return cmd
}

// budgetCSV writes the budget as CSV, as the console's download does.
func budgetCSV(w io.Writer, rep payments.BudgetReport) error { return payments.WriteBudgetCSV(w, rep) }

func budgetTable(w io.Writer, rep payments.BudgetReport) error {
	fmt.Fprintf(w, "Budget %d as of %s\n", rep.Year, rep.AsOf)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for i, c := range payments.BudgetColumns {
		if i > 0 {
			fmt.Fprint(tw, "\t")
		}
		fmt.Fprint(tw, c)
	}
	fmt.Fprintln(tw, "\t")
	for _, l := range rep.Lines {
		for i, v := range payments.BudgetRow(l) {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, v)
		}
		fmt.Fprintln(tw, "\t")
	}
	return tw.Flush()
}

func budgetAmendCmd(a *app) *cobra.Command {
	var scheme, kind, amount, reference, reason string
	var year int
	cmd := &cobra.Command{
		Use:   "amend --scheme SCHEME --year YYYY --kind KIND --amount EUR --reference REF --reason TEXT",
		Short: "Record an amendment of an appropriation, for another person to confirm",
		Long: `Record an amendment of a scheme's appropriation (ada, return, reinsertion,
business_creation) for a fiscal year: initial, supplementary, transfer_in
or transfer_out, with its reference and reason. Nothing is posted until
another person confirms it ('ledgerctl budget confirm ID').
` + calledLedgerd,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.api()
			if err != nil {
				return err
			}
			body := map[string]any{"scheme": scheme, "year": year, "kind": kind, "amount": amount, "reference": reference, "reason": reason}
			var am payments.Amendment
			if err := c.Post(cmd.Context(), "/v1/budget/amendments", nil, body, &am); err != nil {
				err = maybeDone(err, "'ledgerctl budget show' does not list amendments: ask before recording it again")
				return flagNames(err, "scheme", "year", "kind", "amount", "reference", "reason")
			}
			return a.write(am, func(w io.Writer) error { return amendmentTable(w, am) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&scheme, "scheme", "", "the scheme: ada, return, reinsertion or business_creation (required)")
	f.IntVar(&year, "year", 0, "the fiscal year (required)")
	f.StringVar(&kind, "kind", "", "initial, supplementary, transfer_in or transfer_out (required)")
	f.StringVar(&amount, "amount", "", "the amount in euros, at most two decimals (required)")
	f.StringVar(&reference, "reference", "", "the reference of the act that decides it (required)")
	f.StringVar(&reason, "reason", "", "why (required)")
	for _, n := range []string{"scheme", "year", "kind", "amount", "reference", "reason"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

func budgetConfirmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "confirm ID",
		Short: "Confirm an amendment another person recorded, and post it",
		Long: `Confirm an amendment of an appropriation that another person recorded; it is
then posted to the budget's accounts.
` + calledLedgerd,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uuid.Parse(args[0])
			if err != nil {
				return cli.Usage(errs.Field("ID", "%q is not an amendment id (a UUID)", args[0]))
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			var am payments.Amendment
			if err := c.Post(cmd.Context(), "/v1/budget/amendments/"+id.String()+"/confirm", nil, nil, &am); err != nil {
				return flagNames(maybeDone(err, "confirm it again: a confirmed amendment is not posted twice"), "id")
			}
			return a.write(am, func(w io.Writer) error { return amendmentTable(w, am) })
		},
	}
}

func amendmentTable(w io.Writer, am payments.Amendment) error {
	_, err := fmt.Fprintf(w, "Amendment %s: %s %d %s %s (%s), %s by %s", am.ID, am.Scheme, am.Year, am.Kind,
		am.Amount.StringFixed(2), am.Reference, am.Status, am.RecordedBy)
	if err == nil && am.ConfirmedBy != "" {
		_, err = fmt.Fprintf(w, ", confirmed by %s", am.ConfirmedBy)
	}
	if err == nil {
		_, err = fmt.Fprintln(w)
	}
	return err
}

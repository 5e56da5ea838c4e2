package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
)

func trialBalanceCmd(a *app) *cobra.Command {
	var asOf string
	cmd := &cobra.Command{
		Use:   "trial-balance",
		Short: "List every account's balance with the debit and credit totals",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			at, err := parseAsOf("--as-of", asOf)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			svc, err := a.service(ctx)
			if err != nil {
				return err
			}
			tb, err := svc.TrialBalance(ctx, at)
			if err != nil {
				return fmt.Errorf("trial balance: %w", err)
			}
			return a.write(tb, func(w io.Writer) error {
				fmt.Fprintf(w, "trial balance as of %s\n\n", describeAsOf(tb.AsOf))
				t := cli.NewTable(w, "ACCOUNT", "NAME", "TYPE", "CURRENCY", "DEBIT", "CREDIT")
				for _, r := range tb.Rows {
					t.Row(r.Account, r.Name, string(r.Type), r.Currency, cli.AmountOrBlank(r.Debit), cli.AmountOrBlank(r.Credit))
				}
				if err := t.Flush(); err != nil {
					return err
				}
				fmt.Fprintln(w)
				totals := cli.NewTable(w, "CURRENCY", "DEBIT", "CREDIT", "DIFFERENCE")
				currencies := make([]string, 0, len(tb.Totals))
				for c := range tb.Totals {
					currencies = append(currencies, c)
				}
				slices.Sort(currencies)
				for _, c := range currencies {
					s := tb.Totals[c]
					totals.Row(c, cli.Amount(s.Debit), cli.Amount(s.Credit), cli.Amount(s.Difference))
				}
				return totals.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&asOf, "as-of", "", asOfUsage)
	return cmd
}

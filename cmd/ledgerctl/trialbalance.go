package main

import (
	"fmt"
	"io"
	"net/url"
	"slices"

	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/ledger"
)

func trialBalanceCmd(a *app) *cobra.Command {
	var asOf string
	cmd := &cobra.Command{
		Use:   "trial-balance",
		Short: "List every account's balance with the debit and credit totals",
		Long: `List every account's balance on its debit or credit side, with the totals
of each currency, now or --as-of a day or a moment. It calls ledgerd
(LEDGER_URL) with the caller's token; every role may read it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := parseAsOf("--as-of", asOf); err != nil {
				return err
			}
			q := url.Values{}
			if asOf != "" {
				q.Set("as_of", asOf)
			}
			var tb ledger.TrialBalance
			if err := a.apiGet(cmd.Context(), "/v1/trial-balance", q, &tb, map[string]string{"as_of": "--as-of"}); err != nil {
				return err
			}
			return a.writeTrialBalance(tb)
		},
	}
	cmd.Flags().StringVar(&asOf, "as-of", "", asOfUsage)
	return cmd
}

// writeTrialBalance shows a trial balance: each account's balance on its
// side, then the totals of each currency.
func (a *app) writeTrialBalance(tb ledger.TrialBalance) error {
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
}

package main

import (
	"io"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/ledger"
)

const asOfUsage = "the end of this effective date (YYYY-MM-DD), or what the ledger knew at this RFC 3339 time (default: now)"

func balanceCmd(a *app) *cobra.Command {
	var asOf string
	cmd := &cobra.Command{
		Use:   "balance ACCOUNT",
		Short: "Show the balance of an account",
		Long: `Show the balance of ACCOUNT now, or at the end of a day, or as the ledger
knew it at a moment (--as-of). It calls ledgerd (LEDGER_URL) with the
caller's token; every role may read balances.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := parseAsOf("--as-of", asOf); err != nil {
				return err
			}
			code, err := pathSegment("ACCOUNT", args[0])
			if err != nil {
				return err
			}
			q := url.Values{}
			if asOf != "" {
				q.Set("as_of", asOf)
			}
			var b ledger.Balance
			if err := a.apiGet(cmd.Context(), "/v1/accounts/"+code+"/balance", q, &b, map[string]string{"as_of": "--as-of"}); err != nil {
				return err
			}
			return a.write(b, func(w io.Writer) error {
				t := cli.NewTable(w)
				t.Row("account", b.Account)
				t.Row("balance", cli.Amount(b.Natural)+" "+b.Currency)
				t.Row("signed", cli.Amount(b.Balance)+" (debit positive)")
				t.Row("as of", describeAsOf(b.AsOf))
				return t.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&asOf, "as-of", "", asOfUsage)
	return cmd
}

// describeAsOf writes the moment a balance was taken at.
func describeAsOf(at ledger.AsOf) string {
	switch {
	case !at.Date.IsZero():
		return "end of " + at.Date.String()
	case !at.Time.IsZero():
		return at.Time.Format(time.RFC3339)
	}
	return "now"
}

package main

import (
	"fmt"
	"io"
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
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			at, err := parseAsOf("--as-of", asOf)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			svc, err := a.service(ctx)
			if err != nil {
				return err
			}
			b, err := svc.Balance(ctx, args[0], at)
			if err != nil {
				return fmt.Errorf("balance of %s: %w", args[0], err)
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

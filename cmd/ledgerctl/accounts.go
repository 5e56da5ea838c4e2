package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/banking"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// accountPage is how many accounts one call to the service lists.
const accountPage = 500

// accountBalance is an account with its balance now.
type accountBalance struct {
	ledger.Account
	Balance ledger.Balance `json:"balance"`
}

func accountsCmd(a *app) *cobra.Command {
	var prefix string
	var limit int
	cmd := &cobra.Command{
		Use:   "accounts",
		Short: "List accounts with their balances",
		Long: `List the accounts whose code starts with --prefix, in code order, with
their balance now, seen from the account's normal side. It calls ledgerd
(LEDGER_URL) with the caller's token; every role may read accounts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return errs.Field("--limit", "must be 0 (no limit) or more, not %d", limit)
			}
			ctx := cmd.Context()
			accounts, err := a.apiAccounts(ctx, prefix, limit)
			if err != nil {
				return err
			}
			rows, err := a.apiBalances(ctx, accounts)
			if err != nil {
				return err
			}
			return a.write(rows, func(w io.Writer) error { return accountTable(w, rows) })
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "only accounts whose code starts with this, such as payable:")
	cmd.Flags().IntVar(&limit, "limit", 0, "list at most this many accounts (0: all)")
	return cmd
}

func chartCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "chart",
		Short: "Create the chart of accounts and list it",
		Long: `Create the accounts of the service's chart that do not exist yet (it is
safe to run again), with those of BANK_ACCOUNTS, and list the chart with
the balances. Like migrate, it
sets up the database: it uses the database itself (DATABASE_URL or
--database-url), not ledgerd.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			svc, err := a.service(ctx)
			if err != nil {
				return err
			}
			cfg, err := a.config()
			if err != nil {
				return err
			}
			extra := banking.ChartAccounts(cfg) // BANK_ACCOUNTS
			if err := ledger.SetUpChart(ctx, svc, extra...); err != nil {
				return err
			}
			accounts := make([]ledger.Account, 0, len(ledger.Chart)+len(extra))
			for _, c := range append(ledger.Chart[:len(ledger.Chart):len(ledger.Chart)], extra...) {
				acc, err := svc.Account(ctx, c.Code)
				if err != nil {
					return fmt.Errorf("read account %s: %w", c.Code, err)
				}
				accounts = append(accounts, acc)
			}
			rows, err := withBalances(ctx, a, svc, accounts)
			if err != nil {
				return err
			}
			return a.write(rows, func(w io.Writer) error { return accountTable(w, rows) })
		},
	}
}

// withBalances reads the balance of each account, one call each.
func withBalances(ctx context.Context, a *app, svc ledger.Service, accounts []ledger.Account) ([]accountBalance, error) {
	progress := cli.NewProgress(a.stderr, int64(len(accounts)), "reading balances", a.json() || len(accounts) < 100)
	defer progress.Finish()
	rows := make([]accountBalance, 0, len(accounts))
	for _, acc := range accounts {
		b, err := svc.Balance(ctx, acc.Code, ledger.AsOf{})
		if err != nil {
			return nil, fmt.Errorf("balance of %s: %w", acc.Code, err)
		}
		rows = append(rows, accountBalance{Account: acc, Balance: b})
		progress.Add(1)
	}
	return rows, nil
}

// apiAccounts pages through ledgerd's accounts whose code starts with
// prefix, stopping after limit of them when limit is not 0.
func (a *app) apiAccounts(ctx context.Context, prefix string, limit int) ([]ledger.Account, error) {
	var out []ledger.Account
	cursor := ""
	for {
		n := accountPage
		if limit > 0 {
			n = min(n, limit-len(out))
		}
		q := url.Values{"limit": {strconv.Itoa(n)}}
		if prefix != "" {
			q.Set("prefix", prefix)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Accounts   []ledger.Account `json:"accounts"`
			NextCursor string           `json:"next_cursor"`
		}
		if err := a.apiGet(ctx, "/v1/accounts", q, &page, map[string]string{"prefix": "--prefix", "limit": "--limit"}); err != nil {
			return nil, err
		}
		out = append(out, page.Accounts...)
		if page.NextCursor == "" || len(page.Accounts) < n || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
		cursor = page.NextCursor
	}
}

// apiBalances reads from ledgerd the balance of each account, one call
// each.
func (a *app) apiBalances(ctx context.Context, accounts []ledger.Account) ([]accountBalance, error) {
	progress := cli.NewProgress(a.stderr, int64(len(accounts)), "reading balances", a.json() || len(accounts) < 100)
	defer progress.Finish()
	rows := make([]accountBalance, 0, len(accounts))
	for _, acc := range accounts {
		code, err := pathSegment("account", acc.Code)
		if err != nil {
			return nil, err
		}
		var b ledger.Balance
		if err := a.apiGet(ctx, "/v1/accounts/"+code+"/balance", nil, &b, nil); err != nil {
			return nil, err
		}
		rows = append(rows, accountBalance{Account: acc, Balance: b})
		progress.Add(1)
	}
	return rows, nil
}

func accountTable(w io.Writer, rows []accountBalance) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no accounts")
		return err
	}
	t := cli.NewTable(w, "CODE", "NAME", "TYPE", "CURRENCY", "NORMAL", "BALANCE")
	for _, r := range rows {
		t.Row(r.Code, r.Name, string(r.Type), r.Currency, string(r.NormalSide), cli.Amount(r.Balance.Natural))
	}
	return t.Flush()
}

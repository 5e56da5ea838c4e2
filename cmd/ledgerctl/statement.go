package main

import (
	"fmt"
	"io"
	"net/url"
	"strconv"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// allPageSize is the page size when --all reads every page.
const allPageSize = 1000

// maxDescription bounds the description column of a statement, in
// characters.
const maxDescription = 60

func statementCmd(a *app) *cobra.Command {
	var from, to, cursor string
	var limit int
	var all bool
	cmd := &cobra.Command{
		Use:   "statement ACCOUNT",
		Short: "List the postings of an account with the running balance",
		Long: `List the postings of ACCOUNT in effective-date order with the balance
after each, seen from the account's normal side. One page is shown; the next
is read with --cursor, or every page with --all. It calls ledgerd
(LEDGER_URL) with the caller's token; every role may read statements.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := ledger.StatementQuery{Account: args[0], Cursor: cursor, Limit: limit}
			var err error
			if q.From, err = parseDate("--from", from); err != nil {
				return err
			}
			if q.To, err = parseDate("--to", to); err != nil {
				return err
			}
			if limit < 0 || limit > 1000 {
				return errs.Field("--limit", "must be between 1 and 1000, or 0 for the default, not %d", limit)
			}
			if all && q.Limit == 0 {
				q.Limit = allPageSize
			}
			code, err := pathSegment("ACCOUNT", q.Account)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var acc ledger.Account
			if err := a.apiGet(ctx, "/v1/accounts/"+code, nil, &acc, nil); err != nil {
				return err
			}
			progress := cli.NewProgress(a.stderr, -1, "reading statement", a.json() || !all)
			page := func(cursor string) (ledger.Statement, error) {
				v := url.Values{}
				if !q.From.IsZero() {
					v.Set("from", q.From.String())
				}
				if !q.To.IsZero() {
					v.Set("to", q.To.String())
				}
				if cursor != "" {
					v.Set("cursor", cursor)
				}
				if q.Limit != 0 {
					v.Set("limit", strconv.Itoa(q.Limit))
				}
				var st ledger.Statement
				err := a.apiGet(ctx, "/v1/accounts/"+code+"/statement", v, &st,
					map[string]string{"from": "--from", "to": "--to", "cursor": "--cursor", "limit": "--limit"})
				return st, err
			}
			st, err := page(q.Cursor)
			for err == nil && all && st.NextCursor != "" {
				progress.Set(int64(len(st.Lines)))
				var next ledger.Statement
				if next, err = page(st.NextCursor); err == nil {
					st.Lines = append(st.Lines, next.Lines...)
					st.NextCursor = next.NextCursor
				}
			}
			progress.Finish()
			if err != nil {
				return err
			}
			if st.Lines == nil {
				st.Lines = []ledger.StatementLine{}
			}
			return a.write(st, func(w io.Writer) error { return statementTable(w, acc, st) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "first effective date, YYYY-MM-DD (default: the first posting)")
	f.StringVar(&to, "to", "", "last effective date, YYYY-MM-DD (default: the last posting)")
	f.IntVar(&limit, "limit", 0, "lines per page, at most 1000 (default 100, or 1000 with --all)")
	f.StringVar(&cursor, "cursor", "", "read the page after the one that printed this cursor")
	f.BoolVar(&all, "all", false, "read every page")
	return cmd
}

func statementTable(w io.Writer, acc ledger.Account, st ledger.Statement) error {
	// The service's amounts are signed, debit positive; people read the
	// balance of a liability as a positive amount owed.
	natural := func(d decimal.Decimal) decimal.Decimal {
		if acc.NormalSide == ledger.Credit {
			return d.Neg()
		}
		return d
	}
	fmt.Fprintf(w, "%s (%s), %s, %s side\n", acc.Code, acc.Name, st.Currency, acc.NormalSide)
	fmt.Fprintf(w, "opening balance %s\n\n", cli.Amount(natural(st.Opening)))
	if len(st.Lines) == 0 {
		fmt.Fprintln(w, "no postings")
	} else {
		t := cli.NewTable(w, "DATE", "ENTRY", "LINE", "DESCRIPTION", "DEBIT", "CREDIT", "BALANCE")
		for _, l := range st.Lines {
			// Keep part of both, so that the memo, which tells the lines of
			// one entry apart, is not cut off by a long description.
			text := truncate(l.Description, maxDescription)
			if l.Memo != "" {
				text = truncate(l.Description, maxDescription/2) + " / " + truncate(l.Memo, maxDescription/2)
			}
			debit, credit := cli.Sides(l.Amount)
			t.Row(l.EffectiveDate.String(), shortID(l.EntryID), strconv.FormatInt(l.Line, 10),
				text, debit, credit, cli.Amount(natural(l.Running)))
		}
		if err := t.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nclosing balance %s\n", cli.Amount(natural(st.Lines[len(st.Lines)-1].Running)))
	}
	if st.NextCursor != "" {
		_, err := fmt.Fprintf(w, "more lines follow: add --cursor %s, or use --all\n", st.NextCursor)
		return err
	}
	return nil
}

// truncate shortens s to n characters, marking the cut with "…".
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

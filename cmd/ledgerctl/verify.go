package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/ledger"
)

func verifyCmd(a *app) *cobra.Command {
	var viaAPI, full bool
	cmd := &cobra.Command{
		Use:   "verify [--full] [--api]",
		Short: "Prove from the postings that the books are right",
		Long: `Check, from the postings alone, that every entry balances, every stored
balance equals the sum of its postings, the trial balance sums to zero, and
no entry or seal was altered. The exit status is 1 when a problem is found.

By default it starts from the last seal: it proves the seal chain and the
sealed balances the last seal recorded, and reads only the postings of the
entries posted since. A change to a sealed posting that leaves the stored
balances alone is found by --full only, which reads every posting and
recomputes every seal.

By default it uses the database itself (DATABASE_URL or --database-url), so
that the books are proved without trusting the server. With --api it asks
ledgerd (LEDGER_URL) to run the same check, with the caller's token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var r ledger.VerifyReport
			if viaAPI {
				q := url.Values{}
				if full {
					q.Set("full", "true")
				}
				if err := a.apiGet(ctx, "/v1/verify", q, &r, nil); err != nil {
					return err
				}
			} else {
				svc, err := a.service(ctx)
				if err != nil {
					return err
				}
				if r, err = svc.VerifyWith(ctx, ledger.VerifyOptions{Full: full}); err != nil {
					return fmt.Errorf("verify: %w", err)
				}
			}
			err := a.write(r, func(w io.Writer) error {
				kv := cli.NewTable(w)
				mode := r.Mode
				if r.FromSeal > 0 {
					mode += fmt.Sprintf(" (entries and postings after seal %d)", r.FromSeal)
				}
				kv.Row("mode", mode)
				kv.Row("entries", strconv.FormatInt(r.Entries, 10))
				kv.Row("postings", strconv.FormatInt(r.Postings, 10))
				kv.Row("accounts", strconv.FormatInt(r.Accounts, 10))
				kv.Row("seals", strconv.FormatInt(r.Seals, 10))
				kv.Row("open entries", strconv.FormatInt(r.Open, 10))
				kv.Row("took", r.Took)
				if err := kv.Flush(); err != nil {
					return err
				}
				if len(r.Problems) > 0 {
					fmt.Fprintln(w)
					t := cli.NewTable(w, "KIND", "ENTRY", "ACCOUNT", "SEAL", "DETAIL")
					for _, p := range r.Problems {
						seal := ""
						if p.Seal != 0 {
							seal = strconv.FormatInt(p.Seal, 10)
						}
						t.Row(p.Kind, p.EntryID, p.Account, seal, p.Detail)
					}
					if err := t.Flush(); err != nil {
						return err
					}
				}
				if r.OK && r.Mode == "full" {
					_, err := fmt.Fprintln(w, "\nOK: every entry balances, every balance equals its postings, the trial balance is zero, and no entry or seal was altered")
					return err
				}
				if r.OK {
					_, err := fmt.Fprintf(w, "\nOK: the seals and the sealed balances hold, every entry posted since seal %d balances, every balance equals its sealed balance and the postings since, and the trial balance is zero (verify --full also rereads every sealed posting)\n", r.FromSeal)
					return err
				}
				return nil
			})
			if err != nil {
				return err
			}
			if !r.OK {
				if len(r.Problems) == 0 {
					return errors.New("the ledger is NOT OK")
				}
				return fmt.Errorf("the ledger is NOT OK: %s found", plural(len(r.Problems), "problem"))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&viaAPI, "api", false, "ask ledgerd to verify, instead of reading the database here")
	cmd.Flags().BoolVar(&full, "full", false, "read every posting and recompute every seal, instead of starting from the last seal")
	return cmd
}

func sealCmd(a *app) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "seal",
		Short: "Chain the hashes of the entries posted since the last seal",
		Long: `Seal the entries posted since the last seal: chain their hashes to the
previous seal's, so that 'ledgerctl verify' finds any later change. It calls
ledgerd (LEDGER_URL), with the token of an administrator.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := json.Marshal(map[string]string{"reason": reason})
			if err != nil {
				return fmt.Errorf("encode the seal: %w", err)
			}
			var out struct {
				Seal *ledger.Seal `json:"seal"`
			}
			again := "run 'ledgerctl seal' again: it seals only what no seal covers yet, so nothing is sealed twice"
			if err := a.apiWrite(cmd.Context(), "/v1/seals", bytes.NewReader(body), &out, map[string]string{"reason": "--reason"}, again); err != nil {
				return err
			}
			s := out.Seal
			return a.write(s, func(w io.Writer) error {
				if s == nil {
					_, err := fmt.Fprintln(w, "nothing to seal: no entry was posted since the last seal")
					return err
				}
				kv := cli.NewTable(w)
				kv.Row("seal", strconv.FormatInt(s.Seq, 10))
				kv.Row("sealed at", s.SealedAt.Format(time.RFC3339))
				kv.Row("entries", strconv.FormatInt(s.EntryCount, 10))
				kv.Row("hash", s.Hash)
				prev := s.PrevHash
				if prev == "" {
					prev = "(none: the first seal)"
				}
				kv.Row("previous", prev)
				if s.Reason != "" {
					kv.Row("reason", s.Reason)
				}
				return kv.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the seal is taken, such as \"daily\" or \"run 2025-03\"")
	return cmd
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/jsonstrict"
	"github.com/ofii/allowances/ledger"
)

// maxEntryFile bounds an entry file; a larger entry is a bulk entry, which
// is not posted from a file.
const maxEntryFile = 16 << 20

func postCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "post FILE",
		Short: "Post an entry read from a JSON file (- for standard input)",
		Long: `Post the entry described by FILE, a JSON object:

  {
    "idempotency_key": "funding-2025-01",
    "effective_date": "2025-01-02",
    "description": "State funding, first instalment",
    "lines": [
      {"account": "bank:main", "amount": "10000.00"},
      {"account": "equity:state-funding", "amount": "-10000.00"}
    ]
  }

Amounts are signed: a debit is positive, a credit negative, and the lines sum
to zero. Unknown fields are rejected. Posting the same key again with the same
content writes nothing and shows the entry already posted.

The file is read and checked here, then sent to ledgerd (LEDGER_URL), which
posts it: it needs the token of an administrator.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readInput(a, args[0])
			if err != nil {
				return err
			}
			var e ledger.NewEntry
			if err := jsonstrict.Decode(data, &e); err != nil {
				return fmt.Errorf("read entry from %s: %w", args[0], err)
			}
			// The file goes as it is, so that ledgerd reads the amounts
			// as they were written.
			var posted ledger.Entry
			again := fmt.Sprintf("run the same command again: the key %q makes it safe, and it shows the entry if it was posted", e.IdempotencyKey)
			if err := a.apiWrite(cmd.Context(), "/v1/entries", bytes.NewReader(data), &posted, nil, again); err != nil {
				return err
			}
			return a.writeEntry(posted)
		},
	}
}

func reverseCmd(a *app) *cobra.Command {
	var key, reason, date string
	cmd := &cobra.Command{
		Use:   "reverse ENTRY_ID --key KEY --reason REASON",
		Short: "Post the reversal of an entry",
		Long: `Post an entry that negates every line of ENTRY_ID, dated --date (default:
the original's effective date). --key makes the reversal safe to repeat.
It calls ledgerd (LEDGER_URL), with the token of an administrator.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseEntryID("ENTRY_ID", args[0])
			if err != nil {
				return err
			}
			d, err := parseDate("--date", date)
			if err != nil {
				return err
			}
			body, err := json.Marshal(struct {
				IdempotencyKey string      `json:"idempotency_key"`
				EffectiveDate  ledger.Date `json:"effective_date"`
				Reason         string      `json:"reason"`
			}{key, d, reason})
			if err != nil {
				return fmt.Errorf("encode the reversal: %w", err)
			}
			var rev ledger.Entry
			again := fmt.Sprintf("run the same command again: the key %q makes it safe, and it shows the reversal if it was posted", key)
			if err := a.apiWrite(cmd.Context(), "/v1/entries/"+id.String()+"/reversal", bytes.NewReader(body), &rev,
				map[string]string{"id": "ENTRY_ID", "entry_id": "ENTRY_ID", "idempotency_key": "--key", "effective_date": "--date", "reason": "--reason"}, again); err != nil {
				return err
			}
			return a.writeEntry(rev)
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "idempotency key of the reversal (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why the entry is reversed (required)")
	cmd.Flags().StringVar(&date, "date", "", "effective date of the reversal, YYYY-MM-DD (default: the original's)")
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func entryCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "entry ID",
		Short: "Show an entry and its postings",
		Long: `Show the entry ID with its postings. It calls ledgerd (LEDGER_URL) with the
caller's token; every role may read entries.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseEntryID("ID", args[0])
			if err != nil {
				return err
			}
			var e ledger.Entry
			if err := a.apiGet(cmd.Context(), "/v1/entries/"+id.String(), nil, &e, map[string]string{"id": "ID"}); err != nil {
				return err
			}
			return a.writeEntry(e)
		},
	}
}

// readInput reads the file named name, or standard input for "-", up to
// maxEntryFile bytes.
func readInput(a *app, name string) ([]byte, error) {
	r := a.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, errs.Field("FILE", "%v", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxEntryFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxEntryFile {
		return nil, errs.E(errs.TooLarge, "%s is larger than %d MiB; post large entries in bulk", name, maxEntryFile>>20)
	}
	return data, nil
}

// writeEntry shows an entry: its attributes, then its postings.
func (a *app) writeEntry(e ledger.Entry) error {
	return a.write(e, func(w io.Writer) error {
		kv := cli.NewTable(w)
		kv.Row("id", e.ID.String())
		kv.Row("key", e.IdempotencyKey)
		kv.Row("kind", string(e.Kind))
		kv.Row("status", string(e.Status))
		kv.Row("date", e.EffectiveDate.String())
		kv.Row("posted at", e.PostedAt.Format(time.RFC3339))
		kv.Row("description", e.Description)
		if e.SourceRef != "" {
			kv.Row("source", e.SourceRef)
		}
		if e.Reverses != nil {
			kv.Row("reverses", e.Reverses.String())
		}
		if e.ReversedBy != nil {
			kv.Row("reversed by", e.ReversedBy.String())
		}
		if e.ContentHash != "" {
			kv.Row("hash", e.ContentHash)
		}
		if e.SealSeq != nil {
			kv.Row("seal", strconv.FormatInt(*e.SealSeq, 10))
		}
		if err := kv.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		if len(e.Postings) == 0 {
			fmt.Fprintf(w, "%s, too many to show here: see 'ledgerctl statement'\n", plural(int(e.LineCount), "line"))
		} else {
			t := cli.NewTable(w, "LINE", "ACCOUNT", "DEBIT", "CREDIT", "CURRENCY", "MEMO")
			for _, p := range e.Postings {
				debit, credit := cli.Sides(p.Amount)
				t.Row(strconv.FormatInt(p.Line, 10), p.Account, debit, credit, p.Currency, p.Memo)
			}
			if err := t.Flush(); err != nil {
				return err
			}
		}
		if e.Replayed {
			if _, err := fmt.Fprintln(w, "replayed: an entry with this key already existed; nothing was written"); err != nil {
				return err
			}
		}
		return nil
	})
}

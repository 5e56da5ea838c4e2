package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/apiclient"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
)

// reconClock is the clock of the days a report, a fetch or a sweep is for
// when none is given.
var reconClock = time.Now

// progressFrom is the size from which sending a statement file shows a
// progress bar.
const progressFrom = 4 << 20

func reconcileCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Reconcile the bank statements with the ledger: import, report, resolve the exceptions",
		Long: `Reconcile the statements of the bank account of DEBTOR_IBAN with the ledger's
bank:main: import camt.053, camt.054 or CFONB 120 files (or have ledgerd fetch
them from the bank), read the report of a day, and resolve the lines no rule
explains.

Every subcommand calls ledgerd (LEDGER_URL or --server) as the holder of the
API token of --token, LEDGER_TOKEN or the token file; ledgerd decides what
they may do.`,
	}
	cmd.AddCommand(
		reconcileImportCmd(a), reconcileFetchCmd(a), reconcileReportCmd(a), reconcileExceptionsCmd(a),
		reconcileMatchCmd(a), reconcileConfirmCmd(a), reconcileReasonCmd(a, suspenseMove), reconcileReasonCmd(a, closeMove),
		reconcileAssignCmd(a), reconcileMatchesCmd(a), reconcileUndoCmd(a), reconcileRunCmd(a), reconcileSweepCmd(a),
	)
	return cmd
}

// importedFile is what importing one file did.
type importedFile struct {
	File string `json:"file"`
	reconcile.ImportResult
}

func reconcileImportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import FILE [FILE...]",
		Short: "Import statement files (camt.053, camt.054, CFONB 120) and match their lines ('-' reads standard input)",
		Long: `Send statement files to ledgerd (POST /v1/statements), in the order given:
camt.053 or camt.054 (.001.02 to .001.08), sent as XML, or CFONB 120, sent as
text. ledgerd checks each file whole and imports it in one go, or not at
all, then runs the matching cascade over its new lines; the table says how
many each rule explained. The files are streamed from disk or standard
input, with a progress bar of the bytes sent when the file is big and the
terminal shows it.

A file is imported once, by its SHA-256: sending it again changes nothing
and says it was imported before. So when the connection is lost before
ledgerd answered, running the same command again is safe.

A file that fails stops the import there: the files before it stay imported.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, path := range args {
				if err := checkStatementFile(path); err != nil {
					return err
				}
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			out := struct {
				Files []importedFile `json:"files"`
			}{Files: []importedFile{}}
			for _, path := range args {
				res, err := a.sendStatement(cmd.Context(), c, path)
				if err != nil {
					return importError(path, err, out.Files)
				}
				if res.Statements == nil {
					res.Statements = []reconcile.StatementResult{}
				}
				out.Files = append(out.Files, importedFile{File: path, ImportResult: res})
			}
			return a.write(out, func(w io.Writer) error { return importTable(w, out.Files) })
		},
	}
	return cmd
}

// checkStatementFile refuses, before anything is sent, a file that cannot
// be read or is over the readers' limit.
func checkStatementFile(path string) error {
	if path == "-" {
		return nil
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return cli.Usage(errs.Field("FILE", "%v", err))
	case fi.IsDir():
		return cli.Usage(errs.Field("FILE", "%s is a directory: a statement file is expected", path))
	case fi.Size() == 0:
		return cli.Usage(errs.Field("FILE", "%s is empty: a statement file is expected", path))
	case fi.Size() > reconcile.DefaultMaxBytes:
		return &errs.Error{Code: errs.TooLarge, Field: path, Message: fmt.Sprintf("has %d bytes, more than the limit of %d", fi.Size(), int64(reconcile.DefaultMaxBytes))}
	}
	return nil
}

// importError says which file failed, and why, and which files were
// imported before it. When the connection was lost once the file was sent,
// or the command was interrupted, it says what may have happened and that
// sending the file again is safe.
func importError(path string, err error, done []importedFile) error {
	var note string
	if len(done) > 0 {
		names := make([]string, len(done))
		for i, f := range done {
			names[i] = f.File
		}
		note = fmt.Sprintf(" (imported before it: %s)", strings.Join(names, ", "))
	}
	var ae *apiclient.Error
	if errors.As(err, &ae) {
		e := *ae.Err
		switch e.Code {
		case errs.Invalid, errs.TooLarge:
			// ledgerd names the body, or the element at fault in it: the
			// file's name says which body, the element stays in the message.
			if e.Field != "" && e.Field != "body" && e.Field != "Content-Type" {
				e.Message = e.Field + ": " + e.Message
			}
			e.Field = path
			e.Message += "; nothing of it was imported"
		}
		e.Message += note
		return &apiclient.Error{Status: ae.Status, Err: &e}
	}
	var ue *apiclient.UnreachableError
	if (errors.As(err, &ue) && ue.Sent) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("import %s%s: %w; ledgerd may have imported it. A statement file is imported once, by its SHA-256: "+
			"running the same command again is safe, and imports the file or says it was imported before", path, note, err)
	}
	if errors.As(err, &ue) {
		return fmt.Errorf("import %s%s: %w; nothing of it was imported", path, note, err)
	}
	return fmt.Errorf("import %s%s: %w", path, note, err)
}

// importTable writes the statements imported and what the cascade
// matched.
func importTable(w io.Writer, files []importedFile) error {
	t := cli.NewTable(w, "FILE", "FORMAT", "STATEMENT", "DATE", "SEQUENCE", "LINES", "STATUS")
	matched := map[reconcile.Rule]reconcile.Count{}
	var opened, unmatched int
	for _, f := range files {
		if f.Replayed {
			t.Row(f.File, f.Format, "", "", "", "", "imported before: nothing changed")
		}
		for _, st := range f.Statements {
			status := "imported"
			if st.Replayed {
				status = "imported before"
			}
			t.Row(f.File, f.Format, st.StmtID, st.Date.String(), strconv.FormatInt(st.Sequence, 10), strconv.Itoa(st.Lines), status)
		}
		for _, sk := range f.Skipped {
			t.Row(f.File, f.Format, sk.StmtID, sk.Date.String(), "", strconv.Itoa(sk.Lines), "skipped: "+sk.Reason)
		}
		for rule, c := range f.Match.Matched {
			m := matched[rule]
			m.Count += c.Count
			m.Sum = m.Sum.Add(c.Sum)
			matched[rule] = m
		}
		opened += f.Match.Exceptions
		unmatched += f.Match.Unmatched
	}
	if err := t.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := matchedTable(w, matched); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s opened, %s left without a match\n", plural(opened, "exception"), plural(unmatched, "line"))
	return err
}

// matchedTable writes what each rule of the cascade matched, in the order
// of the rules.
func matchedTable(w io.Writer, matched map[reconcile.Rule]reconcile.Count) error {
	t := cli.NewTable(w, "RULE", "MATCHED", "AMOUNT")
	for _, rule := range reconcileRules(matched) {
		c := matched[rule]
		t.Row(string(rule), strconv.Itoa(c.Count), cli.Amount(c.Sum))
	}
	return t.Flush()
}

// reconcileRules lists the rules of reconcile.Rules, then any other rule
// matched names.
func reconcileRules(matched map[reconcile.Rule]reconcile.Count) []reconcile.Rule {
	rules := slices.Clone(reconcile.Rules)
	var others []reconcile.Rule
	for rule := range matched {
		if !slices.Contains(rules, rule) {
			others = append(others, rule)
		}
	}
	slices.Sort(others)
	return append(rules, others...)
}

func reconcileFetchCmd(a *app) *cobra.Command {
	var day string
	cmd := &cobra.Command{
		Use:   "fetch [--date YYYY-MM-DD]",
		Short: "Have ledgerd fetch the statements of a day from the bank and import them",
		Long: `Ask ledgerd (POST /v1/statements/fetch) to fetch the statements of the account
of DEBTOR_IBAN for a day (default today) from its bank and to import them,
as 'reconcile import' does. ledgerctl reaches no bank itself: ledgerd talks
to the bank it is configured with. A statement is imported once, so
fetching a day again changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := reconDay("--date", day)
			if err != nil {
				return err
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			var res struct {
				Date  ledger.Date              `json:"date"`
				Files []reconcile.ImportResult `json:"files"`
			}
			if err := c.Post(cmd.Context(), "/v1/statements/fetch", nil, map[string]string{"date": d.String()}, &res); err != nil {
				return sentNote(apiclient.RenameFields(err, map[string]string{"date": "--date"}),
					"a statement is imported once: running the same command again is safe")
			}
			out := struct {
				Date  ledger.Date    `json:"date"`
				Files []importedFile `json:"files"`
			}{Date: res.Date, Files: make([]importedFile, len(res.Files))}
			for i, r := range res.Files {
				if r.Statements == nil {
					r.Statements = []reconcile.StatementResult{}
				}
				out.Files[i] = importedFile{File: fmt.Sprintf("bank:%s#%d", res.Date, i+1), ImportResult: r}
			}
			return a.write(out, func(w io.Writer) error {
				if len(out.Files) == 0 {
					_, err := fmt.Fprintf(w, "the bank has no statement of %s yet\n", res.Date)
					return err
				}
				return importTable(w, out.Files)
			})
		},
	}
	cmd.Flags().StringVar(&day, "date", "", "the booking day, YYYY-MM-DD (default: today)")
	return cmd
}

// sentNote adds hint to an error of a request whose connection was lost
// after it was sent: what may have happened, and what to do about it.
func sentNote(err error, hint string) error {
	var ue *apiclient.UnreachableError
	if errors.As(err, &ue) && ue.Sent {
		return fmt.Errorf("%w; it may have been carried out: %s", err, hint)
	}
	return err
}

// reconDay reads a day flag, today in French legal time when empty.
func reconDay(flag, s string) (ledger.Date, error) {
	if s == "" {
		return payments.LegalDay(reconClock()), nil
	}
	d, err := parseDate(flag, s)
	return d, cli.Usage(err)
}

func reconcileRunCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the matching cascade now over every statement line not yet matched",
		Long: `Have ledgerd (POST /v1/reconciliation/match) run the matching cascade now over
every statement line not yet matched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.api()
			if err != nil {
				return err
			}
			var res reconcile.MatchResult
			if err := c.Post(cmd.Context(), "/v1/reconciliation/match", nil, nil, &res); err != nil {
				return sentNote(err, "running the cascade again is safe: a line is matched once")
			}
			if res.Matched == nil {
				res.Matched = map[reconcile.Rule]reconcile.Count{}
			}
			return a.write(res, func(w io.Writer) error {
				if err := matchedTable(w, res.Matched); err != nil {
					return err
				}
				_, err := fmt.Fprintf(w, "\n%s opened, %s left without a match\n", plural(res.Exceptions, "exception"), plural(res.Unmatched, "line"))
				return err
			})
		},
	}
}

func reconcileSweepCmd(a *app) *cobra.Command {
	var day string
	cmd := &cobra.Command{
		Use:   "sweep [--date YYYY-MM-DD]",
		Short: "Open an exception for each payment accepted by the bank and still not booked",
		Long: `Have ledgerd (POST /v1/reconciliation/sweep) open an exception for each
payment the bank accepted that no statement has booked after the configured
number of business days, counted up to --date (default today).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := reconDay("--date", day)
			if err != nil {
				return err
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			var out struct {
				Date   ledger.Date `json:"date"`
				Opened int         `json:"opened"`
			}
			if err := c.Post(cmd.Context(), "/v1/reconciliation/sweep", nil, map[string]string{"date": d.String()}, &out); err != nil {
				return sentNote(apiclient.RenameFields(err, map[string]string{"date": "--date"}),
					"run 'ledgerctl reconcile exceptions --kind in_transit_too_long' to see what it opened")
			}
			return a.write(out, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s opened for payments in transit too long on %s\n", plural(out.Opened, "exception"), out.Date)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&day, "date", "", "the day to count up to, YYYY-MM-DD (default: today)")
	return cmd
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/apiclient"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
	httptransport "github.com/ofii/allowances/transport/http"
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

func reconcileReportCmd(a *app) *cobra.Command {
	var day, account string
	var csvOut bool
	cmd := &cobra.Command{
		Use:   "report [--date YYYY-MM-DD] [--account IBAN] [--csv]",
		Short: "Reconcile a bank account's ledger account with the bank's statement of a day",
		Long: `Read from ledgerd (GET /v1/reconciliation/report) the comparison of the
closing balance of the bank's statement of a day (default today) of an
account (default DEBTOR_IBAN's) with its ledger account (bank:main, or the
bank:<name> of BANK_ACCOUNTS) at the end of that day, and whether they agree. The
report counts what each rule matched, the lines nothing explains yet, the
payments in transit by age and the open exceptions. --csv writes it as
ledgerd serves it in CSV, one row per rule and the summary rows.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := reconDay("--date", day)
			if err != nil {
				return err
			}
			if csvOut && a.json() {
				return cli.Usage(errs.Field("--csv", "writes CSV: it does not go with -o json"))
			}
			q := url.Values{"date": {d.String()}}
			if account != "" {
				iban, err := payments.ValidateIBAN(account)
				if err != nil {
					return cli.Usage(errs.Field("--account", "%v", err))
				}
				q.Set("account", iban)
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			names := map[string]string{"date": "--date", "account": "--account"}
			if csvOut {
				q.Set("format", "csv")
				return apiclient.RenameFields(c.Do(cmd.Context(), "GET", "/v1/reconciliation/report", q, "", nil, a.stdout), names)
			}
			var rep reconcile.Report
			if err := c.Get(cmd.Context(), "/v1/reconciliation/report", q, &rep); err != nil {
				return apiclient.RenameFields(err, names)
			}
			if rep.Matched == nil {
				rep.Matched = map[reconcile.Rule]reconcile.Count{}
			}
			if rep.OpenExceptions == nil {
				rep.OpenExceptions = []reconcile.Exception{}
			}
			if rep.InTransit == nil {
				rep.InTransit = []reconcile.AgeBucket{}
			}
			return a.write(rep, func(w io.Writer) error { return reportTable(w, rep) })
		},
	}
	cmd.Flags().StringVar(&day, "date", "", "the day to reconcile, YYYY-MM-DD (default: today)")
	cmd.Flags().StringVar(&account, "account", "", "the account's IBAN (default: the account ledgerd reconciles)")
	cmd.Flags().BoolVar(&csvOut, "csv", false, "write the report as CSV")
	return cmd
}

// reportTable writes a report: the verdict, the balances, what each rule
// matched, the payments in transit and the open exceptions.
func reportTable(w io.Writer, r reconcile.Report) error {
	fmt.Fprintf(w, "%s\n\n", r.Headline())
	t := cli.NewTable(w)
	t.Row("account", r.Account)
	t.Row("date", r.Date.String())
	if r.LedgerAccount != "" {
		t.Row("ledger account", r.LedgerAccount)
	}
	if r.StatementFound {
		t.Row("statement opening", cli.Amount(r.StatementOpening))
		t.Row("statement closing", cli.Amount(r.StatementClosing))
	} else {
		t.Row("statement", "none imported")
	}
	t.Row("ledger closing", cli.Amount(r.LedgerClosing))
	if r.StatementFound {
		t.Row("difference", cli.Amount(r.Difference))
	}
	t.Row("lines", strconv.Itoa(r.Lines))
	t.Row("unmatched", plural(r.Unmatched.Count, "line")+", "+cli.Amount(r.Unmatched.Sum))
	t.Row("in transit", plural(r.InTransitTotal.Count, "payment")+", "+cli.Amount(r.InTransitTotal.Sum))
	open := strconv.Itoa(r.OpenTotal.Count)
	if r.OpenTotal.Count > len(r.OpenExceptions) {
		open += fmt.Sprintf(" (the %d oldest listed below)", len(r.OpenExceptions))
	}
	t.Row("open exceptions", open)
	if r.Verdict != "" {
		t.Row("verdict", r.Verdict)
	}
	if !r.GeneratedAt.IsZero() {
		t.Row("generated", r.GeneratedAt.Format(time.RFC3339))
	}
	if err := t.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := matchedTable(w, r.Matched); err != nil {
		return err
	}
	if len(r.InTransit) > 0 {
		fmt.Fprintln(w)
		t := cli.NewTable(w, "IN TRANSIT (BUSINESS DAYS)", "PAYMENTS", "AMOUNT")
		for _, b := range r.InTransit {
			t.Row(b.Ages, strconv.Itoa(b.Count.Count), cli.Amount(b.Sum))
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	if len(r.OpenExceptions) > 0 {
		fmt.Fprintln(w)
		return reconExceptionsTable(w, r.OpenExceptions)
	}
	return nil
}

// reconExceptionsTable writes reconciliation exceptions, one a row.
func reconExceptionsTable(w io.Writer, xs []reconcile.Exception) error {
	t := cli.NewTable(w, "EXCEPTION", "KIND", "STATUS", "AGE", "AMOUNT", "BOOKED", "DIRECTION", "PAYMENT", "OWNER", "REASON")
	for _, x := range xs {
		booked := ""
		if !x.BookingDate.IsZero() {
			booked = x.BookingDate.String()
		}
		t.Row(x.ID.String(), string(x.Kind), string(x.Status), strconv.Itoa(x.AgeDays), cli.Amount(x.Amount), booked,
			string(x.Direction), x.Payment, x.Owner, x.Reason)
	}
	return t.Flush()
}

// reconExceptionTable writes one reconciliation exception.
func reconExceptionTable(w io.Writer, x reconcile.Exception) error {
	t := cli.NewTable(w)
	t.Row("exception", x.ID.String())
	t.Row("kind", string(x.Kind))
	t.Row("status", string(x.Status))
	if x.Line != nil {
		t.Row("statement line", fmt.Sprintf("%s #%d", x.Line.StatementID, x.Line.Index))
	}
	if !x.BookingDate.IsZero() {
		t.Row("booked", x.BookingDate.String())
	}
	if x.Direction != "" {
		t.Row("direction", string(x.Direction))
	}
	t.Row("amount", cli.Amount(x.Amount))
	if x.Label != "" {
		t.Row("label", x.Label)
	}
	if x.Payment != "" {
		t.Row("payment", x.Payment)
	}
	t.Row("reason", x.Reason)
	if x.Owner != "" {
		t.Row("owner", x.Owner)
	}
	if x.Resolution != "" {
		t.Row("resolution", x.Resolution)
	}
	if x.ResolvedBy != "" {
		t.Row("resolved by", x.ResolvedBy)
	}
	t.Row("age", plural(x.AgeDays, "day"))
	return t.Flush()
}

func reconcileExceptionsCmd(a *app) *cobra.Command {
	var status, kind, owner, after string
	var limit int
	cmd := &cobra.Command{
		Use:   "exceptions [--status STATUS] [--kind KIND] [--owner NAME]",
		Short: "List the reconciliation exceptions, oldest first",
		Long: `List, from ledgerd (GET /v1/reconciliation/exceptions), the statement lines
and payments a controller must look at, oldest first: lines no rule
explains, amounts that differ, duplicates, suggestions to confirm, returns,
payments in transit for too long.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if status != "" {
				if _, err := httptransport.ParseReconStatus(status); err != nil {
					return cli.Usage(errs.Field("--status", "%v", err))
				}
				q.Set("status", status)
			}
			if kind != "" {
				if _, err := httptransport.ParseReconKind(kind); err != nil {
					return cli.Usage(errs.Field("--kind", "%v", err))
				}
				q.Set("kind", kind)
			}
			if o := strings.TrimSpace(owner); o != "" {
				q.Set("owner", o)
			}
			if after != "" {
				id, err := parseID("--after", after, "reconciliation exception")
				if err != nil {
					return err
				}
				q.Set("after", id.String())
			}
			if limit < 1 || limit > 1000 {
				return cli.Usage(errs.Field("--limit", "must be between 1 and 1000"))
			}
			q.Set("limit", strconv.Itoa(limit))
			c, err := a.api()
			if err != nil {
				return err
			}
			var out struct {
				Exceptions []reconcile.Exception `json:"exceptions"`
				Next       string                `json:"next,omitempty"`
			}
			if err := c.Get(cmd.Context(), "/v1/reconciliation/exceptions", q, &out); err != nil {
				return apiclient.RenameFields(err, map[string]string{"status": "--status", "kind": "--kind", "owner": "--owner", "after": "--after", "limit": "--limit"})
			}
			if out.Exceptions == nil {
				out.Exceptions = []reconcile.Exception{}
			}
			xs := out.Exceptions
			return a.write(out, func(w io.Writer) error {
				if len(xs) == 0 {
					_, err := fmt.Fprintln(w, "no reconciliation exceptions")
					return err
				}
				if err := reconExceptionsTable(w, xs); err != nil {
					return err
				}
				if out.Next != "" {
					fmt.Fprintf(w, "\nmore: --after %s\n", out.Next)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only exceptions in this status: open, resolved or closed")
	cmd.Flags().StringVar(&kind, "kind", "", "only exceptions of this kind: unmatched, amount_mismatch, duplicate, ambiguous, suggestion, returned, in_transit_too_long")
	cmd.Flags().StringVar(&owner, "owner", "", "only the exceptions assigned to this person")
	cmd.Flags().StringVar(&after, "after", "", "the page after this exception id")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many exceptions")
	return cmd
}

// parseReconExceptionID reads a reconciliation exception id given as the
// argument ID.
func parseReconExceptionID(s string) (uuid.UUID, error) {
	return parseID("ID", s, "reconciliation exception")
}

// moveFields are the names the API gives the inputs of the moves of an
// exception, and the flags and argument ledgerctl takes them as.
var moveFields = map[string]string{"id": "ID", "payments": "--payment", "reason": "--reason", "owner": "--owner"}

// resolveException has ledgerd make one move (match, confirm, suspense,
// close, assign) of the reconciliation exception id, with body (nil: none),
// and writes the exception after it.
func (a *app) resolveException(cmd *cobra.Command, id uuid.UUID, move string, body any) error {
	c, err := a.api()
	if err != nil {
		return err
	}
	var x reconcile.Exception
	if err := c.Post(cmd.Context(), "/v1/reconciliation/exceptions/"+id.String()+"/"+move, nil, body, &x); err != nil {
		return sentNote(paymentFlag(apiclient.RenameFields(err, moveFields)),
			fmt.Sprintf("run 'ledgerctl reconcile exceptions' to see where exception %s stands before trying again", id))
	}
	return a.write(x, func(w io.Writer) error { return reconExceptionTable(w, x) })
}

// paymentFlag names --payment the payment that ledgerd names by its place
// in the list ("payments[1]").
func paymentFlag(err error) error {
	var e *apiclient.Error
	if errors.As(err, &e) && strings.HasPrefix(e.Err.Field, "payments[") {
		return apiclient.RenameFields(err, map[string]string{e.Err.Field: "--payment"})
	}
	return err
}

// reconFlag names --payment the payment a local check names "payments" or
// "payments[1]".
func reconFlag(err error) error {
	var e *errs.Error
	if errors.As(err, &e) && e.Code == errs.Invalid && (e.Field == "payments" || strings.HasPrefix(e.Field, "payments[")) {
		return errs.Field("--payment", "%s", e.Message)
	}
	return err
}

func reconcileMatchCmd(a *app) *cobra.Command {
	var lines []string
	var reason string
	cmd := &cobra.Command{
		Use:   "match ID --payment LINE [--payment LINE...] --reason TEXT",
		Short: "Explain an exception's statement line by payments whose amounts add up to it",
		Long: `Have ledgerd (POST /v1/reconciliation/exceptions/{id}/match) match the
statement line of a reconciliation exception by hand to one or more payments
(their line ids, the EndToEndIds the bank saw), whose amounts must add up to
the line's. The match posts what the bank booked, as a rule of the cascade
would have.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseReconExceptionID(args[0])
			if err != nil {
				return err
			}
			ids, err := httptransport.CheckPaymentIDs("payments", lines)
			if err != nil {
				return cli.Usage(reconFlag(err))
			}
			if strings.TrimSpace(reason) == "" {
				return cli.Usage(errs.Field("--reason", "is required: say how the payments were found to explain the line"))
			}
			return a.resolveException(cmd, id, "match", map[string]any{"payments": ids, "reason": reason})
		},
	}
	cmd.Flags().StringArrayVar(&lines, "payment", nil, "a payment's line id (required; repeat for several)")
	cmd.Flags().StringVar(&reason, "reason", "", "how the payments were found (required)")
	_ = cmd.MarkFlagRequired("payment")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func reconcileConfirmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "confirm ID",
		Short: "Confirm a suggestion: its statement line is matched to the payment suggested",
		Long: `Have ledgerd (POST /v1/reconciliation/exceptions/{id}/confirm) confirm a
suggestion: its statement line is matched to the payment suggested.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseReconExceptionID(args[0])
			if err != nil {
				return err
			}
			return a.resolveException(cmd, id, "confirm", nil)
		},
	}
}

// reasonMove is a move of an exception that takes a reason.
type reasonMove struct {
	name, short, long, why string
}

var (
	suspenseMove = reasonMove{
		name: "suspense", short: "Book an exception's statement line to suspense, with a reason",
		long: `Have ledgerd (POST /v1/reconciliation/exceptions/{id}/suspense) book the
statement line of a reconciliation exception to suspense, with a reason.`,
		why: "say why the line goes to suspense, for whoever clears it",
	}
	closeMove = reasonMove{
		name: "close", short: "Close a reconciliation exception with a reason, posting nothing",
		long: `Have ledgerd (POST /v1/reconciliation/exceptions/{id}/close) close a
reconciliation exception with a reason, posting nothing.`,
		why: "say why nothing is to be posted",
	}
)

func reconcileReasonCmd(a *app, m reasonMove) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   m.name + " ID --reason TEXT",
		Short: m.short,
		Long:  m.long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseReconExceptionID(args[0])
			if err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return cli.Usage(errs.Field("--reason", "is required: %s", m.why))
			}
			return a.resolveException(cmd, id, m.name, map[string]string{"reason": reason})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func reconcileAssignCmd(a *app) *cobra.Command {
	var owner string
	cmd := &cobra.Command{
		Use:   "assign ID --owner NAME",
		Short: "Give a reconciliation exception an owner",
		Long: `Have ledgerd (POST /v1/reconciliation/exceptions/{id}/assign) give a
reconciliation exception an owner.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseReconExceptionID(args[0])
			if err != nil {
				return err
			}
			name, err := httptransport.CheckOwner("--owner", owner)
			if err != nil {
				return cli.Usage(err)
			}
			return a.resolveException(cmd, id, "assign", map[string]string{"owner": name})
		},
	}
	cmd.Flags().StringVar(&owner, "owner", "", "the person who takes it, by the name of their API token (required)")
	_ = cmd.MarkFlagRequired("owner")
	return cmd
}

func reconcileMatchesCmd(a *app) *cobra.Command {
	var statement, payment, rule string
	var limit int
	cmd := &cobra.Command{
		Use:   "matches [--statement ID] [--payment LINE] [--rule RULE]",
		Short: "List the matches that explain statement lines, newest first",
		Long: `List, from ledgerd (GET /v1/reconciliation/matches), the matches that explain
statement lines, newest first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if statement != "" {
				id, err := uuid.Parse(statement)
				if err != nil {
					return cli.Usage(errs.Field("--statement", "%q is not a statement id (a UUID)", statement))
				}
				q.Set("statement_id", id.String())
			}
			if payment != "" {
				ids, err := httptransport.CheckPaymentIDs("--payment", []string{payment})
				if err != nil {
					return cli.Usage(errs.Field("--payment", "%q is not a payment's line id", payment))
				}
				q.Set("payment", ids[0])
			}
			if rule != "" {
				if _, err := httptransport.ParseRule(rule); err != nil {
					return cli.Usage(errs.Field("--rule", "%v", err))
				}
				q.Set("rule", rule)
			}
			if limit < 1 || limit > 1000 {
				return cli.Usage(errs.Field("--limit", "must be between 1 and 1000"))
			}
			q.Set("limit", strconv.Itoa(limit))
			c, err := a.api()
			if err != nil {
				return err
			}
			var out struct {
				Matches []reconcile.Match `json:"matches"`
			}
			if err := c.Get(cmd.Context(), "/v1/reconciliation/matches", q, &out); err != nil {
				return apiclient.RenameFields(err, map[string]string{"statement_id": "--statement", "payment": "--payment", "rule": "--rule", "limit": "--limit"})
			}
			if out.Matches == nil {
				out.Matches = []reconcile.Match{}
			}
			ms := out.Matches
			return a.write(out, func(w io.Writer) error {
				if len(ms) == 0 {
					_, err := fmt.Fprintln(w, "no matches")
					return err
				}
				t := cli.NewTable(w, "MATCH", "STATEMENT", "LINE", "RULE", "AMOUNT", "PAYMENTS", "BY", "AT", "UNDONE", "REASON")
				for _, m := range ms {
					undone := ""
					if m.UndoneBy != "" {
						undone = "by " + m.UndoneBy + " at " + m.UndoneAt.Format(time.RFC3339)
					}
					t.Row(m.ID.String(), m.Line.StatementID.String(), strconv.Itoa(m.Line.Index), string(m.Rule), cli.Amount(m.Amount),
						strings.Join(m.Payments, " "), m.MatchedBy, m.MatchedAt.Format(time.RFC3339), undone, m.Reason)
				}
				return t.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&statement, "statement", "", "only the matches of this statement (its id, a UUID)")
	cmd.Flags().StringVar(&payment, "payment", "", "only the matches of this payment (its line id)")
	cmd.Flags().StringVar(&rule, "rule", "", "only the matches of this rule: end_to_end, batch, return, suggestion, manual, fee, suspense")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many matches")
	return cmd
}

func reconcileUndoCmd(a *app) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "undo MATCH_ID --reason TEXT",
		Short: "Take a match back: its postings are reversed and its line is open again",
		Long: `Have ledgerd (POST /v1/reconciliation/matches/{id}/undo) take a match back:
its postings are reversed and its statement line is open again, as an
exception.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uuid.Parse(args[0])
			if err != nil {
				return cli.Usage(errs.Field("MATCH_ID", "%q is not a match id (a UUID)", args[0]))
			}
			if strings.TrimSpace(reason) == "" {
				return cli.Usage(errs.Field("--reason", "is required: say why the match was wrong, for the audit trail"))
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			var out struct {
				ID     uuid.UUID `json:"id"`
				Undone bool      `json:"undone"`
				Reason string    `json:"reason"`
			}
			if err := c.Post(cmd.Context(), "/v1/reconciliation/matches/"+id.String()+"/undo", nil, map[string]string{"reason": reason}, &out); err != nil {
				return sentNote(apiclient.RenameFields(err, map[string]string{"id": "MATCH_ID", "reason": "--reason"}),
					fmt.Sprintf("run 'ledgerctl reconcile matches' to see whether match %s is undone before trying again", id))
			}
			return a.write(out, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "match %s undone: its postings are reversed and its statement line is open again, as an exception\n", out.ID)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the match was wrong (required)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
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

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/banking"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank"
	"github.com/ofii/allowances/reconcile"
	reconsql "github.com/ofii/allowances/reconcile/sqlstore"
	httptransport "github.com/ofii/allowances/transport/http"
)

// reconClock is the clock of the reconciliation: when lines are matched
// and exceptions opened, and the day a report or a fetch is for when none
// is given.
var reconClock = time.Now

// progressFrom is the size from which reading a statement file shows a
// progress bar.
const progressFrom = 4 << 20

// reconciler returns the reconciliation on the database, of the account of
// DEBTOR_IBAN (bank:main) with the ledger, configured from the settings
// as ledgerd's is (RECON_*). It talks to no bank: only 'reconcile fetch'
// does (reconcilerWith).
func (a *app) reconciler(cmd *cobra.Command) (*reconsql.Store, error) {
	return a.reconcilerWith(cmd, nil)
}

// reconcilerWith is reconciler fetching the statements through gw (nil:
// no bank).
func (a *app) reconcilerWith(cmd *cobra.Command, gw bank.Gateway) (*reconsql.Store, error) {
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	l, err := a.service(cmd.Context())
	if err != nil {
		return nil, err
	}
	policy := db.DefaultRetryPolicy
	policy.MaxAttempts = c.TxMaxAttempts
	cfg := banking.ReconcileConfig(c, gw, a.log)
	cfg.Now, cfg.Retry = reconClock, policy
	s, err := reconsql.New(a.pool, l, cfg)
	if err != nil {
		return nil, fmt.Errorf("reconciliation: %w", flagError("DEBTOR_IBAN", err))
	}
	return s, nil
}

func reconcileCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Reconcile the bank statements with the ledger: import, report, resolve the exceptions",
		Long: `Reconcile the statements of the bank account of DEBTOR_IBAN with the ledger's
bank:main: import camt.053, camt.054 or CFONB 120 files (or fetch them from
the bank), read the report of a day, and resolve the lines no rule explains.
Every subcommand acts as the holder of the API token LEDGER_TOKEN or --token.`,
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
		Long: `Import statement files, in the order given: camt.053 or camt.054 (.001.02 to
.001.08) or CFONB 120, told apart by their content. Each file is checked
whole and imported in one go, or not at all; a file or a statement imported
before changes nothing. The matching cascade then runs over the new lines,
and the table says how many each rule explained.

A file that fails stops the import there: the files before it stay imported.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, path := range args {
				if err := checkStatementFile(path); err != nil {
					return err
				}
			}
			by, err := a.actor(tokenOf(cmd), "import a statement file", httptransport.StatementImporters...)
			if err != nil {
				return err
			}
			s, err := a.reconciler(cmd)
			if err != nil {
				return err
			}
			out := struct {
				Files []importedFile `json:"files"`
			}{Files: []importedFile{}}
			for _, path := range args {
				res, err := a.importStatement(cmd, s, path, by)
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
	tokenFlag(cmd)
	return cmd
}

// checkStatementFile refuses, before anything is imported, a file that
// cannot be read or is over the readers' limit.
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

// importStatement imports the statement file path: from disk in bounded
// memory, the service reading it twice (checking it whole, then storing
// it), with a progress bar of each pass when the file is big and stderr a
// terminal; from standard input, read whole, for "-".
func (a *app) importStatement(cmd *cobra.Command, s *reconsql.Store, path string, by payments.Actor) (reconcile.ImportResult, error) {
	if path == "-" {
		content, err := a.readStdin()
		if err != nil {
			return reconcile.ImportResult{}, err
		}
		return s.Import(cmd.Context(), content, by)
	}
	f, err := os.Open(path)
	if err != nil {
		return reconcile.ImportResult{}, cli.Usage(errs.Field("FILE", "%v", err))
	}
	defer f.Close()
	var file io.ReadSeeker = f
	if fi, err := f.Stat(); err == nil && fi.Size() >= progressFrom && cli.IsTerminal(a.stderr) && !a.json() {
		p := &progressFile{f: f, size: fi.Size(), name: filepath.Base(path), bar: a.bytesBar(fi.Size(), "checking "+filepath.Base(path))}
		defer func() { _ = p.bar.Finish() }()
		file = p
	}
	return s.ImportFrom(cmd.Context(), file, by)
}

// bytesBar is a progress bar of size bytes (-1: unknown) on stderr.
func (a *app) bytesBar(size int64, description string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription(description),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// progressFile is a statement file the service reads twice, checking it
// whole then storing it, drawn as a progress bar of the bytes of each
// pass.
type progressFile struct {
	f      *os.File
	bar    *progressbar.ProgressBar
	name   string
	size   int64
	pos    int64
	second bool // the file was read to its end once: the bar is of the storing
}

func (p *progressFile) Read(b []byte) (int, error) {
	n, err := p.f.Read(b)
	p.pos += int64(n)
	_ = p.bar.Add64(int64(n))
	return n, err
}

func (p *progressFile) Seek(offset int64, whence int) (int64, error) {
	pos, err := p.f.Seek(offset, whence)
	if err != nil {
		return pos, err
	}
	if pos == 0 && p.pos >= p.size && !p.second {
		p.second = true
		p.bar.Reset()
		p.bar.Describe("storing " + p.name)
	} else {
		_ = p.bar.Set64(pos)
	}
	p.pos = pos
	return pos, nil
}

// readStdin reads a statement file from standard input, with a spinner
// counting the bytes when stderr is a terminal.
func (a *app) readStdin() ([]byte, error) {
	var bar io.Writer = io.Discard
	if cli.IsTerminal(a.stderr) && !a.json() {
		pb := a.bytesBar(-1, "reading standard input")
		defer func() { _ = pb.Finish() }()
		bar = pb
	}
	content, err := io.ReadAll(io.TeeReader(io.LimitReader(a.stdin, reconcile.DefaultMaxBytes+1), bar))
	if err != nil {
		return nil, fmt.Errorf("read standard input: %w", err)
	}
	if len(content) > reconcile.DefaultMaxBytes {
		return nil, &errs.Error{Code: errs.TooLarge, Field: "-", Message: fmt.Sprintf("is larger than the limit of %d bytes", int64(reconcile.DefaultMaxBytes))}
	}
	if len(bytes.TrimSpace(content)) == 0 {
		return nil, cli.Usage(errs.Field("FILE", "standard input is empty: a statement file is expected"))
	}
	return content, nil
}

// importError says which file failed, and where in it, and which files
// were imported before it.
func importError(path string, err error, done []importedFile) error {
	var note string
	if len(done) > 0 {
		names := make([]string, len(done))
		for i, f := range done {
			names[i] = f.File
		}
		note = fmt.Sprintf(" (imported before it: %s)", strings.Join(names, ", "))
	}
	var fe *reconcile.FormatError
	if errors.As(err, &fe) {
		code := errs.Invalid
		if errors.Is(fe, reconcile.ErrTooLarge) {
			code = errs.TooLarge
		}
		return &errs.Error{Code: code, Field: path, Message: fe.Error() + "; nothing of it was imported" + note}
	}
	var e *errs.Error
	if errors.As(err, &e) {
		// The store names the file "file" (and the line); the file's
		// name says it better, and its message names the line again.
		msg := e.Error()
		if e.Field == "file" || strings.HasPrefix(e.Field, "file:") {
			msg = e.Message
		}
		if e.Code == errs.Invalid || e.Code == errs.TooLarge {
			msg += "; nothing of it was imported"
		}
		return &errs.Error{Code: e.Code, Field: path, Message: msg + note}
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
		Short: "Fetch the statements of a day from the bank of BANK_URL and import them",
		Long: `Ask the bank of BANK_URL for the statements of the account of DEBTOR_IBAN for
a day (default today) and import them, as 'reconcile import' does. Without
BANK_URL there is no bank to ask: ledgerd fetches from its embedded
simulator, and a file received otherwise is imported with 'reconcile import'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := reconDay("--date", day)
			if err != nil {
				return err
			}
			c, err := a.config()
			if err != nil {
				return err
			}
			if c.BankURL == "" {
				return cli.Usage(errs.Field("BANK_URL", "is not set, so ledgerctl reaches no bank: set it to the bank's URL, or import a statement file with 'ledgerctl reconcile import'"))
			}
			by, err := a.actor(tokenOf(cmd), "fetch statements", httptransport.StatementImporters...)
			if err != nil {
				return err
			}
			bk, err := banking.Open(c, a.log, prometheus.NewRegistry())
			if err != nil {
				return err
			}
			defer bk.Close()
			s, err := a.reconcilerWith(cmd, bk.Gateway)
			if err != nil {
				return err
			}
			results, err := s.Fetch(cmd.Context(), d, by)
			if err != nil {
				return fmt.Errorf("fetch the statements of %s: %w", d, httptransport.StatementFileError(err))
			}
			out := struct {
				Date  ledger.Date    `json:"date"`
				Files []importedFile `json:"files"`
			}{Date: d, Files: make([]importedFile, len(results))}
			for i, res := range results {
				if res.Statements == nil {
					res.Statements = []reconcile.StatementResult{}
				}
				out.Files[i] = importedFile{File: fmt.Sprintf("bank:%s#%d", d, i+1), ImportResult: res}
			}
			return a.write(out, func(w io.Writer) error {
				if len(results) == 0 {
					_, err := fmt.Fprintf(w, "the bank has no statement of %s yet\n", d)
					return err
				}
				return importTable(w, out.Files)
			})
		},
	}
	cmd.Flags().StringVar(&day, "date", "", "the booking day, YYYY-MM-DD (default: today)")
	tokenFlag(cmd)
	return cmd
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
		Short: "Reconcile the ledger's bank:main with the bank's statement of a day",
		Long: `Compare the closing balance of the bank's statement of a day (default today)
with bank:main in the ledger at the end of that day, and say whether they
agree. The report counts what each rule matched, the lines nothing explains
yet, the payments in transit by age and the open exceptions. --csv writes it
as CSV, one row per rule and the summary rows.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := reconDay("--date", day)
			if err != nil {
				return err
			}
			if csvOut && a.json() {
				return cli.Usage(errs.Field("--csv", "writes CSV: it does not go with -o json"))
			}
			c, err := a.config()
			if err != nil {
				return err
			}
			acct := c.DebtorIBAN
			if account != "" {
				if acct, err = payments.ValidateIBAN(account); err != nil {
					return cli.Usage(errs.Field("--account", "%v", err))
				}
			}
			by, err := a.actor(tokenOf(cmd), "read the reconciliation report", httptransport.ReconReaders...)
			if err != nil {
				return err
			}
			s, err := a.reconciler(cmd)
			if err != nil {
				return err
			}
			rep, err := s.Report(cmd.Context(), acct, d)
			if err != nil {
				return asFlag(fmt.Errorf("reconciliation report of %s: %w", d, err), "account", "date")
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
			if !seesIBANs(by) {
				for i, x := range rep.OpenExceptions {
					rep.OpenExceptions[i] = httptransport.MaskReconException(x)
				}
			}
			if csvOut {
				return httptransport.WriteReportCSV(a.stdout, rep)
			}
			return a.write(rep, func(w io.Writer) error { return reportTable(w, rep) })
		},
	}
	cmd.Flags().StringVar(&day, "date", "", "the day to reconcile, YYYY-MM-DD (default: today)")
	cmd.Flags().StringVar(&account, "account", "", "the account's IBAN (default: DEBTOR_IBAN)")
	cmd.Flags().BoolVar(&csvOut, "csv", false, "write the report as CSV")
	tokenFlag(cmd)
	return cmd
}

// verdict says in plain words whether the ledger agrees with the bank.
func verdict(r reconcile.Report) string {
	switch {
	case !r.StatementFound:
		return fmt.Sprintf("no statement of %s was imported: there is nothing to compare the ledger with", r.Date)
	case r.Agrees:
		return "the ledger agrees with the bank"
	}
	return fmt.Sprintf("the ledger and the bank differ by %s EUR", cli.Amount(r.Difference.Abs()))
}

// reportTable writes a report: the verdict, the balances, what each rule
// matched, the payments in transit and the open exceptions.
func reportTable(w io.Writer, r reconcile.Report) error {
	fmt.Fprintf(w, "%s\n\n", verdict(r))
	t := cli.NewTable(w)
	t.Row("account", r.Account)
	t.Row("date", r.Date.String())
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
	t.Row("open exceptions", strconv.Itoa(len(r.OpenExceptions)))
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
		Long: `List the statement lines and payments a controller must look at, oldest
first: lines no rule explains, amounts that differ, duplicates, suggestions
to confirm, returns, payments in transit for too long.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := reconcile.ExceptionFilter{Owner: strings.TrimSpace(owner)}
			var err error
			if status != "" {
				if f.Status, err = httptransport.ParseReconStatus(status); err != nil {
					return cli.Usage(errs.Field("--status", "%v", err))
				}
			}
			if kind != "" {
				if f.Kind, err = httptransport.ParseReconKind(kind); err != nil {
					return cli.Usage(errs.Field("--kind", "%v", err))
				}
			}
			if after != "" {
				if f.After, err = parseID("--after", after, "reconciliation exception"); err != nil {
					return err
				}
			}
			if limit < 1 || limit > 1000 {
				return cli.Usage(errs.Field("--limit", "must be between 1 and 1000"))
			}
			f.Limit = limit
			by, err := a.actor(tokenOf(cmd), "list reconciliation exceptions", httptransport.ReconReaders...)
			if err != nil {
				return err
			}
			s, err := a.reconciler(cmd)
			if err != nil {
				return err
			}
			xs, err := s.Exceptions(cmd.Context(), f)
			if err != nil {
				return asFlag(fmt.Errorf("list reconciliation exceptions: %w", err), "status", "kind", "owner", "after", "limit")
			}
			if xs == nil {
				xs = []reconcile.Exception{}
			}
			if !seesIBANs(by) {
				for i, x := range xs {
					xs[i] = httptransport.MaskReconException(x)
				}
			}
			out := struct {
				Exceptions []reconcile.Exception `json:"exceptions"`
				Next       string                `json:"next,omitempty"`
			}{Exceptions: xs}
			if len(xs) == limit {
				out.Next = xs[len(xs)-1].ID.String()
			}
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
	tokenFlag(cmd)
	return cmd
}

// parseReconExceptionID reads a reconciliation exception id given as the
// argument ID.
func parseReconExceptionID(s string) (uuid.UUID, error) {
	return parseID("ID", s, "reconciliation exception")
}

// resolveException runs one move of a reconciliation exception as the
// holder of the token, who must hold one of allow, and writes the
// exception after it.
func (a *app) resolveException(cmd *cobra.Command, what string, allow []httptransport.Role,
	move func(s *reconsql.Store, by payments.Actor) (reconcile.Exception, error), flags ...string) error {
	by, err := a.actor(tokenOf(cmd), what, allow...)
	if err != nil {
		return err
	}
	s, err := a.reconciler(cmd)
	if err != nil {
		return err
	}
	x, err := move(s, by)
	if err != nil {
		return reconFlag(err, flags...)
	}
	if !seesIBANs(by) {
		x = httptransport.MaskReconException(x)
	}
	return a.write(x, func(w io.Writer) error { return reconExceptionTable(w, x) })
}

// reconFlag is asFlag knowing that the payments of a match by hand come
// from --payment: "payments[1]" becomes "--payment".
func reconFlag(err error, flags ...string) error {
	var e *errs.Error
	if errors.As(err, &e) && e.Code == errs.Invalid && slices.Contains(flags, "payment") &&
		(e.Field == "payments" || strings.HasPrefix(e.Field, "payments[")) {
		return errs.Field("--payment", "%s", e.Message)
	}
	return asFlag(err, flags...)
}

func reconcileMatchCmd(a *app) *cobra.Command {
	var lines []string
	var reason string
	cmd := &cobra.Command{
		Use:   "match ID --payment LINE [--payment LINE...] --reason TEXT",
		Short: "Explain an exception's statement line by payments whose amounts add up to it",
		Long: `Match the statement line of a reconciliation exception by hand to one or more
payments (their line ids, the EndToEndIds the bank saw), whose amounts must
add up to the line's. The match posts what the bank booked, as a rule of the
cascade would have.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseReconExceptionID(args[0])
			if err != nil {
				return err
			}
			ids, err := httptransport.CheckPaymentIDs("payments", lines)
			if err != nil {
				return cli.Usage(reconFlag(err, "payment"))
			}
			if strings.TrimSpace(reason) == "" {
				return cli.Usage(errs.Field("--reason", "is required: say how the payments were found to explain the line"))
			}
			return a.resolveException(cmd, "match a statement line by hand", httptransport.Reconcilers,
				func(s *reconsql.Store, by payments.Actor) (reconcile.Exception, error) {
					return s.MatchByHand(cmd.Context(), id, ids, by, reason)
				}, "payment", "reason")
		},
	}
	cmd.Flags().StringArrayVar(&lines, "payment", nil, "a payment's line id (required; repeat for several)")
	cmd.Flags().StringVar(&reason, "reason", "", "how the payments were found (required)")
	_ = cmd.MarkFlagRequired("payment")
	_ = cmd.MarkFlagRequired("reason")
	tokenFlag(cmd)
	return cmd
}

func reconcileConfirmCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "confirm ID",
		Short: "Confirm a suggestion: its statement line is matched to the payment suggested",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseReconExceptionID(args[0])
			if err != nil {
				return err
			}
			return a.resolveException(cmd, "confirm a suggestion", httptransport.Reconcilers,
				func(s *reconsql.Store, by payments.Actor) (reconcile.Exception, error) {
					return s.Confirm(cmd.Context(), id, by)
				})
		},
	}
	tokenFlag(cmd)
	return cmd
}

// reasonMove is a move of an exception that takes a reason.
type reasonMove struct {
	name, short, what, why string
	do                     func(s *reconsql.Store, cmd *cobra.Command, id uuid.UUID, by payments.Actor, reason string) (reconcile.Exception, error)
}

var (
	suspenseMove = reasonMove{
		name: "suspense", short: "Book an exception's statement line to suspense, with a reason",
		what: "book a statement line to suspense", why: "say why the line goes to suspense, for whoever clears it",
		do: func(s *reconsql.Store, cmd *cobra.Command, id uuid.UUID, by payments.Actor, reason string) (reconcile.Exception, error) {
			return s.BookToSuspense(cmd.Context(), id, by, reason)
		},
	}
	closeMove = reasonMove{
		name: "close", short: "Close a reconciliation exception with a reason, posting nothing",
		what: "close a reconciliation exception", why: "say why nothing is to be posted",
		do: func(s *reconsql.Store, cmd *cobra.Command, id uuid.UUID, by payments.Actor, reason string) (reconcile.Exception, error) {
			return s.Close(cmd.Context(), id, by, reason)
		},
	}
)

func reconcileReasonCmd(a *app, m reasonMove) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   m.name + " ID --reason TEXT",
		Short: m.short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseReconExceptionID(args[0])
			if err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return cli.Usage(errs.Field("--reason", "is required: %s", m.why))
			}
			return a.resolveException(cmd, m.what, httptransport.Reconcilers,
				func(s *reconsql.Store, by payments.Actor) (reconcile.Exception, error) {
					return m.do(s, cmd, id, by, reason)
				}, "reason")
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	_ = cmd.MarkFlagRequired("reason")
	tokenFlag(cmd)
	return cmd
}

func reconcileAssignCmd(a *app) *cobra.Command {
	var owner string
	cmd := &cobra.Command{
		Use:   "assign ID --owner NAME",
		Short: "Give a reconciliation exception an owner",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseReconExceptionID(args[0])
			if err != nil {
				return err
			}
			name, err := httptransport.CheckOwner("--owner", owner)
			if err != nil {
				return cli.Usage(err)
			}
			return a.resolveException(cmd, "assign a reconciliation exception", httptransport.ExceptionAssigners,
				func(s *reconsql.Store, by payments.Actor) (reconcile.Exception, error) {
					return s.Assign(cmd.Context(), id, name, by)
				}, "owner")
		},
	}
	cmd.Flags().StringVar(&owner, "owner", "", "the person who takes it, by the name of their API token (required)")
	_ = cmd.MarkFlagRequired("owner")
	tokenFlag(cmd)
	return cmd
}

func reconcileMatchesCmd(a *app) *cobra.Command {
	var statement, payment, rule string
	var limit int
	cmd := &cobra.Command{
		Use:   "matches [--statement ID] [--payment LINE] [--rule RULE]",
		Short: "List the matches that explain statement lines, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var f reconcile.MatchFilter
			var err error
			if statement != "" {
				if f.StatementID, err = uuid.Parse(statement); err != nil {
					return cli.Usage(errs.Field("--statement", "%q is not a statement id (a UUID)", statement))
				}
			}
			if payment != "" {
				ids, err := httptransport.CheckPaymentIDs("--payment", []string{payment})
				if err != nil {
					return cli.Usage(errs.Field("--payment", "%q is not a payment's line id", payment))
				}
				f.Payment = ids[0]
			}
			if rule != "" {
				if f.Rule, err = httptransport.ParseRule(rule); err != nil {
					return cli.Usage(errs.Field("--rule", "%v", err))
				}
			}
			if limit < 1 || limit > 1000 {
				return cli.Usage(errs.Field("--limit", "must be between 1 and 1000"))
			}
			f.Limit = limit
			by, err := a.actor(tokenOf(cmd), "list matches", httptransport.ReconReaders...)
			if err != nil {
				return err
			}
			s, err := a.reconciler(cmd)
			if err != nil {
				return err
			}
			ms, err := s.Matches(cmd.Context(), f)
			if err != nil {
				return asFlag(fmt.Errorf("list matches: %w", err), "statement", "payment", "rule", "limit")
			}
			if ms == nil {
				ms = []reconcile.Match{}
			}
			if !seesIBANs(by) {
				for i := range ms {
					ms[i] = httptransport.MaskMatch(ms[i])
				}
			}
			return a.write(struct {
				Matches []reconcile.Match `json:"matches"`
			}{ms}, func(w io.Writer) error {
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
	tokenFlag(cmd)
	return cmd
}

func reconcileUndoCmd(a *app) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "undo MATCH_ID --reason TEXT",
		Short: "Take a match back: its postings are reversed and its line is open again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uuid.Parse(args[0])
			if err != nil {
				return cli.Usage(errs.Field("MATCH_ID", "%q is not a match id (a UUID)", args[0]))
			}
			if strings.TrimSpace(reason) == "" {
				return cli.Usage(errs.Field("--reason", "is required: say why the match was wrong, for the audit trail"))
			}
			by, err := a.actor(tokenOf(cmd), "undo a match", httptransport.Reconcilers...)
			if err != nil {
				return err
			}
			s, err := a.reconciler(cmd)
			if err != nil {
				return err
			}
			if err := s.UndoMatch(cmd.Context(), id, by, reason); err != nil {
				return asFlag(fmt.Errorf("undo match %s: %w", id, err), "reason")
			}
			return a.write(struct {
				ID     uuid.UUID `json:"id"`
				Undone bool      `json:"undone"`
				Reason string    `json:"reason"`
			}{id, true, reason}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "match %s undone: its postings are reversed and its statement line is open again, as an exception\n", id)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the match was wrong (required)")
	_ = cmd.MarkFlagRequired("reason")
	tokenFlag(cmd)
	return cmd
}

func reconcileRunCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the matching cascade now over every statement line not yet matched",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := a.actor(tokenOf(cmd), "run the matching cascade", httptransport.ReconOperators...); err != nil {
				return err
			}
			s, err := a.reconciler(cmd)
			if err != nil {
				return err
			}
			res, err := s.Match(cmd.Context())
			if err != nil {
				return fmt.Errorf("run the matching cascade: %w", err)
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
	tokenFlag(cmd)
	return cmd
}

func reconcileSweepCmd(a *app) *cobra.Command {
	var day string
	cmd := &cobra.Command{
		Use:   "sweep [--date YYYY-MM-DD]",
		Short: "Open an exception for each payment accepted by the bank and still not booked",
		Long: `Open an exception for each payment the bank accepted that no statement has
booked after the configured number of business days, counted up to --date
(default today).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := reconDay("--date", day)
			if err != nil {
				return err
			}
			if _, err := a.actor(tokenOf(cmd), "sweep the payments in transit", httptransport.ReconOperators...); err != nil {
				return err
			}
			s, err := a.reconciler(cmd)
			if err != nil {
				return err
			}
			n, err := s.Sweep(cmd.Context(), d)
			if err != nil {
				return fmt.Errorf("sweep the payments in transit on %s: %w", d, err)
			}
			return a.write(struct {
				Date   ledger.Date `json:"date"`
				Opened int         `json:"opened"`
			}{d, n}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s opened for payments in transit too long on %s\n", plural(n, "exception"), d)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&day, "date", "", "the day to count up to, YYYY-MM-DD (default: today)")
	tokenFlag(cmd)
	return cmd
}

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/apiclient"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sepa"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	httptransport "github.com/ofii/allowances/transport/http"
)

// parseID reads the id of a kind of object (a batch, a payment
// exception...) given as flag or argument: a UUID.
func parseID(flag, s, kind string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return id, cli.Usage(errs.Field(flag, "%q is not a %s id (a UUID)", s, kind))
	}
	return id, nil
}

// parseBatchID reads a batch id given as the argument ID.
func parseBatchID(s string) (uuid.UUID, error) { return parseID("ID", s, "batch") }

// batchesWorkflowCmd is the batches command with the moves of the approval
// workflow and the payment files added to its reading subcommands.
func batchesWorkflowCmd(a *app) *cobra.Command {
	cmd := batchesCmd(a)
	cmd.Short = "Read the batches, move them through approval and release, and read their payment files"
	for _, m := range batchMoves {
		cmd.AddCommand(batchMoveCmd(a, m))
	}
	cmd.AddCommand(batchFilesCmd(a), batchFileCmd(a))
	return cmd
}

// batchMove is one move of a batch through the workflow, as a command: a
// POST to /v1/batches/{id}/<name>.
type batchMove struct {
	name, short, long string
	text              string // the flag of the note or the reason: "note", "reason" or ""
	required          bool   // the text must be given
}

var batchMoves = []batchMove{
	{
		name: "submit", short: "Ask for the approval of a draft batch", text: "note",
		long: `Submit a draft batch for approval. Another person then approves it (two
approvers above the threshold of gross total); a new run of its period no
longer replaces it.`,
	},
	{
		name: "approve", short: "Approve a batch pending approval", text: "note",
		long: `Approve a batch pending approval. The approver must be neither the person who
started its run nor the one who submitted it, and approves once; the last
approval needed records the lines as paid and posts the accrual. With budget
control, an approval beyond the batch's budget is refused; an approver who
also holds the role budget may force it with --force-budget and
--budget-reason (written to the audit trail).`,
	},
	{
		name: "reject", short: "Send a batch pending approval back to draft, with a reason", text: "reason", required: true,
		long: `Send a batch pending approval back to draft, saying why.`,
	},
	{
		name: "cancel", short: "Cancel a batch not yet released, with a reason", text: "reason", required: true,
		long: `Cancel a draft, pending or approved batch; it is never paid. An approved
batch's accrual is reversed.

A releasing batch (a release cut off) is cancelled for what it has not
sent: its files not yet at the bank are withdrawn, their postings reversed
and their payments freed. With no file sent the batch is cancelled; else it
is released with the files the bank got, and each payment withdrawn is a
payment exception, paid by a reissue batch ('ledgerctl exceptions').`,
	},
	{
		name: "release", short: "Write an approved batch's payment files and queue them for the bank",
		long: `Release an approved batch: write its pain.001 payment files, post the
payables to payments in transit and queue the files for the bank, which
ledgerd's sender delivers (or 'ledgerctl bank send').`,
	},
}

func batchMoveCmd(a *app, m batchMove) *cobra.Command {
	var text, budgetReason string
	var forceBudget bool
	use := m.name + " ID"
	if m.text != "" {
		use += " --" + m.text + " TEXT"
		if !m.required {
			use = m.name + " ID [--" + m.text + " TEXT]"
		}
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: m.short,
		Long:  m.long + "\n" + calledLedgerd,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseBatchID(args[0])
			if err != nil {
				return err
			}
			if m.required && strings.TrimSpace(text) == "" {
				return cli.Usage(errs.Field("--"+m.text, "is required: say why, for the preparer and the audit trail"))
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			var body any
			fields := map[string]any{}
			if text != "" {
				fields[m.text] = text
			}
			if forceBudget {
				fields["force_budget"], fields["budget_reason"] = true, budgetReason
			} else if budgetReason != "" {
				return cli.Usage(errs.Field("--budget-reason", "goes with --force-budget"))
			}
			if len(fields) > 0 {
				body = fields
			}
			var b payments.Batch
			if err := c.Post(cmd.Context(), batchPath(id, m.name), nil, body, &b); err != nil {
				err = maybeDone(err, fmt.Sprintf("'ledgerctl batches show %s' shows where the batch stands", id))
				return apiclient.RenameFields(flagNames(err, "id", m.text), map[string]string{"budget_reason": "--budget-reason"})
			}
			return a.write(b, func(w io.Writer) error { return workflowTable(w, b) })
		},
	}
	if m.name == "approve" {
		cmd.Use += " [--force-budget --budget-reason TEXT]"
		cmd.Flags().BoolVar(&forceBudget, "force-budget", false, "approve beyond the batch's budget (needs the role budget; audited)")
		cmd.Flags().StringVar(&budgetReason, "budget-reason", "", "why the budget is overridden (required with --force-budget)")
	}
	switch m.text {
	case "note":
		cmd.Flags().StringVar(&text, "note", "", "a note for the audit trail")
	case "reason":
		cmd.Flags().StringVar(&text, "reason", "", "why (required)")
	}
	return cmd
}

// workflowTable writes a batch with its approval and release.
func workflowTable(w io.Writer, b payments.Batch) error {
	wf := b.Workflow
	t := cli.NewTable(w)
	t.Row("batch", b.ID.String())
	t.Row("kind", string(b.Kind))
	if !b.Period.IsZero() {
		t.Row("period", b.Period.String())
	}
	t.Row("status", string(b.Status))
	t.Row("lines", strconv.Itoa(b.Lines))
	t.Row("gross", cli.Amount(b.Total.Gross))
	t.Row("net", cli.Amount(b.Total.Net))
	t.Row("computed by", wf.ComputedBy)
	if wf.PreparedBy != "" {
		t.Row("prepared by", wf.PreparedBy)
	}
	if !wf.SubmittedAt.IsZero() {
		t.Row("submitted", wf.SubmittedAt.Format(time.RFC3339))
	}
	t.Row("approvals", fmt.Sprintf("%d of %d", len(wf.Approvals), wf.ApprovalsNeeded))
	for _, ap := range wf.Approvals {
		s := ap.Approver + " at " + ap.At.Format(time.RFC3339)
		if ap.Note != "" {
			s += ": " + ap.Note
		}
		t.Row("", s)
	}
	if wf.ReleasedBy != "" {
		t.Row("released by", wf.ReleasedBy+" at "+wf.ReleasedAt.Format(time.RFC3339))
	}
	if !wf.ExecutionDate.IsZero() {
		t.Row("execution date", wf.ExecutionDate.String())
	}
	if !wf.ClosedAt.IsZero() {
		t.Row("closed", wf.ClosedAt.Format(time.RFC3339))
	}
	if wf.Reason != "" {
		t.Row("reason", wf.Reason)
	}
	return t.Flush()
}

func batchFilesCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "files ID",
		Short: "List the payment files of a released batch",
		Long:  "List the pain.001 payment files of a released batch, without their content.\n" + calledLedgerd,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseBatchID(args[0])
			if err != nil {
				return err
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			var out struct {
				Files []payments.PaymentFile `json:"files"`
			}
			if err := c.Get(cmd.Context(), batchPath(id, "files"), nil, &out); err != nil {
				return flagNames(err, "id")
			}
			files := out.Files
			if files == nil {
				files = []payments.PaymentFile{}
			}
			return a.write(struct {
				Files []payments.PaymentFile `json:"files"`
			}{files}, func(w io.Writer) error {
				if len(files) == 0 {
					_, err := fmt.Fprintf(w, "batch %s has no payment files (it is written when the batch is released)\n", id)
					return err
				}
				t := cli.NewTable(w, "MSG ID", "PART", "FORMAT", "EXECUTION", "TRANSACTIONS", "TOTAL", "STATUS", "SENT", "ATTEMPTS", "SHA256", "ERROR")
				for _, f := range files {
					sent := "-"
					if !f.SentAt.IsZero() {
						sent = f.SentAt.Format(time.RFC3339)
					}
					t.Row(f.MsgID, strconv.Itoa(f.Part), f.Format, f.ExecutionDate.String(), strconv.Itoa(f.Transactions), cli.Amount(f.Total),
						fileStatus(f), sent, strconv.Itoa(f.Attempts), f.SHA256, f.LastError)
				}
				return t.Flush()
			})
		},
	}
}

// fileStatus is a payment file's status in a table, marked when the file
// went to the bank simulator of dev mode.
func fileStatus(f payments.PaymentFile) string {
	if f.Simulated {
		return string(f.Status) + " (simulated: pays nobody)"
	}
	return string(f.Status)
}

func batchFileCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "file MSGID [-f FILE.xml]",
		Short: "Write a payment file's pain.001 XML to a file or to standard output",
		Long: `Write the pain.001 XML of the payment file MSGID, as sent to the bank, to
FILE.xml (-f; created with mode 0600: it holds the payees' IBANs) or to
standard output. Its bytes are checked against the SHA-256 recorded when it
was written.
` + calledLedgerd,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			msgID := args[0]
			if err := sepa.CheckID("MSGID", msgID); err != nil {
				return cli.Usage(err)
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			// The bytes first: they need a role that handles the file,
			// and nothing is written for a caller who may not read them.
			var content bytes.Buffer
			if err := c.Do(cmd.Context(), http.MethodGet, filePath(msgID, ""), nil, "", nil, &content); err != nil {
				return renameFields(err, map[string]string{"msg_id": "MSGID"})
			}
			var info struct {
				File payments.PaymentFile `json:"file"`
			}
			if err := c.Get(cmd.Context(), filePath(msgID, "/info"), nil, &info); err != nil {
				return renameFields(err, map[string]string{"msg_id": "MSGID"})
			}
			f := info.File
			sum := sha256.Sum256(content.Bytes())
			if got := hex.EncodeToString(sum[:]); f.SHA256 != "" && !strings.EqualFold(got, f.SHA256) {
				return fmt.Errorf("payment file %s: the bytes received hash to %s, but %s was recorded when it was written", msgID, got, f.SHA256)
			}
			if out == "" {
				if a.json() {
					return cli.WriteJSON(a.stdout, struct {
						File payments.PaymentFile `json:"file"`
						XML  string               `json:"xml"`
					}{f, content.String()})
				}
				_, err := a.stdout.Write(content.Bytes())
				return err
			}
			if err := os.WriteFile(out, content.Bytes(), 0o600); err != nil {
				return fmt.Errorf("write payment file %s: %w", f.MsgID, err)
			}
			return a.write(struct {
				File payments.PaymentFile `json:"file"`
				Path string               `json:"path"`
			}{f, out}, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "wrote %s to %s: %s, %s, sha256 %s\n", f.MsgID, out, plural(f.Transactions, "transaction"),
					cli.Amount(f.Total), f.SHA256)
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&out, "file", "f", "", "write the XML to this file instead of standard output")
	return cmd
}

func exceptionsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exceptions",
		Short: "The payments the bank rejected: list them, correct the payee, close them, pay them again",
	}
	cmd.AddCommand(exceptionsListCmd(a), exceptionsCorrectCmd(a), exceptionsCloseCmd(a), exceptionsReissueCmd(a))
	return cmd
}

// parseExceptionID reads a payment exception id given as the argument ID.
func parseExceptionID(s string) (uuid.UUID, error) { return parseID("ID", s, "payment exception") }

func exceptionsListCmd(a *app) *cobra.Command {
	var status, batch, after string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the payment exceptions, oldest first",
		Long: `List the payments the bank rejected, oldest first, with the reason and what
to do. IBANs show in full only to the roles that pay (preparer, approver):
ledgerd masks them for the others.
` + calledLedgerd,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if status != "" {
				if _, err := httptransport.ParseExceptionStatus(status); err != nil {
					return cli.Usage(errs.Field("--status", "%v", err))
				}
				q.Set("status", status)
			}
			if batch != "" {
				id, err := parseID("--batch", batch, "batch")
				if err != nil {
					return err
				}
				q.Set("batch_id", id.String())
			}
			if after != "" {
				id, err := parseID("--after", after, "payment exception")
				if err != nil {
					return err
				}
				q.Set("after", id.String())
			}
			if limit < 1 || limit > paysql.MaxListLimit {
				return cli.Usage(errs.Field("--limit", "must be between 1 and %d", paysql.MaxListLimit))
			}
			q.Set("limit", strconv.Itoa(limit))
			c, err := a.api()
			if err != nil {
				return err
			}
			var out struct {
				Exceptions []payments.PaymentException `json:"exceptions"`
				Next       string                      `json:"next,omitempty"`
			}
			if err := c.Get(cmd.Context(), "/v1/payment-exceptions", q, &out); err != nil {
				return renameFields(err, map[string]string{"status": "--status", "batch_id": "--batch", "after": "--after", "limit": "--limit"})
			}
			if out.Exceptions == nil {
				out.Exceptions = []payments.PaymentException{}
			}
			return a.write(out, func(w io.Writer) error {
				if len(out.Exceptions) == 0 {
					_, err := fmt.Fprintln(w, "no payment exceptions")
					return err
				}
				t := cli.NewTable(w, "EXCEPTION", "STATUS", "BATCH", "BENEFICIARY", "SCHEME", "PERIOD", "AMOUNT", "CODE", "REASON", "PAYEE", "IBAN", "ACTION")
				for _, x := range out.Exceptions {
					payee := x.Payee
					if x.Corrected != nil {
						payee = *x.Corrected
					}
					t.Row(x.ID.String(), string(x.Status), x.BatchID.String(), x.BeneficiaryID, string(x.Scheme), x.Period.String(),
						cli.Amount(x.Amount), x.ReasonCode, x.Reason, payee.Name, payee.IBAN, x.Action)
				}
				if err := t.Flush(); err != nil {
					return err
				}
				if out.Next != "" {
					fmt.Fprintf(w, "\nmore: --after %s\n", out.Next)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only exceptions in this status: open, corrected, reissued or closed")
	cmd.Flags().StringVar(&batch, "batch", "", "only the exceptions of this batch")
	cmd.Flags().StringVar(&after, "after", "", "the page after this exception id")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many exceptions")
	return cmd
}

// exceptionTable writes one payment exception.
func exceptionTable(w io.Writer, x payments.PaymentException) error {
	t := cli.NewTable(w)
	t.Row("exception", x.ID.String())
	t.Row("status", string(x.Status))
	t.Row("batch", x.BatchID.String())
	t.Row("line", x.LineID)
	t.Row("beneficiary", x.BeneficiaryID)
	t.Row("amount", cli.Amount(x.Amount))
	t.Row("rejected", x.ReasonCode+": "+x.Reason)
	t.Row("paid to", x.Payee.Name+" "+x.Payee.IBAN)
	if x.Corrected != nil {
		t.Row("pay again to", strings.TrimSpace(x.Corrected.Name+" "+x.Corrected.IBAN+" "+x.Corrected.BIC))
		t.Row("corrected by", x.CorrectedBy)
	}
	if x.ReissueBatch != nil {
		t.Row("reissued in", x.ReissueBatch.String())
	}
	if x.Note != "" {
		t.Row("note", x.Note)
	}
	return t.Flush()
}

func exceptionsCorrectCmd(a *app) *cobra.Command {
	var name, iban, bic, reason string
	cmd := &cobra.Command{
		Use:   "correct ID --name NAME --iban IBAN [--bic BIC] --reason TEXT",
		Short: "Record the payee to pay a rejected payment to; the next reissue batch pays it",
		Long: `Record the payee to pay a rejected payment to, and how they were
established; the next reissue batch pays it.
` + calledLedgerd,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseExceptionID(args[0])
			if err != nil {
				return err
			}
			if strings.TrimSpace(name) == "" {
				return cli.Usage(errs.Field("--name", "is required: the account holder's name"))
			}
			n, err := payments.ValidateIBAN(iban)
			if err != nil {
				return cli.Usage(errs.Field("--iban", "%v", err))
			}
			if strings.TrimSpace(reason) == "" {
				return cli.Usage(errs.Field("--reason", "is required: say how the new payee was established"))
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			body := map[string]string{"name": strings.TrimSpace(name), "iban": n, "bic": strings.TrimSpace(bic), "reason": reason}
			var x payments.PaymentException
			if err := c.Post(cmd.Context(), exceptionPath(id, "payee"), nil, body, &x); err != nil {
				err = maybeDone(err, "'ledgerctl exceptions list' shows whether the payee was corrected")
				return flagNames(err, "id", "name", "iban", "bic", "reason")
			}
			return a.write(x, func(w io.Writer) error { return exceptionTable(w, x) })
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the account holder's name (required)")
	cmd.Flags().StringVar(&iban, "iban", "", "the IBAN to pay (required)")
	cmd.Flags().StringVar(&bic, "bic", "", "the BIC of the account's bank")
	cmd.Flags().StringVar(&reason, "reason", "", "how the new payee was established (required)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("iban")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func exceptionsCloseCmd(a *app) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "close ID --reason TEXT",
		Short: "Close a payment exception without paying it again",
		Long:  "Close a payment exception without paying it again, saying why.\n" + calledLedgerd,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseExceptionID(args[0])
			if err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return cli.Usage(errs.Field("--reason", "is required: say why the payment will not be made again"))
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			var x payments.PaymentException
			if err := c.Post(cmd.Context(), exceptionPath(id, "close"), nil, map[string]string{"reason": reason}, &x); err != nil {
				err = maybeDone(err, "'ledgerctl exceptions list --status closed' shows whether it was closed")
				return flagNames(err, "id", "reason")
			}
			return a.write(x, func(w io.Writer) error { return exceptionTable(w, x) })
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why it is closed (required)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func exceptionsReissueCmd(a *app) *cobra.Command {
	var note string
	cmd := &cobra.Command{
		Use:   "reissue [--note TEXT]",
		Short: "Make a draft batch paying the corrected exceptions again",
		Long: `Make a draft batch that pays again, to their corrected payees, the payments
the bank rejected. It goes through approval like any batch.
` + calledLedgerd,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.api()
			if err != nil {
				return err
			}
			var body any
			if note != "" {
				body = map[string]string{"note": note}
			}
			var b payments.Batch
			if err := c.Post(cmd.Context(), "/v1/payment-exceptions/reissue", nil, body, &b); err != nil {
				err = maybeDone(err, "'ledgerctl exceptions list --status reissued' shows the exceptions a reissue batch took")
				return flagNames(err, "note")
			}
			return a.write(b, func(w io.Writer) error {
				if err := workflowTable(w, b); err != nil {
					return err
				}
				fmt.Fprintln(w)
				return totalsTable(w, b)
			})
		},
	}
	cmd.Flags().StringVar(&note, "note", "", "a note for the audit trail")
	return cmd
}

func bankCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bank",
		Short: "Have ledgerd send the queued payment files or fetch the bank's status reports now; apply a report by hand",
	}
	cmd.AddCommand(
		bankPassCmd(a, "send", "Have ledgerd deliver the queued payment files to the bank now",
			`Have ledgerd run its sender of queued payment files now, rather than at its
next pass: ledgerd reaches the bank, never the machine ledgerctl runs on.
Running it again is safe: only files still queued are sent.`),
		bankPassCmd(a, "poll", "Have ledgerd fetch and apply the bank's status reports of the files sent now",
			`Have ledgerd fetch the bank's status reports of the files sent, and apply
them, now rather than at its next pass: ledgerd reaches the bank, never the
machine ledgerctl runs on. Running it again is safe: a report applied before
changes nothing.`),
		bankReportCmd(a),
	)
	return cmd
}

func bankPassCmd(a *app, name, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: short,
		Long:  long + "\n" + calledLedgerd,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.api()
			if err != nil {
				return err
			}
			var act payments.BankActivity
			if err := c.Post(cmd.Context(), "/v1/bank/"+name, nil, nil, &act); err != nil {
				return maybeDone(err, "running 'ledgerctl bank "+name+"' again is safe")
			}
			return a.write(act, func(w io.Writer) error {
				t := cli.NewTable(w, "SENT", "FAILED", "REPORTS", "ACCEPTED", "REJECTED", "UNCHANGED")
				t.Row(strconv.Itoa(act.Sent), strconv.Itoa(act.Failed), strconv.Itoa(act.Reports), strconv.Itoa(act.Accepted),
					strconv.Itoa(act.Rejected), strconv.Itoa(act.Unchanged))
				return t.Flush()
			})
		},
	}
}

func bankReportCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "report FILE",
		Short: "Apply a pain.002 status report received from the bank by hand ('-' reads standard input)",
		Long: `Apply a pain.002 payment status report: the payments it accepts are final,
those it rejects become payment exceptions, their amounts back in the
payees' payable accounts. Applying the same report again changes nothing.
` + calledLedgerd,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var content []byte
			var err error
			if args[0] == "-" {
				content, err = io.ReadAll(io.LimitReader(a.stdin, paysql.MaxReportBytes+1))
			} else {
				content, err = os.ReadFile(args[0])
			}
			if err != nil {
				return cli.Usage(errs.Field("FILE", "%v", err))
			}
			if len(strings.TrimSpace(string(content))) == 0 {
				return cli.Usage(errs.Field("FILE", "is empty: a pain.002 status report is expected"))
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			var res payments.ReportResult
			if err := c.Do(cmd.Context(), http.MethodPost, "/v1/status-reports", nil, "application/xml", bytes.NewReader(content), &res); err != nil {
				err = maybeDone(err, "applying the same report again is safe: a report applied before changes nothing")
				return renameFields(err, map[string]string{"body": "FILE"})
			}
			return a.write(res, func(w io.Writer) error {
				if res.Replayed {
					fmt.Fprintf(w, "report %s was applied before: nothing changed\n", res.MsgID)
				}
				t := cli.NewTable(w, "REPORT", "FILE", "ACCEPTED", "REJECTED", "UNCHANGED")
				t.Row(res.MsgID, res.OriginalMsgID, strconv.Itoa(res.Accepted), strconv.Itoa(res.Rejected), strconv.Itoa(res.Unchanged))
				return t.Flush()
			})
		},
	}
}

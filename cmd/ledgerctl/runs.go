package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/apiclient"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger/sqlstore"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
)

// runClock is the clock of the runs: the day a run starts on decides which
// periods are over and which grants are due.
var runClock = time.Now

// runStore returns the runs' store on the database, computing with the
// rate schedule of RATE_SCHEDULE_FILE or the default one; progress, when
// set, hears of each chunk a run writes.
func (a *app) runStore(cmd *cobra.Command, progress func(payments.Run)) (*paysql.RunStore, error) {
	sch, _, err := a.schedules("")
	if err != nil {
		return nil, err
	}
	pool, err := a.connect(cmd.Context(), true)
	if err != nil {
		return nil, err
	}
	policy := db.DefaultRetryPolicy
	policy.MaxAttempts = a.cfg.TxMaxAttempts
	// The lines are written as the ledger's bulk rows are (BULK_WRITE).
	method, err := sqlstore.ChooseBulkMethod(cmd.Context(), pool, a.cfg.BulkWrite)
	if err != nil {
		return nil, err
	}
	opts := []paysql.RunOption{paysql.WithSchedules(sch), paysql.WithRunRetryPolicy(policy), paysql.WithRunClock(runClock),
		paysql.WithRunLease(a.cfg.LeaseTTL), paysql.WithRunBulkInsert(method == sqlstore.BulkInsert)}
	if progress != nil {
		opts = append(opts, paysql.WithProgress(progress))
	}
	return paysql.NewRunStore(pool, opts...), nil
}

// flagError renames the field of an invalid-input error after the flag
// that gave the value: "period" becomes "--period".
func flagError(flag string, err error) error {
	var e *errs.Error
	if errors.As(err, &e) && e.Code == errs.Invalid {
		return errs.Field(flag, "%s", e.Message)
	}
	return err
}

func runsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Short: "Start the ADA and grants runs, list them, and cancel one left by a stopped process (through ledgerd)"}
	start := &cobra.Command{Use: "start", Short: "Compute a draft batch: the ADA of a month, or the grants due"}
	start.AddCommand(runStartADACmd(a), runStartGrantsCmd(a))
	cmd.AddCommand(start, runsListCmd(a), runsCancelCmd(a))
	return cmd
}

// runFields names the flags of the fields of POST /v1/runs.
var runFields = map[string]string{"period": "--period", "day": "--day"}

func runStartADACmd(a *app) *cobra.Command {
	var period string
	cmd := &cobra.Command{
		Use:   "ada --period YYYY-MM",
		Short: "Compute the ADA of a month for every beneficiary into a draft batch",
		Long: `Compute the ADA of a month that is over (and within the two-year limitation)
for every beneficiary, with the retroactive adjustments of the months already
paid and the deductions that recover overpayments, into a draft batch.

ledgerd computes it (POST /v1/runs), as the holder of the token: the batch's
approvers must be other people. While the month's batch is a draft, running
the month again replaces it; once it is approved, a new run adds only the
differences. A run cut short, by an interruption or a lost connection,
leaves the previous draft as it was, and can be started again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := payments.ParsePeriod(period)
			if err != nil {
				return flagError("--period", err)
			}
			return a.startRun(cmd, payments.RunADA, p, map[string]string{"kind": string(payments.RunADA), "period": p.String()})
		},
	}
	cmd.Flags().StringVar(&period, "period", "", "the month to pay, YYYY-MM (required)")
	_ = cmd.MarkFlagRequired("period")
	return cmd
}

func runStartGrantsCmd(a *app) *cobra.Command {
	var day string
	cmd := &cobra.Command{
		Use:   "grants",
		Short: "Batch the return aid and reinsertion tranches due",
		Long: `Batch into a draft the return aid of the grants whose departure is on or
before --day (default today), and the reinsertion tranches released on or
before it, that no other batch holds. ledgerd computes it (POST /v1/runs), as
the holder of the token. Running again while the month's grants batch is a
draft replaces it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := parseDate("--day", day)
			if err != nil {
				return err
			}
			body := map[string]string{"kind": string(payments.RunGrants)}
			if !d.IsZero() {
				body["day"] = d.String()
			}
			return a.startRun(cmd, payments.RunGrants, payments.Period{}, body)
		},
	}
	cmd.Flags().StringVar(&day, "day", "", "batch what is due on this day, YYYY-MM-DD (default: today)")
	return cmd
}

// runPollInterval is how often the progress of a run is read while ledgerd
// computes it.
var runPollInterval = time.Second

// startRun asks ledgerd to compute a run, showing its progress on the
// terminal while it does, then writes the run and its batch. A connection
// lost before the answer is looked into: the run finished, or was cut short
// and may be started again.
func (a *app) startRun(cmd *cobra.Command, kind payments.RunKind, period payments.Period, body map[string]string) error {
	api, err := a.api()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	// The runs before this one, to know it among them afterwards.
	before, err := a.runIDs(cmd)
	if err != nil {
		return err
	}
	progress := cli.NewProgress(a.stderr, -1, "computing", a.json())
	done := make(chan struct{})
	go func() {
		// The run's progress, read from the list of runs.
		tick := time.NewTicker(runPollInterval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if r, ok, _ := a.latestRun(cmd, kind, period, before); ok && r.Status == payments.RunRunning {
				progress.Set(int64(r.Processed))
			}
		}
	}()
	var run payments.Run
	err = api.Post(ctx, "/v1/runs", nil, body, &run)
	close(done)
	progress.Finish()
	if err != nil {
		var lost *apiclient.UnreachableError
		if errors.As(err, &lost) && lost.Sent {
			return a.lostRun(cmd, kind, period, before, err)
		}
		return apiclient.RenameFields(err, runFields)
	}
	var b payments.Batch
	if err := api.Get(ctx, "/v1/batches/"+run.BatchID.String(), nil, &b); err != nil {
		return fmt.Errorf("run %s is done; reading its batch %s: %w", run.ID, run.BatchID, err)
	}
	out := struct {
		Run   payments.Run   `json:"run"`
		Batch payments.Batch `json:"batch"`
	}{run, b}
	return a.write(out, func(w io.Writer) error {
		fmt.Fprintf(w, "%s run %s for %s: %s, %s for %s in %s\n", run.Kind, run.ID, run.Period, run.Status,
			plural(run.Lines, "line"), plural(run.Processed, processedWord(run.Kind)), run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond))
		fmt.Fprintf(w, "draft batch %s\n\n", b.ID)
		return totalsTable(w, b)
	})
}

// runIDs returns the ids of the latest runs, to tell afterwards which run
// is new.
func (a *app) runIDs(cmd *cobra.Command) (map[uuid.UUID]bool, error) {
	runs, err := a.listRuns(cmd)
	ids := make(map[uuid.UUID]bool, len(runs))
	for _, r := range runs {
		ids[r.ID] = true
	}
	return ids, err
}

// listRuns reads the latest runs, newest first.
func (a *app) listRuns(cmd *cobra.Command) ([]payments.Run, error) {
	api, err := a.api()
	if err != nil {
		return nil, err
	}
	var list struct {
		Runs []payments.Run `json:"runs"`
	}
	err = api.Get(cmd.Context(), "/v1/runs", url.Values{"limit": {strconv.Itoa(paysql.MaxListLimit)}}, &list)
	return list.Runs, err
}

// latestRun finds the newest run of kind (and period, for an ADA run) that
// is not among before. The error is that of reading the list: ledgerd did
// not answer.
func (a *app) latestRun(cmd *cobra.Command, kind payments.RunKind, period payments.Period, before map[uuid.UUID]bool) (payments.Run, bool, error) {
	runs, err := a.listRuns(cmd)
	if err != nil {
		return payments.Run{}, false, err
	}
	for _, r := range runs { // newest first
		if !before[r.ID] && r.Kind == kind && (kind != payments.RunADA || r.Period == period) {
			return r, true, nil
		}
	}
	return payments.Run{}, false, nil
}

// lostRun says what became of a run whose answer was lost with the
// connection: done, cut short, or not known while ledgerd is away.
func (a *app) lostRun(cmd *cobra.Command, kind payments.RunKind, period payments.Period, before map[uuid.UUID]bool, cause error) error {
	what := "the grants run"
	again := "ledgerctl runs start grants"
	if kind == payments.RunADA {
		what, again = "the ADA run of "+period.String(), "ledgerctl runs start ada --period "+period.String()
	}
	r, ok, err := a.latestRun(cmd, kind, period, before)
	switch {
	case err != nil:
		return fmt.Errorf("%w\n%s may or may not have been computed, and ledgerd cannot tell now: once it answers, 'ledgerctl runs list' shows it; starting it again ('%s') is safe: a draft is replaced, nothing is paid twice", cause, what, again)
	case !ok:
		return fmt.Errorf("%w\n%s was not started: start it again with '%s'", cause, what, again)
	case r.Status == payments.RunDone:
		fmt.Fprintf(a.stderr, "note: the connection was lost, but %s finished: run %s, draft batch %s ('ledgerctl batches show %s')\n", what, r.ID, r.BatchID, r.BatchID)
		return nil
	case r.Status == payments.RunRunning:
		return fmt.Errorf("%w\n%s (run %s) is still being computed by ledgerd, or was stopped with it: 'ledgerctl runs list' shows when it is done; if it shows failed, or ledgerd stopped, start it again with '%s' (a run whose process stopped is taken over once its lease expires, LEASE_TTL)", cause, what, r.ID, again)
	default:
		return fmt.Errorf("%w\n%s (run %s) was cut short (%s) and left the previous draft as it was: start it again with '%s'", cause, what, r.ID, r.Status, again)
	}
}

func processedWord(k payments.RunKind) string {
	if k == payments.RunGrants {
		return "grant"
	}
	return "beneficiary"
}

func runsListCmd(a *app) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the latest runs, newest first",
		Long:  "List the latest runs, newest first, as ledgerd records them (GET /v1/runs).",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > paysql.MaxListLimit {
				return cli.Usage(errs.Field("--limit", "must be between 1 and %d", paysql.MaxListLimit))
			}
			api, err := a.api()
			if err != nil {
				return err
			}
			var list struct {
				Runs []payments.Run `json:"runs"`
			}
			if err := api.Get(cmd.Context(), "/v1/runs", url.Values{"limit": {strconv.Itoa(limit)}}, &list); err != nil {
				return apiclient.RenameFields(err, map[string]string{"limit": "--limit"})
			}
			runs := list.Runs
			return a.write(list, func(w io.Writer) error {
				t := cli.NewTable(w, "RUN", "KIND", "PERIOD", "DAY", "STATUS", "TRIGGER", "BY", "STARTED", "FINISHED", "PROCESSED", "LINES", "BATCH", "ERROR")
				for _, r := range runs {
					finished := "-"
					if !r.FinishedAt.IsZero() {
						finished = r.FinishedAt.Format(time.RFC3339)
					}
					t.Row(r.ID.String(), string(r.Kind), r.Period.String(), r.Day.String(), string(r.Status), string(r.Trigger), r.By,
						r.StartedAt.Format(time.RFC3339), finished, strconv.Itoa(r.Processed), strconv.Itoa(r.Lines), r.BatchID.String(), r.Error)
				}
				return t.Flush()
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many runs")
	return cmd
}

func runsCancelCmd(a *app) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "cancel ID --reason TEXT",
		Short: "Abandon a run left running by a process that stopped",
		Long: `Abandon a run that a stopped process left running (its lease expired, or it
holds none), saying why: the run becomes cancelled, its unfinished batch is
discarded and the audit trail records who cancelled it and why. A run still
alive (its lease renewed) is refused, naming the process that holds it. The
scheduler does not start again a month whose run was cancelled: start it with
'ledgerctl runs start ada' when it is to be paid (ledger_ada_run_overdue
shows it meanwhile). ledgerd does it (POST /v1/runs/ID/cancel), as the holder
of the token: a preparer or an administrator.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID("ID", args[0], "run")
			if err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return cli.Usage(errs.Field("--reason", "is required: say why the run is abandoned"))
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			var run payments.Run
			if err := c.Post(cmd.Context(), "/v1/runs/"+id.String()+"/cancel", nil, map[string]string{"reason": reason}, &run); err != nil {
				err = maybeDone(err, "'ledgerctl runs list' shows whether it was cancelled")
				return flagNames(err, "id", "reason")
			}
			return a.write(run, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "%s run %s for %s: %s (%s); its batch %s was discarded\n", run.Kind, run.ID, run.Period, run.Status,
					run.Error, run.BatchID)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the run is abandoned (required)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func batchesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "batches", Short: "Read the batches the runs computed, and their lines (through ledgerd)"}
	cmd.AddCommand(batchesListCmd(a), batchesShowCmd(a))
	return cmd
}

func batchesListCmd(a *app) *cobra.Command {
	var kind, period, status string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the batches, newest first, with their totals",
		Long:  "List the batches, newest first, with their totals, as ledgerd holds them (GET /v1/batches).",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var f payments.BatchFilter
			var err error
			if kind != "" {
				if f.Kind, err = payments.ParseRunKind(kind); err != nil {
					return cli.Usage(errs.Field("--kind", "%v", err))
				}
			}
			if period != "" {
				if f.Period, err = payments.ParsePeriod(period); err != nil {
					return flagError("--period", err)
				}
			}
			if limit < 1 || limit > paysql.MaxListLimit {
				return cli.Usage(errs.Field("--limit", "must be between 1 and %d", paysql.MaxListLimit))
			}
			api, err := a.api()
			if err != nil {
				return err
			}
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if kind != "" {
				q.Set("kind", string(f.Kind))
			}
			if period != "" {
				q.Set("period", f.Period.String())
			}
			if status != "" {
				q.Set("status", status)
			}
			var list struct {
				Batches []payments.Batch `json:"batches"`
			}
			if err := api.Get(cmd.Context(), "/v1/batches", q, &list); err != nil {
				return apiclient.RenameFields(err, map[string]string{"status": "--status", "kind": "--kind", "period": "--period", "limit": "--limit"})
			}
			bs := list.Batches
			return a.write(list, func(w io.Writer) error {
				t := cli.NewTable(w, "BATCH", "KIND", "PERIOD", "STATUS", "CREATED", "LINES", "GROSS", "DEDUCTION", "NET")
				for _, b := range bs {
					t.Row(b.ID.String(), string(b.Kind), b.Period.String(), string(b.Status), b.CreatedAt.Format(time.RFC3339),
						strconv.Itoa(b.Lines), cli.Amount(b.Total.Gross), cli.Amount(b.Total.Deduction), cli.Amount(b.Total.Net))
				}
				return t.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "only batches of this kind of run: ada or grants")
	cmd.Flags().StringVar(&period, "period", "", "only batches of this month, YYYY-MM")
	cmd.Flags().StringVar(&status, "status", "", "only batches in this status: building, draft, approving, approved (default: all but replaced)")
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many batches")
	return cmd
}

func batchesShowCmd(a *app) *cobra.Command {
	var lines, showIBAN bool
	var cursor string
	var limit int
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a batch and its totals per scheme; with --lines, a page of its lines",
		Long: `Show a batch, its status and its totals per scheme. With --lines, also list a
page of its lines in the order of their ids (the EndToEndId the bank sees),
with gross, deduction, net, payee and how each amount is made; --cursor
continues after a previous page. ledgerd answers (GET /v1/batches/{id} and
/lines): it sends IBANs in full only to the staff who pay, and records that
it did; ledgerctl masks them still unless --show-iban is given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseBatchID(args[0])
			if err != nil {
				return err
			}
			if limit < 1 || limit > paysql.MaxListLimit {
				return cli.Usage(errs.Field("--limit", "must be between 1 and %d", paysql.MaxListLimit))
			}
			api, err := a.api()
			if err != nil {
				return err
			}
			var b payments.Batch
			if err := api.Get(cmd.Context(), "/v1/batches/"+id.String(), nil, &b); err != nil {
				return apiclient.RenameFields(err, map[string]string{"id": "ID"})
			}
			var page []payments.BatchLine
			var next string
			if lines {
				q := url.Values{"limit": {strconv.Itoa(limit)}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				var got struct {
					Lines      []payments.BatchLine `json:"lines"`
					NextCursor string               `json:"next_cursor"`
				}
				if err := api.Get(cmd.Context(), "/v1/batches/"+id.String()+"/lines", q, &got); err != nil {
					return apiclient.RenameFields(err, map[string]string{"cursor": "--cursor", "limit": "--limit", "id": "ID"})
				}
				page, next = got.Lines, got.NextCursor
				if !showIBAN {
					for i := range page {
						page[i].Payee.IBAN = mask.MaskIBAN(page[i].Payee.IBAN)
					}
				}
			}
			out := struct {
				Batch      payments.Batch       `json:"batch"`
				Lines      []payments.BatchLine `json:"lines,omitempty"`
				NextCursor string               `json:"next_cursor,omitempty"`
			}{b, page, next}
			return a.write(out, func(w io.Writer) error {
				t := cli.NewTable(w)
				t.Row("batch", b.ID.String())
				t.Row("run", b.RunID.String())
				t.Row("kind", string(b.Kind))
				t.Row("period", b.Period.String())
				t.Row("status", string(b.Status))
				t.Row("created", b.CreatedAt.Format(time.RFC3339))
				if !b.ApprovedAt.IsZero() {
					t.Row("approved", b.ApprovedAt.Format(time.RFC3339))
				}
				t.Row("lines", strconv.Itoa(b.Lines))
				workflowRows(t, b.Workflow)
				if err := t.Flush(); err != nil {
					return err
				}
				fmt.Fprintln(w)
				if err := totalsTable(w, b); err != nil {
					return err
				}
				if !lines {
					return nil
				}
				fmt.Fprintln(w)
				t = cli.NewTable(w, "LINE", "SCHEME", "KIND", "BENEFICIARY", "PERIOD", "GROSS", "DEDUCTION", "NET", "PAYEE", "IBAN", "EXPLANATION")
				for _, l := range page {
					t.Row(l.ID, string(l.Scheme), string(l.Kind), l.BeneficiaryID, l.Period.String(), cli.Amount(l.Gross),
						cli.Amount(l.Deduction), cli.Amount(l.Net), l.Payee.Name, l.Payee.IBAN, l.Explanation.Text)
				}
				if err := t.Flush(); err != nil {
					return err
				}
				if next != "" {
					fmt.Fprintf(w, "\nmore: --cursor %s\n", next)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&lines, "lines", false, "also list a page of the batch's lines")
	cmd.Flags().StringVar(&cursor, "cursor", "", "with --lines, continue after this line id")
	cmd.Flags().IntVar(&limit, "limit", 100, "with --lines, at most this many lines")
	cmd.Flags().BoolVar(&showIBAN, "show-iban", false, "show IBANs in full (for the staff who pay)")
	return cmd
}

// totalsTable writes a batch's totals, one row per scheme and the total.
func totalsTable(w io.Writer, b payments.Batch) error {
	t := cli.NewTable(w, "SCHEME", "LINES", "GROSS", "DEDUCTION", "NET")
	for _, s := range payments.Schemes {
		x, ok := b.Totals[s]
		if !ok {
			continue
		}
		t.Row(string(s), strconv.Itoa(x.Lines), cli.Amount(x.Gross), cli.Amount(x.Deduction), cli.Amount(x.Net))
	}
	for s, x := range b.Totals {
		if !slices.Contains(payments.Schemes, s) {
			t.Row(string(s), strconv.Itoa(x.Lines), cli.Amount(x.Gross), cli.Amount(x.Deduction), cli.Amount(x.Net))
		}
	}
	t.Row("total", strconv.Itoa(b.Total.Lines), cli.Amount(b.Total.Gross), cli.Amount(b.Total.Deduction), cli.Amount(b.Total.Net))
	return t.Flush()
}

// workflowRows adds a batch's approval and release to its page: who
// computed and prepared it, the approvals it has and those it still needs.
func workflowRows(t *cli.Table, w payments.Workflow) {
	if w.ComputedBy != "" {
		t.Row("computed by", w.ComputedBy)
	}
	if w.PreparedBy != "" {
		t.Row("prepared by", fmt.Sprintf("%s on %s", w.PreparedBy, w.SubmittedAt.Format(time.RFC3339)))
	}
	if w.ApprovalsNeeded > 0 {
		t.Row("approvals", fmt.Sprintf("%d of %d (%d still needed)", len(w.Approvals), w.ApprovalsNeeded, w.ApprovalsMissing))
	}
	for _, a := range w.Approvals {
		t.Row("  approved by", fmt.Sprintf("%s on %s", a.Approver, a.At.Format(time.RFC3339)))
	}
	if w.ReleasedBy != "" {
		t.Row("released by", fmt.Sprintf("%s on %s, execution date %s", w.ReleasedBy, w.ReleasedAt.Format(time.RFC3339), w.ExecutionDate))
	}
	if !w.ClosedAt.IsZero() {
		t.Row("closed", w.ClosedAt.Format(time.RFC3339))
	}
	if w.Reason != "" {
		t.Row("reason", w.Reason)
	}
}

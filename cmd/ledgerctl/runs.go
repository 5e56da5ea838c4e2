package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	httptransport "github.com/ofii/allowances/transport/http"
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
	opts := []paysql.RunOption{paysql.WithSchedules(sch), paysql.WithRunRetryPolicy(policy), paysql.WithRunClock(runClock)}
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

// startedBy authenticates who starts a run from the shell by their API
// token (--token or LEDGER_TOKEN), as the approval workflow does: the
// approvers of the batch must be other people, so the name must be proven.
func (a *app) startedBy(cmd *cobra.Command) (string, error) {
	tok, _ := cmd.Flags().GetString("token")
	who, err := a.actor(tok, "start a run", httptransport.RunStarters...)
	return who.Name, err
}

func runsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Short: "Start the ADA and grants runs, and list the runs"}
	start := &cobra.Command{Use: "start", Short: "Compute a draft batch: the ADA of a month, or the grants due"}
	start.AddCommand(runStartADACmd(a), runStartGrantsCmd(a))
	cmd.AddCommand(start, runsListCmd(a))
	return cmd
}

func runStartADACmd(a *app) *cobra.Command {
	var period string
	cmd := &cobra.Command{
		Use:   "ada --period YYYY-MM",
		Short: "Compute the ADA of a month for every beneficiary into a draft batch",
		Long: `Compute the ADA of a month that is over (and within the two-year limitation)
for every beneficiary, with the retroactive adjustments of the months already
paid and the deductions that recover overpayments, into a draft batch.

While the month's batch is a draft, running the month again replaces it; once
it is approved, a new run adds only the differences. An interrupted run leaves
the previous draft as it was, and can be started again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := payments.ParsePeriod(period)
			if err != nil {
				return flagError("--period", err)
			}
			by, err := a.startedBy(cmd)
			if err != nil {
				return err
			}
			return a.startRun(cmd, func(store *paysql.RunStore) (payments.Run, error) {
				run, err := store.StartADARun(cmd.Context(), p, payments.TriggerStaff, by)
				return run, flagError("--period", err)
			})
		},
	}
	cmd.Flags().StringVar(&period, "period", "", "the month to pay, YYYY-MM (required)")
	tokenFlag(cmd)
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
before it, that no other batch holds. Running again while the month's grants
batch is a draft replaces it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := parseDate("--day", day)
			if err != nil {
				return err
			}
			by, err := a.startedBy(cmd)
			if err != nil {
				return err
			}
			return a.startRun(cmd, func(store *paysql.RunStore) (payments.Run, error) {
				run, err := store.StartGrantsRun(cmd.Context(), d, payments.TriggerStaff, by)
				return run, flagError("--day", err)
			})
		},
	}
	cmd.Flags().StringVar(&day, "day", "", "batch what is due on this day, YYYY-MM-DD (default: today)")
	tokenFlag(cmd)
	return cmd
}

// startRun runs start with progress on the terminal, then writes the run
// and its batch.
func (a *app) startRun(cmd *cobra.Command, start func(*paysql.RunStore) (payments.Run, error)) error {
	if _, err := a.config(); err != nil {
		return err
	}
	progress := cli.NewProgress(a.stderr, -1, "computing", a.json())
	store, err := a.runStore(cmd, func(r payments.Run) { progress.Set(int64(r.Processed)) })
	if err != nil {
		return err
	}
	run, err := start(store)
	progress.Finish()
	if err != nil {
		if run.ID != uuid.Nil {
			return fmt.Errorf("run %s: %w", run.ID, err)
		}
		return err
	}
	b, err := store.Batch(cmd.Context(), run.BatchID)
	if err != nil {
		return err
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
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > paysql.MaxListLimit {
				return cli.Usage(errs.Field("--limit", "must be between 1 and %d", paysql.MaxListLimit))
			}
			store, err := a.runStore(cmd, nil)
			if err != nil {
				return err
			}
			runs, err := store.Runs(cmd.Context(), limit)
			if err != nil {
				return err
			}
			return a.write(struct {
				Runs []payments.Run `json:"runs"`
			}{runs}, func(w io.Writer) error {
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

func batchesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "batches", Short: "Read the batches the runs computed, and their lines"}
	cmd.AddCommand(batchesListCmd(a), batchesShowCmd(a))
	return cmd
}

func batchesListCmd(a *app) *cobra.Command {
	var kind, period, status string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the batches, newest first, with their totals",
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
			f.Status, f.Limit = payments.BatchStatus(status), limit
			store, err := a.runStore(cmd, nil)
			if err != nil {
				return err
			}
			bs, err := store.Batches(cmd.Context(), f)
			if err != nil {
				return flagError("--status", err)
			}
			return a.write(struct {
				Batches []payments.Batch `json:"batches"`
			}{bs}, func(w io.Writer) error {
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
continues after a previous page. IBANs are masked unless --show-iban is given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseBatchID(args[0])
			if err != nil {
				return err
			}
			if limit < 1 || limit > paysql.MaxListLimit {
				return cli.Usage(errs.Field("--limit", "must be between 1 and %d", paysql.MaxListLimit))
			}
			store, err := a.runStore(cmd, nil)
			if err != nil {
				return err
			}
			b, err := store.Batch(cmd.Context(), id)
			if err != nil {
				return err
			}
			var page []payments.BatchLine
			var next string
			if lines {
				if page, next, err = store.BatchLines(cmd.Context(), id, cursor, limit); err != nil {
					return flagError("--cursor", err)
				}
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

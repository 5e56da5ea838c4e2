package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/bench"
	"github.com/ofii/allowances/internal/cli"
)

// benchCmd is `ledgerctl bench`: it measures the ledger against the COPY
// floor and a pgbench-like reference in a scratch database and prints the
// rates and their ratios.
func benchCmd(a *app) *cobra.Command {
	opts := bench.Defaults()
	var (
		quick   bool
		summary bool
		mode    string
		runs    int
		// cpuProfile is the file the process's CPU profile goes to.
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure bulk posting, transfers and the monthly run against COPY and a TPC-B reference",
		Long: `bench uses the database server itself (DATABASE_URL), not ledgerd.
It creates a scratch database on the server of DATABASE_URL (dropped
and created again at the start, dropped at the end unless --keep), sets up
the chart and measures, in one run:

  a  COPY of N posting rows into a table of the shape of postings
  b  one bulk entry of N lines over N beneficiary accounts (PostBulk);
     the seal that follows it is timed apart (ledgerd seals every
     SEAL_INTERVAL, not as it posts) and shown as information
  c  two-line transfers between random cold accounts from concurrent clients
  d  the same, every transfer touching bank:main
  e  pgbench's TPC-B-like transaction on bench_* tables, at the server's
     default isolation (READ COMMITTED on PostgreSQL)

and reports the ratios b/a (bulk time over COPY time, target <= 2),
c/e (>= 1.0) and d/c (>= 0.5). Then, on an embedded Kafka broker:

  f  eligibility events (rights openings and household changes) applied per
     second from the topic into the database by the consumer (>= 30,000),
     in batches of KAFKA_BATCH_SIZE's default (--event-batch)
  g  the bare kafka-go read rate of the same records

and, for each count N of --households:

  h  the monthly ADA run of 2026-10 (StartADARun) over N synthetic
     households loaded beforehand by COPY (1 to 6 persons, 30 %
     accommodated, mostly metropole with some guyane and saint-martin,
     5 % suspended, 10 % with a household change and 2 % whose rights close
     within the month), in households/s, with the lines written and the
     peak RSS and Go heap of the process; ratios h/a (run time over the
     COPY time of as many rows, target <= 4) and peak RSS <= 128 MiB
  i  statement import and match: a CFONB 120 file of N debits imported and
     matched by EndToEndId against N payments in transit (time over the COPY
     time of as many rows, target <= 2) and peak RSS <= 128 MiB

then:

  m  the import of a statement of 2 lines beside --backlog unmatched lines
     (400,000 by default): the time depends on the file, not the backlog
     (target < 1 s)
  v  verify of a ledger of at least the largest N postings, all but one in
     a hundred sealed: --full (every posting) and from the last seal
  k  two hostile files, generated as they are read and refused: a 64 MiB
     pain.002 nested without end and a 200 MB camt.053 with one giant
     value, with the bytes read, the reader's peak heap and the process's
     peak RSS (bound: 16 MiB allocated by the reader)

and last, for each count N of --households:

  w  the whole month: the households of step h loaded again by COPY (not
     timed), then, through the run and approval stores and the approval
     workflow the server uses, timed end to end and per phase:
       run       the monthly ADA run of 2026-10 (StartADARun)
       approval  the batch submitted by a preparer, then approved by two
                 approvers (neither computed nor prepared it: both are
                 checked refused, untimed); the last approval posts the
                 accrual (expense:ada to payable:*)
       release   the pain.001 files written (10,000 payments each), the
                 payable posted to payments in transit, the files queued
     The statistics stay as the phases' writes left them; with
     --analyze-between the scratch database is analyzed between the
     phases, untimed, as autovacuum would have (the staff approve and
     release hours after the run). There is no bank: the files wait in
     the outbox for the sender, a separate pass not run here. The step
     checks the batch released, every line in a queued file never sent,
     and the amounts moved in the ledger.
     Ratios: w/a (whole month time over the COPY time of N rows, target
     <= 60, what this version reaches; the goal is 8), each phase over
     the same COPY time (info), and the peak RSS of the process over the
     month (<= 256 MiB)

--steps runs some of the steps only (a, the COPY floor the ratios divide
by, runs always; g runs with f). Transactions that fail are counted apart
and not in the rates. Progress goes to standard error on a terminal.

--bulk-write (by default BULK_WRITE, itself auto by default) is how the
ledger and the reconciliation write rows in bulk: copy, insert (multi-row
INSERTs, as on a CockroachDB role that may not COPY) or auto (copy where
the role may). The method used is printed with the server settings and in
-o json (machine.bulk_write); the COPY floor (a) is COPY whatever it says.

The figures are one run's, printed as they came. A ratio with a target says
PASS or MISS; one without says info. With --runs N the whole run is done N
times: the ratios are the medians of the runs, PASS or MISS judged on the
median, with the range (min-max) beside them. The server settings that
weigh on the figures (shared_buffers, synchronous_commit, work_mem,
max_wal_size) and the bulk write method are printed with them.

--summary prints one block fit to be quoted: the settings (machine,
server, bulk write method, runs, sizes) followed by the ratio table, with
no per-step results.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if quick {
				q := opts
				q.Quick()
				if !cmd.Flags().Changed("sizes") {
					opts.Sizes = q.Sizes
				}
				if !cmd.Flags().Changed("duration") {
					opts.Duration = q.Duration
				}
				if !cmd.Flags().Changed("events") {
					opts.Events = q.Events
				}
				if !cmd.Flags().Changed("households") {
					opts.Households = q.Households
				}
				if !cmd.Flags().Changed("statements") {
					opts.Statements = q.Statements
				}
			}
			opts.Accounts = bench.AccountsMode(mode)
			c, err := a.config()
			if err != nil {
				return err
			}
			opts.DatabaseURL = c.DatabaseURL
			opts.TxMaxAttempts = c.TxMaxAttempts
			if !cmd.Flags().Changed("bulk-write") {
				opts.BulkWrite = c.BulkWrite
			}
			if err := opts.Validate(); err != nil {
				return cli.Usage(err)
			}
			if runs < 1 {
				return cli.Usage(fmt.Errorf("--runs: %d is not a positive number", runs))
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			rep, err := bench.RunMany(cmd.Context(), opts, runs, &barProgress{w: a.stderr, visible: cli.IsTerminal(a.stderr)})
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			return a.write(rep, func(w io.Writer) error {
				if summary {
					return printBenchSummary(w, rep)
				}
				return printBenchReport(w, rep)
			})
		},
	}
	f := cmd.Flags()
	f.DurationVar(&opts.Duration, "duration", opts.Duration, "length of each timed step (c, d, e)")
	f.IntVar(&opts.Count, "count", 0, "run each timed step for this many transactions instead of --duration")
	f.IntVar(&opts.Clients, "clients", opts.Clients, "concurrent clients of the timed steps")
	f.IntSliceVar(&opts.Sizes, "sizes", opts.Sizes, "line counts N of the COPY floor and the bulk entries")
	f.IntVar(&opts.ChunkSize, "chunk", 0, "lines per transaction of the bulk entry (0: the store's default)")
	f.StringVar(&mode, "accounts", string(opts.Accounts), "who creates the beneficiary accounts: insert (beforehand, not timed) or store (on first posting, timed)")
	f.IntVar(&opts.ColdAccounts, "cold-accounts", opts.ColdAccounts, "accounts the transfers pick from")
	f.StringVar(&opts.Database, "database", opts.Database, "scratch database, dropped and created on the server of DATABASE_URL")
	f.BoolVar(&opts.Keep, "keep", false, "keep the scratch database after the run")
	f.IntVar(&opts.Events, "events", opts.Events, "eligibility events of steps f and g (negative: skip them)")
	f.Var((*householdsFlag)(&opts.Households), "households", "household counts of the ADA runs of step h and the whole months of step w (negative or empty: skip them)")
	f.Var((*householdsFlag)(&opts.Statements), "statements", "line counts of the statements imported and matched in step i (negative or empty: skip it)")
	f.IntVar(&opts.Backlog, "backlog", 0, "unmatched statement lines beside which step m imports a statement of 2 lines (0: 400000, negative: skip it)")
	f.StringVar(&opts.Steps, "steps", "", "letters of the steps to run, such as \"fv\" (empty: all of "+bench.AllSteps+")")
	f.IntVar(&runs, "runs", 1, "runs of the whole measurement: ratios are judged on the median, with the range")
	f.IntVar(&opts.EventBatch, "event-batch", 0, "events per transaction of step f (0: the service's KAFKA_BATCH_SIZE default)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write the CPU profile of the whole run (Go side) to this file, for go tool pprof")
	f.StringVar(&opts.BulkWrite, "bulk-write", "", "bulk write method of the ledger and the reconciliation: auto, copy or insert (default: BULK_WRITE)")
	f.BoolVar(&opts.AnalyzeBetween, "analyze-between", false, "step w: ANALYZE, untimed, between the run, the approval and the release")
	f.BoolVar(&summary, "summary", false, "print only the settings and the ratio table, as one block")
	f.BoolVar(&quick, "quick", false, "smoke run: sizes 10000,100000, 3s steps, 20000 events, households and statements 10000,100000 (explicit flags win)")
	return cmd
}

// householdsFlag is a comma-separated list of counts, where an empty value
// is an empty list.
type householdsFlag []int

func (h *householdsFlag) String() string {
	s := make([]string, len(*h))
	for i, n := range *h {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (h *householdsFlag) Set(v string) error {
	out := []int{}
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return fmt.Errorf("%q is not a number", f)
		}
		out = append(out, n)
	}
	*h = out
	return nil
}

func (h *householdsFlag) Type() string { return "ints" }

// printBenchReport writes the results and the ratios as tables, then the
// machine and the settings.
func printBenchReport(w io.Writer, rep bench.Report) error {
	t := cli.NewTable(w, "STEP", "MEASUREMENT", "N", "SECONDS", "RATE", "UNIT", "ERRORS", "P50 MS", "P99 MS", "PEAK HEAP IN USE", "PEAK HEAP SYS")
	for _, r := range rep.Results {
		var p50, p99, inuse, sys string
		if r.P50Ms > 0 {
			p50, p99 = fmt.Sprintf("%.2f", r.P50Ms), fmt.Sprintf("%.2f", r.P99Ms)
		}
		if r.PeakHeapInuse > 0 {
			inuse, sys = benchMiB(r.PeakHeapInuse), benchMiB(r.PeakHeapSys)
		}
		t.Row(r.Step, r.Name, fmt.Sprint(r.N), fmt.Sprintf("%.3f", r.Seconds), fmt.Sprintf("%.0f", r.Rate), r.Unit,
			fmt.Sprint(r.Errors), p50, p99, inuse, sys)
		for _, p := range r.Phases {
			t.Row(r.Step, "  "+p.Name, fmt.Sprint(r.N), fmt.Sprintf("%.3f", p.Seconds), fmt.Sprintf("%.0f", benchRate(r.N, p.Seconds)), r.Unit,
				"", "", "", "", "")
		}
	}
	if err := t.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for i, run := range rep.Runs[min(1, len(rep.Runs)):] {
		fmt.Fprintf(w, "run %d of %d:\n", i+2, len(rep.Runs))
		t := cli.NewTable(w, "STEP", "MEASUREMENT", "N", "SECONDS", "RATE", "UNIT", "ERRORS")
		for _, r := range run {
			t.Row(r.Step, r.Name, fmt.Sprint(r.N), fmt.Sprintf("%.3f", r.Seconds), fmt.Sprintf("%.0f", r.Rate), r.Unit, fmt.Sprint(r.Errors))
			for _, p := range r.Phases {
				t.Row(r.Step, "  "+p.Name, fmt.Sprint(r.N), fmt.Sprintf("%.3f", p.Seconds), fmt.Sprintf("%.0f", benchRate(r.N, p.Seconds)), r.Unit, "")
			}
		}
		if err := t.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	if err := printBenchRatios(w, rep); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return printBenchSettings(w, rep, true)
}

// printBenchSummary writes the run's settings and its ratio table as one
// block, with no per-step results: what a document quotes.
func printBenchSummary(w io.Writer, rep bench.Report) error {
	runs, steps := "1 run", rep.Options.Steps
	if len(rep.Runs) > 1 {
		runs = fmt.Sprintf("%d runs", len(rep.Runs))
	}
	if steps == "" {
		steps = bench.AllSteps
	}
	fmt.Fprintf(w, "ledgerctl bench, %s, %s, bulk writes %s, steps %s\n\n", rep.Started.Format("2006-01-02 15:04 MST"), runs,
		benchOrDash(rep.Machine.BulkWrite), steps)
	if err := printBenchSettings(w, rep, false); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return printBenchRatios(w, rep)
}

// printBenchRatios writes the ratio table: with several runs, the median
// with its range, judged on the median.
func printBenchRatios(w io.Writer, rep bench.Report) error {
	value := "VALUE"
	if len(rep.Runs) > 1 {
		value = fmt.Sprintf("MEDIAN OF %d (MIN-MAX)", len(rep.Runs))
	}
	t := cli.NewTable(w, "RATIO", value, "TARGET", "RESULT", "MEANING")
	for _, r := range rep.Ratios {
		res, target := "MISS", r.Target
		switch {
		case r.Info:
			res, target = "info", "-"
		case r.Pass:
			res = "PASS"
		}
		v := fmt.Sprintf("%.2f", r.Value)
		if r.Runs > 1 {
			v += fmt.Sprintf(" (%.2f-%.2f)", r.Min, r.Max)
		}
		t.Row(r.Name, v, target, res, r.Note)
	}
	return t.Flush()
}

// printBenchSettings writes the machine, the server's settings, the bulk
// write method and the run's settings; with notes, each step's note and
// the time the whole run took.
func printBenchSettings(w io.Writer, rep bench.Report, notes bool) error {
	m, o := rep.Machine, rep.Options
	steps := fmt.Sprintf("%s each", o.Duration)
	if o.Count > 0 {
		steps = fmt.Sprintf("%d transactions each", o.Count)
	}
	chunk := "store default"
	if o.ChunkSize > 0 {
		chunk = fmt.Sprint(o.ChunkSize)
	}
	setting := o.BulkWrite
	if setting == "" {
		setting = "auto"
	}
	t := cli.NewTable(w)
	t.Row("go", fmt.Sprintf("%s, GOMAXPROCS %d, %d CPUs", m.GoVersion, m.GOMAXPROCS, m.NumCPU))
	t.Row("server", m.ServerVersion)
	t.Row("server settings", fmt.Sprintf("default isolation %s, synchronous_commit %s, shared_buffers %s, work_mem %s, max_wal_size %s",
		benchOrDash(m.DefaultIsolation), benchOrDash(m.SynchronousCommit), benchOrDash(m.SharedBuffers), benchOrDash(m.WorkMem), benchOrDash(m.MaxWalSize)))
	t.Row("bulk writes", fmt.Sprintf("%s (--bulk-write %s): ledger bulk entries, statement lines and matches; the COPY floor is COPY",
		benchOrDash(m.BulkWrite), setting))
	t.Row("runs", fmt.Sprintf("%d: ratios are the median with the range when more than one, PASS or MISS judged on the median", max(1, len(rep.Runs))))
	ran := func(steps string) bool {
		return slices.ContainsFunc(rep.Results, func(r bench.Result) bool { return strings.Contains(steps, r.Step) })
	}
	t.Row("database", fmt.Sprintf("%s (kept: %t), pool of %d connections", o.Database, o.Keep, m.MaxConns))
	t.Row("bulk", fmt.Sprintf("sizes %s, chunk %s, contra %s", benchInts(o.Sizes), chunk, "expense:ada"))
	if ran("hw") {
		t.Row("households", benchInts(o.Households))
	}
	t.Row("beneficiary accounts", rep.Accounts)
	if ran("cd") {
		t.Row("timed steps", fmt.Sprintf("%d clients, %s, %d cold accounts", o.Clients, steps, o.ColdAccounts))
	}
	if ran("e") {
		t.Row("TPC-B scale", fmt.Sprintf("%d branches, %d tellers and %d accounts per branch", o.Branches, o.TellersPerBranch, o.AccountsPerBranch))
	}
	if notes {
		noted := map[string]bool{}
		for _, r := range rep.Results {
			if r.Note != "" && !noted[r.Step+r.Note] {
				noted[r.Step+r.Note] = true
				t.Row("note "+r.Step, r.Note)
			}
		}
	}
	t.Row("took", time.Duration(rep.Took*float64(time.Second)).Round(time.Millisecond).String())
	return t.Flush()
}

func benchInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

func benchRate(n int64, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}

func benchMiB(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func benchOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// barProgress draws a progress bar per step of the run on standard error
// when it is a terminal, and nothing elsewhere.
type barProgress struct {
	w       io.Writer
	visible bool
	bar     *progressbar.ProgressBar
}

func (p *barProgress) Step(name string, total int64) {
	if total <= 0 {
		total = -1
	}
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetVisibility(p.visible),
		progressbar.OptionSetDescription(name),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func (p *barProgress) Set(done int64) {
	if p.bar != nil {
		_ = p.bar.Set64(done)
	}
}

func (p *barProgress) Done() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

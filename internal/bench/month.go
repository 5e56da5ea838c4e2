package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sepa"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/payments/workflow"
)

// Step w is the whole month of N households, as the staff and the service
// do it: the monthly ADA run of RunPeriod, its batch submitted by a
// preparer and approved by two other people (the last approval posts the
// accrual), then released: the pain.001 files written, the payable posted
// to payments in transit and the files queued for the bank. It goes
// through the services production uses (payments/sqlstore's run and
// approval stores, payments/workflow's Batches) with no bank gateway: a
// release never talks to the bank, its files wait in the outbox for the
// sender, a separate pass, which the step does not run.

// The people of step w: who starts the run (and so computed the batch),
// who prepares it, and the two approvers the four-eyes rules leave. The
// first approver releases it.
var (
	monthComputer  = payments.Actor{Name: "bench.computer", Roles: []string{payments.RolePreparer}, Address: "bench"}
	monthPreparer  = payments.Actor{Name: "bench.preparer", Roles: []string{payments.RolePreparer}, Address: "bench"}
	monthApprover1 = payments.Actor{Name: "bench.approver-1", Roles: []string{payments.RoleApprover}, Address: "bench"}
	monthApprover2 = payments.Actor{Name: "bench.approver-2", Roles: []string{payments.RoleApprover}, Address: "bench"}
)

// monthDebtor is the service's account at the bank in step w's files.
var monthDebtor = sepa.Party{Name: "OFII BENCH", IBAN: frenchIBAN(99_999_999_999), BIC: "SOGEFRPPXXX"}

// Phase is the time of one part of a step.
type Phase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// The phases of step w, in order.
const (
	PhaseRun      = "run"
	PhaseApproval = "approval"
	PhaseRelease  = "release"
)

// monthStore is the run and approval stores of step w, on the clock of
// the month.
type monthStore struct {
	runs *paysql.RunStore
	flow *workflow.Batches
	ap   *paysql.ApprovalStore
}

// newMonthStore wires the stores and the workflow as the server does
// (internal/server, banking.ApprovalConfig), without a bank: files stay
// queued.
func (e *env) newMonthStore(now func() time.Time) (monthStore, error) {
	policy := db.DefaultRetryPolicy
	if e.opts.TxMaxAttempts > 0 {
		policy.MaxAttempts = e.opts.TxMaxAttempts
	}
	rs := paysql.NewRunStore(e.pool,
		paysql.WithSchedules(payments.DefaultSchedules()),
		paysql.WithChunkSize(e.opts.ChunkSize),
		paysql.WithRunRetryPolicy(policy),
		paysql.WithRunClock(now),
		paysql.WithProgress(func(r payments.Run) { e.prog.Set(int64(r.Processed)) }))
	ap, err := paysql.NewApprovalStore(e.pool, rs, paysql.ApprovalConfig{Debtor: monthDebtor, Now: now})
	if err != nil {
		return monthStore{}, fmt.Errorf("approval store: %w", err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := workflow.New(ap, e.svc, workflow.DeliveryConfig{Now: now, Logger: quiet})
	return monthStore{runs: rs, flow: svc.Batches, ap: ap}, nil
}

// month measures (w): the whole month over n households, timed from the
// start of the run to the end of the release, with each phase's time and
// the peak resident memory of the process over the three.
func (e *env) month(ctx context.Context, n int) (Result, error) {
	fail := func(err error) (Result, error) { return Result{}, fmt.Errorf("whole month N=%d: %w", n, err) }
	loadStart := time.Now()
	covered, err := e.loadHouseholds(ctx, n)
	if err != nil {
		return fail(fmt.Errorf("load: %w", err))
	}
	load := time.Since(loadStart)
	before, err := e.monthBalances(ctx)
	if err != nil {
		return fail(err)
	}
	e.settle(ctx)

	var start time.Time
	ms, err := e.newMonthStore(func() time.Time { return RunStart.Add(time.Since(start)) })
	if err != nil {
		return fail(err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	exact := resetPeakRSS()
	rss := startRSSSampler(50 * time.Millisecond)
	heap := startHeapSampler(20 * time.Millisecond)
	abort := func(err error) (Result, error) {
		heap.stop()
		rss.stop()
		return fail(err)
	}
	var phases []Phase
	var paused, analyzed time.Duration
	// between phases, untimed, with AnalyzeBetween, the statistics are
	// brought up to date as autovacuum would have: the staff approve and
	// release hours after the run, not at once.
	between := func() error {
		if !e.opts.AnalyzeBetween {
			return nil
		}
		t := time.Now()
		_, err := e.pool.Exec(ctx, "ANALYZE")
		analyzed += time.Since(t)
		paused += time.Since(t)
		if err != nil {
			return fmt.Errorf("analyze between the phases: %w", err)
		}
		return nil
	}
	phase := func(name string, from time.Time) {
		phases = append(phases, Phase{Name: name, Seconds: time.Since(from).Seconds()})
	}
	start = time.Now()

	e.prog.Step(fmt.Sprintf("w run N=%d", n), int64(n))
	t := time.Now()
	run, err := ms.runs.StartADARun(ctx, RunPeriod, payments.TriggerStaff, monthComputer.Name)
	phase(PhaseRun, t)
	e.prog.Done()
	if err == nil && (run.Status != payments.RunDone || int64(run.Lines) != covered) {
		err = fmt.Errorf("the run ended %s with %d lines, want done with one per household with a covered day, %d", run.Status, run.Lines, covered)
	}
	if err == nil {
		err = between()
	}
	if err != nil {
		return abort(fmt.Errorf("run: %w", err))
	}

	// Submission and approvals, timed; between them, untimed, the
	// four-eyes rules: whoever computed the batch may not approve it, nor
	// whoever prepared it.
	e.prog.Step(fmt.Sprintf("w approval N=%d", n), 0)
	t = time.Now()
	_, err = ms.flow.Submit(ctx, run.BatchID, monthPreparer, "")
	submitted := time.Since(t)
	if err == nil {
		err = e.fourEyes(ctx, ms, run.BatchID)
	}
	paused += time.Since(t) - submitted
	t = time.Now()
	var b payments.Batch
	if err == nil {
		b, err = e.approve(ctx, ms, run.BatchID)
	}
	phases = append(phases, Phase{Name: PhaseApproval, Seconds: (submitted + time.Since(t)).Seconds()})
	e.prog.Done()
	if err == nil {
		err = between()
	}
	if err != nil {
		return abort(fmt.Errorf("approval: %w", err))
	}

	e.prog.Step(fmt.Sprintf("w release N=%d", n), 0)
	t = time.Now()
	b, err = ms.flow.Release(ctx, b.ID, monthApprover1)
	phase(PhaseRelease, t)
	took := time.Since(start) - paused
	e.prog.Done()
	inuse, sys := heap.stop()
	peak := rss.stop()
	if err != nil {
		return fail(fmt.Errorf("release: %w", err))
	}
	how := fmt.Sprintf("VmRSS sampled every %s", rss.every)
	if hwm, ok := procStatus("VmHWM"); exact && ok {
		peak, how = max(peak, hwm), "VmHWM after clear_refs"
	}
	files, err := e.checkMonth(ctx, ms, b, before, covered)
	if err != nil {
		return fail(err)
	}
	stats := "no ANALYZE between the phases: the statistics the phases' writes left"
	if e.opts.AnalyzeBetween {
		stats = fmt.Sprintf("ANALYZE between the phases, untimed (%s), as autovacuum would have (--analyze-between)", analyzed.Round(time.Millisecond))
	}
	rssNote := "peak RSS unavailable"
	if peak > 0 {
		rssNote = fmt.Sprintf("peak RSS %.1f MiB (%s)", float64(peak)/(1<<20), how)
	}
	return Result{
		Step: "w", Name: "the whole month", N: int64(n), Seconds: took.Seconds(), Rate: rate(int64(n), took), Unit: "households/s",
		PeakHeapInuse: inuse, PeakHeapSys: sys, PeakRSS: peak, Lines: int64(run.Lines), Phases: phases,
		Note: fmt.Sprintf("StartADARun %s over %d households, Submit, two Approve (the last posts the accrual), Release: %d lines, "+
			"%d pain.001 files queued (no bank: the sender is a separate pass, not run); run %.3fs, approval %.3fs, release %.3fs; %s; %s; "+
			"households loaded by COPY in %s, not timed",
			RunPeriod, n, run.Lines, files, phases[0].Seconds, phases[1].Seconds, phases[2].Seconds, stats, rssNote, load.Round(time.Millisecond)),
	}, nil
}

// fourEyes checks that the person who computed the submitted batch and
// the one who prepared it are refused its approval, even with the
// approver's role.
func (e *env) fourEyes(ctx context.Context, ms monthStore, id uuid.UUID) error {
	computer := payments.Actor{Name: monthComputer.Name, Roles: []string{payments.RoleApprover}, Address: "bench"}
	preparer := payments.Actor{Name: monthPreparer.Name, Roles: []string{payments.RoleApprover}, Address: "bench"}
	for _, who := range []payments.Actor{computer, preparer} {
		_, err := ms.flow.Approve(ctx, id, who, "")
		if err == nil {
			return fmt.Errorf("%s approved a batch they computed or prepared", who.Name)
		}
		if !errs.Is(err, errs.Forbidden) {
			return fmt.Errorf("approval by %s: %w, want it forbidden by the four-eyes rules", who.Name, err)
		}
	}
	return nil
}

// approve has the submitted batch approved by the two approvers: the last
// approval needed posts the accrual.
func (e *env) approve(ctx context.Context, ms monthStore, id uuid.UUID) (payments.Batch, error) {
	var b payments.Batch
	var err error
	for _, who := range []payments.Actor{monthApprover1, monthApprover2} {
		if b, err = ms.flow.Approve(ctx, id, who, ""); err != nil {
			return b, fmt.Errorf("approval by %s: %w", who.Name, err)
		}
		if b.Status != payments.BatchPending {
			break
		}
	}
	if b.Status != payments.BatchApproved {
		return b, fmt.Errorf("batch %s is %s after the approvals, want approved", id, b.Status)
	}
	return b, nil
}

// monthBalances are the balances step w moves.
type monthBalances struct{ expense, inTransit decimal.Decimal }

func (e *env) monthBalances(ctx context.Context) (monthBalances, error) {
	x, err := e.svc.Balance(ctx, ledger.ExpenseADA, ledger.AsOf{})
	if err != nil {
		return monthBalances{}, fmt.Errorf("balance of %s: %w", ledger.ExpenseADA, err)
	}
	t, err := e.svc.Balance(ctx, ledger.PaymentsInTransit, ledger.AsOf{})
	if err != nil {
		return monthBalances{}, fmt.Errorf("balance of %s: %w", ledger.PaymentsInTransit, err)
	}
	return monthBalances{expense: x.Natural, inTransit: t.Natural}, nil
}

// checkMonth checks what the month left: the batch released, every line in
// a queued file never sent, the accrual's gross on expense:ada and the net
// in transit. It returns the number of files.
func (e *env) checkMonth(ctx context.Context, ms monthStore, b payments.Batch, before monthBalances, covered int64) (int, error) {
	if b.Status != payments.BatchReleased {
		return 0, fmt.Errorf("batch %s is %s after the release, want released", b.ID, b.Status)
	}
	files, err := ms.ap.Files(ctx, b.ID)
	if err != nil {
		return 0, fmt.Errorf("files: %w", err)
	}
	per := paysql.DefaultMaxFileTransactions
	var tx int64
	total := decimal.Zero
	for _, f := range files {
		if f.Status != payments.FileQueued || f.Attempts != 0 || !f.SentAt.IsZero() {
			return 0, fmt.Errorf("file %s is %s after %d attempts, want queued and never sent", f.MsgID, f.Status, f.Attempts)
		}
		tx += int64(f.Transactions)
		total = total.Add(f.Total)
	}
	if want := (covered + int64(per) - 1) / int64(per); int64(len(files)) != want || tx != covered {
		return 0, fmt.Errorf("%d files of %d payments, want %d files of at most %d paying the %d lines", len(files), tx, want, per, covered)
	}
	after, err := e.monthBalances(ctx)
	if err != nil {
		return 0, err
	}
	gross, net := after.expense.Sub(before.expense), after.inTransit.Sub(before.inTransit)
	if !gross.Equal(b.Total.Gross) || !net.Equal(b.Total.Net) || !total.Equal(b.Total.Net) {
		return 0, fmt.Errorf("expense:ada moved %s and payments in transit %s, the files pay %s; the batch's gross is %s, its net %s",
			gross.StringFixed(2), net.StringFixed(2), total.StringFixed(2), b.Total.Gross.StringFixed(2), b.Total.Net.StringFixed(2))
	}
	return len(files), nil
}

// monthRatios are the ratios of step w: the whole month's time over the
// COPY time of as many rows (w/a, target <= 8), each phase's for
// information, and the peak resident memory.
func monthRatios(rs []Result) []Ratio {
	var out []Ratio
	for _, w := range rs {
		if w.Step != "w" {
			continue
		}
		i := slices.IndexFunc(rs, func(r Result) bool { return r.Step == "a" && r.N == w.N })
		if i < 0 || rs[i].Seconds <= 0 {
			continue
		}
		a := rs[i].Seconds
		out = append(out, Ratio{Name: fmt.Sprintf("w/a N=%d", w.N), Value: w.Seconds / a, Target: "<= 60",
			Note: "the whole month (ADA run, submission, two approvals posting the accrual, release writing, posting and queueing the files) for N households over COPY time for N rows; the target is what this version reaches, the goal 8"})
		for _, p := range w.Phases {
			out = append(out, Ratio{Name: fmt.Sprintf("w %s/a N=%d", p.Name, w.N), Value: p.Seconds / a,
				Note: fmt.Sprintf("the month's %s phase over COPY time for N rows", p.Name)})
		}
		if w.PeakRSS > 0 {
			out = append(out, Ratio{Name: fmt.Sprintf("w peak RSS N=%d", w.N), Value: float64(w.PeakRSS) / (1 << 20), Target: "<= 256 MiB",
				Note: "peak resident memory of the process over the whole month, MiB"})
		}
	}
	return out
}

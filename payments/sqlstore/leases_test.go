package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sqlstore"
)

// kill starts an ADA run of period that dies at its first chunk's progress
// as a killed process would: nothing after that point runs, the run stays
// running, and its lease is no longer renewed. It returns the dead run.
func (e *runEnv) kill(period string) payments.Run {
	e.t.Helper()
	e.setHook(func(payments.Run) { panic("process killed") })
	func() {
		defer func() { _ = recover() }()
		_, _ = e.runs.StartADARun(e.ctx, mustPeriod(e.t, period), payments.TriggerSchedule, "scheduler")
	}()
	e.setHook(nil)
	runs, err := e.runs.Runs(e.ctx, 1)
	if err != nil || len(runs) != 1 || runs[0].Status != payments.RunRunning {
		e.t.Fatalf("the killed run: %+v, %v", runs, err)
	}
	// Chunks are written two at a time while the progress is recorded:
	// the crash, at the first chunk's progress, finds at least that chunk
	// written, and maybe more.
	if n := e.count(`SELECT count(*) FROM batch_lines WHERE batch_id = $1`, runs[0].BatchID); n < 2 {
		e.t.Fatalf("%d lines written before the crash, want at least the first chunk's 2", n)
	}
	return runs[0]
}

// expire makes the lease of the runs of kind expire, as LEASE_TTL after a
// process was killed.
func (e *runEnv) expire(kind payments.RunKind) {
	e.t.Helper()
	if n := e.exec(`UPDATE leases SET expires_at = now() - INTERVAL '1 second' WHERE name = $1`, sqlstore.LeaseName(kind)); n != 1 {
		e.t.Fatalf("%d leases of %s expired, want 1", n, kind)
	}
}

func (e *runEnv) exec(sql string, args ...any) int64 {
	e.t.Helper()
	tag, err := e.pool.Exec(e.ctx, sql, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return tag.RowsAffected()
}

// The five households of households(e, 5) come to this in November 2026,
// 30 days each: 6.80 (one adult, housed), 10.20 + 7.40 (one child, not
// housed), 13.60 (two children), 6.80 + 7.40, 10.20 a day.
const (
	fiveLines = 5
	fiveGross = "1872.00" // 204.00 + 528.00 + 408.00 + 426.00 + 306.00
)

// checkPaidOnce checks that the period has one batch, of the five
// households' lines and totals to the cent.
func (e *runEnv) checkPaidOnce(run payments.Run) {
	e.t.Helper()
	b, err := e.runs.Batch(e.ctx, run.BatchID)
	if err != nil || b.Status != payments.BatchDraft || b.Lines != fiveLines || b.Total.Gross.StringFixed(2) != fiveGross ||
		b.Total.Net.StringFixed(2) != fiveGross || run.Lines != fiveLines {
		e.t.Fatalf("the batch: %+v (run %+v), %v; want %d lines of %s", b, run, err, fiveLines, fiveGross)
	}
	if n := e.count(`SELECT count(*) FROM batches`); n != 1 {
		e.t.Errorf("%d batches, want the one draft", n)
	}
	if n := e.count(`SELECT count(*) FROM batch_lines`); n != fiveLines {
		e.t.Errorf("%d lines in all, want %d", n, fiveLines)
	}
	if n := e.count(`SELECT count(DISTINCT beneficiary_id) FROM batch_lines`); n != fiveLines {
		e.t.Errorf("%d beneficiaries paid, want %d", n, fiveLines)
	}
}

// A run whose process died holds its kind until its lease expires, which
// a run asked for meanwhile is told, with the holder; then the next run
// takes it over, marks the dead run failed and pays the month once.
func TestDeadRunIsTakenOverAfterItsLease(t *testing.T) {
	e := newRunEnv(t, sqlstore.WithChunkSize(2), sqlstore.WithRunLease(time.Second), sqlstore.WithRunHolder("ledgerd-a"))
	households(e, 5)
	e.at("2026-12-05T07:00:00Z")
	dead := e.kill("2026-11")
	_, err := e.runs.StartADARun(e.ctx, mustPeriod(t, "2026-11"), payments.TriggerStaff, "marie.curie")
	if !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "still running in ledgerd-a/") ||
		!strings.Contains(err.Error(), dead.ID.String()) {
		t.Fatalf("run during the lease: %v, want a conflict naming the holder and the run", err)
	}
	time.Sleep(1200 * time.Millisecond) // the lease expires, not renewed
	e.at("2026-12-05T07:01:00Z")
	run := e.runADA("2026-11")
	got, err := e.runs.Run(e.ctx, dead.ID)
	if err != nil || got.Status != payments.RunFailed || !strings.Contains(got.Error, "interrupted") ||
		!strings.Contains(got.Error, "taken over by run "+run.ID.String()) {
		t.Fatalf("the dead run: %+v, %v", got, err)
	}
	e.checkPaidOnce(run)
	if n := e.count(`SELECT count(*) FROM leases`); n != 0 {
		t.Errorf("%d leases held after the run", n)
	}
}

// A run left by a killed process (running, its lease expired) is taken
// over at once by the same command run again; once its batch is approved,
// the month is paid: running it again adds nothing.
func TestKilledRunResumedAtOnce(t *testing.T) {
	e := newRunEnv(t, sqlstore.WithChunkSize(2))
	households(e, 5)
	e.at("2026-12-05T07:00:00Z")
	dead := e.kill("2026-11")
	if _, ok, err := e.runs.LastADAPeriod(e.ctx); err != nil || ok {
		t.Fatalf("LastADAPeriod with a run still running: %v %v, want none", ok, err)
	}
	e.expire(payments.RunADA)
	e.at("2026-12-05T07:00:30Z")
	run := e.runADA("2026-11")
	if got, err := e.runs.Run(e.ctx, dead.ID); err != nil || got.Status != payments.RunFailed {
		t.Fatalf("the dead run: %+v, %v", got, err)
	}
	if _, err := e.runs.Batch(e.ctx, dead.BatchID); !errs.Is(err, errs.NotFound) {
		t.Errorf("the dead run's batch: %v, want discarded", err)
	}
	e.checkPaidOnce(run)
	if p, ok, err := e.runs.LastADAPeriod(e.ctx); err != nil || !ok || p.String() != "2026-11" {
		t.Errorf("LastADAPeriod = %v %v %v", p, ok, err)
	}
	e.approve(run.BatchID)
	e.at("2026-12-06T07:00:00Z")
	again := e.runADA("2026-11")
	if again.Lines != 0 || e.count(`SELECT count(*) FROM batch_lines`) != fiveLines {
		t.Errorf("a second run of the paid month wrote %d lines", again.Lines)
	}
	if n := e.count(`SELECT count(*) FROM period_payments WHERE period = '2026-11'`); n != fiveLines {
		t.Errorf("%d period payments for 2026-11, want %d", n, fiveLines)
	}
	var paid string
	if err := e.pool.QueryRow(e.ctx, `SELECT sum(gross)::TEXT FROM batch_lines l JOIN batches b ON b.id = l.batch_id
		WHERE b.status = 'approved' AND l.period = '2026-11'`).Scan(&paid); err != nil || paid != fiveGross {
		t.Errorf("paid for 2026-11: %s (%v), want %s", paid, err, fiveGross)
	}
}

var preparer = payments.Actor{Name: "marie.curie", Roles: []string{payments.RolePreparer}, Address: "192.0.2.7"}

// A run alive (its lease renewed) cannot be cancelled; one left by a
// killed process can, by a preparer with a reason: it becomes cancelled,
// its batch is discarded and the audit trail says who, from where and why.
func TestCancelRun(t *testing.T) {
	e := newRunEnv(t, sqlstore.WithChunkSize(2), sqlstore.WithRunLease(time.Second), sqlstore.WithRunHolder("ledgerd-a"))
	households(e, 5)
	e.at("2026-12-05T07:00:00Z")

	// Alive: the run waits in its first chunk's progress, renewing its
	// lease meanwhile, past the lease time.
	hold, release := make(chan payments.Run, 1), make(chan struct{})
	e.setHook(func(r payments.Run) {
		select {
		case hold <- r:
			<-release
		default:
		}
	})
	done := make(chan error, 1)
	go func() {
		_, err := e.runs.StartADARun(e.ctx, mustPeriod(t, "2026-11"), payments.TriggerStaff, "marie.curie")
		done <- err
	}()
	live := <-hold
	time.Sleep(1500 * time.Millisecond)
	_, err := e.runs.CancelRun(e.ctx, live.ID, preparer, "stuck")
	if !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "is alive") || !strings.Contains(err.Error(), "ledgerd-a/") {
		t.Errorf("cancel a live run: %v, want a conflict naming its holder", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the live run: %v", err)
	}
	e.setHook(nil)
	if _, err := e.runs.CancelRun(e.ctx, live.ID, preparer, "stuck"); !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "is done") {
		t.Errorf("cancel a done run: %v, want a conflict", err)
	}

	// Dead: killed, its lease expired.
	e.at("2026-12-05T08:00:00Z")
	dead := e.kill("2026-11")
	e.expire(payments.RunADA)
	approver := payments.Actor{Name: "paul.valery", Roles: []string{payments.RoleApprover}}
	if _, err := e.runs.CancelRun(e.ctx, dead.ID, approver, "stuck"); !errs.Is(err, errs.Forbidden) {
		t.Errorf("an approver cancels: %v, want forbidden", err)
	}
	if _, err := e.runs.CancelRun(e.ctx, dead.ID, preparer, "  "); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "reason") {
		t.Errorf("cancel without a reason: %v, want invalid reason", err)
	}
	if _, err := e.runs.CancelRun(e.ctx, uuid.New(), preparer, "stuck"); !errs.Is(err, errs.NotFound) {
		t.Errorf("cancel an unknown run: %v, want not found", err)
	}
	e.at("2026-12-05T08:05:00Z")
	got, err := e.runs.CancelRun(e.ctx, dead.ID, preparer, "ledgerd was killed; rerun after checking the payees")
	if err != nil || got.Status != payments.RunCancelled || got.FinishedAt.IsZero() ||
		got.Error != "cancelled by marie.curie: ledgerd was killed; rerun after checking the payees" {
		t.Fatalf("cancel a dead run: %+v, %v", got, err)
	}
	if _, err := e.runs.Batch(e.ctx, dead.BatchID); !errs.Is(err, errs.NotFound) {
		t.Errorf("the cancelled run's batch: %v, want discarded", err)
	}
	if n := e.count(`SELECT count(*) FROM batch_lines WHERE batch_id = $1`, dead.BatchID); n != 0 {
		t.Errorf("%d lines of the cancelled run remain", n)
	}
	var actor, roles, address, from, to, reason, kind string
	err = e.pool.QueryRow(e.ctx, `SELECT actor, roles, address, from_status, to_status, reason, details->>'kind' FROM audit_events
		WHERE action = 'cancel' AND object_kind = 'run' AND object_id = $1`, dead.ID.String()).
		Scan(&actor, &roles, &address, &from, &to, &reason, &kind)
	if err != nil || actor != "marie.curie" || roles != "preparer" || address != "192.0.2.7" || from != "running" || to != "cancelled" ||
		reason != "ledgerd was killed; rerun after checking the payees" || kind != "ada" {
		t.Errorf("audit of the cancellation: %s %s %s %s→%s %q %s, %v", actor, roles, address, from, to, reason, kind, err)
	}
	if _, err := e.runs.CancelRun(e.ctx, dead.ID, preparer, "again"); !errs.Is(err, errs.Conflict) {
		t.Errorf("cancel a cancelled run: %v, want a conflict", err)
	}
	if n := e.count(`SELECT count(*) FROM leases`); n != 0 {
		t.Errorf("%d leases held after the cancellation", n)
	}
	// The draft of the live run is still the period's.
	if b, err := e.runs.Batch(e.ctx, live.BatchID); err != nil || b.Status != payments.BatchDraft || b.Lines != fiveLines {
		t.Errorf("the draft before: %+v, %v", b, err)
	}
	// A new run of the kind starts at once.
	e.at("2026-12-05T08:10:00Z")
	e.checkPaidOnce(e.runADA("2026-11"))
}

// ledger_ada_run_overdue is 1 from the run day while the previous month
// has no run done, whatever became of its runs, and 0 once one is done.
func TestADAOverdueGauge(t *testing.T) {
	e := newRunEnv(t, sqlstore.WithChunkSize(2))
	households(e, 5)
	reg := prometheus.NewRegistry()
	reg.MustRegister(sqlstore.ADAOverdueGauge(e.runs, payments.Scheduler{Day: 5}, e.clock))
	gauge := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil || len(mfs) != 1 || mfs[0].GetName() != "ledger_ada_run_overdue" {
			t.Fatalf("gather: %v, %v", mfs, err)
		}
		return mfs[0].GetMetric()[0].GetGauge().GetValue()
	}
	e.at("2026-12-04T12:00:00Z")
	if v := gauge(); v != 0 {
		t.Errorf("before the run day: %v, want 0", v)
	}
	e.at("2026-12-05T07:00:00Z")
	if v := gauge(); v != 1 {
		t.Errorf("on the run day, no run: %v, want 1", v)
	}
	e.kill("2026-11")
	if v := gauge(); v != 1 {
		t.Errorf("its run killed: %v, want 1", v)
	}
	e.expire(payments.RunADA)
	e.runADA("2026-11")
	if v := gauge(); v != 0 {
		t.Errorf("its run done: %v, want 0", v)
	}
	e.at("2027-01-06T07:00:00Z")
	if v := gauge(); v != 1 {
		t.Errorf("the next month: %v, want 1", v)
	}
}

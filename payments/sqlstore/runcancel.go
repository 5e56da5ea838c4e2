package sqlstore

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	auditlog "github.com/ofii/allowances/internal/audit"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
)

// CancelRun abandons a run left running by a process that stopped: see
// payments.Runs. It takes the lease of the run's kind for the time of the
// cancellation, so that no run of the kind starts or goes on meanwhile.
func (s *RunStore) CancelRun(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (payments.Run, error) {
	if err := by.Allow("cancel a run", payments.RolePreparer, payments.RoleAdmin); err != nil {
		return payments.Run{}, err
	}
	reason, err := payments.CheckReason("reason", reason, true)
	if err != nil {
		return payments.Run{}, err
	}
	run, err := s.Run(ctx, id)
	if err != nil {
		return payments.Run{}, err
	}
	if run.Status != payments.RunRunning {
		return run, errs.E(errs.Conflict, "run %s is %s: only a run left running by a process that stopped can be cancelled", id, run.Status)
	}
	leases := s.leaseStore()
	name := LeaseName(run.Kind)
	l, ok, held, err := leases.TryAcquire(ctx, name, s.lease)
	if err != nil {
		return run, fmt.Errorf("cancel run %s: %w", id, err)
	}
	if !ok {
		return run, errs.E(errs.Conflict, "run %s is alive: its lease %s is held by %s, renewed at %s, until %s; it cannot be cancelled",
			id, name, held.Holder, held.RenewedAt.UTC().Format(time.RFC3339), held.ExpiresAt.UTC().Format(time.RFC3339))
	}
	defer func() { _ = leases.Release(context.WithoutCancel(ctx), l) }()
	err = db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		now := s.stamp()
		msg := strings.ToValidUTF8("cancelled by "+by.Name+": "+reason, "?")
		tag, err := tx.Exec(ctx, `UPDATE runs SET status = 'cancelled', finished_at = $2, error = $3 WHERE id = $1 AND status = 'running'`,
			id, now, msg)
		if err != nil {
			return fmt.Errorf("mark the run cancelled: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return errs.E(errs.Conflict, "run %s is no longer running", id)
		}
		rows, err := tx.Query(ctx, `SELECT `+runCols+` FROM runs WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("read the run: %w", err)
		}
		if run, err = pgx.CollectExactlyOneRow(rows, scanRun); err != nil {
			return fmt.Errorf("read the run: %w", err)
		}
		return auditlog.Write(ctx, tx, auditlog.Event{At: now, By: by, Action: "cancel", Kind: "run", ObjectID: id.String(),
			From: string(payments.RunRunning), To: string(payments.RunCancelled), Reason: reason,
			Details: map[string]any{"kind": string(run.Kind), "period": run.Period.String(), "batch_id": run.BatchID.String(),
				"processed": run.Processed, "lines": run.Lines}})
	})
	if err != nil {
		return run, errs.Wrap(err, "cancel run %s", id)
	}
	s.collect(ctx)
	return run, nil
}

// ADAOverdueGauge returns the gauge ledger_ada_run_overdue: 1 from the run
// day of sch on while the previous month has no ADA run done (nor a later
// month), whether its run failed, was cancelled, is still running or never
// started; else 0. It is read at each scrape (NaN when the database does
// not answer within five seconds).
func ADAOverdueGauge(s *RunStore, sch payments.Scheduler, now func() time.Time) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ledger_ada_run_overdue",
		Help: "1 while the previous month's ADA run is due (ADA_RUN_DAY has come) and not done, else 0.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		overdue, err := s.adaOverdue(ctx, sch, now())
		switch {
		case err != nil:
			return math.NaN()
		case overdue:
			return 1
		}
		return 0
	})
}

// adaOverdue reports whether the ADA run sch offers at now has no run done.
func (s *RunStore) adaOverdue(ctx context.Context, sch payments.Scheduler, now time.Time) (bool, error) {
	p, due := sch.Due(now, payments.Period{})
	if !due {
		return false, nil
	}
	var done bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE kind = 'ada' AND status = 'done' AND period >= $1)`,
		p.String()).Scan(&done)
	if err != nil {
		return false, fmt.Errorf("read the ADA runs done: %w", err)
	}
	return !done, nil
}

package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/lease"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/reconcile"
	reconsql "github.com/ofii/allowances/reconcile/sqlstore"
)

// The leases of the bank passes. Each pass is done by one process at a
// time, whichever takes its lease first; the others skip it until the
// lease is released, or has expired because its holder died.
const (
	// LeaseBankSend is held while the queued payment files are sent; the
	// cancellation of a releasing batch takes it too, so that it never
	// withdraws a file on its way to the bank.
	LeaseBankSend = paysql.SendLeaseName
	// LeaseBankReports is held while the status reports are fetched and
	// applied.
	LeaseBankReports = "bank:reports"
	// LeaseBankStatements is held while the statements are fetched and
	// imported.
	LeaseBankStatements = "bank:statements"
	// LeaseBankMatching is held while the statements left unfinished are
	// finished and the unmatched lines matched against the new payments.
	LeaseBankMatching = "bank:matching"
)

// requestLeaseWait is how long a pass asked for through the API waits for
// its lease while another holder has it (a pass of the poller's, mostly
// short) before it is refused as a conflict; the poller does not wait.
const requestLeaseWait = 5 * time.Second

// errBusy marks the error of a pass that another process is doing.
var errBusy = errors.New("another process is at it")

// bankPasses runs the bank passes under their leases, so that two ledgerd
// on one database never do the same pass at once.
type bankPasses struct {
	pool db.Beginner
	ttl  time.Duration
	// wait is how long a pass waits for its lease held elsewhere.
	wait time.Duration
}

// run runs job under the lease name, waiting for it at most p.wait, or
// returns a conflict wrapping errBusy when another still holds it. Each
// call takes the lease in a name of its own (host:pid:random), so that two
// calls of one process exclude each other too: the poller's and a
// request's.
func (p bankPasses) run(ctx context.Context, name, what string, job func(context.Context) error) error {
	deadline := time.Now().Add(p.wait)
	for {
		ok, held, err := lease.New(p.pool, "").Run(ctx, name, p.ttl, job)
		if err != nil || ok {
			return err
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w: %w", errBusy, errs.E(errs.Conflict, "%s: %s holds the lease %s until %s at the latest; try again later",
				what, held.Holder, name, held.ExpiresAt.UTC().Format(time.RFC3339)))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// leasedApprovals is the approval workflow whose bank passes hold their
// leases: SendQueued LeaseBankSend, FetchReports LeaseBankReports.
type leasedApprovals struct {
	payments.Approvals
	passes bankPasses
}

// SendQueued sends the queued files under LeaseBankSend.
func (a leasedApprovals) SendQueued(ctx context.Context) (payments.BankActivity, error) {
	var act payments.BankActivity
	err := a.passes.run(ctx, LeaseBankSend, "send the queued payment files", func(ctx context.Context) error {
		var err error
		act, err = a.Approvals.SendQueued(ctx)
		return err
	})
	return act, err
}

// FetchReports fetches and applies the status reports under
// LeaseBankReports.
func (a leasedApprovals) FetchReports(ctx context.Context) (payments.BankActivity, error) {
	var act payments.BankActivity
	err := a.passes.run(ctx, LeaseBankReports, "fetch the status reports", func(ctx context.Context) error {
		var err error
		act, err = a.Approvals.FetchReports(ctx)
		return err
	})
	return act, err
}

// leasedReconcile is the reconciliation whose bank passes hold their
// leases: the statement fetches LeaseBankStatements, the matching left
// undone LeaseBankMatching.
type leasedReconcile struct {
	store  *reconsql.Store
	fetch  reconcile.Fetcher
	passes bankPasses
}

var _ reconcile.StatementFetcher = leasedReconcile{}

// Fetch fetches and imports the statements of day under
// LeaseBankStatements.
func (r leasedReconcile) Fetch(ctx context.Context, day ledger.Date, by payments.Actor) ([]reconcile.ImportResult, error) {
	var out []reconcile.ImportResult
	err := r.passes.run(ctx, LeaseBankStatements, "fetch the statements of "+day.String(), func(ctx context.Context) error {
		var err error
		out, err = r.fetch.Fetch(ctx, day, by)
		return err
	})
	return out, err
}

// FetchDue fetches and imports the statements due under
// LeaseBankStatements.
func (r leasedReconcile) FetchDue(ctx context.Context, today ledger.Date, by payments.Actor) ([]reconcile.ImportResult, error) {
	var out []reconcile.ImportResult
	err := r.passes.run(ctx, LeaseBankStatements, "fetch the statements due", func(ctx context.Context) error {
		var err error
		out, err = r.fetch.FetchDue(ctx, today, by)
		return err
	})
	return out, err
}

// FinishPending finishes the statements left unfinished and matches the
// unmatched lines against the new payments under LeaseBankMatching.
func (r leasedReconcile) FinishPending(ctx context.Context) (reconcile.MatchResult, error) {
	var out reconcile.MatchResult
	err := r.passes.run(ctx, LeaseBankMatching, "finish the matching", func(ctx context.Context) error {
		var err error
		out, err = r.store.FinishPending(ctx)
		return err
	})
	return out, err
}

// Sweep opens the exceptions of the payments in transit for too long.
func (r leasedReconcile) Sweep(ctx context.Context, today ledger.Date) (int, error) {
	return r.store.Sweep(ctx, today)
}

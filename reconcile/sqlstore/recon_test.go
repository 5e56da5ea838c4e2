package sqlstore_test

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ofii/allowances/ledger"
	ledgersql "github.com/ofii/allowances/ledger/sqlstore"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank"
	"github.com/ofii/allowances/reconcile"
	"github.com/ofii/allowances/reconcile/sqlstore"
)

// recon is the reconciliation's store with the services of reconcile
// over it, as ledgerd puts them together: the importer, the exception
// desk, the reports and the statements fetched from the bank.
type recon struct {
	*sqlstore.Store
	reconcile.ExceptionDesk
	reconcile.StatementImporter
	fetch   reconcile.Fetcher
	reports reconcile.Reports
}

// newRecon is the store of cfg over pool, reporting with the balances of l
// and fetching through gw (nil: none), marked simulated if simulated.
func newRecon(pool *pgxpool.Pool, l *ledgersql.Store, cfg sqlstore.Config, gw bank.Gateway, simulated bool) (recon, error) {
	s, err := sqlstore.New(pool, l, cfg)
	if err != nil {
		return recon{}, err
	}
	importer := reconcile.Importer{Store: s, Accounts: s.Accounts()}
	r := recon{Store: s, ExceptionDesk: reconcile.Desk{Store: s}, StatementImporter: importer,
		fetch:   reconcile.Fetcher{Account: cfg.Account, Simulated: simulated, Importer: importer, Due: s},
		reports: reconcile.Reports{Facts: s, Ledger: l}}
	if gw != nil {
		r.fetch.Bank = gw
	}
	return r, nil
}

// Exceptions is the store's.
func (r recon) Exceptions(ctx context.Context, f reconcile.ExceptionFilter) ([]reconcile.Exception, error) {
	return r.Store.Exceptions(ctx, f)
}

// Report is the report of reconcile.Reports.
func (r recon) Report(ctx context.Context, account string, day ledger.Date) (reconcile.Report, error) {
	return r.reports.Report(ctx, account, day)
}

// Fetch is reconcile.Fetcher's.
func (r recon) Fetch(ctx context.Context, day ledger.Date, by payments.Actor) ([]reconcile.ImportResult, error) {
	return r.fetch.Fetch(ctx, day, by)
}

// FetchDue is reconcile.Fetcher's.
func (r recon) FetchDue(ctx context.Context, today ledger.Date, by payments.Actor) ([]reconcile.ImportResult, error) {
	return r.fetch.FetchDue(ctx, today, by)
}

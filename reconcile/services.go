package reconcile

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank"
	"github.com/ofii/allowances/payments/sepa"
)

// ReportFacts reads what a report says of a day besides the ledger's
// balance: the statement's balances, its lines by rule, the open
// exceptions and the payments in transit.
type ReportFacts interface {
	// ReportFacts returns the report of account (its IBAN; "" for the
	// service's paying account) on day, with its LedgerAccount and
	// without its ledger balance nor its verdict. The statements whose
	// matching or postings were interrupted are finished first, so that
	// a report never shows a difference that is only postings not yet
	// made.
	ReportFacts(ctx context.Context, account string, day ledger.Date) (Report, error)
}

// EntryPoster posts the entries the posting rules make, once each by
// its idempotency key.
type EntryPoster interface {
	Post(ctx context.Context, e ledger.NewEntry) (ledger.Entry, error)
}

// Balances reads the balance of a ledger account.
type Balances interface {
	Balance(ctx context.Context, account string, at ledger.AsOf) (ledger.Balance, error)
}

// Reports makes the reconciliation reports: the day's facts from the
// store, the ledger account's balance at the end of the day from the
// ledger, and the verdict of Report.Judge.
type Reports struct {
	Facts  ReportFacts
	Ledger Balances
}

var _ Reporter = Reports{}

// Report reconciles one of the service's accounts on a day: its
// statement's balances against its ledger account at the end of the day,
// its lines matched by rule, the exceptions still open and the payments in
// transit by age.
func (s Reports) Report(ctx context.Context, account string, day ledger.Date) (Report, error) {
	r, err := s.Facts.ReportFacts(ctx, account, day)
	if err != nil {
		return r, err
	}
	b, err := s.Ledger.Balance(ctx, r.LedgerAccount, ledger.AsOf{Date: day})
	if err != nil && !errs.Is(err, errs.NotFound) {
		return r, fmt.Errorf("report: %s: %w", r.LedgerAccount, err)
	}
	r.LedgerClosing = b.Balance
	r.Judge()
	return r, nil
}

// StatementSource is the bank's side of the statements.
type StatementSource interface {
	// Statements returns the statements of the account (IBAN) for one
	// booking day; none yet is an empty list.
	Statements(ctx context.Context, iban string, day ledger.Date) ([]bank.Document, error)
}

// FetchedImporter imports the statements fetched from the bank.
type FetchedImporter interface {
	// ImportFetched is ImportFrom, marking the statements it stores
	// simulated when simulated is set.
	ImportFetched(ctx context.Context, file io.ReadSeeker, by payments.Actor, simulated bool) (ImportResult, error)
}

// DueDays says from which day the statements are due.
type DueDays interface {
	// FirstDayDue is the first booking day whose statement is due: the day
	// after the last statement imported, or before any the first
	// execution date of the payment files; ok is false when there is none.
	FirstDayDue(ctx context.Context) (day ledger.Date, ok bool, err error)
}

// Fetcher asks the bank for the statements of the service's paying
// account and imports them.
type Fetcher struct {
	// Bank is where the statements come from; nil means Fetch is refused.
	Bank StatementSource
	// Account is the IBAN of the service's paying account.
	Account string
	// Simulated says that Bank is the embedded bank simulator of dev mode:
	// the statements fetched from it are marked simulated.
	Simulated bool
	Importer  FetchedImporter
	Due       DueDays
}

// MaxFetchDays is how many days FetchDue fetches at a time.
const MaxFetchDays = 31

// Fetch asks the bank for the account's statements of a day and imports
// them; those of a simulator are marked simulated.
func (f Fetcher) Fetch(ctx context.Context, day ledger.Date, by payments.Actor) ([]ImportResult, error) {
	if f.Bank == nil {
		return nil, errs.E(errs.Unavailable, "no bank is configured to fetch statements from")
	}
	docs, err := f.Bank.Statements(ctx, f.Account, day)
	if err != nil {
		return nil, fmt.Errorf("fetch the statements of %s: %w", day, err)
	}
	var out []ImportResult
	for _, d := range docs {
		res, err := f.Importer.ImportFetched(ctx, bytes.NewReader(d.Bytes), by, f.Simulated)
		if err != nil {
			return out, fmt.Errorf("statement %s of %s: %w", d.ID, day, err)
		}
		out = append(out, res)
	}
	return out, nil
}

// FetchDue fetches and imports the end-of-day statements not imported yet:
// of the business days from the first day due up to the day before today,
// at most MaxFetchDays days at a time.
func (f Fetcher) FetchDue(ctx context.Context, today ledger.Date, by payments.Actor) ([]ImportResult, error) {
	from, ok, err := f.Due.FirstDayDue(ctx)
	if err != nil || !ok {
		return nil, err
	}
	var out []ImportResult
	for d, n := from, 0; d.Before(today) && n < MaxFetchDays; d, n = d.AddDays(1), n+1 {
		if !sepa.IsBusinessDay(d) {
			continue
		}
		res, err := f.Fetch(ctx, d, by)
		out = append(out, res...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// Package sqlstore keeps the ledger in CockroachDB or PostgreSQL. Every
// write runs in db.InTx: one SERIALIZABLE transaction, retried whole on a
// serialization failure, so each function here is safe to run again.
package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/ledger"
)

// Store implements ledger.Service on a pgx pool.
type Store struct {
	pool  *pgxpool.Pool
	retry db.RetryPolicy
	now   func() time.Time
}

var _ ledger.Service = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithRetryPolicy sets the retry policy of write transactions.
func WithRetryPolicy(p db.RetryPolicy) Option { return func(s *Store) { s.retry = p } }

// WithClock sets the clock that stamps posting times (tests).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns a Store on pool.
func New(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{pool: pool, retry: db.DefaultRetryPolicy, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

var errTODO = errors.New("not implemented yet")

func (s *Store) CreateAccount(ctx context.Context, a ledger.Account) (ledger.Account, error) {
	return a, errTODO
}
func (s *Store) Account(ctx context.Context, code string) (ledger.Account, error) {
	return ledger.Account{}, errTODO
}
func (s *Store) Accounts(ctx context.Context, prefix, after string, limit int) ([]ledger.Account, error) {
	return nil, errTODO
}
func (s *Store) Post(ctx context.Context, e ledger.NewEntry) (ledger.Entry, error) {
	return ledger.Entry{}, errTODO
}
func (s *Store) Reverse(ctx context.Context, r ledger.Reversal) (ledger.Entry, error) {
	return ledger.Entry{}, errTODO
}
func (s *Store) PostBulk(ctx context.Context, b ledger.BulkEntry) (ledger.Entry, error) {
	return ledger.Entry{}, errTODO
}
func (s *Store) Entry(ctx context.Context, id uuid.UUID) (ledger.Entry, error) {
	return ledger.Entry{}, errTODO
}
func (s *Store) Balance(ctx context.Context, account string, at ledger.AsOf) (ledger.Balance, error) {
	return ledger.Balance{}, errTODO
}
func (s *Store) Statement(ctx context.Context, q ledger.StatementQuery) (ledger.Statement, error) {
	return ledger.Statement{}, errTODO
}
func (s *Store) TrialBalance(ctx context.Context, at ledger.AsOf) (ledger.TrialBalance, error) {
	return ledger.TrialBalance{}, errTODO
}
func (s *Store) Seal(ctx context.Context, reason string) (*ledger.Seal, error) { return nil, errTODO }
func (s *Store) Verify(ctx context.Context) (ledger.VerifyReport, error) {
	return ledger.VerifyReport{}, errTODO
}

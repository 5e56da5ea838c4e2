// Package sqlstore keeps the beneficiaries' eligibility in CockroachDB or
// PostgreSQL: the events read from the eligibility topic, the facts they
// state, the grants and overpayments they decide, and the records that
// could not be applied (dead letters).
//
// Apply writes a whole batch of records in one SERIALIZABLE transaction
// (db.InTx, retried whole on a serialization failure) with a handful of
// multi-row statements, whatever the batch's size. The event id is the
// idempotency key: the events table records every applied event in the same
// transaction as its effects, so a redelivered event changes nothing.
//
// The read side builds what applied on a day from the stored facts at the
// time of asking, so that it depends only on the set of distinct events,
// never on the order in which they arrived (see payments/beneficiary.go).
package sqlstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/payments"
)

// Store implements payments.EventSink and payments.Beneficiaries on a pgx
// pool.
type Store struct {
	pool         *pgxpool.Pool
	retry        db.RetryPolicy
	now          func() time.Time
	unopenedDays int
}

var (
	_ payments.EventSink     = (*Store)(nil)
	_ payments.Preparer      = (*Store)(nil)
	_ payments.Beneficiaries = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithRetryPolicy sets the retry policy of write transactions.
func WithRetryPolicy(p db.RetryPolicy) Option { return func(s *Store) { s.retry = p } }

// WithClock sets the clock that stamps applied_at and received_at, and
// that Unopened counts the days with (tests).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns a Store on pool.
func New(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{pool: pool, retry: db.DefaultRetryPolicy, now: time.Now, unopenedDays: DefaultUnopenedDays}
	for _, o := range opts {
		o(s)
	}
	return s
}

// stamp is the store's clock, in UTC and at the database's precision.
func (s *Store) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// querier is what reads need: a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

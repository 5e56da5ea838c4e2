// Package sqlstore keeps the ledger in CockroachDB or PostgreSQL. Every
// write runs in db.InTx: one SERIALIZABLE transaction, retried whole on a
// serialization failure, so each function here is safe to run again.
package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/ledger"
)

// Store implements ledger.Service on a pgx pool.
type Store struct {
	pool  *pgxpool.Pool
	retry db.RetryPolicy
	now   func() time.Time
	bulk  BulkMethod

	sealSize   int // entries per seal
	verifyPage int // rows per page of Verify

	accounts accountCache
}

// BulkMethod is how bulk postings are written.
type BulkMethod int

// The bulk methods: COPY FROM STDIN, or multi-row INSERTs from arrays.
const (
	BulkCopy BulkMethod = iota
	BulkInsert
)

// String names the method as BULK_WRITE does: copy or insert.
func (m BulkMethod) String() string {
	if m == BulkInsert {
		return "insert"
	}
	return "copy"
}

// ChooseBulkMethod returns the bulk method of the setting BULK_WRITE: copy,
// insert, or auto, which tries whether the pool's role may COPY into the
// postings table and takes insert when it may not (a CockroachDB role that
// is not an admin, say).
func ChooseBulkMethod(ctx context.Context, pool *pgxpool.Pool, setting string) (BulkMethod, error) {
	switch setting {
	case "copy":
		return BulkCopy, nil
	case "insert":
		return BulkInsert, nil
	case "auto", "":
		ok, err := db.CanCopy(ctx, pool, "postings", postingCols)
		if err != nil {
			return BulkCopy, err
		}
		if ok {
			return BulkCopy, nil
		}
		return BulkInsert, nil
	}
	return BulkCopy, fmt.Errorf("BULK_WRITE: %q is not auto, copy or insert", setting)
}

// WithBulkMethod chooses how bulk postings are written.
func WithBulkMethod(m BulkMethod) Option { return func(s *Store) { s.bulk = m } }

// querier is what reads need: a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
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
	s := &Store{pool: pool, retry: db.DefaultRetryPolicy, now: time.Now, sealSize: DefaultSealChunk, verifyPage: DefaultVerifyPage}
	for _, o := range opts {
		o(s)
	}
	return s
}

package db

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Beginner starts transactions; *pgxpool.Pool and *pgx.Conn satisfy it.
type Beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// RetryPolicy bounds the retries of a transaction that lost a serialization
// conflict.
type RetryPolicy struct {
	MaxAttempts int           // attempts in all, at least 1
	BaseDelay   time.Duration // backoff before the second attempt
	MaxDelay    time.Duration // backoff cap
}

// DefaultRetryPolicy is used by InTx.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 30, BaseDelay: 2 * time.Millisecond, MaxDelay: 500 * time.Millisecond}

// RetriesExhaustedError is returned when every attempt lost a serialization
// conflict; it says how many attempts were made and wraps the last error.
type RetriesExhaustedError struct {
	Attempts int
	Err      error
}

func (e *RetriesExhaustedError) Error() string {
	return fmt.Sprintf("transaction failed after %d attempts: %v", e.Attempts, e.Err)
}

func (e *RetriesExhaustedError) Unwrap() error { return e.Err }

// InTx runs fn in a SERIALIZABLE transaction with DefaultRetryPolicy. See
// InTxWith.
func InTx(ctx context.Context, b Beginner, fn func(context.Context, pgx.Tx) error) error {
	return InTxWith(ctx, b, DefaultRetryPolicy, fn)
}

// InTxWith runs fn in a SERIALIZABLE transaction and commits it, retrying the
// whole transaction when any statement or the COMMIT itself fails with a
// serialization failure (SQLSTATE 40001). Each attempt begins a new
// transaction, so fn must be safe to run again and must touch nothing but
// the database. An error returned by fn that is not a serialization failure
// rolls back and is returned at once, without retry.
//
// The loop is cockroach-go's crdb.ExecuteCtx; each attempt commits itself and
// returns the commit's error, which crdbpgxv5.ExecuteTx would not do on
// PostgreSQL (its savepoint protocol commits at RELEASE only on CockroachDB).
func InTxWith(ctx context.Context, b Beginner, p RetryPolicy, fn func(context.Context, pgx.Tx) error) error {
	if p.MaxAttempts < 1 {
		p.MaxAttempts = 1
	}
	attempts := 0
	err := crdb.ExecuteCtx(crdb.WithMaxRetries(ctx, p.MaxAttempts-1), func(ctx context.Context, _ ...any) error {
		if attempts > 0 {
			if err := sleep(ctx, p.backoff(attempts)); err != nil {
				return err
			}
		}
		attempts++
		return attempt(ctx, b, fn)
	})
	var maxErr *crdb.MaxRetriesExceededError
	if errors.As(err, &maxErr) {
		return &RetriesExhaustedError{Attempts: attempts, Err: maxErr.Unwrap()}
	}
	return err
}

func attempt(ctx context.Context, b Beginner, fn func(context.Context, pgx.Tx) error) (err error) {
	tx, err := b.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err = fn(ctx, tx); err != nil {
		return err
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// backoff is full jitter over an exponential ceiling.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	ceil := p.BaseDelay << min(attempt, 20)
	if ceil > p.MaxDelay || ceil <= 0 {
		ceil = p.MaxDelay
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceil)) + 1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// IsSerializationFailure reports whether err is a SQLSTATE 40001.
func IsSerializationFailure(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40001"
}

// IsUniqueViolation reports whether err is a SQLSTATE 23505, optionally on
// the named constraint.
func IsUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && (constraint == "" || pgErr.ConstraintName == constraint)
}

// IsNumericOutOfRange reports whether err is a SQLSTATE 22003: a number
// beyond what its column holds, such as a sum over a DECIMAL(19,2).
func IsNumericOutOfRange(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "22003"
}

// Pool is the pool type the stores take.
type Pool = pgxpool.Pool

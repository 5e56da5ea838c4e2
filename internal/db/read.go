package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ReadRetryPolicy bounds the retries of a read-only transaction: a read
// fails only when the engine cannot serve its snapshot (on CockroachDB, a
// read within another transaction's uncertainty interval), which a few
// attempts overcome.
var ReadRetryPolicy = RetryPolicy{MaxAttempts: 5, BaseDelay: 10 * time.Millisecond, MaxDelay: time.Second}

// IsRetryable reports whether err is a failure that running the whole
// transaction again may overcome: a serialization failure (SQLSTATE 40001)
// or a deadlock (40P01).
func IsRetryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// InReadTx runs fn in a read-only REPEATABLE READ transaction, so that its
// statements see one snapshot, and runs it again in a new transaction,
// up to p.MaxAttempts in all, when it fails with an error IsRetryable
// accepts. fn must touch nothing but the database. Any other error is
// returned at once; when every attempt failed, the error is a
// *RetriesExhaustedError wrapping the last.
func InReadTx(ctx context.Context, b Beginner, p RetryPolicy, fn func(context.Context, pgx.Tx) error) error {
	if p.MaxAttempts < 1 {
		p.MaxAttempts = 1
	}
	var err error
	for n := 1; n <= p.MaxAttempts; n++ {
		if n > 1 {
			if err := sleep(ctx, p.backoff(n-1)); err != nil {
				return err
			}
		}
		if err = readAttempt(ctx, b, fn); err == nil || !IsRetryable(err) {
			return err
		}
	}
	return &RetriesExhaustedError{Attempts: p.MaxAttempts, Err: err}
}

func readAttempt(ctx context.Context, b Beginner, fn func(context.Context, pgx.Tx) error) error {
	tx, err := b.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	// Nothing was written: ending it either way frees it.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

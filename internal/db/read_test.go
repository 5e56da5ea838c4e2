package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/dbtest"
)

var quick = db.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}

// TestInReadTxRetriesConflictsAndDeadlocks: a read that fails with 40001
// or 40P01 runs again; the third attempt succeeds.
func TestInReadTxRetriesConflictsAndDeadlocks(t *testing.T) {
	pool, _ := dbtest.MustOpen(t)
	n := 0
	err := db.InReadTx(context.Background(), pool, quick, func(ctx context.Context, tx pgx.Tx) error {
		n++
		switch n {
		case 1:
			return &pgconn.PgError{Code: "40001", Message: "restart transaction"}
		case 2:
			return &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}
		}
		var one int
		return tx.QueryRow(ctx, `SELECT 1`).Scan(&one)
	})
	if err != nil || n != 3 {
		t.Fatalf("err = %v after %d attempts; want success at the third", err, n)
	}
}

// TestInReadTxStops: any other error is returned at once, and the retries
// are bounded.
func TestInReadTxStops(t *testing.T) {
	pool, _ := dbtest.MustOpen(t)
	ctx := context.Background()
	boom := errors.New("bad page")
	n := 0
	err := db.InReadTx(ctx, pool, quick, func(context.Context, pgx.Tx) error { n++; return boom })
	if !errors.Is(err, boom) || n != 1 {
		t.Fatalf("err = %v after %d attempts; want the function's error after 1", err, n)
	}
	n = 0
	err = db.InReadTx(ctx, pool, quick, func(context.Context, pgx.Tx) error {
		n++
		return &pgconn.PgError{Code: "40001", Message: "restart transaction"}
	})
	var ex *db.RetriesExhaustedError
	if !errors.As(err, &ex) || ex.Attempts != 3 || n != 3 || !db.IsRetryable(err) {
		t.Fatalf("err = %v after %d calls; want exhausted after 3 attempts, wrapping the 40001", err, n)
	}
}

// TestInReadTxReadsOneSnapshot: a row committed meanwhile is not seen, and
// the transaction may not write.
func TestInReadTxReadsOneSnapshot(t *testing.T) {
	pool, _ := dbtest.MustOpen(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE snap (id BIGINT PRIMARY KEY); INSERT INTO snap VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	err := db.InReadTx(ctx, pool, quick, func(ctx context.Context, tx pgx.Tx) error {
		var before, after int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM snap`).Scan(&before); err != nil {
			return err
		}
		if _, err := pool.Exec(ctx, `INSERT INTO snap VALUES (2)`); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM snap`).Scan(&after); err != nil {
			return err
		}
		if before != 1 || after != 1 {
			t.Errorf("counted %d then %d rows; want 1 both times", before, after)
		}
		_, err := tx.Exec(ctx, `INSERT INTO snap VALUES (3)`)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "25006" { // read_only_sql_transaction
			t.Errorf("write in the read transaction: %v; want 25006", err)
		}
		return nil
	})
	// The refused write aborted the transaction: its COMMIT fails.
	if err == nil {
		t.Fatal("the read transaction committed after a refused write")
	}
	var n int64
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM snap`).Scan(&n)
	if n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
}

package db_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/dbtest"
)

// TestSerializationFailureAtCommitIsRetried runs the classic write skew:
// each transaction reads the other's row, then writes its own. Both bodies
// complete; SERIALIZABLE lets only the first commit through, and the second
// fails at COMMIT with 40001. The helper must rerun the loser whole, so each
// effect lands exactly once.
func TestSerializationFailureAtCommitIsRetried(t *testing.T) {
	pool, _ := dbtest.MustOpen(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE skew (id BIGINT PRIMARY KEY, v BIGINT NOT NULL);
		INSERT INTO skew VALUES (1, 0), (2, 0)`); err != nil {
		t.Fatal(err)
	}
	var attempts [2]atomic.Int32
	var bodiesDone [2]atomic.Int32
	read := make(chan struct{}, 2)
	wrote2 := make(chan struct{})
	t1Done := make(chan struct{})
	var wg sync.WaitGroup
	run := func(i int, readID, writeID int64) {
		defer wg.Done()
		err := db.InTx(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
			n := attempts[i].Add(1)
			var v int64
			if err := tx.QueryRow(ctx, `SELECT v FROM skew WHERE id = $1`, readID).Scan(&v); err != nil {
				return err
			}
			if n == 1 {
				read <- struct{}{}
				// Wait until both have read.
				for len(read) < 2 && ctx.Err() == nil {
					time.Sleep(time.Millisecond)
				}
			}
			if i == 0 && n == 1 {
				<-wrote2 // T1 writes after T2 has written
			}
			if _, err := tx.Exec(ctx, `UPDATE skew SET v = v + 1 WHERE id = $1`, writeID); err != nil {
				return err
			}
			if i == 1 && n == 1 {
				close(wrote2)
				<-t1Done // T2 commits after T1 has committed
			}
			bodiesDone[i].Add(1)
			return nil
		})
		if err != nil {
			t.Errorf("transaction %d: %v", i+1, err)
		}
		if i == 0 {
			close(t1Done)
		}
	}
	wg.Add(2)
	go run(0, 2, 1)
	go run(1, 1, 2)
	wg.Wait()
	var v1, v2 int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT v FROM skew WHERE id = 1), (SELECT v FROM skew WHERE id = 2)`).Scan(&v1, &v2); err != nil {
		t.Fatal(err)
	}
	if v1 != 1 || v2 != 1 {
		t.Fatalf("rows = %d, %d; want each effect once (1, 1)", v1, v2)
	}
	a1, a2 := attempts[0].Load(), attempts[1].Load()
	if a1+a2 != 3 {
		t.Fatalf("attempts = %d and %d, want one retry in all", a1, a2)
	}
	// T2's body ran to completion on its first attempt and it was still
	// retried: the failure came at COMMIT.
	if a2 != 2 || bodiesDone[1].Load() != 2 {
		t.Fatalf("T2: %d attempts, %d bodies completed; want the first to fail at COMMIT", a2, bodiesDone[1].Load())
	}
}

func TestFunctionErrorIsNotRetried(t *testing.T) {
	pool, _ := dbtest.MustOpen(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE t (id BIGINT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("amount is wrong")
	n := 0
	err := db.InTx(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		n++
		if _, err := tx.Exec(ctx, `INSERT INTO t VALUES (1)`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || n != 1 {
		t.Fatalf("err = %v after %d attempts; want the function's error after 1", err, n)
	}
	var c int64
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&c)
	if c != 0 {
		t.Fatalf("a failed transaction left %d rows", c)
	}
}

func TestRetriesAreBounded(t *testing.T) {
	pool, _ := dbtest.MustOpen(t)
	n := 0
	p := db.RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
	err := db.InTxWith(context.Background(), pool, p, func(ctx context.Context, tx pgx.Tx) error {
		n++
		return &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
	})
	var ex *db.RetriesExhaustedError
	if !errors.As(err, &ex) || ex.Attempts != 4 || n != 4 || !strings.Contains(err.Error(), "after 4 attempts") {
		t.Fatalf("err = %v after %d calls; want exhausted after 4 attempts", err, n)
	}
	if !db.IsSerializationFailure(err) {
		t.Fatal("the last serialization failure is not wrapped")
	}
}

func TestOpenCreatesDatabaseWithPoolSettings(t *testing.T) {
	ctx := context.Background()
	name := "ledger_open_test"
	url := strings.Replace(dbtest.BaseURL(), "/postgres?", "/"+name+"?", 1) + "&pool_max_conns=3"
	admin, err := pgx.Connect(ctx, dbtest.BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name)
	pool, err := db.Open(ctx, url)
	if err != nil {
		t.Fatalf("open with pool settings on a missing database: %v", err)
	}
	if got := pool.Config().MaxConns; got != 3 {
		t.Errorf("MaxConns = %d, want 3", got)
	}
	pool.Close()
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name)
}

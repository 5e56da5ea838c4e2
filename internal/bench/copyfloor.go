package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
)

const copyTable = "bench_postings_copy"

// amounts yields the bulk lines' amounts, -300.00 to -450.99, the same for
// the COPY floor and the bulk entry.
type amounts struct{ r *rand.Rand }

func newAmounts(seed uint64) amounts { return amounts{rand.New(rand.NewPCG(seed, 0xb0b))} }

func (a amounts) next() decimal.Decimal { return decimal.New(-(30000 + a.r.Int64N(15100)), -2) }

const bulkMemo = "ADA monthly allowance"

// copyFloor measures (a): COPY of n posting rows into a fresh table of the
// shape of postings (its columns, primary key and secondary index).
func (e *env) copyFloor(ctx context.Context, n int) (Result, error) {
	if _, err := e.pool.Exec(ctx, `DROP TABLE IF EXISTS `+copyTable); err != nil {
		return Result{}, fmt.Errorf("copy floor: %w", err)
	}
	if _, err := e.pool.Exec(ctx, `CREATE TABLE `+copyTable+` (LIKE postings INCLUDING ALL)`); err != nil {
		return Result{}, fmt.Errorf("copy floor: %w", err)
	}
	e.settle(ctx)
	// The id goes as a pgtype.UUID, as the store sends it: a uuid.UUID
	// has no binary encoding of its own in pgx and would be encoded twice
	// on every row, a cost of the client, not of COPY.
	id := pgtype.UUID{Bytes: uuid.New(), Valid: true}
	now := time.Now().UTC()
	day := e.day.Time()
	amt := newAmounts(e.opts.Seed)
	i := 0
	row := make([]any, 8)
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		if i%10000 == 0 {
			e.prog.Set(int64(i))
		}
		row[0], row[1], row[2], row[3] = id, int64(i+1), beneficiary(i), amt.next()
		row[4], row[5], row[6], row[7] = "EUR", day, now, bulkMemo
		i++
		return row, nil
	})
	e.prog.Step(fmt.Sprintf("a COPY floor N=%d", n), int64(n))
	start := time.Now()
	got, err := e.pool.CopyFrom(ctx, pgx.Identifier{copyTable},
		[]string{"entry_id", "line", "account_code", "amount", "currency", "effective_date", "posted_at", "memo"}, src)
	took := time.Since(start)
	e.prog.Done()
	if err != nil {
		return Result{}, fmt.Errorf("copy floor N=%d: %w", n, err)
	}
	if got != int64(n) {
		return Result{}, fmt.Errorf("copy floor N=%d: copied %d rows", n, got)
	}
	if _, err := e.pool.Exec(ctx, `DROP TABLE `+copyTable); err != nil {
		return Result{}, fmt.Errorf("copy floor: %w", err)
	}
	return Result{
		Step: "a", Name: "COPY floor", N: int64(n), Seconds: took.Seconds(), Rate: rate(int64(n), took), Unit: "rows/s",
		Note: "pgx CopyFrom into a table LIKE postings INCLUDING ALL",
	}, nil
}

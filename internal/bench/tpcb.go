package bench

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The TPC-B tables, shaped as pgbench's (BIGINT instead of INT keys).
var tpcbSchema = []string{
	`DROP TABLE IF EXISTS bench_history, bench_tellers, bench_accounts, bench_branches`,
	`CREATE TABLE bench_branches (bid BIGINT NOT NULL, bbalance BIGINT, filler CHAR(88))`,
	`CREATE TABLE bench_tellers (tid BIGINT NOT NULL, bid BIGINT, tbalance BIGINT, filler CHAR(84))`,
	`CREATE TABLE bench_accounts (aid BIGINT NOT NULL, bid BIGINT, abalance BIGINT, filler CHAR(84))`,
	`CREATE TABLE bench_history (tid BIGINT, bid BIGINT, aid BIGINT, delta BIGINT, mtime TIMESTAMP, filler CHAR(22))`,
}

// As pgbench -i does: primary keys once the rows are in.
var tpcbKeys = []string{
	`ALTER TABLE bench_branches ADD PRIMARY KEY (bid)`,
	`ALTER TABLE bench_tellers ADD PRIMARY KEY (tid)`,
	`ALTER TABLE bench_accounts ADD PRIMARY KEY (aid)`,
}

// loadTPCB creates and fills the TPC-B tables with COPY.
func (e *env) loadTPCB(ctx context.Context) error {
	for _, q := range tpcbSchema {
		if _, err := e.pool.Exec(ctx, q); err != nil {
			return err
		}
	}
	nb, nt, na := e.opts.Branches, e.opts.Branches*e.opts.TellersPerBranch, e.opts.Branches*e.opts.AccountsPerBranch
	e.prog.Step("e load TPC-B tables", int64(nb+nt+na))
	defer e.prog.Done()
	load := func(table string, cols []string, n int, row func(i int64) []any) error {
		var i int64
		_, err := e.pool.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() ([]any, error) {
			if i == int64(n) {
				return nil, nil
			}
			i++
			return row(i), nil
		}))
		if err != nil {
			return fmt.Errorf("load %s: %w", table, err)
		}
		return nil
	}
	tpb, apb := int64(e.opts.TellersPerBranch), int64(e.opts.AccountsPerBranch)
	if err := load("bench_branches", []string{"bid", "bbalance"}, nb, func(i int64) []any {
		return []any{i, int64(0)}
	}); err != nil {
		return err
	}
	if err := load("bench_tellers", []string{"tid", "bid", "tbalance"}, nt, func(i int64) []any {
		return []any{i, (i-1)/tpb + 1, int64(0)}
	}); err != nil {
		return err
	}
	e.prog.Set(int64(nb + nt))
	if err := load("bench_accounts", []string{"aid", "bid", "abalance", "filler"}, na, func(i int64) []any {
		return []any{i, (i-1)/apb + 1, int64(0), ""}
	}); err != nil {
		return err
	}
	for _, q := range tpcbKeys {
		if _, err := e.pool.Exec(ctx, q); err != nil {
			return err
		}
	}
	e.prog.Set(int64(nb + nt + na))
	// pgbench -i vacuums; CockroachDB has no VACUUM, and ANALYZE suffices.
	if _, err := e.pool.Exec(ctx, `VACUUM ANALYZE bench_branches, bench_tellers, bench_accounts, bench_history`); err != nil {
		if _, err := e.pool.Exec(ctx, `ANALYZE bench_accounts`); err != nil {
			return err
		}
	}
	return nil
}

// tpcb measures (e): pgbench's built-in TPC-B-like script from
// opts.Clients clients, each on its own connection, at the server's default
// isolation, each statement sent on its own.
func (e *env) tpcb(ctx context.Context) (Result, error) {
	if err := e.loadTPCB(ctx); err != nil {
		return Result{}, fmt.Errorf("TPC-B reference: %w", err)
	}
	e.settle(ctx)
	conns := make([]*pgxpool.Conn, e.opts.Clients)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range conns {
		c, err := e.pool.Acquire(ctx)
		if err != nil {
			return Result{}, fmt.Errorf("TPC-B reference: %w", err)
		}
		conns[i] = c
	}
	nb := int64(e.opts.Branches)
	nt := nb * int64(e.opts.TellersPerBranch)
	na := nb * int64(e.opts.AccountsPerBranch)
	o, err := e.drive(ctx, "e TPC-B reference", func(ctx context.Context, w int, r *rand.Rand, _ int64) error {
		aid, bid, tid := 1+r.Int64N(na), 1+r.Int64N(nb), 1+r.Int64N(nt)
		delta := r.Int64N(10001) - 5000
		return tpcbTx(ctx, conns[w], aid, bid, tid, delta)
	})
	if err != nil {
		return Result{}, fmt.Errorf("TPC-B reference: %w", err)
	}
	return o.result("e", "TPC-B reference", "tx/s",
		fmt.Sprintf("pgbench tpcb-like script, %d branches, %d tellers, %d accounts", nb, nt, na)), nil
}

// tpcbTx is pgbench's built-in "TPC-B (sort of)" transaction.
func tpcbTx(ctx context.Context, c *pgxpool.Conn, aid, bid, tid, delta int64) (err error) {
	if _, err := c.Exec(ctx, "BEGIN"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = c.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if _, err = c.Exec(ctx, `UPDATE bench_accounts SET abalance = abalance + $1 WHERE aid = $2`, delta, aid); err != nil {
		return err
	}
	var bal int64
	if err = c.QueryRow(ctx, `SELECT abalance FROM bench_accounts WHERE aid = $1`, aid).Scan(&bal); err != nil {
		return err
	}
	if _, err = c.Exec(ctx, `UPDATE bench_tellers SET tbalance = tbalance + $1 WHERE tid = $2`, delta, tid); err != nil {
		return err
	}
	if _, err = c.Exec(ctx, `UPDATE bench_branches SET bbalance = bbalance + $1 WHERE bid = $2`, delta, bid); err != nil {
		return err
	}
	if _, err = c.Exec(ctx, `INSERT INTO bench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)`, tid, bid, aid, delta); err != nil {
		return err
	}
	_, err = c.Exec(ctx, "END")
	return err
}

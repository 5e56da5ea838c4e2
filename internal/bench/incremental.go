package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
	reconsql "github.com/ofii/allowances/reconcile/sqlstore"
)

// DefaultBacklog is the number of unmatched statement lines of the
// incremental matching step.
const DefaultBacklog = 400_000

// backlogFileLines is the number of lines of the statement the incremental
// matching step imports.
const backlogFileLines = 2

// incrementalTarget is the most the import of the incremental matching
// step may take, whatever the backlog.
const incrementalTarget = time.Second

// backlogSize returns the unmatched lines of the incremental matching step:
// 0 when it is skipped.
func (o *Options) backlogSize() int {
	switch {
	case o.Backlog < 0:
		return 0
	case o.Backlog == 0:
		return DefaultBacklog
	}
	return o.Backlog
}

// incremental runs the incremental matching step unless o.Backlog skips it,
// and adds its result to rep.
func (e *env) incremental(ctx context.Context, rep *Report) error {
	n := e.opts.backlogSize()
	if n == 0 {
		return nil
	}
	r, err := e.incrementalStep(ctx, n)
	if err != nil {
		return err
	}
	rep.Results = append(rep.Results, r)
	return nil
}

// incrementalStep measures (m): importing a CFONB 120 statement of two
// debits, each matched by its EndToEndId, while backlog lines of an earlier
// statement are left unmatched in the database. The backlog and the two
// payments are loaded by COPY beforehand, not timed. An import matches its
// own lines only: its time depends on the file, not on the backlog.
func (e *env) incrementalStep(ctx context.Context, backlog int) (Result, error) {
	var k int64
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM statements`).Scan(&k); err != nil {
		return Result{}, fmt.Errorf("incremental: %w", err)
	}
	old := statementDay.AddDays(int(k))
	day := old.AddDays(1)
	e.prog.Step(fmt.Sprintf("m load %d unmatched statement lines", backlog), int64(backlog))
	stmt := uuid.New()
	if _, err := e.pool.Exec(ctx, `INSERT INTO statements (id, account, stmt_id, sequence, file_sha256, format, currency, stmt_date, opening,
		closing, entries, status, imported_at) VALUES ($1, $2, $3, 1, $3, 'cfonb120', 'EUR', $4, 0, 0, $5, 'imported', now())`,
		stmt, benchAccount, fmt.Sprintf("BACKLOG-%d", backlog), old, int64(backlog)); err != nil {
		return Result{}, fmt.Errorf("incremental: %w", err)
	}
	i := 0
	row := make([]any, 8)
	_, err := e.pool.CopyFrom(ctx, pgx.Identifier{"statement_lines"}, []string{"statement_id", "idx", "amount", "direction", "status",
		"booking_date", "end_to_end_id", "match_status"}, pgx.CopyFromFunc(func() ([]any, error) {
		if i == backlog {
			return nil, nil
		}
		if i%10000 == 0 {
			e.prog.Set(int64(i))
		}
		row[0], row[1], row[2], row[3] = stmt, int64(i), decimal.New(int64(100+i%100000), -2), "DBIT"
		row[4], row[5], row[6], row[7] = "BOOK", old, fmt.Sprintf("BACKLOG-%d-%d", backlog, i), "unmatched"
		i++
		return row, nil
	}))
	e.prog.Done()
	if err != nil {
		return Result{}, fmt.Errorf("incremental: load the backlog: %w", err)
	}
	if _, err := e.pool.Exec(ctx, "ANALYZE statement_lines"); err != nil {
		return Result{}, fmt.Errorf("incremental: %w", err)
	}
	// The two payments the statement books.
	n := backlogFileLines
	msgID := fmt.Sprintf("BACKLOG-FILE-%d", backlog)
	if _, err := e.pool.Exec(ctx, `INSERT INTO payment_files (msg_id, batch_id, part, format, pmt_inf_id, execution_date, transactions, ctrl_sum,
		first_line, last_line, content, sha256, status, created_at) VALUES ($1, $2, 1, 'pain.001.001.09', $1, $3, $4, 0, '', '', '', '', 'accepted', now())`,
		msgID, uuid.New(), day, int64(n)); err != nil {
		return Result{}, fmt.Errorf("incremental: %w", err)
	}
	amt := newAmounts(e.opts.Seed)
	rows := make([][]any, n)
	batch := uuid.New()
	for j := range rows {
		rows[j] = []any{benchE2E(n, j), batch, msgID, msgID, beneficiary(j), amt.next().Neg(), "ACCP", time.Now().UTC()}
	}
	if _, err := e.pool.CopyFrom(ctx, pgx.Identifier{"line_payments"}, []string{"line_id", "batch_id", "msg_id", "pmt_inf_id", "beneficiary_id",
		"amount", "status", "updated_at"}, pgx.CopyFromRows(rows)); err != nil {
		return Result{}, fmt.Errorf("incremental: load the payments: %w", err)
	}
	f, err := os.CreateTemp("", "bench-small-*.cfonb")
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = os.Remove(f.Name()); _ = f.Close() }()
	if _, err := writeCFONB(f, day, n, e.opts.Seed); err != nil {
		return Result{}, fmt.Errorf("incremental: write the statement: %w", err)
	}
	rec, err := reconsql.New(e.pool, e.svc, reconsql.Config{Account: benchAccount, Insert: e.insert, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return day.Time().Add(20 * time.Hour) }})
	if err != nil {
		return Result{}, err
	}
	e.settle(ctx)
	e.prog.Step(fmt.Sprintf("m import %d lines beside %d unmatched", n, backlog), 0)
	start := time.Now()
	res, err := reconcile.Importer{Store: rec, Accounts: rec.Accounts()}.ImportFrom(ctx, f, payments.System)
	took := time.Since(start)
	e.prog.Done()
	if err != nil {
		return Result{}, fmt.Errorf("incremental: %w", err)
	}
	if got := res.Match.Matched["end_to_end"].Count; got != n || res.Match.Unmatched != 0 {
		return Result{}, fmt.Errorf("incremental: %d lines matched by EndToEndId, %d unmatched", got, res.Match.Unmatched)
	}
	var touched int64
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM statement_lines WHERE statement_id = $1 AND (match_status <> 'unmatched' OR rule <> '')`,
		stmt).Scan(&touched); err != nil || touched != 0 {
		return Result{}, fmt.Errorf("incremental: the import changed %d lines of the backlog (%v)", touched, err)
	}
	verdict := "under"
	if took >= incrementalTarget {
		verdict = "OVER"
	}
	return Result{
		Step: "m", Name: "statement import beside an unmatched backlog", N: int64(n), Seconds: took.Seconds(), Rate: rate(int64(n), took),
		Unit: "lines/s", Lines: int64(backlog),
		Note: fmt.Sprintf("ImportFrom of a CFONB 120 file of %d debits matched by EndToEndId while %d lines of an earlier statement are unmatched; "+
			"%d stored lines read again by the cascade; %s the target of %s", n, backlog, res.Match.Examined, verdict, incrementalTarget),
	}, nil
}

package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
	reconsql "github.com/ofii/allowances/reconcile/sqlstore"
)

// benchAccount is the disbursement account of the reconciliation step.
const benchAccount = "FR7630001007941234567890185"

// statementDay is the booking day of the benchmark's first statement.
var statementDay = ledger.NewDate(2026, 11, 26)

// reconcileStep measures (i): importing and matching a CFONB 120 statement
// of n debits against n payments in transit, each booked by its EndToEndId.
// The payments are loaded by COPY and the statement is written to a
// temporary file beforehand, neither timed; the import reads the file twice
// (checked, then stored), matches as it stores and posts the entries.
func (e *env) reconcileStep(ctx context.Context, n int) (Result, error) {
	// Each statement has a day of its own: a statement is imported once.
	var k int64
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM statements`).Scan(&k); err != nil {
		return Result{}, fmt.Errorf("reconcile: %w", err)
	}
	day := statementDay.AddDays(int(k))
	e.prog.Step(fmt.Sprintf("i load %d payments in transit", n), int64(n))
	msgID := fmt.Sprintf("BENCH-%d", n)
	if _, err := e.pool.Exec(ctx, `INSERT INTO payment_files (msg_id, batch_id, part, format, pmt_inf_id, execution_date, transactions, ctrl_sum,
		first_line, last_line, content, sha256, status, created_at) VALUES ($1, $2, 1, 'pain.001.001.09', $1, $3, $4, 0, '', '', '', '', 'accepted', now())`,
		msgID, uuid.New(), day, int64(n)); err != nil {
		return Result{}, fmt.Errorf("reconcile: %w", err)
	}
	amt := newAmounts(e.opts.Seed)
	i := 0
	now := time.Now().UTC()
	batch := uuid.New()
	row := make([]any, 8)
	_, err := e.pool.CopyFrom(ctx, pgx.Identifier{"line_payments"}, []string{"line_id", "batch_id", "msg_id", "pmt_inf_id", "beneficiary_id",
		"amount", "status", "updated_at"}, pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		if i%10000 == 0 {
			e.prog.Set(int64(i))
		}
		row[0], row[1], row[2], row[3] = benchE2E(n, i), batch, msgID, msgID
		row[4], row[5], row[6], row[7] = beneficiary(i), amt.next().Neg(), "ACCP", now
		i++
		return row, nil
	}))
	e.prog.Done()
	if err != nil {
		return Result{}, fmt.Errorf("reconcile: load the payments: %w", err)
	}
	f, err := os.CreateTemp("", "bench-statement-*.cfonb")
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = os.Remove(f.Name()); _ = f.Close() }()
	size, err := writeCFONB(f, day, n, e.opts.Seed)
	if err != nil {
		return Result{}, fmt.Errorf("reconcile: write the statement: %w", err)
	}
	rec, err := reconsql.New(e.pool, e.svc, reconsql.Config{Account: benchAccount, Insert: e.insert, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return day.Time().Add(20 * time.Hour) }})
	if err != nil {
		return Result{}, err
	}
	e.settle(ctx)
	e.prog.Step(fmt.Sprintf("i import and match N=%d", n), 0)
	runtime.GC()
	debug.FreeOSMemory()
	exact := resetPeakRSS()
	rss := startRSSSampler(50 * time.Millisecond)
	h := startHeapSampler(20 * time.Millisecond)
	start := time.Now()
	res, err := reconcile.Importer{Store: rec, Accounts: rec.Accounts()}.ImportFrom(ctx, f, payments.System)
	took := time.Since(start)
	inuse, sys := h.stop()
	peak := rss.stop()
	e.prog.Done()
	if err != nil {
		return Result{}, fmt.Errorf("reconcile N=%d: %w", n, err)
	}
	if hwm, ok := procStatus("VmHWM"); exact && ok {
		peak = max(peak, hwm)
	}
	if got := res.Match.Matched["end_to_end"].Count; got != n || res.Match.Unmatched != 0 {
		return Result{}, fmt.Errorf("reconcile N=%d: %d lines matched by EndToEndId, %d unmatched", n, got, res.Match.Unmatched)
	}
	var open int64
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM line_payments p WHERE msg_id = $1
		AND NOT EXISTS (SELECT 1 FROM payment_bookings b WHERE b.line_id = p.line_id)`, msgID).Scan(&open); err != nil || open != 0 {
		return Result{}, fmt.Errorf("reconcile N=%d: %d payments left unbooked (%v)", n, open, err)
	}
	return Result{
		Step: "i", Name: "statement import and match", N: int64(n), Seconds: took.Seconds(), Rate: rate(int64(n), took), Unit: "lines/s",
		PeakHeapInuse: inuse, PeakHeapSys: sys, PeakRSS: peak, Lines: int64(n),
		Note: fmt.Sprintf("ImportFrom of a CFONB 120 file of %d debits (%.0f MB, read twice) against %d payments in transit, every line matched by EndToEndId; "+
			"peak RSS %.1f MiB", n, float64(size)/1e6, n, float64(peak)/(1<<20)),
	}, nil
}

// benchE2E is the EndToEndId of payment i of the run of n: 35 characters.
func benchE2E(n, i int) string { return fmt.Sprintf("BENCH-%08d-%020d", n, i) }

// writeCFONB writes a CFONB 120 statement of n debits, each with its 05
// record carrying the EndToEndId (RCN), and returns its size.
func writeCFONB(f *os.File, day ledger.Date, n int, seed uint64) (int64, error) {
	w := bufio.NewWriterSize(f, 1<<20)
	date := day.Time().Format("020106")
	head := func(code, op string) string {
		// record, bank, internal code, branch, currency, decimals, blank, account, interbank code, date
		return code + "30001" + op + "00794" + "EUR" + "2" + " " + "12345678901" + "  " + date
	}
	amount := func(cents int64) string {
		neg := cents < 0
		if neg {
			cents = -cents
		}
		s := fmt.Sprintf("%014d", cents)
		last := s[13] - '0'
		var c byte
		switch {
		case neg && last == 0:
			c = '}'
		case neg:
			c = 'J' + last - 1
		case last == 0:
			c = '{'
		default:
			c = 'A' + last - 1
		}
		return s[:13] + string(c)
	}
	pad := func(s string, width int) string {
		if len(s) >= width {
			return s[:width]
		}
		return s + strings.Repeat(" ", width-len(s))
	}
	opening := int64(1_000_000_000_00)
	var total int64
	amt := newAmounts(seed)
	if _, err := w.WriteString(pad(head("01", "    ")+strings.Repeat(" ", 50)+amount(opening), 120) + "\n"); err != nil {
		return 0, err
	}
	for i := 0; i < n; i++ {
		cents := amt.next().Shift(2).IntPart() // negative: a debit
		total += cents
		rec := head("04", "0001") + "  " + date + pad("VIR SEPA ADA", 32) + " " + fmt.Sprintf("%07d", i%10_000_000) + "  " + amount(cents) + pad("BENCH", 16)
		if _, err := w.WriteString(pad(rec, 120) + "\n"); err != nil {
			return 0, err
		}
		detail := head("05", "0001") + "     " + "RCN" + pad(benchE2E(n, i), 70)
		if _, err := w.WriteString(pad(detail, 120) + "\n"); err != nil {
			return 0, err
		}
	}
	if _, err := w.WriteString(pad(head("07", "    ")+strings.Repeat(" ", 50)+amount(opening+total), 120) + "\n"); err != nil {
		return 0, err
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	_, err = f.Seek(0, io.SeekStart)
	return st.Size(), err
}

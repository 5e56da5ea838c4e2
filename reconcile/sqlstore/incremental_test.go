package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank/banksim"
	"github.com/ofii/allowances/reconcile"
	"github.com/ofii/allowances/reconcile/sqlstore"
)

// backlog stores, by COPY and without the cascade, an imported statement
// of n debits that nothing explains, as an earlier import would have left
// them, and returns its id.
func (e *env) backlog(n int) uuid.UUID {
	e.t.Helper()
	id := uuid.New()
	day := ledger.NewDate(2026, 11, 2)
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO statements (id, account, stmt_id, sequence, file_sha256, format, currency, stmt_date,
		opening, closing, entries, status, imported_at) VALUES ($1, $2, 'BACKLOG', 1, 'backlog', 'camt.053.001.08', 'EUR', $3, 0, 0, $4,
		'imported', now())`, id, account, day, int64(n)); err != nil {
		e.t.Fatal(err)
	}
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{id, int64(i), decimal.New(int64(100+i), -2), "DBIT", "BOOK", day, fmt.Sprintf("OLD-%d", i), "unmatched"}
	}
	if _, err := e.pool.CopyFrom(e.ctx, pgx.Identifier{"statement_lines"}, []string{"statement_id", "idx", "amount", "direction", "status",
		"booking_date", "end_to_end_id", "match_status"}, pgx.CopyFromRows(rows)); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// count runs a count(*) query.
func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int64
	if err := e.pool.QueryRow(e.ctx, sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return int(n)
}

func TestImportLeavesTheBacklogAlone(t *testing.T) {
	e := newEnv(t, banksim.Config{}, 3)
	old := e.backlog(20000)
	// Nothing new since the payments of newEnv: the bank pass takes them
	// once, and none of them explains a line of the backlog.
	if res, err := e.rec.FinishPending(e.ctx); err != nil || res.Examined != 0 {
		t.Fatalf("first pass: %v %+v", err, res)
	}
	page, _, err := e.runs.BatchLines(e.ctx, e.batch, "", 100)
	if err != nil || len(page) != 3 {
		t.Fatalf("batch lines: %v %d", err, len(page))
	}
	day := ledger.NewDate(2026, 11, 6)
	res, err := e.rec.Import(e.ctx, camt("SMALL-1", day, funding,
		"DBIT "+page[0].Net.StringFixed(2)+" "+page[0].ID, // rule 1, decided as the line is stored
		"DBIT 42.00 - FR7610107001011234567890129",        // nothing fits
	), controller)
	if err != nil {
		t.Fatal(err)
	}
	// The cascade after the lines are stored reads the file's one line
	// left, not the 20,000 of the backlog.
	if res.Match.Examined != 1 || res.Match.Matched[reconcile.RuleEndToEnd].Count != 1 || res.Match.Unmatched != 1 || res.Match.Exceptions != 1 {
		t.Fatalf("import: %+v", res.Match)
	}
	if n := e.count(`SELECT count(*) FROM recon_exceptions WHERE statement_id = $1`, old); n != 0 {
		t.Errorf("the import raised %d exceptions on the backlog", n)
	}
	if n := e.count(`SELECT count(*) FROM statement_lines WHERE statement_id = $1 AND match_status = 'unmatched' AND rule = ''`, old); n != 20000 {
		t.Errorf("%d backlog lines left as they were, want 20000", n)
	}
	// The staff's full pass still reads them all.
	all, err := e.rec.Match(e.ctx)
	if err != nil || all.Examined != 20001 || all.Unmatched != 20001 {
		t.Fatalf("full pass: %v %+v", err, all.Examined)
	}
	if n := e.count(`SELECT count(*) FROM recon_exceptions WHERE statement_id = $1 AND status = 'open'`, old); n != 20000 {
		t.Errorf("the full pass raised %d exceptions on the backlog, want 20000", n)
	}
}

func TestAReleaseMatchesTheBacklog(t *testing.T) {
	e := newEnvApproved(t, banksim.Config{}, 3)
	e.backlog(5000) // lines no payment explains, ever
	page, _, err := e.runs.BatchLines(e.ctx, e.batch, "", 100)
	if err != nil || len(page) != 3 {
		t.Fatalf("batch lines: %v %d", err, len(page))
	}
	// The bank books the payments on a statement imported before the
	// service released them (the release was recorded late).
	day := ledger.NewDate(2026, 11, 6)
	var entries []string
	sum := decimal.Zero
	for _, l := range page {
		entries = append(entries, "DBIT "+l.Net.StringFixed(2)+" "+l.ID)
		sum = sum.Add(l.Net)
	}
	res, err := e.rec.Import(e.ctx, camt("EARLY-1", day, funding, entries...), controller)
	if err != nil || res.Match.Unmatched != 3 || res.Match.Exceptions != 3 || len(res.Match.Matched) != 0 {
		t.Fatalf("import: %v %+v", err, res.Match)
	}
	if res, err := e.rec.FinishPending(e.ctx); err != nil || res.Examined != 0 {
		t.Fatalf("pass before the release: %v %+v", err, res)
	}
	e.release()
	res2, err := e.rec.FinishPending(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Examined != 3 || res2.Matched[reconcile.RuleEndToEnd].Count != 3 || res2.Unmatched != 0 {
		t.Fatalf("pass after the release: %+v", res2)
	}
	wantAmount(t, "matched by the pass", res2.Matched[reconcile.RuleEndToEnd].Sum, sum)
	wantAmount(t, "in transit", e.balance(ledger.PaymentsInTransit), decimal.Zero)
	open, err := e.rec.Exceptions(e.ctx, reconcile.ExceptionFilter{Status: reconcile.ExceptionOpen})
	if err != nil || len(open) != 0 {
		t.Fatalf("exceptions still open after the match: %v %+v", err, open)
	}
	r := e.report(day)
	if !r.Agrees || r.Unmatched.Count != 0 || r.Matched[reconcile.RuleEndToEnd].Count != 3 {
		t.Fatalf("report: %+v", r)
	}
	wantAmount(t, "statement closing", r.StatementClosing, funding.Sub(sum))
	// The next pass finds the same payments again (the watermark stays
	// behind the clock) but no line left for them.
	if res, err := e.rec.FinishPending(e.ctx); err != nil || res.Examined != 0 || len(res.Matched) != 0 {
		t.Fatalf("pass after: %v %+v", err, res)
	}
	// Once the clock is well past them, the watermark moves past the
	// payments: later passes no longer read them.
	var last time.Time
	if err := e.pool.QueryRow(e.ctx, `SELECT max(updated_at) FROM line_payments`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	e.at(last.Add(time.Hour).Format(time.RFC3339))
	if _, err := e.rec.FinishPending(e.ctx); err != nil {
		t.Fatal(err)
	}
	var mark time.Time
	if err := e.pool.QueryRow(e.ctx, `SELECT at FROM recon_watermarks WHERE name = 'payments'`).Scan(&mark); err != nil || !mark.Equal(last) {
		t.Errorf("watermark %s, want %s (%v)", mark, last, err)
	}
	e.verify()
}

// killedImport imports the bank's statement of 2026-11-06 and stops it
// after its lines are matched, before its postings: as a process killed
// there would leave it.
func killedImport(t *testing.T) (*env, []byte) {
	e := newEnv(t, banksim.Config{FeePerFile: decimal.RequireFromString("1.50")}, 4)
	e.at("2026-11-06T18:00:00Z")
	doc := e.statement(ledger.NewDate(2026, 11, 6))
	killed := errors.New("killed")
	sqlstore.SetBeforePostings(e.rec.Store, func(context.Context) error { return killed })
	if _, err := e.rec.Import(e.ctx, doc, controller); !errors.Is(err, killed) {
		t.Fatalf("import: %v", err)
	}
	sqlstore.SetBeforePostings(e.rec.Store, nil)
	if !e.balance(ledger.PaymentsInTransit).IsPositive() {
		t.Fatal("the postings were made")
	}
	if n := e.count(`SELECT count(*) FROM statements WHERE match_pending AND status = 'imported'`); n != 1 {
		t.Fatalf("%d statements pending", n)
	}
	return e, doc
}

// finished checks that the statement of 2026-11-06 is matched, posted and
// agrees with the ledger.
func (e *env) finished() {
	e.t.Helper()
	if n := e.count(`SELECT count(*) FROM statements WHERE match_pending`); n != 0 {
		e.t.Errorf("%d statements still pending", n)
	}
	wantAmount(e.t, "in transit", e.balance(ledger.PaymentsInTransit), decimal.Zero)
	wantAmount(e.t, "fees", e.balance(ledger.ExpenseBankFees), decimal.RequireFromString("1.50"))
	r := e.report(ledger.NewDate(2026, 11, 6))
	if !r.Agrees || r.Unmatched.Count != 0 || r.Matched[reconcile.RuleEndToEnd].Count != 4 || r.Matched[reconcile.RuleFee].Count != 1 {
		e.t.Fatalf("report: %+v", r)
	}
	e.verify()
}

func TestAKilledImportIsFinished(t *testing.T) {
	t.Run("by the bank pass", func(t *testing.T) {
		e, _ := killedImport(t)
		res, err := e.rec.FinishPending(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Examined != 0 { // its lines were all decided as they were stored
			t.Errorf("finish: %+v", res)
		}
		e.finished()
	})
	t.Run("by importing the file again", func(t *testing.T) {
		e, doc := killedImport(t)
		res, err := e.rec.Import(e.ctx, doc, controller)
		if err != nil || !res.Replayed {
			t.Fatalf("import again: %v %+v", err, res)
		}
		e.finished()
		// And a third time changes nothing.
		before := e.count(`SELECT count(*) FROM recon_postings`)
		if _, err := e.rec.Import(e.ctx, doc, controller); err != nil {
			t.Fatal(err)
		}
		if after := e.count(`SELECT count(*) FROM recon_postings`); after != before {
			t.Errorf("postings %d, then %d", before, after)
		}
	})
	t.Run("before the report", func(t *testing.T) {
		e, _ := killedImport(t)
		// The report finishes the statement first: it never shows a
		// difference that is only postings not made.
		r := e.report(ledger.NewDate(2026, 11, 6))
		if !r.Agrees || r.Unmatched.Count != 0 || r.Matched[reconcile.RuleEndToEnd].Count != 4 {
			t.Fatalf("report: %+v", r)
		}
		e.finished()
	})
}

func TestAClientThatHangsUpChangesNothing(t *testing.T) {
	e := newEnv(t, banksim.Config{FeePerFile: decimal.RequireFromString("1.50")}, 4)
	e.at("2026-11-06T18:00:00Z")
	doc := e.statement(ledger.NewDate(2026, 11, 6))
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	// The client hangs up once the statement's lines are stored and
	// matched: the postings are made all the same.
	sqlstore.SetBeforePostings(e.rec.Store, func(context.Context) error { cancel(); return nil })
	res, err := e.rec.Import(ctx, doc, payments.Actor{Name: "carla", Roles: []string{payments.RoleController}})
	sqlstore.SetBeforePostings(e.rec.Store, nil)
	if err != nil || ctx.Err() == nil {
		t.Fatalf("import: %v (cancelled: %v)", err, ctx.Err())
	}
	if res.Match.Matched[reconcile.RuleEndToEnd].Count != 4 || res.Match.Unmatched != 0 {
		t.Fatalf("import: %+v", res.Match)
	}
	e.finished()
}

package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sqlstore"
)

// runEnv is a database with the eligibility store and the run store on one
// clock that the test moves.
type runEnv struct {
	t      *testing.T
	ctx    context.Context
	pool   *pgxpool.Pool
	events *sqlstore.Store
	runs   *sqlstore.RunStore

	mu     sync.Mutex
	now    time.Time
	hook   func(payments.Run) // called after each chunk of a run
	offset int64
}

func newRunEnv(t *testing.T, opts ...sqlstore.RunOption) *runEnv {
	t.Helper()
	pool, _ := dbtest.MustOpen(t)
	e := &runEnv{t: t, ctx: context.Background(), pool: pool}
	e.events = sqlstore.New(pool, sqlstore.WithClock(e.clock))
	opts = append([]sqlstore.RunOption{sqlstore.WithRunClock(e.clock), sqlstore.WithProgress(func(r payments.Run) {
		e.mu.Lock()
		h := e.hook
		e.mu.Unlock()
		if h != nil {
			h(r)
		}
	})}, opts...)
	e.runs = sqlstore.NewRunStore(pool, opts...)
	return e
}

func (e *runEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

// at sets the clock.
func (e *runEnv) at(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = ts(s)
}

func (e *runEnv) setHook(h func(payments.Run)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hook = h
}

// apply applies events, each of which must be applied.
func (e *runEnv) apply(values ...[]byte) {
	e.t.Helper()
	res := mustApply(e.t, e.events, records(e.offset, values...))
	e.offset += int64(len(values))
	for i, r := range res {
		if r.Outcome != payments.OutcomeApplied {
			e.t.Fatalf("event %d: %+v", i, r)
		}
	}
}

func mustPeriod(t testing.TB, s string) payments.Period {
	t.Helper()
	p, err := payments.ParsePeriod(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runADA runs the ADA of period, which must succeed.
func (e *runEnv) runADA(period string) payments.Run {
	e.t.Helper()
	run, err := e.runs.StartADARun(e.ctx, mustPeriod(e.t, period), payments.TriggerStaff, "marie.curie")
	if err != nil {
		e.t.Fatalf("ADA run for %s: %v", period, err)
	}
	if run.Status != payments.RunDone || run.FinishedAt.IsZero() || run.Period.String() != period {
		e.t.Fatalf("ADA run for %s: %+v", period, run)
	}
	return run
}

// lines returns every line of a batch, reading small pages.
func (e *runEnv) lines(batch uuid.UUID) []payments.BatchLine {
	e.t.Helper()
	var out []payments.BatchLine
	cursor := ""
	for {
		page, next, err := e.runs.BatchLines(e.ctx, batch, cursor, 2)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		cursor = next
	}
}

// line returns the line of a batch for a beneficiary and period.
func (e *runEnv) line(lines []payments.BatchLine, ben, period string) payments.BatchLine {
	e.t.Helper()
	for _, l := range lines {
		if l.BeneficiaryID == ben && l.Period.String() == period {
			return l
		}
	}
	e.t.Fatalf("no line for %s in %s among %d", ben, period, len(lines))
	return payments.BatchLine{}
}

func (e *runEnv) approve(batch uuid.UUID) {
	e.t.Helper()
	if err := e.runs.MarkBatchApproved(e.ctx, batch); err != nil {
		e.t.Fatalf("approve %s: %v", batch, err)
	}
	b, err := e.runs.Batch(e.ctx, batch)
	if err != nil {
		e.t.Fatal(err)
	}
	if b.Status != payments.BatchApproved || b.ApprovedAt.IsZero() {
		e.t.Fatalf("batch after approval: %+v", b)
	}
}

func (e *runEnv) count(sql string, args ...any) int {
	e.t.Helper()
	var n int64
	if err := e.pool.QueryRow(e.ctx, sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return int(n)
}

func eur(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// amounts checks a line's gross, deduction and net.
func amounts(t *testing.T, l payments.BatchLine, gross, deduction, net string) {
	t.Helper()
	if !l.Gross.Equal(eur(gross)) || !l.Deduction.Equal(eur(deduction)) || !l.Net.Equal(eur(net)) {
		t.Errorf("line %s of %s for %s: gross %s, deduction %s, net %s; want %s, %s, %s", l.ID, l.BeneficiaryID, l.Period,
			l.Gross.StringFixed(2), l.Deduction.StringFixed(2), l.Net.StringFixed(2), gross, deduction, net)
	}
}

type seg struct {
	from, to string
	days     int
	daily    string
}

func segments(t *testing.T, l payments.BatchLine, want ...seg) {
	t.Helper()
	got := l.Explanation.Segments
	if len(got) != len(want) {
		t.Fatalf("line of %s: %d segments %+v, want %d", l.BeneficiaryID, len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.From.String() != w.from || g.To.String() != w.to || g.Days != w.days || !g.Daily.Equal(eur(w.daily)) ||
			!g.Amount.Equal(eur(w.daily).Mul(decimal.NewFromInt(int64(w.days)))) || g.Why == "" {
			t.Errorf("line of %s: segment %d = %+v, want %+v", l.BeneficiaryID, i, g, w)
		}
	}
}

// The households of docs/rules.md §4 (and the first one's October).
func workedExamples(e *runEnv) {
	guyane := opened("2026-11-01", 1, 0, false)
	guyane["territory"] = "guyane"
	e.at("2026-10-28T08:00:00Z")
	e.apply(
		event(eid("h1"), payments.RightsOpened, "H1", ts("2026-10-03T09:00:00Z"), opened("2026-10-03", 1, 0, false)),
		event(eid("h2"), payments.RightsOpened, "H2", ts("2026-10-28T08:00:00Z"), opened("2026-11-01", 2, 1, true)),
		event(eid("h3"), payments.RightsOpened, "H3", ts("2026-10-28T08:00:00Z"), opened("2026-11-01", 2, 1, false)),
		event(eid("h4"), payments.RightsOpened, "H4", ts("2026-10-28T08:00:00Z"), opened("2026-11-01", 1, 0, false)),
		event(eid("h5"), payments.RightsOpened, "H5", ts("2026-10-28T08:00:00Z"), opened("2026-11-01", 1, 0, true)),
		event(eid("h6"), payments.RightsOpened, "H6", ts("2026-10-28T08:00:00Z"), guyane),
	)
}

// later events of the worked examples, applied in November.
func workedExamplesNovember(e *runEnv) {
	e.at("2026-11-21T08:00:00Z")
	e.apply(
		event(eid("h4-child"), payments.HouseholdChanged, "H4", ts("2026-11-16T10:00:00Z"), map[string]any{"from": "2026-11-15", "adults": 1, "children": 1}),
		event(eid("h5-susp"), payments.Suspended, "H5", ts("2026-11-10T10:00:00Z"), map[string]any{"from": "2026-11-10", "reason": "missed appointment"}),
		event(eid("h5-res"), payments.Resumed, "H5", ts("2026-11-20T10:00:00Z"), map[string]any{"from": "2026-11-20"}),
	)
}

var lineIDSyntax = regexp.MustCompile(`^[A-Za-z0-9-]{35}$`)

func TestADARunWorkedExamples(t *testing.T) {
	e := newRunEnv(t)
	workedExamples(e)

	e.at("2026-11-05T07:00:00Z")
	if _, ok, err := e.runs.LastADAPeriod(e.ctx); err != nil || ok {
		t.Fatalf("LastADAPeriod before any run: %v %v", ok, err)
	}
	oct := e.runADA("2026-10")
	lines := e.lines(oct.BatchID)
	if len(lines) != 1 || oct.Lines != 1 || oct.Processed != 6 || oct.By != "marie.curie" || oct.Trigger != payments.TriggerStaff {
		t.Fatalf("October: run %+v, lines %+v", oct, lines)
	}
	h1 := e.line(lines, "H1", "2026-10")
	amounts(t, h1, "411.80", "0", "411.80")
	segments(t, h1, seg{"2026-10-03", "2026-10-31", 29, "14.20"})
	if h1.Kind != payments.LineMonthly || h1.Scheme != payments.SchemeADA || !lineIDSyntax.MatchString(h1.ID) ||
		h1.Payee.Name != "Amina Diallo" || h1.Payee.IBAN == "" || !strings.Contains(h1.Explanation.Text, "29 × 14.20") {
		t.Errorf("October line: %+v", h1)
	}
	if p, ok, err := e.runs.LastADAPeriod(e.ctx); err != nil || !ok || p.String() != "2026-10" {
		t.Errorf("LastADAPeriod = %v %v %v", p, ok, err)
	}
	e.approve(oct.BatchID)

	workedExamplesNovember(e)
	e.at("2026-12-05T07:00:00Z")
	nov := e.runADA("2026-11")
	lines = e.lines(nov.BatchID)
	want := map[string]string{"H1": "426.00", "H2": "408.00", "H3": "852.00", "H4": "480.40", "H5": "136.00", "H6": "255.00"}
	if len(lines) != len(want) {
		t.Fatalf("November: %d lines, want %d", len(lines), len(want))
	}
	total := decimal.Zero
	for ben, gross := range want {
		l := e.line(lines, ben, "2026-11")
		amounts(t, l, gross, "0", gross)
		if l.Kind != payments.LineMonthly || !l.Basis.IsZero() || len(l.Deductions) != 0 {
			t.Errorf("November line of %s: %+v", ben, l)
		}
		total = total.Add(eur(gross))
	}
	segments(t, e.line(lines, "H2", "2026-11"), seg{"2026-11-01", "2026-11-30", 30, "13.60"})
	segments(t, e.line(lines, "H3", "2026-11"), seg{"2026-11-01", "2026-11-30", 30, "28.40"})
	segments(t, e.line(lines, "H4", "2026-11"), seg{"2026-11-01", "2026-11-14", 14, "14.20"}, seg{"2026-11-15", "2026-11-30", 16, "17.60"})
	segments(t, e.line(lines, "H5", "2026-11"), seg{"2026-11-01", "2026-11-09", 9, "6.80"}, seg{"2026-11-20", "2026-11-30", 11, "6.80"})
	segments(t, e.line(lines, "H6", "2026-11"), seg{"2026-11-01", "2026-11-30", 30, "8.50"})

	b, err := e.runs.Batch(e.ctx, nov.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	ada := b.Totals[payments.SchemeADA]
	if b.Status != payments.BatchDraft || b.Lines != 6 || b.RunID != nov.ID || b.Kind != payments.RunADA || b.Period.String() != "2026-11" ||
		ada.Lines != 6 || !ada.Gross.Equal(total) || !ada.Net.Equal(total) || !ada.Deduction.IsZero() || !b.Total.Gross.Equal(total) {
		t.Errorf("November batch: %+v, want gross %s", b, total)
	}
	runs, err := e.runs.Runs(e.ctx, 10)
	if err != nil || len(runs) != 2 || runs[0].ID != nov.ID || runs[1].ID != oct.ID || runs[0].Lines != 6 {
		t.Errorf("Runs = %+v, %v", runs, err)
	}
	list, err := e.runs.Batches(e.ctx, payments.BatchFilter{Kind: payments.RunADA})
	if err != nil || len(list) != 2 || list[0].ID != nov.BatchID || list[1].Status != payments.BatchApproved {
		t.Errorf("Batches = %+v, %v", list, err)
	}
	list, err = e.runs.Batches(e.ctx, payments.BatchFilter{Status: payments.BatchDraft, Period: mustPeriod(t, "2026-11")})
	if err != nil || len(list) != 1 || list[0].ID != nov.BatchID || list[0].Total.Lines != 6 {
		t.Errorf("draft batches = %+v, %v", list, err)
	}
}

// docs/rules.md §4, retroactive case: October paid 411.80; an event says
// the household was accommodated from 2026-10-20.
func TestADARunRetroactive(t *testing.T) {
	e := newRunEnv(t)
	e.at("2026-10-03T09:00:00Z")
	e.apply(event(eid("r1"), payments.RightsOpened, "H1", ts("2026-10-03T09:00:00Z"), opened("2026-10-03", 1, 0, false)))
	e.at("2026-11-05T07:00:00Z")
	oct := e.runADA("2026-10")
	amounts(t, e.line(e.lines(oct.BatchID), "H1", "2026-10"), "411.80", "0", "411.80")
	e.approve(oct.BatchID)

	e.at("2026-11-20T09:00:00Z")
	e.apply(event(eid("r2"), payments.AccommodationChanged, "H1", ts("2026-11-20T09:00:00Z"),
		map[string]any{"from": "2026-10-20", "accommodated": true}))

	e.at("2026-12-05T07:00:00Z")
	nov := e.runADA("2026-11")
	lines := e.lines(nov.BatchID)
	if len(lines) != 1 {
		t.Fatalf("November: %d lines %+v, want the November line alone", len(lines), lines)
	}
	l := e.line(lines, "H1", "2026-11")
	amounts(t, l, "204.00", "61.20", "142.80")
	const retro = "RETRO-H1-2026-10"
	if len(l.Deductions) != 1 || l.Deductions[0].OverpaymentID != retro || !l.Deductions[0].Amount.Equal(eur("61.20")) {
		t.Errorf("deductions: %+v", l.Deductions)
	}
	if !strings.Contains(l.Explanation.Recovery, "61.20 of 88.80 recovered, 27.60 remains") ||
		!strings.Contains(l.Explanation.Text, "142.80") {
		t.Errorf("explanation: %+v", l.Explanation)
	}
	segments(t, l, seg{"2026-11-01", "2026-11-30", 30, "6.80"})

	// The draft found the overpayment; its approval establishes it.
	if n := e.count(`SELECT count(*) FROM overpayments`); n != 0 {
		t.Errorf("%d overpayments established by a draft", n)
	}

	// Run again while a draft: the same, and the overpayment is not
	// established twice.
	again := e.runADA("2026-11")
	l2 := e.line(e.lines(again.BatchID), "H1", "2026-11")
	amounts(t, l2, "204.00", "61.20", "142.80")
	e.approve(again.BatchID)
	ben, err := e.events.Beneficiary(e.ctx, "H1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ben.Overpayments) != 1 || ben.Overpayments[0].OverpaymentID != retro || !ben.Overpayments[0].Amount.Equal(eur("88.80")) ||
		ben.Overpayments[0].Fraud || !strings.Contains(ben.Overpayments[0].Reason, "323.00") {
		t.Fatalf("overpayments: %+v", ben.Overpayments)
	}
	if n := e.count(`SELECT count(*) FROM recoveries WHERE overpayment_id = $1 AND amount = 61.20`, retro); n != 1 {
		t.Errorf("%d recoveries", n)
	}

	// 27.60 remains: December recovers it, within its cap.
	e.at("2027-01-05T07:00:00Z")
	dec := e.runADA("2026-12")
	d := e.line(e.lines(dec.BatchID), "H1", "2026-12")
	amounts(t, d, "210.80", "27.60", "183.20")
	if !strings.Contains(d.Explanation.Recovery, "27.60 of 27.60 recovered, nothing remains") {
		t.Errorf("December recovery: %s", d.Explanation.Recovery)
	}
}

// A period run again while its batch is a draft replaces the draft.
func TestADARunTwiceWhileDraftReplacesIt(t *testing.T) {
	e := newRunEnv(t)
	workedExamples(e)
	workedExamplesNovember(e)
	e.at("2026-12-05T07:00:00Z")
	first := e.runADA("2026-11")
	b1, err := e.runs.Batch(e.ctx, first.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	second := e.runADA("2026-11")
	b2, err := e.runs.Batch(e.ctx, second.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	if b2.ID == b1.ID || b2.Status != payments.BatchDraft || b2.Lines != b1.Lines || !b2.Total.Gross.Equal(b1.Total.Gross) ||
		!b2.Total.Gross.Equal(eur("2557.40")) {
		t.Errorf("second draft %+v, first %+v", b2, b1)
	}
	if _, err := e.runs.Batch(e.ctx, first.BatchID); !errs.Is(err, errs.NotFound) {
		t.Errorf("the replaced draft: %v, want not found", err)
	}
	if n := e.count(`SELECT count(*) FROM batches WHERE kind = 'ada' AND period = '2026-11'`); n != 1 {
		t.Errorf("%d batches for 2026-11", n)
	}
	if n := e.count(`SELECT count(*) FROM batch_lines`); n != b2.Lines {
		t.Errorf("%d lines stored, the draft has %d", n, b2.Lines)
	}
	// The same lines but for their ids, which name their run.
	l1, l2 := e.lines(second.BatchID), b1.Lines
	if len(l1) != l2 {
		t.Errorf("%d lines, want %d", len(l1), l2)
	}
}

// Once approved, a period run again adds only what changed.
func TestADARunAfterApprovalAddsTheDifference(t *testing.T) {
	e := newRunEnv(t)
	workedExamples(e)
	workedExamplesNovember(e)
	e.at("2026-12-05T07:00:00Z")
	nov := e.runADA("2026-11")
	e.approve(nov.BatchID)

	e.at("2026-12-06T07:00:00Z")
	same := e.runADA("2026-11")
	if same.Lines != 0 || len(e.lines(same.BatchID)) != 0 {
		t.Fatalf("nothing changed, yet %d lines", same.Lines)
	}

	// H3 had a second child from 2026-11-16: 15 days × (31.80 − 28.40).
	e.apply(event(eid("h3-child"), payments.HouseholdChanged, "H3", ts("2026-12-06T08:00:00Z"),
		map[string]any{"from": "2026-11-16", "adults": 2, "children": 2}))
	e.at("2026-12-07T07:00:00Z")
	diff := e.runADA("2026-11")
	lines := e.lines(diff.BatchID)
	if len(lines) != 1 {
		t.Fatalf("%d lines %+v, want H3's adjustment alone", len(lines), lines)
	}
	l := e.line(lines, "H3", "2026-11")
	amounts(t, l, "51.00", "0", "51.00")
	if l.Kind != payments.LineAdjustment || !l.Basis.Equal(eur("852.00")) || !strings.Contains(l.Explanation.Text, "paid 852.00") {
		t.Errorf("adjustment: %+v", l)
	}
	if _, err := e.runs.Batch(e.ctx, same.BatchID); !errs.Is(err, errs.NotFound) {
		t.Errorf("the empty draft was not replaced: %v", err)
	}
	e.approve(diff.BatchID)
	var paid decimal.Decimal
	if err := e.pool.QueryRow(e.ctx, `SELECT sum(gross) FROM period_payments WHERE beneficiary_id = 'H3' AND period = '2026-11'`).Scan(&paid); err != nil {
		t.Fatal(err)
	}
	if !paid.Equal(eur("903.00")) {
		t.Errorf("H3 paid %s for November, want 903.00", paid)
	}
	e.at("2026-12-08T07:00:00Z")
	if again := e.runADA("2026-11"); again.Lines != 0 {
		t.Errorf("a third run added %d lines", again.Lines)
	}
}

// Two batches computed on the same paid period cannot both be approved: the
// second is refused and stays a draft.
func TestApprovalRefusesStaleLines(t *testing.T) {
	e := newRunEnv(t)
	e.at("2026-10-03T09:00:00Z")
	e.apply(event(eid("s1"), payments.RightsOpened, "H1", ts("2026-10-03T09:00:00Z"), opened("2026-10-03", 1, 0, false)))
	e.at("2026-11-05T07:00:00Z")
	oct := e.runADA("2026-10")
	e.approve(oct.BatchID)

	// A child from 2026-10-25: 7 days × 3.40 more for October.
	e.at("2026-11-10T09:00:00Z")
	e.apply(event(eid("s2"), payments.HouseholdChanged, "H1", ts("2026-11-10T09:00:00Z"), map[string]any{"from": "2026-10-25", "adults": 1, "children": 1}))
	e.at("2026-11-12T07:00:00Z")
	octAgain := e.runADA("2026-10")
	amounts(t, e.line(e.lines(octAgain.BatchID), "H1", "2026-10"), "23.80", "0", "23.80")

	e.at("2026-12-05T07:00:00Z")
	nov := e.runADA("2026-11")
	lines := e.lines(nov.BatchID)
	adj := e.line(lines, "H1", "2026-10")
	amounts(t, adj, "23.80", "0", "23.80")
	if adj.Kind != payments.LineAdjustment || !adj.Basis.Equal(eur("411.80")) {
		t.Errorf("retroactive adjustment: %+v", adj)
	}
	amounts(t, e.line(lines, "H1", "2026-11"), "528.00", "0", "528.00")
	e.approve(nov.BatchID)

	err := e.runs.MarkBatchApproved(e.ctx, octAgain.BatchID)
	if !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "run the period again") {
		t.Fatalf("approving the stale batch: %v, want a conflict", err)
	}
	b, err := e.runs.Batch(e.ctx, octAgain.BatchID)
	if err != nil || b.Status != payments.BatchDraft {
		t.Errorf("stale batch after the refusal: %+v, %v", b, err)
	}
	var paid decimal.Decimal
	if err := e.pool.QueryRow(e.ctx, `SELECT sum(gross) FROM period_payments WHERE beneficiary_id = 'H1' AND period = '2026-10'`).Scan(&paid); err != nil {
		t.Fatal(err)
	}
	if !paid.Equal(eur("435.60")) {
		t.Errorf("October paid %s, want 435.60 (411.80 + 23.80 once)", paid)
	}
	var left int64
	if err := e.pool.QueryRow(e.ctx, `SELECT (SELECT count(*) FROM period_payments WHERE batch_id = $1) + (SELECT count(*) FROM recoveries WHERE batch_id = $1)`,
		octAgain.BatchID).Scan(&left); err != nil || left != 0 {
		t.Errorf("the refused approval left %d rows of what it recorded (%v)", left, err)
	}
	// Approving a batch twice does nothing; a replaced or unknown one is refused.
	if err := e.runs.MarkBatchApproved(e.ctx, nov.BatchID); err != nil {
		t.Errorf("second approval: %v", err)
	}
	if err := e.runs.MarkBatchApproved(e.ctx, uuid.New()); !errs.Is(err, errs.NotFound) {
		t.Errorf("unknown batch: %v", err)
	}
}

// households adds n households of one adult opened on 2026-11-01.
func households(e *runEnv, n int) {
	var values [][]byte
	for i := range n {
		id := fmt.Sprintf("B%03d", i)
		values = append(values, event(eid(id), payments.RightsOpened, id, ts("2026-10-28T08:00:00Z"), opened("2026-11-01", 1, i%3, i%2 == 0)))
	}
	e.at("2026-10-28T08:00:00Z")
	e.apply(values...)
}

// A run interrupted after its first chunk leaves the previous draft as it
// was; started again, it ends with exactly one complete draft.
func TestInterruptedRunThenRestart(t *testing.T) {
	e := newRunEnv(t, sqlstore.WithChunkSize(2))
	households(e, 7)
	e.at("2026-12-05T07:00:00Z")
	first := e.runADA("2026-11")
	b1, err := e.runs.Batch(e.ctx, first.BatchID)
	if err != nil || b1.Lines != 7 {
		t.Fatalf("first draft: %+v, %v", b1, err)
	}

	e.at("2026-12-05T07:01:00Z")
	ctx, cancel := context.WithCancel(e.ctx)
	chunks := 0
	e.setHook(func(payments.Run) {
		chunks++
		cancel()
	})
	failed, err := e.runs.StartADARun(ctx, mustPeriod(t, "2026-11"), payments.TriggerSchedule, "scheduler")
	cancel()
	e.setHook(nil)
	if err == nil || !errors.Is(err, context.Canceled) || chunks != 1 {
		t.Fatalf("interrupted run: %v after %d chunks", err, chunks)
	}
	runs, err := e.runs.Runs(e.ctx, 1)
	if err != nil || len(runs) != 1 || runs[0].ID != failed.ID || runs[0].Status != payments.RunFailed || runs[0].Error == "" ||
		runs[0].Processed != 2 || runs[0].Trigger != payments.TriggerSchedule {
		t.Fatalf("failed run: %+v, %v", runs, err)
	}
	if _, err := e.runs.Batch(e.ctx, failed.BatchID); !errs.Is(err, errs.NotFound) {
		t.Errorf("the failed run's batch: %v, want removed", err)
	}
	still, err := e.runs.Batch(e.ctx, first.BatchID)
	if err != nil || still.Status != payments.BatchDraft || !still.Total.Gross.Equal(b1.Total.Gross) {
		t.Errorf("the draft before: %+v, %v", still, err)
	}

	e.at("2026-12-05T07:02:00Z")
	restart := e.runADA("2026-11")
	b2, err := e.runs.Batch(e.ctx, restart.BatchID)
	if err != nil || b2.Status != payments.BatchDraft || b2.Lines != 7 || !b2.Total.Gross.Equal(b1.Total.Gross) {
		t.Fatalf("restarted draft: %+v, %v", b2, err)
	}
	if n := e.count(`SELECT count(*) FROM batches`); n != 1 {
		t.Errorf("%d batches, want the one draft", n)
	}
	if n := e.count(`SELECT count(*) FROM batch_lines WHERE batch_id = $1`, restart.BatchID); n != 7 {
		t.Errorf("%d lines", n)
	}
	if n := e.count(`SELECT count(*) FROM batch_lines`); n != 7 {
		t.Errorf("%d lines in all", n)
	}
}

func TestGrantsRun(t *testing.T) {
	e := newRunEnv(t)
	e.at("2026-11-25T16:00:00Z")
	e.apply(
		event(eid("g1"), payments.ReturnGrantDecided, "R1", ts("2026-11-05T15:00:00Z"), map[string]any{
			"grant_id": "RET-2026-0042", "country": "GE", "adults": 1, "children": 2,
			"removal_order_notified_on": "2026-10-20", "validated_on": "2026-11-05", "increased_rate": false,
			"travel_document": true, "departure_date": "2026-11-20", "payee": payee("Giorgi Beridze", 3)}),
		event(eid("g2"), payments.ReinsertionDecided, "R1", ts("2026-11-25T15:00:00Z"), map[string]any{
			"grant_id": "REI-2026-0007", "level": "business_creation", "amount": "4500.00",
			"tranches": []map[string]any{{"tranche_id": "T1", "amount": "2000.00"}, {"tranche_id": "T2", "amount": "2500.00"}},
			"payee":    payee("Giorgi Beridze", 3)}),
	)
	before, err := e.runs.StartGrantsRun(e.ctx, date("2026-11-19"), payments.TriggerStaff, "marie.curie")
	if err != nil || before.Lines != 0 {
		t.Fatalf("grants before the departure: %+v, %v", before, err)
	}

	e.at("2026-12-05T07:00:00Z")
	e.apply(event(eid("g3"), payments.TrancheReleased, "R1", ts("2026-12-02T15:00:00Z"),
		map[string]any{"grant_id": "REI-2026-0007", "tranche_id": "T1", "released_on": "2026-12-02"}))
	run, err := e.runs.StartGrantsRun(e.ctx, ledger.Date{}, payments.TriggerStaff, "marie.curie")
	if err != nil || run.Day.String() != "2026-12-05" || run.Period.String() != "2026-12" || run.Lines != 2 {
		t.Fatalf("grants run: %+v, %v", run, err)
	}
	lines := e.lines(run.BatchID)
	var ret, tranche payments.BatchLine
	for _, l := range lines {
		switch l.Scheme {
		case payments.SchemeReturn:
			ret = l
		case payments.SchemeBusinessCreation:
			tranche = l
		}
	}
	amounts(t, ret, "1050.00", "0", "1050.00")
	if ret.Kind != payments.LineLumpSum || ret.Ref != "RET-2026-0042" || ret.Payee.Name != "Giorgi Beridze" || ret.Explanation.Return == nil ||
		!strings.Contains(ret.Explanation.Text, "1050.00") || !lineIDSyntax.MatchString(ret.ID) {
		t.Errorf("return line: %+v", ret)
	}
	amounts(t, tranche, "2000.00", "0", "2000.00")
	if tranche.Kind != payments.LineTranche || tranche.Ref != "REI-2026-0007/T1" {
		t.Errorf("tranche line: %+v", tranche)
	}

	// Again while a draft: replaced, the same lines.
	again, err := e.runs.StartGrantsRun(e.ctx, ledger.Date{}, payments.TriggerStaff, "marie.curie")
	if err != nil || again.Lines != 2 {
		t.Fatalf("grants run again: %+v, %v", again, err)
	}
	b, err := e.runs.Batch(e.ctx, again.BatchID)
	if err != nil || !b.Total.Gross.Equal(eur("3050.00")) || b.Totals[payments.SchemeReturn].Lines != 1 ||
		!b.Totals[payments.SchemeBusinessCreation].Net.Equal(eur("2000.00")) {
		t.Errorf("grants batch: %+v, %v", b, err)
	}
	if n := e.count(`SELECT count(*) FROM batches WHERE kind = 'grants' AND period = '2026-12'`); n != 1 {
		t.Errorf("%d grants batches", n)
	}
	e.approve(again.BatchID)

	// Approved: nothing is batched twice; the next tranche joins the next batch.
	e.at("2026-12-11T07:00:00Z")
	none, err := e.runs.StartGrantsRun(e.ctx, ledger.Date{}, payments.TriggerStaff, "marie.curie")
	if err != nil || none.Lines != 0 {
		t.Fatalf("grants run after approval: %+v, %v", none, err)
	}
	e.apply(event(eid("g4"), payments.TrancheReleased, "R1", ts("2026-12-10T15:00:00Z"),
		map[string]any{"grant_id": "REI-2026-0007", "tranche_id": "T2", "released_on": "2026-12-10"}))
	next, err := e.runs.StartGrantsRun(e.ctx, ledger.Date{}, payments.TriggerStaff, "marie.curie")
	if err != nil || next.Lines != 1 {
		t.Fatalf("grants run with T2: %+v, %v", next, err)
	}
	amounts(t, e.lines(next.BatchID)[0], "2500.00", "0", "2500.00")
}

func TestRunBadInput(t *testing.T) {
	e := newRunEnv(t)
	e.at("2026-11-05T07:00:00Z")
	field := func(err error, name string) {
		t.Helper()
		var ee *errs.Error
		if !errors.As(err, &ee) || ee.Code != errs.Invalid || ee.Field != name {
			t.Errorf("error %v, want invalid %s", err, name)
		}
	}
	for _, p := range []payments.Period{
		{Year: 2026, Month: 11}, // not over
		{Year: 2026, Month: 12}, // future
		{Year: 2024, Month: 10}, // 25 months old
		{Year: 2026, Month: 13},
		{},
	} {
		_, err := e.runs.StartADARun(e.ctx, p, payments.TriggerStaff, "marie.curie")
		field(err, "period")
	}
	for _, s := range []string{"2026-13", "2026-1", "26-11", "", "2026-11-01", "november"} {
		_, err := payments.ParsePeriod(s)
		field(err, "period")
	}
	_, err := e.runs.StartADARun(e.ctx, mustPeriod(t, "2026-10"), "cron", "marie.curie")
	field(err, "trigger")
	_, err = e.runs.StartADARun(e.ctx, mustPeriod(t, "2026-10"), payments.TriggerStaff, "  ")
	field(err, "by")
	_, err = e.runs.StartGrantsRun(e.ctx, date("2026-11-06"), payments.TriggerStaff, "marie.curie")
	field(err, "day")
	_, err = e.runs.Batches(e.ctx, payments.BatchFilter{Status: "paid-twice"})
	field(err, "status")
	_, _, err = e.runs.BatchLines(e.ctx, uuid.New(), "", 0)
	if !errs.Is(err, errs.NotFound) {
		t.Errorf("lines of an unknown batch: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM runs`); n != 0 {
		t.Errorf("%d runs recorded for bad input", n)
	}
	// The oldest period within the limitation is accepted.
	e.runADA("2024-11")
}

func TestSchedulerDue(t *testing.T) {
	var s payments.Scheduler
	for _, c := range []struct {
		now, last string
		want      string // "" when none is due
	}{
		{"2026-12-04T12:00:00Z", "2026-10", ""},
		{"2026-12-05T06:00:00Z", "2026-10", "2026-11"},
		{"2026-12-20T06:00:00Z", "2026-10", "2026-11"},
		{"2026-12-20T06:00:00Z", "2026-11", ""},
		{"2026-12-20T06:00:00Z", "2026-12", ""},
		{"2026-12-05T06:00:00Z", "", "2026-11"},
		{"2027-01-05T06:00:00Z", "2026-11", "2026-12"},
		{"2026-12-04T23:30:00Z", "2026-10", "2026-11"}, // already the 5th in Paris
	} {
		var last payments.Period
		if c.last != "" {
			last = mustPeriod(t, c.last)
		}
		p, ok := s.Due(ts(c.now), last)
		if got := map[bool]string{true: p.String(), false: ""}[ok]; got != c.want {
			t.Errorf("Due(%s, %s) = %q, want %q", c.now, c.last, got, c.want)
		}
	}
	if p, ok := (payments.Scheduler{Day: 10}).Due(ts("2026-12-09T12:00:00Z"), payments.Period{}); ok {
		t.Errorf("day 10: due %s on the 9th", p)
	}
}

// Two approvals of one batch at once, over several chunks, record each
// line as paid exactly once.
func TestConcurrentApprovalsRecordEachLineOnce(t *testing.T) {
	e := newRunEnv(t, sqlstore.WithChunkSize(2))
	households(e, 7)
	e.at("2026-12-05T07:00:00Z")
	run := e.runADA("2026-11")
	var wg sync.WaitGroup
	errsSeen := make([]error, 3)
	for i := range errsSeen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errsSeen[i] = e.runs.MarkBatchApproved(e.ctx, run.BatchID)
		}()
	}
	wg.Wait()
	for i, err := range errsSeen {
		if err != nil {
			t.Errorf("approval %d: %v", i, err)
		}
	}
	b, err := e.runs.Batch(e.ctx, run.BatchID)
	if err != nil || b.Status != payments.BatchApproved {
		t.Fatalf("batch after the approvals: %+v, %v", b, err)
	}
	if n := e.count(`SELECT count(*) FROM period_payments WHERE batch_id = $1`, run.BatchID); n != 7 {
		t.Errorf("%d lines recorded as paid, want each of the 7 once", n)
	}
	// Nothing more is due for the month: a new run adds no line.
	e.at("2026-12-06T07:00:00Z")
	again := e.runADA("2026-11")
	if n := e.count(`SELECT count(*) FROM batch_lines WHERE batch_id = $1`, again.BatchID); n != 0 {
		t.Errorf("a run after approval wrote %d lines for days already paid", n)
	}
}

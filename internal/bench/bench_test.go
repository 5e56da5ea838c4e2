package bench_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ofii/allowances/internal/bench"
	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
)

// serverURL is the server the run creates its scratch database on.
func serverURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return dbtest.BaseURL()
}

func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every measurement against the database")
	}
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ledger_bench_test_" + hex.EncodeToString(b[:])
	base := serverURL()
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin := cfg.Copy()
		admin.Database = "postgres"
		c, err := pgx.ConnectConfig(ctx, admin)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})

	const n, households = 200, 300
	opts := bench.Options{
		DatabaseURL: base, Database: name, Keep: true,
		Sizes: []int{n, households}, ChunkSize: 64, Clients: 2, Duration: 300 * time.Millisecond,
		ColdAccounts: 20, Branches: 2, TellersPerBranch: 2, AccountsPerBranch: 100, Events: 400,
		Households: []int{households}, Statements: []int{n}, Backlog: 2000, AnalyzeBetween: true,
	}
	rep, err := bench.Run(ctx, opts, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, step := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "m", "v", "w"} {
		r, ok := rep.Find(step, 0)
		if !ok {
			t.Errorf("no result for step %s: %+v", step, rep.Results)
			continue
		}
		if r.Rate <= 0 || r.Seconds <= 0 || r.N <= 0 {
			t.Errorf("step %s: n %d in %gs, rate %g, want all positive (%s)", step, r.N, r.Seconds, r.Rate, r.Note)
		}
	}
	wantRatios := []string{"b/a N=200", "b seal/a N=200", "b/a N=300", "b seal/a N=300", "c/e", "d/c", "f events/s", "f/a", "f/g", "h/a N=300"}
	if runtime.GOOS == "linux" {
		wantRatios = append(wantRatios, "h peak RSS N=300")
	}
	wantRatios = append(wantRatios, "i/a N=200")
	if runtime.GOOS == "linux" {
		wantRatios = append(wantRatios, "i peak RSS N=200")
	}
	wantRatios = append(wantRatios, "v full/incremental", "v full/a",
		"w/a N=300", "w run/a N=300", "w approval/a N=300", "w release/a N=300")
	if runtime.GOOS == "linux" {
		wantRatios = append(wantRatios, "w peak RSS N=300")
	}
	var gotRatios []string
	for _, r := range rep.Ratios {
		gotRatios = append(gotRatios, r.Name)
	}
	if !slices.Equal(gotRatios, wantRatios) {
		t.Errorf("ratios %q, want %q", gotRatios, wantRatios)
	}
	if f, _ := rep.Find("f", 0); f.N != 400 || f.Errors != 0 {
		t.Errorf("events step applied %d of 400 events, %d dead letters", f.N, f.Errors)
	}
	checkADARun(ctx, t, rep, cfg, name, households)
	checkMonth(ctx, t, rep, cfg, name, households)
	if rep.Machine.ServerVersion == "" || rep.Machine.GOMAXPROCS < 1 {
		t.Errorf("machine = %+v", rep.Machine)
	}

	bulk, ok := rep.Find("b", n)
	if !ok {
		t.Fatal("no bulk result")
	}
	if bulk.PeakHeapInuse == 0 {
		t.Error("no heap peak sampled during the bulk entry")
	}
	scratch := cfg.Copy()
	scratch.Database = name
	c, err := pgx.ConnectConfig(ctx, scratch)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var lines, contra int64
	err = c.QueryRow(ctx, `SELECT count(*) FILTER (WHERE account_code <> $2), count(*) FILTER (WHERE account_code = $2)
		FROM postings WHERE entry_id = $1`, bulk.EntryID, ledger.ExpenseADA).Scan(&lines, &contra)
	if err != nil {
		t.Fatal(err)
	}
	if lines != n {
		t.Errorf("bulk entry has %d beneficiary postings, want %d", lines, n)
	}
	if want := int64((n + 63) / 64); contra != want {
		t.Errorf("bulk entry has %d contra postings, want one per chunk, %d", contra, want)
	}
	var status string
	if err := c.QueryRow(ctx, `SELECT status FROM entries WHERE id = $1`, bulk.EntryID).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != string(ledger.StatusPosted) {
		t.Errorf("bulk entry status %q, want posted", status)
	}
}

// checkADARun checks the ADA run step's result, and that the store reads
// the synthetic households loaded for it as they were meant: the days of
// the run's period and the payee of each.
func checkADARun(ctx context.Context, t *testing.T, rep bench.Report, cfg *pgx.ConnConfig, name string, households int) {
	t.Helper()
	r, ok := rep.Find("h", int64(households))
	if !ok {
		t.Error("no ADA run result")
		return
	}
	if r.PeakHeapInuse == 0 || (runtime.GOOS == "linux" && r.PeakRSS == 0) {
		t.Errorf("ADA run: peak heap %d, peak RSS %d, want both sampled", r.PeakHeapInuse, r.PeakRSS)
	}
	pcfg, err := pgxpool.ParseConfig("")
	if err != nil {
		t.Fatal(err)
	}
	pcfg.ConnConfig = cfg.Copy()
	pcfg.ConnConfig.Database = name
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := paysql.New(pool)
	p := bench.RunPeriod
	var covered int64
	kinds := map[string]int{}
	for i := range households {
		h := bench.SyntheticHousehold(rep.Options.Seed, i)
		if h.Covered(p) {
			covered++
		}
		switch {
		case !h.LastDay.IsZero() && h.LastDay.Before(p.First()):
			kinds["closed before"]++
		case !h.LastDay.IsZero():
			kinds["closed within"]++
		}
		if !h.Suspended.IsZero() {
			kinds["suspended"]++
		}
		if !h.Changed.IsZero() {
			kinds["household changed"]++
		}
		if h.Opened.After(p.First()) {
			kinds["opened within"]++
		}
		kinds[h.Territory]++
		if h.Accommodated {
			kinds["accommodated"]++
		}
		days, err := store.Days(ctx, h.ID, p.First(), p.Last())
		if err != nil {
			t.Fatalf("Days of %s: %v", h.ID, err)
		}
		if len(days) != p.Days() {
			t.Fatalf("Days of %s: %d days, want %d", h.ID, len(days), p.Days())
		}
		for _, got := range days {
			want := h.Day(got.Date)
			if want.Date.String() != got.Date.String() {
				t.Fatalf("Days of %s: day %s, want %s", h.ID, got.Date, want.Date)
			}
			want.Date = got.Date
			if got != want {
				t.Errorf("%s on %s: the store reads %+v, the household states %+v (%+v)", h.ID, got.Date, got, want, h)
				break
			}
		}
		payee, err := store.PayeeAt(ctx, h.ID, bench.RunStart)
		if err != nil {
			t.Fatalf("PayeeAt of %s: %v", h.ID, err)
		}
		if payee != h.Payee {
			t.Errorf("%s: payee %+v, want %+v", h.ID, payee, h.Payee)
		}
		if _, err := payments.ValidateIBAN(payee.IBAN); err != nil {
			t.Errorf("%s: IBAN %s: %v", h.ID, payee.IBAN, err)
		}
	}
	for _, k := range []string{"closed before", "closed within", "suspended", "household changed", "opened within",
		"metropole", "guyane", "accommodated"} {
		if kinds[k] == 0 {
			t.Errorf("no household of the sample is %s: %v", k, kinds)
		}
	}
	if r.Lines != covered || covered == 0 || covered == int64(households) {
		t.Errorf("ADA run wrote %d lines; %d of the %d households have a covered day", r.Lines, covered, households)
	}
}

// checkMonth checks the whole month's result: its three phases adding up
// to its time, a line per covered household, and what it left in the
// scratch database: one batch, released, whose approvals are the two
// approvers' (not the preparer's nor the computer's), its files queued and
// never sent.
func checkMonth(ctx context.Context, t *testing.T, rep bench.Report, cfg *pgx.ConnConfig, name string, households int) {
	t.Helper()
	r, ok := rep.Find("w", int64(households))
	if !ok {
		t.Error("no whole month result")
		return
	}
	var names []string
	var sum float64
	for _, p := range r.Phases {
		names = append(names, p.Name)
		sum += p.Seconds
		if p.Seconds <= 0 {
			t.Errorf("phase %s took %gs", p.Name, p.Seconds)
		}
	}
	if want := []string{bench.PhaseRun, bench.PhaseApproval, bench.PhaseRelease}; !slices.Equal(names, want) {
		t.Errorf("phases %q, want %q", names, want)
	}
	if sum > r.Seconds*1.001+0.001 {
		t.Errorf("phases add up to %gs, more than the month's %gs", sum, r.Seconds)
	}
	var covered int64
	for i := range households {
		if bench.SyntheticHousehold(rep.Options.Seed, i).Covered(bench.RunPeriod) {
			covered++
		}
	}
	if r.Lines != covered {
		t.Errorf("whole month: %d lines, want %d", r.Lines, covered)
	}
	if !strings.Contains(r.Note, "ANALYZE between the phases, untimed") {
		t.Errorf("whole month with AnalyzeBetween: note %q does not say the statistics were brought up to date", r.Note)
	}
	scratch := cfg.Copy()
	scratch.Database = name
	c, err := pgx.ConnectConfig(ctx, scratch)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var status, preparedBy, computedBy, approvers string
	err = c.QueryRow(ctx, `SELECT b.status, b.prepared_by, b.computed_by,
		(SELECT string_agg(a.approver, ',' ORDER BY a.approver) FROM batch_approvals a WHERE a.batch_id = b.id)
		FROM batches b`).Scan(&status, &preparedBy, &computedBy, &approvers)
	if err != nil {
		t.Fatalf("the month's batch: %v", err)
	}
	if status != string(payments.BatchReleased) || preparedBy == computedBy || approvers != "bench.approver-1,bench.approver-2" {
		t.Errorf("batch %s, prepared by %s, computed by %s, approved by %s; want released, approved by the two approvers",
			status, preparedBy, computedBy, approvers)
	}
	var files, queued, sent, paid int64
	err = c.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'queued'), count(sent_at), coalesce(sum(transactions), 0)
		FROM payment_files WHERE batch_id = (SELECT id FROM batches)`).Scan(&files, &queued, &sent, &paid)
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 || queued != files || sent != 0 || paid != covered {
		t.Errorf("%d files, %d queued, %d sent, paying %d; want all queued, none sent, paying %d", files, queued, sent, paid, covered)
	}
}

package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/server"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	httptransport "github.com/ofii/allowances/transport/http"
	"github.com/ofii/allowances/transport/kafka"
)

// The households of the scheduler's tests: each one adult, housed, from
// 1 October 2026: 31 days at 6.80 in October.
const (
	schedHouseholds = 20
	schedGross      = "4216.00" // 20 × 31 × 6.80
)

// schedClock is ledgerd's clock in these tests: 5 November 2026, moving on,
// so that October is due on the run day 1.
func schedClock() func() time.Time {
	base, began := time.Date(2026, 11, 5, 8, 0, 0, 0, time.UTC), time.Now()
	return func() time.Time { return base.Add(time.Since(began)) }
}

// loadHouseholds applies the households' rights openings.
func loadHouseholds(t *testing.T, pool *pgxpool.Pool, now func() time.Time) {
	t.Helper()
	var recs []payments.Record
	for i := range schedHouseholds {
		v := []byte(fmt.Sprintf(`{"event_id": "00000000-0000-4000-8000-%012d", "type": "ada.rights_opened", "schema_version": 1,
			"occurred_at": "2026-09-28T08:00:00Z", "beneficiary_id": "OFII-2026-%06d", "data": {"from": "2026-10-01", "adults": 1,
			"children": 0, "accommodated": true, "payee": {"name": "Amina Diallo", "iban": "FR7630006000011234567890189"}}}`, i, i))
		recs = append(recs, payments.Record{Source: payments.Source{Topic: "eligibility.v1", Offset: int64(i)}, Key: kafka.KeyOf(v), Value: v})
	}
	res, err := paysql.New(pool, paysql.WithClock(now)).Apply(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Outcome != payments.OutcomeApplied {
			t.Fatalf("event %d: %+v", i, r)
		}
	}
}

// schedConfig is dev mode with the monthly run on day 1 and a lease of 1s.
func schedConfig(t *testing.T, url string) config.Config {
	t.Helper()
	env := map[string]string{
		"LEDGER_DEV":          "true",
		"DATABASE_URL":        url,
		"HTTP_ADDR":           "127.0.0.1:0",
		"AUTH_TOKENS":         "ops:admin:" + httptransport.HashToken(adminToken),
		"KAFKA_EMBEDDED_ADDR": "127.0.0.1:0",
		"BANK_EMBEDDED_ADDR":  "127.0.0.1:0",
		"ADA_RUN_DAY":         "1",
		"LEASE_TTL":           "1s",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// overdue reads ledger_ada_run_overdue from /metrics.
func overdue(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "ledger_ada_run_overdue "); ok {
			return v
		}
	}
	t.Fatalf("no ledger_ada_run_overdue in /metrics")
	return ""
}

// scheduledRuns returns the runs of October 2026, newest first.
func octoberRuns(api client) []payments.Run {
	var list struct {
		Runs []payments.Run `json:"runs"`
	}
	api.do("GET", "/v1/runs", adminToken, "", "", 200, &list)
	var out []payments.Run
	for _, r := range list.Runs {
		if r.Kind == payments.RunADA && r.Period.String() == "2026-10" {
			out = append(out, r)
		}
	}
	return out
}

// checkOctoberPaidOnce waits for the scheduler's October run to be done
// and checks that October has one batch, paying every household once.
func checkOctoberPaidOnce(t *testing.T, api client) payments.Run {
	t.Helper()
	var done payments.Run
	waitFor(t, "the scheduler's October run to be done", func() bool {
		for _, r := range octoberRuns(api) {
			if r.Status == payments.RunDone {
				done = r
				return true
			}
		}
		return false
	})
	if done.Trigger != payments.TriggerSchedule || done.Lines != schedHouseholds {
		t.Errorf("the scheduler's run: %+v", done)
	}
	var list struct {
		Batches []payments.Batch `json:"batches"`
	}
	api.do("GET", "/v1/batches?kind=ada&period=2026-10", adminToken, "", "", 200, &list)
	if len(list.Batches) != 1 || list.Batches[0].ID != done.BatchID || list.Batches[0].Lines != schedHouseholds ||
		list.Batches[0].Total.Gross.StringFixed(2) != schedGross || list.Batches[0].Total.Net.StringFixed(2) != schedGross {
		t.Errorf("October's batches: %+v, want one of %d lines, %s", list.Batches, schedHouseholds, schedGross)
	}
	return done
}

// TestScheduledRunTakenOverAfterACrash: a ledgerd killed during its
// scheduled run left the run running and its lease held; the next ledgerd
// is refused the run while the lease lasts, with October shown overdue,
// then takes the run over, and October is paid once.
func TestScheduledRunTakenOverAfterACrash(t *testing.T) {
	pool, url := dbtest.MustOpen(t)
	now := schedClock()
	loadHouseholds(t, pool, now)

	// The predecessor dies at its first chunk's progress; its lease is
	// left to run 3s more, as when it had just been renewed.
	killed := paysql.NewRunStore(pool, paysql.WithRunClock(now), paysql.WithChunkSize(2), paysql.WithRunLease(time.Second),
		paysql.WithProgress(func(payments.Run) { panic("killed") }))
	func() {
		defer func() { _ = recover() }()
		_, _ = killed.StartADARun(context.Background(), payments.Period{Year: 2026, Month: 10}, payments.TriggerSchedule, "scheduler")
	}()
	if _, err := pool.Exec(context.Background(), `UPDATE leases SET expires_at = now() + INTERVAL '3 seconds'`); err != nil {
		t.Fatal(err)
	}

	addrs := start(t, schedConfig(t, url), server.WithClock(now))
	api := client{t: t, base: "http://" + addrs.HTTP}
	runs := octoberRuns(api)
	if len(runs) != 1 || runs[0].Status != payments.RunRunning {
		t.Fatalf("October's runs while the lease lasts: %+v", runs)
	}
	dead := runs[0]
	if v := overdue(t, api.base); v != "1" {
		t.Errorf("ledger_ada_run_overdue while the run is dead = %s, want 1", v)
	}
	done := checkOctoberPaidOnce(t, api)
	if v := overdue(t, api.base); v != "0" {
		t.Errorf("ledger_ada_run_overdue once October is done = %s, want 0", v)
	}
	for _, r := range octoberRuns(api) {
		if r.ID == dead.ID && (r.Status != payments.RunFailed || !strings.Contains(r.Error, "taken over by run "+done.ID.String())) {
			t.Errorf("the dead run: %+v", r)
		}
	}
	if n := len(octoberRuns(api)); n != 2 {
		t.Errorf("%d October runs, want the dead one and the one that took over", n)
	}
}

// TestSchedulerRerunsAFailedMonth: a month whose run failed is not done,
// and the scheduler runs it again.
func TestSchedulerRerunsAFailedMonth(t *testing.T) {
	pool, url := dbtest.MustOpen(t)
	now := schedClock()
	loadHouseholds(t, pool, now)
	ctx, cancel := context.WithCancel(context.Background())
	failing := paysql.NewRunStore(pool, paysql.WithRunClock(now), paysql.WithChunkSize(2),
		paysql.WithProgress(func(payments.Run) { cancel() }))
	run, err := failing.StartADARun(ctx, payments.Period{Year: 2026, Month: 10}, payments.TriggerSchedule, "scheduler")
	if err == nil || run.Status != payments.RunFailed {
		t.Fatalf("the failing run: %+v, %v", run, err)
	}
	addrs := start(t, schedConfig(t, url), server.WithClock(now))
	api := client{t: t, base: "http://" + addrs.HTTP}
	checkOctoberPaidOnce(t, api)
	if n := len(octoberRuns(api)); n != 2 {
		t.Errorf("%d October runs, want the failed one and the one that paid", n)
	}
}

package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sepa"
)

// The outcomes of ledger_verify_runs_total.
const (
	verifyOK       = "ok"       // the books are proven
	verifyProblems = "problems" // verify found something wrong
	verifyError    = "error"    // verify could not finish
)

// verifiedLedger is the ledger whose Verify, as the API calls it, records
// its outcome and time for the alerts.
type verifiedLedger struct {
	ledger.Service
	runs     *prometheus.CounterVec
	lastOK   prometheus.Gauge
	lastAt   prometheus.Gauge
	lastTook prometheus.Gauge
	problems prometheus.Gauge

	mu   sync.Mutex
	last verifyRun
}

// verifyRun is the outcome of the last verification of the books by this
// process; At is zero until one ran.
type verifyRun struct {
	At       time.Time
	Outcome  string // verifyOK, verifyProblems or verifyError
	Problems int
}

// LastVerify is the outcome of the last verification of the books by this
// process, what ledger_verify_last_ok and
// ledger_verify_last_run_timestamp_seconds say.
func (v *verifiedLedger) LastVerify() verifyRun {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.last
}

// withVerifyMetrics returns svc recording each Verify on reg:
// ledger_verify_runs_total{outcome}, ledger_verify_last_ok (1 when the last
// verify proved the books, 0 otherwise), ledger_verify_last_run_timestamp_seconds
// (0 until one ran), ledger_verify_last_duration_seconds and
// ledger_verify_last_problems.
func withVerifyMetrics(svc ledger.Service, reg prometheus.Registerer) *verifiedLedger {
	v := &verifiedLedger{Service: svc,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ledger_verify_runs_total",
			Help: "Verifications of the books by this process, by outcome (ok, problems, error)."}, []string{"outcome"}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ledger_verify_last_ok",
			Help: "1 when the last verification of the books by this process proved them, 0 when it failed or none ran."}),
		lastAt: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ledger_verify_last_run_timestamp_seconds",
			Help: "When the last verification of the books by this process ended (Unix time; 0: none yet)."}),
		lastTook: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ledger_verify_last_duration_seconds",
			Help: "How long the last verification of the books by this process took."}),
		problems: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ledger_verify_last_problems",
			Help: "Problems the last verification of the books by this process found."}),
	}
	for _, o := range []string{verifyOK, verifyProblems, verifyError} {
		v.runs.WithLabelValues(o)
	}
	reg.MustRegister(v.runs, v.lastOK, v.lastAt, v.lastTook, v.problems)
	return v
}

// Verify verifies the books from every posting and records the outcome.
func (v *verifiedLedger) Verify(ctx context.Context) (ledger.VerifyReport, error) {
	return v.VerifyWith(ctx, ledger.VerifyOptions{Full: true})
}

// VerifyWith verifies the books, from the last seal or in full, and records
// the outcome.
func (v *verifiedLedger) VerifyWith(ctx context.Context, o ledger.VerifyOptions) (ledger.VerifyReport, error) {
	begin := time.Now()
	rep, err := v.Service.VerifyWith(ctx, o)
	if err != nil && ctx.Err() != nil {
		return rep, err // the caller went away: no outcome
	}
	outcome, ok := verifyOK, 1.0
	switch {
	case err != nil:
		outcome, ok = verifyError, 0
	case !rep.OK:
		outcome, ok = verifyProblems, 0
	}
	v.runs.WithLabelValues(outcome).Inc()
	end := time.Now()
	v.mu.Lock()
	v.last = verifyRun{At: end, Outcome: outcome, Problems: len(rep.Problems)}
	v.mu.Unlock()
	v.lastOK.Set(ok)
	v.lastAt.Set(float64(end.Unix()))
	v.lastTook.Set(time.Since(begin).Seconds())
	v.problems.Set(float64(len(rep.Problems)))
	return rep, err
}

// stateCollector reads, at each scrape, what the alerts watch in the
// database: the last run done of each kind, the payments in transit, the
// last statement of each bank account, the dead letters. Each query is
// bounded; a database that does not answer within the timeout leaves the
// series out of the scrape (the alerts on absent series say so).
type stateCollector struct {
	pool          *pgxpool.Pool
	inTransitDays int
	accounts      []string // the ledger accounts of the bank accounts
	now           func() time.Time
	log           *slog.Logger
	timeout       time.Duration

	lastRun, inTransitOldest, inTransitOverdue, inTransitLimit, lastStatement, deadLetters *prometheus.Desc
}

func newStateCollector(cfg config.Config, pool *pgxpool.Pool, now func() time.Time, log *slog.Logger) *stateCollector {
	accounts := []string{ledger.BankMain}
	for _, b := range cfg.BankAccounts {
		accounts = append(accounts, b.Ledger)
	}
	return &stateCollector{pool: pool, inTransitDays: cfg.ReconInTransitDays, accounts: accounts, now: now, log: log, timeout: 5 * time.Second,
		lastRun: prometheus.NewDesc("ledger_run_last_done_timestamp_seconds",
			"When the last run of each kind (ada, grants) finished done (Unix time; 0: never).", []string{"kind"}, nil),
		inTransitOldest: prometheus.NewDesc("ledger_payments_in_transit_oldest_age_seconds",
			"Age of the oldest payment released and not booked by a statement nor rejected, from its execution date (0: none).", nil, nil),
		inTransitOverdue: prometheus.NewDesc("ledger_payments_in_transit_overdue",
			"Payments released and still not booked RECON_IN_TRANSIT_DAYS business days after their execution date.", nil, nil),
		inTransitLimit: prometheus.NewDesc("ledger_payments_in_transit_limit_days",
			"RECON_IN_TRANSIT_DAYS: business days a payment may stay off the statements.", nil, nil),
		lastStatement: prometheus.NewDesc("ledger_statement_last_date_timestamp_seconds",
			"Date of the last statement imported for each ledger bank account (Unix time of its midnight UTC; 0: none yet).", []string{"account"}, nil),
		deadLetters: prometheus.NewDesc("ledger_dead_letters_total",
			"Eligibility events refused and kept as dead letters, all processes together.", nil, nil),
	}
}

// Describe sends the descriptions of the series.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lastRun, c.inTransitOldest, c.inTransitOverdue, c.inTransitLimit, c.lastStatement, c.deadLetters} {
		ch <- d
	}
}

// Collect reads the series from the database.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ch <- prometheus.MustNewConstMetric(c.inTransitLimit, prometheus.GaugeValue, float64(c.inTransitDays))
	if err := c.collect(ctx, ch); err != nil {
		c.log.Warn("metrics: cannot read the state of the service", "error", err.Error())
	}
}

func (c *stateCollector) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	done := map[string]float64{string(payments.RunADA): 0, string(payments.RunGrants): 0}
	rows, err := c.pool.Query(ctx, `SELECT kind, max(finished_at) FROM runs WHERE status = 'done' AND finished_at IS NOT NULL GROUP BY kind`)
	if err != nil {
		return fmt.Errorf("read the last runs: %w", err)
	}
	for rows.Next() {
		var kind string
		var at time.Time
		if err := rows.Scan(&kind, &at); err != nil {
			rows.Close()
			return fmt.Errorf("read the last runs: %w", err)
		}
		done[kind] = float64(at.Unix())
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the last runs: %w", err)
	}
	for kind, at := range done {
		ch <- prometheus.MustNewConstMetric(c.lastRun, prometheus.GaugeValue, at, kind)
	}

	now := c.now()
	cutoff := sepa.AddBusinessDays(payments.LegalDay(now), -c.inTransitDays)
	var oldest *time.Time
	var overdue int64
	err = c.pool.QueryRow(ctx, `SELECT min(f.execution_date), count(*) FILTER (WHERE f.execution_date < $1)
		FROM line_payments p JOIN payment_files f ON f.msg_id = p.msg_id
		WHERE NOT EXISTS (SELECT 1 FROM payment_bookings b WHERE b.line_id = p.line_id) AND p.status <> 'RJCT'
		AND f.status NOT IN ('building', 'withdrawn')`, cutoff.Time()).Scan(&oldest, &overdue)
	if err != nil {
		return fmt.Errorf("read the payments in transit: %w", err)
	}
	age := 0.0
	if oldest != nil {
		age = max(now.Sub(*oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.inTransitOldest, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(c.inTransitOverdue, prometheus.GaugeValue, float64(overdue))

	last := map[string]float64{}
	for _, a := range c.accounts {
		last[a] = 0
	}
	rows, err = c.pool.Query(ctx, `SELECT ledger_account, max(stmt_date) FROM statements WHERE status = 'imported' GROUP BY ledger_account`)
	if err != nil {
		return fmt.Errorf("read the last statements: %w", err)
	}
	for rows.Next() {
		var account string
		var day time.Time
		if err := rows.Scan(&account, &day); err != nil {
			rows.Close()
			return fmt.Errorf("read the last statements: %w", err)
		}
		last[account] = float64(day.Unix())
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the last statements: %w", err)
	}
	for account, at := range last {
		ch <- prometheus.MustNewConstMetric(c.lastStatement, prometheus.GaugeValue, at, account)
	}

	var dead int64
	if err := c.pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&dead); err != nil {
		return fmt.Errorf("count the dead letters: %w", err)
	}
	ch <- prometheus.MustNewConstMetric(c.deadLetters, prometheus.CounterValue, float64(dead))
	return nil
}

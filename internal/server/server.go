// Package server is ledgerd: the staff HTTP API under /v1 with /metrics,
// /healthz and /readyz, the consumer of the eligibility events, the monthly
// ADA run, and the sender of payment files and fetcher of status reports and
// statements, wired from the settings. cmd/ledgerd runs it; tests run the
// very same server in-process.
//
// Outside dev mode it talks to the Kafka brokers of KAFKA_BROKERS and the
// bank of BANK_URL, and refuses to start without either. In dev mode
// (LEDGER_DEV) an embedded Kafka broker on KAFKA_EMBEDDED_ADDR and an
// embedded bank simulator on BANK_EMBEDDED_ADDR stand in for them; the
// log says so at start, /readyz says so in its detail "mode" (Mode), and
// the payment files and statements of the simulator are marked simulated.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ofii/allowances/internal/banking"
	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/migrations"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/sqlstore"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/payments/workflow"
	"github.com/ofii/allowances/reconcile"
	reconsql "github.com/ofii/allowances/reconcile/sqlstore"
	httptransport "github.com/ofii/allowances/transport/http"
	"github.com/ofii/allowances/transport/kafka"
)

// Addrs are where a started server listens.
type Addrs struct {
	HTTP  string // the staff API
	Kafka string // the embedded broker, when there is one
	Bank  string // the bank interface (the embedded simulator's, when there is one)
}

// Option adjusts a server; tests use them to run the very same server.
type Option func(*options)

type options struct {
	now func() time.Time
	sim []banking.SimOption
}

// WithClock makes now the server's clock (default time.Now): the day of the
// monthly run, of the approval workflow and of the bank poller, which
// fetches the statements of the days before it.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithBankSimulator adjusts the embedded bank simulator of dev mode.
func WithBankSimulator(opts ...banking.SimOption) Option {
	return func(o *options) { o.sim = append(o.sim, opts...) }
}

// Run starts the server of the settings cfg, logging to log, and blocks
// until ctx is done. When ready is not nil it receives the addresses once
// the server accepts requests. Outside dev mode (cfg.Dev) it refuses to
// start without KAFKA_BROKERS or BANK_URL: it never stands a simulator in
// for a missing setting.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, ready chan<- Addrs, opts ...Option) error {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.CheckServer(); err != nil {
		return err
	}
	if cfg.Dev {
		log.Warn("dev mode: the embedded simulators stand in for the settings left unset",
			"kafka_simulated", len(cfg.KafkaBrokers) == 0, "bank_simulated", cfg.BankURL == "")
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	log.Info("database connected", "url", db.Redact(cfg.DatabaseURL))
	if cfg.AutoMigrate {
		applied, err := migrations.Up(ctx, pool, nil)
		if err != nil {
			return err
		}
		log.Info("schema migrated", "applied", len(applied))
	}
	policy := db.DefaultRetryPolicy
	policy.MaxAttempts = cfg.TxMaxAttempts
	bulk, err := sqlstore.ChooseBulkMethod(ctx, pool, cfg.BulkWrite)
	if err != nil {
		return err
	}
	cfg.BulkInsert = bulk == sqlstore.BulkInsert
	log.Info("bulk writes", "method", bulk.String(), "BULK_WRITE", cfg.BulkWrite)
	store := sqlstore.New(pool, sqlstore.WithRetryPolicy(policy), sqlstore.WithBulkMethod(bulk))
	if err := ledger.SetUpChart(ctx, store, banking.ChartAccounts(cfg)...); err != nil {
		return err
	}
	events := paysql.New(pool, paysql.WithRetryPolicy(policy), paysql.WithUnopenedDays(cfg.OrphanFactsDays))
	schedules := payments.DefaultSchedules()
	if cfg.RateScheduleFile != "" {
		if schedules, err = payments.LoadScheduleFile(cfg.RateScheduleFile); err != nil {
			return fmt.Errorf("RATE_SCHEDULE_FILE: %w", err)
		}
	}
	log.Info("rate schedule loaded", "file", cfg.RateScheduleFile, "versions", len(schedules.Versions()),
		"latest", schedules.Latest().Version, "in_force_from", schedules.Latest().EffectiveFrom.String())
	frenchReasons, err := reconcile.LoadFrenchReasons(cfg.CFONBReasonsFile)
	if err != nil {
		return fmt.Errorf("CFONB_REASONS_FILE: %w", err)
	}
	if cfg.CFONBReasonsFile != "" {
		log.Info("French reject codes loaded", "file", cfg.CFONBReasonsFile, "codes", frenchReasons.Len())
	}
	tokens, err := httptransport.LoadTokens(cfg.AuthTokens, cfg.AuthTokensFile)
	if err != nil {
		return fmt.Errorf("AUTH_TOKENS: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		paysql.UnopenedGauge(events), newStateCollector(cfg, pool, o.now, log))

	embedded := ""
	if len(cfg.KafkaBrokers) == 0 {
		broker, err := kafka.StartEmbedded(cfg.KafkaEmbeddedPort, cfg.KafkaEmbeddedPartitions, cfg.KafkaTopic, cfg.KafkaDLQTopic)
		if err != nil {
			return fmt.Errorf("embedded Kafka broker on KAFKA_EMBEDDED_ADDR %s: %w", cfg.KafkaEmbeddedAddr, err)
		}
		defer broker.Close()
		embedded = broker.Addr()
		log.Info("embedded Kafka broker listening: publish eligibility events here", "addr", embedded,
			"topic", cfg.KafkaTopic, "dlq_topic", cfg.KafkaDLQTopic, "partitions", cfg.KafkaEmbeddedPartitions)
	}
	consumer, err := kafka.NewConsumer(kafka.ConfigFrom(cfg, embedded), events, log, reg)
	if err != nil {
		return err
	}
	cctx, stopConsumer := context.WithCancel(context.WithoutCancel(ctx))
	consumed := make(chan error, 1)
	go func() {
		err := consumer.Run(cctx)
		if err != nil {
			log.Error("eligibility consumer stopped", "error", err.Error())
		}
		consumed <- err
	}()
	defer func() {
		stopConsumer()
		<-consumed
	}()

	runs := paysql.NewRunStore(pool, paysql.WithSchedules(schedules), paysql.WithRunRetryPolicy(policy), paysql.WithRunClock(o.now),
		paysql.WithRunLease(cfg.LeaseTTL), paysql.WithRunBulkInsert(cfg.BulkInsert))
	if cfg.ADARunDay > 0 {
		sch := payments.Scheduler{Day: cfg.ADARunDay}
		reg.MustRegister(paysql.ADAOverdueGauge(runs, sch, o.now))
		go runMonthly(cctx, runs, sch, min(time.Minute, cfg.LeaseTTL), o.now, log)
	}
	bk, err := banking.Open(cfg, log, reg, o.sim...)
	if err != nil {
		return err
	}
	defer bk.Close()
	if bk.Sim != nil {
		log.Warn("no BANK_URL: payment files go to the embedded bank simulator, not to a bank", "url", bk.URL)
	} else {
		log.Info("bank interface", "url", bk.URL)
	}
	mode := ModeOf(cfg, bk.Sim != nil)
	apCfg := banking.ApprovalConfig(cfg, bk.Gateway)
	apCfg.Now = o.now
	apStore, err := paysql.NewApprovalStore(pool, runs, apCfg)
	if err != nil {
		return fmt.Errorf("approval workflow: %w", err)
	}
	delCfg := banking.DeliveryConfig(cfg, bk.Gateway, log)
	delCfg.Now = o.now
	approvals := workflow.New(apStore, store, delCfg)
	budget := paysql.NewBudgetStore(pool, store, o.now)
	approvals.SetBudget(budget, cfg.BudgetEnforce)
	reg.MustRegister(paysql.BudgetGauges(budget, cfg.BudgetMinMonths))
	if !cfg.BudgetEnforce {
		log.Warn("BUDGET_CONTROL=off: a scheme without an appropriation for the year is approved unchecked")
	}
	recCfg := banking.ReconcileConfig(cfg, log)
	recCfg.Now = o.now
	recCfg.FrenchReasons = frenchReasons
	rec, err := reconsql.New(pool, store, recCfg)
	if err != nil {
		return fmt.Errorf("reconciliation: %w", err)
	}
	// Two ledgerd may share the database: each bank pass, the poller's or
	// a request's, holds its lease while it works; the poller skips a pass
	// another holds, a request waits a little for it.
	polled := bankPasses{pool: pool, ttl: cfg.LeaseTTL}
	asked := bankPasses{pool: pool, ttl: cfg.LeaseTTL, wait: requestLeaseWait}
	leasedAp := leasedApprovals{Approvals: approvals, passes: asked}
	fetch := banking.StatementFetcher(cfg, bk.Gateway, rec)
	leasedRec := leasedReconcile{store: rec, fetch: fetch, passes: asked}
	sealed := make(chan struct{})
	go func() {
		defer close(sealed)
		runSeal(cctx, store, cfg.SealInterval, log)
	}()
	defer func() {
		stopConsumer()
		<-sealed
	}()
	banked := make(chan struct{})
	go func() {
		defer close(banked)
		runBank(cctx, leasedApprovals{Approvals: approvals, passes: polled}, leasedReconcile{store: rec, fetch: fetch, passes: polled},
			cfg.BankPollInterval, o.now, log)
	}()
	defer func() {
		stopConsumer()
		<-banked
	}()

	fecx, err := fecExporter(cfg, store)
	if err != nil {
		return err
	}
	reconSvc := banking.Reconciliation(rec, store, leasedRec)
	verified := withVerifyMetrics(store, reg)
	handler := httptransport.NewHandler(verified, httptransport.Options{
		Tokens: tokens, Logger: log, Registry: reg, MaxBodyBytes: cfg.HTTPMaxBodyBytes,
		Ready: map[string]func(context.Context) error{"database": pool.Ping},
		Detail: map[string]func() any{
			"eligibility": func() any { return consumer.Status() },
			"mode":        func() any { return mode },
		},
		Beneficiaries: events,
		Runs:          runs,
		Approvals:     leasedAp,
		Budget:        budget,
		Reconcile:     reconSvc,
		BankAccount:   cfg.DebtorIBAN,
		FEC:           fecx,
	})
	served, err := withConsole(ctx, cfg, log, handler, consoleServices{pool: pool, batches: runs, workflow: leasedAp, files: leasedAp, excs: leasedAp, audit: leasedAp, recon: reconSvc, people: events, books: store, budget: budget,
		gateway: bk.Gateway, consumer: consumer, mode: mode, now: o.now, lastVerify: verified.LastVerify})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: served, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	log.Info("serving the staff API", "addr", ln.Addr().String(), "tokens", tokens.Len())
	if ready != nil {
		ready <- Addrs{HTTP: ln.Addr().String(), Kafka: embedded, Bank: bk.URL}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// Mode says what a server talks to, and is /readyz's detail "mode": in dev
// mode, whether the embedded simulators stand in for the bank and for
// Kafka.
type Mode struct {
	// Dev is dev mode (--dev, LEDGER_DEV).
	Dev bool `json:"dev"`
	// Bank is "simulator" when the payment files go to the embedded bank
	// simulator, which pays nobody, or "bank" when they go to BANK_URL.
	Bank string `json:"bank"`
	// Kafka is "embedded" when the eligibility events are read from the
	// embedded broker, or "brokers" when from KAFKA_BROKERS.
	Kafka string `json:"kafka"`
	// Warning says in words what dev mode means, in dev mode only.
	Warning string `json:"warning,omitempty"`
}

// The values of Mode.Bank and Mode.Kafka.
const (
	BankSimulator = "simulator"
	BankReal      = "bank"
	KafkaEmbedded = "embedded"
	KafkaBrokers  = "brokers"
)

// ModeOf is the mode of a server of the settings cfg, whose bank gateway is
// the embedded simulator when sim is set.
func ModeOf(cfg config.Config, sim bool) Mode {
	m := Mode{Dev: cfg.Dev, Bank: BankReal, Kafka: KafkaBrokers}
	if sim {
		m.Bank = BankSimulator
	}
	if len(cfg.KafkaBrokers) == 0 {
		m.Kafka = KafkaEmbedded
	}
	if !cfg.Dev {
		return m
	}
	var what []string
	if sim {
		what = append(what, "payment files go to the embedded bank simulator, which pays nobody, and what it produces is marked simulated")
	}
	if m.Kafka == KafkaEmbedded {
		what = append(what, "eligibility events are read from the embedded Kafka broker")
	}
	if len(what) == 0 {
		what = append(what, "BANK_URL and KAFKA_BROKERS are set, so no simulator stands in for them")
	}
	m.Warning = "dev mode: " + strings.Join(what, "; ")
	return m
}

// runMonthly starts the previous month's ADA run once the run day has come,
// checking every interval until ctx is done. A period counts as run only
// once a run of it is done (or staff cancelled one): a run that failed is
// started again at the next check, and one left running by a process that
// stopped is taken over as soon as its lease expires, so that no month
// goes unpaid silently. While another process's run of it is alive, the
// start is refused and tried again at the next check. After a failure the
// next attempt waits a minute, then twice as long after each failure in a
// row, up to an hour, so that a run failing on bad data does not read
// every beneficiary again and again.
func runMonthly(ctx context.Context, runs payments.Runs, s payments.Scheduler, every time.Duration, now func() time.Time, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var retryAt time.Time
	backoff := time.Minute
	for {
		last, _, err := runs.LastADAPeriod(ctx)
		if err == nil {
			if p, due := s.Due(now(), last); due && !time.Now().Before(retryAt) {
				log.Info("starting the monthly ADA run", "period", p.String())
				run, err := runs.StartADARun(ctx, p, payments.TriggerSchedule, "scheduler")
				switch {
				case errs.Is(err, errs.Conflict):
					log.Info("monthly ADA run: another run is alive, checking again later", "period", p.String(), "error", err.Error())
				case err != nil:
					retryAt = time.Now().Add(backoff)
					log.Error("monthly ADA run failed", "period", p.String(), "error", err.Error(), "retry_in", backoff.String())
					backoff = min(2*backoff, time.Hour)
				default:
					retryAt, backoff = time.Time{}, time.Minute
					log.Info("monthly ADA run done", "period", p.String(), "run", run.ID.String(), "batch", run.BatchID.String())
				}
			}
		} else if ctx.Err() == nil {
			log.Warn("monthly ADA run: cannot read the last period run", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// statements is what the bank poller does with the statements.
type statements interface {
	FetchDue(ctx context.Context, today ledger.Date, by payments.Actor) ([]reconcile.ImportResult, error)
	Sweep(ctx context.Context, today ledger.Date) (int, error)
	FinishPending(ctx context.Context) (reconcile.MatchResult, error)
}

// runBank sends the queued payment files, applies the bank's status
// reports, imports and reconciles the end-of-day statements not imported
// yet (of the days before now's), finishes the matching left undone,
// matches the unmatched lines against the new payments and sweeps the
// payments in transit for too long, every interval until ctx is done. A
// bank that is down leaves the files queued: they go out on a later pass,
// once its breaker lets requests through again. A pass another process is
// doing (errBusy) is skipped: it is that process's.
func runBank(ctx context.Context, ap payments.BankOutbox, rec statements, every time.Duration, now func() time.Time, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	failed := func(err error) bool {
		if errors.Is(err, errBusy) {
			log.Debug("bank pass skipped", "error", err.Error())
			return false
		}
		return err != nil && ctx.Err() == nil
	}
	for {
		sent, err := ap.SendQueued(ctx)
		if failed(err) {
			log.Error("sending the payment files failed", "error", err.Error())
		} else if err == nil && sent.Sent+sent.Failed > 0 {
			log.Info("payment files sent", "sent", sent.Sent, "failed", sent.Failed)
		}
		got, err := ap.FetchReports(ctx)
		if failed(err) {
			log.Warn("fetching the status reports failed", "error", err.Error())
		} else if err == nil && got.Reports > 0 {
			log.Info("status reports applied", "reports", got.Reports, "accepted", got.Accepted, "rejected", got.Rejected)
		}
		today := payments.LegalDay(now())
		imported, err := rec.FetchDue(ctx, today, payments.System)
		if failed(err) {
			log.Warn("fetching the statements failed", "error", err.Error())
		}
		for _, r := range imported {
			log.Info("statement imported", "statements", len(r.Statements), "unmatched", r.Match.Unmatched, "exceptions", r.Match.Exceptions)
		}
		// Statements whose matching stopped part-way are finished, and
		// the unmatched lines are matched against the payments new since.
		if _, err := rec.FinishPending(ctx); failed(err) {
			log.Warn("matching the statements failed", "error", err.Error())
		}
		// Sweep is one transaction whose exceptions are unique by payment:
		// two processes sweeping at once open each exception once.
		if n, err := rec.Sweep(ctx, today); err != nil && ctx.Err() == nil {
			log.Warn("sweeping the payments in transit failed", "error", err.Error())
		} else if n > 0 {
			log.Warn("payments in transit for too long", "new_exceptions", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Package server is ledgerd: the staff HTTP API under /v1 with /metrics,
// /healthz and /readyz, the consumer of the eligibility events, the monthly
// ADA run, and the sender of payment files and fetcher of status reports and
// statements, wired from the settings. cmd/ledgerd runs it; tests run the
// very same server in-process.
//
// Outside dev mode it talks to the Kafka brokers of KAFKA_BROKERS and the
// bank of BANK_URL, and refuses to start without either. In dev mode
// (LEDGER_DEV) an embedded Kafka broker on KAFKA_EMBEDDED_ADDR and an
// embedded bank simulator on BANK_EMBEDDED_ADDR stand in for them.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ofii/allowances/internal/banking"
	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/migrations"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/sqlstore"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
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

// Option adjusts a server for tests and demonstrations.
type Option func(*options)

type options struct {
	now func() time.Time
	sim []banking.SimOption
}

// WithClock makes the runs and the approval workflow read the time from
// now instead of the system clock.
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
	var o options
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
	store := sqlstore.New(pool, sqlstore.WithRetryPolicy(policy), sqlstore.WithBulkMethod(bulkMethod(cfg)))
	if err := ledger.SetUpChart(ctx, store); err != nil {
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
	tokens, err := httptransport.LoadTokens(cfg.AuthTokens, cfg.AuthTokensFile)
	if err != nil {
		return fmt.Errorf("AUTH_TOKENS: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		paysql.UnopenedGauge(events))

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

	runOpts := []paysql.RunOption{paysql.WithSchedules(schedules), paysql.WithRunRetryPolicy(policy)}
	if o.now != nil {
		runOpts = append(runOpts, paysql.WithRunClock(o.now))
	}
	runs := paysql.NewRunStore(pool, runOpts...)
	if cfg.ADARunDay > 0 {
		go runMonthly(cctx, runs, payments.Scheduler{Day: cfg.ADARunDay}, log)
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
	apCfg := banking.ApprovalConfig(cfg, bk.Gateway, log)
	if o.now != nil {
		// The workflow shares the runs' clock, so that a batch is never
		// approved before it was computed.
		apCfg.Now = o.now
	}
	approvals, err := paysql.NewApprovalStore(pool, runs, store, apCfg)
	if err != nil {
		return fmt.Errorf("approval workflow: %w", err)
	}
	rec, err := reconsql.New(pool, store, banking.ReconcileConfig(cfg, bk.Gateway, log))
	if err != nil {
		return fmt.Errorf("reconciliation: %w", err)
	}
	banked := make(chan struct{})
	go func() {
		defer close(banked)
		runBank(cctx, approvals, rec, cfg.BankPollInterval, log)
	}()
	defer func() {
		stopConsumer()
		<-banked
	}()

	handler := httptransport.NewHandler(store, httptransport.Options{
		Tokens: tokens, Logger: log, Registry: reg, MaxBodyBytes: cfg.HTTPMaxBodyBytes,
		Ready:         map[string]func(context.Context) error{"database": pool.Ping},
		Detail:        map[string]func() any{"eligibility": func() any { return consumer.Status() }},
		Beneficiaries: events,
		Runs:          runs,
		Approvals:     approvals,
		Reconcile:     rec,
		BankAccount:   cfg.DebtorIBAN,
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
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

// runMonthly starts the previous month's ADA run once the run day has come,
// checking every minute until ctx is done. It never runs a period twice by
// itself: the scheduler offers a period only when no run of it or of a later
// one exists.
func runMonthly(ctx context.Context, runs payments.Runs, s payments.Scheduler, log *slog.Logger) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		last, _, err := runs.LastADAPeriod(ctx)
		if err == nil {
			if p, due := s.Due(time.Now(), last); due {
				log.Info("starting the monthly ADA run", "period", p.String())
				run, err := runs.StartADARun(ctx, p, payments.TriggerSchedule, "scheduler")
				if err != nil {
					log.Error("monthly ADA run failed", "period", p.String(), "error", err.Error())
				} else {
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

// runBank sends the queued payment files, applies the bank's status
// reports, imports and reconciles the end-of-day statements not imported
// yet and sweeps the payments in transit for too long, every interval until
// ctx is done. A bank that is down leaves the files queued: they go out on a
// later pass, once its breaker lets requests through again.
func runBank(ctx context.Context, ap payments.Approvals, rec *reconsql.Store, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		sent, err := ap.SendQueued(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error("sending the payment files failed", "error", err.Error())
		} else if sent.Sent+sent.Failed > 0 {
			log.Info("payment files sent", "sent", sent.Sent, "failed", sent.Failed)
		}
		got, err := ap.FetchReports(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("fetching the status reports failed", "error", err.Error())
		} else if got.Reports > 0 {
			log.Info("status reports applied", "reports", got.Reports, "accepted", got.Accepted, "rejected", got.Rejected)
		}
		today := payments.LegalDay(time.Now())
		imported, err := rec.FetchDue(ctx, today, payments.System)
		if err != nil && ctx.Err() == nil {
			log.Warn("fetching the statements failed", "error", err.Error())
		}
		for _, r := range imported {
			log.Info("statement imported", "statements", len(r.Statements), "unmatched", r.Match.Unmatched, "exceptions", r.Match.Exceptions)
		}
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

// bulkMethod is how the ledger writes bulk entries, from BULK_WRITE.
func bulkMethod(cfg config.Config) sqlstore.BulkMethod {
	if cfg.BulkInsert {
		return sqlstore.BulkInsert
	}
	return sqlstore.BulkCopy
}

// Package kafka is the Kafka side of the service: the consumer of the
// eligibility events (docs/eligibility-events.md), which applies them
// through a payments.EventSink and writes dead letters to the dead-letter
// topic; the publisher behind `ledgerctl events publish`; and an embedded
// in-process broker for running alone and for the tests.
//
// Delivery is at least once. The consumer commits a batch's offsets only
// after the sink applied it, so a crash redelivers the batch, and the sink
// makes a redelivered event a duplicate that changes nothing.
package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/payments"
)

// ConsumerConfig configures a Consumer. Zero durations and counts take the
// defaults named on each field.
type ConsumerConfig struct {
	Brokers   []string // host:port of the brokers
	Topic     string   // the eligibility topic
	DLQTopic  string   // the dead-letter topic
	GroupID   string   // the consumer group
	BatchSize int      // most records given to one Apply; config.DefaultKafkaBatchSize
	// Linger is how long a batch waits for more records after its first:
	// 20ms.
	Linger   time.Duration
	Security Security

	// RetryMin and RetryMax bound the exponential backoff between attempts
	// to apply a batch: 100ms and 10s.
	RetryMin, RetryMax time.Duration
	// SplitAfter is how many attempts of a batch may fail with an error
	// that is not transient before its records are applied one by one: 2.
	SplitAfter int
	// RecordAttempts is how many attempts of one record may fail with an
	// error that is not transient before it is recorded as a dead letter: 3.
	RecordAttempts int
	// ShutdownTimeout bounds the work on the batch in hand once Run's
	// context is cancelled: 15s.
	ShutdownTimeout time.Duration
	// DeadLetterRetry is how often dead letters that could not be written to
	// the dead-letter topic are tried again while no record arrives: 10s.
	DeadLetterRetry time.Duration
	// CommitTimeout bounds the commit of a batch's offsets: 10s.
	CommitTimeout time.Duration
	// LagInterval is how often the group's lag is measured from the
	// broker's offsets while Run runs, the first time as it starts: 5s.
	LagInterval time.Duration

	// Consumer group and fetch timings, passed to kafka-go's reader:
	// MaxWait 1s, HeartbeatInterval 1s, SessionTimeout 10s,
	// RebalanceTimeout 30s, JoinGroupBackoff 1s, ReadBackoffMin 100ms,
	// ReadBackoffMax 1s.
	MaxWait           time.Duration
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	JoinGroupBackoff  time.Duration
	ReadBackoffMin    time.Duration
	ReadBackoffMax    time.Duration
}

// ConfigFrom returns the consumer configuration of the settings. With no
// KAFKA_BROKERS it reads from embeddedAddr, the embedded broker's address,
// without TLS or SASL.
func ConfigFrom(c config.Config, embeddedAddr string) ConsumerConfig {
	cc := ConsumerConfig{Brokers: c.KafkaBrokers, Topic: c.KafkaTopic, DLQTopic: c.KafkaDLQTopic,
		GroupID: c.KafkaGroup, BatchSize: c.KafkaBatchSize, Security: SecurityFrom(c)}
	if len(cc.Brokers) == 0 {
		cc.Brokers, cc.Security = []string{embeddedAddr}, Security{}
	}
	return cc
}

// Publisher returns the publisher configuration of the same brokers.
func (c ConsumerConfig) Publisher() PublishConfig {
	return PublishConfig{Brokers: c.Brokers, Security: c.Security, BatchSize: c.BatchSize}
}

func (c *ConsumerConfig) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	defInt(&c.BatchSize, config.DefaultKafkaBatchSize)
	def(&c.Linger, 20*time.Millisecond)
	def(&c.RetryMin, 100*time.Millisecond)
	def(&c.RetryMax, 10*time.Second)
	defInt(&c.SplitAfter, 2)
	defInt(&c.RecordAttempts, 3)
	def(&c.ShutdownTimeout, 15*time.Second)
	def(&c.DeadLetterRetry, 10*time.Second)
	def(&c.CommitTimeout, 10*time.Second)
	def(&c.LagInterval, 5*time.Second)
	def(&c.MaxWait, time.Second)
	def(&c.HeartbeatInterval, time.Second)
	def(&c.SessionTimeout, 10*time.Second)
	def(&c.RebalanceTimeout, 30*time.Second)
	def(&c.JoinGroupBackoff, time.Second)
	def(&c.ReadBackoffMin, 100*time.Millisecond)
	def(&c.ReadBackoffMax, time.Second)
	if c.ReadBackoffMax < c.ReadBackoffMin {
		c.ReadBackoffMax = c.ReadBackoffMin
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = c.RetryMin
	}
}

// Consumer reads the eligibility topic in a consumer group and drives an
// EventSink:
//
//   - it gathers a batch (BatchSize records, or what arrives within Linger
//     of the first) and applies it; records of a partition keep their order;
//   - a failed batch is offered again, as it is, with a capped exponential
//     backoff, never committed and never skipped; when it keeps failing with
//     an error that is not transient (IsTransient) its records are applied
//     one by one, and a record that still fails after RecordAttempts is
//     recorded as a dead letter, so that a poison record never blocks its
//     partition;
//   - dead letters recorded by the sink are written to the dead-letter topic
//     (an outbox: a failure is tried again later and blocks nothing);
//   - the batch's offsets are committed once the sink has applied it.
//
// When Run's context is cancelled it finishes the batch in hand, then leaves
// the group.
type Consumer struct {
	cfg    ConsumerConfig
	sink   payments.EventSink
	log    *slog.Logger
	m      *metrics
	dialer *kafka.Dialer
	tr     *kafka.Transport

	running    sync.Mutex // held by Run
	dlqRetryAt time.Time  // no write to the dead-letter topic before, after a failure; Run's only

	mu          sync.Mutex // guards what Status shows
	parts       map[int]*PartitionStatus
	applied     int64
	duplicates  int64
	deadLetters int64
	retries     int64
	batches     int64
	lastError   string
	dlqPending  bool
	lag         map[int]int64 // by partition; nil until measured
	lagAt       time.Time     // when lag was last measured or updated
}

// NewConsumer checks cfg and registers the consumer's metrics on reg (when
// not nil). Nothing connects before Run.
func NewConsumer(cfg ConsumerConfig, sink payments.EventSink, log *slog.Logger, reg prometheus.Registerer) (*Consumer, error) {
	if sink == nil {
		return nil, errors.New("kafka consumer: no event sink")
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("KAFKA_BROKERS: no broker to read from")
	}
	if cfg.Topic == "" {
		return nil, errors.New("KAFKA_TOPIC: empty")
	}
	if cfg.DLQTopic == "" {
		return nil, errors.New("KAFKA_DLQ_TOPIC: empty")
	}
	if cfg.GroupID == "" {
		return nil, errors.New("KAFKA_GROUP: empty")
	}
	cfg.setDefaults()
	dialer, err := cfg.Security.Dialer()
	if err != nil {
		return nil, err
	}
	tr, err := cfg.Security.Transport()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Consumer{cfg: cfg, sink: sink, log: log.With("component", "kafka-consumer", "topic", cfg.Topic, "group", cfg.GroupID),
		m: m, dialer: dialer, tr: tr, parts: map[int]*PartitionStatus{}, dlqPending: true}, nil
}

// Run consumes until ctx is cancelled, then finishes the batch in hand
// (applied and committed within ShutdownTimeout), leaves the group and
// returns nil. It returns an error only when it cannot go on.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.TryLock() {
		return errors.New("kafka consumer: already running")
	}
	defer c.running.Unlock()

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: c.cfg.Brokers, GroupID: c.cfg.GroupID, Topic: c.cfg.Topic, Dialer: c.dialer,
		QueueCapacity: max(100, c.cfg.BatchSize), MaxBytes: 10 << 20, MaxWait: c.cfg.MaxWait,
		ReadLagInterval: -1, HeartbeatInterval: c.cfg.HeartbeatInterval, CommitInterval: 0,
		SessionTimeout: c.cfg.SessionTimeout, RebalanceTimeout: c.cfg.RebalanceTimeout,
		JoinGroupBackoff: c.cfg.JoinGroupBackoff, StartOffset: kafka.FirstOffset,
		ReadBackoffMin: c.cfg.ReadBackoffMin, ReadBackoffMax: c.cfg.ReadBackoffMax,
		Logger:      kafka.LoggerFunc(func(f string, a ...any) { c.log.Debug(fmt.Sprintf(f, a...)) }),
		ErrorLogger: kafka.LoggerFunc(func(f string, a ...any) { c.log.Warn(fmt.Sprintf(f, a...)) }),
	})
	w := &kafka.Writer{Addr: kafka.TCP(c.cfg.Brokers...), Topic: c.cfg.DLQTopic, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, MaxAttempts: 3, Transport: c.tr}
	defer func() {
		if err := w.Close(); err != nil {
			c.log.Warn("closing the dead-letter writer", "err", err)
		}
	}()

	// work outlives ctx by ShutdownTimeout, so that the batch in hand is
	// applied and committed after ctx is cancelled.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(c.cfg.ShutdownTimeout, cancelWork) })
	defer stopAfter()

	c.log.Info("consuming", "brokers", c.cfg.Brokers, "security", c.cfg.Security, "batch_size", c.cfg.BatchSize)
	watching, stopWatching := context.WithCancel(ctx)
	var watch sync.WaitGroup
	watch.Go(func() { c.watchLag(watching) })
	defer watch.Wait()
	defer stopWatching()
	var runErr error
	fetchFailures := 0
	// The next batch is fetched and prepared while the one in hand is
	// applied: the database does not wait for the parsing.
	fetching, stopFetching := context.WithCancel(ctx)
	next := c.prefetch(fetching, r)
	for {
		f := <-next
		next = nil
		if len(f.batch) > 0 {
			fetchFailures = 0
			if ctx.Err() == nil {
				next = c.prefetch(fetching, r)
			}
			if perr := c.process(work, r, w, f); perr != nil {
				c.log.Warn("batch left unapplied at shutdown: it will be delivered again",
					"records", len(f.batch), "err", perr)
				break
			}
		}
		switch err := f.err; {
		case err == nil || ctx.Err() != nil:
		case errors.Is(err, context.DeadlineExceeded):
			// Idle: dead letters that could not be written are tried again.
			if c.pending() && !time.Now().Before(c.dlqRetryAt) {
				c.publishDeadLetters(work, w)
			}
		case errors.Is(err, io.EOF):
			runErr = errors.New("kafka consumer: the reader was closed")
		default:
			fetchFailures++
			c.setError(err)
			c.log.Warn("fetching records", "err", err)
			_ = sleep(ctx, c.backoff(fetchFailures))
		}
		if runErr != nil || ctx.Err() != nil {
			break
		}
		if next == nil {
			next = c.prefetch(fetching, r)
		}
	}
	// A batch fetched ahead and not applied is not committed: it will be
	// delivered again.
	stopFetching()
	if next != nil {
		<-next
	}
	if err := r.Close(); err != nil {
		c.log.Warn("closing the reader", "err", err)
	}
	c.log.Info("stopped consuming")
	return runErr
}

// fetched is a batch fetched ahead, with its records prepared when the
// sink is a payments.Preparer, or why the fetch stopped.
type fetched struct {
	batch   []kafka.Message
	records []payments.Record
	err     error
}

// prefetch fetches the next batch and prepares it in a goroutine of its
// own, and sends it on the channel it returns. It waits at most
// DeadLetterRetry for a first record, so that an idle consumer comes back
// to the dead letters that could not be written.
func (c *Consumer) prefetch(ctx context.Context, r *kafka.Reader) <-chan fetched {
	ch := make(chan fetched, 1)
	go func() {
		batch, err := c.fetchBatch(ctx, r, c.cfg.DeadLetterRetry)
		f := fetched{batch: batch, err: err}
		if len(batch) > 0 {
			f.records = make([]payments.Record, len(batch))
			for i, m := range batch {
				f.records[i] = payments.Record{Source: payments.Source{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset},
					Key: m.Key, Value: m.Value}
			}
			if p, ok := c.sink.(payments.Preparer); ok {
				p.Prepare(f.records)
			}
		}
		ch <- f
	}()
	return ch
}

// fetchBatch returns the next batch: it waits for a first record (at most
// idle when idle > 0), then gathers what arrives within Linger, up to
// BatchSize. It may return records and an error together.
func (c *Consumer) fetchBatch(ctx context.Context, r *kafka.Reader, idle time.Duration) ([]kafka.Message, error) {
	first := ctx
	if idle > 0 {
		var cancel context.CancelFunc
		first, cancel = context.WithTimeout(ctx, idle)
		defer cancel()
	}
	m, err := r.FetchMessage(first)
	if err != nil {
		return nil, err
	}
	batch := []kafka.Message{m}
	linger, cancel := context.WithTimeout(ctx, c.cfg.Linger)
	defer cancel()
	for len(batch) < c.cfg.BatchSize {
		m, err := r.FetchMessage(linger)
		if err != nil {
			if linger.Err() != nil {
				return batch, nil
			}
			return batch, err
		}
		batch = append(batch, m)
	}
	return batch, nil
}

// process applies a batch, writes pending dead letters and commits. It
// returns an error only when ctx ends first: the batch is then not
// committed.
func (c *Consumer) process(ctx context.Context, r *kafka.Reader, w *kafka.Writer, f fetched) error {
	results, err := c.applyBatch(ctx, f.records)
	if err != nil {
		return err
	}
	batch := f.batch
	c.observe(batch, results)
	for _, res := range results {
		if res.Outcome == payments.OutcomeDeadLetter {
			c.setPending()
			break
		}
	}
	if c.pending() && !time.Now().Before(c.dlqRetryAt) {
		c.publishDeadLetters(ctx, w)
	}
	c.commit(ctx, r, batch)
	return nil
}

// applyBatch applies records until it succeeds, splitting the batch when
// it keeps failing for a reason other than a dependency. It fails only when
// ctx ends.
func (c *Consumer) applyBatch(ctx context.Context, records []payments.Record) ([]payments.Result, error) {
	permanent := 0
	for attempt := 1; ; attempt++ {
		results, err := c.apply(ctx, records)
		if err == nil {
			return results, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c.retried(err)
		transient := IsTransient(err)
		if !transient {
			permanent++
			if permanent >= c.cfg.SplitAfter {
				c.log.Warn("the batch keeps failing: applying its records one by one",
					"records", len(records), "first", sourceString(records[0].Source), "err", err)
				return c.applyEach(ctx, records)
			}
		}
		d := c.backoff(attempt)
		c.log.Warn("applying a batch failed: trying again", "records", len(records),
			"first", sourceString(records[0].Source), "transient", transient, "attempt", attempt, "retry_in", d, "err", err)
		if err := sleep(ctx, d); err != nil {
			return nil, err
		}
	}
}

// applyEach applies records one at a time, in order.
func (c *Consumer) applyEach(ctx context.Context, records []payments.Record) ([]payments.Result, error) {
	results := make([]payments.Result, 0, len(records))
	for _, rec := range records {
		res, err := c.applyOne(ctx, rec)
		if err != nil {
			return nil, err
		}
		results = append(results, res)
	}
	return results, nil
}

// applyOne applies one record; when it fails RecordAttempts times with an
// error that is not transient, the record is recorded as a dead letter.
func (c *Consumer) applyOne(ctx context.Context, rec payments.Record) (payments.Result, error) {
	permanent := 0
	for attempt := 1; ; attempt++ {
		results, err := c.apply(ctx, []payments.Record{rec})
		if err == nil {
			return results[0], nil
		}
		if ctx.Err() != nil {
			return payments.Result{}, ctx.Err()
		}
		c.retried(err)
		if !IsTransient(err) {
			permanent++
			if permanent >= c.cfg.RecordAttempts {
				return c.deadLetter(ctx, rec, err)
			}
		}
		d := c.backoff(attempt)
		c.log.Warn("applying a record failed: trying again", "source", sourceString(rec.Source),
			"attempt", attempt, "retry_in", d, "err", err)
		if err := sleep(ctx, d); err != nil {
			return payments.Result{}, err
		}
	}
}

// peekType reads the type of a record for the metrics, "" when it has none.
func peekType(value []byte) payments.EventType {
	var v struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(value, &v) != nil {
		return ""
	}
	return payments.EventType(v.Type)
}

// apply is one call of the sink, timed.
func (c *Consumer) apply(ctx context.Context, records []payments.Record) ([]payments.Result, error) {
	start := time.Now()
	results, err := c.sink.Apply(ctx, records)
	c.m.apply.Observe(time.Since(start).Seconds())
	if err == nil && len(results) != len(records) {
		err = fmt.Errorf("the event sink returned %d results for %d records", len(results), len(records))
	}
	return results, err
}

// commit commits the batch's offsets. A failure is logged, not retried
// forever: the records are applied, and should they come again the sink
// finds them duplicates.
func (c *Consumer) commit(ctx context.Context, r *kafka.Reader, batch []kafka.Message) {
	// The last message of each partition commits the ones before it.
	last := map[int]kafka.Message{}
	for _, m := range batch {
		if p, ok := last[m.Partition]; !ok || m.Offset > p.Offset {
			last[m.Partition] = m
		}
	}
	msgs := make([]kafka.Message, 0, len(last))
	for _, m := range last {
		msgs = append(msgs, m)
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CommitTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		err := r.CommitMessages(cctx, msgs...)
		if err == nil {
			return
		}
		if cctx.Err() != nil || attempt >= 3 {
			c.setError(err)
			c.log.Warn("committing offsets failed: the records may be delivered again", "records", len(batch), "err", err)
			return
		}
		if sleep(cctx, c.backoff(attempt)) != nil {
			return
		}
	}
}

// backoff is an exponential ceiling from RetryMin to RetryMax, of which
// a random half is waited on top of the other half.
func (c *Consumer) backoff(attempt int) time.Duration {
	ceil := c.cfg.RetryMin << min(attempt-1, 20)
	if ceil > c.cfg.RetryMax || ceil <= 0 {
		ceil = c.cfg.RetryMax
	}
	return ceil/2 + time.Duration(rand.Int64N(int64(ceil/2)+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

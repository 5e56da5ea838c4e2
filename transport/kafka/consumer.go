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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/mask"
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

// PartitionStatus is what the consumer knows of one partition it applied
// records of since it started (a rebalance may since have given the
// partition to another member of the group).
type PartitionStatus struct {
	Partition         int   `json:"partition"`
	LastAppliedOffset int64 `json:"last_applied_offset"`
	// Lag is how many records followed the last one applied when it was
	// fetched (its high-water mark less its offset and one).
	Lag int64 `json:"lag"`
}

// Status is a snapshot of the consumer's progress since it started.
type Status struct {
	Topic       string            `json:"topic"`
	Group       string            `json:"group"`
	Partitions  []PartitionStatus `json:"partitions"`
	Batches     int64             `json:"batches"`
	Applied     int64             `json:"applied"`
	Duplicates  int64             `json:"duplicates"`
	DeadLetters int64             `json:"dead_letters"`
	Retries     int64             `json:"retries"`
	// DeadLettersPending says that dead letters wait to be written to the
	// dead-letter topic after a failure.
	DeadLettersPending bool   `json:"dead_letters_pending"`
	LastError          string `json:"last_error,omitempty"`
	// Lag is how many records of the topic wait for the group: over the
	// partitions, the high-water mark less the group's committed offset
	// (or, before any commit, the first offset). It is measured from the
	// broker as Run starts and every LagInterval, and brought up to date
	// by each batch applied. It is null until first measured: unknown, not
	// none waiting.
	Lag *int64 `json:"lag"`
	// LagAt is when Lag was measured or last brought up to date.
	LagAt *time.Time `json:"lag_at,omitempty"`
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
	for ctx.Err() == nil {
		idle := time.Duration(0)
		if c.pending() {
			idle = c.cfg.DeadLetterRetry
		}
		batch, err := c.fetchBatch(ctx, r, idle)
		if len(batch) > 0 {
			fetchFailures = 0
			if perr := c.process(work, r, w, batch); perr != nil {
				c.log.Warn("batch left unapplied at shutdown: it will be delivered again",
					"records", len(batch), "err", perr)
				break
			}
		}
		switch {
		case err == nil || ctx.Err() != nil:
		case errors.Is(err, context.DeadlineExceeded):
			// Idle with dead letters pending.
			if !time.Now().Before(c.dlqRetryAt) {
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
		if runErr != nil {
			break
		}
	}
	if err := r.Close(); err != nil {
		c.log.Warn("closing the reader", "err", err)
	}
	c.log.Info("stopped consuming")
	return runErr
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
func (c *Consumer) process(ctx context.Context, r *kafka.Reader, w *kafka.Writer, batch []kafka.Message) error {
	records := make([]payments.Record, len(batch))
	for i, m := range batch {
		records[i] = payments.Record{Source: payments.Source{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset},
			Key: m.Key, Value: m.Value}
	}
	results, err := c.applyBatch(ctx, records)
	if err != nil {
		return err
	}
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

// deadLetter records rec as a dead letter because of cause, trying until it
// succeeds or ctx ends: the record cannot be committed before.
func (c *Consumer) deadLetter(ctx context.Context, rec payments.Record, cause error) (payments.Result, error) {
	reason := deadLetterReason(cause)
	c.log.Error("recording a record that cannot be applied as a dead letter", "source", sourceString(rec.Source), "reason", reason)
	for attempt := 1; ; attempt++ {
		err := c.sink.RecordDeadLetter(ctx, rec, reason)
		if err == nil {
			c.setPending()
			return payments.Result{Outcome: payments.OutcomeDeadLetter, Type: peekType(rec.Value), Error: reason}, nil
		}
		if ctx.Err() != nil {
			return payments.Result{}, ctx.Err()
		}
		c.retried(err)
		d := c.backoff(attempt)
		c.log.Error("recording a dead letter failed: trying again", "source", sourceString(rec.Source), "retry_in", d, "err", err)
		if err := sleep(ctx, d); err != nil {
			return payments.Result{}, err
		}
	}
}

// maxReasonBytes bounds the reason of a dead letter.
const maxReasonBytes = 1000

// deadLetterReason is the reason given for a record that kept failing: the
// error, with IBAN-like text masked, and bounded.
func deadLetterReason(err error) string {
	s := "could not be applied: " + mask.MaskIBANsIn(err.Error())
	if len(s) > maxReasonBytes {
		s = strings.ToValidUTF8(s[:maxReasonBytes], "")
	}
	return s
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

// deadLetterPage is how many dead letters are written at a time.
const deadLetterPage = 100

// publishDeadLetters writes the dead letters not yet published to the
// dead-letter topic and marks them published. A failure leaves them
// pending, to be tried again after DeadLetterRetry, after a batch or while
// idle; meanwhile batches are applied and committed without waiting.
func (c *Consumer) publishDeadLetters(ctx context.Context, w *kafka.Writer) {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	total := 0
	for {
		dls, err := c.sink.UnpublishedDeadLetters(pctx, deadLetterPage)
		if err != nil {
			c.dlqFailed("listing unpublished dead letters", err)
			return
		}
		if len(dls) == 0 {
			break
		}
		msgs := make([]kafka.Message, len(dls))
		ids := make([]uuid.UUID, len(dls))
		for i, dl := range dls {
			msgs[i] = DeadLetterMessage(dl)
			ids[i] = dl.ID
		}
		if err := w.WriteMessages(pctx, msgs...); err != nil {
			c.dlqFailed("writing to the dead-letter topic", err)
			return
		}
		if err := c.sink.MarkDeadLettersPublished(pctx, ids); err != nil {
			c.dlqFailed("marking dead letters published", err)
			return
		}
		total += len(dls)
		if len(dls) < deadLetterPage {
			break
		}
	}
	c.mu.Lock()
	c.dlqPending = false
	c.mu.Unlock()
	if total > 0 {
		c.log.Info("dead letters published", "count", total, "topic", c.cfg.DLQTopic)
	}
}

func (c *Consumer) dlqFailed(what string, err error) {
	c.dlqRetryAt = time.Now().Add(c.cfg.DeadLetterRetry)
	c.setError(err)
	c.setPending()
	c.log.Warn(what+" failed: trying again later", "err", err)
}

// DeadLetterMessage is the dead-letter topic's message for dl: the original
// key and value, with the headers `error` and `source-offset`
// (topic/partition/offset).
func DeadLetterMessage(dl payments.DeadLetter) kafka.Message {
	m := kafka.Message{Value: dl.Value, Headers: []kafka.Header{
		{Key: "error", Value: []byte(dl.Error)},
		{Key: "source-offset", Value: []byte(sourceString(dl.Source))},
	}}
	if dl.Key != "" {
		m.Key = []byte(dl.Key)
	}
	return m
}

func sourceString(s payments.Source) string {
	return fmt.Sprintf("%s/%d/%d", s.Topic, s.Partition, s.Offset)
}

// observe records the outcomes of an applied batch.
func (c *Consumer) observe(batch []kafka.Message, results []payments.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches++
	for i, res := range results {
		switch res.Outcome {
		case payments.OutcomeApplied:
			c.applied++
		case payments.OutcomeDuplicate:
			c.duplicates++
		case payments.OutcomeDeadLetter:
			c.deadLetters++
		}
		t := res.Type
		if t == "" && res.Outcome != payments.OutcomeDeadLetter {
			t = peekType(batch[i].Value)
		}
		c.m.events.WithLabelValues(typeLabel(t), string(res.Outcome)).Inc()
	}
	for _, m := range batch {
		p := c.parts[m.Partition]
		if p == nil {
			p = &PartitionStatus{Partition: m.Partition}
			c.parts[m.Partition] = p
		}
		p.LastAppliedOffset = m.Offset
		p.Lag = max(0, m.HighWaterMark-m.Offset-1)
		if c.lag != nil {
			c.lag[m.Partition] = p.Lag
			c.lagAt = time.Now()
		}
	}
	for _, p := range c.parts {
		c.m.offset.WithLabelValues(partitionLabel(p.Partition)).Set(float64(p.LastAppliedOffset))
		c.m.lag.WithLabelValues(partitionLabel(p.Partition)).Set(float64(p.Lag))
	}
}

// Status returns a snapshot of the consumer's progress.
func (c *Consumer) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Status{Topic: c.cfg.Topic, Group: c.cfg.GroupID, Batches: c.batches, Applied: c.applied,
		Duplicates: c.duplicates, DeadLetters: c.deadLetters, Retries: c.retries,
		DeadLettersPending: c.dlqPending, LastError: c.lastError, Partitions: []PartitionStatus{}}
	for _, p := range c.parts {
		s.Partitions = append(s.Partitions, *p)
	}
	if c.lag != nil {
		var total int64
		for _, n := range c.lag {
			total += n
		}
		at := c.lagAt
		s.Lag, s.LagAt = &total, &at
	}
	slices.SortFunc(s.Partitions, func(a, b PartitionStatus) int { return a.Partition - b.Partition })
	return s
}

// watchLag measures the group's lag from the broker now and every
// LagInterval until ctx ends. A failed measurement leaves the last one (or
// none) and is logged: the lag is then as old as LagAt says.
func (c *Consumer) watchLag(ctx context.Context) {
	t := time.NewTicker(c.cfg.LagInterval)
	defer t.Stop()
	for {
		lag, err := c.measureLag(ctx)
		switch {
		case err == nil:
			c.mu.Lock()
			c.lag, c.lagAt = lag, time.Now()
			c.mu.Unlock()
			for p, n := range lag {
				c.m.lag.WithLabelValues(partitionLabel(p)).Set(float64(n))
			}
		case ctx.Err() == nil:
			c.log.Warn("measuring the lag", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// measureLag asks the broker for the partitions of the topic, their first
// and last offsets, and the group's committed offsets, and returns the
// number of records of each partition the group has yet to apply.
func (c *Consumer) measureLag(ctx context.Context) (map[int]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, max(c.cfg.LagInterval, 5*time.Second))
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Transport: c.tr}
	meta, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{c.cfg.Topic}})
	if err != nil {
		return nil, err
	}
	var parts []int
	for _, t := range meta.Topics {
		if t.Name != c.cfg.Topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("topic %s: no partitions", c.cfg.Topic)
	}
	reqs := make([]kafka.OffsetRequest, 0, 2*len(parts))
	for _, p := range parts {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	ends, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{c.cfg.Topic: reqs}})
	if err != nil {
		return nil, err
	}
	com, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: c.cfg.GroupID, Topics: map[string][]int{c.cfg.Topic: parts}})
	if err != nil {
		return nil, err
	}
	if com.Error != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", c.cfg.GroupID, com.Error)
	}
	committed := map[int]int64{}
	for _, p := range com.Topics[c.cfg.Topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("committed offset of partition %d: %w", p.Partition, p.Error)
		}
		committed[p.Partition] = p.CommittedOffset
	}
	lag := make(map[int]int64, len(parts))
	for _, p := range ends.Topics[c.cfg.Topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("offsets of partition %d: %w", p.Partition, p.Error)
		}
		next, ok := committed[p.Partition]
		if !ok || next < p.FirstOffset {
			// Nothing committed (-1), or records removed since: the group
			// reads from the first offset kept.
			next = p.FirstOffset
		}
		lag[p.Partition] = max(0, p.LastOffset-next)
	}
	if len(lag) != len(parts) {
		return nil, fmt.Errorf("topic %s: offsets of %d of %d partitions", c.cfg.Topic, len(lag), len(parts))
	}
	return lag, nil
}

func (c *Consumer) retried(err error) {
	c.m.retries.Inc()
	c.mu.Lock()
	c.retries++
	c.lastError = err.Error()
	c.mu.Unlock()
}

func (c *Consumer) setError(err error) {
	c.mu.Lock()
	c.lastError = err.Error()
	c.mu.Unlock()
}

func (c *Consumer) setPending() {
	c.mu.Lock()
	c.dlqPending = true
	c.mu.Unlock()
}

func (c *Consumer) pending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dlqPending
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

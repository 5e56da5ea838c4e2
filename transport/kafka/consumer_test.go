package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/ofii/allowances/payments"
)

const (
	testTopic  = "eligibility.v1"
	testDLQ    = "eligibility.v1.dlq"
	partitions = 4
)

// memSink is an in-memory payments.EventSink that records what it is given.
// It deduplicates by source offset, as the real store does by event id.
type memSink struct {
	mu        sync.Mutex
	calls     int                      // Apply calls
	failFirst int                      // the first failFirst calls fail with a transient error
	poison    map[payments.Source]bool // a batch holding one of these fails with a non-transient error
	invalid   func(payments.Record) bool
	before    func([]payments.Record) // called at the start of each Apply

	applied     map[payments.Source]int // successful applications of each record
	order       map[int][]int64         // partition: offsets in the order applied, redeliveries included
	records     map[payments.Source]payments.Record
	deadLetters []payments.DeadLetter
	recorded    map[payments.Source]string // RecordDeadLetter's reasons
	listFails   int                        // UnpublishedDeadLetters fails this many times
}

func newMemSink() *memSink {
	return &memSink{poison: map[payments.Source]bool{}, applied: map[payments.Source]int{}, order: map[int][]int64{},
		records: map[payments.Source]payments.Record{}, recorded: map[payments.Source]string{}}
}

var errPoison = errors.New("ledger: check constraint \"amount_positive\" violated")

func (s *memSink) Apply(ctx context.Context, records []payments.Record) ([]payments.Result, error) {
	s.mu.Lock()
	s.calls++
	call, before := s.calls, s.before
	s.mu.Unlock()
	if before != nil {
		before(records)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if call <= s.failFirst {
		return nil, fmt.Errorf("begin: %w", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET})
	}
	for _, r := range records {
		if s.poison[r.Source] {
			return nil, errPoison
		}
	}
	results := make([]payments.Result, len(records))
	for i, r := range records {
		switch {
		case s.applied[r.Source] > 0:
			results[i] = payments.Result{Outcome: payments.OutcomeDuplicate}
		case s.invalid != nil && s.invalid(r):
			results[i] = payments.Result{Outcome: payments.OutcomeDeadLetter, Error: "type: unknown event type"}
			s.deadLetters = append(s.deadLetters, payments.DeadLetter{ID: uuid.New(), Source: r.Source, Key: string(r.Key),
				Value: r.Value, Error: "type: unknown event type", ReceivedAt: time.Now()})
		default:
			results[i] = payments.Result{Outcome: payments.OutcomeApplied, Type: payments.HouseholdChanged}
		}
		s.applied[r.Source]++
		s.order[r.Partition] = append(s.order[r.Partition], r.Offset)
		s.records[r.Source] = r
	}
	return results, nil
}

func (s *memSink) RecordDeadLetter(ctx context.Context, r payments.Record, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recorded[r.Source] = reason
	s.applied[r.Source]++
	s.order[r.Partition] = append(s.order[r.Partition], r.Offset)
	s.records[r.Source] = r
	s.deadLetters = append(s.deadLetters, payments.DeadLetter{ID: uuid.New(), Source: r.Source, Key: string(r.Key),
		Value: r.Value, Error: reason, ReceivedAt: time.Now()})
	return nil
}

func (s *memSink) UnpublishedDeadLetters(ctx context.Context, limit int) ([]payments.DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listFails > 0 {
		s.listFails--
		return nil, errors.New("dial tcp 127.0.0.1:5432: connection refused")
	}
	var out []payments.DeadLetter
	for _, d := range s.deadLetters {
		if d.PublishedAt == nil && len(out) < limit {
			out = append(out, d)
		}
	}
	return out, nil
}

func (s *memSink) MarkDeadLettersPublished(ctx context.Context, ids []uuid.UUID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for i := range s.deadLetters {
		if slices.Contains(ids, s.deadLetters[i].ID) {
			s.deadLetters[i].PublishedAt = &now
		}
	}
	return nil
}

// distinct is how many records were applied (or dead-lettered) at least once.
func (s *memSink) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.applied)
}

func (s *memSink) snapshot() (applied map[payments.Source]int, order map[int][]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	order = map[int][]int64{}
	for p, o := range s.order {
		order[p] = slices.Clone(o)
	}
	return maps.Clone(s.applied), order
}

func startBroker(t *testing.T) *Broker {
	t.Helper()
	b, err := StartEmbedded(0, partitions, testTopic, testDLQ)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func testConfig(addr, group string) ConsumerConfig {
	return ConsumerConfig{Brokers: []string{addr}, Topic: testTopic, DLQTopic: testDLQ, GroupID: group, BatchSize: 50,
		RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond, DeadLetterRetry: 200 * time.Millisecond,
		CommitTimeout: 5 * time.Second, ShutdownTimeout: 5 * time.Second,
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: 2 * time.Second,
		RebalanceTimeout: 2 * time.Second, JoinGroupBackoff: 100 * time.Millisecond,
		ReadBackoffMin: 10 * time.Millisecond, ReadBackoffMax: 50 * time.Millisecond}
}

// event is the value of the i-th test event, for beneficiary b.
func event(i int, b string) []byte {
	return fmt.Appendf(nil, `{"event_id":%q,"type":"ada.household_changed","schema_version":1,"occurred_at":"2026-11-15T09:00:00Z","beneficiary_id":%q,"data":{"from":"2026-11-15","adults":2,"children":%d},"seq":%d}`,
		uuid.NewSHA1(uuid.NameSpaceOID, fmt.Append(nil, i)), b, i%5, i)
}

// produce writes n events spread over keys beneficiaries, numbered from
// first.
func produce(t *testing.T, addr string, first, n, keys int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: testTopic, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchSize: n}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		b := fmt.Sprintf("OFII-2026-%06d", (first+i)%keys)
		msgs[i] = kafka.Message{Key: []byte(b), Value: event(first+i, b)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// committed returns the group's committed offset of each partition (-1
// when none).
func committed(t *testing.T, addr, group string) map[int]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(addr)}
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{testTopic: {0, 1, 2, 3}}})
	if err != nil {
		t.Error(err)
		return nil
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[testTopic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// highWater returns the end offset of each partition.
func highWater(t *testing.T, addr string) map[int]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(addr)}
	req := map[string][]kafka.OffsetRequest{testTopic: {}}
	for p := range partitions {
		req[testTopic] = append(req[testTopic], kafka.LastOffsetOf(p))
	}
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[testTopic] {
		out[p.Partition] = p.LastOffset
	}
	return out
}

// allCommitted reports whether every record up to the high-water marks is
// committed.
func allCommitted(com, hw map[int]int64) bool {
	for p, h := range hw {
		if h > 0 && com[p] != h {
			return false
		}
	}
	return true
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run starts c and returns a function that stops it and returns Run's error.
func run(t *testing.T, c *Consumer) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(15 * time.Second):
				err = errors.New("Run did not return")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func newConsumer(t *testing.T, cfg ConsumerConfig, sink payments.EventSink, reg prometheus.Registerer) *Consumer {
	t.Helper()
	c, err := NewConsumer(cfg, sink, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkOrder fails when a partition's records were applied out of order:
// offsets may only go back for a redelivery, never skip one.
func checkOrder(t *testing.T, order map[int][]int64) {
	t.Helper()
	for p, offs := range order {
		next := int64(0)
		for _, o := range offs {
			if o > next {
				t.Fatalf("partition %d: offset %d applied before %d (order %v)", p, o, next, offs)
			}
			if o == next {
				next++
			}
		}
	}
}

func TestAppliesInOrderAndCommitsOnlyAfterApply(t *testing.T) {
	b := startBroker(t)
	const n = 300
	produce(t, b.Addr(), 0, n, 17)
	sink := newMemSink()
	sink.failFirst = 4
	group := "order"
	var violations []string
	var vmu sync.Mutex
	sink.before = func(recs []payments.Record) {
		// Nothing at or after a record being applied may be committed yet.
		com := committed(t, b.Addr(), group)
		first := map[int]int64{}
		for _, r := range recs {
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = r.Offset
			}
		}
		for p, o := range first {
			if com[p] > o {
				vmu.Lock()
				violations = append(violations, fmt.Sprintf("partition %d: committed %d while applying from %d", p, com[p], o))
				vmu.Unlock()
			}
		}
	}
	reg := prometheus.NewRegistry()
	cfg := testConfig(b.Addr(), group)
	cfg.BatchSize = 40
	c := newConsumer(t, cfg, sink, reg)
	stop := run(t, c)
	waitFor(t, 15*time.Second, "every record applied", func() bool { return sink.distinct() == n })
	hw := highWater(t, b.Addr())
	waitFor(t, 5*time.Second, "offsets committed", func() bool { return allCommitted(committed(t, b.Addr(), group), hw) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	vmu.Lock()
	if len(violations) > 0 {
		t.Fatalf("committed before applied: %v", violations)
	}
	vmu.Unlock()

	applied, order := sink.snapshot()
	checkOrder(t, order)
	for src, k := range applied {
		if k != 1 {
			t.Errorf("%v applied %d times", src, k)
		}
	}
	// Per beneficiary, events keep the order they were produced in.
	lastSeq := map[string]int{}
	for p := range partitions {
		for _, o := range order[p] {
			rec := sink.records[payments.Source{Topic: testTopic, Partition: p, Offset: o}]
			var v struct{ Seq int }
			if err := json.Unmarshal(rec.Value, &v); err != nil {
				t.Fatal(err)
			}
			seq := v.Seq
			if prev, ok := lastSeq[string(rec.Key)]; ok && seq < prev {
				t.Fatalf("%s: event %d applied after %d", rec.Key, seq, prev)
			}
			lastSeq[string(rec.Key)] = seq
		}
	}

	st := c.Status()
	if st.Applied != n || st.Retries < 4 || st.Duplicates != 0 || st.DeadLetters != 0 || len(st.Partitions) != partitions {
		t.Fatalf("status = %+v", st)
	}
	for _, p := range st.Partitions {
		if p.LastAppliedOffset != hw[p.Partition]-1 || p.Lag != 0 {
			t.Errorf("partition status %+v, high-water mark %d", p, hw[p.Partition])
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if mf.GetName() == "eligibility_events_total" {
			m := mf.GetMetric()
			if len(m) != 1 || m[0].GetCounter().GetValue() != n {
				t.Errorf("eligibility_events_total = %v", m)
			}
		}
		if mf.GetName() == "eligibility_apply_retries_total" && mf.GetMetric()[0].GetCounter().GetValue() < 4 {
			t.Errorf("eligibility_apply_retries_total = %v", mf.GetMetric())
		}
	}
	for _, name := range []string{"eligibility_events_total", "eligibility_consumer_lag", "eligibility_last_applied_offset",
		"eligibility_apply_seconds", "eligibility_apply_retries_total"} {
		if !names[name] {
			t.Errorf("metric %s missing", name)
		}
	}
}

func TestResumesAfterRestart(t *testing.T) {
	b := startBroker(t)
	const n = 200
	produce(t, b.Addr(), 0, n, 23)
	group := "restart"
	cfg := testConfig(b.Addr(), group)
	cfg.BatchSize = 10

	sinkA := newMemSink()
	stopped := make(chan struct{})
	var once sync.Once
	sinkA.before = func([]payments.Record) {
		if sinkA.distinct() >= 60 {
			once.Do(func() { close(stopped) })
		}
	}
	a := newConsumer(t, cfg, sinkA, nil)
	stopA := run(t, a)
	select {
	case <-stopped:
	case <-time.After(15 * time.Second):
		t.Fatal("consumer A applied too little")
	}
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	com := committed(t, b.Addr(), group)
	appliedA, _ := sinkA.snapshot()
	if len(appliedA) >= n {
		t.Fatalf("A applied everything (%d): not stopped mid-stream", len(appliedA))
	}
	// Whatever A applied is committed: the batch in hand was finished.
	for src := range appliedA {
		if src.Offset >= com[src.Partition] {
			t.Fatalf("A applied %v but committed only %v", src, com)
		}
	}

	sinkB := newMemSink()
	bc := newConsumer(t, cfg, sinkB, nil)
	stopB := run(t, bc)
	waitFor(t, 15*time.Second, "B to apply the rest", func() bool { return len(appliedA)+sinkB.distinct() >= n })
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	appliedB, orderB := sinkB.snapshot()
	for src := range appliedB {
		if appliedA[src] > 0 {
			t.Errorf("%v applied by A and again by B", src)
		}
	}
	for p, offs := range orderB {
		if len(offs) > 0 && offs[0] != max(com[p], 0) {
			t.Errorf("partition %d: B started at %d, A committed %d", p, offs[0], com[p])
		}
	}
	if len(appliedA)+len(appliedB) != n {
		t.Fatalf("A applied %d and B %d of %d", len(appliedA), len(appliedB), n)
	}
}

func TestGracefulShutdownCommitsBatchInHand(t *testing.T) {
	b := startBroker(t)
	produce(t, b.Addr(), 0, 20, 1) // one beneficiary: one partition
	group := "shutdown"
	sink := newMemSink()
	inApply := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	sink.before = func([]payments.Record) {
		once.Do(func() {
			close(inApply)
			<-release
		})
	}
	c := newConsumer(t, testConfig(b.Addr(), group), sink, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	select {
	case <-inApply:
	case <-time.After(15 * time.Second):
		t.Fatal("no batch applied")
	}
	cancel() // shut down while the first batch is being applied
	time.Sleep(100 * time.Millisecond)
	close(release)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	applied, order := sink.snapshot()
	if len(applied) == 0 {
		t.Fatal("the batch in hand was not applied")
	}
	var p int
	for p = range order {
	}
	last := slices.Max(order[p])
	if got := committed(t, b.Addr(), group)[p]; got != last+1 {
		t.Fatalf("committed %d, want %d after the batch in hand", got, last+1)
	}
}

func TestRebalanceWhenSecondConsumerJoins(t *testing.T) {
	b := startBroker(t)
	group := "rebalance"
	cfg := testConfig(b.Addr(), group)
	cfg.BatchSize = 5
	shared := newMemSink() // deduplicates by offset across both consumers
	var mu sync.Mutex
	by := map[string]map[int]int{"A": {}, "B": {}} // consumer: partition: records applied
	sinkFor := func(name string) payments.EventSink {
		return sinkFunc{memSink: shared, after: func(recs []payments.Record) {
			mu.Lock()
			for _, r := range recs {
				by[name][r.Partition]++
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}}
	}
	count := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, k := range by[name] {
			n += k
		}
		return n
	}
	produced := 100
	produce(t, b.Addr(), 0, produced, 31)
	a := newConsumer(t, cfg, sinkFor("A"), prometheus.NewRegistry())
	run(t, a)
	waitFor(t, 15*time.Second, "A to apply", func() bool { return count("A") > 0 })
	aBefore := count("A")
	bc := newConsumer(t, cfg, sinkFor("B"), prometheus.NewRegistry())
	run(t, bc)
	// Keep producing until both consumers apply records after the join.
	waitFor(t, 15*time.Second, "both consumers to apply", func() bool {
		produce(t, b.Addr(), produced, 20, 31)
		produced += 20
		time.Sleep(50 * time.Millisecond)
		return count("B") > 0 && count("A") > aBefore && shared.distinct() > aBefore
	})
	waitFor(t, 15*time.Second, "every record applied", func() bool { return shared.distinct() == produced })
	applied, order := shared.snapshot()
	checkOrder(t, order)
	redelivered := 0
	for _, k := range applied {
		redelivered += k - 1
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("produced %d; A applied %v, B applied %v by partition; %d redelivered", produced, by["A"], by["B"], redelivered)
	if len(by["B"]) == 0 || len(by["B"]) == partitions {
		t.Errorf("B got partitions %v, want some but not all", by["B"])
	}
}

// sinkFunc wraps a memSink to see the records each consumer applied.
type sinkFunc struct {
	*memSink
	after func([]payments.Record)
}

func (s sinkFunc) Apply(ctx context.Context, records []payments.Record) ([]payments.Result, error) {
	res, err := s.memSink.Apply(ctx, records)
	if err == nil {
		s.after(records)
	}
	return res, err
}

// readTopic reads n records of topic from the start of every partition.
func readTopic(t *testing.T, addr, topic string, n int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: "reader-" + uuid.NewString(), Topic: topic,
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: 2 * time.Second,
		RebalanceTimeout: 2 * time.Second, JoinGroupBackoff: 100 * time.Millisecond, ReadLagInterval: -1,
		ReadBackoffMin: 10 * time.Millisecond, ReadBackoffMax: 50 * time.Millisecond})
	defer r.Close()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read %d of %d records of %s: %v", len(out), n, topic, err)
		}
		out = append(out, m)
	}
	return out
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func TestPoisonRecordIsDeadLetteredAndPartitionMovesOn(t *testing.T) {
	b := startBroker(t)
	const n = 30
	produce(t, b.Addr(), 0, n, 1) // one partition
	hw := highWater(t, b.Addr())
	var p int
	for p = range hw {
		if hw[p] > 0 {
			break
		}
	}
	poison := payments.Source{Topic: testTopic, Partition: p, Offset: 12}
	sink := newMemSink()
	sink.poison[poison] = true
	group := "poison"
	cfg := testConfig(b.Addr(), group)
	cfg.BatchSize = 10
	c := newConsumer(t, cfg, sink, nil)
	stop := run(t, c)
	waitFor(t, 15*time.Second, "every record handled", func() bool { return sink.distinct() == n })
	waitFor(t, 5*time.Second, "offsets committed", func() bool { return committed(t, b.Addr(), group)[p] == n })

	sink.mu.Lock()
	reason, ok := sink.recorded[poison]
	others := len(sink.recorded)
	sink.mu.Unlock()
	if !ok || others != 1 || reason != "could not be applied: "+errPoison.Error() {
		t.Fatalf("recorded dead letters %v", sink.recorded)
	}
	_, order := sink.snapshot()
	checkOrder(t, order)

	// The dead letter reaches the dead-letter topic with its original bytes.
	dl := readTopic(t, b.Addr(), testDLQ, 1)[0]
	sink.mu.Lock()
	orig := sink.records[poison]
	sink.mu.Unlock()
	if string(dl.Key) != string(orig.Key) || string(dl.Value) != string(orig.Value) ||
		header(dl, "error") != reason || header(dl, "source-offset") != fmt.Sprintf("%s/%d/12", testTopic, p) {
		t.Fatalf("dead letter %q %q %v", dl.Key, dl.Value, dl.Headers)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st.DeadLetters != 1 || st.Applied != n-1 || st.DeadLettersPending {
		t.Fatalf("status %+v", st)
	}
}

func TestDeadLettersPublishedWithHeadersAfterFailures(t *testing.T) {
	b := startBroker(t)
	group := "dlq"
	// Two invalid records among valid ones; the first listings of the
	// outbox fail, and consumption goes on meanwhile.
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: testTopic, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	msgs := []kafka.Message{
		{Key: []byte("OFII-1"), Value: event(1, "OFII-1")},
		{Key: []byte("OFII-2"), Value: []byte(`{"event_id":"x","type":"ada.unknown"}`)},
		{Value: []byte(`not json`)},
		{Key: []byte("OFII-1"), Value: event(2, "OFII-1")},
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	sink := newMemSink()
	sink.listFails = 2
	sink.invalid = func(r payments.Record) bool { return peekType(r.Value) != payments.HouseholdChanged }
	c := newConsumer(t, testConfig(b.Addr(), group), sink, nil)
	run(t, c)
	waitFor(t, 15*time.Second, "every record applied", func() bool { return sink.distinct() == len(msgs) })
	hw := highWater(t, b.Addr())
	waitFor(t, 5*time.Second, "offsets committed", func() bool { return allCommitted(committed(t, b.Addr(), group), hw) })

	got := readTopic(t, b.Addr(), testDLQ, 2)
	byValue := map[string]kafka.Message{}
	for _, m := range got {
		byValue[string(m.Value)] = m
	}
	for _, want := range msgs[1:3] {
		m, ok := byValue[string(want.Value)]
		if !ok {
			t.Fatalf("dead letter %s missing from %v", want.Value, got)
		}
		src := sink.deadLetterOf(want.Value)
		if string(m.Key) != string(want.Key) || header(m, "error") != "type: unknown event type" ||
			header(m, "source-offset") != fmt.Sprintf("%s/%d/%d", testTopic, src.Partition, src.Offset) {
			t.Errorf("dead letter key %q headers %v, source %v", m.Key, m.Headers, src)
		}
	}
	waitFor(t, 5*time.Second, "dead letters marked published", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		for _, d := range sink.deadLetters {
			if d.PublishedAt == nil {
				return false
			}
		}
		return true
	})
	if st := c.Status(); st.DeadLetters != 2 || st.Applied != 2 {
		t.Fatalf("status %+v", st)
	}
}

func (s *memSink) deadLetterOf(value []byte) payments.Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.deadLetters {
		if string(d.Value) == string(value) {
			return d.Source
		}
	}
	return payments.Source{}
}

// After a restart, the lag the status shows is the broker's figure, not
// zero: before its first measurement it is unknown (null), then it counts
// the records that arrived while no consumer ran, and it reaches zero only
// once they are applied.
func TestLagAfterRestartIsMeasured(t *testing.T) {
	b := startBroker(t)
	const group = "lag"
	cfg := testConfig(b.Addr(), group)
	cfg.LagInterval = 100 * time.Millisecond

	produce(t, b.Addr(), 0, 40, 7)
	a := newConsumer(t, cfg, newMemSink(), nil)
	stopA := run(t, a)
	waitFor(t, 15*time.Second, "A to commit every record", func() bool {
		return allCommitted(committed(t, b.Addr(), group), highWater(t, b.Addr()))
	})
	waitFor(t, 15*time.Second, "A's lag to be 0", func() bool { st := a.Status(); return st.Lag != nil && *st.Lag == 0 })
	if err := stopA(); err != nil {
		t.Fatal(err)
	}

	// 60 records arrive while no consumer runs.
	produce(t, b.Addr(), 40, 60, 7)
	com, hw := committed(t, b.Addr(), group), highWater(t, b.Addr())
	var want int64
	for p, h := range hw {
		want += h - max(com[p], 0)
	}
	if want != 60 {
		t.Fatalf("broker: %d records wait (committed %v, high-water marks %v), want 60", want, com, hw)
	}

	// B's first batch waits until the test has read B's status.
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	sinkB := newMemSink()
	sinkB.before = func([]payments.Record) { <-release }
	bc := newConsumer(t, cfg, sinkB, nil)
	st := bc.Status()
	if st.Lag != nil {
		t.Fatalf("lag before any measurement = %d, want unknown", *st.Lag)
	}
	if j, _ := json.Marshal(st); !strings.Contains(string(j), `"lag":null`) {
		t.Fatalf("status before any measurement: %s, want \"lag\":null", j)
	}
	stopB := run(t, bc)
	t.Cleanup(open) // before stopB, which waits for the batch in hand
	waitFor(t, 15*time.Second, "B to measure its lag", func() bool { return bc.Status().Lag != nil })
	st = bc.Status()
	if *st.Lag != want {
		t.Fatalf("B's lag before it applied anything = %d, want %d", *st.Lag, want)
	}
	if st.LagAt == nil || st.LagAt.IsZero() {
		t.Errorf("lag_at = %v, want the time of the measurement", st.LagAt)
	}
	if st.Applied != 0 {
		t.Fatalf("B applied %d records before its first batch was released", st.Applied)
	}

	open()
	waitFor(t, 15*time.Second, "B to apply the 60 records", func() bool { return sinkB.distinct() >= 60 })
	waitFor(t, 15*time.Second, "B's lag to reach 0", func() bool { st := bc.Status(); return st.Lag != nil && *st.Lag == 0 })
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	if n := sinkB.distinct(); n != 60 {
		t.Fatalf("B applied %d records, want the 60 that arrived while no consumer ran", n)
	}
}

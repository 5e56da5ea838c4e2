package sqlstore_test

// End-to-end tests of the eligibility stream: records published to the
// in-process broker, read by the kafka-go consumer, applied to PostgreSQL.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/transport/kafka"
)

const dlqTopic = topic + ".dlq"

func e2eConfig(addr, group string) kafka.ConsumerConfig {
	return kafka.ConsumerConfig{Brokers: []string{addr}, Topic: topic, DLQTopic: dlqTopic, GroupID: group, BatchSize: 200,
		RetryMin: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond, DeadLetterRetry: 200 * time.Millisecond,
		CommitTimeout: 5 * time.Second, ShutdownTimeout: 3 * time.Second,
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: 2 * time.Second,
		RebalanceTimeout: 2 * time.Second, JoinGroupBackoff: 100 * time.Millisecond,
		ReadBackoffMin: 10 * time.Millisecond, ReadBackoffMax: 50 * time.Millisecond}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// publish writes the values to the topic in order, each keyed by its
// beneficiary (or with no key when it has none), as upstream does.
func publish(t *testing.T, addr string, values [][]byte) {
	t.Helper()
	w := &kafkago.Writer{Addr: kafkago.TCP(addr), Topic: topic, Balancer: &kafkago.Murmur2Balancer{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchSize: 500}
	defer w.Close()
	msgs := make([]kafkago.Message, len(values))
	for i, v := range values {
		msgs[i] = kafkago.Message{Key: kafka.KeyOf(v), Value: v}
	}
	for len(msgs) > 0 {
		n := min(500, len(msgs))
		if err := w.WriteMessages(context.Background(), msgs[:n]...); err != nil {
			t.Fatal(err)
		}
		msgs = msgs[n:]
	}
}

// waitRows waits until the query's count reaches want.
func waitRows(t *testing.T, pool *pgxpool.Pool, query string, want int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var n int64
	for time.Now().Before(deadline) {
		if err := pool.QueryRow(context.Background(), query).Scan(&n); err == nil && n >= want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %d after %s, want %d", query, n, within, want)
}

func runConsumer(t *testing.T, cfg kafka.ConsumerConfig, sink payments.EventSink) (stop func()) {
	t.Helper()
	c, err := kafka.NewConsumer(cfg, sink, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	}
}

// TestExamplesThroughKafka publishes every example of the contract, valid
// and invalid, and checks that the valid ones are applied exactly as when
// applied directly, and that each invalid one lands in the dead-letter topic
// with a reason naming its problem, applying nothing.
func TestExamplesThroughKafka(t *testing.T) {
	valid := readLines(t, "../../testdata/contracts/examples/valid.jsonl")
	var invalid [][]byte
	var whys []string
	for _, l := range readLines(t, "../../testdata/contracts/examples/invalid.jsonl") {
		var x struct{ Why, Value string }
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatal(err)
		}
		invalid = append(invalid, []byte(x.Value))
		whys = append(whys, x.Why)
	}
	var values [][]byte
	for _, v := range valid {
		values = append(values, []byte(v))
	}
	values = append(values, invalid...)

	broker, err := kafka.StartEmbedded(0, 4, topic, dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	store, pool := mustOpen(t)
	publish(t, broker.Addr(), values)
	stop := runConsumer(t, e2eConfig(broker.Addr(), "examples"), store)
	waitRows(t, pool, `SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM dead_letters WHERE published_at IS NOT NULL)`,
		int64(len(valid)+len(invalid)), 30*time.Second)
	stop()

	// The reference: the valid examples applied directly.
	ref, refPool := mustOpen(t)
	mustApply(t, ref, records(0, values[:len(valid)]...))
	want, have := dump(t, refPool), dump(t, pool)
	for _, tbl := range tables {
		if tbl != "dead_letters" && !reflect.DeepEqual(want[tbl], have[tbl]) {
			t.Errorf("%s differs from the valid examples applied alone:\n want %v\n have %v", tbl, want[tbl], have[tbl])
		}
	}

	// Each invalid example is on the dead-letter topic, with its reason.
	parts, err := kafkago.DefaultDialer.LookupPartitions(context.Background(), "tcp", broker.Addr(), dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]kafkago.Message{}
	for _, p := range parts {
		pr := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{broker.Addr()}, Topic: dlqTopic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		for {
			m, err := pr.ReadMessage(ctx)
			if err != nil {
				break
			}
			got[string(m.Value)] = m
		}
		cancel()
		pr.Close()
	}
	// The field each reason must name, per example's why.
	fields := map[string]string{
		"not JSON": "body", "unknown type": "type", "schema_version 2 is not supported": "schema_version",
		"missing event_id": "event_id", "data.from is not a real date": "data.from", "data.adults must be at least 1": "data.adults",
		"data.children is negative": "data.children", "data.payee.iban fails its check digits": "data.payee.iban",
		"beneficiary_id has forbidden characters": "beneficiary_id", "amount has three decimals": "data.amount",
		"reinsertion tranches do not add up to the amount": "data.tranches", "return aid refused for an EU national": "data.country",
		"tranche released for an unknown grant": "data.grant_id",
	}
	for i, v := range invalid {
		m, ok := got[string(v)]
		if !ok {
			t.Errorf("%s: not on the dead-letter topic", whys[i])
			continue
		}
		var reason, source string
		for _, h := range m.Headers {
			switch h.Key {
			case "error":
				reason = string(h.Value)
			case "source-offset":
				source = string(h.Value)
			}
		}
		if f := fields[whys[i]]; f == "" || !strings.HasPrefix(reason, f) {
			t.Errorf("%s: reason %q does not name %q", whys[i], reason, fields[whys[i]])
		}
		if !strings.HasPrefix(source, topic+"/") {
			t.Errorf("%s: source-offset header %q", whys[i], source)
		}
	}
	var dls int64
	_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM dead_letters`).Scan(&dls)
	if dls != int64(len(invalid)) {
		t.Errorf("%d dead letters recorded, want %d", dls, len(invalid))
	}
}

// crashingSink applies to the store, and at the crash-th Apply writes to the
// database and then fails as if the process died before committing the
// offsets: from then on every call fails until the consumer is abandoned.
type crashingSink struct {
	*sqlstore.Store
	calls   atomic.Int64
	crashAt int64
	crashed atomic.Bool
}

func (s *crashingSink) Apply(ctx context.Context, recs []payments.Record) ([]payments.Result, error) {
	if s.crashed.Load() {
		return nil, errs.E(errs.Unavailable, "crashed")
	}
	res, err := s.Store.Apply(ctx, recs)
	if err == nil && s.calls.Add(1) == s.crashAt {
		s.crashed.Store(true)
		return nil, errs.E(errs.Unavailable, "crashed after the database commit")
	}
	return res, err
}

// TestRedeliveryThroughKafka publishes a stream of over 5,000 events for
// 500 beneficiaries twice, the second copies shuffled in after the first,
// and consumes it with consumers stopped at random points, some of them
// crashing between the database commit and the offset commit. The state
// must be exactly that of one clean delivery.
func TestRedeliveryThroughKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	st := generate(42, 500)
	n := len(st.values)
	if n < 5000 {
		t.Fatalf("generated %d events, want at least 5000", n)
	}

	ref, refPool := mustOpen(t)
	applyInBatches(t, ref, records(0, st.values...), func() int { return 700 })

	// Every record twice, the second copy anywhere after the first.
	r := rand.New(rand.NewPCG(3, 5))
	type placed struct {
		key float64
		v   []byte
	}
	all := make([]placed, 0, 2*n)
	for i, v := range st.values {
		all = append(all, placed{float64(i), v}, placed{float64(i) + 0.5 + r.Float64()*float64(n-i), v})
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].key < all[b].key })
	twice := make([][]byte, len(all))
	for i, p := range all {
		twice[i] = p.v
	}

	broker, err := kafka.StartEmbedded(0, 4, topic, dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	store, pool := mustOpen(t)
	publish(t, broker.Addr(), twice)

	valid := int64(n - st.invalidCount())
	cfg := e2eConfig(broker.Addr(), "redelivery")
	cfg.ShutdownTimeout = 300 * time.Millisecond
	cfg.BatchSize = 50
	restarts, crashes := 0, 0
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var events int64
		_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&events)
		if events == valid && groupDone(t, broker.Addr(), "redelivery", topic) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d restarts: %d of %d events applied", restarts, events, valid)
		}
		var sink payments.EventSink = store
		var crashing *crashingSink
		if r.IntN(3) == 0 {
			crashing = &crashingSink{Store: store, crashAt: 1 + r.Int64N(5)}
			sink = crashing
		}
		stop := runConsumer(t, cfg, sink)
		time.Sleep(time.Duration(30+r.IntN(200)) * time.Millisecond)
		stop()
		restarts++
		if crashing != nil && crashing.crashed.Load() {
			crashes++
		}
	}
	t.Logf("%d records (%d distinct, %d invalid) consumed over %d consumer runs, %d of them crashed after a database commit",
		len(twice), n, st.invalidCount(), restarts, crashes)
	if restarts < 3 || crashes < 1 {
		t.Errorf("%d runs, %d crashes: the test did not stop the consumer enough to prove anything", restarts, crashes)
	}

	want, have := dump(t, refPool), dump(t, pool)
	for _, tbl := range tables {
		w, h := want[tbl], have[tbl]
		if tbl == "dead_letters" {
			// Each copy of an invalid record is a dead letter of its own
			// reception; what they say is the same.
			w, h = slices.Compact(w), slices.Compact(h)
		}
		if !reflect.DeepEqual(w, h) {
			t.Errorf("%s: %d rows after one clean delivery, %d after redelivery, or different rows", tbl, len(w), len(h))
		}
	}
}

// groupDone reports whether the group has committed every partition of the
// topic up to its end.
func groupDone(t *testing.T, addr, group, topic string) bool {
	t.Helper()
	client := &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: 5 * time.Second}
	parts, err := kafkago.DefaultDialer.LookupPartitions(context.Background(), "tcp", addr, topic)
	if err != nil {
		return false
	}
	req := &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {}}}
	offs := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[topic] = append(req.Topics[topic], p.ID)
		offs.Topics[topic] = append(offs.Topics[topic], kafkago.LastOffsetOf(p.ID))
	}
	com, err := client.OffsetFetch(context.Background(), req)
	if err != nil {
		return false
	}
	last, err := client.ListOffsets(context.Background(), offs)
	if err != nil {
		return false
	}
	end := map[int]int64{}
	for _, p := range last.Topics[topic] {
		end[p.Partition] = p.LastOffset
	}
	for _, p := range com.Topics[topic] {
		if p.CommittedOffset < end[p.Partition] {
			return false
		}
	}
	return len(com.Topics[topic]) == len(parts)
}

// TestDatabaseOutageLosesAndDoublesNothing stops the database connections
// in the middle of consumption (terminating the store's backends and
// refusing new ones), then lets them back: every event is applied exactly
// once and nothing went to the dead-letter topic.
func TestDatabaseOutageLosesAndDoublesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	st := generate(9, 150)
	n := len(st.values)
	valid := int64(n - st.invalidCount())

	ref, refPool := mustOpen(t)
	applyInBatches(t, ref, records(0, st.values...), func() int { return 500 })

	broker, err := kafka.StartEmbedded(0, 4, topic, dlqTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	_, pool := mustOpen(t)
	// The store's own pool, whose connections the outage cuts: while it
	// lasts, a new connection is refused as by a server that is down.
	cfg := pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["application_name"] = "store-under-outage"
	var down atomic.Bool
	cfg.BeforeConnect = func(context.Context, *pgx.ConnConfig) error {
		if down.Load() {
			return &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		}
		return nil
	}
	storePool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer storePool.Close()
	store := sqlstore.New(storePool)

	publish(t, broker.Addr(), st.values)
	stop := runConsumer(t, e2eConfig(broker.Addr(), "outage"), store)
	defer stop()
	waitRows(t, pool, `SELECT count(*) FROM events`, valid/3, 60*time.Second)

	// The outage: new connections refused, the open ones terminated.
	down.Store(true)
	var name string
	_ = pool.QueryRow(context.Background(), `SELECT current_database()`).Scan(&name)
	_, err = pool.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND application_name = 'store-under-outage'`, name)
	if err != nil {
		t.Fatal(err)
	}
	var during int64
	time.Sleep(1500 * time.Millisecond)
	_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&during)
	down.Store(false)
	if during >= valid {
		t.Fatal("every event was applied before the outage: it proved nothing")
	}
	waitRows(t, pool, `SELECT count(*) FROM events`, valid, 60*time.Second)
	waitRows(t, pool, `SELECT count(*) FROM dead_letters`, int64(st.invalidCount()), 30*time.Second)
	t.Logf("%d records: %d events applied when the outage ended, all %d after", n, during, valid)

	want, have := dump(t, refPool), dump(t, pool)
	for _, tbl := range tables {
		if !reflect.DeepEqual(want[tbl], have[tbl]) {
			t.Errorf("%s: %d rows applied directly, %d through the outage, or different rows", tbl, len(want[tbl]), len(have[tbl]))
		}
	}
}

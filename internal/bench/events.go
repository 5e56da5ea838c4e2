package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/config"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/transport/kafka"
)

// eventsTopic is the topic of the events steps, on a broker of their own.
const eventsTopic = "bench.eligibility.v1"

// eventStream writes n eligibility events as JSON Lines: a rights opening
// for each of n/2 households, then a change of household for each, in the
// shape upstream sends them.
func eventStream(n int, seed uint64) []byte {
	var b bytes.Buffer
	households := (n + 1) / 2
	ns := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "bench-%d", seed))
	for i := range n {
		h := i % households
		id := uuid.NewSHA1(ns, fmt.Appendf(nil, "%d", i))
		ben := fmt.Sprintf("BENCH-%07d", h)
		if i < households {
			fmt.Fprintf(&b, `{"event_id":%q,"type":"ada.rights_opened","schema_version":1,"occurred_at":"2026-10-01T08:00:00Z","beneficiary_id":%q,`+
				`"data":{"from":"2026-10-01","adults":%d,"children":%d,"accommodated":%t,"territory":"metropole",`+
				`"payee":{"name":"Household %d","iban":"FR7630006000011234567890189"}}}`+"\n",
				id, ben, 1+h%2, h%4, h%3 == 0, h)
		} else {
			fmt.Fprintf(&b, `{"event_id":%q,"type":"ada.household_changed","schema_version":1,"occurred_at":"2026-10-20T08:00:00Z","beneficiary_id":%q,`+
				`"data":{"from":"2026-10-15","adults":%d,"children":%d}}`+"\n", id, ben, 1+h%2, 1+h%4)
		}
	}
	return b.Bytes()
}

// events measures, on an embedded broker, (f) events applied per second
// from the topic into the database by the eligibility consumer, and (g) the
// bare kafka-go read of the same records, the floor under (f).
func (e *env) events(ctx context.Context, n int) ([]Result, error) {
	broker, err := kafka.StartEmbedded(0, 4, eventsTopic, eventsTopic+".dlq")
	if err != nil {
		return nil, err
	}
	defer broker.Close()
	brokers := []string{broker.Addr()}
	e.prog.Step("publishing events", int64(n))
	if _, err := kafka.Publish(ctx, kafka.PublishConfig{Brokers: brokers, BatchSize: 1000}, eventsTopic,
		bytes.NewReader(eventStream(n, e.opts.Seed)), func(k int) { e.prog.Set(int64(k)) }); err != nil {
		e.prog.Done()
		return nil, err
	}
	e.prog.Done()

	e.prog.Step("reading events with kafka-go", int64(n))
	read, err := kafka.ReadRate(ctx, brokers, eventsTopic, n)
	e.prog.Done()
	if err != nil {
		return nil, err
	}
	e.settle(ctx)

	store := paysql.New(e.pool)
	batch := e.opts.EventBatch
	if batch == 0 {
		batch = config.DefaultKafkaBatchSize
	}
	c, err := kafka.NewConsumer(kafka.ConsumerConfig{Brokers: brokers, Topic: eventsTopic, DLQTopic: eventsTopic + ".dlq",
		GroupID: "bench", BatchSize: batch}, store, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		return nil, err
	}
	e.prog.Step("applying events", int64(n))
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- c.Run(cctx) }()
	var took time.Duration
	for {
		st := c.Status()
		got := st.Applied + st.Duplicates + st.DeadLetters
		e.prog.Set(got)
		if got >= int64(n) {
			took = time.Since(start)
			break
		}
		if ctx.Err() != nil {
			cancel()
			<-done
			return nil, ctx.Err()
		}
		select {
		case err := <-done:
			cancel()
			return nil, fmt.Errorf("consumer stopped after %d of %d events: %w", got, n, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	<-done
	e.prog.Done()
	st := c.Status()
	var errors int64 = st.DeadLetters
	return []Result{
		{Step: "f", Name: "events applied (Kafka → database)", N: st.Applied, Seconds: took.Seconds(), Rate: rate(st.Applied, took),
			Unit: "events/s", Errors: errors, Note: fmt.Sprintf("%d ada.rights_opened + ada.household_changed, batches of %d, 4 partitions, embedded broker", n, batch)},
		{Step: "g", Name: "kafka-go read, no database", N: int64(n), Seconds: read.Seconds(), Rate: rate(int64(n), read),
			Unit: "records/s", Note: "the same records read by partition readers"},
	}, nil
}

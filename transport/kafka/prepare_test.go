package kafka

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ofii/allowances/payments"
)

// preparingSink is a memSink that prepares its records ahead, as the
// store does, and counts the records it was given prepared and not.
type preparingSink struct {
	*memSink
	mu                   sync.Mutex
	prepared, unprepared int
}

// preparedBy marks the records this sink prepared.
type preparedBy struct{ value []byte }

func (s *preparingSink) Prepare(records []payments.Record) {
	for i := range records {
		records[i].Prepared = preparedBy{records[i].Value}
	}
}

func (s *preparingSink) Apply(ctx context.Context, records []payments.Record) ([]payments.Result, error) {
	s.mu.Lock()
	for _, r := range records {
		if p, ok := r.Prepared.(preparedBy); ok && string(p.value) == string(r.Value) {
			s.prepared++
		} else {
			s.unprepared++
		}
	}
	s.mu.Unlock()
	return s.memSink.Apply(ctx, records)
}

// The next batch is prepared while the one in hand is applied: every
// record reaches Apply prepared, records still apply in order, a batch that
// fails is offered again, and the offsets are committed.
func TestPreparedBatchesApplyInOrder(t *testing.T) {
	b := startBroker(t)
	const n = 300
	produce(t, b.Addr(), 0, n, 17)
	sink := &preparingSink{memSink: newMemSink()}
	sink.failFirst = 2
	sink.before = func([]payments.Record) { time.Sleep(5 * time.Millisecond) }
	group := "prepared"
	cfg := testConfig(b.Addr(), group)
	cfg.BatchSize = 40
	c := newConsumer(t, cfg, sink, nil)
	stop := run(t, c)
	waitFor(t, 15*time.Second, "every record applied", func() bool { return sink.distinct() == n })
	hw := highWater(t, b.Addr())
	waitFor(t, 5*time.Second, "offsets committed", func() bool { return allCommitted(committed(t, b.Addr(), group), hw) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, order := sink.snapshot()
	checkOrder(t, order)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.prepared < n || sink.unprepared != 0 {
		t.Errorf("%d records applied prepared, %d unprepared: want every record prepared", sink.prepared, sink.unprepared)
	}
}

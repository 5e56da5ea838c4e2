package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReadRate measures a bare kafka-go read of the first n records of topic,
// all partitions at once, with no consumer group and no database: the floor
// under the consumer's rate. It returns the time from the first connection
// to the n-th record, and an error when ctx ends before n records were read.
func ReadRate(ctx context.Context, brokers []string, topic string, n int) (time.Duration, error) {
	if len(brokers) == 0 {
		return 0, errors.New("read rate: no broker")
	}
	if n < 1 {
		return 0, fmt.Errorf("read rate: %d records: want at least 1", n)
	}
	start := time.Now()
	parts, err := kafka.DefaultDialer.LookupPartitions(ctx, "tcp", brokers[0], topic)
	if err != nil {
		return 0, fmt.Errorf("read rate: partitions of %s: %w", topic, err)
	}
	if len(parts) == 0 {
		return 0, fmt.Errorf("read rate: topic %s has no partition", topic)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var read atomic.Int64
	var done time.Duration
	var once sync.Once
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func(partition int) {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: partition,
				MaxBytes: 10 << 20, MaxWait: 250 * time.Millisecond, ReadLagInterval: -1, QueueCapacity: 1000})
			defer r.Close()
			for {
				if _, err := r.FetchMessage(rctx); err != nil {
					return
				}
				if read.Add(1) == int64(n) {
					once.Do(func() { done = time.Since(start) })
					cancel()
					return
				}
			}
		}(p.ID)
	}
	wg.Wait()
	if got := read.Load(); got < int64(n) {
		return time.Since(start), fmt.Errorf("read rate: %d of %d records read: %w", got, n, ctx.Err())
	}
	return done, nil
}

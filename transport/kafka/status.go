package kafka

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ofii/allowances/payments"
)

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
			// Under the lock: once c.lag is lag, each applied batch
			// updates it (observe).
			c.mu.Lock()
			c.lag, c.lagAt = lag, time.Now()
			for p, n := range lag {
				c.m.lag.WithLabelValues(partitionLabel(p)).Set(float64(n))
			}
			c.mu.Unlock()
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

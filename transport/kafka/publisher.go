package kafka

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
)

// PublishConfig says where Publish writes.
type PublishConfig struct {
	Brokers   []string
	Security  Security
	BatchSize int // records per write; 500 when 0
}

// maxLineBytes bounds one line of input. Lines above the contract's 64 KiB
// are still sent, for the consumer to dead-letter them.
const maxLineBytes = 1 << 20

// Publish writes each line of lines (JSON Lines: one event per line; blank
// lines are skipped) to topic as one record, unchanged, keyed by its
// `beneficiary_id` so that one beneficiary's events keep their order. A
// line whose beneficiary_id cannot be read is sent all the same, with an
// empty key, as the consumer must be able to reject it. progress, when not
// nil, is called with the number of records sent so far after each write.
// Publish returns how many records were sent.
func Publish(ctx context.Context, cfg PublishConfig, topic string, lines io.Reader, progress func(n int)) (int, error) {
	if len(cfg.Brokers) == 0 {
		return 0, errors.New("KAFKA_BROKERS: no broker to write to")
	}
	if topic == "" {
		return 0, errors.New("publish: no topic")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	tr, err := cfg.Security.Transport()
	if err != nil {
		return 0, err
	}
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Topic: topic, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchSize: cfg.BatchSize, BatchBytes: 16 << 20,
		BatchTimeout: 5 * time.Millisecond, Transport: tr}
	sent, err := publish(ctx, w, cfg.BatchSize, lines, progress)
	if cerr := w.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return sent, err
}

func publish(ctx context.Context, w *kafka.Writer, batchSize int, lines io.Reader, progress func(int)) (int, error) {
	sc := bufio.NewScanner(lines)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	sent, line := 0, 0
	batch := make([]kafka.Message, 0, batchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := w.WriteMessages(ctx, batch...); err != nil {
			return fmt.Errorf("publish to %s after %d records: %w", w.Topic, sent, err)
		}
		sent += len(batch)
		batch = batch[:0]
		if progress != nil {
			progress(sent)
		}
		return nil
	}
	for sc.Scan() {
		line++
		v := bytes.TrimSpace(sc.Bytes())
		if len(v) == 0 {
			continue
		}
		value := bytes.Clone(v)
		batch = append(batch, kafka.Message{Key: KeyOf(value), Value: value})
		if len(batch) == batchSize {
			if err := flush(); err != nil {
				return sent, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line %d: longer than %d bytes", line+1, maxLineBytes)
		}
		if ferr := flush(); ferr != nil {
			return sent, ferr
		}
		return sent, err
	}
	return sent, flush()
}

// KeyOf returns the record key of an event: its beneficiary_id, nil when
// value is not a JSON object with a non-empty string there.
func KeyOf(value []byte) []byte {
	var v struct {
		BeneficiaryID *string `json:"beneficiary_id"`
	}
	if json.Unmarshal(value, &v) != nil || v.BeneficiaryID == nil || *v.BeneficiaryID == "" {
		return nil
	}
	return []byte(*v.BeneficiaryID)
}

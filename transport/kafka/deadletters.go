package kafka

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/payments"
)

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

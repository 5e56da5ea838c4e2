// Package workflow holds the application services of the payments: the
// delivery of the released payment files to the bank and the application
// of its status reports (Delivery), and the staff's workflow joined with it
// (Service). The services decide the flow; the stores they take hold the
// queries and transactions, the bank gateway carries the files.
package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank"
)

// Outbox is what the delivery reads and records of the payment files and
// the status reports.
type Outbox interface {
	// DueFiles lists the queued files whose next attempt is due at now,
	// oldest first.
	DueFiles(ctx context.Context, now time.Time, limit int) ([]string, error)
	// FileContent returns a payment file and its bytes, as written.
	FileContent(ctx context.Context, msgID string) (payments.PaymentFile, []byte, error)
	// MarkSent records that the bank has a queued file.
	MarkSent(ctx context.Context, f payments.PaymentFile, duplicate, simulated bool) error
	// MarkFailed records a failed attempt: retried after retry, or refused
	// for staff to look at.
	MarkFailed(ctx context.Context, f payments.PaymentFile, cause error, retry time.Duration, refused, simulated bool) error
	// SentFiles lists the files sent and not yet answered, oldest first.
	SentFiles(ctx context.Context, limit int) ([]string, error)
	// ReportApplied reports whether a status report of these bytes has
	// been applied.
	ReportApplied(ctx context.Context, content []byte) (bool, error)
}

// Reports applies the status reports the delivery fetches.
type Reports interface {
	payments.StatusReports
	// FinishReports finishes applying the reports an interruption left
	// half-applied.
	FinishReports(ctx context.Context) error
}

// DeliveryConfig configures a Delivery.
type DeliveryConfig struct {
	// Gateway is the bank; nil leaves released files queued.
	Gateway bank.Gateway
	// Simulated says that Gateway is the embedded bank simulator of dev
	// mode, which pays nobody: the files sent to it, or refused by it, are
	// marked simulated, whoever wrote them.
	Simulated bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the bank activity; nil means slog.Default().
	Logger *slog.Logger
}

// Delivery sends the queued payment files to the bank and applies the
// status reports it answers: the payments.BankOutbox.
type Delivery struct {
	outbox  Outbox
	reports Reports
	cfg     DeliveryConfig
	log     *slog.Logger
}

var _ payments.BankOutbox = (*Delivery)(nil)

// NewDelivery returns the delivery of the files of outbox through
// cfg.Gateway, applying the reports fetched with reports.
func NewDelivery(outbox Outbox, reports Reports, cfg DeliveryConfig) *Delivery {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Delivery{outbox: outbox, reports: reports, cfg: cfg, log: cfg.Logger}
}

// passSize bounds how many files one pass sends, or asks the reports of.
const passSize = 100

// RetryDelay is how long a file waits after failed attempts: 5 s doubling
// to at most 5 minutes.
func RetryDelay(attempts int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < attempts && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// SendQueued delivers the queued files whose next attempt is due, oldest
// first, with the bytes stored at release. A file the bank already has
// (DU01) counts as sent; a file the bank refuses (FF01...) is 'refused' for
// staff to look at; when the bank is unavailable, the pass stops and the
// files wait for the next one. The sender says where a file went: one sent
// to, or refused by, the simulator of DeliveryConfig.Simulated is marked
// simulated, whoever wrote it.
func (d *Delivery) SendQueued(ctx context.Context) (payments.BankActivity, error) {
	var act payments.BankActivity
	if d.cfg.Gateway == nil {
		return act, nil
	}
	ids, err := d.outbox.DueFiles(ctx, d.cfg.Now().UTC().Truncate(time.Microsecond), passSize)
	if err != nil {
		return act, err
	}
	for _, id := range ids {
		f, content, err := d.outbox.FileContent(ctx, id)
		if err != nil {
			return act, err
		}
		rec, err := d.cfg.Gateway.SubmitFile(ctx, bank.File{MsgID: f.MsgID, Format: f.Format, SHA256: f.SHA256, Bytes: content})
		if ctx.Err() != nil {
			return act, ctx.Err()
		}
		var refusal *bank.Refusal
		switch {
		case err == nil:
			act.Sent++
			d.log.Info("payment file sent", "msg_id", f.MsgID, "transactions", f.Transactions, "total", f.Total.StringFixed(2),
				"duplicate", rec.Duplicate)
			err = d.outbox.MarkSent(ctx, f, rec.Duplicate, d.cfg.Simulated)
		case errors.As(err, &refusal):
			act.Failed++
			d.log.Error("payment file refused by the bank", "msg_id", f.MsgID, "code", refusal.Code, "error", refusal.Message)
			err = d.outbox.MarkFailed(ctx, f, err, 0, true, d.cfg.Simulated)
		default:
			act.Failed++
			d.log.Warn("payment file not sent: will retry", "msg_id", f.MsgID, "attempt", f.Attempts+1, "error", err)
			if ferr := d.outbox.MarkFailed(ctx, f, err, RetryDelay(f.Attempts+1), false, d.cfg.Simulated); ferr != nil {
				return act, ferr
			}
			if errors.Is(err, bank.ErrUnavailable) {
				return act, nil // the bank is down: the files wait
			}
			continue
		}
		if err != nil {
			return act, err
		}
	}
	return act, nil
}

// FetchReports reads the status reports of the files sent and not yet
// answered for every payment, and applies those not applied yet. It also
// finishes the reports whose rejections were not all posted.
func (d *Delivery) FetchReports(ctx context.Context) (payments.BankActivity, error) {
	var act payments.BankActivity
	if err := d.reports.FinishReports(ctx); err != nil {
		return act, err
	}
	if d.cfg.Gateway == nil {
		return act, nil
	}
	ids, err := d.outbox.SentFiles(ctx, passSize)
	if err != nil {
		return act, err
	}
	for _, id := range ids {
		docs, err := d.cfg.Gateway.StatusReports(ctx, id)
		if err != nil {
			return act, fmt.Errorf("fetch the status reports of file %s: %w", id, err)
		}
		for _, doc := range docs {
			seen, err := d.outbox.ReportApplied(ctx, doc.Bytes)
			if err != nil {
				return act, err
			}
			if seen {
				continue
			}
			res, err := d.reports.ApplyReport(ctx, doc.Bytes, payments.System)
			if err != nil {
				return act, fmt.Errorf("apply status report %s of file %s: %w", doc.ID, id, err)
			}
			act.Reports++
			act.Accepted += res.Accepted
			act.Rejected += res.Rejected
			act.Unchanged += res.Unchanged
		}
	}
	return act, nil
}

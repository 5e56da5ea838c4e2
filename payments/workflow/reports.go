package workflow

import (
	"context"
	"fmt"

	"github.com/ofii/allowances/payments"
)

// ApplyReport applies one pain.002 status report to the payments of the
// file it answers. Statuses only move forward. A newly rejected payment
// becomes a payment exception, and its amount goes back from payments in
// transit to the payee's payable account (payments.RejectionPosting); when
// every payment of a file has a final answer the file is accepted or
// partly rejected, and so is its batch once all its files are. A report
// applied before (same MsgId or same bytes) changes nothing.
func (w *Batches) ApplyReport(ctx context.Context, content []byte, by payments.Actor) (payments.ReportResult, error) {
	res, err := w.steps.RecordReport(ctx, content, by)
	if err != nil {
		return res, err
	}
	if err := w.postRejections(ctx, res.MsgID); err != nil {
		return res, err
	}
	if res.Rejected > 0 {
		w.log.Warn("payments rejected by the bank", "report", res.MsgID, "file", res.OriginalMsgID, "rejected", res.Rejected)
	}
	return res, nil
}

// FinishReports posts the rejections of the reports an interruption left
// half-applied.
func (w *Batches) FinishReports(ctx context.Context) error {
	ids, err := w.steps.PendingReports(ctx, 100)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := w.postRejections(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// postRejections posts the payments a report rejected back from payments
// in transit to the payees' payable accounts, as one entry keyed by the
// report, and marks the report applied.
func (w *Batches) postRejections(ctx context.Context, report string) error {
	n, received, err := w.steps.Rejections(ctx, report)
	if err != nil {
		return err
	}
	if n > 0 {
		if _, err := w.ledger.PostBulk(ctx, payments.RejectionPosting(report, received, w.steps.RejectedPayments(ctx, report))); err != nil {
			return fmt.Errorf("post the rejections of status report %s: %v", report, err)
		}
	}
	return w.steps.MarkReportApplied(ctx, report)
}

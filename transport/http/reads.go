package httptransport

import (
	"context"
	"fmt"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
)

// Who read what: every response that shows a beneficiary's file (the
// timeline, the days, the lines and exceptions that pay them, the dead
// letters of their events) is recorded in the audit trail before it is
// sent, one row per beneficiary shown, naming the reader and the fields
// shown in full. A read that cannot be recorded is not answered.

// recordReads records reads as the caller's, before they are shown. It
// fails with code unavailable when the trail cannot be written, the cause
// kept for the request log.
func recordReads(ctx context.Context, log payments.ReadLog, reads []payments.Read) error {
	if len(reads) == 0 {
		return nil
	}
	by, err := actorFrom(ctx)
	if err != nil {
		return err
	}
	if err := log.RecordReads(ctx, by, reads); err != nil {
		return fmt.Errorf("%w: %w", errs.E(errs.Unavailable, "the audit trail cannot record this read now, so nothing is shown; try again later"), err)
	}
	return nil
}

// ibanIf is the fields a read shows in full: the IBAN when the caller sees
// IBANs and there is one to see.
func ibanIf(full bool, has bool) []string {
	if full && has {
		return []string{payments.FieldIBAN}
	}
	return []string{}
}

// linesRead is the reads of a page of a batch's lines: one per beneficiary,
// in the order of the page, with the IBAN when one of their lines showed
// it in full.
func linesRead(batch string, lines []payments.BatchLine, full bool) []payments.Read {
	var order []string
	count := map[string]int{}
	shown := map[string]bool{}
	for _, l := range lines {
		if count[l.BeneficiaryID] == 0 {
			order = append(order, l.BeneficiaryID)
		}
		count[l.BeneficiaryID]++
		shown[l.BeneficiaryID] = shown[l.BeneficiaryID] || l.Payee.IBAN != ""
	}
	reads := make([]payments.Read, len(order))
	for i, b := range order {
		reads[i] = payments.Read{What: payments.ReadBatchLines, ObjectID: batch, Beneficiary: b,
			Fields: ibanIf(full, shown[b]), Details: map[string]any{"lines": count[b]}}
	}
	return reads
}

// exceptionRead is the read of one payment exception.
func exceptionRead(x payments.PaymentException, full bool) payments.Read {
	has := x.Payee.IBAN != "" || (x.Corrected != nil && x.Corrected.IBAN != "")
	return payments.Read{What: payments.ReadException, ObjectID: x.ID.String(), Beneficiary: x.BeneficiaryID, Fields: ibanIf(full, has)}
}

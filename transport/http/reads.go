package httptransport

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-kit/kit/endpoint"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// Who read what: every response that shows a beneficiary's file (the
// timeline, the days, the lines, exceptions, files and own accounts that
// pay them, the dead letters of their events) is recorded in the audit
// trail before it is sent, one row per beneficiary shown, naming the
// reader and the fields shown in full. A read that cannot be recorded is
// not answered.

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

// beneficiaryOfAccount returns the beneficiary whose own account code is
// (payable:<b>, receivable:overpayment:<b>), or "".
func beneficiaryOfAccount(code string) string {
	for _, control := range []string{ledger.OverpaymentReceivable, ledger.Payable} {
		if b, ok := strings.CutPrefix(code, control+":"); ok {
			return b
		}
	}
	return ""
}

// readLog is where the API records reads: any of its stores of the
// beneficiaries, runs or approvals writes the one audit trail. It is nil
// for an API over the ledger alone.
func (a *api) readLog() payments.ReadLog {
	switch {
	case a.opts.Beneficiaries != nil:
		return a.opts.Beneficiaries
	case a.opts.Runs != nil:
		return a.opts.Runs
	case a.opts.Approvals != nil:
		return a.opts.Approvals
	}
	return nil
}

// accountRead records, as a read of kind what, the balance or statement of
// a beneficiary's own account: what was paid to them, or is to be
// recovered from them. Other accounts are not a person's file. Without an
// audit trail to write to, a beneficiary's account is not shown.
func (a *api) accountRead(what string) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			var code string
			var details map[string]any
			switch req := request.(type) {
			case balanceRequest:
				code = req.Code
			case statementRequest:
				code = req.Query.Account
				details = map[string]any{}
				for k, d := range map[string]ledger.Date{"from": req.Query.From, "to": req.Query.To} {
					if !d.IsZero() {
						details[k] = d.String()
					}
				}
				if req.Query.Cursor != "" {
					details["cursor"] = req.Query.Cursor
				}
			}
			b := beneficiaryOfAccount(code)
			if b == "" {
				return next(ctx, request)
			}
			log := a.readLog()
			if log == nil {
				return nil, errs.E(errs.Unavailable, "account %s is a beneficiary's and this API records no reads: it is not shown", code)
			}
			resp, err := next(ctx, request)
			if err != nil {
				return resp, err
			}
			if f, ok := resp.(endpoint.Failer); ok && f.Failed() != nil {
				return resp, nil
			}
			read := payments.Read{What: what, ObjectID: code, Beneficiary: b, Fields: []string{}, Details: details}
			if err := recordReads(ctx, log, []payments.Read{read}); err != nil {
				return nil, fmt.Errorf("%s of %s: %w", what, code, err)
			}
			return resp, nil
		}
	}
}

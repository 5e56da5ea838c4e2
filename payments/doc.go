// Package payments computes what is due to each beneficiary and turns it into
// payment batches.
//
// It holds the beneficiaries and their entitlement timelines (built from the
// eligibility events), the versioned rate schedules, and the calculators for
// the asylum seekers' allowance (ADA), return aid, reinsertion and
// business-creation aid, and overpayment recovery by deduction. A monthly run
// computes every line into a draft batch; approval by a preparer and a
// different approver posts the accrual to the ledger, and release hands the
// batch to the bank. Every state change of a batch is written to an audit
// trail.
//
// A payment line's id derives from (scheme, beneficiary, period, run) and is
// the EndToEndId the bank sees, so one id follows a euro from the calculation
// to the bank statement.
//
// The ISO 20022 pain.001 writer and pain.002 reader live in payments/sepa;
// the bank gateway (go-kit client endpoints behind circuit breakers) lives in
// payments/bank.
package payments

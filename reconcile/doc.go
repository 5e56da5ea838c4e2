// Package reconcile matches bank statements against the payments the service
// sent.
//
// It holds the camt.053 (versions .001.02 to .001.08) and CFONB 120 statement
// readers, the matching engine, the exceptions queue and the reconciliation
// reports. Statement lines match payments by EndToEndId first, then by batch
// reference and total, then (as a suggestion confirmed by a person) by
// amount, date window and counterparty. A match posts the booking of the
// debit or of the return to the ledger and records the rule that made it;
// anything else goes to the exceptions queue, where controllers match it by
// hand or book it to suspense. A report proves that the ledger's bank:main
// balance equals the statement's closing balance.
package reconcile

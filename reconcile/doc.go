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
//
// # Reading statements
//
// Every format reads into one model: a file holds Statements, each of
// Lines (statement.go). NewCamt053Reader reads camt.053 statements,
// NewCamt054Reader camt.054 notifications (returns announced during the
// day), NewCFONBReader the French CFONB 120 statements. A Reader delivers
// one statement header and one line at a time, so that a file of millions
// of entries is read in bounded memory, and checks each statement's balance
// (opening plus booked lines equals closing) as it goes.
//
// A file is refused whole, with a *FormatError saying where and why: since a
// fault may come after many lines, an import either reads the file in one
// transaction that it commits only when the reader reached the end without
// error, or verifies it first with Check and imports it with Walk on a
// second reader.
//
// # Rules and services
//
// Where money moves is written once, here: the posting rules (postings.go)
// turn a statement line and what explains it into the ledger entry to post,
// with its idempotency key, and PostingRules describes them; the rules of
// the cascade (cascade.go) decide what a line's payment makes of it; a
// report's verdict is Report.Judge's. The services put them to work over
// small interfaces of a store: Importer (statement files), Desk (the
// exceptions, and undoing a match), Reports and Fetcher (statements from
// the bank). The SQL store (reconcile/sqlstore) runs the queries and
// transactions, and writes what they decide.
package reconcile

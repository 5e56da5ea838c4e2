package fec

import "strings"

// Journal is a journal of the FEC: the entries of one source.
type Journal struct {
	Code  string
	Label string
}

// The journals, by the source of their entries.
var (
	// JournalRuns holds what the runs' batches owe: the accruals of
	// approved batches, their cancellations, the overpayments established.
	JournalRuns = Journal{"LIQ", "Liquidations des allocations (runs)"}
	// JournalReleases holds the payment files released to the bank, those
	// withdrawn, and the payments the bank rejected in a status report.
	JournalReleases = Journal{"REM", "Remises de virements a la banque"}
	// JournalBank holds what the bank statements booked: payments debited,
	// returns, fees, suspense, and the undoing of a match.
	JournalBank = Journal{"BQ", "Releves bancaires (rapprochement)"}
	// JournalAdjustments holds every other entry: entries posted by hand,
	// reversals by hand, the funding of the programme.
	JournalAdjustments = Journal{"OD", "Operations diverses (ajustements)"}
)

// Journals are the journals of a FEC.
var Journals = []Journal{JournalRuns, JournalReleases, JournalBank, JournalAdjustments}

// sources are the idempotency key prefixes the service's writers give
// their entries, and the journal of each.
var sources = []struct {
	prefix  string
	journal Journal
}{
	{"accrual:", JournalRuns},
	{"cancel:", JournalRuns},
	{"overpayment:", JournalRuns},
	{"release:", JournalReleases},
	{"withdraw:", JournalReleases},
	{"rejected:", JournalReleases},
	{"recon:", JournalBank},
}

// JournalOf is the journal of an entry, from its idempotency key: the key
// of an entry the service posts names its source ("accrual:<batch>:<scheme>",
// "release:<file>", "recon:<rule>:..."); any other key is an entry posted
// by hand, an adjustment.
func JournalOf(idempotencyKey string) Journal {
	for _, s := range sources {
		if strings.HasPrefix(idempotencyKey, s.prefix) {
			return s.journal
		}
	}
	return JournalAdjustments
}

// letteredSource reports whether an entry's postings on a beneficiary's
// payable account are settled by the booking of their payment: the
// accrual that owed it and the release that paid it.
func letteredSource(idempotencyKey string) bool {
	return strings.HasPrefix(idempotencyKey, "accrual:") || strings.HasPrefix(idempotencyKey, "release:")
}

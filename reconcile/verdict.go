package reconcile

import "fmt"

// Judge compares the day's statement with the ledger: it sets the report's
// Difference (statement − ledger), Agrees and Verdict from its balances
// and counts. It is the one place that decides whether the ledger agrees
// with the bank: a statement of the day was imported and its closing
// balance is the ledger account's at the end of the day.
func (r *Report) Judge() {
	r.Difference = r.StatementClosing.Sub(r.LedgerClosing)
	r.Agrees = r.StatementFound && r.Difference.IsZero()
	r.Verdict = r.sentence()
}

// sentence says the report in one sentence.
func (r Report) sentence() string {
	matched := 0
	for _, c := range r.Matched {
		matched += c.Count
	}
	tail := fmt.Sprintf("%d statement lines, %d matched, %d unmatched; %d open exceptions; %d payments in transit (%s).",
		r.Lines, matched, r.Unmatched.Count, r.OpenTotal.Count, r.InTransitTotal.Count, r.InTransitTotal.Sum.StringFixed(2))
	if r.StatementSimulated {
		tail += " The statement came from the bank simulator of dev mode, not from a bank: nobody was paid."
	}
	switch {
	case !r.StatementFound:
		return fmt.Sprintf("No statement of %s was imported for %s: nothing to reconcile yet. %s", r.Account, r.Date, tail)
	case r.Agrees:
		return fmt.Sprintf("The ledger agrees with the bank on %s: %s %s = statement closing balance %s. %s", r.Date, r.LedgerAccount,
			r.LedgerClosing.StringFixed(2), r.StatementClosing.StringFixed(2), tail)
	}
	return fmt.Sprintf("The ledger and the bank DIFFER by %s on %s: statement closing balance %s, %s %s. %s", r.Difference.StringFixed(2),
		r.Date, r.StatementClosing.StringFixed(2), r.LedgerAccount, r.LedgerClosing.StringFixed(2), tail)
}

// Headline says in plain words whether the ledger agrees with the bank,
// as Judge decided it: the first line of a report shown to a person.
func (r Report) Headline() string {
	switch {
	case !r.StatementFound:
		return fmt.Sprintf("no statement of %s was imported: there is nothing to compare the ledger with", r.Date)
	case r.Agrees:
		return "the ledger agrees with the bank"
	}
	return fmt.Sprintf("the ledger and the bank differ by %s EUR", r.Difference.Abs().StringFixed(2))
}

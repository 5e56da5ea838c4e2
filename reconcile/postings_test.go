package reconcile_test

import (
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/reconcile"
)

func mustDate(s string) ledger.Date {
	d, err := ledger.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// side is one expected line of an entry: an account and its signed amount
// (debit positive), to the cent.
type side struct {
	account, amount string
}

// chartAccount reports whether the chart has account: one of ledger.Chart,
// a sub-account of a sub-ledger of it, or a bank:<name> account of
// BANK_ACCOUNTS.
func chartAccount(account string) bool {
	for _, a := range ledger.Chart {
		if a.Code == account || (a.SubLedger && strings.HasPrefix(account, a.Code+":")) {
			return true
		}
	}
	return strings.HasPrefix(account, "bank:") && len(account) > len("bank:")
}

// checkEntry checks an entry against the lines it must have: every line's
// account is of the chart, the lines balance per currency, and each
// amount is the one expected, to the cent.
func checkEntry(t *testing.T, e ledger.NewEntry, key string, want []side) {
	t.Helper()
	if e.IdempotencyKey != key {
		t.Errorf("key %q, want %q", e.IdempotencyKey, key)
	}
	if e.EffectiveDate.IsZero() || e.Description == "" || e.SourceRef == "" {
		t.Errorf("entry without its date, description or source: %+v", e)
	}
	sums := map[string]decimal.Decimal{}
	for _, l := range e.Lines {
		if !chartAccount(l.Account) {
			t.Errorf("account %q is not of the chart", l.Account)
		}
		if l.Amount.Exponent() < -2 {
			t.Errorf("%s: %s is not to the cent", l.Account, l.Amount)
		}
		cur := l.Currency
		if cur == "" {
			cur = ledger.Currency
		}
		sums[cur] = sums[cur].Add(l.Amount)
	}
	for cur, s := range sums {
		if !s.IsZero() {
			t.Errorf("the lines in %s add up to %s, not zero", cur, s)
		}
	}
	if len(e.Lines) != len(want) {
		t.Fatalf("%d lines, want %d: %+v", len(e.Lines), len(want), e.Lines)
	}
	for i, w := range want {
		if l := e.Lines[i]; l.Account != w.account || l.Amount.StringFixed(2) != dec(w.amount).StringFixed(2) {
			t.Errorf("line %d: %s %s, want %s %s", i, l.Account, l.Amount.StringFixed(2), w.account, w.amount)
		}
	}
}

func TestPostingRules(t *testing.T) {
	stmt := uuid.MustParse("0b8e5f0e-6a55-4d6b-9b1e-8f2d6b0c7a11")
	match := uuid.MustParse("9c1f0d2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f")
	day := mustDate("2026-11-06")
	debit := func(amount, bank string) reconcile.PostedLine {
		return reconcile.PostedLine{Line: reconcile.LineRef{StatementID: stmt, Index: 3}, Direction: reconcile.Debit, Amount: dec(amount),
			Booking: day, Bank: bank}
	}
	credit := func(amount, bank string) reconcile.PostedLine {
		l := debit(amount, bank)
		l.Direction = reconcile.Credit
		return l
	}
	dayKey := func(rule string, matches ...string) string {
		return "recon:" + rule + ":2026-11-06:" + uuid.NewSHA1(uuid.MustParse("3b6f1d2a-8e47-4c09-a1f5-7d2e9c84b0a6"),
			[]byte(strings.Join(matches, ","))).String()
	}
	tests := []struct {
		name  string
		entry ledger.NewEntry
		key   string
		want  []side
	}{
		{"booked by EndToEndId", reconcile.BookDay(reconcile.DayBooking{Rule: reconcile.RuleEndToEnd, Bank: ledger.BankMain, Day: day,
			Sum: dec("1234.56"), Matches: []string{"m1", "m2"}, Statement: stmt}),
			dayKey("end_to_end", "m1", "m2"), []side{{ledger.PaymentsInTransit, "1234.56"}, {ledger.BankMain, "-1234.56"}}},
		{"booked by payment file, on another account", reconcile.BookDay(reconcile.DayBooking{Rule: reconcile.RuleBatch, Bank: "bank:reserve",
			Day: day, Sum: dec("99990.00"), Matches: []string{"m3"}, Statement: stmt}),
			dayKey("batch", "m3"), []side{{ledger.PaymentsInTransit, "99990.00"}, {"bank:reserve", "-99990.00"}}},
		{"bank charges", reconcile.BookDay(reconcile.DayBooking{Rule: reconcile.RuleFee, Bank: ledger.BankMain, Day: day, Sum: dec("1.50"),
			Matches: []string{"f1"}, Statement: stmt}),
			dayKey("fee", "f1"), []side{{ledger.ExpenseBankFees, "1.50"}, {ledger.BankMain, "-1.50"}}},
		{"return in full", reconcile.ReturnPayment(credit("204.00", ledger.BankMain), reconcile.Returned{Match: match, Payment: "L1",
			Beneficiary: "H4", Paid: dec("204.00"), Reason: "AC04"}),
			"recon:return:" + match.String(), []side{{ledger.BankMain, "204.00"}, {"payable:H4", "-204.00"}}},
		{"return with a fee withheld", reconcile.ReturnPayment(credit("201.35", ledger.BankMain), reconcile.Returned{Match: match, Payment: "L1",
			Beneficiary: "H4", Paid: dec("204.00"), Reason: "AC04"}),
			"recon:return:" + match.String(), []side{{ledger.BankMain, "201.35"}, {ledger.ExpenseBankFees, "2.65"}, {"payable:H4", "-204.00"}}},
		{"matched by hand", reconcile.MatchByPerson(debit("411.80", ledger.BankMain), reconcile.RuleManual, match, "claire"),
			"recon:manual:" + match.String(), []side{{ledger.PaymentsInTransit, "411.80"}, {ledger.BankMain, "-411.80"}}},
		{"suggestion confirmed", reconcile.MatchByPerson(debit("411.80", "bank:reserve"), reconcile.RuleSuggestion, match, "claire"),
			"recon:suggestion:" + match.String(), []side{{ledger.PaymentsInTransit, "411.80"}, {"bank:reserve", "-411.80"}}},
		{"a debit to suspense", reconcile.BookToSuspense(debit("44.00", ledger.BankMain), match, "unknown"),
			"recon:suspense:" + match.String(), []side{{ledger.Suspense, "44.00"}, {ledger.BankMain, "-44.00"}}},
		{"a credit to suspense", reconcile.BookToSuspense(credit("44.00", ledger.BankMain), match, "unknown"),
			"recon:suspense:" + match.String(), []side{{ledger.BankMain, "44.00"}, {ledger.Suspense, "-44.00"}}},
		{"undo of a booking", reconcile.UndoMatch(match, day, reconcile.MatchEffect(reconcile.RuleEndToEnd, debit("204.00", ledger.BankMain)), "wrong"),
			"recon:undo:" + match.String(), []side{{ledger.PaymentsInTransit, "-204.00"}, {ledger.BankMain, "204.00"}}},
		{"undo of a fee", reconcile.UndoMatch(match, day, reconcile.MatchEffect(reconcile.RuleFee, debit("1.50", ledger.BankMain)), "wrong"),
			"recon:undo:" + match.String(), []side{{ledger.ExpenseBankFees, "-1.50"}, {ledger.BankMain, "1.50"}}},
		{"undo of a credit to suspense", reconcile.UndoMatch(match, day, reconcile.MatchEffect(reconcile.RuleSuspense, credit("44.00", "bank:reserve")), "wrong"),
			"recon:undo:" + match.String(), []side{{"bank:reserve", "-44.00"}, {ledger.Suspense, "44.00"}}},
		{"undo of a return with a fee", reconcile.UndoMatch(match, day, reconcile.ReturnPayment(credit("201.35", ledger.BankMain),
			reconcile.Returned{Match: match, Payment: "L1", Beneficiary: "H4", Paid: dec("204.00"), Reason: "AC04"}).Lines, "wrong"),
			"recon:undo:" + match.String(), []side{{ledger.BankMain, "-201.35"}, {ledger.ExpenseBankFees, "-2.65"}, {"payable:H4", "204.00"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkEntry(t, tt.entry, tt.key, tt.want) })
	}
}

// The undoing of a match leaves the lines it is made from as they were:
// the entry of a return is read back from its stored lines.
func TestUndoMatchKeepsItsInput(t *testing.T) {
	effect := reconcile.MatchEffect(reconcile.RuleEndToEnd, reconcile.PostedLine{Direction: reconcile.Debit, Amount: dec("10.00"), Bank: ledger.BankMain})
	reconcile.UndoMatch(uuid.New(), mustDate("2026-11-06"), effect, "wrong")
	if !effect[0].Amount.Equal(dec("10.00")) {
		t.Fatalf("the match's lines changed: %+v", effect)
	}
}

// Each posting rule moves accounts of the chart, and the README's chart of
// accounts says when each account the reconciliation moves moves.
func TestPostingRulesMoveAccountsOfTheChart(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	chart := map[string]string{} // README account cell → moves when
	in := false
	for _, line := range strings.Split(string(readme), "\n") {
		switch {
		case strings.HasPrefix(line, "## Chart of accounts"):
			in = true
		case in && strings.HasPrefix(line, "## "):
			in = false
		case in && strings.HasPrefix(line, "| `"):
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for _, a := range strings.Split(cells[0], "`") {
				if a = strings.TrimSpace(a); a != "" && !strings.ContainsAny(a, " ,(") {
					chart[a] = strings.TrimSpace(cells[len(cells)-1])
				}
			}
		}
	}
	rendered := map[string][]string{} // account → when, from the rules
	for _, r := range reconcile.PostingRules() {
		if r.Name == "" || r.When == "" || r.Debit == "" || r.Credit == "" {
			t.Errorf("rule %+v is not described whole", r)
		}
		if r.Name == "undo" {
			continue
		}
		for _, a := range []string{r.Debit, r.Credit} {
			accounts := []string{a}
			if a == reconcile.StatementBank {
				accounts = []string{ledger.BankMain, "bank:<name>"}
			}
			for _, a := range accounts {
				rendered[a] = append(rendered[a], r.When)
			}
		}
	}
	for account, whens := range rendered {
		code := account
		if strings.HasPrefix(account, ledger.Payable+":") {
			code = ledger.Payable + ":<beneficiary>"
		}
		if !chartAccount(strings.ReplaceAll(account, "<name>", "reserve")) {
			t.Errorf("account %s of the rules is not of the chart", account)
		}
		if chart[code] == "" {
			t.Errorf("the README's chart of accounts has no row for %s, moved when %s", code, strings.Join(whens, "; "))
		}
	}
	// The reconciliation moves these accounts, the payments the others: the
	// rules and the README say the same of them.
	for account, want := range map[string]string{ledger.BankMain: "statement", "bank:<name>": "statement", ledger.Suspense: "statement line",
		ledger.ExpenseBankFees: "fee", ledger.PaymentsInTransit: "statement"} {
		if !strings.Contains(chart[account], want) {
			t.Errorf("README: %s moves when %q, the rules when %q", account, chart[account], strings.Join(rendered[account], "; "))
		}
	}
}

package payments_test

import (
	"bufio"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func rowsOf[T any](vs ...T) payments.Rows[T] {
	return func(yield func(T) error) error {
		for _, v := range vs {
			if err := yield(v); err != nil {
				return err
			}
		}
		return nil
	}
}

// bulkLines returns the lines a bulk entry yields and its contra line
// (one chunk: minus their sum), as the ledger posts them.
func bulkLines(t *testing.T, e ledger.BulkEntry) []ledger.Line {
	t.Helper()
	var out []ledger.Line
	sum := decimal.Zero
	if err := e.Lines(func(l ledger.Line) error {
		out = append(out, l)
		sum = sum.Add(l.Amount)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(out) > 0 {
		out = append(out, ledger.Line{Account: e.Contra, Amount: sum.Neg(), Memo: e.ContraMemo})
	}
	return out
}

// checkBalanced fails unless lines sum to zero (every account of the
// payments is in euros).
func checkBalanced(t *testing.T, lines []ledger.Line) {
	t.Helper()
	sum := decimal.Zero
	for _, l := range lines {
		if l.Currency != "" && l.Currency != "EUR" {
			t.Errorf("line %+v is in %s, the payments post in EUR", l, l.Currency)
		}
		sum = sum.Add(l.Amount)
	}
	if !sum.IsZero() {
		t.Errorf("lines sum to %s, not zero: %+v", sum, lines)
	}
}

type wantLine struct{ account, amount, memo string }

func checkLines(t *testing.T, got []ledger.Line, want []wantLine) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d lines %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i, w := range want {
		g := got[i]
		if g.Account != w.account || g.Amount.StringFixed(2) != w.amount || g.Memo != w.memo {
			t.Errorf("line %d = %s %s %q, want %s %s %q", i, g.Account, g.Amount.StringFixed(2), g.Memo, w.account, w.amount, w.memo)
		}
	}
}

// rule returns the posting rule of event.
func rule(t *testing.T, event string) payments.PostingRule {
	t.Helper()
	for _, r := range payments.PostingRules() {
		if r.Event == event {
			return r
		}
	}
	t.Fatalf("no posting rule %q", event)
	return payments.PostingRule{}
}

// matches reports whether account is one the pattern names: a
// <placeholder> stands for any non-empty rest.
func matches(pattern, account string) bool {
	if i := strings.Index(pattern, "<"); i >= 0 {
		return strings.HasPrefix(account, pattern[:i]) && len(account) > i
	}
	return pattern == account
}

// checkRule fails unless every debit of lines is on an account the rule
// debits, and every credit on one it credits.
func checkRule(t *testing.T, r payments.PostingRule, key string, lines []ledger.Line) {
	t.Helper()
	if !regexp.MustCompile(`^` + regexp.MustCompile(`<[a-z_]+>`).ReplaceAllString(regexp.QuoteMeta(r.Key), `[^:]+`) + `$`).MatchString(key) {
		t.Errorf("key %q is not of the rule's form %q", key, r.Key)
	}
	for _, l := range lines {
		side := r.Debit
		if l.Amount.IsNegative() {
			side = r.Credit
		}
		if !slices.ContainsFunc(side, func(p string) bool { return matches(p, l.Account) }) {
			t.Errorf("line %s %s is not on an account the rule %q moves that way (debit %v, credit %v)",
				l.Account, l.Amount.StringFixed(2), r.Event, r.Debit, r.Credit)
		}
	}
}

var (
	batchID    = uuid.MustParse("5f0c1d2e-3a4b-4c5d-8e6f-708192a3b4c5")
	approvedAt = time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC) // 1 December in Paris
	period     = payments.Period{Year: 2026, Month: 11}
)

func TestAccrualPosting(t *testing.T) {
	b := payments.Batch{ID: batchID, Period: period, ApprovedAt: approvedAt}
	for _, tc := range []struct {
		scheme  payments.Scheme
		lines   []payments.AccrualLine
		want    []wantLine
		label   string
		expense string
	}{
		{payments.SchemeADA, []payments.AccrualLine{
			{ID: "L1", BeneficiaryID: "B1", Net: dec("204.00")},
			{ID: "L2", BeneficiaryID: "B2", Net: dec("150.10"), Deduction: dec("53.90")},
			{ID: "L3", BeneficiaryID: "B3", Net: dec("0"), Deduction: dec("204.00")}, // wholly withheld
			{ID: "L4", BeneficiaryID: "B4"},                                          // nothing due
		}, []wantLine{
			{"payable:B1", "-204.00", "L1"},
			{"payable:B2", "-150.10", "L2"},
			{"receivable:overpayment:B2", "-53.90", "L2"},
			{"receivable:overpayment:B3", "-204.00", "L3"},
			{"expense:ada", "612.00", "batch " + batchID.String()},
		}, "ADA", ledger.ExpenseADA},
		{payments.SchemeReturn, []payments.AccrualLine{{ID: "R1", BeneficiaryID: "B9", Net: dec("650.01")}},
			[]wantLine{{"payable:B9", "-650.01", "R1"}, {"expense:return", "650.01", "batch " + batchID.String()}}, "AIDE AU RETOUR", ledger.ExpenseReturn},
		{payments.SchemeReinsertion, []payments.AccrualLine{{ID: "T1", BeneficiaryID: "B8", Net: dec("0.01")}},
			[]wantLine{{"payable:B8", "-0.01", "T1"}, {"expense:reinsertion", "0.01", "batch " + batchID.String()}}, "AIDE REINSERTION", ledger.ExpenseReinsertion},
		{payments.SchemeBusinessCreation, []payments.AccrualLine{{ID: "C1", BeneficiaryID: "B7", Net: dec("3000.00")}},
			[]wantLine{{"payable:B7", "-3000.00", "C1"}, {"expense:business-creation", "3000.00", "batch " + batchID.String()}}, "AIDE CREATION ENTREPRISE", ledger.ExpenseBusinessCreation},
	} {
		t.Run(string(tc.scheme), func(t *testing.T) {
			e, err := payments.AccrualPosting(b, tc.scheme, rowsOf(tc.lines...))
			if err != nil {
				t.Fatal(err)
			}
			if e.IdempotencyKey != "accrual:"+batchID.String()+":"+string(tc.scheme) || e.Contra != tc.expense ||
				e.EffectiveDate.String() != "2026-12-01" || e.SourceRef != "batch:"+batchID.String() ||
				e.Description != tc.label+" 2026-11 batch approved ("+string(tc.scheme)+")" {
				t.Errorf("entry = %q %s %s %q %q", e.IdempotencyKey, e.Contra, e.EffectiveDate, e.SourceRef, e.Description)
			}
			lines := bulkLines(t, e)
			checkLines(t, lines, tc.want)
			checkBalanced(t, lines)
			checkRule(t, rule(t, "batch approved"), e.IdempotencyKey, lines)
		})
	}
	if _, err := payments.AccrualPosting(b, "lottery", rowsOf[payments.AccrualLine]()); err == nil {
		t.Error("a scheme without an expense account was accrued")
	}
	// An error of the reader stops the lines.
	stop := errors.New("read failed")
	e, _ := payments.AccrualPosting(b, payments.SchemeADA, func(func(payments.AccrualLine) error) error { return stop })
	if err := e.Lines(func(ledger.Line) error { return nil }); !errors.Is(err, stop) {
		t.Errorf("lines = %v, want the reader's error", err)
	}
}

func TestAccruesOnApproval(t *testing.T) {
	if !payments.AccruesOnApproval(payments.Batch{Kind: payments.RunADA}) || payments.AccruesOnApproval(payments.Batch{Kind: payments.RunReissue}) {
		t.Error("a run's batch accrues on approval, a reissue batch does not (the first batch accrued it)")
	}
}

func TestOverpaymentPosting(t *testing.T) {
	e := payments.OverpaymentPosting(payments.EstablishedOverpayment{ID: "OP-B2-2026-10", BeneficiaryID: "B2", Amount: dec("53.90"),
		EstablishedAt: approvedAt})
	if e.IdempotencyKey != "overpayment:OP-B2-2026-10" || e.EffectiveDate.String() != "2026-12-01" ||
		e.Description != "Overpayment OP-B2-2026-10 established" || e.SourceRef != "overpayment:OP-B2-2026-10" {
		t.Errorf("entry = %+v", e)
	}
	checkLines(t, e.Lines, []wantLine{{"receivable:overpayment:B2", "53.90", "OP-B2-2026-10"}, {"expense:ada", "-53.90", "OP-B2-2026-10"}})
	checkBalanced(t, e.Lines)
	checkRule(t, rule(t, "overpayment established (its batch approved)"), e.IdempotencyKey, e.Lines)
}

func TestReleasePosting(t *testing.T) {
	b := payments.Batch{ID: batchID, Workflow: payments.Workflow{ReleasedAt: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}}
	f := payments.PaymentFile{MsgID: "OFII-20261203-5f0c1d2e3a4b-001", Transactions: 2}
	e := payments.ReleasePosting(b, f, rowsOf(
		payments.FilePayment{LineID: "L1", BeneficiaryID: "B1", Amount: dec("204.00")},
		payments.FilePayment{LineID: "L2", BeneficiaryID: "B2", Amount: dec("150.10")}))
	if e.IdempotencyKey != "release:"+f.MsgID || e.EffectiveDate.String() != "2026-12-02" || e.SourceRef != "file:"+f.MsgID ||
		e.Description != "Payment file "+f.MsgID+" released to the bank (2 payments)" {
		t.Errorf("entry = %+v", e)
	}
	lines := bulkLines(t, e)
	checkLines(t, lines, []wantLine{{"payable:B1", "204.00", "L1"}, {"payable:B2", "150.10", "L2"}, {"payments-in-transit", "-354.10", f.MsgID}})
	checkBalanced(t, lines)
	checkRule(t, rule(t, "payment file released"), e.IdempotencyKey, lines)
}

func TestRejectionPosting(t *testing.T) {
	received := time.Date(2026, 12, 3, 22, 59, 0, 0, time.UTC) // 3 December, 23:59 in Paris
	e := payments.RejectionPosting("RPT-1", received, rowsOf(
		payments.FilePayment{LineID: "L2", BeneficiaryID: "B2", Amount: dec("150.10")},
		payments.FilePayment{LineID: "L5", BeneficiaryID: "B5", Amount: dec("0.99")}))
	if e.IdempotencyKey != "rejected:RPT-1" || e.EffectiveDate.String() != "2026-12-03" || e.SourceRef != "report:RPT-1" ||
		e.Description != "Payments rejected by the bank (status report RPT-1)" {
		t.Errorf("entry = %+v", e)
	}
	lines := bulkLines(t, e)
	checkLines(t, lines, []wantLine{{"payable:B2", "-150.10", "L2"}, {"payable:B5", "-0.99", "L5"}, {"payments-in-transit", "151.09", "RPT-1"}})
	checkBalanced(t, lines)
	checkRule(t, rule(t, "payments rejected by the bank (pain.002)"), e.IdempotencyKey, lines)
	if lines := bulkLines(t, payments.RejectionPosting("RPT-2", received, rowsOf[payments.FilePayment]())); len(lines) != 0 {
		t.Errorf("a report rejecting nothing posts %+v", lines)
	}
}

func TestReversals(t *testing.T) {
	entry := uuid.MustParse("11111111-2222-4333-8444-555555555555")
	at := time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC) // 1 January in Paris
	c := payments.CancelReversal(payments.Batch{ID: batchID}, payments.SchemeReturn, entry, "wrong month", at)
	if c.EntryID != entry || c.IdempotencyKey != "cancel:"+batchID.String()+":return" || c.EffectiveDate.String() != "2027-01-01" ||
		c.Reason != "batch cancelled: wrong month" {
		t.Errorf("cancel reversal = %+v", c)
	}
	checkRule(t, rule(t, "approved batch cancelled (its accrual reversed)"), c.IdempotencyKey, nil)
	w := payments.WithdrawalReversal(payments.PaymentFile{MsgID: "OFII-X-001"}, entry, "bank closed", at)
	if w.EntryID != entry || w.IdempotencyKey != "withdraw:OFII-X-001" || w.EffectiveDate.String() != "2027-01-01" ||
		w.Reason != "payment file withdrawn before it was sent: bank closed" {
		t.Errorf("withdrawal reversal = %+v", w)
	}
	checkRule(t, rule(t, "payment file withdrawn before it was sent (its release reversed)"), w.IdempotencyKey, nil)
	// A reversal moves the accounts of what it reverses the other way.
	for _, p := range [][2]string{
		{"batch approved", "approved batch cancelled (its accrual reversed)"},
		{"payment file released", "payment file withdrawn before it was sent (its release reversed)"},
	} {
		orig, rev := rule(t, p[0]), rule(t, p[1])
		if !sameSet(orig.Debit, rev.Credit) || !sameSet(orig.Credit, rev.Debit) {
			t.Errorf("%q does not move back what %q moved: %+v, %+v", p[1], p[0], rev, orig)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}

// TestPostingRulesAreOfTheChart checks that every account a rule moves is
// in the chart of accounts (ledger.Chart), or a sub-ledger account of one
// of its sub-ledgers.
func TestPostingRulesAreOfTheChart(t *testing.T) {
	sub := map[string]bool{}
	plain := map[string]bool{}
	for _, a := range ledger.Chart {
		plain[a.Code] = true
		if a.SubLedger {
			sub[a.Code] = true
		}
	}
	for _, r := range payments.PostingRules() {
		for _, acc := range slices.Concat(r.Debit, r.Credit) {
			if i := strings.Index(acc, ":<"); i >= 0 {
				if !sub[acc[:i]] {
					t.Errorf("rule %q moves %s, but %s is not a sub-ledger of the chart", r.Event, acc, acc[:i])
				}
				continue
			}
			if !plain[acc] {
				t.Errorf("rule %q moves %s, which is not in the chart", r.Event, acc)
			}
		}
		for acc := range r.Chart {
			if !slices.Contains(r.Debit, acc) && !slices.Contains(r.Credit, acc) {
				t.Errorf("rule %q tells the chart of %s, which it does not move", r.Event, acc)
			}
		}
	}
}

// TestReadmeChartRowsOfThePayments renders the "moves when" column of the
// README's chart of accounts from the posting rules of the payments: a row
// every account of which the payments move reads their phrases, in the
// order of the rules, joined by "; " (a row shared with the reconciliation
// goes on with its phrases).
func TestReadmeChartRowsOfThePayments(t *testing.T) {
	rows := readmeChart(t)
	rules := payments.PostingRules()
	told := map[string]bool{}
	for _, row := range rows {
		var phrases []string
		for _, acc := range row.accounts {
			for _, r := range rules {
				if p := r.Chart[acc]; p != "" && !slices.Contains(phrases, p) {
					phrases = append(phrases, p)
				}
				if r.Chart[acc] != "" {
					told[acc] = true
				}
			}
		}
		if len(phrases) == 0 {
			continue
		}
		want := strings.Join(phrases, "; ")
		if row.movesWhen != want && !strings.HasPrefix(row.movesWhen, want+"; ") {
			t.Errorf("README chart row %v says %q, the posting rules %q", row.accounts, row.movesWhen, want)
		}
	}
	for _, r := range rules {
		for acc := range r.Chart {
			if !told[acc] {
				t.Errorf("rule %q tells of %s, which no row of the README's chart of accounts names", r.Event, acc)
			}
		}
	}
}

type chartRow struct {
	accounts  []string
	movesWhen string
}

// readmeChart reads the table under "## Chart of accounts" of the README:
// the accounts of a row are the `quoted` names of its first cell outside
// parentheses.
func readmeChart(t *testing.T) []chartRow {
	t.Helper()
	f, err := os.Open("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	quoted := regexp.MustCompile("`([^`]+)`")
	paren := regexp.MustCompile(`\([^)]*\)`)
	var out []chartRow
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "## Chart of accounts":
			in = true
		case in && strings.HasPrefix(line, "## "):
			in = false
		case in && strings.HasPrefix(line, "| `"):
			cells := strings.Split(strings.Trim(line, "|"), "|")
			if len(cells) != 3 {
				t.Fatalf("chart row %q has %d cells, want 3", line, len(cells))
			}
			var row chartRow
			for _, m := range quoted.FindAllStringSubmatch(paren.ReplaceAllString(cells[0], ""), -1) {
				row.accounts = append(row.accounts, m[1])
			}
			row.movesWhen = strings.TrimSpace(cells[2])
			out = append(out, row)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("the README has no chart of accounts")
	}
	return out
}

package sqlstore_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank/banksim"
	"github.com/ofii/allowances/reconcile"
	"github.com/ofii/allowances/reconcile/sqlstore"
)

// cfonbFile writes a CFONB 120 statement of an account (bank, branch and
// account numbers of a French IBAN) for a day: its 01, the movements given
// as 04 records each followed by its 05 complements, and its 07.
type cfonbFile struct {
	bank, branch, acct string
	day                ledger.Date
	opening            decimal.Decimal
	sum                decimal.Decimal
	recs               []string
}

func newCFONB(iban string, day ledger.Date, opening decimal.Decimal) *cfonbFile {
	f := &cfonbFile{bank: iban[4:9], branch: iban[9:14], acct: iban[14:25], day: day, opening: opening, sum: opening}
	f.recs = append(f.recs, f.rec("01", map[int]string{35: f.ddmmyy(day.AddDays(-1)), 91: cfonbAmount(opening)}))
	return f
}

func (f *cfonbFile) ddmmyy(d ledger.Date) string { return d.Time().Format("020106") }

// rec is a record of code with the given columns (1-based) set.
func (f *cfonbFile) rec(code string, cols map[int]string) string {
	b := []byte(strings.Repeat(" ", 120))
	put := func(c int, s string) { copy(b[c-1:], s) }
	put(1, code)
	put(3, f.bank)
	put(12, f.branch)
	put(17, "EUR2")
	put(22, f.acct)
	for c, s := range cols {
		put(c, s)
	}
	return string(b[:120])
}

// move adds a movement: signed amount (a credit positive), its label, its
// reject code (columns 41-42, "" for none) and its complements, each a
// qualifier and its text ("RCN", "H1-...").
func (f *cfonbFile) move(amount decimal.Decimal, label, reject string, complements ...[2]string) {
	n := len(f.recs)
	f.recs = append(f.recs, f.rec("04", map[int]string{8: "0106", 33: "65", 35: f.ddmmyy(f.day), 41: fmt.Sprintf("%-2s", reject),
		43: f.ddmmyy(f.day), 49: label, 82: fmt.Sprintf("%07d", n), 91: cfonbAmount(amount), 105: fmt.Sprintf("REF%012d", n)}))
	for _, c := range complements {
		f.recs = append(f.recs, f.rec("05", map[int]string{8: "0106", 33: "65", 35: f.ddmmyy(f.day), 46: c[0], 49: c[1]}))
	}
	f.sum = f.sum.Add(amount)
}

func (f *cfonbFile) bytes() []byte {
	recs := append(append([]string{}, f.recs...), f.rec("07", map[int]string{35: f.ddmmyy(f.day), 91: cfonbAmount(f.sum)}))
	return []byte(strings.Join(recs, "\n") + "\n")
}

// cfonbAmount writes a signed amount in cents as CFONB does: 13 digits and
// a last character holding the last digit and the sign.
func cfonbAmount(a decimal.Decimal) string {
	cents := a.Abs().Shift(2).IntPart()
	s := fmt.Sprintf("%014d", cents)
	last := int(s[13] - '0')
	c := "{ABCDEFGHI"[last]
	if a.IsNegative() {
		c = "}JKLMNOPQR"[last]
	}
	return s[:13] + string(c)
}

// TestCFONBReturnReasonInAComplement imports a French bank's statement on
// which a payment is booked and then returned, the return's reason being
// written only in a LIB complement ("MOTIF:AC04"), columns 41-42 blank, as
// French banks do: the return rule matches it, the payable is back, the
// payment exception carries the reason, and the report agrees.
func TestCFONBReturnReasonInAComplement(t *testing.T) {
	e := newEnv(t, banksim.Config{}, 1)
	batches, _ := e.runs.Batches(e.ctx, payments.BatchFilter{})
	page, _, _ := e.runs.BatchLines(e.ctx, batches[0].ID, "", 100)
	h1 := page[0]
	day := ledger.NewDate(2026, 11, 6)
	f := newCFONB(account, day, funding)
	f.move(h1.Net.Neg(), "VIR SEPA EMIS ADA OCT 2026", "", [2]string{"RCN", h1.ID}, [2]string{"NBE", "HOUSEHOLD 1"})
	f.move(h1.Net, "RETOUR VIR SEPA", "", [2]string{"RCN", h1.ID}, [2]string{"NPY", "HOUSEHOLD 1"},
		[2]string{"LIB", "RETOUR VIR SEPA MOTIF:AC04 COMPTE CLOS"})
	res, err := e.rec.Import(e.ctx, f.bytes(), controller)
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != reconcile.FormatCFONB120 || res.Match.Matched[reconcile.RuleEndToEnd].Count != 1 ||
		res.Match.Matched[reconcile.RuleReturn].Count != 1 || res.Match.Unmatched != 0 {
		t.Fatalf("import: %+v", res)
	}
	var reason string
	if err := e.pool.QueryRow(e.ctx, `SELECT return_reason FROM statement_lines WHERE idx = 2`).Scan(&reason); err != nil || reason != "AC04" {
		t.Errorf("return reason stored %q (%v), want AC04", reason, err)
	}
	wantAmount(t, "payable of H1", e.balance(ledger.SubAccount(ledger.Payable, "H1")), h1.Net)
	wantAmount(t, "bank:main", e.balance(ledger.BankMain), funding)
	pe, _ := e.ap.Exceptions(e.ctx, payments.ExceptionFilter{Status: payments.ExceptionOpen})
	if len(pe) != 1 || pe[0].LineID != h1.ID || pe[0].ReasonCode != "AC04" || !strings.Contains(pe[0].Reason, "the account is closed") {
		t.Errorf("payment exceptions: %+v", pe)
	}
	open, _ := e.rec.Exceptions(e.ctx, reconcile.ExceptionFilter{Status: reconcile.ExceptionOpen})
	if len(open) != 1 || open[0].Kind != reconcile.ExceptionReturned || !strings.Contains(open[0].Reason, "AC04: the account is closed") {
		t.Errorf("reconciliation exceptions: %+v", open)
	}
	r := e.report(day)
	if !r.Agrees || r.Lines != 2 || r.Unmatched.Count != 0 || !r.Matched[reconcile.RuleReturn].Sum.Equal(h1.Net) {
		t.Errorf("report: %s %+v", r.Verdict, r)
	}
	e.verify()
}

// TestSeveralServiceAccounts imports a file holding the statements of two
// of the service's accounts and of a foreign one: both of the service's
// are imported, each posted to its ledger account (bank:main for the
// paying account, bank:reserve for the other), the foreign one skipped;
// the report of each account agrees with its ledger account.
func TestSeveralServiceAccounts(t *testing.T) {
	e := newEnv(t, banksim.Config{}, 2)
	reserve, foreign := iban(7), iban(9)
	if err := ledger.SetUpChart(e.ctx, e.ledger, ledger.BankAccount("bank:reserve", reserve)); err != nil {
		t.Fatal(err)
	}
	reserveFunds := decimal.RequireFromString("5000.00")
	if _, err := e.ledger.Post(e.ctx, ledger.NewEntry{IdempotencyKey: "funding-reserve", EffectiveDate: ledger.NewDate(2026, 11, 1),
		Description: "funding of the reserve", Lines: []ledger.Line{{Account: "bank:reserve", Amount: reserveFunds},
			{Account: ledger.StateFunding, Amount: reserveFunds.Neg()}}}); err != nil {
		t.Fatal(err)
	}
	rec, err := newRecon(e.pool, e.ledger, sqlstore.Config{Account: account, Accounts: map[string]string{reserve: "bank:reserve"},
		Now: e.clock, Logger: quiet()}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlstore.New(e.pool, e.ledger, sqlstore.Config{Account: account, Accounts: map[string]string{reserve: ledger.BankMain}}); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("another account posted to bank:main: %v", err)
	}
	batches, _ := e.runs.Batches(e.ctx, payments.BatchFilter{})
	page, _, _ := e.runs.BatchLines(e.ctx, batches[0].ID, "", 100)
	h1, h2 := page[0], page[1]
	day := ledger.NewDate(2026, 11, 6)
	main := newCFONB(account, day, funding)
	main.move(h1.Net.Neg(), "VIR SEPA EMIS", "", [2]string{"RCN", h1.ID})
	other := newCFONB(reserve, day, reserveFunds)
	other.move(h2.Net.Neg(), "VIR SEPA EMIS", "", [2]string{"RCN", h2.ID})
	provision := decimal.RequireFromString("500.00")
	other.move(provision, "VIREMENT PROVISION", "", [2]string{"NPY", "DRFIP"})
	alien := newCFONB(foreign, day, decimal.RequireFromString("42.00"))
	alien.move(decimal.RequireFromString("-2.00"), "FRAIS", "")
	file := append(append(main.bytes(), other.bytes()...), alien.bytes()...)

	res, err := rec.Import(e.ctx, file, controller)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Statements) != 2 || res.Statements[0].Account != "30001-00794-12345678901" || res.Statements[1].Account != "30006-00001-00000000007" {
		t.Errorf("imported %+v, want the two service accounts' statements", res.Statements)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].Account != "30006-00001-00000000009" || !strings.Contains(res.Skipped[0].Reason, reserve) {
		t.Errorf("skipped %+v, want the foreign account's", res.Skipped)
	}
	if res.Match.Matched[reconcile.RuleEndToEnd].Count != 2 || res.Match.Unmatched != 1 {
		t.Errorf("match: %+v", res.Match)
	}
	var main2, reserve2 int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FILTER (WHERE ledger_account = 'bank:main'), count(*) FILTER (WHERE ledger_account = 'bank:reserve')
		FROM statements`).Scan(&main2, &reserve2); err != nil || main2 != 1 || reserve2 != 1 {
		t.Errorf("statements by ledger account: %d bank:main, %d bank:reserve (%v)", main2, reserve2, err)
	}
	wantAmount(t, "bank:main", e.balance(ledger.BankMain), funding.Sub(h1.Net))
	wantAmount(t, "bank:reserve", e.balance("bank:reserve"), reserveFunds.Sub(h2.Net))
	wantAmount(t, "payments in transit", e.balance(ledger.PaymentsInTransit), decimal.Zero)

	r, err := rec.Report(e.ctx, account, day)
	if err != nil || !r.Agrees || r.LedgerAccount != ledger.BankMain || r.Lines != 1 || !strings.Contains(r.Verdict, "bank:main") {
		t.Errorf("report of the paying account: %v %+v", err, r)
	}
	r, err = rec.Report(e.ctx, reserve, day)
	if err != nil || r.Agrees || r.LedgerAccount != "bank:reserve" || r.Lines != 2 || r.Unmatched.Count != 1 || !r.Difference.Equal(provision) {
		t.Errorf("report of the reserve before the provision is explained: %v %+v", err, r)
	}
	// The provision is booked to suspense: from the reserve's ledger account.
	open, _ := rec.Exceptions(e.ctx, reconcile.ExceptionFilter{Status: reconcile.ExceptionOpen})
	if len(open) != 1 || !open[0].Amount.Equal(provision) {
		t.Fatalf("exceptions: %+v", open)
	}
	if _, err := rec.BookToSuspense(e.ctx, open[0].ID, controller, "provision from the DRFIP, ticket 12"); err != nil {
		t.Fatal(err)
	}
	wantAmount(t, "bank:reserve after the suspense", e.balance("bank:reserve"), reserveFunds.Sub(h2.Net).Add(provision))
	wantAmount(t, "bank:main after the suspense", e.balance(ledger.BankMain), funding.Sub(h1.Net))
	if r, err := rec.Report(e.ctx, reserve, day); err != nil || !r.Agrees || !strings.Contains(r.Verdict, "bank:reserve") {
		t.Errorf("report of the reserve: %v %s", err, r.Verdict)
	}
	_, err = rec.Report(e.ctx, foreign, day)
	if errs.CodeOf(err) != errs.Invalid || !strings.Contains(err.Error(), "not one of the service's accounts") {
		t.Errorf("report of a foreign account: %v", err)
	}
	e.verify()
}

// TestCFONBFrenchRejectCode imports, with a list of French reject codes
// loaded, a statement on which a payment is returned with only the bank's
// code 04 in columns 41-42: the list's ISO code AC04 is the return's
// reason, so the return rule matches it and the payment exception asks
// for the payee to be corrected, as for a camt return; the bank's code
// and libellé stay with the line's label.
func TestCFONBFrenchRejectCode(t *testing.T) {
	fr, err := reconcile.LoadFrenchReasons("../testdata/cfonb_reasons_example.csv")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, banksim.Config{}, 1)
	importer := reconcile.Importer{Store: e.rec.Store, Accounts: e.rec.Store.Accounts(), Options: reconcile.Options{FrenchReasons: fr}}
	batches, _ := e.runs.Batches(e.ctx, payments.BatchFilter{})
	page, _, _ := e.runs.BatchLines(e.ctx, batches[0].ID, "", 100)
	h1 := page[0]
	day := ledger.NewDate(2026, 11, 6)
	f := newCFONB(account, day, funding)
	f.move(h1.Net.Neg(), "VIR SEPA EMIS ADA OCT 2026", "", [2]string{"RCN", h1.ID}, [2]string{"NBE", "HOUSEHOLD 1"})
	f.move(h1.Net, "RETOUR VIR SEPA", "04", [2]string{"RCN", h1.ID}, [2]string{"NPY", "HOUSEHOLD 1"})
	res, err := importer.Import(e.ctx, f.bytes(), controller)
	if err != nil {
		t.Fatal(err)
	}
	if res.Match.Matched[reconcile.RuleEndToEnd].Count != 1 || res.Match.Matched[reconcile.RuleReturn].Count != 1 || res.Match.Unmatched != 0 {
		t.Fatalf("import: %+v", res)
	}
	var reason, label string
	if err := e.pool.QueryRow(e.ctx, `SELECT return_reason, label FROM statement_lines WHERE idx = 2`).Scan(&reason, &label); err != nil ||
		reason != "AC04" || label != "RETOUR VIR SEPA (bank reason 04: Compte clos (exemple de test))" {
		t.Errorf("stored reason %q label %q (%v)", reason, label, err)
	}
	wantAmount(t, "payable of H1", e.balance(ledger.SubAccount(ledger.Payable, "H1")), h1.Net)
	pe, _ := e.ap.Exceptions(e.ctx, payments.ExceptionFilter{Status: payments.ExceptionOpen})
	if len(pe) != 1 || pe[0].LineID != h1.ID || pe[0].ReasonCode != "AC04" || pe[0].Action != "fix_payee" {
		t.Errorf("payment exceptions: %+v", pe)
	}
	open, _ := e.rec.Exceptions(e.ctx, reconcile.ExceptionFilter{Status: reconcile.ExceptionOpen})
	if len(open) != 1 || open[0].Kind != reconcile.ExceptionReturned || !strings.Contains(open[0].Reason, "AC04: the account is closed") {
		t.Errorf("reconciliation exceptions: %+v", open)
	}
	e.verify()
}

// TestCFONBFrenchRejectCodeWithoutList imports the same return without a
// list: the bank's code 04 is kept as it is, the label untouched.
func TestCFONBFrenchRejectCodeWithoutList(t *testing.T) {
	e := newEnv(t, banksim.Config{}, 1)
	batches, _ := e.runs.Batches(e.ctx, payments.BatchFilter{})
	page, _, _ := e.runs.BatchLines(e.ctx, batches[0].ID, "", 100)
	h1 := page[0]
	day := ledger.NewDate(2026, 11, 6)
	f := newCFONB(account, day, funding)
	f.move(h1.Net.Neg(), "VIR SEPA EMIS ADA OCT 2026", "", [2]string{"RCN", h1.ID}, [2]string{"NBE", "HOUSEHOLD 1"})
	f.move(h1.Net, "RETOUR VIR SEPA", "04", [2]string{"RCN", h1.ID}, [2]string{"NPY", "HOUSEHOLD 1"})
	if _, err := e.rec.Import(e.ctx, f.bytes(), controller); err != nil {
		t.Fatal(err)
	}
	var reason, label string
	if err := e.pool.QueryRow(e.ctx, `SELECT return_reason, label FROM statement_lines WHERE idx = 2`).Scan(&reason, &label); err != nil ||
		reason != "04" || label != "RETOUR VIR SEPA" {
		t.Errorf("stored reason %q label %q (%v)", reason, label, err)
	}
	pe, _ := e.ap.Exceptions(e.ctx, payments.ExceptionFilter{Status: payments.ExceptionOpen})
	if len(pe) != 1 || pe[0].ReasonCode != "04" || pe[0].Action != "review" || !strings.Contains(pe[0].Reason, "which no loaded list of the bank's codes (CFONB_REASONS_FILE) translates") {
		t.Errorf("payment exceptions: %+v", pe)
	}
}

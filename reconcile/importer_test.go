package reconcile_test

import (
	"strings"
	"testing"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/reconcile"
)

func TestAccounts(t *testing.T) {
	const main, reserve = "FR7630001007941234567890185", "FR7610107001011234567890129"
	a, err := reconcile.NewAccounts(main, map[string]string{reserve: "bank:reserve"})
	if err != nil {
		t.Fatal(err)
	}
	for account, want := range map[string]string{main: ledger.BankMain, "fr76 3000 1007 9412 3456 7890 185": ledger.BankMain,
		"30001-00794-12345678901": ledger.BankMain, reserve: "bank:reserve", "FR7612345678901234567890123": ""} {
		if got, ok := a.LedgerAccount(account); got != want || ok != (want != "") {
			t.Errorf("%s: %q %v, want %q", account, got, ok, want)
		}
	}
	for name, others := range map[string]map[string]string{
		"posted to bank:main":      {reserve: ledger.BankMain},
		"not a bank account":       {reserve: "suspense"},
		"the paying account again": {main: "bank:reserve"},
		"not an IBAN":              {"FR76": "bank:reserve"},
	} {
		if _, err := reconcile.NewAccounts(main, others); errs.CodeOf(err) != errs.Invalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	if _, err := reconcile.NewAccounts("nope", nil); errs.CodeOf(err) != errs.Invalid || !strings.Contains(err.Error(), "account") {
		t.Errorf("a paying account that is no IBAN: %v", err)
	}
}

func TestPlanImport(t *testing.T) {
	const main, stranger = "FR7630001007941234567890185", "FR7610107001011234567890129"
	a, err := reconcile.NewAccounts(main, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := func(id, account, cur string) reconcile.Statement {
		return reconcile.Statement{ID: id, Account: account, Currency: cur}
	}
	p, err := reconcile.PlanImport(reconcile.Summary{Format: "camt.053.001.08", Statements: []reconcile.Statement{st("S1", main, "EUR"),
		st("S2", stranger, "EUR")}}, a, false)
	if err != nil || !p.Imports("S1") || p.Imports("S2") || p.Banks["S1"] != ledger.BankMain || len(p.Skipped) != 1 || p.Notice {
		t.Fatalf("plan = %+v, %v", p, err)
	}
	if _, err := reconcile.PlanImport(reconcile.Summary{Statements: []reconcile.Statement{st("S1", main, "CHF")}}, a, false); errs.CodeOf(err) != errs.Invalid ||
		!strings.Contains(err.Error(), "is in CHF") {
		t.Errorf("a statement in CHF: %v", err)
	}
	if _, err := reconcile.PlanImport(reconcile.Summary{Statements: []reconcile.Statement{st("S2", stranger, "EUR")}}, a, false); errs.CodeOf(err) != errs.Invalid ||
		!strings.Contains(err.Error(), "holds no statement of the service's accounts") {
		t.Errorf("a file of another account: %v", err)
	}
	if p, err := reconcile.PlanImport(reconcile.Summary{Format: "camt.054.001.08"}, a, true); err != nil || !p.Notice || !p.Simulated {
		t.Errorf("a notification = %+v, %v", p, err)
	}
}

func TestOpenFile(t *testing.T) {
	for _, tt := range []struct{ name, content, want string }{
		{"empty", " \r\n", "is empty"},
		{"other XML", "<?xml version=\"1.0\"?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\"/>", "neither a camt.053"},
	} {
		if _, err := reconcile.OpenFile(strings.NewReader(tt.content), reconcile.Options{}); errs.CodeOf(err) != errs.Invalid || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

package fec

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

func TestFormats(t *testing.T) {
	for in, want := range map[string]string{"0": "0,00", "1234.5": "1234,50", "0.07": "0,07", "10000000000.00": "10000000000,00"} {
		if got := Amount(decimal.RequireFromString(in)); got != want {
			t.Errorf("Amount(%s) = %q, want %q", in, got, want)
		}
	}
	if got := Date(ledger.NewDate(2026, 11, 30)); got != "20261130" {
		t.Errorf("Date = %q", got)
	}
	if got := FileName("130003262", ledger.NewDate(2026, 12, 31)); got != "130003262FEC20261231.txt" {
		t.Errorf("FileName = %q", got)
	}
	l := Line{JournalCode: "OD", EcritureLib: "a\tb\nc", Debit: decimal.RequireFromString("1.5"), Credit: decimal.Zero}
	if f := l.Fields(); f[10] != "a b c" || f[11] != "1,50" || f[12] != "0,00" || len(strings.Split(string(l.AppendTo(nil)), "\t")) != 18 {
		t.Errorf("fields = %q", f)
	}
}

func TestCheckSIREN(t *testing.T) {
	if err := CheckSIREN("130003262"); err != nil {
		t.Errorf("130003262: %v", err)
	}
	for _, bad := range []string{"", "13000326", "1300032620", "130003263", "13000326a", "１30003262"} {
		if err := CheckSIREN(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	if p, err := ParsePeriod("2028-01-01", "2028-12-31"); err != nil || p.Days() != 366 {
		t.Errorf("leap year: %v %v", p, err)
	}
	for _, c := range []struct{ from, to, field string }{
		{"", "2026-01-31", "from"}, {"2026-01-01", "", "to"}, {"x", "2026-01-31", "from"}, {"2026-01-01", "2026-02-30", "to"},
		{"2026-02-01", "2026-01-31", "to"}, {"2026-01-01", "2027-01-02", "to"},
	} {
		_, err := ParsePeriod(c.from, c.to)
		var e *errs.Error
		if !errsAs(err, &e) || e.Field != c.field {
			t.Errorf("%q..%q: %v, want an error on %s", c.from, c.to, err, c.field)
		}
	}
}

func errsAs(err error, e **errs.Error) bool {
	v, ok := err.(*errs.Error)
	*e = v
	return ok
}

func TestMapping(t *testing.T) {
	over, err := ParseMapping("bank:main=5151:Banque de France, suspense=4718")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMapping(ledger.Chart, over)
	if err != nil {
		t.Fatal(err)
	}
	if acc, _, _, _ := m.Resolve(ledger.BankMain, "", ""); acc != (Account{"5151", "Banque de France"}) {
		t.Errorf("bank:main = %+v", acc)
	}
	if acc, num, lib, _ := m.Resolve("payable:B-1", "Due to B-1", ledger.Payable); acc.Num != "4411" || num != "B-1" || lib != "Due to B-1" {
		t.Errorf("payable:B-1 = %+v %q %q", acc, num, lib)
	}
	if _, _, _, err := m.Resolve("cash", "", ""); err == nil || !strings.Contains(err.Error(), "cash") {
		t.Errorf("unknown account: %v", err)
	}
	if _, err := NewMapping(append(ledger.Chart[:len(ledger.Chart):len(ledger.Chart)], ledger.Account{Code: "cash"}), nil); err == nil ||
		!strings.Contains(err.Error(), "cash") {
		t.Errorf("an account without number: %v", err)
	}
	if _, err := NewMapping(ledger.Chart, map[string]Account{"nothing": {Num: "12"}}); err == nil || !strings.Contains(err.Error(), "nothing") {
		t.Errorf("a mapping of no account: %v", err)
	}
	for _, bad := range []string{"bank:main", "bank:main=51a", "=515", "bank:main=515,bank:main=512"} {
		if _, err := ParseMapping(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if JournalOf("accrual:x:ada") != JournalRuns || JournalOf("release:M") != JournalReleases || JournalOf("recon:end_to_end:x") != JournalBank ||
		JournalOf("funding") != JournalAdjustments {
		t.Error("journals")
	}
}

package reconcile_test

import (
	"strings"
	"testing"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/reconcile"
)

func TestJudge(t *testing.T) {
	day := mustDate("2026-11-06")
	tests := []struct {
		name                 string
		found                bool
		statement, ledgerBal string
		agrees               bool
		difference           string
		verdict, headline    string
	}{
		{"agrees", true, "9588.20", "9588.20", true, "0.00", "The ledger agrees with the bank on 2026-11-06: bank:main 9588.20", "the ledger agrees with the bank"},
		{"differs", true, "9588.20", "10000.00", false, "-411.80", "The ledger and the bank DIFFER by -411.80 on 2026-11-06",
			"the ledger and the bank differ by 411.80 EUR"},
		{"no statement", false, "0", "0", false, "0.00", "No statement of FR76 was imported for 2026-11-06",
			"no statement of 2026-11-06 was imported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reconcile.Report{Account: "FR76", Date: day, LedgerAccount: ledger.BankMain, StatementFound: tt.found,
				StatementClosing: dec(tt.statement), LedgerClosing: dec(tt.ledgerBal)}
			r.Judge()
			if r.Agrees != tt.agrees || r.Difference.StringFixed(2) != tt.difference || !strings.HasPrefix(r.Verdict, tt.verdict) ||
				!strings.HasPrefix(r.Headline(), tt.headline) {
				t.Fatalf("agrees %v, difference %s, verdict %q, headline %q", r.Agrees, r.Difference.StringFixed(2), r.Verdict, r.Headline())
			}
		})
	}
}

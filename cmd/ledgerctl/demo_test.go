package main

import (
	"encoding/json"
	"testing"

	"github.com/ofii/allowances/internal/dbtest"
)

// TestDemo runs the demonstration month twice on a fresh database: the
// books prove, the amounts are those of the rules, and the second run
// changes nothing.
func TestDemo(t *testing.T) {
	_, url := dbtest.MustOpen(t)
	ledgerctl(t, "", "--database-url", url, "demo", "--households", "20").want(t, 0,
		"October ADA approved for 20 households", "OK: every entry balances")
	second := ledgerctl(t, "", "--database-url", url, "demo", "--households", "20")
	second.want(t, 0, "replayed, nothing changed", "nothing new to seal")
	r := ledgerctl(t, "", "--database-url", url, "-o", "json", "trial-balance")
	r.want(t, 0)
	var tb struct {
		Rows []struct {
			Account string `json:"account"`
			Debit   string `json:"debit"`
			Credit  string `json:"credit"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &tb); err != nil {
		t.Fatalf("trial balance JSON: %v\n%s", err, r.stdout)
	}
	// 20 households cycling over the 7 profiles: their daily amounts sum
	// to 3 × (14.20 + 6.80 + 28.40 + 17.00 + 21.00 + 25.00) + 2 × 20.40 =
	// 378.00, so 11,718.00 for 31 days. The 142.00 overpayment reduced the
	// expense when it was established and was recovered from the third
	// household's payment: expense 11,576.00, paid 11,576.00.
	want := map[string][2]string{
		"expense:ada":          {"11576.00", "0.00"},
		"equity:state-funding": {"0.00", "500000.00"},
		"expense:bank-fees":    {"12.50", "0.00"},
		"bank:main":            {"488411.50", "0.00"},
	}
	for _, row := range tb.Rows {
		w, ok := want[row.Account]
		if !ok {
			t.Errorf("unexpected account %s in the trial balance", row.Account)
			continue
		}
		if row.Debit != w[0] || row.Credit != w[1] {
			t.Errorf("%s: debit %s credit %s, want %s / %s", row.Account, row.Debit, row.Credit, w[0], w[1])
		}
		delete(want, row.Account)
	}
	if len(want) > 0 {
		t.Errorf("missing from the trial balance: %v", want)
	}
}

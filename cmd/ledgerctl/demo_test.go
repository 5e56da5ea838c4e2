package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/dbtest"
)

// TestDemo runs the demonstration month on a database of its own and
// checks that the books agree with the batch the month computed.
func TestDemo(t *testing.T) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ledger_demo_test_" + hex.EncodeToString(b[:])
	base := dbtest.BaseURL()
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	ledgerctl(t, "", "--database-url", base, "demo", "--households", "40", "--database", name).want(t, cli.ExitOK,
		"eligibility events published", "2 dead letters", "ada     2026-10", "return", "business_creation",
		"IND-2026-0003: 142.00 of 142.00 recovered", "2 approval(s) needed", "refused: camille.preparer prepared batch",
		"rejected: AC04: the account is closed", "matched 42 by end_to_end, 3 by fee; 0 unmatched", "1 by return",
		"open exception (returned", "The ledger agrees with the bank on", "OK: every entry balances",
		"queued (simulated: pays nobody)", "The statement came from the bank simulator of dev mode",
		"agnes.budget records the 2026 appropriation of ada", "henri.budget confirms it", "budget 2026 after approval: ada",
		"Budget 2026 as of", "appropriation  committed", "monthly_run", "months_of_cover")
	u, _ := url.Parse(base)
	u.Path = "/" + name
	demo := u.String()

	var batches struct {
		Batches []struct {
			Kind   string `json:"kind"`
			Status string `json:"status"`
			Total  struct {
				Lines     int    `json:"lines"`
				Gross     string `json:"gross"`
				Deduction string `json:"deduction"`
				Net       string `json:"net"`
			} `json:"total"`
		} `json:"batches"`
	}
	// The commands that read what staff read call a ledgerd: one runs on
	// the demonstration's database. --database-url serves those that
	// read the database themselves.
	s := startLedgerd(t, map[string]string{"DATABASE_URL": demo})
	r := s.as(t, claireToken, "", "--database-url", demo, "-o", "json", "batches", "list")
	r.want(t, cli.ExitOK)
	if err := json.Unmarshal([]byte(r.stdout), &batches); err != nil {
		t.Fatalf("batches: %v\n%s", err, r.stdout)
	}
	var tb struct {
		Rows []struct {
			Account string          `json:"account"`
			Debit   decimal.Decimal `json:"debit"`
			Credit  decimal.Decimal `json:"credit"`
		} `json:"rows"`
	}
	r = s.as(t, claireToken, "", "--database-url", demo, "-o", "json", "trial-balance")
	r.want(t, cli.ExitOK)
	if err := json.Unmarshal([]byte(r.stdout), &tb); err != nil {
		t.Fatalf("trial balance: %v\n%s", err, r.stdout)
	}
	bal := map[string]decimal.Decimal{}
	for _, row := range tb.Rows {
		bal[row.Account] = row.Debit.Sub(row.Credit)
	}
	// The ADA batch is partly rejected (a closed account), the grants and
	// the reissue of the rejected payment are settled; every payment the
	// bank accepted is booked on its statement, one of them returned.
	status := map[string]string{}
	for _, bt := range batches.Batches {
		status[bt.Kind] = bt.Status
		gross, ded, net := decimal.RequireFromString(bt.Total.Gross), decimal.RequireFromString(bt.Total.Deduction), decimal.RequireFromString(bt.Total.Net)
		if bt.Kind != "ada" {
			continue
		}
		if bt.Total.Lines != 40 || !gross.Sub(ded).Equal(net) || !ded.Equal(decimal.RequireFromString("142.00")) {
			t.Errorf("ADA batch = %+v", bt)
		}
		// The expense is the gross, less the overpayment that reduced it
		// when it was established.
		if want := gross.Sub(ded); !bal["expense:ada"].Equal(want) {
			t.Errorf("expense:ada = %s, want %s", bal["expense:ada"], want)
		}
	}
	if status["ada"] != "partly_rejected" || status["grants"] != "settled" || status["reissue"] != "settled" {
		t.Errorf("batch statuses = %v", status)
	}
	if !bal["payments-in-transit"].IsZero() || !bal["expense:bank-fees"].Equal(decimal.RequireFromString("4.50")) {
		t.Errorf("payments in transit %s, bank fees %s", bal["payments-in-transit"], bal["expense:bank-fees"])
	}
	for acc, b := range bal {
		if strings.HasPrefix(acc, "payable:") && !b.IsZero() && acc != "payable:OFII-2026-000017" {
			t.Errorf("%s = %s, want 0", acc, b)
		}
	}
	if !bal["payable:OFII-2026-000017"].IsNegative() {
		t.Errorf("the returned payment is not owed again: %v", bal)
	}
	s.as(t, claireToken, "", "--database-url", demo, "events", "dead-letters").want(t, cli.ExitOK, "data.payee.iban", "OFII-2026-X00002")
}

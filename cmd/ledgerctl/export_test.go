package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger/fec"
)

// TestExportFECOfTheDemo runs the demonstration month, then exports its
// FEC with ledgerctl export fec and checks it against the ledger: one line
// per posting, 18 fields, equal totals that are the ledger's debits, the
// payments the statement booked lettered with their match.
func TestExportFECOfTheDemo(t *testing.T) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ledger_fec_test_" + hex.EncodeToString(b[:])
	base := dbtest.BaseURL()
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	ledgerctl(t, "", "--database-url", base, "demo", "--households", "40", "--database", name).want(t, cli.ExitOK)
	u, _ := url.Parse(base)
	u.Path = "/" + name
	s := startLedgerd(t, map[string]string{"DATABASE_URL": u.String(), "FEC_SIREN": "130003262"})
	pool := s.pool(t)
	ctx := context.Background()

	var first, last time.Time
	if err := pool.QueryRow(ctx, `SELECT min(effective_date), max(effective_date) FROM entries WHERE status = 'posted'`).Scan(&first, &last); err != nil {
		t.Fatal(err)
	}
	from, to := first.Format(time.DateOnly), last.Format(time.DateOnly)
	file := filepath.Join(t.TempDir(), "130003262FEC"+last.Format("20060102")+".txt")
	r := s.as(t, opsToken, "", "export", "fec", "--from", from, "--to", to, "-f", file)
	r.want(t, cli.ExitOK, file)
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if lines[0] != strings.TrimSuffix(fec.Header(), "\n") {
		t.Fatalf("header = %q", lines[0])
	}
	lines = lines[1:]
	var postings int
	var debits decimal.Decimal
	if err := pool.QueryRow(ctx, `SELECT count(*), COALESCE(sum(p.amount) FILTER (WHERE p.amount > 0), 0)
		FROM postings p JOIN entries e ON e.id = p.entry_id WHERE e.status = 'posted'`).Scan(&postings, &debits); err != nil {
		t.Fatal(err)
	}
	matches := map[string]bool{}
	rows, err := pool.Query(ctx, `SELECT match_id::TEXT FROM payment_bookings`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		matches[strings.ToUpper(strings.ReplaceAll(id, "-", ""))] = true
	}
	rows.Close()
	debit, credit := decimal.Zero, decimal.Zero
	lettered := 0
	for i, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) != 18 {
			t.Fatalf("line %d: %d fields", i+2, len(f))
		}
		debit = debit.Add(decimal.RequireFromString(strings.Replace(f[11], ",", ".", 1)))
		credit = credit.Add(decimal.RequireFromString(strings.Replace(f[12], ",", ".", 1)))
		if f[13] != "" {
			lettered++
			if !matches[f[13]] || f[4] != "4411" || f[6] == "" {
				t.Errorf("line %d: lettered %q on %s/%s, not a booked payment's payable line", i+2, f[13], f[4], f[6])
			}
		}
	}
	if len(lines) != postings || !debit.Equal(credit) || !debit.Equal(debits) || lettered == 0 {
		t.Errorf("%d lines for %d postings, debit %s, credit %s, ledger debits %s, %d lettered", len(lines), postings, debit, credit, debits, lettered)
	}
	t.Logf("FEC of the demonstration, %s to %s: %d lines, debit %s, credit %s, %d lines lettered by %d bookings",
		from, to, len(lines), debit.StringFixed(2), credit.StringFixed(2), lettered, len(matches))

	// Refusals: bounds (exit 2, naming the flag), a role that may not.
	s.as(t, opsToken, "", "export", "fec", "--from", to, "--to", from, "-f", file+".x").wantErr(t, cli.ExitUsage, "--to")
	s.as(t, opsToken, "", "export", "fec", "--from", "2026-11", "--to", to, "-f", file+".x").wantErr(t, cli.ExitUsage, "--from")
	s.as(t, claireToken, "", "export", "fec", "--from", from, "--to", to, "-f", file+".x").wantErr(t, cli.ExitFailure, "403")
	if _, err := os.Stat(file + ".x"); !os.IsNotExist(err) {
		t.Errorf("a refused export left %s.x: %v", file, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*part*")); len(left) > 0 {
		t.Errorf("partial files left: %v", left)
	}
}

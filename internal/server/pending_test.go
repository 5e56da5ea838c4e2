package server_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/payments/bank/banksim"
)

// TestBankPassFinishesAnInterruptedStatement: a statement a stopped
// process left imported but unmatched (match_pending) is finished by
// ledgerd's periodic bank pass: its line is matched or raised as an
// exception, and the statement is no longer pending.
func TestBankPassFinishesAnInterruptedStatement(t *testing.T) {
	pool, url := dbtest.MustOpen(t)
	ctx := t.Context()
	id := uuid.New()
	if _, err := pool.Exec(ctx, `INSERT INTO statements (id, account, stmt_id, sequence, file_sha256, format, currency, stmt_date, opening,
		closing, entries, status, imported_at, match_pending) VALUES ($1, $2, 'LEFT-1', 1, 'left', 'camt.053.001.08', 'EUR', '2026-11-06',
		100, 87.66, 1, 'imported', now(), true)`, id, banksim.DefaultAccount); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO statement_lines (statement_id, idx, amount, direction, status, booking_date, end_to_end_id)
		VALUES ($1, 0, 12.34, 'DBIT', 'BOOK', '2026-11-06', 'NOBODY-1')`, id); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"DATABASE_URL": url, "HTTP_ADDR": "127.0.0.1:0", "LEDGER_DEV": "true", "KAFKA_EMBEDDED_ADDR": "127.0.0.1:0",
			"BANK_EMBEDDED_ADDR": "127.0.0.1:0", "ADA_RUN_DAY": "0", "BANK_POLL_INTERVAL": "50ms"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	start(t, cfg)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var pending bool
		var open int64
		if err := pool.QueryRow(ctx, `SELECT match_pending, (SELECT count(*) FROM recon_exceptions WHERE statement_id = $1 AND idx = 0
			AND kind = 'unmatched' AND status = 'open') FROM statements WHERE id = $1`, id).Scan(&pending, &open); err != nil {
			t.Fatal(err)
		}
		if !pending && open == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: pending %v, %d open exceptions on its line", pending, open)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

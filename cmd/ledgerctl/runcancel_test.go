package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/cli"
)

// TestRunsCancel abandons, through ledgerd, an ADA run that a killed
// process left running: refused while its lease is held, naming the
// holder; done by a preparer with a reason once the lease expired.
func TestRunsCancel(t *testing.T) {
	s := startLedgerd(t, nil)
	pool := s.pool(t)
	ctx := context.Background()
	run, batch := uuid.New(), uuid.New()
	at := time.Date(2026, 11, 5, 7, 0, 0, 0, time.UTC)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO runs (id, kind, period, run_day, status, trigger, started_by, started_at, heartbeat_at, batch_id)
			VALUES ($1, 'ada', '2026-10', '2026-11-05', 'running', 'schedule', 'scheduler', $3, $3, $2)`, []any{run, batch, at}},
		{`INSERT INTO batches (id, run_id, kind, period, status, created_at) VALUES ($1, $2, 'ada', '2026-10', 'building', $3)`,
			[]any{batch, run, at}},
		{`INSERT INTO leases (name, holder, token, taken_at, renewed_at, expires_at)
			VALUES ('run:ada', 'ledgerd-b:77:deadbeef', gen_random_uuid(), now(), now(), now() + INTERVAL '1 minute')`, nil},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	id := run.String()
	s.as(t, marieToken, "", "runs", "cancel", id, "--reason", "killed").wantErr(t, cli.ExitFailure, "ledgerd-b:77:deadbeef")
	if _, err := pool.Exec(ctx, `UPDATE leases SET expires_at = now() - INTERVAL '1 second'`); err != nil {
		t.Fatal(err)
	}
	s.as(t, marieToken, "", "runs", "cancel", id).want(t, cli.ExitUsage)
	s.as(t, marieToken, "", "runs", "cancel", id, "--reason", " ").wantErr(t, cli.ExitUsage, "--reason")
	s.as(t, marieToken, "", "runs", "cancel", "not-a-run", "--reason", "killed").wantErr(t, cli.ExitUsage, "ID")
	s.as(t, paulToken, "", "runs", "cancel", id, "--reason", "killed").wantErr(t, cli.ExitFailure, "403 Forbidden")

	r := s.as(t, marieToken, "", "runs", "cancel", id, "--reason", "ledgerd was killed")
	r.want(t, cli.ExitOK)
	if !strings.Contains(r.stdout, "cancelled (cancelled by marie: ledgerd was killed)") || !strings.Contains(r.stdout, batch.String()+" was discarded") {
		t.Errorf("runs cancel printed:\n%s", r.stdout)
	}
	var runs struct {
		Runs []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"runs"`
	}
	decodeJSON(t, s.as(t, marieToken, "", "-o", "json", "runs", "list"), &runs)
	if len(runs.Runs) != 1 || runs.Runs[0].ID != id || runs.Runs[0].Status != "cancelled" {
		t.Errorf("runs list: %+v", runs.Runs)
	}
	s.as(t, marieToken, "", "runs", "cancel", id, "--reason", "again").wantErr(t, cli.ExitFailure, "409")
}

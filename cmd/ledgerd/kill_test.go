package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/transport/kafka"
)

// killHouseholds is enough households for the scheduled run to take
// several chunks (of sqlstore.DefaultChunkSize), so that a kill as soon
// as it is seen running leaves it half-way.
const killHouseholds = 10000

// syncBuffer is a process's output, read while it writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestKilledDuringItsScheduledRun builds ledgerd, starts it in dev mode on
// a database of killHouseholds households, kills it with SIGKILL as soon
// as its scheduled run of the previous month has written its first chunk,
// and starts it again: the new ledgerd takes the run over once the
// killed one's lease expires, and the month is paid once.
func TestKilledDuringItsScheduledRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs ledgerd")
	}
	bin := filepath.Join(t.TempDir(), "ledgerd")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx := context.Background()
	pool, url := dbtest.MustOpen(t)
	period := payments.PeriodOf(payments.LegalDay(time.Now())).Prev()
	loadKillHouseholds(t, pool, period)

	env := append(os.Environ(), "DATABASE_URL="+url, "HTTP_ADDR=127.0.0.1:0", "KAFKA_EMBEDDED_ADDR=127.0.0.1:0",
		"BANK_EMBEDDED_ADDR=127.0.0.1:0", "ADA_RUN_DAY=1", "LEASE_TTL=1s", "LOG_LEVEL=info", "AUTH_TOKENS=", "AUTH_TOKENS_FILE=")
	startLedgerd := func() (*exec.Cmd, *syncBuffer) {
		var out syncBuffer
		cmd := exec.Command(bin, "--dev")
		cmd.Env, cmd.Stdout, cmd.Stderr = env, &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		return cmd, &out
	}

	// The first ledgerd: killed once its run has started.
	first, out := startLedgerd()
	var runID string
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := pool.QueryRow(ctx, `SELECT id::TEXT FROM runs WHERE kind = 'ada' AND status = 'running' AND processed > 0`).Scan(&runID)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledgerd did not start its scheduled run within 20s:\n%s", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	var status string
	var processed int64
	if err := pool.QueryRow(ctx, `SELECT status, processed FROM runs WHERE id = $1`, runID).Scan(&status, &processed); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed with its run %s, %d households of %d processed", status, processed, killHouseholds)
	if status != "running" || processed >= killHouseholds {
		t.Fatalf("after the kill the run is %s with %d processed: it was not killed half-way\n%s", status, processed, out)
	}

	// The second ledgerd takes the run over.
	_, out = startLedgerd()
	var doneID, batchID string
	deadline = time.Now().Add(20 * time.Second)
	for {
		err := pool.QueryRow(ctx, `SELECT id::TEXT, batch_id::TEXT FROM runs WHERE kind = 'ada' AND status = 'done'`).Scan(&doneID, &batchID)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second ledgerd did not finish the run within 20s:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var killedStatus, killedError string
	if err := pool.QueryRow(ctx, `SELECT status, error FROM runs WHERE id = $1`, runID).Scan(&killedStatus, &killedError); err != nil {
		t.Fatal(err)
	}
	if killedStatus != "failed" || killedError == "" {
		t.Errorf("the killed run is %s (%q), want failed as interrupted", killedStatus, killedError)
	}
	var runs, batches, lines, bens int64
	var gross decimal.Decimal
	err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM batches),
		(SELECT count(*) FROM batch_lines), (SELECT count(DISTINCT beneficiary_id) FROM batch_lines),
		(SELECT COALESCE(sum(gross), 0) FROM batch_lines WHERE batch_id = $1)`, batchID).Scan(&runs, &batches, &lines, &bens, &gross)
	if err != nil {
		t.Fatal(err)
	}
	days := period.Last().Time().Day()
	want := decimal.RequireFromString("6.80").Mul(decimal.NewFromInt(int64(days * killHouseholds)))
	if runs != 2 || batches != 1 || lines != killHouseholds || bens != killHouseholds || !gross.Equal(want) {
		t.Errorf("%d runs, %d batches, %d lines for %d beneficiaries, gross %s; want 2, 1, %d lines for %d, %s",
			runs, batches, lines, bens, gross.StringFixed(2), killHouseholds, killHouseholds, want.StringFixed(2))
	}
}

// loadKillHouseholds applies the rights openings of killHouseholds
// households, each one adult, housed, from the first day of period.
func loadKillHouseholds(t *testing.T, pool *pgxpool.Pool, period payments.Period) {
	t.Helper()
	store := paysql.New(pool)
	from := period.First()
	var recs []payments.Record
	flush := func() {
		res, err := store.Apply(context.Background(), recs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Outcome != payments.OutcomeApplied {
				t.Fatalf("event %d: %+v", i, r)
			}
		}
		recs = recs[:0]
	}
	for i := range killHouseholds {
		v := []byte(fmt.Sprintf(`{"event_id": "00000000-0000-4000-8000-%012d", "type": "ada.rights_opened", "schema_version": 1,
			"occurred_at": "%sT08:00:00Z", "beneficiary_id": "OFII-2026-%06d", "data": {"from": "%s", "adults": 1,
			"children": 0, "accommodated": true, "payee": {"name": "Amina Diallo", "iban": "FR7630006000011234567890189"}}}`,
			i, from.AddDays(-3), i, from))
		recs = append(recs, payments.Record{Source: payments.Source{Topic: "eligibility.v1", Offset: int64(i)}, Key: kafka.KeyOf(v), Value: v})
		if len(recs) == 500 {
			flush()
		}
	}
	if len(recs) > 0 {
		flush()
	}
}

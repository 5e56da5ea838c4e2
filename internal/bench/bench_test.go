package bench_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/internal/bench"
	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger"
)

// serverURL is the server the run creates its scratch database on.
func serverURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return dbtest.BaseURL()
}

func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every measurement against the database")
	}
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ledger_bench_test_" + hex.EncodeToString(b[:])
	base := serverURL()
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin := cfg.Copy()
		admin.Database = "postgres"
		c, err := pgx.ConnectConfig(ctx, admin)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})

	const n = 200
	opts := bench.Options{
		DatabaseURL: base, Database: name, Keep: true,
		Sizes: []int{n}, ChunkSize: 64, Clients: 2, Duration: 300 * time.Millisecond,
		ColdAccounts: 20, Branches: 2, TellersPerBranch: 2, AccountsPerBranch: 100, Events: 400,
	}
	rep, err := bench.Run(ctx, opts, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, step := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		r, ok := rep.Find(step, 0)
		if !ok {
			t.Errorf("no result for step %s: %+v", step, rep.Results)
			continue
		}
		if r.Rate <= 0 || r.Seconds <= 0 || r.N <= 0 {
			t.Errorf("step %s: n %d in %gs, rate %g, want all positive (%s)", step, r.N, r.Seconds, r.Rate, r.Note)
		}
	}
	if len(rep.Ratios) != 5 {
		t.Errorf("ratios = %+v, want b/a, c/e, d/c, f and f/g", rep.Ratios)
	}
	if f, _ := rep.Find("f", 0); f.N != 400 || f.Errors != 0 {
		t.Errorf("events step applied %d of 400 events, %d dead letters", f.N, f.Errors)
	}
	if rep.Machine.ServerVersion == "" || rep.Machine.GOMAXPROCS < 1 {
		t.Errorf("machine = %+v", rep.Machine)
	}

	bulk, ok := rep.Find("b", n)
	if !ok {
		t.Fatal("no bulk result")
	}
	if bulk.PeakHeapInuse == 0 {
		t.Error("no heap peak sampled during the bulk entry")
	}
	scratch := cfg.Copy()
	scratch.Database = name
	c, err := pgx.ConnectConfig(ctx, scratch)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var lines, contra int64
	err = c.QueryRow(ctx, `SELECT count(*) FILTER (WHERE account_code <> $2), count(*) FILTER (WHERE account_code = $2)
		FROM postings WHERE entry_id = $1`, bulk.EntryID, ledger.ExpenseADA).Scan(&lines, &contra)
	if err != nil {
		t.Fatal(err)
	}
	if lines != n {
		t.Errorf("bulk entry has %d beneficiary postings, want %d", lines, n)
	}
	if want := int64((n + 63) / 64); contra != want {
		t.Errorf("bulk entry has %d contra postings, want one per chunk, %d", contra, want)
	}
	var status string
	if err := c.QueryRow(ctx, `SELECT status FROM entries WHERE id = $1`, bulk.EntryID).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != string(ledger.StatusPosted) {
		t.Errorf("bulk entry status %q, want posted", status)
	}
}

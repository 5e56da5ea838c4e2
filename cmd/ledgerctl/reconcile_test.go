package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments/bank/banksim"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	httptransport "github.com/ofii/allowances/transport/http"
)

// atReconDay sets the clock of the reconciliation to 2026-11-06 at 18:00,
// after the bank booked the payments released the day before, moving on a
// millisecond each time it is read, until the test ends.
func atReconDay(t *testing.T) {
	t.Helper()
	start := time.Date(2026, 11, 6, 18, 0, 0, 0, time.UTC)
	var n atomic.Int64
	old := reconClock
	reconClock = func() time.Time { return start.Add(time.Duration(n.Add(1)) * time.Millisecond) }
	t.Cleanup(func() { reconClock = old })
}

// The JSON of the reconciliation, amounts as ledgerctl writes them.
type (
	cliCount struct {
		Count int    `json:"count"`
		Sum   string `json:"sum"`
	}
	cliImport struct {
		File       string `json:"file"`
		Format     string `json:"format"`
		Replayed   bool   `json:"replayed"`
		Statements []struct {
			Statement string `json:"statement"`
			Date      string `json:"date"`
			Lines     int    `json:"lines"`
		} `json:"statements"`
		Match struct {
			Matched   map[string]cliCount `json:"matched"`
			Unmatched int                 `json:"unmatched"`
		} `json:"match"`
	}
	cliReconException struct {
		ID      string `json:"id"`
		Kind    string `json:"kind"`
		Amount  string `json:"amount"`
		Owner   string `json:"owner"`
		Status  string `json:"status"`
		Payment string `json:"payment"`
	}
	cliReport struct {
		Account          string              `json:"account"`
		Date             string              `json:"date"`
		StatementFound   bool                `json:"statement_found"`
		StatementClosing string              `json:"statement_closing"`
		LedgerClosing    string              `json:"ledger_closing"`
		Agrees           bool                `json:"agrees"`
		Lines            int                 `json:"lines"`
		Matched          map[string]cliCount `json:"matched"`
		OpenExceptions   []cliReconException `json:"open_exceptions"`
		Verdict          string              `json:"verdict"`
	}
	cliMatch struct {
		ID       string   `json:"id"`
		Rule     string   `json:"rule"`
		Amount   string   `json:"amount"`
		Payments []string `json:"payments"`
		UndoneBy string   `json:"undone_by"`
	}
)

// TestReconcileCLI pays one household through the bank simulator, then
// reconciles from the shell: a malformed statement is refused whole, the
// bank's statement is imported (and again, and fetched, changing nothing),
// the report says the ledger agrees with the bank, a match undone makes
// them differ until the controller matches the line again by hand.
func TestReconcileCLI(t *testing.T) {
	atRunDay(t)
	atReconDay(t)
	pool, dsn := dbtest.MustOpen(t)
	openRights(t, paysql.New(pool), "OFII-2026-000123")
	defaults, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var simDay atomic.Value
	simDay.Store(ledger.NewDate(2026, 11, 5))
	sim := httptest.NewServer(banksim.New(banksim.Config{Account: defaults.DebtorIBAN, OpeningBalance: decimal.RequireFromString("10000.00"),
		Today: func() ledger.Date { return simDay.Load().(ledger.Date) }}))
	t.Cleanup(sim.Close)
	env := map[string]string{"DATABASE_URL": dsn, "AUTH_TOKENS": staffTokens}
	as := func(token string) map[string]string {
		e := map[string]string{"LEDGER_TOKEN": token}
		for k, v := range env {
			e[k] = v
		}
		return e
	}
	withBank := func(e map[string]string) map[string]string {
		e["BANK_URL"] = sim.URL
		return e
	}

	// The ledger is funded as the bank's account is; October's ADA of one
	// household is released and sent.
	ledgerctlEnv(t, env, "chart").want(t, cli.ExitOK)
	ledgerctlEnv(t, env, "post", "testdata/entry.json").want(t, cli.ExitOK)
	var started struct {
		Batch cliBatch `json:"batch"`
	}
	decodeJSON(t, ledgerctlEnv(t, env, "-o", "json", "runs", "start", "ada", "--period", "2026-10", "--token", marieToken), &started)
	id := started.Batch.ID
	ledgerctlEnv(t, as(marieToken), "batches", "submit", id).want(t, cli.ExitOK)
	ledgerctlEnv(t, as(paulToken), "batches", "approve", id).want(t, cli.ExitOK)
	ledgerctlEnv(t, as(paulToken), "batches", "release", id).want(t, cli.ExitOK)
	ledgerctlEnv(t, withBank(as(opsToken)), "bank", "send").want(t, cli.ExitOK)
	var lines struct {
		Lines []cliLine `json:"lines"`
	}
	decodeJSON(t, ledgerctlEnv(t, env, "-o", "json", "batches", "show", id, "--lines"), &lines)
	line := lines.Lines[0].ID

	// The next day, the bank's statement books the payment.
	simDay.Store(ledger.NewDate(2026, 11, 6))
	stmt := bankStatement(t, sim.URL, defaults.DebtorIBAN, "2026-11-06")
	dir := t.TempDir()
	good := filepath.Join(dir, "camt053-2026-11-06.xml")
	bad := filepath.Join(dir, "broken.xml")
	if err := os.WriteFile(good, stmt, 0o600); err != nil {
		t.Fatal(err)
	}
	broken := bytes.Replace(stmt, []byte("<Amt Ccy=\"EUR\">411.80</Amt>"), []byte("<Amt Ccy=\"EUR\">411,80</Amt>"), 1)
	if bytes.Equal(broken, stmt) {
		t.Fatalf("the statement books no 411.80:\n%s", stmt)
	}
	if err := os.WriteFile(bad, broken, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("Refusals", func(t *testing.T) {
		tests := []struct {
			name   string
			env    map[string]string
			args   []string
			code   int
			stderr string
		}{
			{"NoToken", env, []string{"reconcile", "import", good}, cli.ExitUsage, "error: --token: to import a statement file"},
			{"PreparerImports", as(marieToken), []string{"reconcile", "import", good}, cli.ExitFailure,
				"error: marie may not import a statement file: that needs one of the roles controller, admin"},
			{"MissingFile", as(claireToken), []string{"reconcile", "import", good, filepath.Join(dir, "nosuch.xml")}, cli.ExitUsage, "error: FILE: "},
			{"Malformed", as(claireToken), []string{"reconcile", "import", bad}, cli.ExitUsage, "error: " + bad + ": malformed statement file: line "},
			{"PreparerReadsReport", as(marieToken), []string{"reconcile", "report"}, cli.ExitFailure, "may not read the reconciliation report"},
			{"CSVAndJSON", as(claireToken), []string{"-o", "json", "reconcile", "report", "--csv"}, cli.ExitUsage, "error: --csv: "},
			{"BadDate", as(claireToken), []string{"reconcile", "report", "--date", "06/11/2026"}, cli.ExitUsage, "error: --date: "},
			{"BadAccount", as(claireToken), []string{"reconcile", "report", "--account", "FR7630006000011234567890188"}, cli.ExitUsage, "error: --account: "},
			{"ExceptionsStatus", as(claireToken), []string{"reconcile", "exceptions", "--status", "pending"}, cli.ExitUsage, `error: --status: "pending" is not a status`},
			{"ExceptionsKind", as(claireToken), []string{"reconcile", "exceptions", "--kind", "odd"}, cli.ExitUsage, `error: --kind: "odd" is not a kind`},
			{"MatchBadID", as(claireToken), []string{"reconcile", "match", "nope", "--payment", line, "--reason", "r"}, cli.ExitUsage,
				`error: ID: "nope" is not a reconciliation exception id`},
			{"MatchNoPayment", as(claireToken), []string{"reconcile", "match", id, "--reason", "r"}, cli.ExitUsage, `required flag(s) "payment" not set`},
			{"MatchPaymentTwice", as(claireToken), []string{"reconcile", "match", id, "--payment", line, "--payment", line, "--reason", "r"}, cli.ExitUsage,
				"error: --payment: " + line + " is given twice"},
			{"SuspenseBlankReason", as(claireToken), []string{"reconcile", "suspense", id, "--reason", " "}, cli.ExitUsage, "error: --reason: is required"},
			{"AuditorCloses", as(auditorTok), []string{"reconcile", "close", id, "--reason", "r"}, cli.ExitFailure,
				"court-of-audit may not close a reconciliation exception: that needs the role controller"},
			{"AssignTwoWords", as(opsToken), []string{"reconcile", "assign", id, "--owner", "claire dupont"}, cli.ExitUsage, "error: --owner: "},
			{"UndoBadID", as(claireToken), []string{"reconcile", "undo", "42", "--reason", "r"}, cli.ExitUsage, `error: MATCH_ID: "42" is not a match id`},
			{"MatchesRule", as(claireToken), []string{"reconcile", "matches", "--rule", "magic"}, cli.ExitUsage, `error: --rule: "magic" is not a rule`},
			{"FetchWithoutBank", as(claireToken), []string{"reconcile", "fetch"}, cli.ExitUsage, "error: BANK_URL: is not set"},
			{"ControllerRuns", as(claireToken), []string{"reconcile", "run"}, cli.ExitFailure, "may not run the matching cascade: that needs the role admin"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := ledgerctlEnv(t, tt.env, tt.args...)
				r.want(t, tt.code)
				if !strings.Contains(r.stderr, tt.stderr) {
					t.Errorf("stderr lacks %q:\n%s", tt.stderr, r.stderr)
				}
				if r.stdout != "" {
					t.Errorf("stdout is not empty:\n%s", r.stdout)
				}
			})
		}
		// Nothing was imported.
		r := ledgerctlEnv(t, as(claireToken), "reconcile", "report", "--date", "2026-11-06")
		r.want(t, cli.ExitOK, "no statement of 2026-11-06 was imported")
	})

	r := ledgerctlEnv(t, as(claireToken), "reconcile", "import", good)
	r.want(t, cli.ExitOK, "FILE", good, "camt.053.001.08", "STMT-2026-11-06", "2026-11-06", "imported", "end_to_end", "411.80",
		"0 exceptions opened, 0 lines left without a match")
	var imported struct {
		Files []cliImport `json:"files"`
	}
	decodeJSON(t, ledgerctlEnv(t, as(opsToken), "-o", "json", "reconcile", "import", good), &imported)
	if len(imported.Files) != 1 || !imported.Files[0].Replayed || imported.Files[0].File != good {
		t.Fatalf("the same file again = %+v", imported.Files)
	}
	ledgerctlEnv(t, as(claireToken), "reconcile", "import", good).want(t, cli.ExitOK, "imported before: nothing changed")
	// From standard input too.
	var out, errOut bytes.Buffer
	e := as(claireToken)
	if code := run(context.Background(), []string{"reconcile", "import", "-"}, bytes.NewReader(stmt), &out, &errOut, func(k string) string { return e[k] }); code != cli.ExitOK ||
		!strings.Contains(out.String(), "imported before: nothing changed") {
		t.Errorf("import from standard input: exit %d\n%s%s", code, out.String(), errOut.String())
	}

	// The bank, asked for the same day, sends the same statement.
	ledgerctlEnv(t, withBank(as(claireToken)), "reconcile", "fetch", "--date", "2026-11-06").want(t, cli.ExitOK, "STMT-2026-11-06", "imported before")

	t.Run("Report", func(t *testing.T) {
		r := ledgerctlEnv(t, as(auditorTok), "reconcile", "report", "--date", "2026-11-06")
		r.want(t, cli.ExitOK, "the ledger agrees with the bank", "statement closing", "9588.20", "ledger closing", "end_to_end")
		if !strings.HasPrefix(r.stdout, "the ledger agrees with the bank\n") {
			t.Errorf("the verdict does not come first:\n%s", r.stdout)
		}
		// The day defaults to today, the reconciliation's clock's.
		ledgerctlEnv(t, as(opsToken), "reconcile", "report").want(t, cli.ExitOK, "the ledger agrees with the bank", "2026-11-06")

		var rep cliReport
		decodeJSON(t, ledgerctlEnv(t, as(auditorTok), "-o", "json", "reconcile", "report", "--date", "2026-11-06"), &rep)
		if !rep.Agrees || !rep.StatementFound || rep.Account != defaults.DebtorIBAN || rep.Date != "2026-11-06" || rep.Lines != 1 ||
			rep.Matched["end_to_end"] != (cliCount{1, "411.80"}) || len(rep.OpenExceptions) != 0 || rep.Verdict == "" {
			t.Errorf("report = %+v", rep)
		}

		r = ledgerctlEnv(t, as(claireToken), "reconcile", "report", "--date", "2026-11-06", "--csv")
		r.want(t, cli.ExitOK)
		rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
		if err != nil {
			t.Fatalf("CSV: %v\n%s", err, r.stdout)
		}
		if !slices.Equal(rows[0], httptransport.ReportCSVHeader) {
			t.Errorf("header = %v", rows[0])
		}
		want := [][]string{
			{defaults.DebtorIBAN, "2026-11-06", "matched", "end_to_end", "1", "411.80", ""},
			{defaults.DebtorIBAN, "2026-11-06", "summary", "agrees", "", "", "yes"},
		}
		for _, w := range want {
			if !slices.ContainsFunc(rows, func(row []string) bool { return slices.Equal(row, w) }) {
				t.Errorf("no row %v in\n%s", w, r.stdout)
			}
		}
	})

	var ms struct {
		Matches []cliMatch `json:"matches"`
	}
	decodeJSON(t, ledgerctlEnv(t, as(auditorTok), "-o", "json", "reconcile", "matches", "--payment", line), &ms)
	if len(ms.Matches) != 1 || ms.Matches[0].Rule != "end_to_end" || !slices.Equal(ms.Matches[0].Payments, []string{line}) {
		t.Fatalf("matches of the payment = %+v", ms.Matches)
	}
	ledgerctlEnv(t, as(auditorTok), "reconcile", "matches").want(t, cli.ExitOK, "MATCH", ms.Matches[0].ID, "end_to_end", line)
	ledgerctlEnv(t, as(claireToken), "reconcile", "exceptions").want(t, cli.ExitOK, "no reconciliation exceptions")

	// The match is taken back: the ledger and the bank differ, the line is
	// open again.
	ledgerctlEnv(t, as(claireToken), "reconcile", "undo", ms.Matches[0].ID, "--reason", "checking with the bank").
		want(t, cli.ExitOK, "match "+ms.Matches[0].ID+" undone")
	ledgerctlEnv(t, as(claireToken), "reconcile", "report", "--date", "2026-11-06").
		want(t, cli.ExitOK, "the ledger and the bank differ by 411.80 EUR")
	var excs struct {
		Exceptions []cliReconException `json:"exceptions"`
	}
	decodeJSON(t, ledgerctlEnv(t, as(auditorTok), "-o", "json", "reconcile", "exceptions", "--status", "open"), &excs)
	if len(excs.Exceptions) != 1 || excs.Exceptions[0].Amount != "411.80" {
		t.Fatalf("open exceptions after the undo = %+v", excs.Exceptions)
	}
	xid := excs.Exceptions[0].ID
	ledgerctlEnv(t, as(auditorTok), "reconcile", "exceptions").want(t, cli.ExitOK, "EXCEPTION", xid, "411.80", "open")

	var x cliReconException
	decodeJSON(t, ledgerctlEnv(t, as(opsToken), "-o", "json", "reconcile", "assign", xid, "--owner", "claire"), &x)
	if x.ID != xid || x.Owner != "claire" {
		t.Fatalf("assigned exception = %+v", x)
	}
	ledgerctlEnv(t, as(claireToken), "reconcile", "exceptions", "--owner", "claire").want(t, cli.ExitOK, xid)
	ledgerctlEnv(t, as(claireToken), "reconcile", "confirm", xid).want(t, cli.ExitFailure)
	ledgerctlEnv(t, as(claireToken), "reconcile", "match", xid, "--payment", line, "--reason", "the bank confirmed the booking").
		want(t, cli.ExitOK, "resolved", "claire")
	ledgerctlEnv(t, as(claireToken), "reconcile", "close", xid, "--reason", "done").want(t, cli.ExitFailure)
	ledgerctlEnv(t, as(auditorTok), "reconcile", "report", "--date", "2026-11-06").want(t, cli.ExitOK, "the ledger agrees with the bank", "manual")

	t.Run("RunAndSweep", func(t *testing.T) {
		ledgerctlEnv(t, as(opsToken), "reconcile", "run").want(t, cli.ExitOK, "RULE", "exceptions opened")
		var sw struct {
			Date   string `json:"date"`
			Opened int    `json:"opened"`
		}
		decodeJSON(t, ledgerctlEnv(t, as(opsToken), "-o", "json", "reconcile", "sweep", "--date", "2026-11-20"), &sw)
		if sw.Date != "2026-11-20" || sw.Opened != 0 {
			t.Errorf("sweep = %+v, want nothing in transit", sw)
		}
	})
}

// bankStatement GETs the camt.053 of a day from the bank simulator.
func bankStatement(t *testing.T, bankURL, iban, day string) []byte {
	t.Helper()
	res, err := http.Get(bankURL + "/v1/statements?" + url.Values{"iban": {iban}, "date": {day}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var docs []struct {
		XML string `json:"xml"`
	}
	if err := json.NewDecoder(res.Body).Decode(&docs); err != nil || res.StatusCode != http.StatusOK || len(docs) != 1 {
		t.Fatalf("statement of %s: %d %v %+v", day, res.StatusCode, err, docs)
	}
	return []byte(docs[0].XML)
}

// TestProgressFile: the file the importer reads twice reads whole each
// time, and its bar turns to the second pass once the first reached the end.
func TestProgressFile(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789\n"), 1000)
	path := filepath.Join(t.TempDir(), "statement.txt")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := &progressFile{f: f, size: int64(len(content)), name: "statement.txt", bar: progressbar.NewOptions64(int64(len(content)), progressbar.OptionSetWriter(io.Discard))}
	for pass := range 2 {
		// The importer peeks at the head to tell the format, then reads.
		if _, err := p.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 4096)
		if _, err := io.ReadFull(p, head); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if p.second != (pass == 1) {
			t.Errorf("pass %d: second = %v", pass+1, p.second)
		}
		got, err := io.ReadAll(p)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("pass %d read %d bytes (%v), want the %d of the file", pass+1, len(got), err, len(content))
		}
	}
}

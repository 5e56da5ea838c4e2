package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
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

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/apiclient"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/server"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments/bank/banksim"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	httptransport "github.com/ofii/allowances/transport/http"
)

// atReconDay sets the clock of the days ledgerctl reconciles by default to
// 2026-11-06 at 18:00, after the bank booked the payments released the day
// before, until the test ends.
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
		FileSHA256 string `json:"file_sha256"`
		Replayed   bool   `json:"replayed"`
		Statements []struct {
			Statement string `json:"statement"`
			Date      string `json:"date"`
			Lines     int    `json:"lines"`
			Replayed  bool   `json:"replayed"`
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

// reconWorld is a ledgerd whose embedded bank booked on 2026-11-06 the
// payment of October's ADA to one household (411.80), released the day
// before, with the bank's statement of that day.
type reconWorld struct {
	s       *testLedgerd
	account string // the bank account reconciled: DEBTOR_IBAN
	batch   string // the batch paid
	line    string // its one payment's line id
	stmt    []byte // the bank's camt.053 of 2026-11-06
}

// newReconWorld starts ledgerd, funds its ledger as the bank's account is
// (10,000.00), and pays the household through the API and its embedded
// bank.
func newReconWorld(t *testing.T) *reconWorld {
	t.Helper()
	atRunDay(t)
	atReconDay(t)
	defaults, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var simDay atomic.Value
	simDay.Store(ledger.NewDate(2026, 11, 5))
	s := startLedgerd(t, nil, server.WithBankSimulator(func(c *banksim.Config) {
		c.OpeningBalance = decimal.RequireFromString("10000.00")
		c.Today = func() ledger.Date { return simDay.Load().(ledger.Date) }
	}))
	ctx := context.Background()
	pool, err := db.Open(ctx, s.DSN)
	if err != nil {
		t.Fatal(err)
	}
	openRights(t, paysql.New(pool), "OFII-2026-000123")
	pool.Close()

	call := func(token, path string, body, out any) {
		t.Helper()
		c, err := apiclient.New(s.URL, token, "ledgerctl-test")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Post(ctx, path, nil, body, out); err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
	}
	entry, err := os.ReadFile("testdata/entry.json")
	if err != nil {
		t.Fatal(err)
	}
	call(opsToken, "/v1/entries", json.RawMessage(entry), nil)
	var run struct {
		BatchID string `json:"batch_id"`
	}
	call(marieToken, "/v1/runs", map[string]string{"kind": "ada", "period": "2026-10"}, &run)
	call(marieToken, "/v1/batches/"+run.BatchID+"/submit", nil, nil)
	call(paulToken, "/v1/batches/"+run.BatchID+"/approve", nil, nil)
	call(paulToken, "/v1/batches/"+run.BatchID+"/release", nil, nil)
	call(opsToken, "/v1/bank/send", nil, nil)
	c, _ := apiclient.New(s.URL, auditorTok, "ledgerctl-test")
	var lines struct {
		Lines []struct {
			ID string `json:"id"`
		} `json:"lines"`
	}
	if err := c.Get(ctx, "/v1/batches/"+run.BatchID+"/lines", nil, &lines); err != nil || len(lines.Lines) != 1 {
		t.Fatalf("lines of the batch: %v %+v", err, lines)
	}
	// The next day, the bank's statement books the payment.
	simDay.Store(ledger.NewDate(2026, 11, 6))
	return &reconWorld{s: s, account: defaults.DebtorIBAN, batch: run.BatchID, line: lines.Lines[0].ID,
		stmt: bankStatement(t, s.Addrs.Bank, defaults.DebtorIBAN, "2026-11-06")}
}

// imported counts what the statement file of sha256 left in the database:
// the file, its statements, their lines and the audit events of their
// import.
func (w *reconWorld) imported(t *testing.T, sha256 string) (files, statements, lines, audited int) {
	t.Helper()
	ctx := context.Background()
	pool, err := db.Open(ctx, w.s.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	err = pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM statement_files WHERE sha256 = $1 AND status = 'imported'),
		(SELECT count(*) FROM statements WHERE file_sha256 = $1 AND status = 'imported'),
		(SELECT count(*) FROM statement_lines l JOIN statements s ON s.id = l.statement_id WHERE s.file_sha256 = $1),
		(SELECT count(*) FROM audit_events WHERE action = 'import' AND object_kind = 'statement')`, sha256).Scan(&files, &statements, &lines, &audited)
	if err != nil {
		t.Fatal(err)
	}
	return files, statements, lines, audited
}

// TestReconcileCLI reconciles from the shell through ledgerd: a malformed
// statement is refused whole, the bank's statement is imported (and again,
// and fetched by ledgerd, changing nothing), the report says the ledger
// agrees with the bank, a match undone makes them differ until the
// controller matches the line again by hand. Those whose role may not act
// get ledgerd's refusal, and nothing changes.
func TestReconcileCLI(t *testing.T) {
	w := newReconWorld(t)
	s, line, id := w.s, w.line, w.batch
	dir := t.TempDir()
	good := filepath.Join(dir, "camt053-2026-11-06.xml")
	bad := filepath.Join(dir, "broken.xml")
	if err := os.WriteFile(good, w.stmt, 0o600); err != nil {
		t.Fatal(err)
	}
	broken := bytes.Replace(w.stmt, []byte("<Amt Ccy=\"EUR\">411.80</Amt>"), []byte("<Amt Ccy=\"EUR\">411,80</Amt>"), 1)
	if bytes.Equal(broken, w.stmt) {
		t.Fatalf("the statement books no 411.80:\n%s", w.stmt)
	}
	if err := os.WriteFile(bad, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	unreachable := s.env(claireToken)
	unreachable["LEDGER_URL"] = "http://127.0.0.1:1"
	noToken := s.env("")
	unknownToken := s.env("no-such-token-0123456789")

	t.Run("Refusals", func(t *testing.T) {
		tests := []struct {
			name   string
			env    map[string]string
			args   []string
			code   int
			stderr string
		}{
			{"NoToken", noToken, []string{"reconcile", "import", good}, cli.ExitUsage, "error: --token: give the API token"},
			{"UnknownToken", unknownToken, []string{"reconcile", "import", good}, cli.ExitFailure, "error: 401 Unauthorized: "},
			{"Unreachable", unreachable, []string{"reconcile", "import", good}, cli.ExitFailure, "cannot reach ledgerd at http://127.0.0.1:1"},
			{"UnreachableReport", unreachable, []string{"reconcile", "report"}, cli.ExitFailure, "cannot reach ledgerd at http://127.0.0.1:1"},
			{"PreparerImports", s.env(marieToken), []string{"reconcile", "import", good}, cli.ExitFailure,
				"error: 403 Forbidden: this needs one of the roles controller, admin; marie has preparer"},
			{"PreparerFetches", s.env(marieToken), []string{"reconcile", "fetch", "--date", "2026-11-06"}, cli.ExitFailure,
				"error: 403 Forbidden: this needs one of the roles controller, admin"},
			{"MissingFile", s.env(claireToken), []string{"reconcile", "import", good, filepath.Join(dir, "nosuch.xml")}, cli.ExitUsage, "error: FILE: "},
			{"Malformed", s.env(claireToken), []string{"reconcile", "import", bad}, cli.ExitUsage,
				"error: 400 Bad Request: " + bad + ": malformed statement file: line "},
			{"MalformedSaysNothingImported", s.env(claireToken), []string{"reconcile", "import", bad}, cli.ExitUsage,
				`Ntry[1]/Amt, field Amount: "411,80" is not a decimal amount; nothing of it was imported`},
			{"EmptyStdin", s.env(claireToken), []string{"reconcile", "import", "-"}, cli.ExitUsage, "error: FILE: standard input is empty"},
			{"PreparerReadsReport", s.env(marieToken), []string{"reconcile", "report"}, cli.ExitFailure,
				"error: 403 Forbidden: this needs one of the roles controller, auditor, admin"},
			{"CSVAndJSON", s.env(claireToken), []string{"-o", "json", "reconcile", "report", "--csv"}, cli.ExitUsage, "error: --csv: "},
			{"BadDate", s.env(claireToken), []string{"reconcile", "report", "--date", "06/11/2026"}, cli.ExitUsage, "error: --date: "},
			{"BadAccount", s.env(claireToken), []string{"reconcile", "report", "--account", "FR7630006000011234567890188"}, cli.ExitUsage, "error: --account: "},
			{"ExceptionsStatus", s.env(claireToken), []string{"reconcile", "exceptions", "--status", "pending"}, cli.ExitUsage, `error: --status: "pending" is not a status`},
			{"ExceptionsKind", s.env(claireToken), []string{"reconcile", "exceptions", "--kind", "odd"}, cli.ExitUsage, `error: --kind: "odd" is not a kind`},
			{"MatchBadID", s.env(claireToken), []string{"reconcile", "match", "nope", "--payment", line, "--reason", "r"}, cli.ExitUsage,
				`error: ID: "nope" is not a reconciliation exception id`},
			{"MatchNoPayment", s.env(claireToken), []string{"reconcile", "match", id, "--reason", "r"}, cli.ExitUsage, `required flag(s) "payment" not set`},
			{"MatchPaymentTwice", s.env(claireToken), []string{"reconcile", "match", id, "--payment", line, "--payment", line, "--reason", "r"}, cli.ExitUsage,
				"error: --payment: " + line + " is given twice"},
			{"SuspenseBlankReason", s.env(claireToken), []string{"reconcile", "suspense", id, "--reason", " "}, cli.ExitUsage, "error: --reason: is required"},
			{"AuditorCloses", s.env(auditorTok), []string{"reconcile", "close", id, "--reason", "r"}, cli.ExitFailure,
				"error: 403 Forbidden: this needs the role controller; court-of-audit has auditor"},
			{"UnknownException", s.env(claireToken), []string{"reconcile", "close", id, "--reason", "r"}, cli.ExitFailure, "error: 404 Not Found: "},
			{"AssignTwoWords", s.env(opsToken), []string{"reconcile", "assign", id, "--owner", "claire dupont"}, cli.ExitUsage, "error: --owner: "},
			{"UndoBadID", s.env(claireToken), []string{"reconcile", "undo", "42", "--reason", "r"}, cli.ExitUsage, `error: MATCH_ID: "42" is not a match id`},
			{"MatchesRule", s.env(claireToken), []string{"reconcile", "matches", "--rule", "magic"}, cli.ExitUsage, `error: --rule: "magic" is not a rule`},
			{"ControllerRuns", s.env(claireToken), []string{"reconcile", "run"}, cli.ExitFailure, "error: 403 Forbidden: this needs the role admin"},
			{"ControllerSweeps", s.env(claireToken), []string{"reconcile", "sweep"}, cli.ExitFailure, "error: 403 Forbidden: this needs the role admin"},
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
		r := s.as(t, claireToken, "", "reconcile", "report", "--date", "2026-11-06")
		r.want(t, cli.ExitOK, "no statement of 2026-11-06 was imported")
		if files, statements, _, audited := w.imported(t, ""); files+statements+audited != 0 {
			t.Errorf("the refusals imported %d files, %d statements (%d audited)", files, statements, audited)
		}
	})

	r := s.as(t, claireToken, "", "reconcile", "import", good)
	r.want(t, cli.ExitOK, "FILE", good, "camt.053.001.08", "STMT-2026-11-06", "2026-11-06", "imported", "end_to_end", "411.80",
		"0 exceptions opened, 0 lines left without a match")
	var imported struct {
		Files []cliImport `json:"files"`
	}
	decodeJSON(t, s.as(t, opsToken, "", "-o", "json", "reconcile", "import", good), &imported)
	if len(imported.Files) != 1 || !imported.Files[0].Replayed || imported.Files[0].File != good || len(imported.Files[0].FileSHA256) != 64 ||
		len(imported.Files[0].Statements) != 1 || !imported.Files[0].Statements[0].Replayed || imported.Files[0].Statements[0].Lines != 1 {
		t.Fatalf("the same file again = %+v", imported.Files)
	}
	s.as(t, claireToken, "", "reconcile", "import", good).want(t, cli.ExitOK, "imported before: nothing changed")
	// From standard input too.
	s.as(t, claireToken, string(w.stmt), "reconcile", "import", "-").want(t, cli.ExitOK, "imported before: nothing changed")

	// ledgerd asks its bank for the same day: the same statement.
	s.as(t, claireToken, "", "reconcile", "fetch", "--date", "2026-11-06").want(t, cli.ExitOK, "bank:2026-11-06#1", "STMT-2026-11-06", "imported before")
	var fetched struct {
		Date  string      `json:"date"`
		Files []cliImport `json:"files"`
	}
	decodeJSON(t, s.as(t, opsToken, "", "-o", "json", "reconcile", "fetch", "--date", "2026-11-02"), &fetched)
	if fetched.Date != "2026-11-02" || fetched.Files == nil || len(fetched.Files) != 0 {
		t.Errorf("fetch of a day before the account opened = %+v", fetched)
	}
	s.as(t, claireToken, "", "reconcile", "fetch", "--date", "2026-11-02").want(t, cli.ExitOK, "the bank has no statement of 2026-11-02 yet")
	if files, statements, lines, audited := w.imported(t, imported.Files[0].FileSHA256); files != 1 || statements != 1 || lines != 1 || audited != 1 {
		t.Errorf("imported %d files, %d statements, %d lines (%d audited), want the one statement of one line once", files, statements, lines, audited)
	}

	t.Run("Report", func(t *testing.T) {
		r := s.as(t, auditorTok, "", "reconcile", "report", "--date", "2026-11-06")
		r.want(t, cli.ExitOK, "the ledger agrees with the bank", "statement closing", "9588.20", "ledger closing", "end_to_end")
		if !strings.HasPrefix(r.stdout, "the ledger agrees with the bank\n") {
			t.Errorf("the verdict does not come first:\n%s", r.stdout)
		}
		// The day defaults to today, the reconciliation's clock's.
		s.as(t, opsToken, "", "reconcile", "report").want(t, cli.ExitOK, "the ledger agrees with the bank", "2026-11-06")
		s.as(t, opsToken, "", "reconcile", "report", "--account", w.account).want(t, cli.ExitOK, "the ledger agrees with the bank", w.account)

		var rep cliReport
		decodeJSON(t, s.as(t, auditorTok, "", "-o", "json", "reconcile", "report", "--date", "2026-11-06"), &rep)
		if !rep.Agrees || !rep.StatementFound || rep.Account != w.account || rep.Date != "2026-11-06" || rep.Lines != 1 ||
			rep.Matched["end_to_end"] != (cliCount{1, "411.80"}) || len(rep.OpenExceptions) != 0 || rep.Verdict == "" ||
			rep.StatementClosing != "9588.20" || rep.LedgerClosing != "9588.20" {
			t.Errorf("report = %+v", rep)
		}

		r = s.as(t, claireToken, "", "reconcile", "report", "--date", "2026-11-06", "--csv")
		r.want(t, cli.ExitOK)
		rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
		if err != nil {
			t.Fatalf("CSV: %v\n%s", err, r.stdout)
		}
		if !slices.Equal(rows[0], httptransport.ReportCSVHeader) {
			t.Errorf("header = %v", rows[0])
		}
		want := [][]string{
			{w.account, "2026-11-06", "matched", "end_to_end", "1", "411.80", ""},
			{w.account, "2026-11-06", "summary", "ledger_closing", "", "9588.20", ""},
			{w.account, "2026-11-06", "summary", "agrees", "", "", "yes"},
		}
		for _, row := range want {
			if !slices.ContainsFunc(rows, func(got []string) bool { return slices.Equal(got, row) }) {
				t.Errorf("no row %v in\n%s", row, r.stdout)
			}
		}
	})

	var ms struct {
		Matches []cliMatch `json:"matches"`
	}
	decodeJSON(t, s.as(t, auditorTok, "", "-o", "json", "reconcile", "matches", "--payment", line), &ms)
	if len(ms.Matches) != 1 || ms.Matches[0].Rule != "end_to_end" || ms.Matches[0].Amount != "411.80" || !slices.Equal(ms.Matches[0].Payments, []string{line}) {
		t.Fatalf("matches of the payment = %+v", ms.Matches)
	}
	s.as(t, auditorTok, "", "reconcile", "matches").want(t, cli.ExitOK, "MATCH", ms.Matches[0].ID, "end_to_end", line)
	s.as(t, claireToken, "", "reconcile", "exceptions").want(t, cli.ExitOK, "no reconciliation exceptions")

	// An auditor may not undo the match: refused, nothing undone.
	r = s.as(t, auditorTok, "", "reconcile", "undo", ms.Matches[0].ID, "--reason", "x")
	r.want(t, cli.ExitFailure)
	if !strings.Contains(r.stderr, "error: 403 Forbidden: this needs the role controller") {
		t.Errorf("stderr = %s", r.stderr)
	}
	s.as(t, auditorTok, "", "reconcile", "report", "--date", "2026-11-06").want(t, cli.ExitOK, "the ledger agrees with the bank")

	// The match is taken back: the ledger and the bank differ, the line is
	// open again.
	s.as(t, claireToken, "", "reconcile", "undo", ms.Matches[0].ID, "--reason", "checking with the bank").
		want(t, cli.ExitOK, "match "+ms.Matches[0].ID+" undone")
	s.as(t, claireToken, "", "reconcile", "report", "--date", "2026-11-06").
		want(t, cli.ExitOK, "the ledger and the bank differ by 411.80 EUR")
	var excs struct {
		Exceptions []cliReconException `json:"exceptions"`
	}
	decodeJSON(t, s.as(t, auditorTok, "", "-o", "json", "reconcile", "exceptions", "--status", "open"), &excs)
	if len(excs.Exceptions) != 1 || excs.Exceptions[0].Amount != "411.80" || excs.Exceptions[0].Status != "open" {
		t.Fatalf("open exceptions after the undo = %+v", excs.Exceptions)
	}
	xid := excs.Exceptions[0].ID
	s.as(t, auditorTok, "", "reconcile", "exceptions").want(t, cli.ExitOK, "EXCEPTION", xid, "411.80", "open")

	// A preparer may not resolve it: refused, the exception stays open.
	r = s.as(t, marieToken, "", "reconcile", "match", xid, "--payment", line, "--reason", "r")
	r.want(t, cli.ExitFailure)
	if !strings.Contains(r.stderr, "error: 403 Forbidden: this needs the role controller; marie has preparer") {
		t.Errorf("stderr = %s", r.stderr)
	}
	s.as(t, auditorTok, "", "reconcile", "exceptions", "--status", "open").want(t, cli.ExitOK, xid)

	var x cliReconException
	decodeJSON(t, s.as(t, opsToken, "", "-o", "json", "reconcile", "assign", xid, "--owner", "claire"), &x)
	if x.ID != xid || x.Owner != "claire" {
		t.Fatalf("assigned exception = %+v", x)
	}
	s.as(t, claireToken, "", "reconcile", "exceptions", "--owner", "claire").want(t, cli.ExitOK, xid)
	r = s.as(t, claireToken, "", "reconcile", "confirm", xid)
	r.want(t, cli.ExitFailure)
	if !strings.Contains(r.stderr, "error: 409 Conflict: ") {
		t.Errorf("confirming what is not a suggestion: %s", r.stderr)
	}
	s.as(t, claireToken, "", "reconcile", "match", xid, "--payment", line, "--reason", "the bank confirmed the booking").
		want(t, cli.ExitOK, "resolved", "claire")
	s.as(t, claireToken, "", "reconcile", "close", xid, "--reason", "done").want(t, cli.ExitFailure)
	s.as(t, auditorTok, "", "reconcile", "report", "--date", "2026-11-06").want(t, cli.ExitOK, "the ledger agrees with the bank", "manual")
	var manual struct {
		Matches []cliMatch `json:"matches"`
	}
	decodeJSON(t, s.as(t, auditorTok, "", "-o", "json", "reconcile", "matches", "--rule", "manual"), &manual)
	if len(manual.Matches) != 1 || manual.Matches[0].Amount != "411.80" || !slices.Equal(manual.Matches[0].Payments, []string{line}) {
		t.Errorf("manual matches = %+v", manual.Matches)
	}

	t.Run("RunAndSweep", func(t *testing.T) {
		s.as(t, opsToken, "", "reconcile", "run").want(t, cli.ExitOK, "RULE", "exceptions opened")
		var sw struct {
			Date   string `json:"date"`
			Opened int    `json:"opened"`
		}
		decodeJSON(t, s.as(t, opsToken, "", "-o", "json", "reconcile", "sweep", "--date", "2026-11-20"), &sw)
		if sw.Date != "2026-11-20" || sw.Opened != 0 {
			t.Errorf("sweep = %+v, want nothing in transit", sw)
		}
		s.as(t, opsToken, "", "reconcile", "sweep", "--date", "2026-11-20").want(t, cli.ExitOK, "0 exceptions opened for payments in transit too long on 2026-11-20")
	})
}

// TestReconcileImportInterrupted: an import cut off while the file is sent
// imports nothing; one whose answer is lost after the file was sent says
// so, and that running it again is safe; run again, the file is imported
// once and the ledger agrees with the bank.
func TestReconcileImportInterrupted(t *testing.T) {
	w := newReconWorld(t)
	s := w.s

	// Standard input fails half-way: ledgerd gets a body cut short.
	half := &failingReader{r: bytes.NewReader(w.stmt[:len(w.stmt)/2]), err: errors.New("disk unplugged")}
	env := s.env(claireToken)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"reconcile", "import", "-"}, half, &out, &errOut, func(k string) string { return env[k] })
	if code != cli.ExitFailure || !strings.Contains(errOut.String(), "read standard input: disk unplugged; nothing of it was imported") || out.Len() != 0 {
		t.Fatalf("import cut off while sent: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	s.as(t, claireToken, "", "reconcile", "report", "--date", "2026-11-06").want(t, cli.ExitOK, "no statement of 2026-11-06 was imported")

	// The connection is lost once the file is sent: ledgerd imports it,
	// the answer never comes.
	var forwarded atomic.Int64
	lossy := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(context.Background(), r.Method, s.URL+r.URL.RequestURI(), r.Body)
		if err != nil {
			t.Error(err)
			return
		}
		req.Header = r.Header.Clone()
		if resp, err := http.DefaultTransport.RoundTrip(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			forwarded.Add(1)
		}
		if conn, _, err := rw.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(lossy.Close)
	path := filepath.Join(t.TempDir(), "camt053-2026-11-06.xml")
	if err := os.WriteFile(path, w.stmt, 0o600); err != nil {
		t.Fatal(err)
	}
	lost := s.env(claireToken)
	lost["LEDGER_URL"] = lossy.URL
	r := ledgerctlEnv(t, lost, "reconcile", "import", path)
	r.want(t, cli.ExitFailure)
	for _, want := range []string{"import " + path, "the connection to ledgerd at " + lossy.URL + " was lost before it answered",
		"ledgerd may have imported it", "running the same command again is safe"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if forwarded.Load() != 1 || r.stdout != "" {
		t.Fatalf("ledgerd got %d imports; stdout:\n%s", forwarded.Load(), r.stdout)
	}

	// The same command again: imported before, nothing changed.
	var again struct {
		Files []cliImport `json:"files"`
	}
	decodeJSON(t, s.as(t, claireToken, "", "-o", "json", "reconcile", "import", path), &again)
	if len(again.Files) != 1 || !again.Files[0].Replayed {
		t.Fatalf("the same import again = %+v, want the file imported before", again.Files)
	}
	s.as(t, claireToken, "", "reconcile", "import", path).want(t, cli.ExitOK, "imported before: nothing changed")
	if files, statements, lines, audited := w.imported(t, again.Files[0].FileSHA256); files != 1 || statements != 1 || lines != 1 || audited != 1 {
		t.Errorf("imported %d files, %d statements, %d lines (%d audited), want the one statement of one line once", files, statements, lines, audited)
	}
	var rep cliReport
	decodeJSON(t, s.as(t, auditorTok, "", "-o", "json", "reconcile", "report", "--date", "2026-11-06"), &rep)
	if !rep.Agrees || rep.Lines != 1 || rep.Matched["end_to_end"] != (cliCount{1, "411.80"}) || rep.LedgerClosing != "9588.20" {
		t.Errorf("report = %+v", rep)
	}
}

// failingReader reads r, then fails with err instead of ending.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if errors.Is(err, io.EOF) {
		return n, f.err
	}
	return n, err
}

// TestStatementType: camt files go as XML, whatever comes before their
// first element; CFONB 120 as text.
func TestStatementType(t *testing.T) {
	for head, want := range map[string]string{
		`<?xml version="1.0"?><Document>`:       "application/xml",
		"\xef\xbb\xbf\r\n  <Document>":          "application/xml",
		"0130004    00000EUR2 0001234567890   ": "text/plain",
	} {
		if got := statementType([]byte(head)); got != want {
			t.Errorf("statementType(%q) = %s, want %s", head, got, want)
		}
	}
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

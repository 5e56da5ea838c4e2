package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
)

const (
	runsIBAN       = "FR7630006000011234567890189"
	runsMaskedIBAN = "FR76 **** **** 0189"
	// The line of docs/rules.md §4: one adult, not accommodated, rights
	// from 2026-10-03.
	octoberText = "ADA 2026-10: 2026-10-03 to 2026-10-31: 29 × 14.20 (1 adult, not accommodated: 6.80 + 7.40) = 411.80."
)

// atRunDay sets the clock of the runs to 2026-11-05, moving on a
// millisecond each time it is read, until the test ends.
func atRunDay(t *testing.T) {
	t.Helper()
	start := time.Date(2026, 11, 5, 7, 0, 0, 0, time.UTC)
	var n atomic.Int64
	old := runClock
	runClock = func() time.Time { return start.Add(time.Duration(n.Add(1)) * time.Millisecond) }
	t.Cleanup(func() { runClock = old })
}

// openRights applies, on 2026-10-28, the event opening the ADA rights of
// one adult, not accommodated, from 2026-10-03.
func openRights(t *testing.T, s *paysql.Store, beneficiary string) {
	t.Helper()
	v, err := json.Marshal(map[string]any{
		"event_id": "5b0f2a2e-8c0e-4f4b-9a53-0c1e7d9b1a01", "type": payments.RightsOpened, "schema_version": 1,
		"occurred_at": "2026-10-03T09:00:00Z", "beneficiary_id": beneficiary,
		"data": map[string]any{"from": "2026-10-03", "adults": 1, "children": 0, "accommodated": false,
			"payee": map[string]any{"name": "Amina Diallo", "iban": runsIBAN}},
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Apply(context.Background(), []payments.Record{{Source: payments.Source{Topic: "eligibility.v1"}, Key: []byte(beneficiary), Value: v}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Outcome != payments.OutcomeApplied {
		t.Fatalf("rights_opened of %s: %+v", beneficiary, res)
	}
}

// The JSON of the runs and batches, amounts as ledgerctl writes them.
type (
	cliTotals struct {
		Lines     int    `json:"lines"`
		Gross     string `json:"gross"`
		Deduction string `json:"deduction"`
		Net       string `json:"net"`
	}
	cliRun struct {
		ID        string `json:"id"`
		Kind      string `json:"kind"`
		Period    string `json:"period"`
		Status    string `json:"status"`
		Trigger   string `json:"trigger"`
		By        string `json:"by"`
		BatchID   string `json:"batch_id"`
		Processed int    `json:"processed"`
		Lines     int    `json:"lines"`
	}
	cliBatch struct {
		ID     string               `json:"id"`
		RunID  string               `json:"run_id"`
		Kind   string               `json:"kind"`
		Period string               `json:"period"`
		Status string               `json:"status"`
		Lines  int                  `json:"lines"`
		Totals map[string]cliTotals `json:"totals"`
		Total  cliTotals            `json:"total"`
	}
	cliLine struct {
		ID            string `json:"id"`
		Scheme        string `json:"scheme"`
		Kind          string `json:"kind"`
		BeneficiaryID string `json:"beneficiary_id"`
		Period        string `json:"period"`
		Gross         string `json:"gross"`
		Deduction     string `json:"deduction"`
		Net           string `json:"net"`
		Payee         struct {
			Name string `json:"name"`
			IBAN string `json:"iban"`
		} `json:"payee"`
		Explanation struct {
			Text     string `json:"text"`
			Segments []struct {
				From   string `json:"from"`
				To     string `json:"to"`
				Days   int    `json:"days"`
				Daily  string `json:"daily"`
				Amount string `json:"amount"`
			} `json:"segments"`
		} `json:"explanation"`
	}
)

func decodeJSON(t *testing.T, r result, v any) {
	t.Helper()
	r.want(t, cli.ExitOK)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("-o json: %v\n%s", err, r.stdout)
	}
}

func wantCLITotals(t *testing.T, what string, got cliTotals, lines int, gross, deduction, net string) {
	t.Helper()
	if want := (cliTotals{lines, gross, deduction, net}); got != want {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

var draftBatch = regexp.MustCompile(`draft batch ([0-9a-f-]{36})`)

// TestRuns starts the ADA run of docs/rules.md §4 and reads its batch, as
// the staff who prepare a payment would.
func TestRuns(t *testing.T) {
	atRunDay(t)
	s := startLedgerd(t, nil)
	openRights(t, paysql.New(s.pool(t)), "OFII-2026-000123")
	// ledgerctl reads as the auditor unless told otherwise.
	ledgerctl := func(t *testing.T, stdin string, args ...string) result { return s.as(t, auditorTok, stdin, args...) }

	if r := s.as(t, "", "", "runs", "start", "ada", "--period", "2026-10"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "LEDGER_TOKEN") {
		t.Fatalf("a run started without a token: %d %s", r.code, r.stderr)
	}
	if r := s.as(t, paulToken, "", "runs", "start", "ada", "--period", "2026-10"); r.code != cli.ExitFailure || !strings.Contains(r.stderr, "403 Forbidden") || !strings.Contains(r.stderr, "preparer") {
		t.Fatalf("a run started by an approver: %d %s", r.code, r.stderr)
	}
	r := s.as(t, marieToken, "", "runs", "start", "ada", "--period", "2026-10")
	r.want(t, cli.ExitOK, "ada run ", " for 2026-10: done, 1 line for 1 beneficiary in ", "SCHEME", "GROSS", "DEDUCTION", "NET")
	m := draftBatch.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no draft batch in:\n%s", r.stdout)
	}
	batch := m[1]
	for _, row := range []string{"ada", "total"} {
		if !regexp.MustCompile(`(?m)^` + row + ` +1 +411\.80 +0\.00 +411\.80 *$`).MatchString(r.stdout) {
			t.Errorf("no %s row of 1 line, 411.80, 0.00, 411.80:\n%s", row, r.stdout)
		}
	}

	var runs struct {
		Runs []cliRun `json:"runs"`
	}
	t.Run("RunsList", func(t *testing.T) {
		decodeJSON(t, ledgerctl(t, "", "-o", "json", "runs", "list"), &runs)
		if len(runs.Runs) != 1 {
			t.Fatalf("runs = %+v, want one", runs.Runs)
		}
		run := runs.Runs[0]
		if run.Kind != "ada" || run.Period != "2026-10" || run.Status != "done" || run.Trigger != "staff" || run.By != "marie" ||
			run.BatchID != batch || run.Processed != 1 || run.Lines != 1 {
			t.Errorf("run = %+v", run)
		}
		ledgerctl(t, "", "runs", "list").want(t, cli.ExitOK, "RUN", "BATCH", run.ID, "ada", "2026-10", "2026-11-05", "done", "staff",
			"marie", batch)
	})

	t.Run("BatchesList", func(t *testing.T) {
		r := ledgerctl(t, "", "batches", "list")
		r.want(t, cli.ExitOK, "BATCH", "GROSS", batch)
		if !regexp.MustCompile(batch + ` +ada +2026-10 +draft +\S+ +1 +411\.80 +0\.00 +411\.80`).MatchString(r.stdout) {
			t.Errorf("no row for the draft batch of 411.80:\n%s", r.stdout)
		}
		var l struct {
			Batches []cliBatch `json:"batches"`
		}
		decodeJSON(t, ledgerctl(t, "", "-o", "json", "batches", "list", "--kind", "ada", "--period", "2026-10", "--status", "draft"), &l)
		if len(l.Batches) != 1 || l.Batches[0].ID != batch || l.Batches[0].Status != "draft" {
			t.Fatalf("batches = %+v", l.Batches)
		}
		wantCLITotals(t, "total", l.Batches[0].Total, 1, "411.80", "0.00", "411.80")
		decodeJSON(t, ledgerctl(t, "", "-o", "json", "batches", "list", "--period", "2026-09"), &l)
		if len(l.Batches) != 0 {
			t.Errorf("batches of 2026-09 = %+v, want none", l.Batches)
		}
	})

	t.Run("BatchesShow", func(t *testing.T) {
		r := ledgerctl(t, "", "batches", "show", batch)
		r.want(t, cli.ExitOK, batch, "draft", "2026-10", "411.80")
		if strings.Contains(r.stdout, "EXPLANATION") {
			t.Errorf("lines listed without --lines:\n%s", r.stdout)
		}

		r = ledgerctl(t, "", "batches", "show", batch, "--lines")
		r.want(t, cli.ExitOK, "LINE", "EXPLANATION", "OFII-2026-000123", "Amina Diallo", runsMaskedIBAN, octoberText)
		if !regexp.MustCompile(`ada +monthly +OFII-2026-000123 +2026-10 +411\.80 +0\.00 +411\.80 +Amina Diallo`).MatchString(r.stdout) {
			t.Errorf("no line of 411.80, 0.00, 411.80:\n%s", r.stdout)
		}
		if strings.Contains(r.stdout, runsIBAN) || strings.Contains(r.stdout, "more: --cursor") {
			t.Errorf("the IBAN shows in full without --show-iban, or a cursor is offered for one line:\n%s", r.stdout)
		}
		// The IBAN in full is for the staff who pay: the server sends it
		// masked to the others, whatever they ask.
		s.as(t, marieToken, "", "batches", "show", batch, "--lines", "--show-iban").want(t, cli.ExitOK, runsIBAN)
		if r := ledgerctl(t, "", "batches", "show", batch, "--lines", "--show-iban"); strings.Contains(r.stdout, runsIBAN) || !strings.Contains(r.stdout, runsMaskedIBAN) {
			t.Errorf("the auditor sees the IBAN in full:\n%s", r.stdout)
		}
	})

	t.Run("BatchesShowJSON", func(t *testing.T) {
		var out struct {
			Batch      cliBatch  `json:"batch"`
			Lines      []cliLine `json:"lines"`
			NextCursor string    `json:"next_cursor"`
		}
		decodeJSON(t, ledgerctl(t, "", "-o", "json", "batches", "show", batch, "--lines"), &out)
		b := out.Batch
		if b.ID != batch || b.Kind != "ada" || b.Period != "2026-10" || b.Status != "draft" || b.Lines != 1 || len(b.Totals) != 1 {
			t.Errorf("batch = %+v", b)
		}
		wantCLITotals(t, "totals[ada]", b.Totals["ada"], 1, "411.80", "0.00", "411.80")
		wantCLITotals(t, "total", b.Total, 1, "411.80", "0.00", "411.80")
		if len(out.Lines) != 1 || out.NextCursor != "" {
			t.Fatalf("lines = %+v, next %q; want one line", out.Lines, out.NextCursor)
		}
		l := out.Lines[0]
		if len(l.ID) != payments.LineIDLen || l.Scheme != "ada" || l.Kind != "monthly" || l.BeneficiaryID != "OFII-2026-000123" ||
			l.Period != "2026-10" || l.Gross != "411.80" || l.Deduction != "0.00" || l.Net != "411.80" ||
			l.Payee.Name != "Amina Diallo" || l.Payee.IBAN != runsMaskedIBAN || l.Explanation.Text != octoberText {
			t.Errorf("line = %+v", l)
		}
		if s := l.Explanation.Segments; len(s) != 1 || s[0].From != "2026-10-03" || s[0].To != "2026-10-31" || s[0].Days != 29 ||
			s[0].Daily != "14.20" || s[0].Amount != "411.80" {
			t.Errorf("segments = %+v, want 2026-10-03 to 2026-10-31: 29 × 14.20 = 411.80", s)
		}
	})

	// Running October again while its batch is a draft replaces the batch.
	t.Run("RunAgainJSON", func(t *testing.T) {
		var out struct {
			Run   cliRun   `json:"run"`
			Batch cliBatch `json:"batch"`
		}
		decodeJSON(t, s.as(t, opsToken, "", "-o", "json", "runs", "start", "ada", "--period", "2026-10"), &out)
		if out.Run.Status != "done" || out.Run.By != "ops" || out.Run.Lines != 1 || out.Run.BatchID == batch ||
			out.Batch.ID != out.Run.BatchID || out.Batch.RunID != out.Run.ID || out.Batch.Status != "draft" {
			t.Errorf("run %+v, batch %+v", out.Run, out.Batch)
		}
		wantCLITotals(t, "totals[ada]", out.Batch.Totals["ada"], 1, "411.80", "0.00", "411.80")
		wantCLITotals(t, "total", out.Batch.Total, 1, "411.80", "0.00", "411.80")
		var l struct {
			Batches []cliBatch `json:"batches"`
		}
		decodeJSON(t, ledgerctl(t, "", "-o", "json", "batches", "list"), &l)
		if len(l.Batches) != 1 || l.Batches[0].ID != out.Batch.ID {
			t.Errorf("batches = %+v, want the new draft alone", l.Batches)
		}
	})
}

func TestRunsUsage(t *testing.T) {
	atRunDay(t)
	s := startLedgerd(t, nil)
	openRights(t, paysql.New(s.pool(t)), "OFII-2026-000123")
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"MonthOutOfRange", []string{"runs", "start", "ada", "--period", "2026-13"}, "error: --period: 2026-13 has month 13"},
		{"NotAMonth", []string{"runs", "start", "ada", "--period", "10/2026"}, `error: --period: "10/2026" is not a month of the form YYYY-MM`},
		{"CurrentMonth", []string{"runs", "start", "ada", "--period", "2026-11"}, "error: --period: 2026-11 is not over yet"},
		{"FutureMonth", []string{"runs", "start", "ada", "--period", "2027-01"}, "error: --period: 2027-01 is not over yet"},
		{"BeyondLimitation", []string{"runs", "start", "ada", "--period", "2024-10"}, "error: --period: 2024-10 is older than the two-year limitation"},
		{"MissingPeriod", []string{"runs", "start", "ada"}, `required flag(s) "period" not set`},
		{"BadDay", []string{"runs", "start", "grants", "--day", "2026-11-31"}, "error: --day: "},
		{"FutureDay", []string{"runs", "start", "grants", "--day", "2026-12-01"}, "error: --day: 2026-12-01 is in the future"},
		{"RunsLimit", []string{"runs", "list", "--limit", "0"}, "error: --limit: must be between 1 and"},
		{"BatchesKind", []string{"batches", "list", "--kind", "monthly"}, `error: --kind: "monthly" is not a kind of run`},
		{"BatchesPeriod", []string{"batches", "list", "--period", "2026-13"}, "error: --period: 2026-13 has month 13"},
		{"BatchID", []string{"batches", "show", "nope"}, `error: ID: "nope" is not a batch id (a UUID)`},
		{"BatchLimit", []string{"batches", "show", "0b0e7b39-4e0a-4a3f-9d3c-1d2a5e8f7a61", "--lines", "--limit", "0"}, "error: --limit: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.as(t, marieToken, "", tt.args...)
			r.want(t, cli.ExitUsage)
			// The server's answers say their status: "error: 400 Bad
			// Request: --period: ...".
			if !strings.Contains(r.stderr, tt.stderr) && !strings.Contains(r.stderr, strings.Replace(tt.stderr, "error: ", "error: 400 Bad Request: ", 1)) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout is not empty:\n%s", r.stdout)
			}
		})
	}
	t.Run("UnknownBatch", func(t *testing.T) {
		r := s.as(t, auditorTok, "", "batches", "show", "0b0e7b39-4e0a-4a3f-9d3c-1d2a5e8f7a61")
		r.want(t, cli.ExitFailure, "")
		if !strings.Contains(r.stderr, "404 Not Found") {
			t.Errorf("stderr does not say 404 Not Found:\n%s", r.stderr)
		}
		if !strings.Contains(r.stderr, "0b0e7b39-4e0a-4a3f-9d3c-1d2a5e8f7a61") {
			t.Errorf("stderr does not name the batch:\n%s", r.stderr)
		}
	})
	var runs struct {
		Runs []cliRun `json:"runs"`
	}
	decodeJSON(t, s.as(t, auditorTok, "", "-o", "json", "runs", "list"), &runs)
	if len(runs.Runs) != 0 {
		t.Errorf("refused commands started %d runs: %+v", len(runs.Runs), runs.Runs)
	}
}

// cutOff is a proxy in front of a ledgerd that loses the answer of every
// POST /v1/runs: it hangs up on the client either once the server has
// answered (forward) or as soon as the request arrives (drop). It passes
// every other request on.
func cutOff(t *testing.T, target string, forward bool) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/runs" {
			proxy.ServeHTTP(w, r)
			return
		}
		if forward {
			rec := httptest.NewRecorder()
			proxy.ServeHTTP(rec, r)
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestRunLostConnection: when the answer of a run is lost with the
// connection, ledgerctl asks the server what became of it and says it.
func TestRunLostConnection(t *testing.T) {
	atRunDay(t)
	s := startLedgerd(t, nil)
	openRights(t, paysql.New(s.pool(t)), "OFII-2026-000123")
	t.Run("NeverArrived", func(t *testing.T) {
		r := s.as(t, marieToken, "", "runs", "start", "ada", "--period", "2026-10", "--server", cutOff(t, s.URL, false))
		r.want(t, cli.ExitFailure)
		if !strings.Contains(r.stderr, "was lost before it answered") || !strings.Contains(r.stderr, "was not started: start it again with 'ledgerctl runs start ada --period 2026-10'") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
	})
	t.Run("DoneMeanwhile", func(t *testing.T) {
		r := s.as(t, marieToken, "", "runs", "start", "ada", "--period", "2026-10", "--server", cutOff(t, s.URL, true))
		r.want(t, cli.ExitOK)
		m := regexp.MustCompile(`the ADA run of 2026-10 finished: run [0-9a-f-]{36}, draft batch ([0-9a-f-]{36})`).FindStringSubmatch(r.stderr)
		if m == nil {
			t.Fatalf("stderr:\n%s", r.stderr)
		}
		var b cliBatch
		decodeJSON(t, s.as(t, auditorTok, "", "-o", "json", "batches", "show", m[1]), &struct {
			Batch *cliBatch `json:"batch"`
		}{&b})
		if b.Status != "draft" {
			t.Errorf("batch %s is %s, want draft", m[1], b.Status)
		}
		wantCLITotals(t, "total", b.Total, 1, "411.80", "0.00", "411.80")
	})
	t.Run("ServerDown", func(t *testing.T) {
		r := s.as(t, marieToken, "", "runs", "list", "--server", "http://127.0.0.1:1")
		r.want(t, cli.ExitFailure)
		if !strings.Contains(r.stderr, "cannot reach ledgerd at http://127.0.0.1:1") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
	})
}

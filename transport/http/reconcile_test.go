package httptransport

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/sqlstore"
	"github.com/ofii/allowances/payments/bank"
	"github.com/ofii/allowances/payments/bank/banksim"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/reconcile"
	reconsql "github.com/ofii/allowances/reconcile/sqlstore"
)

// The day the bank books the payments of the reconciliation tests, the
// balance the account opened the day with, and an IBAN that is nobody's.
const (
	reconDay     = "2026-11-06"
	strangerIBAN = "FR7610107001011234567890129"
	// testMaxStatement is the statement route's body limit in these tests:
	// above the other routes' (testMaxBody), small enough to exceed.
	testMaxStatement = 64 << 10
)

var reconOpening = decimal.RequireFromString("10000.00")

// reconAPI is the approval API with the reconciliation, over a ledger
// funded with the bank's opening balance and a released batch paying
// three households, accepted by the bank.
type reconAPI struct {
	*batchAPI
	batchID string
	lines   map[string]lineJSON // by beneficiary: A, B and C
}

func newReconAPI(t *testing.T) *reconAPI {
	t.Helper()
	return newReconAPIWith(t, nil)
}

// newReconAPIWith is newReconAPI with the reconciliation fetching the
// statements through gw (nil: no bank).
func newReconAPIWith(t *testing.T, gw bank.Gateway) *reconAPI {
	t.Helper()
	ctx := context.Background()
	pool, _ := dbtest.MustOpen(t)
	tokens, err := ParseTokens(strings.Join([]string{
		"ops:admin:" + HashToken(adminToken),
		"court-of-audit:auditor:" + HashToken(auditorToken),
		"marie:preparer:" + HashToken(preparerToken),
		"paul:approver:" + HashToken(approverToken),
		"claire:controller:" + HashToken(controllerToken),
	}, ";"))
	if err != nil {
		t.Fatalf("parse tokens: %v", err)
	}
	l := sqlstore.New(pool)
	if err := ledger.SetUpChart(ctx, l); err != nil {
		t.Fatalf("set up chart: %v", err)
	}
	if _, err := l.Post(ctx, ledger.NewEntry{IdempotencyKey: "funding", EffectiveDate: ledger.NewDate(2026, 11, 2), Description: "State funding",
		Lines: []ledger.Line{{Account: ledger.BankMain, Amount: reconOpening}, {Account: ledger.StateFunding, Amount: reconOpening.Neg()}}}); err != nil {
		t.Fatalf("fund the account: %v", err)
	}
	quiet := slog.New(slog.DiscardHandler)
	clock := ticking(runDay)
	runs := paysql.NewRunStore(pool, paysql.WithRunClock(clock))
	approvals, err := paysql.NewApprovalStore(pool, runs, paysql.ApprovalConfig{Debtor: testDebtor, Now: clock})
	if err != nil {
		t.Fatalf("approval store: %v", err)
	}
	store, err := reconsql.New(pool, l, reconsql.Config{Account: testDebtor.IBAN, Now: ticking(time.Date(2026, 11, 6, 18, 0, 0, 0, time.UTC)), Logger: quiet})
	if err != nil {
		t.Fatalf("reconciliation store: %v", err)
	}
	importer := reconcile.Importer{Store: store, Accounts: store.Accounts()}
	rec := reconcile.Services{StatementImporter: importer, Matching: store, ExceptionDesk: reconcile.Desk{Store: store},
		Reporter: reconcile.Reports{Facts: store, Ledger: l}, StatementFetcher: reconcile.Fetcher{Bank: gw, Account: testDebtor.IBAN, Importer: importer, Due: store}}
	logs := &syncBuffer{}
	h := NewHandler(l, Options{
		Tokens:            tokens,
		Logger:            slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry:          prometheus.NewRegistry(),
		MaxBodyBytes:      testMaxBody,
		MaxStatementBytes: testMaxStatement,
		Runs:              runs,
		Approvals:         withDelivery(approvals, l, clock),
		Reconcile:         rec,
		BankAccount:       testDebtor.IBAN,
	})
	srv := newServer(t, h)
	t.Cleanup(srv.Close)
	a := &reconAPI{batchAPI: &batchAPI{
		testAPI: &testAPI{srv: srv, pool: pool, logs: logs},
		events:  paysql.New(pool, paysql.WithClock(func() time.Time { return eventsDay })),
	}}

	// October for three households, from three days: 411.80, 312.40, 213.00.
	a.open(t, household{id: "A", from: "2026-10-03", adults: 1}, household{id: "B", from: "2026-10-10", adults: 1},
		household{id: "C", from: "2026-10-17", adults: 1})
	var run runJSON
	a.call(t, "POST", "/v1/runs", preparerToken, `{"kind":"ada","period":"2026-10"}`, http.StatusCreated, &run)
	a.batchID = run.BatchID
	base := "/v1/batches/" + run.BatchID
	a.call(t, "POST", base+"/submit", preparerToken, "", http.StatusOK, nil)
	a.call(t, "POST", base+"/approve", approverToken, "", http.StatusOK, nil)
	a.call(t, "POST", base+"/release", approverToken, "", http.StatusOK, nil)
	var page linesJSON
	a.read(t, preparerToken, base+"/lines", &page)
	a.lines = map[string]lineJSON{}
	var ids []string
	for _, ln := range page.Lines {
		a.lines[ln.BeneficiaryID] = ln
		ids = append(ids, ln.ID)
	}
	if len(a.lines) != 3 || a.lines["A"].Net != "411.80" || a.lines["B"].Net != "312.40" || a.lines["C"].Net != "213.00" {
		t.Fatalf("batch lines = %+v", page.Lines)
	}
	// The bank accepts the three payments.
	var files struct {
		Files []fileJSON `json:"files"`
	}
	a.read(t, auditorToken, base+"/files", &files)
	if len(files.Files) != 1 {
		t.Fatalf("files = %+v", files.Files)
	}
	if r := a.doXML(t, "/v1/status-reports", controllerToken, "application/xml", statusReport(t, "BANK-RPT-RECON", files.Files[0], ids, nil)); r.status != http.StatusOK {
		t.Fatalf("status report = %d %s", r.status, r.body)
	}
	return a
}

// statement writes the statement of testdata/camt053_recon.xml: the bank
// books A by its EndToEndId, B's amount with no reference, 25.00 out and
// 10.00 in that nobody explains, and C's amount to C's payee without an
// EndToEndId.
func (a *reconAPI) statement(t *testing.T) []byte {
	t.Helper()
	tmpl, err := template.ParseFiles("testdata/camt053_recon.xml")
	if err != nil {
		t.Fatal(err)
	}
	type payment struct{ ID, Amount, IBAN string }
	pay := func(b string) payment {
		ln := a.lines[b]
		return payment{ln.ID, ln.Net, ln.Payee.IBAN}
	}
	closing := reconOpening
	for _, b := range []string{"A", "B", "C"} {
		closing = closing.Sub(decimal.RequireFromString(a.lines[b].Net))
	}
	closing = closing.Sub(decimal.RequireFromString("25.00")).Add(decimal.RequireFromString("10.00"))
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, map[string]any{
		"Day": reconDay, "Account": testDebtor.IBAN, "Opening": reconOpening.StringFixed(2), "Closing": closing.StringFixed(2),
		"A": pay("A"), "B": pay("B"), "C": pay("C"), "Stranger": strangerIBAN,
	}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The JSON of the reconciliation, amounts as the API writes them.
type (
	countJSON struct {
		Count int    `json:"count"`
		Sum   string `json:"sum"`
	}
	importJSON struct {
		Format     string `json:"format"`
		FileSHA256 string `json:"file_sha256"`
		Replayed   bool   `json:"replayed"`
		Statements []struct {
			ID        string `json:"id"`
			Statement string `json:"statement"`
			Account   string `json:"account"`
			Date      string `json:"date"`
			Lines     int    `json:"lines"`
			Replayed  bool   `json:"replayed"`
		} `json:"statements"`
		Match struct {
			Matched    map[string]countJSON `json:"matched"`
			Exceptions int                  `json:"exceptions"`
			Unmatched  int                  `json:"unmatched"`
		} `json:"match"`
	}
	reconExceptionJSON struct {
		ID   string `json:"id"`
		Kind string `json:"kind"`
		Line *struct {
			StatementID string `json:"statement_id"`
			Index       int    `json:"index"`
		} `json:"line"`
		Payment     string `json:"payment"`
		Amount      string `json:"amount"`
		Reason      string `json:"reason"`
		Owner       string `json:"owner"`
		Status      string `json:"status"`
		Resolution  string `json:"resolution"`
		ResolvedBy  string `json:"resolved_by"`
		BookingDate string `json:"booking_date"`
		Direction   string `json:"direction"`
		Label       string `json:"label"`
	}
	reportJSON struct {
		Account          string               `json:"account"`
		Date             string               `json:"date"`
		StatementFound   bool                 `json:"statement_found"`
		StatementClosing string               `json:"statement_closing"`
		LedgerClosing    string               `json:"ledger_closing"`
		Difference       string               `json:"difference"`
		Agrees           bool                 `json:"agrees"`
		Lines            int                  `json:"lines"`
		Matched          map[string]countJSON `json:"matched"`
		Unmatched        countJSON            `json:"unmatched"`
		OpenExceptions   []reconExceptionJSON `json:"open_exceptions"`
		InTransitTotal   countJSON            `json:"in_transit_total"`
		Verdict          string               `json:"verdict"`
	}
	matchJSON struct {
		ID        string   `json:"id"`
		Rule      string   `json:"rule"`
		Amount    string   `json:"amount"`
		Payments  []string `json:"payments"`
		MatchedBy string   `json:"matched_by"`
		Reason    string   `json:"reason"`
		UndoneBy  string   `json:"undone_by"`
	}
)

// report reads the report of reconDay as an auditor.
func (a *reconAPI) report(t *testing.T) reportJSON {
	t.Helper()
	var r reportJSON
	a.read(t, auditorToken, "/v1/reconciliation/report?date="+reconDay, &r)
	return r
}

// openExceptions lists the open exceptions as a controller, by the amount
// of their line.
func (a *reconAPI) openExceptions(t *testing.T) map[string]reconExceptionJSON {
	t.Helper()
	var page struct {
		Exceptions []reconExceptionJSON `json:"exceptions"`
	}
	a.read(t, controllerToken, "/v1/reconciliation/exceptions?status=open", &page)
	out := map[string]reconExceptionJSON{}
	for _, x := range page.Exceptions {
		out[x.Amount] = x
	}
	return out
}

func equalDecimal(a, b string) bool {
	x, err1 := decimal.NewFromString(a)
	y, err2 := decimal.NewFromString(b)
	return err1 == nil && err2 == nil && x.Equal(y)
}

// TestReconciliationOverHTTP imports a statement, reads the report, and
// resolves every exception a different way, the report following each
// move: a match by hand, a confirmed suggestion, two lines to suspense (the
// ledger then agrees with the bank), a match undone, an exception closed.
func TestReconciliationOverHTTP(t *testing.T) {
	spool := spoolDir(t)
	a := newReconAPI(t)
	doc := a.statement(t)

	t.Run("MalformedFileImportsNothing", func(t *testing.T) {
		bad := bytes.Replace(doc, []byte(`<Amt Ccy="EUR">25.00</Amt>`), []byte(`<Amt Ccy="EUR">25,00</Amt>`), 1)
		r := a.doXML(t, "/v1/statements", controllerToken, "application/xml", bad)
		if r.status != http.StatusBadRequest {
			t.Fatalf("POST /v1/statements (malformed) = %d %s", r.status, r.body)
		}
		e := errorOf(t, r)
		if e.Code != "invalid" || e.Field == "" || !strings.Contains(e.Message, "Ntry[3]/Amt") || !strings.Contains(e.Message, "line ") {
			t.Errorf("error = %+v, want it to name the element Ntry[3]/Amt and its line", e)
		}
		if rep := a.report(t); rep.StatementFound || rep.Lines != 0 {
			t.Errorf("report after the malformed file = %+v, want no statement", rep)
		}
	})

	var res importJSON
	r := a.doXML(t, "/v1/statements", controllerToken, "application/xml", doc)
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &res) != nil {
		t.Fatalf("POST /v1/statements = %d %s, want 201", r.status, r.body)
	}
	if res.Replayed || res.Format != reconcile.FormatCamt053v08 || len(res.FileSHA256) != 64 || len(res.Statements) != 1 ||
		res.Statements[0].Lines != 5 || res.Statements[0].Date != reconDay || res.Statements[0].Statement != "STMT-RECON-"+reconDay ||
		res.Match.Matched["end_to_end"] != (countJSON{1, "411.80"}) || res.Match.Unmatched != 4 || res.Match.Exceptions != 4 {
		t.Fatalf("import = %s", r.body)
	}
	// The same bytes again: 200, nothing changed. As text, a CFONB type.
	r = a.doXML(t, "/v1/statements", adminToken, "application/octet-stream", doc)
	var again importJSON
	if r.status != http.StatusOK || json.Unmarshal(r.body, &again) != nil || !again.Replayed || again.FileSHA256 != res.FileSHA256 {
		t.Fatalf("the same file again = %d %s, want 200 replayed", r.status, r.body)
	}

	rep := a.report(t)
	if !rep.StatementFound || rep.Agrees || rep.Account != testDebtor.IBAN || rep.Date != reconDay || rep.Lines != 5 ||
		rep.Matched["end_to_end"] != (countJSON{1, "411.80"}) || rep.Unmatched.Count != 4 || len(rep.OpenExceptions) != 4 ||
		!equalDecimal(rep.LedgerClosing, "9588.20") || !equalDecimal(rep.StatementClosing, "9047.80") || rep.Verdict == "" {
		t.Fatalf("report after the import = %+v", rep)
	}
	if !equalDecimal(rep.Difference, "-540.40") {
		t.Errorf("difference = %s, want -540.40 (statement − ledger)", rep.Difference)
	}

	t.Run("ReportCSV", func(t *testing.T) {
		r := a.call(t, "GET", "/v1/reconciliation/report?date="+reconDay+"&format=csv", controllerToken, "", http.StatusOK, nil)
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Errorf("Content-Type = %q", ct)
		}
		rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
		if err != nil {
			t.Fatalf("CSV: %v\n%s", err, r.body)
		}
		if !slices.Equal(rows[0], ReportCSVHeader) {
			t.Errorf("header = %v", rows[0])
		}
		got := map[string][]string{}
		for _, row := range rows[1:] {
			if row[0] != testDebtor.IBAN || row[1] != reconDay {
				t.Errorf("row of another account or day: %v", row)
			}
			got[row[2]+"/"+row[3]] = row[4:]
		}
		for _, rule := range reconcile.Rules {
			if _, ok := got["matched/"+string(rule)]; !ok {
				t.Errorf("no row for the rule %s:\n%s", rule, r.body)
			}
		}
		want := map[string][]string{
			"matched/end_to_end":        {"1", "411.80", ""},
			"matched/manual":            {"0", "0.00", ""},
			"unmatched/lines":           {"4", "560.40", ""},
			"exceptions/open":           {"4", "560.40", ""},
			"summary/statement_closing": {"", "9047.80", ""},
			"summary/ledger_closing":    {"", "9588.20", ""},
			"summary/difference":        {"", "-540.40", ""},
			"summary/agrees":            {"", "", "no"},
		}
		for k, w := range want {
			if !slices.Equal(got[k], w) {
				t.Errorf("row %s = %v, want %v", k, got[k], w)
			}
		}
		if v := got["summary/verdict"]; len(v) != 3 || v[2] != rep.Verdict {
			t.Errorf("verdict row = %v, want %q", v, rep.Verdict)
		}
	})

	open := a.openExceptions(t)
	xB, x25, x10, xC := open["312.40"], open["25.00"], open["10.00"], open["213.00"]
	if xB.Kind != "unmatched" || x25.Kind != "unmatched" || x10.Kind != "unmatched" || x10.Direction != "CRDT" ||
		xC.Kind != "suggestion" || xC.Payment != a.lines["C"].ID || xB.Line == nil || xB.BookingDate != reconDay {
		t.Fatalf("open exceptions = %+v", open)
	}

	t.Run("ExceptionsHideIBANs", func(t *testing.T) {
		for _, tok := range []string{auditorToken, controllerToken, adminToken} {
			body := a.call(t, "GET", "/v1/reconciliation/exceptions", tok, "", http.StatusOK, nil).body
			if bytes.Contains(body, []byte(strangerIBAN)) || !bytes.Contains(body, []byte(maskedOf(strangerIBAN))) {
				t.Errorf("the IBAN of the line's label is not masked:\n%s", body)
			}
		}
		var page struct {
			Exceptions []reconExceptionJSON `json:"exceptions"`
			Next       string               `json:"next"`
		}
		a.read(t, auditorToken, "/v1/reconciliation/exceptions?kind=suggestion", &page)
		if len(page.Exceptions) != 1 || page.Exceptions[0].ID != xC.ID {
			t.Errorf("suggestions = %+v", page.Exceptions)
		}
		a.read(t, auditorToken, "/v1/reconciliation/exceptions?limit=2", &page)
		if len(page.Exceptions) != 2 || page.Next != page.Exceptions[1].ID {
			t.Errorf("a full page of 2 = %+v, next %q", page.Exceptions, page.Next)
		}
		first, after := page.Exceptions, page.Next
		page.Exceptions = nil
		a.read(t, auditorToken, "/v1/reconciliation/exceptions?limit=2&after="+after, &page)
		if len(page.Exceptions) != 2 || page.Exceptions[0].ID == first[0].ID || page.Exceptions[0].ID == first[1].ID {
			t.Errorf("the second page = %+v", page.Exceptions)
		}
	})

	t.Run("Assign", func(t *testing.T) {
		var x reconExceptionJSON
		a.call(t, "POST", "/v1/reconciliation/exceptions/"+xB.ID+"/assign", adminToken, `{"owner":"claire"}`, http.StatusOK, &x)
		if x.ID != xB.ID || x.Owner != "claire" || x.Status != "open" {
			t.Fatalf("assigned exception = %+v", x)
		}
		var page struct {
			Exceptions []reconExceptionJSON `json:"exceptions"`
		}
		a.read(t, auditorToken, "/v1/reconciliation/exceptions?owner=claire", &page)
		if len(page.Exceptions) != 1 || page.Exceptions[0].ID != xB.ID {
			t.Errorf("claire's exceptions = %+v", page.Exceptions)
		}
	})

	// B's line, matched by hand to B's payment.
	var x reconExceptionJSON
	a.call(t, "POST", "/v1/reconciliation/exceptions/"+xB.ID+"/match", controllerToken,
		`{"payments":["`+a.lines["B"].ID+`"],"reason":"the bank's advice names B, paid from `+strangerIBAN+`"}`, http.StatusOK, &x)
	if x.ID != xB.ID || x.Status != "resolved" || x.ResolvedBy != "claire" {
		t.Fatalf("matched exception = %+v", x)
	}
	rep = a.report(t)
	if rep.Matched["manual"] != (countJSON{1, "312.40"}) || len(rep.OpenExceptions) != 3 || !equalDecimal(rep.Difference, "-228.00") {
		t.Fatalf("report after the match by hand = %+v", rep)
	}

	// C's suggestion, confirmed.
	a.call(t, "POST", "/v1/reconciliation/exceptions/"+xC.ID+"/confirm", controllerToken, "", http.StatusOK, &x)
	if x.Status != "resolved" {
		t.Fatalf("confirmed suggestion = %+v", x)
	}
	rep = a.report(t)
	if rep.Matched["suggestion"] != (countJSON{1, "213.00"}) || len(rep.OpenExceptions) != 2 || !equalDecimal(rep.Difference, "-15.00") {
		t.Fatalf("report after the confirmation = %+v", rep)
	}

	// The two lines nobody explains, to suspense: the ledger agrees.
	a.call(t, "POST", "/v1/reconciliation/exceptions/"+x25.ID+"/suspense", controllerToken, `{"reason":"asked the bank, ticket 1234"}`, http.StatusOK, &x)
	if x.Status != "resolved" || x.Label == "" || strings.Contains(x.Label, strangerIBAN) {
		t.Fatalf("exception booked to suspense = %+v", x)
	}
	rep = a.report(t)
	if rep.Matched["suspense"] != (countJSON{1, "25.00"}) || len(rep.OpenExceptions) != 1 || !equalDecimal(rep.Difference, "10.00") {
		t.Fatalf("report after the first suspense = %+v", rep)
	}
	a.call(t, "POST", "/v1/reconciliation/exceptions/"+x10.ID+"/suspense", controllerToken, `{"reason":"unknown credit"}`, http.StatusOK, nil)
	a.call(t, "POST", "/v1/reconciliation/exceptions/"+x10.ID+"/suspense", controllerToken, `{"reason":"again"}`, http.StatusConflict, nil)
	rep = a.report(t)
	if !rep.Agrees || !equalDecimal(rep.Difference, "0") || len(rep.OpenExceptions) != 0 || rep.Unmatched.Count != 0 ||
		rep.Matched["suspense"] != (countJSON{2, "35.00"}) {
		t.Fatalf("report after the suspense bookings = %+v, want the ledger to agree", rep)
	}

	// The match by hand was wrong after all: undone, B's line is open again.
	var ms struct {
		Matches []matchJSON `json:"matches"`
	}
	a.read(t, auditorToken, "/v1/reconciliation/matches?rule=manual", &ms)
	if len(ms.Matches) != 1 || !slices.Equal(ms.Matches[0].Payments, []string{a.lines["B"].ID}) || ms.Matches[0].MatchedBy != "claire" ||
		ms.Matches[0].Amount != "312.40" || ms.Matches[0].Reason != "the bank's advice names B, paid from "+maskedOf(strangerIBAN) {
		t.Fatalf("manual matches = %+v", ms.Matches)
	}
	manual := ms.Matches[0].ID
	a.read(t, auditorToken, "/v1/reconciliation/matches?payment="+a.lines["A"].ID, &ms)
	if len(ms.Matches) != 1 || ms.Matches[0].Rule != "end_to_end" {
		t.Errorf("matches of A = %+v", ms.Matches)
	}
	var undone struct {
		ID     string `json:"id"`
		Undone bool   `json:"undone"`
	}
	a.call(t, "POST", "/v1/reconciliation/matches/"+manual+"/undo", adminToken, `{"reason":"x"}`, http.StatusForbidden, nil)
	a.call(t, "POST", "/v1/reconciliation/matches/"+manual+"/undo", controllerToken, `{"reason":"B was paid by cheque"}`, http.StatusOK, &undone)
	if undone.ID != manual || !undone.Undone {
		t.Errorf("undo = %+v", undone)
	}
	a.call(t, "POST", "/v1/reconciliation/matches/"+manual+"/undo", controllerToken, `{"reason":"again"}`, http.StatusConflict, nil)
	a.read(t, auditorToken, "/v1/reconciliation/matches?rule=manual", &ms)
	if len(ms.Matches) != 1 || ms.Matches[0].UndoneBy != "claire" {
		t.Errorf("the undone match = %+v", ms.Matches)
	}
	rep = a.report(t)
	if rep.Agrees || !equalDecimal(rep.Difference, "-312.40") || len(rep.OpenExceptions) != 1 || rep.InTransitTotal.Count != 1 {
		t.Fatalf("report after the undo = %+v", rep)
	}

	// The exception of the line, closed: nothing posted, nothing open.
	reopened := rep.OpenExceptions[0]
	a.call(t, "POST", "/v1/reconciliation/exceptions/"+reopened.ID+"/close", controllerToken, `{"reason":"B's cheque, the bank will correct"}`, http.StatusOK, &x)
	if x.Status != "closed" {
		t.Fatalf("closed exception = %+v", x)
	}
	rep = a.report(t)
	if rep.Agrees || !equalDecimal(rep.Difference, "-312.40") || len(rep.OpenExceptions) != 0 {
		t.Fatalf("report after the close = %+v", rep)
	}

	wantEmpty(t, spool)

	t.Run("RunAndSweep", func(t *testing.T) {
		var mr struct {
			Matched map[string]countJSON `json:"matched"`
		}
		a.call(t, "POST", "/v1/reconciliation/match", adminToken, "", http.StatusOK, &mr)
		if mr.Matched == nil {
			t.Errorf("match result without matched")
		}
		var sw struct {
			Date   string `json:"date"`
			Opened int    `json:"opened"`
		}
		// B's payment, accepted on the 6th, is still not booked two weeks on.
		a.call(t, "POST", "/v1/reconciliation/sweep", adminToken, `{"date":"2026-11-20"}`, http.StatusOK, &sw)
		if sw.Date != "2026-11-20" || sw.Opened != 1 {
			t.Errorf("sweep = %+v, want one payment in transit too long", sw)
		}
		var page struct {
			Exceptions []reconExceptionJSON `json:"exceptions"`
		}
		a.read(t, auditorToken, "/v1/reconciliation/exceptions?kind=in_transit_too_long", &page)
		if len(page.Exceptions) != 1 || page.Exceptions[0].Payment != a.lines["B"].ID {
			t.Errorf("in transit too long = %+v", page.Exceptions)
		}
	})
}

// TestReconciliationRoles: each route admits its roles only.
func TestReconciliationRoles(t *testing.T) {
	a := newReconAPI(t)
	doc := a.statement(t)
	unknown := "0b0e7b39-4e0a-4a3f-9d3c-1d2a5e8f7a61"
	tests := []struct {
		name, method, path, token, body string
		wantMsg                         string
	}{
		{"PreparerReadsReport", "GET", "/v1/reconciliation/report?date=" + reconDay, preparerToken, "", "this needs one of the roles controller, auditor, admin"},
		{"ApproverListsExceptions", "GET", "/v1/reconciliation/exceptions", approverToken, "", "this needs one of the roles controller, auditor, admin"},
		{"PreparerListsMatches", "GET", "/v1/reconciliation/matches", preparerToken, "", "this needs one of the roles controller, auditor, admin"},
		{"AuditorMatches", "POST", "/v1/reconciliation/exceptions/" + unknown + "/match", auditorToken, `{"payments":["x"],"reason":"r"}`, "this needs the role controller"},
		{"AdminConfirms", "POST", "/v1/reconciliation/exceptions/" + unknown + "/confirm", adminToken, "", "this needs the role controller"},
		{"AdminBooksToSuspense", "POST", "/v1/reconciliation/exceptions/" + unknown + "/suspense", adminToken, `{"reason":"r"}`, "this needs the role controller"},
		{"ApproverCloses", "POST", "/v1/reconciliation/exceptions/" + unknown + "/close", approverToken, `{"reason":"r"}`, "this needs the role controller"},
		{"AuditorAssigns", "POST", "/v1/reconciliation/exceptions/" + unknown + "/assign", auditorToken, `{"owner":"claire"}`, "this needs one of the roles controller, admin"},
		{"AuditorUndoes", "POST", "/v1/reconciliation/matches/" + unknown + "/undo", auditorToken, `{"reason":"r"}`, "this needs the role controller"},
		{"ControllerRunsTheCascade", "POST", "/v1/reconciliation/match", controllerToken, "", "this needs the role admin"},
		{"ControllerSweeps", "POST", "/v1/reconciliation/sweep", controllerToken, `{"date":"2026-11-20"}`, "this needs the role admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do(t, tt.method, tt.path, tt.token, tt.body)
			if r.status != http.StatusForbidden {
				t.Fatalf("status = %d %s, want 403", r.status, r.body)
			}
			if e := errorOf(t, r); !strings.HasPrefix(e.Message, tt.wantMsg) {
				t.Errorf("message = %q, want it to start with %q", e.Message, tt.wantMsg)
			}
		})
	}
	for _, tok := range []string{preparerToken, approverToken, auditorToken} {
		if r := a.doXML(t, "/v1/statements", tok, "application/xml", doc); r.status != http.StatusForbidden {
			t.Errorf("an import with a token of another role = %d %s, want 403", r.status, r.body)
		}
	}
	if r := a.doXML(t, "/v1/statements", "", "application/xml", doc); r.status != http.StatusUnauthorized {
		t.Errorf("an import without a token = %d %s, want 401", r.status, r.body)
	}
	// Nothing was imported.
	var rep reportJSON
	a.read(t, adminToken, "/v1/reconciliation/report?date="+reconDay, &rep)
	if rep.StatementFound || rep.Lines != 0 {
		t.Errorf("the refused imports imported: %+v", rep)
	}
}

// TestFetchStatementsOverHTTP: ledgerd asks the bank for the statements of
// a day and imports them, once; only the importers may ask it to.
func TestFetchStatementsOverHTTP(t *testing.T) {
	ctx := context.Background()
	day := ledger.NewDate(2026, 11, 6)
	sim := banksim.New(banksim.Config{Account: testDebtor.IBAN, OpeningBalance: reconOpening, Today: func() ledger.Date { return day.AddDays(-1) }})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	gw, err := bank.NewHTTPGateway(bank.HTTPConfig{BaseURL: srv.URL, Retries: 1}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a := newReconAPIWith(t, gw)
	// The batch's payment file reaches the bank the day before, which books
	// its three payments on the day.
	var files struct {
		Files []fileJSON `json:"files"`
	}
	a.read(t, auditorToken, "/v1/batches/"+a.batchID+"/files", &files)
	f := files.Files[0]
	content := a.call(t, "GET", "/v1/files/"+f.MsgID, controllerToken, "", http.StatusOK, nil).body
	if _, err := gw.SubmitFile(ctx, bank.File{MsgID: f.MsgID, Format: f.Format, SHA256: f.SHA256, Bytes: content}); err != nil {
		t.Fatalf("submit the payment file to the bank: %v", err)
	}
	sim.SetToday(day)

	// Those who may not import may not fetch: the bank is not asked.
	asked := sim.Requests()
	for _, tok := range []string{preparerToken, approverToken, auditorToken} {
		r := a.do(t, "POST", "/v1/statements/fetch", tok, `{"date":"`+reconDay+`"}`)
		if e := errorOf(t, r); r.status != http.StatusForbidden || !strings.HasPrefix(e.Message, "this needs one of the roles controller, admin") {
			t.Errorf("a fetch with a token of another role = %d %s, want 403", r.status, r.body)
		}
	}
	if r := a.do(t, "POST", "/v1/statements/fetch", "", `{"date":"`+reconDay+`"}`); r.status != http.StatusUnauthorized {
		t.Errorf("a fetch without a token = %d %s, want 401", r.status, r.body)
	}
	for _, tt := range []struct{ name, body, wantMsg string }{
		{"NoDate", "", "date: is required"},
		{"BadDate", `{"date":"06/11/2026"}`, "date: not a date"},
		{"UnknownField", `{"date":"` + reconDay + `","all":true}`, "all: unknown field"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do(t, "POST", "/v1/statements/fetch", controllerToken, tt.body)
			if e := errorOf(t, r); r.status != http.StatusBadRequest || !strings.HasPrefix(e.Message, tt.wantMsg) {
				t.Errorf("= %d %s, want 400 %q", r.status, r.body, tt.wantMsg)
			}
		})
	}
	if n := sim.Requests(); n != asked {
		t.Errorf("the refused fetches asked the bank %d times", n-asked)
	}
	if rep := a.report(t); rep.StatementFound {
		t.Fatalf("report before the fetch = %+v, want no statement", rep)
	}

	var got struct {
		Date  string       `json:"date"`
		Files []importJSON `json:"files"`
	}
	a.call(t, "POST", "/v1/statements/fetch", controllerToken, `{"date":"`+reconDay+`"}`, http.StatusOK, &got)
	if got.Date != reconDay || len(got.Files) != 1 || got.Files[0].Replayed || len(got.Files[0].Statements) != 1 ||
		got.Files[0].Statements[0].Date != reconDay || got.Files[0].Statements[0].Lines != 3 ||
		got.Files[0].Match.Matched["end_to_end"] != (countJSON{3, "937.20"}) || got.Files[0].Match.Unmatched != 0 {
		t.Fatalf("fetch = %+v", got)
	}
	rep := a.report(t)
	if !rep.Agrees || rep.Lines != 3 || !equalDecimal(rep.StatementClosing, "9062.80") || !equalDecimal(rep.LedgerClosing, "9062.80") {
		t.Fatalf("report after the fetch = %+v", rep)
	}
	// Again, as an admin: the same statement, imported before.
	got.Date, got.Files = "", nil
	a.call(t, "POST", "/v1/statements/fetch", adminToken, `{"date":"`+reconDay+`"}`, http.StatusOK, &got)
	if len(got.Files) != 1 || !got.Files[0].Replayed {
		t.Fatalf("the same day again = %+v, want the file imported before", got)
	}
	if again := a.report(t); again.Lines != 3 || !again.Agrees || again.Matched["end_to_end"] != (countJSON{3, "937.20"}) {
		t.Errorf("report after the second fetch = %+v", again)
	}
	var audited int
	if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'import' AND object_kind = 'statement'`).Scan(&audited); err != nil || audited != 1 {
		t.Errorf("statement imports audited: %d (%v), want 1", audited, err)
	}
	// A day before the account was opened at the bank: no statement.
	got.Date, got.Files = "", nil
	a.call(t, "POST", "/v1/statements/fetch", controllerToken, `{"date":"2026-11-02"}`, http.StatusOK, &got)
	if got.Date != "2026-11-02" || got.Files == nil || len(got.Files) != 0 {
		t.Errorf("fetch of a day without statements = %+v", got)
	}
}

func TestReconciliationBadRequests(t *testing.T) {
	spool := spoolDir(t)
	a := newReconAPI(t)
	doc := a.statement(t)
	r := a.doXML(t, "/v1/statements", controllerToken, "application/xml", doc)
	if r.status != http.StatusCreated {
		t.Fatalf("import = %d %s", r.status, r.body)
	}
	open := a.openExceptions(t)
	xB := open["312.40"].ID
	unknown := "0b0e7b39-4e0a-4a3f-9d3c-1d2a5e8f7a61"
	exc := "/v1/reconciliation/exceptions/" + xB
	tests := []struct {
		name, method, path, token, body string
		wantStatus                      int
		wantField, wantMsg              string
	}{
		{"ReportNoDate", "GET", "/v1/reconciliation/report", auditorToken, "", 400, "date", "date: is required"},
		{"ReportBadDate", "GET", "/v1/reconciliation/report?date=2026-13-01", auditorToken, "", 400, "date", `date: "2026-13-01" is not a date`},
		{"ReportBadAccount", "GET", "/v1/reconciliation/report?date=" + reconDay + "&account=FR7630006000011234567890188", auditorToken, "", 400, "account", "account: "},
		{"ReportFormat", "GET", "/v1/reconciliation/report?date=" + reconDay + "&format=xml", auditorToken, "", 400, "format", `format: "xml" is not json or csv`},
		{"ReportParameter", "GET", "/v1/reconciliation/report?day=" + reconDay, auditorToken, "", 400, "day", "day: unknown query parameter"},
		{"ExceptionsStatus", "GET", "/v1/reconciliation/exceptions?status=pending", auditorToken, "", 400, "status", `status: "pending" is not a status`},
		{"ExceptionsKind", "GET", "/v1/reconciliation/exceptions?kind=odd", auditorToken, "", 400, "kind", `kind: "odd" is not a kind`},
		{"ExceptionsAfter", "GET", "/v1/reconciliation/exceptions?after=x", auditorToken, "", 400, "after", `after: "x" is not a reconciliation exception id`},
		{"ExceptionsLimit", "GET", "/v1/reconciliation/exceptions?limit=0", auditorToken, "", 400, "limit", "limit: must be between 1 and 1000"},
		{"MatchMalformedID", "POST", "/v1/reconciliation/exceptions/nope/match", controllerToken, `{"payments":["x"],"reason":"r"}`, 400, "id",
			`id: "nope" is not a reconciliation exception id`},
		{"MatchNoPayments", "POST", exc + "/match", controllerToken, `{"reason":"r"}`, 400, "payments", "payments: is required"},
		{"MatchEmptyPayment", "POST", exc + "/match", controllerToken, `{"payments":[" "],"reason":"r"}`, 400, "payments[0]", "payments[0]: is empty"},
		{"MatchPaymentTwice", "POST", exc + "/match", controllerToken, `{"payments":["p1","p1"],"reason":"r"}`, 400, "payments[1]", "payments[1]: p1 is given twice"},
		{"MatchPaymentNotText", "POST", exc + "/match", controllerToken, `{"payments":"p1","reason":"r"}`, 400, "payments", "payments: must be an array"},
		{"MatchNoReason", "POST", exc + "/match", controllerToken, `{"payments":["p1"]}`, 400, "reason", "reason: is required"},
		{"MatchUnknownField", "POST", exc + "/match", controllerToken, `{"payments":["p1"],"reason":"r","amount":"1"}`, 400, "amount", "amount: unknown field"},
		{"MatchWrongAmount", "POST", exc + "/match", controllerToken, `{"payments":["` + a.lines["A"].ID + `"],"reason":"r"}`, 400, "", ""},
		{"MatchUnknownException", "POST", "/v1/reconciliation/exceptions/" + unknown + "/match", controllerToken, `{"payments":["p1"],"reason":"r"}`, 404, "", ""},
		{"ConfirmNotASuggestion", "POST", exc + "/confirm", controllerToken, "", 409, "", ""},
		{"ConfirmWithBody", "POST", exc + "/confirm", controllerToken, `{"force":true}`, 400, "force", "force: unknown field"},
		{"SuspenseNoReason", "POST", exc + "/suspense", controllerToken, `{}`, 400, "reason", "reason: is required"},
		{"CloseBlankReason", "POST", exc + "/close", controllerToken, `{"reason":"  "}`, 400, "reason", "reason: is required"},
		{"CloseQuery", "POST", exc + "/close?now=1", controllerToken, `{"reason":"r"}`, 400, "now", "now: unknown query parameter"},
		{"AssignNoOwner", "POST", exc + "/assign", controllerToken, `{}`, 400, "owner", "owner: is required"},
		{"AssignTwoWords", "POST", exc + "/assign", controllerToken, `{"owner":"claire dupont"}`, 400, "owner", `owner: "claire dupont" contains a space`},
		{"MatchesStatement", "GET", "/v1/reconciliation/matches?statement_id=42", auditorToken, "", 400, "statement_id", `statement_id: "42" is not a statement id`},
		{"MatchesRule", "GET", "/v1/reconciliation/matches?rule=magic", auditorToken, "", 400, "rule", `rule: "magic" is not a rule`},
		{"MatchesPayment", "GET", "/v1/reconciliation/matches?payment=" + strings.Repeat("x", 36), auditorToken, "", 400, "payment", "payment: "},
		{"UndoMalformedID", "POST", "/v1/reconciliation/matches/x/undo", controllerToken, `{"reason":"r"}`, 400, "id", `id: "x" is not a match id`},
		{"UndoNoReason", "POST", "/v1/reconciliation/matches/" + unknown + "/undo", controllerToken, "", 400, "reason", "reason: is required"},
		{"UndoUnknownMatch", "POST", "/v1/reconciliation/matches/" + unknown + "/undo", controllerToken, `{"reason":"r"}`, 404, "", ""},
		{"SweepNoDate", "POST", "/v1/reconciliation/sweep", adminToken, "", 400, "date", "date: is required"},
		{"SweepBadDate", "POST", "/v1/reconciliation/sweep", adminToken, `{"date":"20/11/2026"}`, 400, "date", "date: not a date"},
		{"RunWithBody", "POST", "/v1/reconciliation/match", adminToken, `{"all":true}`, 400, "all", "all: unknown field"},
		{"FetchWithoutBank", "POST", "/v1/statements/fetch", controllerToken, `{"date":"` + reconDay + `"}`, 503, "", "no bank is configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do(t, tt.method, tt.path, tt.token, tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", r.status, r.body, tt.wantStatus)
			}
			e := errorOf(t, r)
			if tt.wantStatus == 400 && tt.wantField == "" {
				return // the store's own words
			}
			if e.Field != tt.wantField {
				t.Errorf("field = %q, want %q (%s)", e.Field, tt.wantField, e.Message)
			}
			if !strings.HasPrefix(e.Message, tt.wantMsg) {
				t.Errorf("message = %q, want it to start with %q", e.Message, tt.wantMsg)
			}
		})
	}

	files := []struct {
		name, contentType string
		body              []byte
		wantStatus        int
		wantField         string
		wantMsg           string
	}{
		{"JSON", "application/json", []byte(`{}`), 415, "Content-Type", `Content-Type: "application/json" is not a statement file's type`},
		{"NoContentType", "", doc, 415, "Content-Type", `Content-Type: "" is not`},
		{"Empty", "application/xml", nil, 400, "body", "body: empty"},
		{"TooLarge", "application/xml", bytes.Repeat([]byte(" "), testMaxStatement+1), 413, "body", "body: larger than the limit of 65536 bytes"},
		{"NotAStatement", "application/xml", []byte(`<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"/>`), 400, "", ""},
		{"BadCFONB", "text/plain", []byte("0130004\n"), 400, "", ""},
	}
	for _, tt := range files {
		t.Run("Import"+tt.name, func(t *testing.T) {
			r := a.doXML(t, "/v1/statements", controllerToken, tt.contentType, tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", r.status, r.body, tt.wantStatus)
			}
			e := errorOf(t, r)
			if tt.wantField == "" {
				return
			}
			if e.Field != tt.wantField || !strings.HasPrefix(e.Message, tt.wantMsg) {
				t.Errorf("error = %+v, want field %q and a message starting %q", e, tt.wantField, tt.wantMsg)
			}
		})
	}
	t.Run("ImportQuery", func(t *testing.T) {
		r := a.doXML(t, "/v1/statements?replace=1", controllerToken, "application/xml", doc)
		if e := errorOf(t, r); r.status != 400 || e.Field != "replace" {
			t.Errorf("= %d %+v", r.status, e)
		}
	})
	// The statement route takes bodies the others refuse.
	if len(doc) <= testMaxBody {
		t.Fatalf("the statement (%d bytes) does not exceed the other routes' limit of %d", len(doc), testMaxBody)
	}
	if r := a.do(t, "POST", "/v1/reconciliation/exceptions/"+xB+"/close", controllerToken, `{"reason":"`+strings.Repeat("x", testMaxBody)+`"}`); r.status != 413 {
		t.Errorf("a large body on another route = %d %s, want 413", r.status, r.body)
	}

	// Nothing was changed by the refusals, and no file was left behind.
	if now := a.openExceptions(t); len(now) != len(open) {
		t.Errorf("open exceptions after the refusals: %d, want %d", len(now), len(open))
	}
	wantEmpty(t, spool)
}

// spoolDir points the temporary directory, where POST /v1/statements
// spools the files it imports, at a directory of the test's own.
func spoolDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	return dir
}

// wantEmpty fails unless dir holds nothing: every statement file spooled
// there was removed once imported or refused.
func wantEmpty(t *testing.T, dir string) {
	t.Helper()
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left behind in the temporary directory: %s", e.Name())
	}
}

// TestStatementFileError: a reader's FormatError is an invalid input
// naming the element, or too large.
func TestStatementFileError(t *testing.T) {
	err := StatementFileError(&reconcile.FormatError{Line: 40, Element: "Document/BkToCstmrStmt/Stmt/Ntry[3]/Amt", Field: "Amount", Reason: "not an amount"})
	want := "Document/BkToCstmrStmt/Stmt/Ntry[3]/Amt: malformed statement file (line 40, field Amount): not an amount"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	big := StatementFileError(&reconcile.FormatError{Reason: "over the limit", Err: reconcile.ErrTooLarge})
	rec := httptest.NewRecorder()
	writeError(rec, big)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), `"field":"body"`) {
		t.Errorf("too large = %d %s", rec.Code, rec.Body)
	}
}

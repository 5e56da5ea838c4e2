package httptransport

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/fec"
	"github.com/ofii/allowances/ledger/sqlstore"
)

const testSIREN = "130003262"

// fecAPI is the API of a reconAPI's database with the FEC export.
func fecAPI(t *testing.T, a *reconAPI) *testAPI {
	t.Helper()
	tokens, err := ParseTokens(strings.Join([]string{
		"ops:admin:" + HashToken(adminToken),
		"court-of-audit:auditor:" + HashToken(auditorToken),
		"marie:preparer:" + HashToken(preparerToken),
		"paul:approver:" + HashToken(approverToken),
		"claire:controller:" + HashToken(controllerToken),
	}, ";"))
	if err != nil {
		t.Fatal(err)
	}
	l := sqlstore.New(a.pool)
	x, err := fec.NewExporter(l, testSIREN, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(l, Options{Tokens: tokens, Logger: slog.New(slog.DiscardHandler),
		Registry: prometheus.NewRegistry(), FEC: x}))
	t.Cleanup(srv.Close)
	return &testAPI{srv: srv, pool: a.pool}
}

var (
	fecDate   = regexp.MustCompile(`^20\d{6}$`)
	fecAmount = regexp.MustCompile(`^(0|[1-9]\d*),\d{2}$`)
)

// fecAccount is the FEC account (number, auxiliary) a ledger account of
// the reconciliation tests files under.
func fecAccount(t *testing.T, code string) string {
	t.Helper()
	for _, c := range []string{ledger.Payable, ledger.OverpaymentReceivable} {
		if rest, ok := strings.CutPrefix(code, c+":"); ok {
			return fecAccount(t, c) + "/" + rest
		}
	}
	for _, a := range ledger.Chart {
		if a.Code == code {
			return a.Metadata["gbcp"]
		}
	}
	t.Fatalf("account %s is not of the chart", code)
	return ""
}

// TestFECExport checks the FEC of November 2026 line by line against the
// ledger: funding, October's ADA accrued and released, the bank's
// statement booking household A's payment by its EndToEndId.
func TestFECExport(t *testing.T) {
	ctx := context.Background()
	a := newReconAPI(t)
	if r := a.doXML(t, "/v1/statements", controllerToken, "application/xml", a.statement(t)); r.status != http.StatusCreated {
		t.Fatalf("import the statement = %d %s", r.status, r.body)
	}
	api := fecAPI(t, a)
	from, to := ledger.NewDate(2026, 11, 1), ledger.NewDate(2026, 11, 30)

	r := api.do(t, "GET", "/v1/exports/fec?from=2026-11-01&to=2026-11-30", auditorToken, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/exports/fec = %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != fec.ContentType {
		t.Errorf("Content-Type = %q", ct)
	}
	if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename=130003262FEC20261130.txt` {
		t.Errorf("Content-Disposition = %q", cd)
	}
	text := string(r.body)
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("the file does not end with a line break")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if lines[0] != strings.Join(fec.Columns[:], "\t") {
		t.Fatalf("header = %q", lines[0])
	}
	lines = lines[1:]

	// One line per posting of the posted entries of the period.
	var postings int
	if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM postings p JOIN entries e ON e.id = p.entry_id
		WHERE e.status = 'posted' AND p.effective_date BETWEEN $1 AND $2`, from.Time(), to.Time()).Scan(&postings); err != nil {
		t.Fatal(err)
	}
	if len(lines) != postings || postings < 10 {
		t.Fatalf("%d lines, %d postings in the period", len(lines), postings)
	}

	type row = []string
	rows := make([]row, len(lines))
	debit, credit := decimal.Zero, decimal.Zero
	moves := map[string]decimal.Decimal{} // by FEC account
	num, lastNum := map[string]int{}, 0
	for i, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) != 18 {
			t.Fatalf("line %d has %d fields: %q", i+2, len(f), l)
		}
		rows[i] = f
		for _, c := range []int{3, 9, 15} {
			if !fecDate.MatchString(f[c]) {
				t.Errorf("line %d: %s = %q, not AAAAMMJJ", i+2, fec.Columns[c], f[c])
			}
		}
		if f[3] < "20261101" || f[3] > "20261130" || f[9] != f[3] {
			t.Errorf("line %d: EcritureDate %s, PieceDate %s, out of the period", i+2, f[3], f[9])
		}
		if f[0] == "" || f[1] == "" || f[4] == "" || f[5] == "" || f[8] == "" || f[10] == "" || f[16] != "" || f[17] != "" {
			t.Errorf("line %d: empty or unexpected fields: %q", i+2, l)
		}
		if !fecAmount.MatchString(f[11]) || !fecAmount.MatchString(f[12]) {
			t.Fatalf("line %d: Debit %q, Credit %q", i+2, f[11], f[12])
		}
		d := decimal.RequireFromString(strings.Replace(f[11], ",", ".", 1))
		c := decimal.RequireFromString(strings.Replace(f[12], ",", ".", 1))
		if d.IsZero() == c.IsZero() {
			t.Errorf("line %d: debit %s and credit %s: one of them, not both", i+2, d, c)
		}
		debit, credit = debit.Add(d), credit.Add(c)
		acct := f[4]
		if f[6] != "" {
			acct += "/" + f[6]
		}
		moves[acct] = moves[acct].Add(d).Sub(c)
		// Entries are numbered 1, 2, 3... and their lines are together.
		n := 0
		for _, ch := range f[2] {
			n = n*10 + int(ch-'0')
		}
		if n != lastNum && n != lastNum+1 {
			t.Fatalf("line %d: EcritureNum %d after %d", i+2, n, lastNum)
		}
		lastNum = n
		num[f[2]]++
		if (f[13] == "") != (f[14] == "") {
			t.Errorf("line %d: EcritureLet %q with DateLet %q", i+2, f[13], f[14])
		}
	}

	// The totals are equal and are the movements of the trial balance.
	tbTo, err := sqlstore.New(a.pool).TrialBalance(ctx, ledger.AsOf{Date: to})
	if err != nil {
		t.Fatal(err)
	}
	tbFrom, err := sqlstore.New(a.pool).TrialBalance(ctx, ledger.AsOf{Date: from.AddDays(-1)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]decimal.Decimal{}
	for _, r := range tbTo.Rows {
		k := fecAccount(t, r.Account)
		want[k] = want[k].Add(r.Debit).Sub(r.Credit)
	}
	for _, r := range tbFrom.Rows {
		k := fecAccount(t, r.Account)
		want[k] = want[k].Sub(r.Debit).Add(r.Credit)
	}
	for k, v := range want {
		if !moves[k].Equal(v) {
			t.Errorf("account %s: FEC movement %s, trial balance movement %s", k, moves[k], v)
		}
	}
	for k, v := range moves {
		if _, ok := want[k]; !ok && !v.IsZero() {
			t.Errorf("account %s: FEC movement %s, none in the trial balance", k, v)
		}
	}
	var pos decimal.Decimal
	if err := a.pool.QueryRow(ctx, `SELECT COALESCE(sum(p.amount), 0) FROM postings p JOIN entries e ON e.id = p.entry_id
		WHERE e.status = 'posted' AND p.amount > 0 AND p.effective_date BETWEEN $1 AND $2`, from.Time(), to.Time()).Scan(&pos); err != nil {
		t.Fatal(err)
	}
	if !debit.Equal(credit) || !debit.Equal(pos) {
		t.Errorf("total debit %s, credit %s, debits of the ledger %s", debit, credit, pos)
	}
	t.Logf("FEC of November 2026: %d lines, %d entries, debit %s, credit %s", len(lines), lastNum, debit.StringFixed(2), credit.StringFixed(2))

	// A bulk entry's lines: the accrual and the release of October's ADA,
	// one line per posting, each entry under one number.
	for _, key := range []string{"accrual:" + a.batchID + ":ada", "release:"} {
		var id uuid.UUID
		var n int
		if err := a.pool.QueryRow(ctx, `SELECT id, line_count FROM entries WHERE kind = 'bulk' AND idempotency_key LIKE $1 || '%'`,
			key).Scan(&id, &n); err != nil {
			t.Fatalf("entry %s: %v", key, err)
		}
		var got []row
		for _, f := range rows {
			if strings.HasPrefix(key, "accrual:") && f[0] == fec.JournalRuns.Code || strings.HasPrefix(key, "release:") && f[0] == fec.JournalReleases.Code {
				got = append(got, f)
			}
		}
		if len(got) != n || n < 4 {
			t.Fatalf("%s: %d lines in its journal, the entry has %d", key, len(got), n)
		}
		for _, f := range got {
			if f[2] != got[0][2] {
				t.Errorf("%s: lines under numbers %s and %s", key, got[0][2], f[2])
			}
		}
		if num[got[0][2]] != n {
			t.Errorf("%s: number %s has %d lines, want %d", key, got[0][2], num[got[0][2]], n)
		}
	}

	// Lettering: A's payment, booked by its EndToEndId, letters A's
	// payable lines of the accrual and of the release with its match; B
	// and C, not booked, are not lettered.
	var match uuid.UUID
	if err := a.pool.QueryRow(ctx, `SELECT match_id FROM payment_bookings WHERE line_id = $1`, a.lines["A"].ID).Scan(&match); err != nil {
		t.Fatalf("A's booking: %v", err)
	}
	for _, ben := range []string{"A", "B", "C"} {
		var seen []row
		for _, f := range rows {
			if f[4] == "4411" && f[6] == ben {
				seen = append(seen, f)
			}
		}
		if len(seen) != 2 {
			t.Fatalf("%s: %d lines on 4411, want the accrual and the release", ben, len(seen))
		}
		for _, f := range seen {
			switch {
			case ben == "A" && (f[13] != fec.Letter(match) || f[14] != "20261106"):
				t.Errorf("A: EcritureLet %q DateLet %q, want %s on 20261106", f[13], f[14], fec.Letter(match))
			case ben != "A" && (f[13] != "" || f[14] != ""):
				t.Errorf("%s: lettered %q %q, not booked", ben, f[13], f[14])
			}
			if !strings.Contains(f[10], a.lines[ben].ID) || f[7] == "" {
				t.Errorf("%s: EcritureLib %q, CompAuxLib %q", ben, f[10], f[7])
			}
		}
		if seen[0][11] != seen[1][12] || seen[0][12] != seen[1][11] {
			t.Errorf("%s: the accrual and the release do not cancel out: %v %v", ben, seen[0], seen[1])
		}
	}

	t.Run("Roles", func(t *testing.T) {
		for tok, want := range map[string]int{adminToken: 200, auditorToken: 200, preparerToken: 403, approverToken: 403,
			controllerToken: 403, "": 401, "unknown-token-0123456789": 401} {
			r := api.do(t, "GET", "/v1/exports/fec?from=2026-11-01&to=2026-11-30", tok, "")
			if r.status != want {
				t.Errorf("token %q: %d, want %d", tok, r.status, want)
			}
			if want != 200 && strings.Contains(string(r.body), "JournalCode") {
				t.Errorf("token %q got the file", tok)
			}
		}
	})

	t.Run("BadBounds", func(t *testing.T) {
		for q, field := range map[string]string{
			"to=2026-11-30":                                 "from",
			"from=2026-11-01":                               "to",
			"from=2026-11&to=2026-11-30":                    "from",
			"from=2026-11-01&to=30/11/2026":                 "to",
			"from=2026-11-01&to=2026-02-30":                 "to",
			"from=2026-12-01&to=2026-11-30":                 "to",
			"from=2026-01-01&to=2027-01-02":                 "to",
			"from=2025-12-31&to=2027-01-01":                 "to",
			"from=2026-11-01&to=2026-11-30&siren=1":         "siren",
			"from=2026-11-01&from=2026-11-02&to=2026-11-30": "from",
		} {
			r := api.do(t, "GET", "/v1/exports/fec?"+q, auditorToken, "")
			if r.status != http.StatusBadRequest {
				t.Errorf("%s: %d %s, want 400", q, r.status, r.body)
				continue
			}
			if e := errorOf(t, r); e.Field != field {
				t.Errorf("%s: field %q (%s), want %q", q, e.Field, e.Message, field)
			}
		}
		// A whole leap year is one fiscal year.
		if r := api.do(t, "GET", "/v1/exports/fec?from=2028-01-01&to=2028-12-31", auditorToken, ""); r.status != http.StatusOK {
			t.Errorf("2028: %d %s", r.status, r.body)
		}
	})

	t.Run("NotConfigured", func(t *testing.T) {
		if r := a.do(t, "GET", "/v1/exports/fec?from=2026-11-01&to=2026-11-30", auditorToken, ""); r.status != http.StatusServiceUnavailable ||
			!strings.Contains(string(r.body), "FEC_SIREN") {
			t.Errorf("no exporter: %d %s, want 503 naming FEC_SIREN", r.status, r.body)
		}
	})

	t.Run("UnmappedAccountFailsClosed", func(t *testing.T) {
		l := sqlstore.New(a.pool)
		if _, err := l.CreateAccount(ctx, ledger.Account{Code: "cash:petty", Name: "Petty cash", Type: ledger.Asset, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
		r := api.do(t, "GET", "/v1/exports/fec?from=2026-11-01&to=2026-11-30", adminToken, "")
		if r.status != http.StatusConflict || strings.Contains(string(r.body), "JournalCode") {
			t.Fatalf("unmapped account: %d %s, want 409 and no file", r.status, r.body)
		}
		if e := errorOf(t, r); e.Field != "FEC_ACCOUNTS" || !strings.Contains(e.Message, "cash:petty") {
			t.Errorf("error = %+v, want it to name cash:petty", e)
		}
	})
}

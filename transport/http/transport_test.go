package httptransport

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/sqlstore"
)

// The tokens of the test API, one per role used.
const (
	adminToken    = "admin-token-0123456789"
	auditorToken  = "auditor-token-0123456789"
	preparerToken = "preparer-token-0123456789"
)

// testMaxBody is small enough to exceed without building megabytes.
const testMaxBody = 4096

// testAPI is the real HTTP API over the real store on a fresh database.
type testAPI struct {
	srv  *httptest.Server
	pool *pgxpool.Pool
	logs *syncBuffer
}

// newTestAPI starts the API; ready, when not nil, replaces the readiness
// checks (by default a ping of the test database).
func newTestAPI(t *testing.T, ready map[string]func(context.Context) error) *testAPI {
	t.Helper()
	ctx := context.Background()
	pool, _ := dbtest.MustOpen(t)
	store := sqlstore.New(pool)
	if err := ledger.SetUpChart(ctx, store); err != nil {
		t.Fatalf("set up chart: %v", err)
	}
	tokens, err := ParseTokens(strings.Join([]string{
		"ops:admin:" + HashToken(adminToken),
		"court-of-audit:auditor:" + HashToken(auditorToken),
		"marie:preparer:" + HashToken(preparerToken),
	}, ";"))
	if err != nil {
		t.Fatalf("parse tokens: %v", err)
	}
	if ready == nil {
		ready = map[string]func(context.Context) error{"database": pool.Ping}
	}
	logs := &syncBuffer{}
	h := NewHandler(store, Options{
		Tokens:       tokens,
		Logger:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry:     prometheus.NewRegistry(),
		MaxBodyBytes: testMaxBody,
		Ready:        ready,
	})
	srv := newServer(t, h)
	t.Cleanup(srv.Close)
	return &testAPI{srv: srv, pool: pool, logs: logs}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (a *testAPI) do(t *testing.T, method, path, token, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// get reads path as admin and decodes the JSON answer into v, failing the
// test unless the status is 200.
func (a *testAPI) get(t *testing.T, path string, v any) {
	t.Helper()
	r := a.do(t, http.MethodGet, path, auditorToken, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, r.body)
	}
}

func (a *testAPI) entryCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM entries`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// errorOf decodes an error response.
func errorOf(t *testing.T, r response) errorDetail {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(r.body, &b); err != nil || b.Error.Code == "" {
		t.Fatalf("not an error response (%v): %d %s", err, r.status, r.body)
	}
	return b.Error
}

// entryJSON is the part of an entry response the tests read.
type entryJSON struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Reverses string `json:"reverses"`
	Replayed bool   `json:"replayed"`
	Postings []struct {
		Account string `json:"account"`
		Amount  string `json:"amount"`
	} `json:"postings"`
}

func newEntryBody(key, date, amount string) string {
	return `{"idempotency_key":"` + key + `","effective_date":"` + date + `","description":"State funding",` +
		`"lines":[{"account":"bank:main","amount":"` + amount + `"},{"account":"equity:state-funding","amount":"-` + amount + `"}]}`
}

// post posts an entry as admin and returns it, failing unless it answers
// wantStatus.
func (a *testAPI) post(t *testing.T, body string, wantStatus int) entryJSON {
	t.Helper()
	r := a.do(t, http.MethodPost, "/v1/entries", adminToken, body)
	if r.status != wantStatus {
		t.Fatalf("POST /v1/entries = %d %s, want %d", r.status, r.body, wantStatus)
	}
	var e entryJSON
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAuth(t *testing.T) {
	a := newTestAPI(t, nil)
	body := newEntryBody("auth-1", "2026-03-15", "10.00")
	tests := []struct {
		name       string
		method     string
		path       string
		header     string // Authorization
		body       string
		wantStatus int
		wantMsg    string
	}{
		{"NoToken", "GET", "/v1/trial-balance", "", "", 401, "a bearer token is required"},
		{"WrongToken", "GET", "/v1/trial-balance", "Bearer not-a-token", "", 401, "the bearer token is not valid"},
		{"NotBearer", "GET", "/v1/trial-balance", "Basic " + adminToken, "", 401, "a bearer token is required"},
		{"AuditorReads", "GET", "/v1/trial-balance", "Bearer " + auditorToken, "", 200, ""},
		{"LowerCaseScheme", "GET", "/v1/verify", "bearer " + preparerToken, "", 200, ""},
		{"AuditorPosts", "POST", "/v1/entries", "Bearer " + auditorToken, body, 403, "this needs the role admin; court-of-audit has auditor"},
		{"PreparerSeals", "POST", "/v1/seals", "Bearer " + preparerToken, `{"reason":"x"}`, 403, "this needs the role admin"},
		{"PreparerReverses", "POST", "/v1/entries/0b0e7b39-4e0a-4a3f-9d3c-1d2a5e8f7a61/reversal", "Bearer " + preparerToken, `{}`, 403, "this needs the role admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, a.srv.URL+tt.path, strings.NewReader(tt.body))
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			res, err := a.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", res.StatusCode, b, tt.wantStatus)
			}
			if tt.wantStatus == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", res.Header.Get("WWW-Authenticate"))
			}
			if tt.wantMsg != "" {
				e := errorOf(t, response{status: res.StatusCode, body: b})
				if !strings.HasPrefix(e.Message, tt.wantMsg) {
					t.Errorf("message = %q, want %q", e.Message, tt.wantMsg)
				}
			}
		})
	}
	if n := a.entryCount(t); n != 0 {
		t.Errorf("refused requests wrote %d entries", n)
	}
	// The request log names the caller but never holds the token.
	logs := a.logs.String()
	if strings.Contains(logs, auditorToken) || strings.Contains(logs, "not-a-token") {
		t.Error("a token reached the request log")
	}
	if !strings.Contains(logs, `"principal":"court-of-audit"`) {
		t.Errorf("the request log does not name the principal:\n%s", logs)
	}
}

func TestBadRequests(t *testing.T) {
	a := newTestAPI(t, nil)
	valid := newEntryBody("bad-1", "2026-03-15", "10.00")
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantCode   string
		wantField  string
		wantMsg    string
	}{
		{"TooLarge", "POST", "/v1/entries", `{"idempotency_key":"big","description":"` + strings.Repeat("x", testMaxBody) + `"}`,
			413, "too_large", "body", "body: larger than the limit of 4096 bytes"},
		{"MalformedJSON", "POST", "/v1/entries", `{"idempotency_key": "k", "lines": [}`,
			400, "invalid", "body", "body: invalid JSON at offset 36"},
		{"Truncated", "POST", "/v1/entries", `{"idempotency_key": "k"`,
			400, "invalid", "body", "body: invalid JSON: it ends before the value is complete"},
		{"Empty", "POST", "/v1/entries", ``,
			400, "invalid", "body", "body: empty; a JSON object is expected"},
		{"NotAnObject", "POST", "/v1/entries", `[1, 2]`,
			400, "invalid", "body", "body: must be an object, not array"},
		{"UnknownField", "POST", "/v1/entries", `{"idempotency_key":"k","colour":"blue"}`,
			400, "invalid", "colour", "colour: unknown field"},
		{"UnknownLineField", "POST", "/v1/entries", `{"lines":[{"account":"bank:main","amount":"1.00"},{"acount":"x"}]}`,
			400, "invalid", "lines[1].acount", "lines[1].acount: unknown field"},
		{"BadAmount", "POST", "/v1/entries", `{"lines":[{"account":"bank:main","amount":"12,50"}]}`,
			400, "invalid", "lines[0].amount", `lines[0].amount: "12,50" is not an amount: digits with at most two decimals after a '.', such as "125.40"`},
		{"AmountNotScalar", "POST", "/v1/entries", `{"lines":[{"account":"bank:main","amount":1},{"account":"x","amount":{}}]}`,
			400, "invalid", "lines[1].amount", `lines[1].amount: {} is not an amount: digits with at most two decimals after a '.', such as "125.40"`},
		{"BadDate", "POST", "/v1/entries", `{"effective_date":"2026-02-30"}`,
			400, "invalid", "effective_date", "effective_date: not a date (YYYY-MM-DD)"},
		{"WrongType", "POST", "/v1/entries", `{"description":12}`,
			400, "invalid", "description", "description: must be a string, not number"},
		{"TrailingData", "POST", "/v1/entries", valid + ` {}`,
			400, "invalid", "body", "body: unexpected data after the JSON value"},
		{"TrailingGarbage", "POST", "/v1/entries", valid + `x`,
			400, "invalid", "body", "body: unexpected data after the JSON value"},
		{"StoreValidates", "POST", "/v1/entries", newEntryBody("bad-2", "2026-03-15", "10.001"),
			400, "invalid", "lines[0].amount", ""},
		{"Unbalanced", "POST", "/v1/entries", `{"idempotency_key":"bad-3","effective_date":"2026-03-15","description":"x","lines":[{"account":"bank:main","amount":"10.00"},{"account":"equity:state-funding","amount":"-9.99"}]}`,
			400, "invalid", "lines", ""},
		{"BadAsOf", "GET", "/v1/accounts/bank:main/balance?as_of=2026-13-01", "",
			400, "invalid", "as_of", `as_of: "2026-13-01" is not a date (YYYY-MM-DD) or a time (RFC 3339)`},
		{"BadAsOfTrialBalance", "GET", "/v1/trial-balance?as_of=yesterday", "",
			400, "invalid", "as_of", `as_of: "yesterday" is not a date (YYYY-MM-DD) or a time (RFC 3339)`},
		{"LimitZero", "GET", "/v1/accounts?limit=0", "",
			400, "invalid", "limit", "limit: must be between 1 and 1000"},
		{"LimitTooLarge", "GET", "/v1/accounts/bank:main/statement?limit=1001", "",
			400, "invalid", "limit", "limit: must be between 1 and 1000"},
		{"LimitNotNumber", "GET", "/v1/accounts?limit=ten", "",
			400, "invalid", "limit", "limit: must be between 1 and 1000"},
		{"UnknownParameter", "GET", "/v1/trial-balance?asof=2026-01-01", "",
			400, "invalid", "asof", "asof: unknown query parameter (want as_of)"},
		{"RepeatedParameter", "GET", "/v1/accounts?limit=1&limit=2", "",
			400, "invalid", "limit", "limit: given 2 times"},
		{"BadFrom", "GET", "/v1/accounts/bank:main/statement?from=03/01/2026", "",
			400, "invalid", "from", `from: "03/01/2026" is not a date (YYYY-MM-DD)`},
		{"ToBeforeFrom", "GET", "/v1/accounts/bank:main/statement?from=2026-03-20&to=2026-03-01", "",
			400, "invalid", "to", "to: 2026-03-01 is before from (2026-03-20)"},
		{"BadEntryID", "GET", "/v1/entries/nope", "",
			400, "invalid", "id", `id: "nope" is not a UUID`},
		{"UnknownEntry", "GET", "/v1/entries/0b0e7b39-4e0a-4a3f-9d3c-1d2a5e8f7a61", "",
			404, "not_found", "", ""},
		{"UnknownAccount", "GET", "/v1/accounts/nothing:here/balance", "",
			404, "not_found", "", ""},
		{"NoRoute", "GET", "/v1/nothing", "",
			404, "not_found", "", "no route for GET /v1/nothing"},
		{"WrongMethod", "DELETE", "/v1/entries", "",
			405, "invalid", "", "method DELETE not allowed on /v1/entries (allowed: POST)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do(t, tt.method, tt.path, adminToken, tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", r.status, r.body, tt.wantStatus)
			}
			e := errorOf(t, r)
			if string(e.Code) != tt.wantCode || e.Field != tt.wantField {
				t.Errorf("code, field = %s, %q; want %s, %q (%s)", e.Code, e.Field, tt.wantCode, tt.wantField, e.Message)
			}
			if tt.wantMsg != "" && e.Message != tt.wantMsg {
				t.Errorf("message = %q, want %q", e.Message, tt.wantMsg)
			}
		})
	}
	if n := a.entryCount(t); n != 0 {
		t.Errorf("bad requests wrote %d entries", n)
	}
	var tb struct {
		Rows []any `json:"rows"`
	}
	a.get(t, "/v1/trial-balance", &tb)
	if len(tb.Rows) != 0 {
		t.Errorf("trial balance has %d rows after bad requests only", len(tb.Rows))
	}
}

func TestPostEntry(t *testing.T) {
	a := newTestAPI(t, nil)
	body := newEntryBody("fund-2026-03", "2026-03-15", "125.40")

	first := a.post(t, body, http.StatusCreated)
	if first.ID == "" || first.Replayed || len(first.Postings) != 2 {
		t.Fatalf("first post = %+v", first)
	}
	if p := first.Postings[0]; p.Account != "bank:main" || p.Amount != "125.40" {
		t.Errorf("posting 0 = %+v, want bank:main 125.40", p)
	}
	if p := first.Postings[1]; p.Account != "equity:state-funding" || p.Amount != "-125.40" {
		t.Errorf("posting 1 = %+v, want equity:state-funding -125.40", p)
	}

	t.Run("Replay", func(t *testing.T) {
		again := a.post(t, body, http.StatusOK)
		if again.ID != first.ID || !again.Replayed {
			t.Errorf("replay = %s (replayed %v), want %s replayed", again.ID, again.Replayed, first.ID)
		}
	})
	t.Run("ErrSameKeyOtherContent", func(t *testing.T) {
		r := a.do(t, http.MethodPost, "/v1/entries", adminToken, newEntryBody("fund-2026-03", "2026-03-15", "125.41"))
		if r.status != http.StatusConflict {
			t.Fatalf("status = %d %s, want 409", r.status, r.body)
		}
		if e := errorOf(t, r); e.Code != "conflict" || e.Field != "idempotency_key" {
			t.Errorf("error = %+v", e)
		}
	})
	t.Run("Get", func(t *testing.T) {
		var e entryJSON
		a.get(t, "/v1/entries/"+first.ID, &e)
		if e.ID != first.ID || len(e.Postings) != 2 || e.Postings[0].Amount != "125.40" {
			t.Errorf("GET entry = %+v", e)
		}
	})
	if n := a.entryCount(t); n != 1 {
		t.Errorf("%d entries written, want 1", n)
	}
}

func TestReverseEntry(t *testing.T) {
	a := newTestAPI(t, nil)
	orig := a.post(t, newEntryBody("fund-rev", "2026-03-15", "80.00"), http.StatusCreated)
	path := "/v1/entries/" + orig.ID + "/reversal"
	body := `{"idempotency_key":"rev-1","effective_date":"2026-03-16","reason":"wrong amount"}`

	r := a.do(t, http.MethodPost, path, adminToken, body)
	if r.status != http.StatusCreated {
		t.Fatalf("reversal = %d %s, want 201", r.status, r.body)
	}
	var rev entryJSON
	if err := json.Unmarshal(r.body, &rev); err != nil {
		t.Fatal(err)
	}
	if rev.Kind != "reversal" || rev.Reverses != orig.ID || len(rev.Postings) != 2 || rev.Postings[0].Amount != "-80.00" {
		t.Errorf("reversal = %+v", rev)
	}
	if loc := r.header.Get("Location"); loc != "/v1/entries/"+rev.ID {
		t.Errorf("Location = %q", loc)
	}

	t.Run("Replay", func(t *testing.T) {
		r := a.do(t, http.MethodPost, path, adminToken, body)
		if r.status != http.StatusOK {
			t.Fatalf("same reversal again = %d %s, want 200", r.status, r.body)
		}
	})
	t.Run("ErrReverseTwice", func(t *testing.T) {
		r := a.do(t, http.MethodPost, path, adminToken, `{"idempotency_key":"rev-2","reason":"again"}`)
		if r.status != http.StatusConflict {
			t.Fatalf("second reversal = %d %s, want 409", r.status, r.body)
		}
		if e := errorOf(t, r); e.Field != "entry_id" {
			t.Errorf("error = %+v, want one naming entry_id", e)
		}
	})
	t.Run("ErrUnknownField", func(t *testing.T) {
		r := a.do(t, http.MethodPost, path, adminToken, `{"idempotency_key":"rev-3","reason":"x","amount":"1.00"}`)
		if e := errorOf(t, r); r.status != 400 || e.Field != "amount" {
			t.Errorf("status %d, error %+v", r.status, e)
		}
	})

	var bal struct {
		Balance string `json:"balance"`
	}
	a.get(t, "/v1/accounts/bank:main/balance", &bal)
	if bal.Balance != "0.00" {
		t.Errorf("bank:main after reversal = %s, want 0.00", bal.Balance)
	}
	a.get(t, "/v1/accounts/bank:main/balance?as_of=2026-03-15", &bal)
	if bal.Balance != "80.00" {
		t.Errorf("bank:main as of the 15th = %s, want 80.00", bal.Balance)
	}
}

func TestBalanceAsOf(t *testing.T) {
	a := newTestAPI(t, nil)
	a.post(t, newEntryBody("fund-bal", "2026-03-15", "125.40"), http.StatusCreated)
	tests := []struct {
		name, asOf, want, wantNatural string
	}{
		{"Now", "", "125.40", "125.40"},
		{"DayBefore", "2026-03-14", "0.00", "0.00"},
		{"SameDay", "2026-03-15", "125.40", "125.40"},
		{"Later", "2026-12-31", "125.40", "125.40"},
		{"TimeBeforePosting", "2001-01-01T00:00:00Z", "0.00", "0.00"},
		{"TimeAfterPosting", "2199-01-01T00:00:00+01:00", "125.40", "125.40"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b struct {
				Account string `json:"account"`
				Balance string `json:"balance"`
				Natural string `json:"natural"`
			}
			path := "/v1/accounts/bank:main/balance"
			if tt.asOf != "" {
				path += "?as_of=" + url.QueryEscape(tt.asOf)
			}
			a.get(t, path, &b)
			if b.Account != "bank:main" || b.Balance != tt.want || b.Natural != tt.wantNatural {
				t.Errorf("balance = %+v, want %s (natural %s)", b, tt.want, tt.wantNatural)
			}
		})
	}
	t.Run("CreditAccount", func(t *testing.T) {
		var b struct {
			Balance string `json:"balance"`
			Natural string `json:"natural"`
		}
		a.get(t, "/v1/accounts/equity:state-funding/balance?as_of=2026-03-15", &b)
		if b.Balance != "-125.40" || b.Natural != "125.40" {
			t.Errorf("equity balance = %+v, want -125.40 (natural 125.40)", b)
		}
	})
}

func TestStatement(t *testing.T) {
	a := newTestAPI(t, nil)
	a.post(t, newEntryBody("st-1", "2026-03-15", "125.40"), http.StatusCreated)
	a.post(t, newEntryBody("st-2", "2026-03-20", "74.60"), http.StatusCreated)
	a.post(t, newEntryBody("st-3", "2026-04-02", "0.05"), http.StatusCreated)

	type statement struct {
		Account    string `json:"account"`
		Currency   string `json:"currency"`
		Opening    string `json:"opening_balance"`
		NextCursor string `json:"next_cursor"`
		Lines      []struct {
			Amount        string `json:"amount"`
			Running       string `json:"running_balance"`
			EffectiveDate string `json:"effective_date"`
			Description   string `json:"description"`
		} `json:"lines"`
	}
	tests := []struct {
		name        string
		query       string
		wantOpening string
		wantRunning []string
		wantMore    bool
	}{
		{"All", "", "0.00", []string{"125.40", "200.00", "200.05"}, false},
		{"From", "?from=2026-03-16", "125.40", []string{"200.00", "200.05"}, false},
		{"FromTo", "?from=2026-03-16&to=2026-03-31", "125.40", []string{"200.00"}, false},
		{"FirstPage", "?limit=2", "0.00", []string{"125.40", "200.00"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s statement
			a.get(t, "/v1/accounts/bank:main/statement"+tt.query, &s)
			if s.Account != "bank:main" || s.Currency != "EUR" || s.Opening != tt.wantOpening {
				t.Errorf("statement header = %s %s opening %s, want opening %s", s.Account, s.Currency, s.Opening, tt.wantOpening)
			}
			var running []string
			for _, l := range s.Lines {
				running = append(running, l.Running)
			}
			if strings.Join(running, " ") != strings.Join(tt.wantRunning, " ") {
				t.Errorf("running balances = %v, want %v", running, tt.wantRunning)
			}
			if (s.NextCursor != "") != tt.wantMore {
				t.Errorf("next_cursor = %q, want one: %v", s.NextCursor, tt.wantMore)
			}
			if tt.name != "FirstPage" {
				return
			}
			var next statement
			a.get(t, "/v1/accounts/bank:main/statement?limit=2&cursor="+url.QueryEscape(s.NextCursor), &next)
			if next.Opening != "200.00" || len(next.Lines) != 1 || next.Lines[0].Amount != "0.05" || next.Lines[0].Running != "200.05" {
				t.Errorf("second page = %+v", next)
			}
		})
	}
}

func TestTrialBalanceAndVerify(t *testing.T) {
	a := newTestAPI(t, nil)
	a.post(t, newEntryBody("tb-1", "2026-03-15", "125.40"), http.StatusCreated)
	a.post(t, newEntryBody("tb-2", "2026-03-20", "74.60"), http.StatusCreated)

	type trialBalance struct {
		Rows []struct {
			Account string `json:"account"`
			Debit   string `json:"debit"`
			Credit  string `json:"credit"`
		} `json:"rows"`
		Totals map[string]struct {
			Debit      string `json:"debit"`
			Credit     string `json:"credit"`
			Difference string `json:"difference"`
		} `json:"totals"`
	}
	tests := []struct {
		name, query, wantTotal string
	}{
		{"Now", "", "200.00"},
		{"AsOfDate", "?as_of=2026-03-15", "125.40"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tb trialBalance
			a.get(t, "/v1/trial-balance"+tt.query, &tb)
			eur, ok := tb.Totals["EUR"]
			if !ok || eur.Debit != tt.wantTotal || eur.Credit != tt.wantTotal || eur.Difference != "0.00" {
				t.Errorf("EUR totals = %+v, want %s both sides", tb.Totals, tt.wantTotal)
			}
			rows := map[string]string{}
			for _, r := range tb.Rows {
				rows[r.Account] = r.Debit + "/" + r.Credit
			}
			want := map[string]string{"bank:main": tt.wantTotal + "/0.00", "equity:state-funding": "0.00/" + tt.wantTotal}
			if len(rows) != len(want) || rows["bank:main"] != want["bank:main"] || rows["equity:state-funding"] != want["equity:state-funding"] {
				t.Errorf("rows = %v, want %v", rows, want)
			}
		})
	}

	t.Run("Verify", func(t *testing.T) {
		var rep struct {
			OK       bool  `json:"ok"`
			Entries  int64 `json:"entries"`
			Postings int64 `json:"postings"`
			Problems []any `json:"problems"`
		}
		a.get(t, "/v1/verify", &rep)
		if !rep.OK || rep.Entries != 2 || rep.Postings != 4 || len(rep.Problems) != 0 {
			t.Errorf("verify = %+v", rep)
		}
	})
	t.Run("Seal", func(t *testing.T) {
		r := a.do(t, http.MethodPost, "/v1/seals", adminToken, `{"reason":"end of day"}`)
		var s struct {
			Seal *struct {
				Seq        int64  `json:"seq"`
				EntryCount int64  `json:"entry_count"`
				Reason     string `json:"reason"`
			} `json:"seal"`
		}
		if err := json.Unmarshal(r.body, &s); r.status != http.StatusCreated || err != nil || s.Seal == nil {
			t.Fatalf("seal = %d %s", r.status, r.body)
		}
		if s.Seal.Seq != 1 || s.Seal.EntryCount != 2 || s.Seal.Reason != "end of day" {
			t.Errorf("seal = %+v", *s.Seal)
		}
		r = a.do(t, http.MethodPost, "/v1/seals", adminToken, `{"reason":"nothing new"}`)
		if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != `{"seal":null}` {
			t.Errorf("second seal = %d %s, want 200 {\"seal\":null}", r.status, r.body)
		}
	})
}

func TestAccounts(t *testing.T) {
	a := newTestAPI(t, nil)
	type list struct {
		Accounts []struct {
			Code string `json:"code"`
		} `json:"accounts"`
		NextCursor string `json:"next_cursor"`
	}
	var l list
	a.get(t, "/v1/accounts?prefix=expense:&limit=3", &l)
	var codes []string
	for _, acc := range l.Accounts {
		codes = append(codes, acc.Code)
	}
	if strings.Join(codes, " ") != "expense:ada expense:bank-fees expense:business-creation" || l.NextCursor != "expense:business-creation" {
		t.Errorf("first page = %v, next %q", codes, l.NextCursor)
	}
	cursor := l.NextCursor
	l = list{}
	a.get(t, "/v1/accounts?prefix=expense:&limit=3&cursor="+url.QueryEscape(cursor), &l)
	codes = codes[:0]
	for _, acc := range l.Accounts {
		codes = append(codes, acc.Code)
	}
	if strings.Join(codes, " ") != "expense:reinsertion expense:return" || l.NextCursor != "" {
		t.Errorf("second page = %v, next %q", codes, l.NextCursor)
	}

	var acc struct {
		Code       string `json:"code"`
		Type       string `json:"type"`
		NormalSide string `json:"normal_side"`
	}
	a.get(t, "/v1/accounts/payments-in-transit", &acc)
	if acc.Code != "payments-in-transit" || acc.Type != "liability" || acc.NormalSide != "credit" {
		t.Errorf("account = %+v", acc)
	}
	a.get(t, "/v1/accounts/expense:business-creation", &acc)
	if acc.Code != "expense:business-creation" {
		t.Errorf("account = %+v", acc)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	a := newTestAPI(t, nil)

	t.Run("Healthz", func(t *testing.T) {
		r := a.do(t, http.MethodGet, "/healthz", "", "")
		if r.status != http.StatusOK {
			t.Errorf("healthz = %d %s", r.status, r.body)
		}
	})
	t.Run("Readyz", func(t *testing.T) {
		r := a.do(t, http.MethodGet, "/readyz", "", "")
		if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != `{"status":"ready","checks":{"database":"ok"}}` {
			t.Errorf("readyz = %d %s", r.status, r.body)
		}
	})
	t.Run("ReadyzFailing", func(t *testing.T) {
		b := newTestAPI(t, map[string]func(context.Context) error{
			"database": func(ctx context.Context) error { return nil },
			"bank":     func(ctx context.Context) error { return errors.New("dial tcp 10.0.0.1:443: connection refused") },
		})
		r := b.do(t, http.MethodGet, "/readyz", "", "")
		if r.status != http.StatusServiceUnavailable || strings.TrimSpace(string(r.body)) != `{"status":"not ready","checks":{"bank":"failed","database":"ok"}}` {
			t.Errorf("readyz = %d %s", r.status, r.body)
		}
		if !strings.Contains(b.logs.String(), "connection refused") {
			t.Error("the failing check's error was not logged")
		}
	})
	t.Run("Metrics", func(t *testing.T) {
		a.do(t, http.MethodGet, "/v1/trial-balance", auditorToken, "")
		a.do(t, http.MethodGet, "/v1/trial-balance", auditorToken, "")
		a.do(t, http.MethodGet, "/v1/trial-balance", "", "")
		r := a.do(t, http.MethodGet, "/metrics", "", "")
		if r.status != http.StatusOK {
			t.Fatalf("metrics = %d", r.status)
		}
		for _, want := range []string{
			`allowances_http_requests_total{method="GET",route="/v1/trial-balance",status="200"} 2`,
			`allowances_http_requests_total{method="GET",route="/v1/trial-balance",status="401"} 1`,
			`allowances_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
			`allowances_http_request_duration_seconds_count{route="/v1/trial-balance"} 3`,
		} {
			if !strings.Contains(string(r.body), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

// syncBuffer collects log output written by the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

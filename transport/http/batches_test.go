package httptransport

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger/sqlstore"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
)

const approverToken = "approver-token-0123456789"

// The IBAN of every payee of these tests, and how a role that does not pay
// sees it.
const (
	testIBAN   = "FR7630006000011234567890189"
	maskedIBAN = "FR76 **** **** 0189"
)

// batchAPI is the HTTP API with the runs and their batches, over a fresh
// database where events are applied on 2026-10-28 and runs start on
// 2026-11-05 (legal time).
type batchAPI struct {
	*testAPI
	events *paysql.Store
	offset int64
}

var (
	eventsDay = time.Date(2026, 10, 28, 8, 0, 0, 0, time.UTC)
	runDay    = time.Date(2026, 11, 5, 7, 0, 0, 0, time.UTC)
)

func newBatchAPI(t *testing.T) *batchAPI {
	t.Helper()
	pool, _ := dbtest.MustOpen(t)
	tokens, err := ParseTokens(strings.Join([]string{
		"ops:admin:" + HashToken(adminToken),
		"court-of-audit:auditor:" + HashToken(auditorToken),
		"marie:preparer:" + HashToken(preparerToken),
		"paul:approver:" + HashToken(approverToken),
	}, ";"))
	if err != nil {
		t.Fatalf("parse tokens: %v", err)
	}
	logs := &syncBuffer{}
	h := NewHandler(sqlstore.New(pool), Options{
		Tokens:       tokens,
		Logger:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry:     prometheus.NewRegistry(),
		MaxBodyBytes: testMaxBody,
		Runs:         paysql.NewRunStore(pool, paysql.WithRunClock(ticking(runDay))),
	})
	srv := newServer(t, h)
	t.Cleanup(srv.Close)
	return &batchAPI{
		testAPI: &testAPI{srv: srv, pool: pool, logs: logs},
		events:  paysql.New(pool, paysql.WithClock(func() time.Time { return eventsDay })),
	}
}

// ticking returns a clock that starts at t and moves on a millisecond each
// time it is read, so that what it stamps comes in order.
func ticking(t time.Time) func() time.Time {
	var n atomic.Int64
	return func() time.Time { return t.Add(time.Duration(n.Add(1)) * time.Millisecond) }
}

// household opens the ADA rights of a beneficiary from a day of October
// 2026, as a rights_opened event says.
type household struct {
	id           string
	from         string
	adults       int
	children     int
	accommodated bool
}

// open applies the rights_opened events of households, each of which must
// be applied.
func (a *batchAPI) open(t *testing.T, hs ...household) {
	t.Helper()
	recs := make([]payments.Record, len(hs))
	for i, h := range hs {
		v, err := json.Marshal(map[string]any{
			"event_id": uuid.NewSHA1(uuid.NameSpaceOID, []byte("opened/"+h.id)), "type": payments.RightsOpened,
			"schema_version": 1, "occurred_at": "2026-10-03T09:00:00Z", "beneficiary_id": h.id,
			"data": map[string]any{"from": h.from, "adults": h.adults, "children": h.children, "accommodated": h.accommodated,
				"payee": map[string]any{"name": "Amina Diallo", "iban": testIBAN}},
		})
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = payments.Record{Source: payments.Source{Topic: "eligibility.v1", Offset: a.offset + int64(i)}, Key: []byte(h.id), Value: v}
	}
	a.offset += int64(len(hs))
	res, err := a.events.Apply(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Outcome != payments.OutcomeApplied {
			t.Fatalf("event of %s: %+v", hs[i].id, r)
		}
	}
}

// The JSON shapes the tests read, amounts as the API writes them.
type (
	runJSON struct {
		ID        string `json:"id"`
		Kind      string `json:"kind"`
		Period    string `json:"period"`
		Day       string `json:"day"`
		Status    string `json:"status"`
		Trigger   string `json:"trigger"`
		By        string `json:"by"`
		BatchID   string `json:"batch_id"`
		Processed int    `json:"processed"`
		Lines     int    `json:"lines"`
		Error     string `json:"error"`
	}
	totalsJSON struct {
		Lines     int    `json:"lines"`
		Gross     string `json:"gross"`
		Deduction string `json:"deduction"`
		Net       string `json:"net"`
	}
	batchJSON struct {
		ID     string                `json:"id"`
		RunID  string                `json:"run_id"`
		Kind   string                `json:"kind"`
		Period string                `json:"period"`
		Status string                `json:"status"`
		Lines  int                   `json:"lines"`
		Totals map[string]totalsJSON `json:"totals"`
		Total  totalsJSON            `json:"total"`
	}
	segmentJSON struct {
		From   string `json:"from"`
		To     string `json:"to"`
		Days   int    `json:"days"`
		Daily  string `json:"daily"`
		Amount string `json:"amount"`
		Why    string `json:"why"`
	}
	lineJSON struct {
		ID            string `json:"id"`
		BatchID       string `json:"batch_id"`
		Scheme        string `json:"scheme"`
		Kind          string `json:"kind"`
		BeneficiaryID string `json:"beneficiary_id"`
		Period        string `json:"period"`
		Gross         string `json:"gross"`
		Deduction     string `json:"deduction"`
		Net           string `json:"net"`
		Basis         string `json:"basis"`
		Deductions    []any  `json:"deductions"`
		Payee         struct {
			Name string `json:"name"`
			IBAN string `json:"iban"`
		} `json:"payee"`
		Explanation struct {
			Text     string        `json:"text"`
			Segments []segmentJSON `json:"segments"`
			Due      string        `json:"due"`
			Paid     string        `json:"paid"`
		} `json:"explanation"`
	}
	linesJSON struct {
		Lines      []lineJSON `json:"lines"`
		NextCursor string     `json:"next_cursor"`
	}
)

// read GETs path with token and decodes the answer into v, failing unless
// it is 200.
func (a *batchAPI) read(t *testing.T, token, path string, v any) {
	t.Helper()
	r := a.do(t, http.MethodGet, path, token, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, r.body)
	}
}

// startRun POSTs a run as a preparer; it must answer 201.
func (a *batchAPI) startRun(t *testing.T, body string) (runJSON, response) {
	t.Helper()
	r := a.do(t, http.MethodPost, "/v1/runs", preparerToken, body)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /v1/runs %s = %d %s, want 201", body, r.status, r.body)
	}
	var run runJSON
	if err := json.Unmarshal(r.body, &run); err != nil {
		t.Fatalf("POST /v1/runs: %v in %s", err, r.body)
	}
	return run, r
}

func wantTotals(t *testing.T, what string, got totalsJSON, lines int, gross, deduction, net string) {
	t.Helper()
	want := totalsJSON{lines, gross, deduction, net}
	if got != want {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

// docs/rules.md §4: one adult, not accommodated, rights from 2026-10-03:
// October comes to 29 × 14.20 = 411.80.
func TestADARunOverHTTP(t *testing.T) {
	a := newBatchAPI(t)
	a.open(t, household{id: "OFII-2026-000123", from: "2026-10-03", adults: 1})

	run, r := a.startRun(t, `{"kind":"ada","period":"2026-10"}`)
	if run.ID == "" || run.Kind != "ada" || run.Period != "2026-10" || run.Day != "2026-11-05" || run.Status != "done" ||
		run.Trigger != "staff" || run.By != "marie" || run.Processed != 1 || run.Lines != 1 || run.Error != "" {
		t.Fatalf("run = %+v", run)
	}
	if loc := r.header.Get("Location"); loc != "/v1/batches/"+run.BatchID {
		t.Errorf("Location = %q, want /v1/batches/%s", loc, run.BatchID)
	}

	t.Run("ListRuns", func(t *testing.T) {
		var l struct {
			Runs []runJSON `json:"runs"`
		}
		a.read(t, auditorToken, "/v1/runs", &l)
		if len(l.Runs) != 1 || l.Runs[0] != run {
			t.Errorf("runs = %+v, want [%+v]", l.Runs, run)
		}
	})

	t.Run("ListBatches", func(t *testing.T) {
		tests := []struct {
			query string
			want  int
		}{
			{"", 1},
			{"?kind=ada&period=2026-10&status=draft", 1},
			{"?limit=1", 1},
			{"?kind=grants", 0},
			{"?period=2026-09", 0},
			{"?status=approved", 0},
		}
		for _, tt := range tests {
			t.Run(tt.query, func(t *testing.T) {
				var l struct {
					Batches []batchJSON `json:"batches"`
				}
				a.read(t, auditorToken, "/v1/batches"+tt.query, &l)
				if len(l.Batches) != tt.want {
					t.Fatalf("%d batches %+v, want %d", len(l.Batches), l.Batches, tt.want)
				}
				if tt.want == 0 {
					return
				}
				b := l.Batches[0]
				if b.ID != run.BatchID || b.RunID != run.ID || b.Kind != "ada" || b.Period != "2026-10" || b.Status != "draft" || b.Lines != 1 {
					t.Errorf("batch = %+v", b)
				}
				wantTotals(t, "total", b.Total, 1, "411.80", "0.00", "411.80")
			})
		}
	})

	t.Run("GetBatch", func(t *testing.T) {
		var b batchJSON
		a.read(t, auditorToken, "/v1/batches/"+run.BatchID, &b)
		if b.ID != run.BatchID || b.RunID != run.ID || b.Status != "draft" || b.Lines != 1 || len(b.Totals) != 1 {
			t.Fatalf("batch = %+v", b)
		}
		wantTotals(t, "totals[ada]", b.Totals["ada"], 1, "411.80", "0.00", "411.80")
		wantTotals(t, "total", b.Total, 1, "411.80", "0.00", "411.80")
	})

	// Only the roles that pay see IBANs in full.
	t.Run("Lines", func(t *testing.T) {
		tests := []struct {
			role, token, wantIBAN string
		}{
			{"preparer", preparerToken, testIBAN},
			{"approver", approverToken, testIBAN},
			{"auditor", auditorToken, maskedIBAN},
			{"admin", adminToken, maskedIBAN},
		}
		for _, tt := range tests {
			t.Run(tt.role, func(t *testing.T) {
				var page linesJSON
				a.read(t, tt.token, "/v1/batches/"+run.BatchID+"/lines", &page)
				if len(page.Lines) != 1 || page.NextCursor != "" {
					t.Fatalf("page = %+v, want one line and no cursor", page)
				}
				l := page.Lines[0]
				if len(l.ID) != payments.LineIDLen || l.BatchID != run.BatchID || l.Scheme != "ada" || l.Kind != "monthly" ||
					l.BeneficiaryID != "OFII-2026-000123" || l.Period != "2026-10" {
					t.Errorf("line = %+v", l)
				}
				if l.Gross != "411.80" || l.Deduction != "0.00" || l.Net != "411.80" || l.Basis != "0.00" || len(l.Deductions) != 0 {
					t.Errorf("gross, deduction, net, basis = %s, %s, %s, %s (deductions %v); want 411.80, 0.00, 411.80, 0.00",
						l.Gross, l.Deduction, l.Net, l.Basis, l.Deductions)
				}
				if l.Payee.Name != "Amina Diallo" || l.Payee.IBAN != tt.wantIBAN {
					t.Errorf("payee = %+v, want IBAN %s", l.Payee, tt.wantIBAN)
				}
				want := []segmentJSON{{"2026-10-03", "2026-10-31", 29, "14.20", "411.80", "1 adult, not accommodated: 6.80 + 7.40"}}
				if !slices.Equal(l.Explanation.Segments, want) {
					t.Errorf("segments = %+v, want %+v", l.Explanation.Segments, want)
				}
				if l.Explanation.Due != "411.80" || l.Explanation.Paid != "0.00" {
					t.Errorf("due, paid = %q, %q; want 411.80, 0.00", l.Explanation.Due, l.Explanation.Paid)
				}
				if !strings.Contains(l.Explanation.Text, "29 × 14.20") || !strings.Contains(l.Explanation.Text, "= 411.80") {
					t.Errorf("explanation = %q", l.Explanation.Text)
				}
			})
		}
	})

	// While the batch is a draft, running the period again replaces it.
	t.Run("RunAgainReplacesDraft", func(t *testing.T) {
		again, _ := a.startRun(t, `{"kind":"ada","period":"2026-10"}`)
		if again.ID == run.ID || again.BatchID == run.BatchID || again.Lines != 1 {
			t.Fatalf("second run = %+v", again)
		}
		var l struct {
			Batches []batchJSON `json:"batches"`
		}
		a.read(t, auditorToken, "/v1/batches", &l)
		if len(l.Batches) != 1 || l.Batches[0].ID != again.BatchID {
			t.Fatalf("batches = %+v, want the second run's alone", l.Batches)
		}
		wantTotals(t, "total", l.Batches[0].Total, 1, "411.80", "0.00", "411.80")
		var runs struct {
			Runs []runJSON `json:"runs"`
		}
		a.read(t, auditorToken, "/v1/runs?limit=1", &runs)
		if len(runs.Runs) != 1 || runs.Runs[0].ID != again.ID {
			t.Errorf("latest run = %+v, want %s", runs.Runs, again.ID)
		}
	})
}

func TestBatchLinesPaging(t *testing.T) {
	a := newBatchAPI(t)
	// The gross of October for each, day count × daily amount.
	want := map[string]string{
		"OFII-2026-000201": "411.80", // 29 × 14.20
		"OFII-2026-000202": "440.20", // 31 × 14.20
		"OFII-2026-000203": "227.20", // 16 × 14.20
		"OFII-2026-000204": "14.20",  // 1 × 14.20
		"OFII-2026-000205": "596.40", // 21 × 28.40: 2 adults, 1 child
	}
	a.open(t,
		household{id: "OFII-2026-000201", from: "2026-10-03", adults: 1},
		household{id: "OFII-2026-000202", from: "2026-10-01", adults: 1},
		household{id: "OFII-2026-000203", from: "2026-10-16", adults: 1},
		household{id: "OFII-2026-000204", from: "2026-10-31", adults: 1},
		household{id: "OFII-2026-000205", from: "2026-10-11", adults: 2, children: 1},
	)
	run, _ := a.startRun(t, `{"kind":"ada","period":"2026-10"}`)
	if run.Lines != 5 || run.Processed != 5 {
		t.Fatalf("run = %+v, want 5 lines", run)
	}
	var b batchJSON
	a.read(t, auditorToken, "/v1/batches/"+run.BatchID, &b)
	wantTotals(t, "totals[ada]", b.Totals["ada"], 5, "1689.80", "0.00", "1689.80")
	wantTotals(t, "total", b.Total, 5, "1689.80", "0.00", "1689.80")

	tests := []struct {
		name  string
		limit int
		pages []int // lines per page
	}{
		{"ByTwo", 2, []int{2, 2, 1}},
		{"ByFive", 5, []int{5, 0}}, // a full page has a cursor; the next one may be empty
		{"ByTen", 10, []int{5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ids []string
			got := map[string]string{}
			var pages []int
			cursor := ""
			for range 10 {
				path := "/v1/batches/" + run.BatchID + "/lines?limit=" + strconv.Itoa(tt.limit)
				if cursor != "" {
					path += "&cursor=" + url.QueryEscape(cursor)
				}
				var page linesJSON
				a.read(t, preparerToken, path, &page)
				pages = append(pages, len(page.Lines))
				for _, l := range page.Lines {
					ids = append(ids, l.ID)
					got[l.BeneficiaryID] = l.Gross
					if l.Deduction != "0.00" || l.Net != l.Gross || l.Payee.IBAN != testIBAN {
						t.Errorf("line of %s: deduction %s, net %s, IBAN %s", l.BeneficiaryID, l.Deduction, l.Net, l.Payee.IBAN)
					}
				}
				if full := len(page.Lines) == tt.limit; full != (page.NextCursor != "") {
					t.Errorf("page of %d lines (limit %d) has next_cursor %q", len(page.Lines), tt.limit, page.NextCursor)
				}
				if page.NextCursor == "" {
					break
				}
				if page.NextCursor != ids[len(ids)-1] {
					t.Errorf("next_cursor = %q, want the last id %q", page.NextCursor, ids[len(ids)-1])
				}
				cursor = page.NextCursor
			}
			if !slices.Equal(pages, tt.pages) {
				t.Errorf("pages of %v lines, want %v", pages, tt.pages)
			}
			if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
				t.Errorf("line ids not in strict order: %v", ids)
			}
			if len(got) != len(want) {
				t.Errorf("lines of %d beneficiaries, want %d", len(got), len(want))
			}
			for ben, gross := range want {
				if got[ben] != gross {
					t.Errorf("gross of %s = %q, want %s", ben, got[ben], gross)
				}
			}
		})
	}
}

func TestBatchesBadRequests(t *testing.T) {
	a := newBatchAPI(t)
	a.open(t, household{id: "OFII-2026-000301", from: "2026-10-03", adults: 1})
	unknown := "0b0e7b39-4e0a-4a3f-9d3c-1d2a5e8f7a61"
	tests := []struct {
		name       string
		method     string
		path       string
		token      string
		body       string
		wantStatus int
		wantField  string
		wantMsg    string // the start of the message
	}{
		{"MalformedPeriod", "POST", "/v1/runs", preparerToken, `{"kind":"ada","period":"2026-13"}`,
			400, "period", "period: 2026-13 has month 13"},
		{"PeriodNotAMonth", "POST", "/v1/runs", preparerToken, `{"kind":"ada","period":"October"}`,
			400, "period", `period: "October" is not a month of the form YYYY-MM`},
		{"CurrentPeriod", "POST", "/v1/runs", preparerToken, `{"kind":"ada","period":"2026-11"}`,
			400, "period", "period: 2026-11 is not over yet"},
		{"FuturePeriod", "POST", "/v1/runs", adminToken, `{"kind":"ada","period":"2027-01"}`,
			400, "period", "period: 2027-01 is not over yet"},
		{"BeyondLimitation", "POST", "/v1/runs", preparerToken, `{"kind":"ada","period":"2024-10"}`,
			400, "period", "period: 2024-10 is older than the two-year limitation"},
		{"MissingPeriod", "POST", "/v1/runs", preparerToken, `{"kind":"ada"}`,
			400, "period", "period: is required"},
		{"DayForADA", "POST", "/v1/runs", preparerToken, `{"kind":"ada","period":"2026-10","day":"2026-11-01"}`,
			400, "day", "day: is for a grants run"},
		{"PeriodForGrants", "POST", "/v1/runs", preparerToken, `{"kind":"grants","period":"2026-10"}`,
			400, "period", "period: is for an ADA run"},
		{"UnknownKind", "POST", "/v1/runs", preparerToken, `{"kind":"monthly","period":"2026-10"}`,
			400, "kind", `kind: "monthly" is not a kind of run`},
		{"MissingKind", "POST", "/v1/runs", preparerToken, `{"period":"2026-10"}`,
			400, "kind", "kind: is required"},
		{"UnknownField", "POST", "/v1/runs", preparerToken, `{"kind":"ada","period":"2026-10","month":"10"}`,
			400, "month", "month: unknown field"},
		{"AuditorStartsRun", "POST", "/v1/runs", auditorToken, `{"kind":"ada","period":"2026-10"}`,
			403, "", "this needs one of the roles preparer, admin"},
		{"ApproverStartsRun", "POST", "/v1/runs", approverToken, `{"kind":"ada","period":"2026-10"}`,
			403, "", "this needs one of the roles preparer, admin"},
		{"NoToken", "POST", "/v1/runs", "", `{"kind":"ada","period":"2026-10"}`,
			401, "", "a bearer token is required"},
		{"UnknownBatch", "GET", "/v1/batches/" + unknown, auditorToken, "",
			404, "", ""},
		{"UnknownBatchLines", "GET", "/v1/batches/" + unknown + "/lines", auditorToken, "",
			404, "", ""},
		{"MalformedID", "GET", "/v1/batches/nope", auditorToken, "",
			400, "id", `id: "nope" is not a batch id (a UUID)`},
		{"MalformedIDLines", "GET", "/v1/batches/42/lines", auditorToken, "",
			400, "id", `id: "42" is not a batch id (a UUID)`},
		{"CursorTooLong", "GET", "/v1/batches/" + unknown + "/lines?cursor=" + strings.Repeat("a", 36), auditorToken, "",
			400, "cursor", "cursor: is not a line id"},
		{"LinesLimitZero", "GET", "/v1/batches/" + unknown + "/lines?limit=0", auditorToken, "",
			400, "limit", "limit: must be between 1 and 1000"},
		{"ListUnknownKind", "GET", "/v1/batches?kind=monthly", auditorToken, "",
			400, "kind", `kind: "monthly" is not a kind of run`},
		{"ListBadPeriod", "GET", "/v1/batches?period=2026-13", auditorToken, "",
			400, "period", "period: 2026-13 has month 13"},
		{"ListUnknownParameter", "GET", "/v1/batches?colour=blue", auditorToken, "",
			400, "colour", "colour: unknown query parameter"},
		{"RunsLimitTooLarge", "GET", "/v1/runs?limit=1001", auditorToken, "",
			400, "limit", "limit: must be between 1 and 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do(t, tt.method, tt.path, tt.token, tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", r.status, r.body, tt.wantStatus)
			}
			e := errorOf(t, r)
			if e.Field != tt.wantField {
				t.Errorf("field = %q, want %q (%s)", e.Field, tt.wantField, e.Message)
			}
			if !strings.HasPrefix(e.Message, tt.wantMsg) {
				t.Errorf("message = %q, want it to start with %q", e.Message, tt.wantMsg)
			}
		})
	}
	var runs struct {
		Runs []runJSON `json:"runs"`
	}
	a.read(t, auditorToken, "/v1/runs", &runs)
	if len(runs.Runs) != 0 {
		t.Errorf("refused requests started %d runs: %+v", len(runs.Runs), runs.Runs)
	}
	var batches struct {
		Batches []batchJSON `json:"batches"`
	}
	a.read(t, auditorToken, "/v1/batches", &batches)
	if len(batches.Batches) != 0 {
		t.Errorf("refused requests made %d batches", len(batches.Batches))
	}
}

package httptransport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofii/allowances/internal/staff"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
)

// The API's description, loaded and checked once for every test.
var (
	specOnce   sync.Once
	specDoc    *openapi3.T
	specRouter routers.Router
	specErr    error
)

// loadSpec loads OpenAPI as kin-openapi reads an OpenAPI 3.1 document and
// validates it.
func loadSpec(t reporter) (*openapi3.T, routers.Router) {
	t.Helper()
	specOnce.Do(func() {
		for _, ct := range []string{"application/xml", "text/xml", "application/octet-stream", "text/plain",
			"text/tab-separated-values"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
		}
		loader := openapi3.NewLoader()
		specDoc, specErr = loader.LoadFromData(openAPI)
		if specErr != nil {
			specErr = fmt.Errorf("load: %w", specErr)
			return
		}
		if !specDoc.IsOpenAPI31OrLater() {
			specErr = fmt.Errorf("openapi is %q, want 3.1", specDoc.OpenAPI)
			return
		}
		if specErr = specDoc.Validate(loader.Context); specErr != nil {
			specErr = fmt.Errorf("validate: %w", specErr)
			return
		}
		if specRouter, specErr = legacy.NewRouter(specDoc); specErr != nil {
			specErr = fmt.Errorf("router: %w", specErr)
		}
	})
	if specErr != nil {
		t.Fatalf("openapi.json: %v", specErr)
	}
	return specDoc, specRouter
}

// reporter is what checkedAgainstSpec needs of a *testing.T.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// newServer starts h for a test, every request and answer of which is
// checked against the API's description (see checkedAgainstSpec).
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	return httptest.NewServer(checkedAgainstSpec(t, h))
}

// bufferedWriter holds an answer until it has been checked.
type bufferedWriter struct {
	base   http.ResponseWriter
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedWriter) Header() http.Header { return w.header }

func (w *bufferedWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *bufferedWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(p)
}

// Unwrap gives the server's own writer, which limitBody looks for.
func (w *bufferedWriter) Unwrap() http.ResponseWriter { return w.base }

// specAuth admits, for the description's checks, a request that carries a
// bearer token; whether the token is good is the server's to say.
func specAuth(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecurityScheme.Type == "http" && strings.EqualFold(in.SecurityScheme.Scheme, "bearer") {
		if _, ok := bearerToken(in.RequestValidationInput.Request); ok {
			return nil
		}
		return errors.New("no bearer token")
	}
	return fmt.Errorf("security scheme %s/%s unknown to the test", in.SecurityScheme.Type, in.SecurityScheme.Scheme)
}

// checkedAgainstSpec serves h and fails the test when an exchange departs
// from the API's description: a request the description refuses must be
// refused (4xx), one to a path or method it does not list must get 404 or
// 405, and every answer must be one the description gives for its
// operation and status, body and headers included. Error answers of routes
// it does not list must still have the error shape.
func checkedAgainstSpec(t reporter, h http.Handler) http.Handler {
	doc, router := loadSpec(t)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqBody, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("openapi: read the request body of %s %s: %v", r.Method, r.URL, err)
		}
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		bw := &bufferedWriter{base: w, header: http.Header{}}
		h.ServeHTTP(bw, r)
		if bw.status == 0 {
			bw.status = http.StatusOK
		}
		what := fmt.Sprintf("%s %s = %d", r.Method, r.URL.RequestURI(), bw.status)
		if recordExchange != nil {
			recordExchange(r, reqBody, bw.status, bw.header, bw.body.Bytes())
		}

		probe := r.Clone(context.Background())
		probe.Body = io.NopCloser(bytes.NewReader(reqBody))
		route, params, err := router.FindRoute(probe)
		switch {
		case err != nil && err.Error() == routers.ErrPathNotFound.Error():
			if bw.status != http.StatusNotFound && bw.status != http.StatusMethodNotAllowed && bw.status != http.StatusBadRequest {
				t.Errorf("openapi: %s, on a path the description does not list", what)
			}
			checkErrorShape(t, doc, what, bw)
		case err != nil && err.Error() == routers.ErrMethodNotAllowed.Error():
			if bw.status != http.StatusMethodNotAllowed {
				t.Errorf("openapi: %s, for a method the description does not list on the path", what)
			}
			checkErrorShape(t, doc, what, bw)
		case err != nil:
			t.Errorf("openapi: %s: find the route: %v", what, err)
		default:
			in := &openapi3filter.RequestValidationInput{
				Request: probe, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: specAuth, MultiError: true},
			}
			if reqErr := openapi3filter.ValidateRequest(context.Background(), in); reqErr != nil &&
				(bw.status < 400 || bw.status >= 500) {
				t.Errorf("openapi: %s, to a request the description refuses: %v", what, reqErr)
			}
			in.Options = &openapi3filter.Options{AuthenticationFunc: specAuth, IncludeResponseStatus: true, MultiError: true}
			out := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: in, Status: bw.status, Header: bw.header,
				Body:    io.NopCloser(bytes.NewReader(bw.body.Bytes())),
				Options: in.Options,
			}
			if resErr := openapi3filter.ValidateResponse(context.Background(), out); resErr != nil {
				t.Errorf("openapi: %s (%s): the answer departs from the description: %v\n%.600s", what, route.Path, resErr, bw.body.Bytes())
			}
		}

		for k, v := range bw.header {
			w.Header()[k] = v
		}
		w.WriteHeader(bw.status)
		_, _ = w.Write(bw.body.Bytes())
	})
}

// recordExchange, when set, sees every exchange (to write samples).
var recordExchange func(r *http.Request, reqBody []byte, status int, header http.Header, body []byte)

// checkErrorShape fails the test unless an error answer is JSON of the
// description's Error schema.
func checkErrorShape(t reporter, doc *openapi3.T, what string, bw *bufferedWriter) {
	t.Helper()
	if bw.status < 400 {
		return
	}
	mt, _, _ := mime.ParseMediaType(bw.header.Get("Content-Type"))
	if mt != "application/json" {
		t.Errorf("openapi: %s: error answer of type %q", what, bw.header.Get("Content-Type"))
		return
	}
	var v any
	if err := json.Unmarshal(bw.body.Bytes(), &v); err != nil {
		t.Errorf("openapi: %s: error answer: %v", what, err)
		return
	}
	s := doc.Components.Schemas["Error"]
	if s == nil {
		t.Fatalf("openapi: no components.schemas.Error")
		return
	}
	if err := s.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("openapi: %s: error answer departs from the Error schema: %v", what, err)
	}
}

// The services of a route table made only to be read: none is called.
// (The aliases name the embedded fields apart from the methods.)
type (
	ledgerService        = ledger.Service
	beneficiariesService = payments.Beneficiaries
	runsService          = payments.Runs
	approvalsService     = payments.Approvals
	reconcileService     = reconcile.Service

	tableLedger        struct{ ledgerService }
	tableBeneficiaries struct{ beneficiariesService }
	tableRuns          struct{ runsService }
	tableApprovals     struct{ approvalsService }
	tableBudget        struct{ payments.Budgets }
	tableReconcile     struct{ reconcileService }
)

// servedRoutes is the route table of a handler with every service set,
// by "METHOD /path" pattern.
func servedRoutes(t *testing.T) map[string]route {
	t.Helper()
	a := &api{opts: Options{
		Registry:      prometheus.NewRegistry(),
		Beneficiaries: tableBeneficiaries{},
		Runs:          tableRuns{},
		Approvals:     tableApprovals{},
		Reconcile:     tableReconcile{},
		Budget:        tableBudget{},
	}}
	routes := map[string]route{}
	for _, rt := range a.table(tableLedger{}) {
		if _, dup := routes[rt.pattern]; dup {
			t.Fatalf("route %s twice in the table", rt.pattern)
		}
		routes[rt.pattern] = rt
	}
	return routes
}

// notYetServed lists the operations the description gives ahead of the
// route that serves them; each must be taken out once the route is served.
var notYetServed = map[string]bool{}

// documented is every operation of the description by "METHOD /path".
func documented(doc *openapi3.T) map[string]*openapi3.Operation {
	ops := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops[method+" "+path] = op
		}
	}
	return ops
}

// TestOpenAPIDescribesEveryRoute: every route served is described and
// every operation described is served.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc, _ := loadSpec(t)
	served, ops := servedRoutes(t), documented(doc)
	for pattern := range served {
		if ops[pattern] == nil {
			t.Errorf("%s is served but not in openapi.json", pattern)
		}
		if notYetServed[pattern] {
			t.Errorf("%s is served now: take it out of notYetServed", pattern)
		}
	}
	for op := range ops {
		if _, ok := served[op]; !ok && !notYetServed[op] {
			t.Errorf("%s is in openapi.json but no route serves it", op)
		}
	}
	if len(ops) < 50 {
		t.Errorf("openapi.json has %d operations, fewer than the routes", len(ops))
	}
}

// TestOpenAPIRolesAreTheRouteTables: each operation admits, in its
// security requirement and its x-roles, the roles of its route; a public
// route needs no token.
func TestOpenAPIRolesAreTheRouteTables(t *testing.T) {
	doc, _ := loadSpec(t)
	served, ops := servedRoutes(t), documented(doc)
	for pattern, op := range ops {
		rt, ok := served[pattern]
		if !ok {
			continue // TestOpenAPIDescribesEveryRoute
		}
		roles, err := rolesOf(op)
		if err != nil {
			t.Errorf("%s: %v", pattern, err)
			continue
		}
		want := make([]string, len(rt.allow))
		for i, r := range rt.allow {
			want[i] = string(r)
		}
		slices.Sort(want)
		slices.Sort(roles)
		if !slices.Equal(roles, want) {
			t.Errorf("%s: x-roles %v, the route admits %v", pattern, roles, want)
		}
		secured := op.Security == nil || len(*op.Security) > 0
		if rt.public {
			if secured {
				t.Errorf("%s is public but its operation asks for a token (security must be [])", pattern)
			}
			if op.Responses.Status(http.StatusUnauthorized) != nil {
				t.Errorf("%s is public but documents 401", pattern)
			}
			continue
		}
		if op.Security == nil || len(*op.Security) != 1 || (*op.Security)[0]["bearer"] == nil {
			t.Errorf("%s needs a token: its security must be [{bearer: []}]", pattern)
		}
		for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
			if op.Responses.Status(status) == nil {
				t.Errorf("%s needs a token but does not document %d", pattern, status)
			}
		}
		for _, role := range roles {
			if !strings.Contains(op.Description, "`"+role+"`") {
				t.Errorf("%s: the description does not name the role %s it admits", pattern, role)
			}
		}
	}
	for pattern := range notYetServed {
		op := ops[pattern]
		if op == nil {
			t.Errorf("%s in notYetServed but not in openapi.json", pattern)
			continue
		}
		if _, err := rolesOf(op); err != nil {
			t.Errorf("%s: %v", pattern, err)
		}
	}
}

// rolesOf reads an operation's x-roles.
func rolesOf(op *openapi3.Operation) ([]string, error) {
	raw, ok := op.Extensions["x-roles"]
	if !ok {
		return nil, errors.New("no x-roles")
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("x-roles is %T, want a list", raw)
	}
	roles := make([]string, 0, len(list))
	for _, v := range list {
		s, ok := v.(string)
		if _, err := staff.ParseRole(s); !ok || err != nil {
			return nil, fmt.Errorf("x-roles holds %v, not a role", v)
		}
		roles = append(roles, s)
	}
	return roles, nil
}

// TestDocsOpenAPIIsTheServedOne: docs/openapi.json is the description the
// server embeds, byte for byte.
func TestDocsOpenAPIIsTheServedOne(t *testing.T) {
	docs, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(docs, openAPI) {
		t.Errorf("docs/openapi.json differs from transport/http/openapi.json, the one served: cp transport/http/openapi.json docs/")
	}
}

// TestOpenAPIServedWithoutToken: GET /v1/openapi.json answers the
// description to anyone.
func TestOpenAPIServedWithoutToken(t *testing.T) {
	srv := newServer(t, NewHandler(tableLedger{}, Options{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()}))
	t.Cleanup(srv.Close)
	res, err := srv.Client().Get(srv.URL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !bytes.Equal(body, openAPI) {
		t.Fatalf("GET /v1/openapi.json = %d, %d bytes; want 200 and the %d of openapi.json", res.StatusCode, len(body), len(openAPI))
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
}

// departures collects what checkedAgainstSpec reports.
type departures struct {
	mu   sync.Mutex
	msgs []string
}

func (d *departures) Helper() {}

func (d *departures) Errorf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.msgs = append(d.msgs, fmt.Sprintf(format, args...))
}

func (d *departures) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// entryAnswer is an entry as the description gives it.
const entryAnswer = `{"id":"0b0e7b39-4e0a-4a3f-9d3c-1d2a5e8f7a61","idempotency_key":"k","kind":"standard","status":"posted",` +
	`"effective_date":"2026-03-15","posted_at":"2026-03-15T10:00:00Z","line_count":0,` +
	`"content_hash":"ffafbd8cbe6bea823dc5c476bf63977a105ca39910b575d41e68e06538f95ffe","postings":[]}`

// TestSpecCheckCatchesDepartures: the check the tests' servers run fails
// on an answer or a request the description does not give, and passes a
// conforming one.
func TestSpecCheckCatchesDepartures(t *testing.T) {
	loadSpec(t)
	cases := []struct {
		name          string
		method, path  string
		body, ct      string
		status        int
		answer        string
		wantDeparture string
	}{
		{"conforming", "GET", "/healthz", "", "", 200, `{"status":"ok"}`, ""},
		{"conforming error", "GET", "/v1/verify", "", "", 401, `{"error":{"code":"unauthorized","message":"no token"}}`, ""},
		{"wrong type in the body", "GET", "/v1/verify", "", "", 200, `{"ok":"yes","problems":[]}`, "departs from the description"},
		{"field not described", "GET", "/v1/verify", "", "", 200, `{"ok":true,"problems":[],"extra":1}`, "departs from the description"},
		{"required field missing", "GET", "/v1/accounts/bank:main", "", "", 200, `{"code":"bank:main"}`, "departs from the description"},
		{"status not documented", "GET", "/v1/accounts", "", "", http.StatusTeapot, `{"error":{"code":"invalid","message":"x"}}`, "departs from the description"},
		{"error of another shape", "GET", "/v1/accounts", "", "", 400, `{"message":"bad"}`, "departs from the description"},
		{"refused request accepted", "POST", "/v1/seals", `{"reason":1}`, "application/json", 200, `{"seal":null}`, "to a request the description refuses"},
		{"unknown body field accepted", "POST", "/v1/seals", `{"why":"x"}`, "application/json", 200, `{"seal":null}`, "to a request the description refuses"},
		{"refused request refused", "POST", "/v1/seals", `{"reason":1}`, "application/json", 400, `{"error":{"code":"invalid","message":"reason","field":"reason"}}`, ""},
		// OpenAPI 3.1: an amount's type is the list [string, number].
		{"amount as a number", "POST", "/v1/entries", `{"idempotency_key":"k","lines":[{"account":"bank:main","amount":12.5}]}`, "application/json", 201, entryAnswer, ""},
		{"amount as a boolean", "POST", "/v1/entries", `{"idempotency_key":"k","lines":[{"account":"bank:main","amount":true}]}`, "application/json", 201, entryAnswer, "to a request the description refuses"},
		{"seal null", "POST", "/v1/seals", `{"reason":"x"}`, "application/json", 200, `{"seal":null}`, ""},
		{"seal neither null nor a seal", "POST", "/v1/seals", `{"reason":"x"}`, "application/json", 200, `{"seal":1}`, "departs from the description"},
		{"no token, answered", "GET", "/v1/verify", "", "", 200, `{"ok":true,"problems":[]}`, "to a request the description refuses"},
		{"no token, refused", "GET", "/v1/verify", "", "", 401, `{"error":{"code":"unauthorized","message":"no token"}}`, ""},
		{"no token to a public route", "GET", "/healthz", "", "", 200, `{"status":"ok"}`, ""},
		{"unknown path answered", "GET", "/v1/nope", "", "", 200, `{}`, "on a path the description does not list"},
		{"unknown method answered", "DELETE", "/v1/entries", "", "", 204, ``, "for a method the description does not list"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &departures{}
			h := checkedAgainstSpec(d, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(c.status)
				_, _ = io.WriteString(w, c.answer)
			}))
			req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
			if !strings.HasPrefix(c.name, "no token") {
				req.Header.Set("Authorization", "Bearer t")
			}
			if c.ct != "" {
				req.Header.Set("Content-Type", c.ct)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			got := strings.Join(d.msgs, "\n")
			switch {
			case c.wantDeparture == "" && got != "":
				t.Errorf("reported %s", got)
			case c.wantDeparture != "" && !strings.Contains(got, c.wantDeparture):
				t.Errorf("reported %q, want %q", got, c.wantDeparture)
			}
		})
	}
}

package httptransport

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/kit/endpoint"
	kithttp "github.com/go-kit/kit/transport/http"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sepa"
	"github.com/ofii/allowances/reconcile"
)

// DefaultMaxBodyBytes is the body limit when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// DefaultReadyTimeout bounds each readiness check when Options.ReadyTimeout
// is 0.
const DefaultReadyTimeout = 2 * time.Second

// Options are the dependencies and limits of the HTTP API.
type Options struct {
	// Tokens are the accepted bearer tokens; with none, every /v1 route
	// answers 401.
	Tokens Tokens
	// Logger receives one line per request; nil means slog.Default().
	Logger *slog.Logger
	// Registry receives the HTTP metrics and is what /metrics serves; nil
	// means a registry of the handler's own. Register the Go and process
	// collectors on it to have them served too.
	Registry *prometheus.Registry
	// MaxBodyBytes caps request bodies (413 beyond it); 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Ready holds the checks of /readyz by name, such as
	// {"database": pool.Ping}; /readyz answers 503 when one fails.
	Ready map[string]func(context.Context) error
	// Beneficiaries, when set, serves the beneficiaries' timelines and the
	// dead letters of the eligibility stream.
	Beneficiaries payments.Beneficiaries
	// Runs, when set, serves the monthly runs and their draft batches.
	Runs payments.Runs
	// Approvals, when set, serves the approval workflow of the batches,
	// their payment files and exceptions, the bank and the audit trail.
	Approvals payments.Approvals
	// Detail adds, by name, facts to the /readyz body that say how far the
	// service has got, such as the eligibility consumer's last applied
	// offsets; they do not decide readiness.
	Detail map[string]func() any
	// ReadyTimeout bounds each readiness check; 0 means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Reconcile, when set, serves the reconciliation: statement files in,
	// reports, exceptions and matches out.
	Reconcile reconcile.Service
	// MaxStatementBytes caps the body of POST /v1/statements alone, a
	// statement file far larger than any JSON body (413 beyond it); 0
	// means DefaultMaxStatementBytes.
	MaxStatementBytes int64
	// MaxReportBytes caps the body of POST /v1/status-reports alone: a
	// pain.002 lists every payment of a file; 0 means sepa.MaxFileSize.
	MaxReportBytes int64
	// BankAccount is the IBAN of the account bank:main stands for: the
	// account of the reconciliation report when the request names none.
	BankAccount string
}

// route is one entry of the API's routing table. Each route names the roles
// it admits; a public one must say so.
type route struct {
	pattern string // http.ServeMux pattern, method first
	allow   []Role // roles admitted; empty only when public
	public  bool   // no token needed
	maxBody int64  // body limit; 0 means Options.MaxBodyBytes
	handler http.Handler
}

// NewHandler returns the staff HTTP API over svc: the /v1 ledger routes,
// /healthz, /readyz and /metrics, wrapped in request logging, metrics and
// panic recovery. It panics when the metrics cannot be registered on
// opts.Registry (a collector of another type under the same name), a
// programming error.
func NewHandler(svc ledger.Service, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	if opts.MaxReportBytes <= 0 {
		opts.MaxReportBytes = sepa.MaxFileSize
	}
	if opts.MaxStatementBytes <= 0 {
		opts.MaxStatementBytes = DefaultMaxStatementBytes
	}
	m, err := newMetrics(opts.Registry)
	if err != nil {
		panic(err)
	}
	if opts.Tokens.Len() == 0 {
		opts.Logger.Warn("no API tokens configured: every /v1 request will be refused (set AUTH_TOKENS or AUTH_TOKENS_FILE)")
	}
	a := &api{opts: opts}

	mux := http.NewServeMux()
	routes := a.routes(svc)
	if opts.Beneficiaries != nil {
		routes = append(routes, a.eligibilityRoutes(opts.Beneficiaries)...)
	}
	if opts.Runs != nil {
		routes = append(routes, a.batchRoutes(opts.Runs)...)
	}
	if opts.Approvals != nil {
		routes = append(routes, a.approvalRoutes(opts.Approvals)...)
	}
	if opts.Reconcile != nil {
		routes = append(routes, a.reconcileRoutes(opts.Reconcile)...)
	}
	// The observer caps every body at the largest limit of a route; the
	// routes with a smaller one cap theirs again.
	maxBody := opts.MaxBodyBytes
	for _, rt := range routes {
		maxBody = max(maxBody, rt.maxBody)
	}
	for _, rt := range routes {
		h := textInURL(rt.pattern, rt.handler)
		if limit := cmp.Or(rt.maxBody, opts.MaxBodyBytes); limit < maxBody {
			h = limitBody(h, limit)
		}
		switch {
		case rt.public:
		case len(rt.allow) > 0:
			h = Authorize(opts.Tokens, rt.allow...)(h)
		default:
			panic("httptransport: route " + rt.pattern + " admits no role and is not public")
		}
		mux.Handle(rt.pattern, h)
	}
	mux.Handle("/", a.notFound(mux))

	o := &observer{
		logger:  opts.Logger,
		metrics: m,
		maxBody: maxBody,
		quiet:   map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true},
	}
	return o.wrap(mux)
}

// api holds what the routes share.
type api struct {
	opts Options
}

// routes is the routing table of the API.
func (a *api) routes(svc ledger.Service) []route {
	read := AllRoles()
	admin := []Role{RoleAdmin}
	return []route{
		{pattern: "GET /v1/accounts", allow: read, handler: a.server(makeListAccountsEndpoint(svc), decodeListAccountsRequest)},
		{pattern: "GET /v1/accounts/{code}", allow: read, handler: a.server(makeGetAccountEndpoint(svc), decodeGetAccountRequest)},
		{pattern: "GET /v1/accounts/{code}/balance", allow: read, handler: a.server(a.accountRead(payments.ReadBalance)(makeBalanceEndpoint(svc)), decodeBalanceRequest)},
		{pattern: "GET /v1/accounts/{code}/statement", allow: read, handler: a.server(a.accountRead(payments.ReadStatement)(makeStatementEndpoint(svc)), decodeStatementRequest)},
		{pattern: "GET /v1/entries/{id}", allow: read, handler: a.server(makeGetEntryEndpoint(svc), decodeGetEntryRequest)},
		{pattern: "POST /v1/entries", allow: admin, handler: a.server(makePostEntryEndpoint(svc), decodePostEntryRequest)},
		{pattern: "POST /v1/entries/{id}/reversal", allow: admin, handler: a.server(makeReverseEntryEndpoint(svc), decodeReverseEntryRequest)},
		{pattern: "GET /v1/trial-balance", allow: read, handler: a.server(makeTrialBalanceEndpoint(svc), decodeTrialBalanceRequest)},
		{pattern: "GET /v1/verify", allow: read, handler: a.server(makeVerifyEndpoint(svc), decodeVerifyRequest)},
		{pattern: "POST /v1/seals", allow: admin, handler: a.server(makeSealEndpoint(svc), decodeSealRequest)},

		{pattern: "GET /healthz", public: true, handler: http.HandlerFunc(healthz)},
		{pattern: "GET /readyz", public: true, handler: http.HandlerFunc(a.readyz)},
		{pattern: "GET /metrics", public: true, handler: promhttp.HandlerFor(a.opts.Registry, promhttp.HandlerOpts{})},
	}
}

// limitBody caps the bodies h reads at n bytes. The reader is given the
// server's own ResponseWriter, as the observer's is, so that the server
// closes the connection of a request cut short.
func limitBody(h http.Handler, n int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := w
		for {
			u, ok := base.(interface{ Unwrap() http.ResponseWriter })
			if !ok {
				break
			}
			base = u.Unwrap()
		}
		r.Body = http.MaxBytesReader(base, r.Body, n)
		h.ServeHTTP(w, r)
	})
}

// server serves one endpoint with the API's encoders.
func (a *api) server(e endpoint.Endpoint, dec kithttp.DecodeRequestFunc) http.Handler {
	return kithttp.NewServer(e, dec, encodeResponse, kithttp.ServerErrorEncoder(encodeError))
}

// encodeResponse writes a response as JSON, or its business failure as an
// error response.
func encodeResponse(ctx context.Context, w http.ResponseWriter, response any) error {
	if f, ok := response.(endpoint.Failer); ok && f.Failed() != nil {
		encodeError(ctx, f.Failed(), w)
		return nil
	}
	return kithttp.EncodeJSONResponse(ctx, w, response)
}

// encodeError writes err as an error response and notes it for the request
// log, where an internal error is written in full.
func encodeError(ctx context.Context, err error, w http.ResponseWriter) {
	recordError(ctx, err)
	writeError(w, err)
}

// notFound answers the requests no route matched: 405 with the Allow header
// when the path exists for other methods, 404 otherwise.
func (a *api) notFound(mux *http.ServeMux) http.Handler {
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, m := range methods {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 && !slices.Contains(allowed, r.Method) {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_ = json.NewEncoder(w).Encode(errorBody{Error: errorDetail{
				Code:    errs.Invalid,
				Message: fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", ")),
			}})
			return
		}
		writeError(w, errs.E(errs.NotFound, "no route for %s %s", r.Method, r.URL.Path))
	})
}

// healthz says the process is up; it checks nothing else.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// readyz runs the readiness checks side by side, each within ReadyTimeout,
// and answers 200 when all pass, 503 otherwise. A failing check's error is
// logged, not shown: the route needs no token.
func (a *api) readyz(w http.ResponseWriter, r *http.Request) {
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(a.opts.Ready))
	var wg sync.WaitGroup
	for name, check := range a.opts.Ready {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), a.opts.ReadyTimeout)
			defer cancel()
			err := check(ctx)
			if err == nil && ctx.Err() != nil {
				err = ctx.Err()
			}
			results <- result{name, err}
		})
	}
	wg.Wait()
	close(results)

	checks := map[string]string{}
	ready := true
	for res := range results {
		if res.err == nil {
			checks[res.name] = "ok"
			continue
		}
		ready = false
		checks[res.name] = "failed"
		a.opts.Logger.WarnContext(r.Context(), "readiness check failed", "check", res.name, "error", res.err.Error())
	}
	body := struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
		Detail map[string]any    `json:"detail,omitempty"`
	}{Status: "ready", Checks: checks}
	for name, detail := range a.opts.Detail {
		if body.Detail == nil {
			body.Detail = map[string]any{}
		}
		body.Detail[name] = detail()
	}
	status := http.StatusOK
	if !ready {
		body.Status, status = "not ready", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// The request decoders: each reads the path, the query (refusing parameters
// the route does not take) and the body into the endpoint's request, and
// fails with an *errs.Error naming the field at fault.

func decodeListAccountsRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "prefix", "cursor", "limit")
	if err != nil {
		return nil, err
	}
	limit, err := q.limit(defaultLimit)
	if err != nil {
		return nil, err
	}
	return listAccountsRequest{Prefix: q.str("prefix"), Cursor: q.str("cursor"), Limit: limit}, nil
}

func decodeGetAccountRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	return getAccountRequest{Code: r.PathValue("code")}, nil
}

func decodeBalanceRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "as_of")
	if err != nil {
		return nil, err
	}
	at, err := q.asOf()
	if err != nil {
		return nil, err
	}
	return balanceRequest{Code: r.PathValue("code"), AsOf: at}, nil
}

func decodeStatementRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "from", "to", "cursor", "limit")
	if err != nil {
		return nil, err
	}
	sq := ledger.StatementQuery{Account: r.PathValue("code"), Cursor: q.str("cursor")}
	if sq.From, err = q.date("from"); err != nil {
		return nil, err
	}
	if sq.To, err = q.date("to"); err != nil {
		return nil, err
	}
	if !sq.From.IsZero() && !sq.To.IsZero() && sq.To.Before(sq.From) {
		return nil, errs.Field("to", "%s is before from (%s)", sq.To, sq.From)
	}
	if sq.Limit, err = q.limit(defaultLimit); err != nil {
		return nil, err
	}
	return statementRequest{Query: sq}, nil
}

func decodeGetEntryRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	id, err := entryID(r)
	if err != nil {
		return nil, err
	}
	return getEntryRequest{ID: id}, nil
}

func decodePostEntryRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	var b entryBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	return postEntryRequest{Entry: b.newEntry()}, nil
}

func decodeReverseEntryRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	id, err := entryID(r)
	if err != nil {
		return nil, err
	}
	var b reversalBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	return reverseEntryRequest{Reversal: ledger.Reversal{
		EntryID:        id,
		IdempotencyKey: b.IdempotencyKey,
		EffectiveDate:  ledger.Date(b.EffectiveDate),
		Reason:         b.Reason,
	}}, nil
}

func decodeTrialBalanceRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "as_of")
	if err != nil {
		return nil, err
	}
	at, err := q.asOf()
	if err != nil {
		return nil, err
	}
	return trialBalanceRequest{AsOf: at}, nil
}

func decodeVerifyRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "full")
	if err != nil {
		return nil, err
	}
	var full bool
	switch v := q.str("full"); v {
	case "", "false":
	case "true":
		full = true
	default:
		return nil, errs.Field("full", "%q is not true or false", v)
	}
	return verifyRequest{Full: full}, nil
}

func decodeSealRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	var b sealBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	return sealRequest(b), nil
}

package httptransport

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
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
	// Budget, when set, serves the budget: the appropriations, their
	// amendments and the forecast.
	Budget payments.Budgets
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
	// FEC, when set, serves GET /v1/exports/fec; else that route answers 503.
	FEC FECExporter
}

// route is one entry of the API's routing table. Each route names the roles
// it admits; a public one must say so.
type route struct {
	pattern string // http.ServeMux pattern, method first
	allow   []Role // roles admitted; empty only when public
	public  bool   // no token needed
	maxBody int64  // body limit; 0 means Options.MaxBodyBytes
	handler served
}

// served is what serves a route: an endpoint with its decoder and encoder
// (a.server), which NewHandler serves as a kithttp.Server behind the
// route's endpoint middlewares, or, for a public route outside the API's
// endpoints (the probes, /metrics), a plain http.Handler (plain).
type served struct {
	e   endpoint.Endpoint
	dec kithttp.DecodeRequestFunc
	enc kithttp.EncodeResponseFunc
	h   http.Handler
}

// plain serves a public route with h, outside the endpoints.
func plain(h http.Handler) served { return served{h: h} }

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
	routes := a.table(svc)
	// The observer caps every body at the largest limit of a route; the
	// routes with a smaller one cap theirs again.
	maxBody := opts.MaxBodyBytes
	for _, rt := range routes {
		maxBody = max(maxBody, rt.maxBody)
	}
	for _, rt := range routes {
		h := a.serve(rt, m)
		if limit := cmp.Or(rt.maxBody, opts.MaxBodyBytes); limit < maxBody {
			h = limitBody(h, limit)
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

// table is every route of the API: the ledger's, and those of the services
// opts sets.
func (a *api) table(svc ledger.Service) []route {
	opts := a.opts
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
	if opts.Budget != nil {
		routes = append(routes, a.budgetRoutes(opts.Budget)...)
	}
	if opts.Reconcile != nil {
		routes = append(routes, a.reconcileRoutes(opts.Reconcile)...)
	}
	routes = append(routes, a.exportRoutes(opts.FEC)...)
	return routes
}

// routes is the routing table of the API outside its services: the ledger's
// routes (ledger.go) and the public probes.
func (a *api) routes(svc ledger.Service) []route {
	return append(a.ledgerRoutes(svc),
		route{pattern: "GET /healthz", public: true, handler: plain(http.HandlerFunc(healthz))},
		route{pattern: "GET /readyz", public: true, handler: plain(http.HandlerFunc(a.readyz))},
		route{pattern: "GET /metrics", public: true, handler: plain(promhttp.HandlerFor(a.opts.Registry, promhttp.HandlerOpts{}))},
		route{pattern: "GET /v1/openapi.json", public: true, handler: plain(http.HandlerFunc(serveOpenAPI))},
	)
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

// server serves one endpoint, reading its requests with dec and writing
// its responses as JSON.
func (a *api) server(e endpoint.Endpoint, dec kithttp.DecodeRequestFunc) served {
	return served{e: e, dec: dec, enc: encodeResponse}
}

// serverEncoding serves one endpoint whose responses enc writes.
func (a *api) serverEncoding(e endpoint.Endpoint, dec kithttp.DecodeRequestFunc, enc kithttp.EncodeResponseFunc) served {
	return served{e: e, dec: dec, enc: enc}
}

// serve makes the handler of rt: its endpoint behind the endpoint
// middlewares, outermost first, instrumenting (count and time), logging
// (note the outcome), authenticate and authorize (unless the route is
// public), then the route's decoder, served by a kithttp.Server. The
// transport only decodes, encodes and maps errors. serve panics on a
// route that admits no role and is not public, a programming error.
func (a *api) serve(rt route, m *metrics) http.Handler {
	if rt.handler.h != nil {
		if !rt.public {
			panic("httptransport: route " + rt.pattern + " is served outside the endpoints and is not public")
		}
		return rt.handler.h
	}
	mw := []endpoint.Middleware{logging()}
	switch {
	case rt.public:
	case len(rt.allow) > 0:
		mw = append(mw, authenticate(a.opts.Tokens), authorize(rt.allow...))
	default:
		panic("httptransport: route " + rt.pattern + " admits no role and is not public")
	}
	e := endpoint.Chain(instrumenting(m, rt.pattern), mw...)(decoded(rt.handler.e))
	return kithttp.NewServer(e, deferDecoding(rt.pattern, rt.handler.dec), rt.handler.enc,
		kithttp.ServerBefore(readCredentials),
		kithttp.ServerErrorEncoder(encodeError))
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

// encodeError writes err as an error response, with the headers it
// carries when it is a kithttp.Headerer (the WWW-Authenticate challenge
// of an unauthorized request). The logging middleware has noted it for the
// request log.
func encodeError(_ context.Context, err error, w http.ResponseWriter) {
	var h kithttp.Headerer
	if errors.As(err, &h) {
		for k, vs := range h.Headers() {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
	}
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

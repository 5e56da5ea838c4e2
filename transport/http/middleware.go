package httptransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/kit/endpoint"
	kithttp "github.com/go-kit/kit/transport/http"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofii/allowances/internal/errs"
)

// requestInfo is what the endpoint middlewares tell the request log and
// the metrics: who called, the error behind a failure, and whether the
// request was counted as an endpoint's. The observer puts it in the
// context; the middlewares fill it in.
type requestInfo struct {
	id        string
	start     time.Time
	method    string // the method's metrics label
	principal string
	code      errs.Code
	err       error // logged in full for internal errors only
	counted   bool  // the instrumenting middleware counted and timed it
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// RequestIDFrom returns the id of the request being served: the caller's
// X-Request-Id when it sent a usable one, a new UUID otherwise. The id is
// echoed in the response's X-Request-Id header and in the request log.
func RequestIDFrom(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

// recordError notes err for the request log. The full text of an internal
// error goes to the log only, never to the caller.
func recordError(ctx context.Context, err error) {
	if info := infoFrom(ctx); info != nil {
		info.code = errs.CodeOf(err)
		info.err = err
	}
}

// failureOf is the error an endpoint's outcome stands for: its error, or
// the business failure its response carries, or nil.
func failureOf(response any, err error) error {
	if err != nil {
		return err
	}
	if f, ok := response.(endpoint.Failer); ok {
		return f.Failed()
	}
	return nil
}

// logging is the endpoint middleware that notes an endpoint's outcome for
// the request log: the code of its failure, and for an internal error the
// error in full (never shown to the caller). The observer writes the line
// with what only the HTTP level knows (status, bytes).
func logging() endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			response, err := next(ctx, request)
			if f := failureOf(response, err); f != nil {
				recordError(ctx, f)
			}
			return response, err
		}
	}
}

// instrumenting is the endpoint middleware that counts an endpoint's
// requests by route, method and the status its outcome is answered with,
// and times them from their arrival, in the series of /metrics. The
// observer counts the requests that reach no endpoint (no route, the
// probes, a panic).
func instrumenting(m *metrics, pattern string) endpoint.Middleware {
	route := routeOf(pattern)
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			response, err := next(ctx, request)
			if info := infoFrom(ctx); info != nil {
				info.counted = true
				m.requests.WithLabelValues(route, info.method, strconv.Itoa(statusOfOutcome(response, err))).Inc()
				m.duration.WithLabelValues(route).Observe(time.Since(info.start).Seconds())
			}
			return response, err
		}
	}
}

// statusOfOutcome is the HTTP status an endpoint's outcome is answered
// with: that of its failure's code (encodeError), the one its response
// asks for (kithttp.StatusCoder), or 200.
func statusOfOutcome(response any, err error) int {
	if f := failureOf(response, err); f != nil {
		code := errs.CodeOf(f)
		if code == errs.Internal || statusOf(code) == http.StatusInternalServerError {
			return http.StatusInternalServerError
		}
		return statusOf(code)
	}
	if sc, ok := response.(kithttp.StatusCoder); ok {
		return sc.StatusCode()
	}
	return http.StatusOK
}

// metrics are the HTTP series of /metrics.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "allowances",
			Subsystem: "http",
			Name:      "requests_total",
			Help:      "HTTP requests served, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "allowances",
			Subsystem: "http",
			Name:      "request_duration_seconds",
			Help:      "Time to serve an HTTP request, by route pattern.",
			Buckets:   []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// its name, so that two handlers may share one registry.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	if err != nil {
		return c, fmt.Errorf("register HTTP metrics: %w", err)
	}
	return c, nil
}

// observer wraps the whole API at the HTTP level: it limits request
// bodies, gives each request an id, recovers panics into 500, counts and
// times the requests that reach no endpoint, and writes one log line per
// request with what the endpoint middlewares noted. It never logs headers
// or bodies.
type observer struct {
	logger  *slog.Logger
	metrics *metrics
	maxBody int64
	quiet   map[string]bool // routes logged at debug level when they succeed
}

func (o *observer) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Before w is wrapped: MaxBytesReader tells the server to close the
		// connection when the limit is hit, through the server's own writer.
		r.Body = http.MaxBytesReader(w, r.Body, o.maxBody)
		info := &requestInfo{id: requestID(r), start: start, method: methodLabel(r.Method)}
		w.Header().Set("X-Request-Id", info.id)
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))

		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				info.code = errs.Internal
				info.err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
				if !rec.wroteHeader {
					writeError(rec, info.err)
				} else {
					// Too late for a status: cut the response short so the
					// client sees it failed.
					defer panic(http.ErrAbortHandler)
				}
			}
			o.done(r, rec, info, time.Since(start))
		}()
		next.ServeHTTP(rec, r)
	})
}

// done logs a finished request, and counts and times it unless an
// endpoint's instrumenting middleware did. r.Pattern is the pattern the
// ServeMux matched, set on r as it routed it.
func (o *observer) done(r *http.Request, rec *recorder, info *requestInfo, took time.Duration) {
	route := routeOf(r.Pattern)
	if !info.counted {
		o.metrics.requests.WithLabelValues(route, info.method, strconv.Itoa(rec.status)).Inc()
		o.metrics.duration.WithLabelValues(route).Observe(took.Seconds())
	}

	level := slog.LevelInfo
	switch {
	case rec.status >= 500:
		level = slog.LevelError
	case o.quiet[route] && rec.status < 400:
		level = slog.LevelDebug
	}
	if !o.logger.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", rec.status),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
		slog.Int64("bytes", rec.bytes),
		slog.String("request_id", info.id),
	}
	if info.principal != "" {
		attrs = append(attrs, slog.String("principal", info.principal))
	}
	if info.code != "" {
		attrs = append(attrs, slog.String("error_code", string(info.code)))
	}
	if info.err != nil && rec.status >= 500 {
		attrs = append(attrs, slog.String("error", info.err.Error()))
	}
	o.logger.LogAttrs(r.Context(), level, "http request", attrs...)
}

// routeOf turns a ServeMux pattern ("GET /v1/accounts/{code}") into the
// route label ("/v1/accounts/{code}"); requests no route matched share one
// label, so that scanners cannot blow up the metrics' cardinality.
func routeOf(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		pattern = path
	}
	if pattern == "" || pattern == "/" {
		return "unmatched"
	}
	return pattern
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// requestID returns the caller's X-Request-Id when it is short and plain
// enough to log, and a new UUID otherwise.
func requestID(r *http.Request) string {
	id := r.Header.Get("X-Request-Id")
	if id != "" && len(id) <= 128 && !strings.ContainsFunc(id, func(c rune) bool {
		return c < '!' || c > '~' || c == '"' || c == '\\'
	}) {
		return id
	}
	return uuid.NewString()
}

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *recorder) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush lets streaming handlers flush through the recorder.
func (w *recorder) Flush() {
	w.wroteHeader = true
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

package bank

import (
	"context"
	"errors"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// The outcomes of one attempt in bank_requests_total.
const (
	outcomeOK           = "ok"            // the bank answered as asked
	outcomeRefused      = "refused"       // a business refusal (Refusal)
	outcomeFailed       = "failed"        // network error, timeout, 5xx, 429
	outcomeRejectedOpen = "rejected_open" // the breaker let nothing through
	outcomeCancelled    = "cancelled"     // the caller gave up first
)

// metrics are the gateway's Prometheus series.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	breakers *breakerCollector
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bank_requests_total",
			Help: "Attempts to call the bank, by endpoint and outcome (ok, refused, failed, rejected_open, cancelled).",
		}, []string{"endpoint", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bank_request_duration_seconds",
			Help:    "Duration of the attempts that reached the bank, by endpoint.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		breakers: &breakerCollector{desc: prometheus.NewDesc("bank_breaker_state",
			"State of the circuit breaker of each bank endpoint: 0 closed, 1 half-open, 2 open.",
			[]string{"endpoint"}, nil)},
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.breakers} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// instrumentMiddleware counts every attempt by outcome and times those the
// breaker let through.
func (m *metrics) instrumentMiddleware(name string) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			begin := time.Now()
			response, err := next(ctx, request)
			outcome := outcomeOf(err)
			m.requests.WithLabelValues(name, outcome).Inc()
			if outcome != outcomeRejectedOpen {
				m.duration.WithLabelValues(name).Observe(time.Since(begin).Seconds())
			}
			return response, err
		}
	}
}

func outcomeOf(err error) string {
	switch {
	case err == nil:
		return outcomeOK
	case isRefusal(err):
		return outcomeRefused
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return outcomeRejectedOpen
	case isAbandoned(err):
		return outcomeCancelled
	default:
		return outcomeFailed
	}
}

// breakerCollector reads the breakers' states when scraped, so that an open
// breaker whose timeout has passed shows as half-open without waiting for
// the next call.
type breakerCollector struct {
	desc     *prometheus.Desc
	breakers []namedBreaker
}

type namedBreaker struct {
	endpoint string
	cb       *gobreaker.CircuitBreaker[any]
}

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, b := range c.breakers {
		// gobreaker numbers its states 0 closed, 1 half-open, 2 open.
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(b.cb.State()), b.endpoint)
	}
}

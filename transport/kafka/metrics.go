package kafka

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofii/allowances/payments"
)

// metrics are the consumer's Prometheus series.
type metrics struct {
	events  *prometheus.CounterVec // type, outcome
	lag     *prometheus.GaugeVec   // partition
	offset  *prometheus.GaugeVec   // partition
	apply   prometheus.Histogram
	retries prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eligibility_events_total",
			Help: "Eligibility records consumed, by event type and outcome (applied, duplicate, dead_letter).",
		}, []string{"type", "outcome"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eligibility_consumer_lag",
			Help: "Records of the partition after the last one applied, as of its fetch.",
		}, []string{"partition"}),
		offset: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eligibility_last_applied_offset",
			Help: "Offset of the last record of the partition applied.",
		}, []string{"partition"}),
		apply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eligibility_apply_seconds",
			Help:    "Time of one call applying a batch (or one record) of eligibility events.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eligibility_apply_retries_total",
			Help: "Failed attempts to apply a batch or a record, each followed by another attempt.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.events, m.lag, m.offset, m.apply, m.retries} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("the eligibility consumer's metrics are already registered: one consumer per registry")
			}
			return nil, err
		}
	}
	return m, nil
}

// typeLabel bounds the type label to the known types: the type of an
// invalid record comes from outside and could be anything.
func typeLabel(t payments.EventType) string {
	for _, k := range payments.EventTypes {
		if t == k {
			return string(t)
		}
	}
	return "unknown"
}

func partitionLabel(p int) string { return strconv.Itoa(p) }

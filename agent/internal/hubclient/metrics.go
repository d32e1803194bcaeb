package hubclient

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Send results, the values of the result label of centralhub_agent_reports_sent_total.
const (
	resultOK       = "ok"       // the hub accepted the report (2xx)
	resultRejected = "rejected" // the hub refused this report for good (400, 403, 413): not retried
	resultError    = "error"    // network error, 401, 429, 5xx or anything else: retried
)

// Metrics are the sender's Prometheus metrics.
type Metrics struct {
	sent     *prometheus.CounterVec
	duration prometheus.Histogram
	queueLen prometheus.Gauge
	dropped  prometheus.Counter
}

// NewMetrics registers the sender's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		sent: f.NewCounterVec(prometheus.CounterOpts{
			Name: "centralhub_agent_reports_sent_total",
			Help: "Attempts to send a report to a hub, by result: ok, rejected (400/403/413, not retried) or error (retried).",
		}, []string{"result"}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "centralhub_agent_report_send_duration_seconds",
			Help:    "Duration of report send attempts, including failed ones.",
			Buckets: prometheus.DefBuckets,
		}),
		queueLen: f.NewGauge(prometheus.GaugeOpts{
			Name: "centralhub_agent_report_queue_length",
			Help: "Reports waiting to be sent.",
		}),
		dropped: f.NewCounter(prometheus.CounterOpts{
			Name: "centralhub_agent_reports_dropped_total",
			Help: "Reports dropped unsent because the queue was full (the oldest go first; the newest is always kept).",
		}),
	}
	for _, r := range []string{resultOK, resultRejected, resultError} {
		m.sent.WithLabelValues(r)
	}
	return m
}

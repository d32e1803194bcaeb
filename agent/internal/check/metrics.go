package check

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/centralhub/centralhub/pkg/status"
)

// Metrics are the runner's Prometheus metrics.
type Metrics struct {
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	status   *prometheus.GaugeVec
}

// NewMetrics registers the runner's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		runs: f.NewCounterVec(prometheus.CounterOpts{
			Name: "centralhub_agent_check_runs_total",
			Help: "Check runs (and TTL updates and expiries) by check and raw result, before flap damping.",
		}, []string{"check", "result"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "centralhub_agent_check_duration_seconds",
			Help:    "Duration of check runs by check.",
			Buckets: prometheus.DefBuckets,
		}, []string{"check"}),
		status: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "centralhub_agent_check_status",
			Help: "Reported (damped) status of each check: 1 for the current status label, 0 for the others.",
		}, []string{"check", "status"}),
	}
}

var allStatuses = []status.Check{status.Passing, status.Warning, status.Critical, status.Unknown}

func (m *Metrics) setStatus(check string, s status.Check) {
	for _, st := range allStatuses {
		v := 0.0
		if st == s {
			v = 1
		}
		m.status.WithLabelValues(check, string(st)).Set(v)
	}
}

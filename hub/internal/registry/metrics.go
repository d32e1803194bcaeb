package registry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/centralhub/centralhub/pkg/status"
)

// Collector exposes the registry's size and statuses to Prometheus, computed at scrape time so
// that ingest pays nothing for them. It shows the tenants its Visibility allows; the store
// series, which are hub-wide, only when it sees every tenant.
type Collector struct {
	r          *Registry
	visible    Visibility
	hubWide    bool
	services   *prometheus.Desc
	instances  *prometheus.Desc
	byStatus   *prometheus.Desc
	svcStatus  *prometheus.Desc
	pending    *prometheus.Desc
	storeOK    *prometheus.Desc
	writeErrs  *prometheus.Desc
	flushCount *prometheus.Desc
	histQueue  *prometheus.Desc
	histDrop   *prometheus.Desc
}

// NewCollector returns a prometheus.Collector over the services of r that visible allows;
// hubWide adds the store series.
func NewCollector(r *Registry, visible Visibility, hubWide bool) *Collector {
	return &Collector{
		r:          r,
		visible:    visible,
		hubWide:    hubWide,
		services:   prometheus.NewDesc("centralhub_registry_services", "Services in the registry.", nil, nil),
		instances:  prometheus.NewDesc("centralhub_registry_instances", "Instances in the registry.", nil, nil),
		byStatus:   prometheus.NewDesc("centralhub_instances", "Instances by status.", []string{"status"}, nil),
		svcStatus:  prometheus.NewDesc("centralhub_service_status", "1 for the service's current status, 0 for the others.", []string{"tenant", "service", "status"}, nil),
		pending:    prometheus.NewDesc("centralhub_store_pending_writes", "Instances changed in memory and not yet written to the store.", nil, nil),
		storeOK:    prometheus.NewDesc("centralhub_store_up", "1 when the last store write succeeded.", nil, nil),
		writeErrs:  prometheus.NewDesc("centralhub_store_write_errors_total", "Failed store writes.", nil, nil),
		flushCount: prometheus.NewDesc("centralhub_store_writes_total", "Store write transactions committed.", nil, nil),
		histQueue:  prometheus.NewDesc("centralhub_history_queue_length", "History records waiting to be written.", []string{"kind"}, nil),
		histDrop:   prometheus.NewDesc("centralhub_history_dropped_total", "History records dropped because the queue was full while the store was unavailable.", []string{"kind"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.services, c.instances, c.byStatus, c.svcStatus, c.pending, c.storeOK, c.writeErrs, c.flushCount, c.histQueue, c.histDrop} {
		ch <- d
	}
}

var serviceWords = []status.Service{status.Healthy, status.Degraded, status.Unhealthy, status.ServiceUnknown}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counts := map[status.Check]int{status.Passing: 0, status.Warning: 0, status.Critical: 0, status.Unknown: 0}
	type svc struct {
		tenant, name string
		st           status.Service
	}
	n, pending := 0, 0
	c.r.mu.RLock()
	svcs := make([]svc, 0, len(c.r.services))
	for _, s := range c.r.services {
		if !c.visible(s.key.tenant) {
			continue
		}
		a := s.aggregate()
		for i, k := range a.instances {
			counts[checkWords[i]] += k
		}
		n += len(s.instances)
		svcs = append(svcs, svc{s.key.tenant, s.key.name, a.status})
	}
	pending = len(c.r.changes) + len(c.r.dirty) + int(c.r.pendingBeats.Load()) + int(c.r.inflight.Load())
	c.r.mu.RUnlock()

	ch <- prometheus.MustNewConstMetric(c.services, prometheus.GaugeValue, float64(len(svcs)))
	ch <- prometheus.MustNewConstMetric(c.instances, prometheus.GaugeValue, float64(n))
	for st, k := range counts {
		ch <- prometheus.MustNewConstMetric(c.byStatus, prometheus.GaugeValue, float64(k), string(st))
	}
	for _, s := range svcs {
		for _, w := range serviceWords {
			v := 0.0
			if s.st == w {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.svcStatus, prometheus.GaugeValue, v, s.tenant, s.name, string(w))
		}
	}
	if !c.hubWide {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(pending))
	ok := 0.0
	if !c.r.failing.Load() {
		ok = 1
	}
	ch <- prometheus.MustNewConstMetric(c.storeOK, prometheus.GaugeValue, ok)
	ch <- prometheus.MustNewConstMetric(c.writeErrs, prometheus.CounterValue, float64(c.r.writeErr.Load()))
	ch <- prometheus.MustNewConstMetric(c.flushCount, prometheus.CounterValue, float64(c.r.flushes.Load()))
	hs := c.r.HistoryStats()
	ch <- prometheus.MustNewConstMetric(c.histQueue, prometheus.GaugeValue, float64(hs.QueuedSamples), "sample")
	ch <- prometheus.MustNewConstMetric(c.histQueue, prometheus.GaugeValue, float64(hs.QueuedTransitions), "transition")
	ch <- prometheus.MustNewConstMetric(c.histDrop, prometheus.CounterValue, float64(hs.DroppedSamples), "sample")
	ch <- prometheus.MustNewConstMetric(c.histDrop, prometheus.CounterValue, float64(hs.DroppedTransitions), "transition")
}

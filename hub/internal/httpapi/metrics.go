package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/centralhub/centralhub/hub/internal/registry"
)

// metrics are the API's own Prometheus metrics, labelled by route template, never raw path.
type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	authFailures *prometheus.CounterVec
	reports      *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	ingestTime   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centralhub_http_requests_total", Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "centralhub_http_request_duration_seconds", Help: "HTTP request latency by route template.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centralhub_auth_failures_total", Help: "Requests refused by authentication (missing, invalid), authorization (forbidden) or for want of a client certificate on an agent route (client_cert).",
		}, []string{"reason"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centralhub_ingest_reports_total", Help: "Agent reports accepted, by outcome (stored, heartbeat, ignored, queued).",
		}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centralhub_ingest_rejected_total", Help: "Agent reports refused, by reason.",
		}, []string{"reason"}),
		ingestTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "centralhub_ingest_duration_seconds", Help: "Time to ingest one agent report, from body read to answer.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.authFailures, m.reports, m.rejected, m.ingestTime} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	// Every series with a known, finite label set exists from the start, at zero, so that
	// rate() and the alerting rules over them work before the first event.
	for _, r := range rejectReasons {
		m.rejected.WithLabelValues(r)
	}
	for _, o := range []registry.Outcome{registry.Stored, registry.Heartbeat, registry.Ignored, registry.Queued} {
		m.reports.WithLabelValues(o.String())
	}
	for _, r := range authFailureReasons {
		m.authFailures.WithLabelValues(r)
	}
	return m, nil
}

// The reasons of centralhub_ingest_rejected_total.
const (
	rejectTooLarge    = "too_large"
	rejectMalformed   = "malformed"
	rejectInvalid     = "invalid"
	rejectVersion     = "version"
	rejectForbidden   = "forbidden"
	rejectRateLimited = "rate_limited"
	rejectUnavailable = "unavailable"
	rejectCancelled   = "cancelled"
)

// statusClientClosed is the conventional status for a request its client abandoned.
const statusClientClosed = 499

// authFailureReasons are the reasons of centralhub_auth_failures_total: no token, a token that
// does not verify, a valid token whose role or scope does not allow the request, and an agent
// route called without a verified client certificate where one is required.
var authFailureReasons = []string{"missing", "invalid", "forbidden", "client_cert"}

var rejectReasons = []string{rejectTooLarge, rejectMalformed, rejectInvalid, rejectVersion, rejectForbidden, rejectRateLimited, rejectUnavailable, rejectCancelled}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush lets streaming handlers flush through the recorder.
func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts and times every matched route by its template.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := "unmatched"
		if cr := mux.CurrentRoute(r); cr != nil {
			if t, err := cr.GetPathTemplate(); err == nil {
				route = t
			}
		}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r)
		s.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		s.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.code)).Inc()
	})
}

package httpapi

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/mux"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/duration"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// History is what the history route needs of the store.
type History interface {
	QueryHistory(ctx context.Context, q hub.HistoryQuery) (hub.History, error)
	Availability(ctx context.Context, q hub.HistoryQuery, hourly bool) (hub.Availability, error)
}

// maxPoints bounds the latency points of one history answer, all checks together.
const maxPoints = 2000

// maxTransitions bounds the transitions of one history answer (the newest are kept).
const maxTransitions = 1000

// maxSpan bounds a history query's range.
const maxSpan = 400 * 24 * time.Hour

// steps are the latency bucket widths a history answer may use, finest first; from one hour
// on they are served from the hourly roll-ups.
var steps = []time.Duration{
	10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// rawSpan is the longest range served from raw samples; longer ones read the hourly roll-ups
// only, so a week never scans raw rows.
const rawSpan = 24 * time.Hour

// pickStep is the finest step, no finer than the sample interval, that keeps span's points
// of series checks within maxPoints; whole hours at least for a span longer than rawSpan.
func pickStep(span time.Duration, series int, interval time.Duration) time.Duration {
	series = max(series, 1)
	for _, st := range steps {
		if st < interval || (span > rawSpan && st < time.Hour) {
			continue
		}
		if int64(math.Ceil(float64(span)/float64(st)))*int64(series) <= maxPoints {
			return st
		}
	}
	return steps[len(steps)-1]
}

type latencySeries struct {
	Check  string         `json:"check"`
	Points []latencyPoint `json:"points"`
}

type latencyPoint struct {
	At      time.Time `json:"at"`
	AvgMS   float64   `json:"avg_ms"`
	MaxMS   float64   `json:"max_ms"`
	Samples int64     `json:"samples"`
}

type historyAnswer struct {
	Tenant               string                 `json:"tenant"`
	Service              string                 `json:"service"`
	Instance             string                 `json:"instance,omitempty"`
	Since                time.Time              `json:"since"`
	Until                time.Time              `json:"until"`
	Step                 string                 `json:"step"`
	Source               string                 `json:"source"` // raw or hourly
	Transitions          []hub.TransitionRecord `json:"transitions"`
	TransitionsTruncated bool                   `json:"transitions_truncated"`
	Latency              []latencySeries        `json:"latency"`
	Uptime               map[string]*float64    `json:"uptime"`
}

// parseSince reads ?since=: an RFC 3339 time, or a duration back from now (90m, 7d).
func parseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := duration.Parse(v)
	if err != nil || d <= 0 {
		return time.Time{}, badRequest("query since: %q is neither an RFC 3339 time nor a duration such as 1h or 7d", v)
	}
	return now.Add(-d), nil
}

// serviceHistory answers GET /api/v1/dashboard/services/{service}/history: the service's (or
// with ?instance= one instance's) status transitions and latency points since ?since= (default
// 1h) until ?until= (default now), and its uptime over the last hour, day and week.
func (s *Server) serviceHistory(w http.ResponseWriter, r *http.Request) error {
	tenant, err := namedTenant(r)
	if err != nil {
		return err
	}
	svc := mux.Vars(r)["service"]
	if err := protocol.ValidName(svc); err != nil {
		return badRequest("service: %v", err)
	}
	qv := r.URL.Query()
	inst := qv.Get("instance")
	if inst != "" {
		if err := protocol.ValidName(inst); err != nil {
			return badRequest("query instance: %v", err)
		}
	}
	now := s.cfg.Keys.Now().UTC()
	since, until := now.Add(-time.Hour), now
	if v := qv.Get("since"); v != "" {
		if since, err = parseSince(v, now); err != nil {
			return err
		}
	}
	if v := qv.Get("until"); v != "" {
		if until, err = time.Parse(time.RFC3339, v); err != nil {
			return badRequest("query until: %q is not an RFC 3339 time", v)
		}
	}
	since, until = since.UTC(), until.UTC()
	switch {
	case !since.Before(until):
		return badRequest("query since: must be before until (%s)", until.Format(time.RFC3339))
	case until.Sub(since) > maxSpan:
		return badRequest("query since: the range may span at most %d days", int(maxSpan.Hours()/24))
	}
	checks, known := s.cfg.Registry.ServiceChecks(tenant, svc)
	step := pickStep(until.Sub(since), checks, s.cfg.HistoryInterval)
	// The store's range excludes its end; until is included (PostgreSQL keeps microseconds).
	q := hub.HistoryQuery{Tenant: tenant, Service: svc, Instance: inst, Since: since, Until: until.Add(time.Microsecond), Step: step, Limit: maxTransitions}
	h, err := s.cfg.History.QueryHistory(r.Context(), q)
	// The checks now registered may be fewer than those the range saw: coarser until it fits.
	for i := slices.Index(steps, q.Step); err == nil && len(h.Latency) > maxPoints && i >= 0 && i+1 < len(steps); i++ {
		q.Step = steps[i+1]
		h, err = s.cfg.History.QueryHistory(r.Context(), q)
	}
	if err != nil {
		return s.historyUnavailable(r, err)
	}
	step = q.Step
	if !known && len(h.Latency) == 0 && len(h.Transitions) == 0 {
		return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no service %q in tenant %q, and no history of one in that range", svc, tenant)}
	}
	ans := historyAnswer{
		Tenant: tenant, Service: svc, Instance: inst, Since: since, Until: until, Step: step.String(), Source: "raw",
		Transitions: h.Transitions, TransitionsTruncated: h.Truncated, Latency: []latencySeries{}, Uptime: map[string]*float64{},
	}
	if q.Hourly() {
		ans.Source = "hourly"
	}
	for _, p := range h.Latency {
		if n := len(ans.Latency); n == 0 || ans.Latency[n-1].Check != p.Check {
			ans.Latency = append(ans.Latency, latencySeries{Check: p.Check})
		}
		cur := &ans.Latency[len(ans.Latency)-1]
		cur.Points = append(cur.Points, latencyPoint{At: p.At, AvgMS: round3(p.AvgMS), MaxMS: round3(p.MaxMS), Samples: p.Samples})
	}
	for _, win := range []struct {
		name   string
		span   time.Duration
		hourly bool
	}{{"1h", time.Hour, false}, {"24h", 24 * time.Hour, true}, {"7d", 7 * 24 * time.Hour, true}} {
		// The hourly windows end with the current hour and start with the hour
		// holding now-span: the hour before is left out, so the window is at most span.
		from := now.Add(-win.span)
		if win.hourly {
			from = from.Truncate(time.Hour).Add(time.Hour)
		}
		a, err := s.cfg.History.Availability(r.Context(), hub.HistoryQuery{Tenant: tenant, Service: svc, Instance: inst, Since: from, Until: now.Add(time.Nanosecond)}, win.hourly)
		if err != nil {
			return s.historyUnavailable(r, err)
		}
		var pct *float64
		if a.Samples > 0 {
			v := round3(100 * float64(a.Up) / float64(a.Samples))
			pct = &v
		}
		ans.Uptime[win.name] = pct
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// historyUnavailable answers a history read the store could not serve.
func (s *Server) historyUnavailable(r *http.Request, err error) error {
	if r.Context().Err() != nil {
		return &Error{Status: statusClientClosed, Message: "request cancelled by the client"}
	}
	s.log.Error("history query failed", "path", r.URL.Path, "err", err)
	return &Error{Status: http.StatusServiceUnavailable, Message: "history unavailable: the store did not answer; retry", RetryAfter: 5 * time.Second}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

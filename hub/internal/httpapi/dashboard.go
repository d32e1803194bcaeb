package httpapi

import (
	"net/http"
	"time"

	"github.com/centralhub/centralhub/hub/internal/perfstats"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// maxPage is the largest ?limit= the list routes take.
const maxPage = 10_000

func visibility(r *http.Request) (registry.Visibility, string) {
	c := claimsFrom(r.Context())
	return c.SeesTenant, c.Tenant
}

// namedTenant is the tenant a route that names a service or component is about: the token's
// own, or for a token of every tenant ?tenant= (default "default"). A tenant's token naming
// another tenant is refused.
func namedTenant(r *http.Request) (string, error) {
	c := claimsFrom(r.Context())
	q := r.URL.Query().Get("tenant")
	if q != "" {
		if err := protocol.ValidName(q); err != nil {
			return "", badRequest("query tenant: %v", err)
		}
		if !c.SeesTenant(q) {
			return "", forbidden("token is for tenant %q", c.Tenant)
		}
	}
	if c.Tenant != auth.AllTenants {
		return c.Tenant, nil
	}
	if q == "" {
		return protocol.DefaultTenant, nil
	}
	return q, nil
}

func (s *Server) dashboardHealth(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 0, maxPage)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 1<<30)
	if err != nil {
		return err
	}
	visible, _ := visibility(r)
	svc := r.URL.Query().Get("service")
	if svc != "" {
		if err := protocol.ValidName(svc); err != nil {
			return badRequest("query service: %v", err)
		}
	}
	if svc != "" || r.URL.Query().Has("tenant") {
		tenant, err := namedTenant(r)
		if err != nil {
			return err
		}
		visible = func(t string) bool { return t == tenant }
	}
	writeJSON(w, http.StatusOK, s.cfg.Registry.Health(registry.HealthQuery{
		Visible: visible, Service: svc, Limit: limit, Offset: offset,
	}))
	return nil
}

// dashboardSummary is the registry's summary with the alert counts of the token's tenants.
func (s *Server) dashboardSummary(w http.ResponseWriter, r *http.Request) error {
	visible, scope := visibility(r)
	if r.URL.Query().Has("tenant") { // a token of every tenant narrowed to one, as on dashboard/health
		tenant, err := namedTenant(r)
		if err != nil {
			return err
		}
		visible, scope = func(t string) bool { return t == tenant }, tenant
	}
	sum := s.cfg.Registry.Summary(scope, visible) // a copy; the registry leaves its alerts zero
	sum.Alerts.Firing, sum.Alerts.Acknowledged = s.cfg.Alerts.Counts(visible)
	writeJSON(w, http.StatusOK, sum)
	return nil
}

// hubMetrics is the dashboard's view of the hub's own performance. Ingest and store figures
// are hub-wide, so only tokens of every tenant get them.
type hubMetrics struct {
	UptimeSeconds float64              `json:"uptime_seconds"`
	Registry      registry.Counts      `json:"registry"`
	Ingest        *perfstats.Snapshot  `json:"ingest,omitempty"`
	Store         *registry.StoreStats `json:"store,omitempty"`
}

func (s *Server) dashboardMetrics(w http.ResponseWriter, r *http.Request) error {
	visible, scope := visibility(r)
	m := hubMetrics{UptimeSeconds: time.Since(s.started).Seconds(), Registry: s.cfg.Registry.Counts(visible)}
	if scope == auth.AllTenants {
		ingest, store := s.ingest.Snapshot(), s.cfg.Registry.StoreStats()
		m.Ingest, m.Store = &ingest, &store
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

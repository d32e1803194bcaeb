package httpapi

import (
	"net/http"
	"time"

	"github.com/centralhub/centralhub/hub/internal/perfstats"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// maxPage is the largest ?limit= the list routes take.
const maxPage = 10_000

func visibility(r *http.Request) (registry.Visibility, string) {
	c := claimsFrom(r.Context())
	return c.SeesTenant, c.Tenant
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
	svc := r.URL.Query().Get("service")
	if svc != "" {
		if err := protocol.ValidName(svc); err != nil {
			return badRequest("query service: %v", err)
		}
	}
	visible, _ := visibility(r)
	writeJSON(w, http.StatusOK, s.cfg.Registry.Health(registry.HealthQuery{
		Visible: visible, Service: svc, Limit: limit, Offset: offset,
	}))
	return nil
}

func (s *Server) dashboardSummary(w http.ResponseWriter, r *http.Request) error {
	visible, scope := visibility(r)
	writeJSON(w, http.StatusOK, s.cfg.Registry.Summary(scope, visible))
	return nil
}

// hubMetrics is the dashboard's view of the hub's own performance.
type hubMetrics struct {
	UptimeSeconds float64            `json:"uptime_seconds"`
	Ingest        perfstats.Snapshot `json:"ingest"`
	Registry      registry.Stats     `json:"registry"`
}

func (s *Server) dashboardMetrics(w http.ResponseWriter, r *http.Request) error {
	st := s.cfg.Registry.Stats()
	if claimsFrom(r.Context()).Tenant != "*" {
		// The store's error text names paths and hosts: admins of all tenants only.
		st.StoreLastError = ""
	}
	writeJSON(w, http.StatusOK, hubMetrics{
		UptimeSeconds: time.Since(s.started).Seconds(),
		Ingest:        s.ingest.Snapshot(),
		Registry:      st,
	})
	return nil
}

package httpapi

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/centralhub/centralhub/hub/internal/graph"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// graphFor is the dependency graph the request may see: its token's tenants, narrowed to one
// by ?tenant= (see namedTenant).
func (s *Server) graphFor(r *http.Request) (*graph.Graph, error) {
	visible, scope := visibility(r)
	if r.URL.Query().Has("tenant") {
		tenant, err := namedTenant(r)
		if err != nil {
			return nil, err
		}
		visible, scope = func(t string) bool { return t == tenant }, "tenant:"+tenant
	}
	return s.cfg.Registry.Graph(scope, registry.Visibility(visible)), nil
}

func (s *Server) dependencies(w http.ResponseWriter, r *http.Request) error {
	format := cmp.Or(r.URL.Query().Get("format"), "json")
	if format != "json" && format != "dot" && format != "svg" {
		return badRequest("query format: %q is not json, dot or svg", format)
	}
	g, err := s.graphFor(r)
	if err != nil {
		return err
	}
	switch format {
	case "dot":
		w.Header().Set("Content-Type", "text/vnd.graphviz; charset=utf-8")
		_, err := w.Write([]byte(g.DOT()))
		return err
	case "svg":
		w.Header().Set("Content-Type", "image/svg+xml")
		// The picture is data: nothing in it may run, even opened on its own.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		_, err := w.Write([]byte(g.SVG()))
		return err
	}
	writeJSON(w, http.StatusOK, g)
	return nil
}

type serviceDependencies struct {
	Service        graph.Node       `json:"service"`
	Requires       []graph.Node     `json:"requires"`
	RequiredBy     []graph.Node     `json:"required_by"`
	Impact         []graph.Affected `json:"impact"`
	ProbableCauses []string         `json:"probable_causes"`
}

func (s *Server) serviceDependencies(w http.ResponseWriter, r *http.Request) error {
	name := mux.Vars(r)["service"]
	if err := protocol.ValidName(name); err != nil {
		return badRequest("service: %v", err)
	}
	tenant, err := namedTenant(r)
	if err != nil {
		return err
	}
	g := s.cfg.Registry.Graph("tenant:"+tenant, func(t string) bool { return t == tenant })
	id := graph.ID(tenant, name)
	n, ok := g.Lookup(id)
	if !ok || n.Kind != graph.KindService || !n.Reported {
		return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no service %q in tenant %q", name, tenant)}
	}
	writeJSON(w, http.StatusOK, serviceDependencies{
		Service: n, Requires: g.Needs(id), RequiredBy: g.NeededBy(id),
		Impact: orEmpty(g.Impact(id)), ProbableCauses: orEmpty(g.Causes(id)),
	})
	return nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Impact levels, most severe first.
const (
	levelCritical = "critical" // a critical component down, or half the tenant's services affected
	levelHigh     = "high"     // down (unhealthy or critical) and needed by some service, or 3+ affected
	levelMedium   = "medium"   // some service affected
	levelLow      = "low"      // nothing depends on it
)

var levelRank = map[string]int{levelCritical: 0, levelHigh: 1, levelMedium: 2, levelLow: 3}

type affectedService struct {
	graph.Affected
	Reason string `json:"reason"`
}

type failure struct {
	Node          string            `json:"node"`
	Tenant        string            `json:"tenant"`
	Name          string            `json:"name"`
	Kind          graph.Kind        `json:"kind"`
	Status        string            `json:"status"`
	Critical      bool              `json:"critical"`
	Level         string            `json:"level"`
	Runbook       string            `json:"runbook"`
	ProbableCause bool              `json:"probable_cause"`
	ImpactedBy    []string          `json:"impacted_by"`
	Affected      []affectedService `json:"affected"`
}

type impactAnalysis struct {
	Failures []failure `json:"failures"`
	Count    int       `json:"count"`
}

// impactAnalysis lists every unhealthy node with its impact level, the services it affects and
// why, and its runbook: causes before what they impact, then by level.
func (s *Server) impactAnalysis(w http.ResponseWriter, r *http.Request) error {
	g, err := s.graphFor(r)
	if err != nil {
		return err
	}
	services := map[string]int{} // reported services per tenant
	for _, n := range g.Nodes {
		if n.Kind == graph.KindService && n.Reported {
			services[n.Tenant]++
		}
	}
	out := impactAnalysis{Failures: []failure{}}
	for _, n := range g.Nodes {
		if !n.Unhealthy {
			continue
		}
		f := failure{Node: n.ID, Tenant: n.Tenant, Name: n.Name, Kind: n.Kind, Status: n.Status, Critical: n.Critical,
			Runbook: n.Runbook, ProbableCause: n.ProbableCause, ImpactedBy: n.ImpactedBy, Affected: []affectedService{}}
		for _, a := range g.Impact(n.ID) {
			f.Affected = append(f.Affected, affectedService{Affected: a, Reason: reason(a, n)})
		}
		f.Level = level(n, len(f.Affected), services[n.Tenant])
		out.Failures = append(out.Failures, f)
	}
	slices.SortStableFunc(out.Failures, func(a, b failure) int {
		if a.ProbableCause != b.ProbableCause {
			if a.ProbableCause {
				return -1
			}
			return 1
		}
		return cmp.Compare(levelRank[a.Level], levelRank[b.Level])
	})
	out.Count = len(out.Failures)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func level(n graph.Node, affected, services int) string {
	down := n.Status == "unhealthy" || n.Status == "critical"
	switch {
	case n.Critical && n.Status == "critical", affected >= 2 && 2*affected >= services:
		return levelCritical
	case down && affected > 0, affected >= 3:
		return levelHigh
	case affected > 0:
		return levelMedium
	}
	return levelLow
}

func reason(a graph.Affected, n graph.Node) string {
	via := a.Via[strings.IndexByte(a.Via, '/')+1:]
	if a.Depth == 1 {
		return fmt.Sprintf("needs %s (%s)", n.Name, n.Status)
	}
	if a.Depth == 2 {
		return fmt.Sprintf("needs %s, which needs %s (%s)", via, n.Name, n.Status)
	}
	return fmt.Sprintf("needs %s, which depends on %s (%s) through %d more", via, n.Name, n.Status, a.Depth-2)
}

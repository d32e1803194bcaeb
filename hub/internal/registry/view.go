package registry

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/graph"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// Visibility decides which tenants a caller may see; the HTTP layer builds it from the token.
type Visibility func(tenant string) bool

// HeartbeatCheck is the name of the check the hub adds to a stale instance's checks; a ':'
// keeps it apart from every agent check name.
const HeartbeatCheck = "hub:heartbeat"

// GossipCheck is the check the hub adds to an instance whose agent gossip holds failed, with
// UnreachableOutput as its output.
const GossipCheck = "hub:gossip"

// UnreachableOutput is the output of GossipCheck.
const UnreachableOutput = "agent unreachable (gossip)"

// CheckView is one check as the dashboard shows it.
type CheckView struct {
	Name      string       `json:"name"`
	Kind      string       `json:"kind"`
	Status    status.Check `json:"status"`
	Output    string       `json:"output"`
	LatencyMS float64      `json:"latency_ms"`
	Component string       `json:"component"`
}

// ConfigView is an instance's config state as the dashboard shows it.
type ConfigView struct {
	Status   string                   `json:"status"`
	Version  string                   `json:"version"`
	Problems []protocol.ConfigProblem `json:"problems"`
}

// InstanceView is one instance as the dashboard shows it.
type InstanceView struct {
	Instance string       `json:"instance"`
	Status   status.Check `json:"status"`
	Address  string       `json:"address"`
	LastSeen time.Time    `json:"last_seen"`
	Config   ConfigView   `json:"config"`
	Checks   []CheckView  `json:"checks"`
}

// ServiceView is one service with its instances.
type ServiceView struct {
	Tenant      string         `json:"tenant"`
	Name        string         `json:"name"`
	Status      status.Service `json:"status"`
	Maintenance bool           `json:"maintenance"`
	Instances   []InstanceView `json:"instances"`
}

// ComponentView is one infrastructure component, as the checks that probe it see it. Its Meta
// is the union of its probes' component_meta across every service that probes it; where probes
// disagree on a key, the lexically smallest value wins, so the union does not depend on the
// order reports came in. Meta is shared with the registry's caches: read it, never write it.
type ComponentView struct {
	Tenant   string            `json:"tenant"`
	Name     string            `json:"name"`
	Kind     string            `json:"kind"`
	Status   status.Check      `json:"status"`
	Critical bool              `json:"critical"`
	Meta     map[string]string `json:"meta"`
}

// Health is the dashboard's health route: overall status, services, components.
type Health struct {
	Status     status.Service  `json:"status"`
	Total      int             `json:"total"` // services matching before limit/offset
	Services   []ServiceView   `json:"services"`
	Components []ComponentView `json:"components"`
}

// HealthQuery selects what Health returns.
type HealthQuery struct {
	Visible Visibility
	Service string // only this service (in every visible tenant) when set
	Limit   int    // 0 means all
	Offset  int
}

// Health returns the services visible to q, sorted by tenant and name, with the overall status
// and components over everything visible (not only the page).
func (r *Registry) Health(q HealthQuery) Health {
	now := r.cfg.Now()
	r.mu.RLock()
	svcs := r.visibleServices(q.Visible)
	st, comps := overall(svcs)
	out := Health{Status: st, Components: comps, Services: []ServiceView{}}
	var page []*service
	for _, s := range svcs {
		if q.Service == "" || s.key.name == q.Service {
			page = append(page, s)
		}
	}
	out.Total = len(page)
	page = paginate(page, q.Limit, q.Offset)
	for _, s := range page {
		v := serviceView(s, now)
		v.Maintenance = r.inMaintenance(v.Tenant, v.Name)
		out.Services = append(out.Services, v)
	}
	r.mu.RUnlock()
	return out
}

func paginate[T any](items []T, limit, offset int) []T {
	if offset >= len(items) {
		return nil
	}
	items = items[offset:]
	if limit > 0 && limit < len(items) {
		items = items[:limit]
	}
	return items
}

// visibleServices returns the visible services sorted by tenant and name; r.mu is held.
func (r *Registry) visibleServices(visible Visibility) []*service {
	out := make([]*service, 0, len(r.services))
	for _, s := range r.services {
		if visible(s.key.tenant) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *service) int {
		return cmp.Or(cmp.Compare(a.key.tenant, b.key.tenant), cmp.Compare(a.key.name, b.key.name))
	})
	return out
}

// serviceAgg is what views need of one service as a whole, derived from its instances.
type serviceAgg struct {
	status    status.Service
	instances [4]int // by status: passing, warning, critical, unknown
	comps     []ComponentView
	why       string
}

var checkWords = [4]status.Check{status.Passing, status.Warning, status.Critical, status.Unknown}

// aggregate returns s's aggregate, computing it when a change dropped it; r.mu is held.
func (s *service) aggregate() *serviceAgg {
	if a := s.agg.Load(); a != nil {
		return a
	}
	a := &serviceAgg{}
	sts := make([]status.Check, 0, len(s.instances))
	for _, e := range s.instances {
		sts = append(sts, e.status)
		a.instances[e.status.Code()]++
	}
	a.status = status.ServiceOf(sts)
	a.comps = componentsOf(s)
	if a.status != status.Healthy {
		a.why = why(s)
	}
	s.agg.Store(a)
	return a
}

func (s *service) status() status.Service { return s.aggregate().status }

func (s *service) sortedInstances() []*entry {
	out := make([]*entry, 0, len(s.instances))
	for _, e := range s.instances {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *entry) int { return cmp.Compare(a.in.Key.Instance, b.in.Key.Instance) })
	return out
}

func serviceView(s *service, now time.Time) ServiceView {
	v := ServiceView{Tenant: s.key.tenant, Name: s.key.name, Status: s.status(), Instances: []InstanceView{}}
	for _, e := range s.sortedInstances() {
		v.Instances = append(v.Instances, instanceView(e, now))
	}
	return v
}

func instanceView(e *entry, now time.Time) InstanceView {
	in := &e.in
	v := InstanceView{
		Instance: in.Key.Instance, Status: e.status, Address: in.Address, LastSeen: in.LastSeen,
		Config: ConfigView{Status: cmp.Or(in.Config.Status, protocol.ConfigNone), Version: in.Config.Version,
			Problems: in.Config.Problems},
		Checks: make([]CheckView, 0, len(in.Checks)+1),
	}
	if v.Config.Problems == nil {
		v.Config.Problems = []protocol.ConfigProblem{}
	}
	if in.Stale {
		v.Checks = append(v.Checks, CheckView{Name: HeartbeatCheck, Kind: "heartbeat", Status: status.Critical,
			Output: fmt.Sprintf("no report for %d s", int(now.Sub(in.LastSeen).Seconds()))})
	}
	if in.Unreachable {
		v.Checks = append(v.Checks, CheckView{Name: GossipCheck, Kind: "gossip", Status: status.Critical,
			Output: UnreachableOutput})
	}
	for _, c := range in.Checks {
		v.Checks = append(v.Checks, CheckView{Name: c.Name, Kind: c.Kind, Status: c.Status, Output: c.Output,
			LatencyMS: c.LatencyMS, Component: c.Component})
	}
	return v
}

// componentsOf derives the components probed by the checks of s's instances: each takes the
// worst status its probes report, is critical when any probe says so and carries the union of
// their component_meta; r.mu is held.
func componentsOf(s *service) []ComponentView {
	var out []ComponentView
	for _, e := range s.instances {
		for _, c := range e.in.Checks {
			if c.Component == "" {
				continue
			}
			st := c.Status
			if e.in.Stale || e.in.Unreachable {
				st = status.Unknown // a silent agent says nothing about what it probed
			}
			i := slices.IndexFunc(out, func(cv ComponentView) bool { return cv.Name == c.Component })
			if i < 0 {
				out = append(out, ComponentView{Tenant: s.key.tenant, Name: c.Component, Kind: c.Kind, Status: st, Critical: c.Critical,
					Meta: c.ComponentMeta})
				continue
			}
			out[i].Status = status.Worst(out[i].Status, st)
			out[i].Critical = out[i].Critical || c.Critical
			out[i].Meta = mergeMeta(out[i].Meta, c.ComponentMeta)
		}
	}
	return out
}

// overall merges the services' components (each takes the worst status any service's probes
// see) and rolls everything into the overall status; r.mu is held.
func overall(svcs []*service) (status.Service, []ComponentView) {
	type ckey struct{ tenant, name string }
	byKey := map[ckey]*ComponentView{}
	sts := make([]status.Service, len(svcs))
	for i, s := range svcs {
		a := s.aggregate()
		sts[i] = a.status
		for _, c := range a.comps {
			k := ckey{c.Tenant, c.Name}
			if cv := byKey[k]; cv != nil {
				cv.Status = status.Worst(cv.Status, c.Status)
				cv.Critical = cv.Critical || c.Critical
				cv.Meta = mergeMeta(cv.Meta, c.Meta)
			} else {
				byKey[k] = &c
			}
		}
	}
	comps := make([]ComponentView, 0, len(byKey))
	cs := make([]status.Component, 0, len(byKey))
	for _, cv := range byKey {
		if cv.Meta == nil {
			cv.Meta = map[string]string{} // "meta": {}, never null
		}
		comps = append(comps, *cv)
		cs = append(cs, status.Component{Status: cv.Status, Critical: cv.Critical})
	}
	slices.SortFunc(comps, func(a, b ComponentView) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Name, b.Name))
	})
	return status.Overall(sts, cs), comps
}

// mergeMeta returns the union of dst and src where a key in both keeps the lexically smaller
// value. It never writes either map: when src adds or lowers a value, the union is a new map.
func mergeMeta(dst, src map[string]string) map[string]string {
	var out map[string]string
	for k, v := range src {
		if old, ok := dst[k]; ok && old <= v {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(dst)+len(src))
			maps.Copy(out, dst)
		}
		out[k] = v
	}
	if out == nil {
		return dst
	}
	return out
}

// Offender is one of the worst services in a Summary, with why.
type Offender struct {
	Tenant string         `json:"tenant"`
	Name   string         `json:"name"`
	Status status.Service `json:"status"`
	Why    string         `json:"why"`
}

// AlertCounts counts alerts for a Summary.
type AlertCounts struct {
	Firing       int `json:"firing"`
	Acknowledged int `json:"acknowledged"`
}

// Summary is the dashboard's summary route.
type Summary struct {
	Status    status.Service `json:"status"`
	Services  map[string]int `json:"services"`
	Instances map[string]int `json:"instances"`
	Alerts    AlertCounts    `json:"alerts"`
	Worst     []Offender     `json:"worst"`
}

// MaxWorst is how many offenders a Summary lists.
const MaxWorst = 10

type cachedSummary struct {
	gen uint64
	sum Summary
}

// Summary returns counts by status and the worst offenders among the services visible to the
// tenant filter named by scope (the token's tenant claim), which must agree with visible. It is
// recomputed only when some status changed since the last call with the same scope.
func (r *Registry) Summary(scope string, visible Visibility) Summary {
	gen := r.gen.Load()
	if c, ok := r.summaries.Load(scope); ok && c.(*cachedSummary).gen == gen {
		return c.(*cachedSummary).sum
	}
	r.mu.RLock()
	gen = r.gen.Load() // changes need r.mu, so this gen matches what is read below
	svcs := r.visibleServices(visible)
	st, _ := overall(svcs)
	sum := Summary{
		Status:    st,
		Services:  map[string]int{string(status.Healthy): 0, string(status.Degraded): 0, string(status.Unhealthy): 0, string(status.ServiceUnknown): 0},
		Instances: map[string]int{string(status.Passing): 0, string(status.Warning): 0, string(status.Critical): 0, string(status.Unknown): 0},
		Worst:     []Offender{},
	}
	for _, s := range svcs {
		a := s.aggregate()
		sum.Services[string(a.status)]++
		for i, n := range a.instances {
			sum.Instances[string(checkWords[i])] += n
		}
		if a.status != status.Healthy {
			sum.Worst = append(sum.Worst, Offender{Tenant: s.key.tenant, Name: s.key.name, Status: a.status, Why: a.why})
		}
	}
	r.mu.RUnlock()
	slices.SortStableFunc(sum.Worst, func(a, b Offender) int { return cmp.Compare(a.Status.Rank(), b.Status.Rank()) })
	if len(sum.Worst) > MaxWorst {
		sum.Worst = sum.Worst[:MaxWorst]
	}
	r.summaries.Store(scope, &cachedSummary{gen: gen, sum: sum})
	return sum
}

// why explains a service's status from its worst instance; r.mu is held.
func why(s *service) string {
	bad := 0
	var worst *entry
	for _, e := range s.sortedInstances() {
		if e.status == status.Passing {
			continue
		}
		bad++
		if worst == nil || e.status.Severity() > worst.status.Severity() {
			worst = e
		}
	}
	if worst == nil {
		return ""
	}
	var detail string
	if worst.in.Unreachable {
		detail = UnreachableOutput
	} else if worst.in.Stale {
		detail = "no report since " + worst.in.LastSeen.UTC().Format(time.RFC3339)
	} else {
		for _, c := range worst.in.Checks {
			if c.Status == worst.status {
				detail = fmt.Sprintf("check %s %s: %s", c.Name, c.Status, protocol.Truncate(strings.TrimSpace(c.Output), 120))
				break
			}
		}
	}
	return fmt.Sprintf("%d of %d instances not passing; %s: %s", bad, len(s.instances), worst.in.Key.Instance, detail)
}

// Instances returns a copy of every instance held, for tests and tools.
func (r *Registry) Instances() []hub.Instance {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]hub.Instance, 0, r.count)
	for _, s := range r.services {
		for _, e := range s.instances {
			in := e.in
			in.Checks = slices.Clone(in.Checks)
			out = append(out, in)
		}
	}
	return out
}

type cachedGraph struct {
	gen uint64
	g   *graph.Graph
}

// Graph returns the dependency graph of the services visible to the tenant filter named by
// scope (which must agree with visible), with the components their checks probe. It is rebuilt
// only when something changed since the last call with the same scope.
func (r *Registry) Graph(scope string, visible Visibility) *graph.Graph {
	gen := r.gen.Load()
	if c, ok := r.graphs.Load(scope); ok && c.(*cachedGraph).gen == gen {
		return c.(*cachedGraph).g
	}
	r.mu.RLock()
	gen = r.gen.Load()
	svcs := r.visibleServices(visible)
	_, comps := overall(svcs)
	r.mu.RUnlock()
	services := make([]graph.Service, 0, len(svcs))
	type ckey struct{ tenant, name string }
	runbooks := map[ckey]string{}
	// One service at a time, so that ingest never waits for a pass over every instance.
	for _, s := range svcs {
		r.mu.RLock()
		if r.services[s.key] != s {
			r.mu.RUnlock()
			continue // removed since the snapshot
		}
		gs := graph.Service{Tenant: s.key.tenant, Name: s.key.name, Status: s.status()}
		for _, e := range s.sortedInstances() {
			gs.Runbook = cmp.Or(gs.Runbook, e.in.Runbook)
			for _, d := range e.in.DependsOn {
				if !slices.Contains(gs.DependsOn, d) {
					gs.DependsOn = append(gs.DependsOn, d)
				}
			}
			for _, c := range e.in.Checks {
				if c.Component == "" {
					continue
				}
				if !slices.Contains(gs.Components, c.Component) {
					gs.Components = append(gs.Components, c.Component)
				}
				if k := (ckey{s.key.tenant, c.Component}); runbooks[k] == "" {
					runbooks[k] = c.Runbook
				}
			}
		}
		r.mu.RUnlock()
		services = append(services, gs)
	}
	components := make([]graph.Component, len(comps))
	for i, c := range comps {
		components[i] = graph.Component{Tenant: c.Tenant, Name: c.Name, Kind: c.Kind, Status: c.Status, Critical: c.Critical,
			Runbook: runbooks[ckey{c.Tenant, c.Name}]}
	}
	g := graph.Build(services, components)
	r.graphs.Store(scope, &cachedGraph{gen: gen, g: g})
	return g
}

// Generation changes whenever any status, instance or service changes (not on heartbeats that
// change nothing): a reader that saw the same generation has nothing new to look at.
func (r *Registry) Generation() uint64 { return r.gen.Load() }

// ServiceGen names a service and the generation of its last change.
type ServiceGen struct {
	Tenant, Name string
	Gen          uint64
}

// ServiceGenerations appends every service with the generation of its last change to buf: a
// reader that remembers them rebuilds only the services that changed.
func (r *Registry) ServiceGenerations(buf []ServiceGen) []ServiceGen {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, s := range r.services {
		buf = append(buf, ServiceGen{Tenant: s.key.tenant, Name: s.key.name, Gen: s.gen})
	}
	return buf
}

// Service returns one service as dashboard/health shows it, and whether it exists; it holds
// the registry's read lock for that service only.
func (r *Registry) Service(tenant, name string) (ServiceView, bool) {
	now := r.cfg.Now()
	r.mu.RLock()
	s := r.services[serviceKey{tenant, name}]
	if s == nil {
		r.mu.RUnlock()
		return ServiceView{}, false
	}
	v := serviceView(s, now)
	r.mu.RUnlock()
	v.Maintenance = r.inMaintenance(tenant, name)
	return v, true
}

// Maintenance reports whether tenant's service is in a maintenance window now.
func (r *Registry) Maintenance(tenant, service string) bool { return r.inMaintenance(tenant, service) }

// Components returns every component as dashboard/health shows them, from the services'
// cached aggregates.
func (r *Registry) Components() []ComponentView {
	r.mu.RLock()
	defer r.mu.RUnlock()
	svcs := make([]*service, 0, len(r.services))
	for _, s := range r.services {
		svcs = append(svcs, s)
	}
	_, comps := overall(svcs)
	return comps
}

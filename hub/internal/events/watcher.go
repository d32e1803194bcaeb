package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/alert"
	"github.com/centralhub/centralhub/hub/internal/registry"
)

// Registry is what the Watcher reads of the service registry: which services changed, and
// those only, one at a time, so that ingest never waits on the watcher for long.
type Registry interface {
	Generation() uint64
	ServiceGenerations(buf []registry.ServiceGen) []registry.ServiceGen
	Service(tenant, name string) (registry.ServiceView, bool)
	Maintenance(tenant, service string) bool
	Components() []registry.ComponentView
}

// serviceState is what the Watcher last published of a service.
type serviceState struct {
	gen       uint64
	sig       string
	instances map[string]string // instance → signature
}

// Alerts is what the Watcher reads of the alert engine.
type Alerts interface {
	List(q alert.Query) ([]hub.Alert, int)
}

// ServiceEvent is a service event's data: the service as dashboard/health shows it; Removed
// when it is gone.
type ServiceEvent struct {
	registry.ServiceView
	Removed bool `json:"removed,omitempty"`
}

// InstanceEvent is an instance event's data: the instance as dashboard/health shows it, with
// its tenant and service; Removed when it is gone.
type InstanceEvent struct {
	Tenant  string `json:"tenant"`
	Service string `json:"service"`
	registry.InstanceView
	Removed bool `json:"removed,omitempty"`
}

// ComponentRemoved is a component event's data when no check probes the component any more.
type ComponentRemoved struct {
	Tenant  string `json:"tenant"`
	Name    string `json:"name"`
	Removed bool   `json:"removed"`
}

// AlertRemoved is an alert event's data when the alert leaves the list: a pending alert whose
// condition cleared, or a resolved one past its retention.
type AlertRemoved struct {
	ID        string `json:"id"`
	Tenant    string `json:"tenant"`
	Component string `json:"component"`
	Removed   bool   `json:"removed"`
}

// Watcher publishes to a Broker what changed in the registry and the alerts since it last
// looked: a service whose status, maintenance or instances changed; an instance whose status,
// checks' statuses or config state changed (outputs and latencies alone are not events); a
// component whose status, criticality or meta changed; an alert whose state, acknowledgement,
// suppression or silencing changed; and, marked removed, a service, instance, component or
// alert that is gone.
type Watcher struct {
	b        *Broker
	reg      Registry
	alerts   Alerts
	log      *slog.Logger
	interval time.Duration

	started   bool
	gen       uint64
	services  map[[2]string]*serviceState
	comps     map[[2]string]string
	alertSigs map[string]alertSeen
	gens      []registry.ServiceGen // reused between polls
}

// NewWatcher returns a watcher of reg and alerts publishing to b every interval.
func NewWatcher(b *Broker, reg Registry, alerts Alerts, interval time.Duration, log *slog.Logger) *Watcher {
	return &Watcher{b: b, reg: reg, alerts: alerts, interval: interval, log: log.With("component", "events"),
		services: map[[2]string]*serviceState{}, comps: map[[2]string]string{}, alertSigs: map[string]alertSeen{}}
}

// Run polls every interval until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.Poll()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll publishes what changed since the last poll; the first one only takes the state in.
// While the broker wants no events (nobody has listened for a while) it does nothing: the
// next poll after a reader comes publishes everything that changed meanwhile.
func (w *Watcher) Poll() {
	if w.started && !w.b.Wanted() {
		return
	}
	publish := w.started
	w.started = true
	w.pollRegistry(publish)
	w.pollAlerts(publish)
}

func all(string) bool { return true }

func (w *Watcher) emit(name, tenant string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		w.log.Error("encode event", "event", name, "err", err)
		return
	}
	w.b.Publish(name, tenant, data)
}

// pollRegistry rebuilds only the services changed since the last poll (by their generation)
// or whose maintenance window opened or closed, and the components when any service changed.
func (w *Watcher) pollRegistry(publish bool) {
	gen := w.reg.Generation()
	changed := gen != w.gen
	w.gen = gen
	w.gens = w.reg.ServiceGenerations(w.gens[:0])
	seen := make(map[[2]string]bool, len(w.gens))
	for _, g := range w.gens {
		k := [2]string{g.Tenant, g.Name}
		seen[k] = true
		st := w.services[k]
		if st != nil && st.gen == g.Gen && strings.HasPrefix(st.sig, fmt.Sprint(w.reg.Maintenance(g.Tenant, g.Name))) {
			continue
		}
		v, ok := w.reg.Service(g.Tenant, g.Name)
		if !ok {
			continue // removed meanwhile: the next poll sees it gone
		}
		if st == nil {
			st = &serviceState{instances: map[string]string{}}
			w.services[k] = st
		}
		st.gen = g.Gen
		w.diffService(st, v, publish)
	}
	for k, st := range w.services {
		if seen[k] {
			continue
		}
		delete(w.services, k)
		if !publish {
			continue
		}
		for name := range st.instances {
			w.emit(Instance, k[0], InstanceEvent{Tenant: k[0], Service: k[1],
				InstanceView: registry.InstanceView{Instance: name, Checks: []registry.CheckView{}}, Removed: true})
		}
		w.emit(Service, k[0], ServiceEvent{ServiceView: registry.ServiceView{Tenant: k[0], Name: k[1], Status: "unknown",
			Instances: []registry.InstanceView{}}, Removed: true})
	}
	if changed {
		w.pollComponents(publish)
	}
}

// diffService publishes what changed in one service: its instances, then the service.
func (w *Watcher) diffService(st *serviceState, s registry.ServiceView, publish bool) {
	names := make([]string, len(s.Instances))
	present := make(map[string]bool, len(s.Instances))
	for i, in := range s.Instances {
		names[i] = in.Instance
		present[in.Instance] = true
		if sig := instanceSig(&in); st.instances[in.Instance] != sig {
			st.instances[in.Instance] = sig
			if publish {
				w.emit(Instance, s.Tenant, InstanceEvent{Tenant: s.Tenant, Service: s.Name, InstanceView: in})
			}
		}
	}
	for name := range st.instances {
		if present[name] {
			continue
		}
		delete(st.instances, name)
		if publish {
			w.emit(Instance, s.Tenant, InstanceEvent{Tenant: s.Tenant, Service: s.Name,
				InstanceView: registry.InstanceView{Instance: name, Checks: []registry.CheckView{}}, Removed: true})
		}
	}
	// The signature starts with the maintenance flag, which Poll compares without a rebuild.
	if sig := fmt.Sprint(s.Maintenance, s.Status, names); st.sig != sig {
		st.sig = sig
		if publish {
			w.emit(Service, s.Tenant, ServiceEvent{ServiceView: s})
		}
	}
}

func (w *Watcher) pollComponents(publish bool) {
	comps := w.reg.Components()
	seen := make(map[[2]string]bool, len(comps))
	for _, c := range comps {
		k := [2]string{c.Tenant, c.Name}
		seen[k] = true
		if sig := fmt.Sprint(c.Status, c.Critical, c.Meta); w.comps[k] != sig { // fmt sorts the meta's keys
			w.comps[k] = sig
			if publish {
				w.emit(Component, c.Tenant, c)
			}
		}
	}
	for k := range w.comps {
		if !seen[k] {
			delete(w.comps, k) // a component no check probes any more
			if publish {
				w.emit(Component, k[0], ComponentRemoved{Tenant: k[0], Name: k[1], Removed: true})
			}
		}
	}
}

// alertSeen is what the watcher last published of an alert.
type alertSeen struct{ sig, tenant, component string }

// instanceSig is what makes an instance event: statuses and config state, not outputs.
func instanceSig(in *registry.InstanceView) string {
	var b strings.Builder
	b.WriteString(string(in.Status))
	b.WriteString("|" + in.Config.Status + "|" + in.Config.Version + fmt.Sprint("|", len(in.Config.Problems)))
	for _, c := range in.Checks {
		b.WriteString("|" + c.Name + "=" + string(c.Status))
	}
	return b.String()
}

func (w *Watcher) pollAlerts(publish bool) {
	list, _ := w.alerts.List(alert.Query{Visible: all})
	seen := make(map[string]bool, len(list))
	for i := range list {
		a := &list[i]
		seen[a.ID] = true
		sig := fmt.Sprint(a.State, a.Severity, a.Acknowledged, a.SuppressedBy, a.SilencedBy)
		if a.Ack != nil {
			sig += fmt.Sprint(a.Ack.By, a.Ack.At, a.Ack.Comment)
		}
		if w.alertSigs[a.ID].sig != sig {
			w.alertSigs[a.ID] = alertSeen{sig: sig, tenant: a.Tenant, component: a.Component}
			if publish {
				w.emit(Alert, a.Tenant, a)
			}
		}
	}
	for id, was := range w.alertSigs {
		if !seen[id] {
			delete(w.alertSigs, id) // dropped while pending, or pruned after its retention
			if publish {
				w.emit(Alert, was.tenant, AlertRemoved{ID: id, Tenant: was.tenant, Component: was.component, Removed: true})
			}
		}
	}
}

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

// Registry is what the Watcher reads of the service registry.
type Registry interface {
	Generation() uint64
	Health(q registry.HealthQuery) registry.Health
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

// Watcher publishes to a Broker what changed in the registry and the alerts since it last
// looked: a service whose status, maintenance or instances changed; an instance whose status,
// checks' statuses or config state changed (outputs and latencies alone are not events); a
// component whose status changed; an alert whose state, acknowledgement, suppression or
// silencing changed.
type Watcher struct {
	b        *Broker
	reg      Registry
	alerts   Alerts
	log      *slog.Logger
	interval time.Duration

	started   bool
	gen       uint64
	polls     int
	services  map[[2]string]string // tenant, service → signature
	instances map[[3]string]string // tenant, service, instance → signature
	comps     map[[2]string]string
	alertSigs map[string]string
}

// NewWatcher returns a watcher of reg and alerts publishing to b every interval.
func NewWatcher(b *Broker, reg Registry, alerts Alerts, interval time.Duration, log *slog.Logger) *Watcher {
	return &Watcher{b: b, reg: reg, alerts: alerts, interval: interval, log: log.With("component", "events"),
		services: map[[2]string]string{}, instances: map[[3]string]string{}, comps: map[[2]string]string{}, alertSigs: map[string]string{}}
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

// maintenanceEvery is how many polls may pass without a registry change before the services
// are compared anyway: a silence's maintenance window starts or ends without one.
const maintenanceEvery = 4

// Poll publishes what changed since the last poll; the first one only takes the state in.
func (w *Watcher) Poll() {
	publish := w.started
	w.started = true
	w.polls++
	if gen := w.reg.Generation(); gen != w.gen || !publish || w.polls%maintenanceEvery == 0 {
		w.gen = gen
		w.pollRegistry(publish)
	}
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

func (w *Watcher) pollRegistry(publish bool) {
	h := w.reg.Health(registry.HealthQuery{Visible: all})
	seenSvc := make(map[[2]string]bool, len(h.Services))
	seenInst := make(map[[3]string]bool, len(w.instances))
	for _, s := range h.Services {
		k := [2]string{s.Tenant, s.Name}
		seenSvc[k] = true
		names := make([]string, len(s.Instances))
		for i, in := range s.Instances {
			names[i] = in.Instance
			ik := [3]string{s.Tenant, s.Name, in.Instance}
			seenInst[ik] = true
			if sig := instanceSig(&in); w.instances[ik] != sig {
				w.instances[ik] = sig
				if publish {
					w.emit(Instance, s.Tenant, InstanceEvent{Tenant: s.Tenant, Service: s.Name, InstanceView: in})
				}
			}
		}
		if sig := fmt.Sprint(s.Status, s.Maintenance, names); w.services[k] != sig {
			w.services[k] = sig
			if publish {
				w.emit(Service, s.Tenant, ServiceEvent{ServiceView: s})
			}
		}
	}
	for ik := range w.instances {
		if !seenInst[ik] {
			delete(w.instances, ik)
			if publish {
				w.emit(Instance, ik[0], InstanceEvent{Tenant: ik[0], Service: ik[1],
					InstanceView: registry.InstanceView{Instance: ik[2], Checks: []registry.CheckView{}}, Removed: true})
			}
		}
	}
	for k := range w.services {
		if !seenSvc[k] {
			delete(w.services, k)
			if publish {
				w.emit(Service, k[0], ServiceEvent{ServiceView: registry.ServiceView{Tenant: k[0], Name: k[1], Status: "unknown",
					Instances: []registry.InstanceView{}}, Removed: true})
			}
		}
	}
	seenComp := make(map[[2]string]bool, len(h.Components))
	for _, c := range h.Components {
		k := [2]string{c.Tenant, c.Name}
		seenComp[k] = true
		if sig := fmt.Sprint(c.Status, c.Critical); w.comps[k] != sig {
			w.comps[k] = sig
			if publish {
				w.emit(Component, c.Tenant, c)
			}
		}
	}
	for k := range w.comps {
		if !seenComp[k] {
			delete(w.comps, k) // a component no check probes any more: nothing left to show
		}
	}
}

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
		if w.alertSigs[a.ID] != sig {
			w.alertSigs[a.ID] = sig
			if publish {
				w.emit(Alert, a.Tenant, a)
			}
		}
	}
	for id := range w.alertSigs {
		if !seen[id] {
			delete(w.alertSigs, id) // pruned after its retention: the list no longer shows it
		}
	}
}

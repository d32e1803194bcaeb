// Package membership turns gossip membership into instance health: an agent's member failing
// makes its instance critical at once, leaving deregisters it, and rejoining restores its
// reported state. Gossip carries liveness only: a member naming an instance that never reported
// with a valid token is listed and changes nothing.
package membership

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/gossip"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// Registry is what the watcher needs of the service registry.
type Registry interface {
	ApplyGossip(ctx context.Context, key hub.InstanceKey, boot int64, change registry.GossipChange) (known bool, lastReport time.Time, err error)
	Known(key hub.InstanceKey) bool // has reported with a valid token
}

// Cluster is what the watcher needs of the hub's gossip member.
type Cluster interface {
	Events() <-chan gossip.Event
	Members() []gossip.Member
}

// Member is one gossip member as the dashboard lists it.
type Member struct {
	Name    string            `json:"name"`
	Role    string            `json:"role"`
	Address string            `json:"address"`
	State   string            `json:"state"`
	Tags    map[string]string `json:"tags"`
	// Registered is set for an agent whose instance has reported with a valid token; gossip
	// about any other member changes no health.
	Registered bool `json:"registered"`
}

// Watcher applies gossip events to the registry. Run consumes them.
type Watcher struct {
	cluster  Cluster
	reg      Registry
	log      *slog.Logger
	events   *prometheus.CounterVec
	detected prometheus.Histogram
}

// eventTypes are the gossip event types counted, for labels that exist from the start.
var eventTypes = []gossip.EventType{gossip.MemberJoin, gossip.MemberLeave, gossip.MemberFailed, gossip.MemberUpdate, gossip.MemberReap}

// memberStates are the member states counted.
var memberStates = []string{"alive", "leaving", "left", "failed"}

// New returns a watcher of cluster over reg and registers its metrics with promReg.
func New(cluster Cluster, reg Registry, promReg prometheus.Registerer, log *slog.Logger) (*Watcher, error) {
	w := &Watcher{
		cluster: cluster, reg: reg, log: log.With("component", "membership"),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centralhub_gossip_events_total", Help: "Gossip membership events the hub received, by type (join, leave, failed, update, reap).",
		}, []string{"type"}),
		detected: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "centralhub_gossip_failure_detection_seconds",
			Help:    "For each registered agent gossip declared failed: time from its last report (the latest it is known alive) to the verdict, a bound on the detection time that exceeds it by at most one report interval.",
			Buckets: []float64{.5, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 60, 120},
		}),
	}
	for _, t := range eventTypes {
		w.events.WithLabelValues(string(t))
	}
	for _, c := range []prometheus.Collector{w.events, w.detected, membersCollector{w}} {
		if err := promReg.Register(c); err != nil {
			return nil, fmt.Errorf("register gossip metrics: %w", err)
		}
	}
	return w, nil
}

// Run applies events until the cluster's event channel closes or ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.cluster.Events():
			if !ok {
				return
			}
			w.apply(ctx, ev)
		}
	}
}

// changes maps an event type to what it means for an agent's instance.
var changes = map[gossip.EventType]registry.GossipChange{
	gossip.MemberJoin:   registry.GossipAlive,
	gossip.MemberFailed: registry.GossipFailed,
	gossip.MemberLeave:  registry.GossipLeft,
	gossip.MemberReap:   registry.GossipReaped,
}

// applyTimeout bounds how long one event waits for its change to be durable; past it the
// change stays in memory and is written with the next flush, so a slow store cannot hold up
// the gossip events behind it.
const applyTimeout = 5 * time.Second

func (w *Watcher) apply(ctx context.Context, ev gossip.Event) {
	w.events.WithLabelValues(string(ev.Type)).Inc()
	key, ok := agentKey(ev.Member)
	if !ok {
		w.log.Debug("gossip event of a non-agent member", "member", ev.Member.Name, "type", string(ev.Type))
		return
	}
	change, ok := changes[ev.Type]
	if !ok {
		return
	}
	boot, err := strconv.ParseInt(ev.Member.Tags[gossip.TagBoot], 10, 64)
	if err != nil {
		w.log.Info("gossip event of an agent member without a boot tag; ignored", "member", ev.Member.Name, "type", string(ev.Type))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	known, lastReport, err := w.reg.ApplyGossip(ctx, key, boot, change)
	switch {
	case err != nil:
		w.log.Warn("gossip event applied in memory, not yet durable", "member", ev.Member.Name, "type", string(ev.Type), "err", err)
	case !known:
		w.log.Info("gossip event of no registered instance of that boot; ignored", "member", ev.Member.Name, "type", string(ev.Type), "boot", boot)
		return
	default:
		w.log.Info("gossip event applied", "instance", key.String(), "type", string(ev.Type))
	}
	if change == registry.GossipFailed && !lastReport.IsZero() {
		w.detected.Observe(ev.At.Sub(lastReport).Seconds())
	}
}

// agentKey is the instance an agent member speaks for: role agent, valid tenant, service and
// instance tags, and the node name tenant/service/instance they make.
func agentKey(m gossip.Member) (hub.InstanceKey, bool) {
	if m.Tags[gossip.TagRole] != gossip.RoleAgent {
		return hub.InstanceKey{}, false
	}
	k := hub.InstanceKey{Tenant: m.Tags[gossip.TagTenant], Service: m.Tags[gossip.TagService], Instance: m.Tags[gossip.TagInstance]}
	for _, v := range []string{k.Tenant, k.Service, k.Instance} {
		if protocol.ValidName(v) != nil {
			return hub.InstanceKey{}, false
		}
	}
	if m.Name != k.String() {
		return hub.InstanceKey{}, false
	}
	return k, true
}

// Members lists the members a caller may see, by name: agents of the tenants visible allows,
// and every hub; members of no tenant that are not hubs only when allTenants.
func (w *Watcher) Members(visible registry.Visibility, allTenants bool) []Member {
	all := w.cluster.Members()
	out := make([]Member, 0, len(all))
	for _, m := range all {
		role := m.Tags[gossip.TagRole]
		tenant, hasTenant := m.Tags[gossip.TagTenant]
		switch {
		case role == gossip.RoleHub:
		case hasTenant && visible(tenant):
		case !hasTenant && allTenants:
		default:
			continue
		}
		v := Member{Name: m.Name, Role: cmp.Or(role, "unknown"), Address: m.Addr, State: m.Status, Tags: m.Tags}
		if key, ok := agentKey(m); ok {
			v.Registered = w.reg.Known(key)
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// membersCollector exposes centralhub_gossip_members by role and state, counted at scrape.
type membersCollector struct{ w *Watcher }

var membersDesc = prometheus.NewDesc("centralhub_gossip_members",
	"Gossip members this hub knows, by role (agent, hub) and state (alive, leaving, left, failed).", []string{"role", "state"}, nil)

// Describe implements prometheus.Collector.
func (c membersCollector) Describe(ch chan<- *prometheus.Desc) { ch <- membersDesc }

// Collect implements prometheus.Collector.
func (c membersCollector) Collect(ch chan<- prometheus.Metric) {
	type rs struct{ role, state string }
	counts := map[rs]int{}
	for _, role := range []string{gossip.RoleAgent, gossip.RoleHub} {
		for _, st := range memberStates {
			counts[rs{role, st}] = 0
		}
	}
	for _, m := range c.w.cluster.Members() {
		counts[rs{cmp.Or(m.Tags[gossip.TagRole], "unknown"), m.Status}]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(membersDesc, prometheus.GaugeValue, float64(n), k.role, k.state)
	}
}

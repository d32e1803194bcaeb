// Package hub holds Central Hub's domain types and the contracts between the hub's parts: what
// the registry keeps about an instance, and the Store that makes it durable. Implementations
// live in packages named for their technology (internal/bolt, later internal/postgres).
package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// InstanceKey names one instance of one service of one tenant.
type InstanceKey struct {
	Tenant   string `json:"tenant"`
	Service  string `json:"service"`
	Instance string `json:"instance"`
}

// String returns the key as tenant/service/instance (the gossip node name too).
func (k InstanceKey) String() string { return k.Tenant + "/" + k.Service + "/" + k.Instance }

// Instance is everything the hub keeps about one instance: its latest report and what the hub
// derived from it. It is what a Store persists.
type Instance struct {
	Key       InstanceKey            `json:"key"`
	Address   string                 `json:"address"`
	Agent     string                 `json:"agent_version"`
	Runbook   string                 `json:"runbook,omitempty"`
	Tags      []string               `json:"tags,omitempty"`
	Meta      map[string]string      `json:"meta,omitempty"`
	Boot      int64                  `json:"boot"`
	Seq       uint64                 `json:"seq"`
	Interval  time.Duration          `json:"interval"`
	DependsOn []string               `json:"depends_on,omitempty"`
	Checks    []protocol.CheckResult `json:"checks"`
	Config    protocol.ConfigState   `json:"config"`
	FirstSeen time.Time              `json:"first_seen"`
	LastSeen  time.Time              `json:"last_seen"`
	// Stale is set when no report came for the registry's stale_after intervals; the
	// instance is then critical whatever its checks said.
	Stale bool `json:"stale,omitempty"`
	// Unreachable is set while gossip holds the instance's agent failed; the instance is then
	// critical whatever its checks said. Its agent rejoining, or a report of a new boot, clears it.
	Unreachable bool `json:"unreachable,omitempty"`
}

// NewInstance is the instance a report describes, first and last seen at now.
func NewInstance(rep *protocol.Report, now time.Time) Instance {
	return Instance{
		Key:       InstanceKey{Tenant: rep.Tenant, Service: rep.Service, Instance: rep.Instance},
		Address:   rep.Address,
		Agent:     rep.AgentVersion,
		Runbook:   rep.Runbook,
		Tags:      rep.Tags,
		Meta:      rep.Meta,
		Boot:      rep.Boot,
		Seq:       rep.Seq,
		Interval:  time.Duration(rep.Interval),
		DependsOn: rep.DependsOn,
		Checks:    rep.Checks,
		Config:    rep.Config,
		FirstSeen: now,
		LastSeen:  now,
	}
}

// Status is the instance status by the rules of DESIGN.md: critical when stale or unreachable,
// else its worst check.
func (in *Instance) Status() status.Check {
	if in.Stale || in.Unreachable {
		return status.Critical
	}
	worst := status.Passing
	for i := range in.Checks {
		worst = status.Worst(worst, in.Checks[i].Status)
	}
	return worst
}

// Heartbeat is what a report that changed no state adds to a stored instance: how far its
// agent has got and when it was last heard. Writing it instead of the whole instance keeps the
// once-a-second batch small; outputs and latencies are refreshed by the agent's next report.
type Heartbeat struct {
	Key      InstanceKey
	Boot     int64
	Seq      uint64
	LastSeen time.Time
}

// Writes is one store transaction's worth of changes.
type Writes struct {
	Puts       []Instance    // whole instances, replacing any with the same key
	Heartbeats []Heartbeat   // applied over the stored instance of the same key and boot
	Deletes    []InstanceKey // removed, with their heartbeats
	// Transitions and Samples are history, appended; removing an instance keeps its history
	// until retention drops it.
	Transitions []Transition
	Samples     []Sample
}

// Empty reports whether w writes nothing.
func (w *Writes) Empty() bool {
	return len(w.Puts)+len(w.Heartbeats)+len(w.Deletes)+len(w.Transitions)+len(w.Samples) == 0
}

// RefusedPutsError is WriteInstances' answer when the write committed except the puts of Keys,
// which a store shared by several hubs refused because it holds a newer report of them (by boot
// and seq) that another hub wrote: a put never goes back.
type RefusedPutsError struct {
	Keys []InstanceKey
}

// Error implements error.
func (e *RefusedPutsError) Error() string {
	return fmt.Sprintf("%d instance writes refused: the store holds newer reports", len(e.Keys))
}

// InstanceReader is what a store shared by several hubs offers besides Store: instances read
// back by key, after another hub changed them.
type InstanceReader interface {
	// LoadInstancesOf returns the stored instances of keys (each with its newest heartbeat);
	// a key the store does not hold is left out.
	LoadInstancesOf(ctx context.Context, keys []InstanceKey) ([]Instance, error)
}

// Store makes instances, alerts, silences, the audit log, history and desired configs durable.
// Implementations are safe for concurrent use; each method is one transaction that either
// applies whole or not at all, and returns only once durable.
type Store interface {
	// LoadInstances returns every stored instance, in no particular order, each with the
	// newest heartbeat written for it: one of the same boot and a higher seq than the instance
	// replaces its seq and last_seen.
	LoadInstances(ctx context.Context) ([]Instance, error)
	// WriteInstances applies w.
	WriteInstances(ctx context.Context, w Writes) error
	// AlertStore keeps alerts, silences and the audit log in the same store.
	AlertStore
	// HistoryStore keeps check results and status transitions over time.
	HistoryStore
	// ConfigStore keeps the desired configs of services.
	ConfigStore
	// Close releases the store; no call may follow.
	Close() error
}

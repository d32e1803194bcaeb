package registry

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// Trouble is an instance that is not entirely well, as the alert engine needs it: not passing,
// lost, or with its config drifted or invalid.
type Trouble struct {
	Key         hub.InstanceKey
	Status      status.Check
	Stale       bool      // no report for stale_after intervals
	Unreachable bool      // gossip holds its agent failed
	LastSeen    time.Time // its last report
	Runbook     string
	Config      protocol.ConfigState
	Checks      []protocol.CheckResult // the non-passing ones
}

// Troubles is a snapshot of every troubled instance and of how many instances each tenant has.
type Troubles struct {
	Instances []Trouble
	Totals    map[string]int // instances per tenant, troubled or not
}

type cachedTroubles struct {
	gen uint64
	t   *Troubles
}

// Troubles returns the troubled instances of every tenant, sorted by key. It is recomputed only
// when something changed since the last call; the caller must not modify it.
func (r *Registry) Troubles() *Troubles {
	gen := r.gen.Load()
	if c := r.troubles.Load(); c != nil && c.gen == gen {
		return c.t
	}
	r.mu.RLock()
	gen = r.gen.Load()
	svcs := make([]*service, 0, len(r.services))
	for _, s := range r.services {
		svcs = append(svcs, s)
	}
	r.mu.RUnlock()
	t := &Troubles{Totals: map[string]int{}}
	// One service at a time, so that ingest never waits for a pass over the whole registry.
	for _, s := range svcs {
		r.mu.RLock()
		if r.services[s.key] != s {
			r.mu.RUnlock()
			continue // removed since the snapshot
		}
		t.Totals[s.key.tenant] += len(s.instances)
		for _, e := range s.instances {
			in := &e.in
			cfg := in.Config.Status
			if e.status == status.Passing && !in.Stale && !in.Unreachable &&
				cfg != protocol.ConfigDrifted && cfg != protocol.ConfigInvalid {
				continue
			}
			tr := Trouble{Key: in.Key, Status: e.status, Stale: in.Stale, Unreachable: in.Unreachable,
				LastSeen: in.LastSeen, Runbook: in.Runbook, Config: in.Config}
			tr.Config.Problems = slices.Clone(in.Config.Problems)
			for _, c := range in.Checks {
				if c.Status != status.Passing {
					tr.Checks = append(tr.Checks, c)
				}
			}
			t.Instances = append(t.Instances, tr)
		}
		r.mu.RUnlock()
	}
	slices.SortFunc(t.Instances, func(a, b Trouble) int { return compareKeys(a.Key, b.Key) })
	r.troubles.Store(&cachedTroubles{gen: gen, t: t})
	return t
}

// troublesCache is the Registry's cached Troubles.
type troublesCache = atomic.Pointer[cachedTroubles]

package registry

import (
	"math/rand/v2"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// The registry records history as it folds reports: a transition for every change of a check's
// or an instance's status (written in the same transaction as the change), and a sample of
// each instance at most every HistoryInterval (written with the heartbeat batch). Both wait in
// memory while the store is unreachable, each up to HistoryQueue; past that, new ones are
// dropped, counted and logged once per episode.

// recordTransition queues t for the next state-change commit; r.mu is held for writing.
func (r *Registry) recordTransition(t hub.Transition) {
	if len(r.transitions) >= r.cfg.HistoryQueue {
		r.droppedTransitions.Add(1)
		r.dropped()
		return
	}
	r.transitions = append(r.transitions, t)
}

// recordInstance records a change of an instance's own status (or of what the hub judged of
// it, reason, even when the status stays).
func (r *Registry) recordInstance(k hub.InstanceKey, from, to status.Check, at time.Time, reason string) {
	if from == to && reason == "" {
		return
	}
	r.recordTransition(hub.Transition{Key: k, At: at, From: from, To: to, Output: reason})
}

// recordAppeared records a new instance and its checks.
func (r *Registry) recordAppeared(in *hub.Instance, st status.Check, at time.Time) {
	r.recordInstance(in.Key, "", st, at, hub.ReasonRegistered)
	for i := range in.Checks {
		c := &in.Checks[i]
		r.recordTransition(hub.Transition{Key: in.Key, At: at, Check: c.Name, To: c.Status, Output: c.Output})
	}
}

// recordGone records an instance's removal.
func (r *Registry) recordGone(in *hub.Instance, st status.Check, at time.Time, reason string) {
	r.recordInstance(in.Key, st, "", at, reason)
}

// recordChange records what differs between prev and next, two states of one instance: each
// check that changed status, appeared or went (a new boot may change the set), and the
// instance's status.
func (r *Registry) recordChange(prev *hub.Instance, prevStatus status.Check, next *hub.Instance, nextStatus status.Check, at time.Time, reason string) {
	for i := range next.Checks {
		n := &next.Checks[i]
		from := status.Check("")
		if p := findCheck(prev, n.Name, i); p != nil {
			from = p.Status
		}
		if from != n.Status {
			r.recordTransition(hub.Transition{Key: next.Key, At: at, Check: n.Name, From: from, To: n.Status, Output: n.Output})
		}
	}
	for i := range prev.Checks {
		if p := &prev.Checks[i]; findCheck(next, p.Name, i) == nil {
			r.recordTransition(hub.Transition{Key: next.Key, At: at, Check: p.Name, From: p.Status})
		}
	}
	if prev.Stale && !next.Stale && reason == "" {
		reason = hub.ReasonReporting
	}
	r.recordInstance(next.Key, prevStatus, nextStatus, at, reason)
}

// findCheck returns in's check named name, looking first at index hint (checks keep their
// order within a boot).
func findCheck(in *hub.Instance, name string, hint int) *protocol.CheckResult {
	if hint < len(in.Checks) && in.Checks[hint].Name == name {
		return &in.Checks[hint]
	}
	for i := range in.Checks {
		if in.Checks[i].Name == name {
			return &in.Checks[i]
		}
	}
	return nil
}

// sample queues a history sample of e at now; r.mu is held for writing.
func (r *Registry) sample(e *entry, now time.Time) {
	e.sampled = now
	if r.queuedSamples.Load() >= int64(r.cfg.HistoryQueue) {
		r.droppedSamples.Add(1)
		r.dropped()
		return
	}
	smp := hub.Sample{Key: e.in.Key, At: now, Status: e.status}
	if !e.in.Stale { // a silent instance's checks say nothing of now
		smp.Checks = make([]hub.CheckSample, len(e.in.Checks))
		for i := range e.in.Checks {
			c := &e.in.Checks[i]
			smp.Checks[i] = hub.CheckSample{Name: c.Name, Status: c.Status, LatencyMS: c.LatencyMS}
		}
	}
	r.samples = append(r.samples, smp)
	r.queuedSamples.Add(1)
}

// dropped logs the first history record dropped since the queue last had room.
func (r *Registry) dropped() {
	if !r.dropping.Swap(true) {
		r.log.Error("history queue full while the store is unavailable: dropping new history samples and transitions (counted in centralhub_history_dropped_total)",
			"bound", r.cfg.HistoryQueue)
	}
}

// HistoryStats are the history queue's counters.
type HistoryStats struct {
	QueuedSamples      int64
	QueuedTransitions  int
	DroppedSamples     uint64
	DroppedTransitions uint64
}

// HistoryStats returns the history queue's counters.
func (r *Registry) HistoryStats() HistoryStats {
	r.mu.RLock()
	n := len(r.transitions)
	r.mu.RUnlock()
	return HistoryStats{
		QueuedSamples: r.queuedSamples.Load(), QueuedTransitions: n,
		DroppedSamples: r.droppedSamples.Load(), DroppedTransitions: r.droppedTransitions.Load(),
	}
}

// backoff paces store write attempts while they fail: the wait doubles from the flush interval
// up to a cap, with jitter, and resets on success.
type backoff struct {
	wait time.Duration
	next time.Time // no attempt before this
}

// due reports whether a write may be attempted at now.
func (b *backoff) due(now time.Time) bool { return b.wait == 0 || !now.Before(b.next) }

// failed schedules the next attempt after a failure at now.
func (b *backoff) failed(now time.Time, first, limit time.Duration) {
	b.wait = min(max(first, 2*b.wait), limit)
	b.next = now.Add(b.wait/2 + rand.N(b.wait/2+1))
}

// succeeded resets the pacing.
func (b *backoff) succeeded() { *b = backoff{} }

// ServiceChecks returns how many distinct checks the instances of tenant's service run, and
// whether the service is registered.
func (r *Registry) ServiceChecks(tenant, service string) (checks int, known bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := r.services[serviceKey{tenant, service}]
	if s == nil {
		return 0, false
	}
	names := map[string]struct{}{}
	for _, e := range s.instances {
		for i := range e.in.Checks {
			names[e.in.Checks[i].Name] = struct{}{}
		}
	}
	return len(names), true
}

package registry

import (
	"time"

	"github.com/centralhub/centralhub/hub"
)

// Several hubs on one database each keep the whole registry in memory. A hub writes what its
// own agents report; what other hubs wrote reaches it through ApplyRemote (state changes, told
// by LISTEN/NOTIFY) and ApplyRemoteSeen (heartbeats, read from the store every second). Only
// the leader judges staleness, deregisters and acts on gossip, so each of those is recorded
// once; the others learn of it like any other change.

// SetLeader says whether this hub leads (the only hub of an embedded store always does).
func (r *Registry) SetLeader(v bool) { r.follower.Store(!v) }

// Leader reports whether this hub leads.
func (r *Registry) Leader() bool { return !r.follower.Load() }

// ApplyRemote takes instances another hub wrote, as the store held them at asOf, and removes
// those of gone, which the store no longer held. Nothing is written or recorded: the hub that
// made a change wrote it and its history. An instance this hub holds a newer report of (by
// boot and seq) is left alone; one removed in the store while this hub holds a change of it not
// yet written, or heard from its agent after asOf, is kept and written again.
func (r *Registry) ApplyRemote(ins []hub.Instance, gone []hub.InstanceKey, asOf time.Time) {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range ins {
		in := ins[i]
		svc := r.serviceFor(in.Key, true)
		e := svc.instances[in.Key.Instance]
		if e == nil {
			e = &entry{in: in, status: in.Status(), heard: now, tokens: r.cfg.RatePerInstance, refill: now}
			if in.Stale {
				e.heard = in.LastSeen // the store says it was silent: keep judging from then
			}
			svc.instances[in.Key.Instance] = e
			r.count++
			r.touch(svc)
			continue
		}
		newer := in.Boot > e.in.Boot || (in.Boot == e.in.Boot && in.Seq > e.in.Seq)
		same := in.Boot == e.in.Boot && in.Seq == e.in.Seq
		if !newer && !(same && stateChanged(&e.in, &in)) {
			continue
		}
		if in.LastSeen.After(e.heard) && !in.Stale {
			e.heard = in.LastSeen
		}
		e.in = in
		e.status = in.Status()
		// The store holds a newer state than any change of this hub's still to be written:
		// that write would be refused (a put never goes back), so it is dropped and the entry
		// is durable as it stands. A write in flight no longer clears unsynced (ver moved).
		e.ver++
		e.unsynced = false
		delete(r.changes, in.Key)
		delete(r.dirty, in.Key)
		r.touch(svc)
	}
	for _, k := range gone {
		svc := r.serviceFor(k, false)
		if svc == nil {
			continue
		}
		e := svc.instances[k.Instance]
		if e == nil || e.unsynced {
			continue
		}
		if e.heard.After(asOf) { // it reported here since: it lives, and the store shall say so
			e.unsynced = true
			e.ver++
			r.changes[k] = struct{}{}
			continue
		}
		delete(svc.instances, k.Instance)
		r.count--
		delete(r.dirty, k)
		r.touch(svc)
		if len(svc.instances) == 0 {
			delete(r.services, svc.key)
		}
	}
}

// Resync makes the registry hold what the store held at asOf, all of it: after notices may
// have been missed. Instances this hub holds and the store did not are removed, as
// ApplyRemote's gone.
func (r *Registry) Resync(ins []hub.Instance, asOf time.Time) {
	stored := make(map[hub.InstanceKey]struct{}, len(ins))
	for i := range ins {
		stored[ins[i].Key] = struct{}{}
	}
	var gone []hub.InstanceKey
	r.mu.RLock()
	for _, s := range r.services {
		for _, e := range s.instances {
			if _, ok := stored[e.in.Key]; !ok {
				gone = append(gone, e.in.Key)
			}
		}
	}
	r.mu.RUnlock()
	r.ApplyRemote(ins, gone, asOf)
}

// ApplyRemoteSeen takes the heartbeats the store holds (written by any hub): an instance
// reporting to another hub is then heard here too, so the leader never takes it for silent.
// On the leader, a stale instance heard again stops being stale, as a report would make it.
func (r *Registry) ApplyRemoteSeen(beats []hub.Heartbeat) {
	leader := r.Leader()
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range beats {
		svc := r.serviceFor(h.Key, false)
		if svc == nil {
			continue
		}
		e := svc.instances[h.Key.Instance]
		if e == nil || h.Boot != e.in.Boot || h.Seq <= e.in.Seq {
			continue
		}
		e.in.Seq = h.Seq
		e.in.LastSeen = h.LastSeen
		if h.LastSeen.After(e.heard) {
			e.heard = h.LastSeen
		}
		if leader && e.in.Stale && now.Sub(e.heard) < time.Duration(r.cfg.StaleAfter)*e.in.Interval {
			prev := e.status
			e.in.Stale = false
			e.status = e.in.Status()
			r.recordInstance(e.in.Key, prev, e.status, now, "reporting")
			e.unsynced = true
			e.ver++
			r.changes[e.in.Key] = struct{}{}
			r.touch(svc)
		}
	}
}

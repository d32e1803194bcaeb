package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/centralhub/centralhub/hub"
)

// Several hubs on one database each keep the whole registry in memory. A hub writes what its
// own agents report; what other hubs wrote reaches it through ApplyRemote (state changes, told
// by LISTEN/NOTIFY, or read back after the store refused an older copy) and ApplyRemoteSeen
// (heartbeats, read from the store). Only the leader judges staleness, deregisters and acts on
// gossip, so each of those is recorded once; the others learn of it like any other change.

// SetLeader says whether this hub leads (the only hub of an embedded store always does).
func (r *Registry) SetLeader(v bool) { r.follower.Store(!v) }

// Leader reports whether this hub leads.
func (r *Registry) Leader() bool { return !r.follower.Load() }

// ApplyRemote takes instances another hub wrote, as the store held them at asOf, and removes
// those of gone, which the store no longer held. Nothing is written or recorded: the hub that
// made a change wrote it and its history. Left alone: an instance this hub holds a newer report
// of (by boot and seq), or an older one it has not written yet (the store refuses it and the
// hub reads the store's back); one whose removal this hub is writing; and, for gone, one with
// a change not yet written, or heard or written here after asOf — that one is written again.
func (r *Registry) ApplyRemote(ins []hub.Instance, gone []hub.InstanceKey, asOf time.Time) {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range ins {
		in := ins[i]
		if r.removing(in.Key) {
			continue
		}
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
		if !newer && (!same || e.unsynced || !stateChanged(&e.in, &in)) {
			continue
		}
		if in.LastSeen.After(e.heard) {
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
		if e.heard.After(asOf) || e.wrote.After(asOf) {
			// It reported here, or was written from here, since the store was read: it lives,
			// and the store shall say so.
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

// removing reports whether this hub removed k and has not finished writing that; r.mu is held.
func (r *Registry) removing(k hub.InstanceKey) bool {
	if _, ok := r.deleting[k]; ok {
		return true
	}
	_, pending := r.changes[k]
	return pending && r.lookup(k) == nil
}

// ReadBack replaces what the registry holds of keys with what the store holds now (through
// ApplyRemote), when the store reads instances by key (PostgreSQL, the store hubs share).
func (r *Registry) ReadBack(ctx context.Context, keys []hub.InstanceKey) error {
	rd, ok := r.store.(hub.InstanceReader)
	if !ok || len(keys) == 0 {
		return nil
	}
	asOf := r.cfg.Now() // before the read: what is heard here after it may be missing from it
	ins, err := rd.LoadInstancesOf(ctx, keys)
	if err != nil {
		return fmt.Errorf("read back instances: %w", err)
	}
	held := make(map[hub.InstanceKey]bool, len(ins))
	for i := range ins {
		held[ins[i].Key] = true
	}
	var gone []hub.InstanceKey
	for _, k := range keys {
		if !held[k] {
			gone = append(gone, k)
		}
	}
	r.ApplyRemote(ins, gone, asOf)
	return nil
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

// Quiet returns up to limit instances this hub has not heard from for longer than their report
// interval and a margin (or stale, or unreachable): those reporting to other hubs, whose
// heartbeats ApplyRemoteSeen then takes from the store. A hub alone finds only silent ones.
func (r *Registry) Quiet(margin time.Duration, limit int) []hub.InstanceKey {
	now := r.cfg.Now()
	var out []hub.InstanceKey
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, s := range r.services {
		for _, e := range s.instances {
			if e.in.Stale || e.in.Unreachable || now.Sub(e.heard) > e.in.Interval+margin {
				out = append(out, e.in.Key)
				if len(out) == limit {
					return out
				}
			}
		}
	}
	return out
}

// ApplyRemoteSeen takes heartbeats the store holds (written by any hub): an instance reporting
// to another hub is then heard here too, so the leader never takes it for silent. Only when it
// was heard: its seq stays that of the state this hub holds, so that this hub never writes that
// state under a newer report's seq. It returns the stale instances heard again: read them back
// (their state may have changed at the other hub) before the leader's sweep ends their
// staleness.
func (r *Registry) ApplyRemoteSeen(beats []hub.Heartbeat) (heardAgain []hub.InstanceKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range beats {
		svc := r.serviceFor(h.Key, false)
		if svc == nil {
			continue
		}
		e := svc.instances[h.Key.Instance]
		if e == nil || h.Boot != e.in.Boot || h.Seq <= e.in.Seq || !h.LastSeen.After(e.heard) {
			continue
		}
		e.heard = h.LastSeen
		if h.LastSeen.After(e.in.LastSeen) {
			e.in.LastSeen = h.LastSeen
		}
		if e.in.Stale {
			heardAgain = append(heardAgain, h.Key)
		}
	}
	return heardAgain
}

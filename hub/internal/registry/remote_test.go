package registry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

func held(h *harness, key string) (hub.Instance, bool) {
	for _, in := range h.reg.Instances() {
		if in.Key.String() == key {
			return in, true
		}
	}
	return hub.Instance{}, false
}

func remoteInstance(service, name string, boot int64, seq uint64, st status.Check, at time.Time) hub.Instance {
	return hub.Instance{Key: hub.InstanceKey{Tenant: "default", Service: service, Instance: name}, Boot: boot, Seq: seq,
		Interval: 10 * time.Second, FirstSeen: at, LastSeen: at,
		Checks: []protocol.CheckResult{{Name: "c0", Kind: "tcp", Status: st}}}
}

// TestApplyRemote: another hub's changes replace older ones held here, never newer ones, and
// are neither written again nor recorded in history here.
func TestApplyRemote(t *testing.T) {
	h := newHarness(t, "", nil)
	h.reg.SetLeader(false)
	now := h.clock.Now()
	h.reg.ApplyRemote([]hub.Instance{remoteInstance("orders", "o1", 1, 5, status.Critical, now)}, nil, h.clock.Now())
	if in, ok := held(h, "default/orders/o1"); !ok || in.Status() != status.Critical || in.Seq != 5 {
		t.Fatalf("remote instance not held: %+v", in)
	}
	h.reg.ApplyRemote([]hub.Instance{remoteInstance("orders", "o1", 1, 4, status.Passing, now)}, nil, h.clock.Now())
	if in, _ := held(h, "default/orders/o1"); in.Seq != 5 {
		t.Fatalf("an older remote state replaced a newer one: seq %d", in.Seq)
	}
	stale := remoteInstance("orders", "o1", 1, 5, status.Critical, now)
	stale.Stale = true
	h.reg.ApplyRemote([]hub.Instance{stale}, nil, h.clock.Now())
	if in, _ := held(h, "default/orders/o1"); !in.Stale {
		t.Fatal("the leader's stale mark of the same report was not taken")
	}
	if err := h.reg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, h); len(got) != 0 {
		t.Fatalf("remote changes were written again here: %v", got)
	}
	if hist, _ := history(t, h, "orders"); len(hist.Transitions) != 0 {
		t.Fatalf("remote changes were recorded here: %s", transitions(hist))
	}
	// A local report newer than the remote state, then its removal by the leader while the
	// local change is durable: removed.
	h.apply(report("orders", "o1", 1, 6, status.Passing))
	h.reg.ApplyRemote(nil, []hub.InstanceKey{{Tenant: "default", Service: "orders", Instance: "o1"}}, h.clock.Now())
	if _, ok := held(h, "default/orders/o1"); ok {
		t.Fatal("an instance the store no longer holds is still held")
	}
	// Resync drops what the store does not hold.
	h.reg.ApplyRemote([]hub.Instance{remoteInstance("billing", "b1", 1, 1, status.Passing, now)}, nil, h.clock.Now())
	h.reg.Resync([]hub.Instance{remoteInstance("orders", "o2", 1, 1, status.Passing, now)}, h.clock.Now())
	if _, ok := held(h, "default/billing/b1"); ok {
		t.Fatal("resync kept an instance the store does not hold")
	}
	if _, ok := held(h, "default/orders/o2"); !ok {
		t.Fatal("resync did not take the store's instance")
	}
}

// TestFollowerLeavesStalenessToTheLeader: a follower neither judges staleness nor acts on
// gossip; the leader judges from heartbeats any hub wrote, and a stale instance heard again
// through them is no longer stale.
func TestFollowerLeavesStalenessToTheLeader(t *testing.T) {
	h := newHarness(t, "", nil)
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	key := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}
	h.reg.SetLeader(false)
	if known, _, err := h.reg.ApplyGossip(context.Background(), key, 1, registry.GossipFailed); err != nil || !known {
		t.Fatalf("gossip on a follower: %v %v", known, err)
	}
	h.clock.Add(time.Minute)
	if err := h.reg.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if in, _ := held(h, key.String()); in.Stale || in.Unreachable {
		t.Fatalf("a follower judged the instance: %+v", in)
	}

	// Leading: the instance reports to another hub, whose heartbeats this hub reads.
	h.reg.SetLeader(true)
	h.reg.ApplyRemoteSeen([]hub.Heartbeat{{Key: key, Boot: 1, Seq: 9, LastSeen: h.clock.Now()}})
	if err := h.reg.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if in, _ := held(h, key.String()); in.Stale || in.Seq != 9 {
		t.Fatalf("the leader took an instance heard through the store for silent: %+v", in)
	}
	h.clock.Add(31 * time.Second)
	if err := h.reg.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if in, _ := held(h, key.String()); !in.Stale {
		t.Fatal("silent for stale_after intervals and not stale")
	}
	h.reg.ApplyRemoteSeen([]hub.Heartbeat{{Key: key, Boot: 1, Seq: 10, LastSeen: h.clock.Now()}})
	if in, _ := held(h, key.String()); in.Stale {
		t.Fatal("heard again through the store and still stale")
	}
	if err := h.reg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, h)[key.String()]; got.Stale || got.Seq != 10 {
		t.Fatalf("store after the instance was heard again: stale %v seq %d", got.Stale, got.Seq)
	}
	if hist, _ := history(t, h, "orders"); !strings.HasSuffix(transitions(hist), "o1/:passing>critical:stale o1/:critical>passing:reporting") {
		t.Fatalf("transitions: %s", transitions(hist))
	}
}

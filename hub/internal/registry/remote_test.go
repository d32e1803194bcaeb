package registry_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/bolt"
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
	in, _ := held(h, key.String())
	if in.Stale || !in.LastSeen.Equal(h.clock.Now()) {
		t.Fatalf("the leader took an instance heard through the store for silent: %+v", in)
	}
	if in.Seq != 1 {
		t.Fatalf("a heartbeat read from the store moved the held state's seq to %d: a write of that state would claim a newer report", in.Seq)
	}
	h.clock.Add(31 * time.Second)
	if err := h.reg.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if in, _ := held(h, key.String()); !in.Stale {
		t.Fatal("silent for stale_after intervals and not stale")
	}
	again := h.reg.ApplyRemoteSeen([]hub.Heartbeat{{Key: key, Boot: 1, Seq: 10, LastSeen: h.clock.Now()}})
	if len(again) != 1 || again[0] != key {
		t.Fatalf("heard again: %v, want the stale instance, to be read back", again)
	}
	if err := h.reg.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if in, _ := held(h, key.String()); in.Stale {
		t.Fatal("heard again through the store and still stale after the sweep")
	}
	if got := stored(t, h)[key.String()]; got.Stale {
		t.Fatalf("store after the instance was heard again: stale %v seq %d", got.Stale, got.Seq)
	}
	if hist, _ := history(t, h, "orders"); !strings.HasSuffix(transitions(hist), "o1/:passing>critical:stale o1/:critical>passing:reporting") {
		t.Fatalf("transitions: %s", transitions(hist))
	}
}

// refusingStore refuses puts of the keys in refuse, as a store shared with another hub does
// when that hub wrote a newer report, and reads instances back by key.
type refusingStore struct {
	hub.Store
	refuse map[hub.InstanceKey]hub.Instance // what the "other hub" wrote
}

func (s *refusingStore) WriteInstances(ctx context.Context, w hub.Writes) error {
	var refused []hub.InstanceKey
	puts := w.Puts[:0:0]
	for _, in := range w.Puts {
		if _, ok := s.refuse[in.Key]; ok {
			refused = append(refused, in.Key)
			continue
		}
		puts = append(puts, in)
	}
	w.Puts = puts
	if err := s.Store.WriteInstances(ctx, w); err != nil {
		return err
	}
	if len(refused) > 0 {
		return &hub.RefusedPutsError{Keys: refused}
	}
	return nil
}

func (s *refusingStore) LoadInstancesOf(_ context.Context, keys []hub.InstanceKey) ([]hub.Instance, error) {
	var out []hub.Instance
	for _, k := range keys {
		if in, ok := s.refuse[k]; ok {
			out = append(out, in)
		}
	}
	return out, nil
}

// TestRefusedPutTakesTheStoresCopy: a state change the store refuses (another hub wrote a newer
// report) is not retried as if pending: the registry takes the store's copy instead.
func TestRefusedPutTakesTheStoresCopy(t *testing.T) {
	h := newHarness(t, "", nil)
	key := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}
	newer := remoteInstance("orders", "o1", 1, 20, status.Warning, h.clock.Now())
	h.store.Store = &refusingStore{Store: h.store.Store, refuse: map[hub.InstanceKey]hub.Instance{key: newer}}
	if r := h.apply(report("orders", "o1", 1, 5, status.Critical)); r.Outcome != registry.Stored {
		t.Fatalf("a refused put answered %s", r.Outcome)
	}
	in, _ := held(h, key.String())
	if in.Seq != 20 || in.Status() != status.Warning {
		t.Fatalf("after a refused put the registry holds seq %d %s, want the store's seq 20 warning", in.Seq, in.Status())
	}
	if p := h.reg.StoreStats().PendingWrites; p != 0 {
		t.Fatalf("%d writes pending after a refused put", p)
	}
	if ok, _ := h.reg.StoreHealth(); !ok {
		t.Fatal("a refused put counted as a store failure")
	}
}

// TestRemoteNeverRevivesAPendingRemoval: an instance this hub removed, with the removal not
// yet written, is not brought back by another hub's older copy.
func TestRemoteNeverRevivesAPendingRemoval(t *testing.T) {
	h := newHarness(t, "", nil)
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	key := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}
	h.store.setFailing(true)
	if known, _, err := h.reg.ApplyGossip(context.Background(), key, 1, registry.GossipLeft); !known || err == nil {
		t.Fatalf("leave while the store fails: known %v, err %v (want the write to fail)", known, err)
	}
	h.reg.Resync([]hub.Instance{remoteInstance("orders", "o1", 1, 1, status.Passing, h.clock.Now())}, h.clock.Now())
	if _, ok := held(h, key.String()); ok {
		t.Fatal("a resync brought back an instance whose removal is waiting to be written")
	}
	h.store.setFailing(false)
	if err := h.reg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, h); len(got) != 0 {
		t.Fatalf("store after the removal was written: %v", got)
	}
}

// TestStopWritesEverySample: the final flush writes every queued history sample, not one
// transaction's worth.
func TestStopWritesEverySample(t *testing.T) {
	h := newHarness(t, "", nil)
	for i := range 1200 {
		h.apply(report("fleet", fmt.Sprintf("i%04d", i), 1, 1, status.Passing))
	}
	h.stop()
	st, err := bolt.OpenReadOnly(filepath.Join(h.dir, bolt.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := h.clock.Now()
	a, err := st.Availability(context.Background(), hub.HistoryQuery{Tenant: "default", Service: "fleet", Since: now.Add(-time.Hour), Until: now.Add(time.Hour)}, false)
	if err != nil || a.Samples != 1200 {
		t.Fatalf("samples after stop: %+v %v, want 1200", a, err)
	}
}

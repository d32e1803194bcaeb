package registry_test

import (
	"context"
	"testing"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/status"
)

// gossip applies c to key as news of its agent's boot 1, the boot report() uses in these tests.
func gossip(t *testing.T, h *harness, key hub.InstanceKey, c registry.GossipChange) bool {
	t.Helper()
	return gossipOfBoot(t, h, key, 1, c)
}

func gossipOfBoot(t *testing.T, h *harness, key hub.InstanceKey, boot int64, c registry.GossipChange) bool {
	t.Helper()
	known, _, err := h.reg.ApplyGossip(context.Background(), key, boot, c)
	if err != nil {
		t.Fatalf("apply gossip %s: %v", c, err)
	}
	return known
}

func instanceStatus(h *harness, key hub.InstanceKey) (status.Check, []registry.CheckView, bool) {
	for _, s := range h.reg.Health(registry.HealthQuery{Visible: func(string) bool { return true }}).Services {
		if s.Name != key.Service {
			continue
		}
		for _, in := range s.Instances {
			if in.Instance == key.Instance {
				return in.Status, in.Checks, true
			}
		}
	}
	return "", nil, false
}

func TestGossipFailedThenAlive(t *testing.T) {
	h := newHarness(t, "", nil)
	key := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}
	h.apply(report("orders", "o1", 1, 1, status.Passing))

	if !gossip(t, h, key, registry.GossipFailed) {
		t.Fatal("a reported instance must be known")
	}
	st, checks, _ := instanceStatus(h, key)
	if st != status.Critical || checks[0].Name != registry.GossipCheck || checks[0].Output != "agent unreachable (gossip)" {
		t.Fatalf("after failed: %s %+v, want critical with %s first", st, checks, registry.GossipCheck)
	}
	if got := stored(t, h)[key.String()]; !got.Unreachable || got.Status() != status.Critical {
		t.Fatalf("the store must hold the instance unreachable before ApplyGossip returns: %+v", got)
	}
	// A report of the same boot does not end it: only gossip does.
	if res := h.apply(report("orders", "o1", 1, 2, status.Passing)); res.Status != status.Critical {
		t.Fatalf("a same-boot report while unreachable: %s, want critical", res.Status)
	}
	gossip(t, h, key, registry.GossipAlive)
	if st, checks, _ := instanceStatus(h, key); st != status.Passing || len(checks) != 1 {
		t.Fatalf("after rejoin: %s %+v, want its reported passing", st, checks)
	}
	if got := stored(t, h)[key.String()]; got.Unreachable {
		t.Fatal("the store still holds the instance unreachable after rejoin")
	}
}

func TestGossipNewBootClearsUnreachable(t *testing.T) {
	h := newHarness(t, "", nil)
	key := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	gossip(t, h, key, registry.GossipFailed)
	if res := h.apply(report("orders", "o1", 2, 1, status.Passing)); res.Status != status.Passing {
		t.Fatalf("a restarted agent's report: %s, want passing", res.Status)
	}
}

func TestGossipLeftAndReapedRemove(t *testing.T) {
	for _, c := range []registry.GossipChange{registry.GossipLeft, registry.GossipReaped} {
		t.Run(c.String(), func(t *testing.T) {
			h := newHarness(t, "", nil)
			key := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}
			h.apply(report("orders", "o1", 1, 1, status.Passing))
			h.apply(report("orders", "o2", 1, 1, status.Passing))
			gossip(t, h, key, c)
			if _, _, ok := instanceStatus(h, key); ok {
				t.Fatal("the instance is still listed")
			}
			if _, ok := stored(t, h)[key.String()]; ok {
				t.Fatal("the instance is still in the store")
			}
			if _, _, ok := instanceStatus(h, hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o2"}); !ok {
				t.Fatal("its sibling went too")
			}
		})
	}
}

func TestGossipUnknownInstanceChangesNothing(t *testing.T) {
	h := newHarness(t, "", nil)
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	for _, c := range []registry.GossipChange{registry.GossipFailed, registry.GossipAlive, registry.GossipLeft} {
		if gossip(t, h, hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "rogue"}, c) {
			t.Fatalf("%s: an instance that never reported must be unknown", c)
		}
	}
	if got := h.reg.Counts(func(string) bool { return true }); got.Instances != 1 {
		t.Fatalf("gossip about a stranger changed the registry: %+v", got)
	}
}

func TestGossipUnreachableSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, nil)
	key := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	gossip(t, h, key, registry.GossipFailed)
	h.stop()
	h2 := newHarness(t, dir, nil)
	if st, _, _ := instanceStatus(h2, key); st != status.Critical {
		t.Fatalf("after restart: %s, want critical", st)
	}
}

// News of another process of the same agent — the one before a restart, or one that has not
// reported yet — leaves the registered instance alone.
func TestGossipOfAnotherBootChangesNothing(t *testing.T) {
	h := newHarness(t, "", nil)
	key := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}
	h.apply(report("orders", "o1", 2, 1, status.Passing))
	for _, c := range []registry.GossipChange{registry.GossipFailed, registry.GossipLeft} {
		for _, boot := range []int64{1, 3} {
			if gossipOfBoot(t, h, key, boot, c) {
				t.Fatalf("%s of boot %d was applied to boot 2", c, boot)
			}
		}
	}
	if st, _, ok := instanceStatus(h, key); !ok || st != status.Passing {
		t.Fatalf("after news of other boots: %s (listed %v), want passing", st, ok)
	}
}

// A gossip change reaches the cached summary and service status at once.
func TestGossipInvalidatesSummary(t *testing.T) {
	h := newHarness(t, "", nil)
	key := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	all := func(string) bool { return true }
	if s := h.reg.Summary("*", all); s.Status != "healthy" {
		t.Fatalf("before: %+v", s)
	}
	gossip(t, h, key, registry.GossipFailed)
	if s := h.reg.Summary("*", all); s.Status != "unhealthy" || s.Instances["critical"] != 1 {
		t.Fatalf("after failed: %+v, want unhealthy with one critical instance", s)
	}
	gossip(t, h, key, registry.GossipAlive)
	if s := h.reg.Summary("*", all); s.Status != "healthy" {
		t.Fatalf("after rejoin: %+v", s)
	}
}

func TestClearUnreachable(t *testing.T) {
	h := newHarness(t, "", nil)
	key := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	gossip(t, h, key, registry.GossipFailed)
	n, err := h.reg.ClearUnreachable(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("cleared %d, %v", n, err)
	}
	if got := stored(t, h)[key.String()]; got.Unreachable || got.Status() != status.Passing {
		t.Fatalf("the store still holds it unreachable: %+v", got)
	}
}

package registry_test

import (
	"testing"

	"github.com/centralhub/centralhub/hub/internal/graph"
	"github.com/centralhub/centralhub/pkg/status"
)

// The graph follows the registry: a status change after a cached build shows at once.
func TestGraphFollowsChanges(t *testing.T) {
	h := newHarness(t, "", nil)
	rep := report("orders", "o1", 1, 1, status.Passing)
	rep.DependsOn = []string{"payments"}
	h.apply(rep)
	all := func(string) bool { return true }
	g := h.reg.Graph("*", all)
	if n, ok := g.Lookup(graph.ID("default", "orders")); !ok || n.Status != "healthy" || len(g.Edges) != 1 {
		t.Fatalf("first build: %+v %v edges %v", n, ok, g.Edges)
	}
	if h.reg.Graph("*", all) != g {
		t.Fatal("an unchanged registry rebuilt its graph")
	}
	rep = report("orders", "o1", 1, 2, status.Critical)
	rep.DependsOn = []string{"payments"}
	h.apply(rep)
	if n, _ := h.reg.Graph("*", all).Lookup(graph.ID("default", "orders")); n.Status != "unhealthy" || !n.Unhealthy {
		t.Fatalf("after the change: %+v", n)
	}
}

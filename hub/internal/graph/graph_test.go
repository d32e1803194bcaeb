package graph_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub/internal/graph"
	"github.com/centralhub/centralhub/pkg/status"
)

func svc(name string, st status.Service, deps ...string) graph.Service {
	return graph.Service{Tenant: "t", Name: name, Status: st, DependsOn: deps}
}

func node(t *testing.T, g *graph.Graph, name string) graph.Node {
	t.Helper()
	n, ok := g.Lookup(graph.ID("t", name))
	if !ok {
		t.Fatalf("no node %s", name)
	}
	return n
}

func ids(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = graph.ID("t", n)
	}
	return out
}

// A → B → C, all unhealthy: C is the cause, B is impacted by C, A by B; the impact of C is B
// and A. A cycle D ⇄ E of unhealthy nodes beneath C: none suppresses the other, both causes,
// and C is impacted by both.
func TestRootCauseChainWithCycle(t *testing.T) {
	g := graph.Build([]graph.Service{
		svc("a", status.Unhealthy, "b"),
		svc("b", status.Degraded, "c"),
		svc("c", status.Unhealthy, "d"),
		svc("d", status.Unhealthy, "e"),
		svc("e", status.Unhealthy, "d"),
		svc("ok", status.Healthy, "a"),
	}, nil)
	cases := []struct {
		name       string
		impactedBy []string
		cause      bool
		impact     []string
	}{
		{"a", ids("b"), false, ids("ok")},
		{"b", ids("c"), false, ids("a", "ok")},
		{"c", ids("d"), false, ids("b", "a", "ok")},
		{"d", []string{}, true, ids("c", "e", "b", "a", "ok")},
		{"e", []string{}, true, ids("d", "c", "b", "a", "ok")},
		{"ok", []string{}, false, []string{}},
	}
	for _, tc := range cases {
		n := node(t, g, tc.name)
		if !slices.Equal(n.ImpactedBy, tc.impactedBy) || n.ProbableCause != tc.cause || !slices.Equal(n.Impact, tc.impact) {
			t.Errorf("%s: impacted_by %v cause %v impact %v; want %v %v %v", tc.name, n.ImpactedBy, n.ProbableCause, n.Impact,
				tc.impactedBy, tc.cause, tc.impact)
		}
	}
	if got := g.Causes(graph.ID("t", "a")); !slices.Equal(got, ids("d", "e")) {
		t.Fatalf("causes behind a: %v", got)
	}
	if len(g.Cycles) != 1 || !slices.Equal(g.Cycles[0], ids("d", "e")) {
		t.Fatalf("cycles %v", g.Cycles)
	}
	for _, e := range g.Edges {
		inCycle := strings.HasSuffix(e.From, "/d") && strings.HasSuffix(e.To, "/e") || strings.HasSuffix(e.From, "/e") && strings.HasSuffix(e.To, "/d")
		if e.Cycle != inCycle {
			t.Errorf("edge %+v: cycle %v, want %v", e, e.Cycle, inCycle)
		}
	}
	// An impact says through which of its own needs a service is affected, and how deep.
	want := []graph.Affected{{Service: "t/b", Via: "t/c", Depth: 1}, {Service: "t/a", Via: "t/b", Depth: 2}, {Service: "t/ok", Via: "t/a", Depth: 3}}
	if got := g.Impact(graph.ID("t", "c")); !slices.Equal(got, want) {
		t.Fatalf("impact of c: %+v, want %+v", got, want)
	}
}

func TestComponentsAndDeclaredNames(t *testing.T) {
	g := graph.Build([]graph.Service{
		{Tenant: "t", Name: "orders", Status: status.Degraded, DependsOn: []string{"payments", "postgres"}, Components: []string{"postgres"}},
		{Tenant: "t", Name: "cache", Status: status.Healthy, Components: []string{"cache"}}, // a component named like a service
		{Tenant: "u", Name: "orders", Status: status.Healthy, DependsOn: []string{"postgres"}},
	}, []graph.Component{
		{Tenant: "t", Name: "postgres", Kind: "tcp", Status: status.Critical, Critical: true, Runbook: "https://rb/pg"},
		{Tenant: "t", Name: "cache", Kind: "tcp", Status: status.Passing},
	})
	pg := node(t, g, "postgres")
	if pg.Kind != graph.KindComponent || pg.Status != "critical" || !pg.Critical || !pg.ProbableCause || pg.Runbook != "https://rb/pg" ||
		!slices.Equal(pg.Impact, ids("orders")) {
		t.Fatalf("postgres: %+v", pg)
	}
	if n := node(t, g, "payments"); n.Reported || n.Status != "unknown" || n.Kind != graph.KindService {
		t.Fatalf("a name only depends_on gives: %+v", n)
	}
	if n := node(t, g, "orders"); !slices.Equal(n.ImpactedBy, ids("postgres")) {
		t.Fatalf("orders: %+v", n)
	}
	if n := node(t, g, "cache"); n.Kind != graph.KindService || len(g.Cycles) != 1 || !slices.Equal(g.Cycles[0], ids("cache")) {
		t.Fatalf("a service probing a component of its own name is one node needing itself: %+v cycles %v", n, g.Cycles)
	}
	// Tenants never mix: u's orders needs u's postgres, an unreported name there.
	if n, ok := g.Lookup(graph.ID("u", "postgres")); !ok || n.Reported || len(n.Impact) != 0 {
		t.Fatalf("u/postgres: %+v %v", n, ok)
	}
	if got := g.Needs(graph.ID("t", "orders")); len(got) != 2 {
		t.Fatalf("orders needs %+v", got)
	}
	if got := g.NeededBy(graph.ID("t", "postgres")); len(got) != 1 || got[0].Name != "orders" {
		t.Fatalf("postgres is needed by %+v", got)
	}
}

func TestDOT(t *testing.T) {
	g := graph.Build([]graph.Service{svc("a", status.Unhealthy, "b"), svc("b", status.Healthy, "a"), svc(`q"x`, status.Healthy)}, nil)
	dot := g.DOT()
	for _, want := range []string{"digraph dependencies {", `"t/a" -> "t/b" [style=dashed`, `"t/q\"x" [label="q\"x\nhealthy"`, "}\n"} {
		if !strings.Contains(dot, want) {
			t.Fatalf("DOT lacks %q:\n%s", want, dot)
		}
	}
}

// A long chain must not exhaust the stack, and a big ring must end.
func TestLongChainAndRing(t *testing.T) {
	const n = 100_000
	var services []graph.Service
	for i := range n {
		st := status.Healthy
		if i == 0 {
			st = status.Unhealthy
		}
		services = append(services, svc(fmt.Sprintf("s%06d", i), st, fmt.Sprintf("s%06d", (i+1)%n)))
	}
	g := graph.Build(services, nil)
	if len(g.Cycles) != 1 || len(g.Cycles[0]) != n {
		t.Fatalf("one ring of %d expected, got %d cycles", n, len(g.Cycles))
	}
	if len(g.Impact(graph.ID("t", "s000000"))) != n-1 {
		t.Fatal("every other node of the ring depends on s000000")
	}
}

// bigGraph is 10,000 nodes (9,000 services and 1,000 components) and 30,000 edges, with a
// share of them unhealthy.
func bigGraph(tb testing.TB) *graph.Graph {
	tb.Helper()
	rnd := rand.New(rand.NewPCG(1, 2))
	var services []graph.Service
	var comps []graph.Component
	const nsvc, ncomp = 9000, 1000
	for i := range ncomp {
		st := status.Passing
		if i%50 == 0 {
			st = status.Critical
		}
		comps = append(comps, graph.Component{Tenant: "t", Name: fmt.Sprintf("c%04d", i), Kind: "tcp", Status: st})
	}
	for i := range nsvc {
		s := graph.Service{Tenant: "t", Name: fmt.Sprintf("s%04d", i), Status: status.Healthy}
		if i%20 == 0 {
			s.Status = status.Degraded
		}
		// 3 or 4 distinct needs each, 30,000 in all: components, and older services (layered)
		want := 3
		if i < 3000 {
			want = 4
		}
		seen := map[string]bool{}
		for len(seen) < want {
			name := fmt.Sprintf("c%04d", rnd.IntN(ncomp))
			if i > 0 && rnd.IntN(3) > 0 {
				name = fmt.Sprintf("s%04d", rnd.IntN(i))
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			if name[0] == 'c' {
				s.Components = append(s.Components, name)
			} else {
				s.DependsOn = append(s.DependsOn, name)
			}
		}
		services = append(services, s)
	}
	return graph.Build(services, comps)
}

// BenchmarkImpact is one impact query on 10,000 nodes and 30,000 edges; it reports the p99 of
// single queries over a set of nodes chosen to depend on much (components, old services).
func BenchmarkImpact(b *testing.B) {
	g := bigGraph(b)
	if len(g.Nodes) != 10_000 || len(g.Edges) != 30_000 {
		b.Fatalf("graph of %d nodes, %d edges", len(g.Nodes), len(g.Edges))
	}
	targets := []string{}
	for i := range 100 {
		targets = append(targets, graph.ID("t", fmt.Sprintf("c%04d", i*10)), graph.ID("t", fmt.Sprintf("s%04d", i)))
	}
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		_ = g.Impact(targets[i%len(targets)])
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkBuild builds the 10,000-node graph, impact of every unhealthy node included.
func BenchmarkBuild(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = bigGraph(b)
	}
}

// A cycle F ⇄ G above an unhealthy H that only F needs: the cycle is one unit, so G is
// impacted by H through F, and neither is a cause; H alone is.
func TestCycleAboveACauseIsImpactedAsAWhole(t *testing.T) {
	g := graph.Build([]graph.Service{
		svc("f", status.Unhealthy, "g", "h"),
		svc("g", status.Unhealthy, "f"),
		svc("h", status.Unhealthy),
	}, nil)
	for _, tc := range []struct {
		name       string
		impactedBy []string
		cause      bool
	}{
		{"f", ids("h"), false},
		{"g", ids("h"), false},
		{"h", []string{}, true},
	} {
		n := node(t, g, tc.name)
		if !slices.Equal(n.ImpactedBy, tc.impactedBy) || n.ProbableCause != tc.cause {
			t.Errorf("%s: impacted_by %v cause %v; want %v %v", tc.name, n.ImpactedBy, n.ProbableCause, tc.impactedBy, tc.cause)
		}
	}
	// Through a healthy cycle-mate nothing passes: G alone is unhealthy, F is well.
	g = graph.Build([]graph.Service{
		svc("f", status.Healthy, "g", "h"),
		svc("g", status.Unhealthy, "f"),
		svc("h", status.Unhealthy),
	}, nil)
	if n := node(t, g, "g"); len(n.ImpactedBy) != 0 || !n.ProbableCause {
		t.Errorf("g beside a healthy cycle-mate: impacted_by %v cause %v", n.ImpactedBy, n.ProbableCause)
	}
}

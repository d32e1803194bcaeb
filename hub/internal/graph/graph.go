// Package graph is the dependency graph of services and the infrastructure components they
// probe: what each node needs, what depends on it (transitively), which unhealthy nodes are
// impacted by others and which are the probable causes. Cycles are found and reported; no
// walk ever loops on one.
package graph

import (
	"cmp"
	"slices"
	"strings"

	"github.com/centralhub/centralhub/pkg/status"
)

// Kind says what a node is.
type Kind string

// The node kinds.
const (
	KindService   Kind = "service"
	KindComponent Kind = "component"
)

// Service is a service as the graph needs it.
type Service struct {
	Tenant     string
	Name       string
	Status     status.Service
	Runbook    string
	DependsOn  []string // names of services or components of the same tenant
	Components []string // components its checks probe
}

// Component is an infrastructure component as the checks that probe it see it.
type Component struct {
	Tenant   string
	Name     string
	Kind     string // the kind of check that probes it (tcp, http, postgres, ...)
	Status   status.Check
	Critical bool
	Runbook  string
}

// Node is one node of the graph. Its ID, tenant/name, is unique: within a tenant a name is one
// node, a service when some service reported under it, else a component.
type Node struct {
	ID       string `json:"id"`
	Tenant   string `json:"tenant"`
	Name     string `json:"name"`
	Kind     Kind   `json:"kind"`
	Status   string `json:"status"`
	Critical bool   `json:"critical"`
	// Reported is false for a name that only appears in some service's depends_on.
	Reported bool   `json:"reported"`
	Runbook  string `json:"runbook,omitempty"`
	// Unhealthy is set for a degraded or unhealthy service and a warning or critical component.
	Unhealthy bool `json:"unhealthy"`
	// ImpactedBy lists, for an unhealthy node, its unhealthy direct dependencies outside its
	// own cycle; ProbableCause is set for an unhealthy node with none (the deepest).
	ImpactedBy    []string `json:"impacted_by"`
	ProbableCause bool     `json:"probable_cause"`
	// Impact lists, for an unhealthy node, every service that depends on it, transitively.
	Impact []string `json:"impact"`
}

// Edge says From needs To. Cycle is set for an edge inside a cycle.
type Edge struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Cycle bool   `json:"cycle"`
}

// Graph is a built dependency graph; it is read-only and safe for concurrent use.
type Graph struct {
	Nodes  []Node     `json:"nodes"`  // sorted by ID
	Edges  []Edge     `json:"edges"`  // sorted by From, To
	Cycles [][]string `json:"cycles"` // each the IDs of one cycle, sorted; cycles sorted by first ID

	index map[string]int // ID → position in Nodes
	deps  [][]int        // node → nodes it needs
	rdeps [][]int        // node → nodes that need it
	scc   []int          // node → its strongly connected component
	// members lists each strongly connected component's nodes.
	members map[int][]int
	// impacts keeps what judge computed for each unhealthy node, for Impact.
	impacts map[int][]Affected
}

// ID is the node ID of name in tenant.
func ID(tenant, name string) string { return tenant + "/" + name }

// Build returns the graph of services and components. Every depends_on name becomes a node:
// the service or component of that name in the same tenant, or an unreported service.
func Build(services []Service, components []Component) *Graph {
	g := &Graph{index: map[string]int{}}
	add := func(n Node) int {
		if i, ok := g.index[n.ID]; ok {
			return i
		}
		g.index[n.ID] = len(g.Nodes)
		g.Nodes = append(g.Nodes, n)
		return len(g.Nodes) - 1
	}
	for _, s := range services {
		add(Node{ID: ID(s.Tenant, s.Name), Tenant: s.Tenant, Name: s.Name, Kind: KindService, Status: string(s.Status),
			Reported: true, Runbook: s.Runbook, Unhealthy: s.Status == status.Degraded || s.Status == status.Unhealthy})
	}
	for _, c := range components {
		id := ID(c.Tenant, c.Name)
		if i, ok := g.index[id]; ok { // a service of the same name: one node
			g.Nodes[i].Critical = g.Nodes[i].Critical || c.Critical
			continue
		}
		add(Node{ID: id, Tenant: c.Tenant, Name: c.Name, Kind: KindComponent, Status: string(c.Status), Critical: c.Critical,
			Reported: true, Runbook: c.Runbook, Unhealthy: c.Status == status.Warning || c.Status == status.Critical})
	}
	type pair struct{ from, to int }
	seen := map[pair]bool{}
	var edges []pair
	link := func(from int, tenant, name string) {
		to, ok := g.index[ID(tenant, name)]
		if !ok {
			to = add(Node{ID: ID(tenant, name), Tenant: tenant, Name: name, Kind: KindService, Status: string(status.ServiceUnknown)})
		}
		if p := (pair{from, to}); !seen[p] {
			seen[p] = true
			edges = append(edges, p)
		}
	}
	for _, s := range services {
		from := g.index[ID(s.Tenant, s.Name)]
		for _, d := range s.DependsOn {
			link(from, s.Tenant, d)
		}
		for _, c := range s.Components {
			link(from, s.Tenant, c)
		}
	}

	// Sort nodes by ID and renumber.
	order := make([]int, len(g.Nodes))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(g.Nodes[a].ID, g.Nodes[b].ID) })
	renum := make([]int, len(order))
	nodes := make([]Node, len(order))
	for newI, oldI := range order {
		renum[oldI] = newI
		nodes[newI] = g.Nodes[oldI]
		g.index[nodes[newI].ID] = newI
	}
	g.Nodes = nodes
	n := len(nodes)
	g.deps, g.rdeps = make([][]int, n), make([][]int, n)
	for _, e := range edges {
		from, to := renum[e.from], renum[e.to]
		g.deps[from] = append(g.deps[from], to)
		g.rdeps[to] = append(g.rdeps[to], from)
	}
	g.scc = stronglyConnected(g.deps)
	g.findCycles()
	g.Edges = make([]Edge, 0, len(edges))
	for from, tos := range g.deps {
		slices.Sort(tos)
		for _, to := range tos {
			g.Edges = append(g.Edges, Edge{From: nodes[from].ID, To: nodes[to].ID, Cycle: g.scc[from] == g.scc[to]})
		}
	}
	for i := range g.rdeps {
		slices.Sort(g.rdeps[i])
	}
	g.judge()
	return g
}

// findCycles fills Cycles from the strongly connected components with more than one node or
// a node that needs itself.
func (g *Graph) findCycles() {
	g.members = map[int][]int{}
	for i, c := range g.scc {
		g.members[c] = append(g.members[c], i)
	}
	for _, ms := range g.members {
		if len(ms) == 1 && !slices.Contains(g.deps[ms[0]], ms[0]) {
			continue
		}
		ids := make([]string, len(ms))
		for i, m := range ms {
			ids[i] = g.Nodes[m].ID
		}
		slices.Sort(ids)
		g.Cycles = append(g.Cycles, ids)
	}
	slices.SortFunc(g.Cycles, func(a, b []string) int { return cmp.Compare(a[0], b[0]) })
	if g.Cycles == nil {
		g.Cycles = [][]string{}
	}
}

// judge marks what impacts each unhealthy node, the probable causes, and every unhealthy
// node's impact.
func (g *Graph) judge() {
	g.impacts = map[int][]Affected{}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		n.ImpactedBy, n.Impact = []string{}, []string{}
		if !n.Unhealthy {
			continue
		}
		// A cycle is one unit: an unhealthy node is impacted by what its unhealthy cycle-mates
		// need outside the cycle, as much as by what it needs itself.
		for _, m := range g.members[g.scc[i]] {
			if m != i && !g.Nodes[m].Unhealthy {
				continue
			}
			for _, d := range g.deps[m] {
				if g.Nodes[d].Unhealthy && g.scc[d] != g.scc[i] && !slices.Contains(n.ImpactedBy, g.Nodes[d].ID) {
					n.ImpactedBy = append(n.ImpactedBy, g.Nodes[d].ID)
				}
			}
		}
		slices.Sort(n.ImpactedBy)
		n.ProbableCause = len(n.ImpactedBy) == 0
		g.impacts[i] = g.affected(i)
		for _, a := range g.impacts[i] {
			n.Impact = append(n.Impact, a.Service)
		}
	}
}

// Affected is a service that depends on a node, directly or through others.
type Affected struct {
	Service string `json:"service"` // its node ID
	// Via is the service's own dependency through which it needs the node (the node itself
	// when Depth is 1).
	Via   string `json:"via"`
	Depth int    `json:"depth"` // edges from the service down to the node
}

// affected walks the dependents of node breadth first (each node once, so cycles end) and
// returns the services among them, nearest first, then by ID.
func (g *Graph) affected(node int) []Affected {
	type seen struct{ via, depth int }
	visited := map[int]seen{node: {via: node}}
	queue := []int{node}
	var out []Affected
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, r := range g.rdeps[cur] {
			if _, ok := visited[r]; ok {
				continue
			}
			visited[r] = seen{via: cur, depth: visited[cur].depth + 1}
			queue = append(queue, r)
			if g.Nodes[r].Kind == KindService {
				out = append(out, Affected{Service: g.Nodes[r].ID, Via: g.Nodes[cur].ID, Depth: visited[r].depth})
			}
		}
	}
	return out
}

// Lookup returns the node with id.
func (g *Graph) Lookup(id string) (Node, bool) {
	i, ok := g.index[id]
	if !ok {
		return Node{}, false
	}
	return g.Nodes[i], true
}

// Impact returns the services that depend on id, transitively, nearest first; nil for an
// unknown id.
func (g *Graph) Impact(id string) []Affected {
	i, ok := g.index[id]
	if !ok {
		return nil
	}
	if a, ok := g.impacts[i]; ok {
		return slices.Clone(a)
	}
	return g.affected(i)
}

// Needs returns the nodes id needs directly.
func (g *Graph) Needs(id string) []Node { return g.neighbours(id, g.deps) }

// NeededBy returns the nodes that need id directly.
func (g *Graph) NeededBy(id string) []Node { return g.neighbours(id, g.rdeps) }

func (g *Graph) neighbours(id string, adj [][]int) []Node {
	i, ok := g.index[id]
	if !ok {
		return nil
	}
	out := make([]Node, 0, len(adj[i]))
	for _, j := range adj[i] {
		out = append(out, g.Nodes[j])
	}
	return out
}

// Causes returns the probable causes behind id: the unhealthy nodes with nothing unhealthy
// beneath them that id reaches through unhealthy nodes; id itself when it is one.
func (g *Graph) Causes(id string) []string {
	i, ok := g.index[id]
	if !ok || !g.Nodes[i].Unhealthy {
		return nil
	}
	seen := map[int]bool{i: true}
	stack := []int{i}
	var out []string
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if g.Nodes[cur].ProbableCause {
			out = append(out, g.Nodes[cur].ID)
		}
		for _, d := range g.deps[cur] {
			if g.Nodes[d].Unhealthy && !seen[d] {
				seen[d] = true
				stack = append(stack, d)
			}
		}
	}
	slices.Sort(out)
	return out
}

// DOT renders the graph in Graphviz's DOT language: dependents above what they need, unhealthy
// nodes filled, cycle edges dashed.
func (g *Graph) DOT() string {
	var b strings.Builder
	b.WriteString("digraph dependencies {\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\"];\n")
	for _, n := range g.Nodes {
		shape := "box"
		if n.Kind == KindComponent {
			shape = "cylinder"
		}
		b.WriteString("  " + quote(n.ID) + " [label=" + quote(n.Name+"\n"+n.Status) + ", shape=" + shape +
			", fillcolor=" + quote(fill(n)) + "];\n")
	}
	for _, e := range g.Edges {
		attrs := ""
		if e.Cycle {
			attrs = " [style=dashed, color=\"#b00020\"]"
		}
		b.WriteString("  " + quote(e.From) + " -> " + quote(e.To) + attrs + ";\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func fill(n Node) string {
	switch n.Status {
	case string(status.Healthy), string(status.Passing):
		return "#d7f5dd"
	case string(status.Degraded), string(status.Warning):
		return "#fff1c2"
	case string(status.Unhealthy), string(status.Critical):
		return "#ffd0d0"
	}
	return "#e6e6e6"
}

// quote makes s a DOT string literal.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// stronglyConnected returns each node's strongly connected component number (Tarjan's
// algorithm, iterative so that a long chain cannot exhaust the stack).
func stronglyConnected(adj [][]int) []int {
	n := len(adj)
	index, low, comp := make([]int, n), make([]int, n), make([]int, n)
	for i := range index {
		index[i], comp[i] = -1, -1
	}
	onStack := make([]bool, n)
	var stack []int
	next, comps := 0, 0
	type frame struct{ v, edge int }
	for root := range n {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{root, 0}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			if f.edge < len(adj[f.v]) {
				w := adj[f.v][f.edge]
				f.edge++
				switch {
				case index[w] < 0:
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{w, 0})
				case onStack[w]:
					low[f.v] = min(low[f.v], index[w])
				}
				continue
			}
			v := f.v
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].v
				low[p] = min(low[p], low[v])
			}
			if low[v] == index[v] {
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp[w] = comps
					if w == v {
						break
					}
				}
				comps++
			}
		}
	}
	return comp
}

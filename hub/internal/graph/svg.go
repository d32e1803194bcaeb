package graph

import (
	"cmp"
	"fmt"
	"html"
	"slices"
	"strings"
	"unicode/utf8"
)

// Layout constants of SVG, in pixels. Labels are set in a monospace face, so that their width
// follows from their length.
const (
	svgFontSize  = 12
	svgCharWidth = 7.3 // advance of one monospace character at svgFontSize (DejaVu Sans Mono: 0.602 em)
	svgPadX      = 10
	svgBoxHeight = 38
	svgGapX      = 24
	svgRowGap    = 56
	svgMargin    = 20
)

// Box is where SVG draws a node.
type Box struct {
	ID         string
	X, Y, W, H float64
	Layer      int // 0 is the top row
}

// Layout places the nodes in rows so that every edge outside a cycle points from a dependent
// down to what it needs: a node's row is below all its dependents' rows. Nodes of one cycle
// share a row. Within a row boxes are ordered to keep edges short and never overlap.
func (g *Graph) Layout() (boxes []Box, width, height float64) {
	n := len(g.Nodes)
	// On the graph of cycles (each strongly connected set one vertex, which has no cycle), a
	// vertex's depth is the longest chain of needs below it; members of a cycle share theirs.
	members := map[int][]int{}
	for i := range n {
		members[g.scc[i]] = append(members[g.scc[i]], i)
	}
	sccDepth := map[int]int{}
	var visit func(c int) int
	visit = func(c int) int {
		if d, ok := sccDepth[c]; ok {
			return d
		}
		d := 0
		for _, i := range members[c] {
			for _, j := range g.deps[i] {
				if g.scc[j] != c {
					d = max(d, visit(g.scc[j])+1)
				}
			}
		}
		sccDepth[c] = d
		return d
	}
	depth := make([]int, n)
	maxDepth := 0
	for i := range n {
		depth[i] = visit(g.scc[i])
		maxDepth = max(maxDepth, depth[i])
	}
	rows := make([][]int, maxDepth+1)
	for i := range n {
		layer := maxDepth - depth[i] // the deepest needs at the bottom
		rows[layer] = append(rows[layer], i)
	}
	// order each row by the mean position of the row above (its dependents), a few sweeps
	pos := make([]float64, n)
	for _, row := range rows {
		slices.SortFunc(row, func(a, b int) int { return cmp.Compare(g.Nodes[a].ID, g.Nodes[b].ID) })
		for k, i := range row {
			pos[i] = float64(k)
		}
	}
	for range 4 {
		for r := 1; r < len(rows); r++ {
			bary := map[int]float64{}
			for _, i := range rows[r] {
				sum, cnt := 0.0, 0
				for _, p := range g.rdeps[i] {
					sum += pos[p]
					cnt++
				}
				bary[i] = pos[i]
				if cnt > 0 {
					bary[i] = sum / float64(cnt)
				}
			}
			slices.SortStableFunc(rows[r], func(a, b int) int { return cmp.Compare(bary[a], bary[b]) })
			for k, i := range rows[r] {
				pos[i] = float64(k)
			}
		}
	}
	boxes = make([]Box, 0, n)
	for r, row := range rows {
		x := float64(svgMargin)
		for _, i := range row {
			w := labelWidth(g.Nodes[i]) + 2*svgPadX
			boxes = append(boxes, Box{ID: g.Nodes[i].ID, X: x, Y: float64(svgMargin + r*(svgBoxHeight+svgRowGap)), W: w, H: svgBoxHeight, Layer: r})
			x += w + svgGapX
		}
		width = max(width, x-svgGapX+svgMargin)
	}
	height = float64(2*svgMargin + len(rows)*svgBoxHeight + (len(rows)-1)*svgRowGap)
	return boxes, width, height
}

// labelWidth is the width of a node's widest label line.
func labelWidth(n Node) float64 {
	return float64(max(utf8.RuneCountInString(n.Name), utf8.RuneCountInString(statusLine(n)))) * svgCharWidth
}

func statusLine(n Node) string {
	s := n.Status
	if n.Kind == KindComponent {
		s = "component · " + s
	}
	if n.Critical {
		s += " · critical"
	}
	return s
}

// SVG draws the graph laid out by Layout: a box per node (filled by status, unhealthy nodes
// outlined, probable causes outlined thick), an arrow from each dependent down to what it
// needs, and cycle edges dashed. Every node is a link target with its ID as element id.
func (g *Graph) SVG() string {
	boxes, width, height := g.Layout()
	at := make(map[string]Box, len(boxes))
	for _, b := range boxes {
		at[b.ID] = b
	}
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="DejaVu Sans Mono, monospace" font-size="%d">`+"\n",
		width, height, width, height, svgFontSize)
	s.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>` + "\n")
	for _, e := range g.Edges {
		from, to := at[e.From], at[e.To]
		x1, y1 := from.X+from.W/2, from.Y+from.H
		x2, y2 := to.X+to.W/2, to.Y
		if e.Cycle {
			// a cycle edge: a dashed curve beside the boxes, whatever their rows
			x1, y1, x2, y2 = from.X+from.W, from.Y+from.H/2, to.X+to.W, to.Y+to.H/2
			bend := max(x1, x2) + 30
			fmt.Fprintf(&s, `<path class="edge cycle" data-from="%s" data-to="%s" d="M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" stroke="#b00020" stroke-dasharray="5,4" marker-end="url(#arrow)"/>`+"\n",
				esc(e.From), esc(e.To), x1, y1, bend, y1, bend, y2, x2, y2)
			continue
		}
		fmt.Fprintf(&s, `<line class="edge" data-from="%s" data-to="%s" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555" marker-end="url(#arrow)"/>`+"\n",
			esc(e.From), esc(e.To), x1, y1, x2, y2)
	}
	for _, n := range g.Nodes {
		b := at[n.ID]
		stroke, sw := "#777", 1
		if n.Unhealthy {
			stroke, sw = "#b00020", 2
		}
		if n.ProbableCause {
			sw = 4
		}
		fmt.Fprintf(&s, `<g class="node" id="%s" data-status="%s"><title>%s</title>`, esc(n.ID), esc(n.Status), esc(n.ID+": "+statusLine(n)))
		fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="6" fill="%s" stroke="%s" stroke-width="%d"/>`,
			b.X, b.Y, b.W, b.H, fill(n), stroke, sw)
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f">%s</text>`, b.X+svgPadX, b.Y+16, esc(n.Name))
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" fill="#333">%s</text></g>`+"\n", b.X+svgPadX, b.Y+31, esc(statusLine(n)))
	}
	s.WriteString("</svg>\n")
	return s.String()
}

func esc(s string) string { return html.EscapeString(s) }

package graph_test

import (
	"encoding/xml"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/centralhub/centralhub/hub/internal/graph"
	"github.com/centralhub/centralhub/pkg/status"
)

// sixtyNodes is a 60-node graph: 45 services in layers with long and short names, 15
// components, and a cycle of three services.
func sixtyNodes() *graph.Graph {
	var services []graph.Service
	var comps []graph.Component
	for i := range 15 {
		st := status.Passing
		if i%4 == 0 {
			st = status.Critical
		}
		comps = append(comps, graph.Component{Tenant: "t", Name: fmt.Sprintf("db-%02d", i), Kind: "tcp", Status: st, Critical: i == 0})
	}
	for i := range 45 {
		name := fmt.Sprintf("svc-%02d", i)
		if i%7 == 0 {
			name = fmt.Sprintf("a-rather-long-service-name-%02d", i)
		}
		s := graph.Service{Tenant: "t", Name: name, Status: []status.Service{status.Healthy, status.Degraded, status.Unhealthy}[i%3]}
		s.Components = []string{fmt.Sprintf("db-%02d", i%15)}
		if i >= 5 {
			prev := services[i-5].Name
			s.DependsOn = append(s.DependsOn, prev)
		}
		if i >= 9 {
			s.DependsOn = append(s.DependsOn, services[i-9].Name)
		}
		services = append(services, s)
	}
	// a cycle: svc-40 → svc-41 → svc-43 → svc-40
	services[40].DependsOn = append(services[40].DependsOn, services[41].Name)
	services[41].DependsOn = append(services[41].DependsOn, services[43].Name)
	services[43].DependsOn = append(services[43].DependsOn, services[40].Name)
	return graph.Build(services, comps)
}

type svgDoc struct {
	Lines []struct {
		Class string  `xml:"class,attr"`
		From  string  `xml:"data-from,attr"`
		To    string  `xml:"data-to,attr"`
		Y1    float64 `xml:"y1,attr"`
		Y2    float64 `xml:"y2,attr"`
	} `xml:"line"`
	Paths []struct {
		Class string `xml:"class,attr"`
	} `xml:"path"`
	Nodes []struct {
		ID        string `xml:"id,attr"`
		RectAttrs struct {
			X      float64 `xml:"x,attr"`
			Y      float64 `xml:"y,attr"`
			Width  float64 `xml:"width,attr"`
			Height float64 `xml:"height,attr"`
		} `xml:"rect"`
		Texts []struct {
			X    float64 `xml:"x,attr"`
			Body string  `xml:",chardata"`
		} `xml:"text"`
	} `xml:"g"`
}

func TestSVGLayout(t *testing.T) {
	g := sixtyNodes()
	if len(g.Nodes) != 60 || len(g.Cycles) != 1 {
		t.Fatalf("%d nodes, cycles %v", len(g.Nodes), g.Cycles)
	}
	var doc svgDoc
	if err := xml.Unmarshal([]byte(g.SVG()), &doc); err != nil {
		t.Fatalf("the SVG is not XML: %v", err)
	}
	if len(doc.Nodes) != 60 {
		t.Fatalf("%d node groups", len(doc.Nodes))
	}
	type rect struct{ x, y, w, h float64 }
	rects := map[string]rect{}
	for _, n := range doc.Nodes {
		r := rect{n.RectAttrs.X, n.RectAttrs.Y, n.RectAttrs.Width, n.RectAttrs.Height}
		for id, o := range rects {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				t.Fatalf("boxes of %s and %s overlap: %+v %+v", n.ID, id, r, o)
			}
		}
		rects[n.ID] = r
		// labels inside their box, by the monospace advance (the browser test measures it)
		for _, tx := range n.Texts {
			right := tx.X + float64(utf8.RuneCountInString(tx.Body))*7.3
			if tx.X < r.x || right > r.x+r.w {
				t.Fatalf("label %q of %s (%.1f–%.1f) outside its box (%.1f–%.1f)", tx.Body, n.ID, tx.X, right, r.x, r.x+r.w)
			}
		}
	}
	cycleEdges := 0
	for _, e := range g.Edges {
		if e.Cycle {
			cycleEdges++
		}
	}
	if len(doc.Paths) != cycleEdges || cycleEdges != 3 {
		t.Fatalf("cycle edges drawn %d, in the graph %d, want 3", len(doc.Paths), cycleEdges)
	}
	for _, p := range doc.Paths {
		if p.Class != "edge cycle" {
			t.Fatalf("cycle edge class %q", p.Class)
		}
	}
	if len(doc.Lines)+len(doc.Paths) != len(g.Edges) {
		t.Fatalf("%d lines + %d paths for %d edges", len(doc.Lines), len(doc.Paths), len(g.Edges))
	}
	for _, l := range doc.Lines {
		from, to := rects[l.From], rects[l.To]
		if !(from.y+from.h <= to.y) || l.Y1 != from.y+from.h || l.Y2 != to.y {
			t.Fatalf("edge %s → %s does not point down from the dependent to what it needs: %+v → %+v", l.From, l.To, from, to)
		}
	}
	if !strings.Contains(g.SVG(), `data-status="critical"`) {
		t.Fatal("no status on the node groups")
	}
}

func TestSVGEscapes(t *testing.T) {
	g := graph.Build([]graph.Service{{Tenant: "t", Name: `<b>&"x"`, Status: status.Healthy}}, nil)
	var doc svgDoc
	if err := xml.Unmarshal([]byte(g.SVG()), &doc); err != nil || doc.Nodes[0].Texts[0].Body != `<b>&"x"` {
		t.Fatalf("%v %+v", err, doc.Nodes)
	}
}

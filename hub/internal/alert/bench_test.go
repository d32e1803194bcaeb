package alert

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/bolt"
	"github.com/centralhub/centralhub/hub/internal/graph"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// fixedWorld serves one snapshot and one graph, as the registry's caches do between changes.
type fixedWorld struct {
	t *registry.Troubles
	g *graph.Graph
}

func (w *fixedWorld) Troubles() *registry.Troubles                   { return w.t }
func (w *fixedWorld) Graph(string, registry.Visibility) *graph.Graph { return w.g }

// benchRules is the 6 built-ins and 44 user rules of every subject, half with regular
// expressions.
func benchRules(b *testing.B) []*Rule {
	var user []RuleConfig
	for i := range 44 {
		c := RuleConfig{Name: fmt.Sprintf("user-%d", i), Severity: hub.SeverityWarning}
		switch i % 4 {
		case 0:
			c.State, c.MatchRE = StateWarning, map[string]string{"check": fmt.Sprintf("db-%d.*", i), "service": "svc-.*"}
		case 1:
			c.State, c.Match = StateCritical, map[string]string{"service": fmt.Sprintf("svc-%d", i)}
		case 2:
			c.State, c.MatchRE = StateUnhealthy, map[string]string{"service": fmt.Sprintf("svc-%d.*", i)}
		case 3:
			c.State, c.Match = StateCritical, map[string]string{"component": fmt.Sprintf("comp-%d", i)}
		}
		user = append(user, c)
	}
	rules, err := CompileRules(nil, user)
	if err != nil {
		b.Fatal(err)
	}
	if len(rules) != 50 {
		b.Fatalf("%d rules", len(rules))
	}
	return rules
}

// benchWorld is 10,000 instances of 1,000 services (10 each, 3 checks each, one probing one of
// 50 components), of which share are critical.
func benchWorld(share float64) *fixedWorld {
	const services, per = 1000, 10
	t := &registry.Troubles{Totals: map[string]int{"default": services * per}}
	var gs []graph.Service
	var comps []graph.Component
	for c := range 50 {
		comps = append(comps, graph.Component{Tenant: "default", Name: fmt.Sprintf("comp-%d", c), Kind: "tcp", Status: status.Passing})
	}
	bad := int(share * services * per)
	for s := range services {
		name := fmt.Sprintf("svc-%d", s)
		st := status.Healthy
		for i := range per {
			n := s*per + i
			if n >= bad {
				continue
			}
			st = status.Degraded
			t.Instances = append(t.Instances, registry.Trouble{
				Key:    hub.InstanceKey{Tenant: "default", Service: name, Instance: fmt.Sprintf("i-%d", i)},
				Status: status.Critical,
				Checks: []protocol.CheckResult{
					{Name: fmt.Sprintf("db-%d", s%50), Status: status.Warning, Component: fmt.Sprintf("comp-%d", s%50), Output: "slow"},
					{Name: "web", Status: status.Critical, Output: "connection refused"},
				},
			})
		}
		gs = append(gs, graph.Service{Tenant: "default", Name: name, Status: st, Components: []string{fmt.Sprintf("comp-%d", s%50)},
			DependsOn: chain(s)})
	}
	return &fixedWorld{t: t, g: graph.Build(gs, comps)}
}

// countingStore counts the alerts written.
type countingStore struct {
	hub.AlertStore
	written int
}

func (s *countingStore) WriteAlerts(ctx context.Context, w hub.AlertWrites) error {
	s.written += len(w.Alerts)
	return s.AlertStore.WriteAlerts(ctx, w)
}

// chain makes the services chains of ten, each needing the next.
func chain(s int) []string {
	if s%10 == 9 {
		return nil
	}
	return []string{fmt.Sprintf("svc-%d", s+1)}
}

// BenchmarkEvaluate judges 10,000 instances against 50 rules per evaluation, in the steady
// state (alerts already held, nothing new to write), with 10% or all of the instances critical.
func BenchmarkEvaluate(b *testing.B) {
	for _, share := range []float64{0.1, 1} {
		b.Run(fmt.Sprintf("instances=10000/rules=50/critical=%d%%", int(share*100)), func(b *testing.B) {
			store, err := bolt.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			c := &clock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
			cfg := DefaultConfig()
			cfg.Rules, cfg.Now = benchRules(b), c.Now
			cs := &countingStore{AlertStore: store}
			e, err := New(context.Background(), cfg, benchWorld(share), cs, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for range 2 { // pending, then firing
				if err := e.Evaluate(ctx); err != nil {
					b.Fatal(err)
				}
				c.add(time.Minute)
			}
			b.ReportMetric(float64(len(e.active)), "alerts")
			if err := e.Evaluate(ctx); err != nil {
				b.Fatal(err)
			}
			if cs.written = 0; e.Evaluate(ctx) != nil || cs.written != 0 {
				b.Fatalf("steady state still writes %d alerts", cs.written)
			}
			b.ResetTimer()
			for b.Loop() {
				c.add(time.Second)
				if err := e.Evaluate(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package registry_test

import (
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// TestComponentMeta: a component's meta is the union of its probes' component_meta across
// instances and services, the lexically smallest value winning a conflict whatever order the
// reports came in; it survives a heartbeat and a restart, and a component whose probes carry
// none shows "meta": {}.
func TestComponentMeta(t *testing.T) {
	probe := func(service, instance string, meta map[string]string) *protocol.Report {
		r := report(service, instance, 1, 1, status.Passing, status.Passing)
		r.Checks[0].Component, r.Checks[0].ComponentMeta = "kafka", meta
		r.Checks[1].Component = "pg"
		return r
	}
	reports := func() []*protocol.Report {
		return []*protocol.Report{
			probe("svc0", "i1", map[string]string{"stand-in": "true", "relay": "b"}),
			probe("svc0", "i2", map[string]string{"relay": "a"}), // same service, other instance
			probe("svc1", "i1", map[string]string{"relay": "c", "zone": "z"}),
			probe("svc2", "i1", nil),
		}
	}
	wantKafka := map[string]string{"stand-in": "true", "relay": "a", "zone": "z"}
	metaOf := func(t *testing.T, reg *registry.Registry) map[string]map[string]string {
		t.Helper()
		h := reg.Health(registry.HealthQuery{Visible: all})
		b, err := json.Marshal(h.Components)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"name":"pg","kind":"tcp","status":"passing","critical":false,"meta":{}`) {
			t.Errorf("a component without meta must show \"meta\": {}: %s", b)
		}
		out := map[string]map[string]string{}
		for _, c := range h.Components {
			out[c.Name] = c.Meta
		}
		return out
	}
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}} {
		dir := t.TempDir()
		h := newHarness(t, dir, nil)
		rs := reports()
		for _, i := range order {
			h.apply(rs[i])
		}
		if got := metaOf(t, h.reg)["kafka"]; !reflect.DeepEqual(got, wantKafka) {
			t.Fatalf("order %v: kafka meta %v, want %v", order, got, wantKafka)
		}
		// The union never writes a probe's own map.
		for _, in := range h.reg.Instances() {
			if in.Key.Service == "svc0" && in.Key.Instance == "i1" &&
				!maps.Equal(in.Checks[0].ComponentMeta, map[string]string{"stand-in": "true", "relay": "b"}) {
				t.Fatalf("a probe's component_meta changed: %v", in.Checks[0].ComponentMeta)
			}
		}
		beat := probe("svc1", "i1", map[string]string{"relay": "c", "zone": "z"})
		beat.Seq = 2
		if res := h.apply(beat); res.Outcome != registry.Heartbeat {
			t.Fatalf("a repeated report: %s, want a heartbeat", res.Outcome)
		}
		h.stop()

		again := newHarness(t, dir, nil)
		if got := metaOf(t, again.reg)["kafka"]; !reflect.DeepEqual(got, wantKafka) {
			t.Fatalf("after a restart: kafka meta %v, want %v", got, wantKafka)
		}
	}
}

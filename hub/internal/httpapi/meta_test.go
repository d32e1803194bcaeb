package httpapi_test

import (
	"encoding/json"
	"maps"
	"testing"

	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/status"
)

// TestComponentMetaInHealth: one service's probe carries component_meta and another's probe of
// the same component none; the component in dashboard/health carries the union.
func TestComponentMetaInHealth(t *testing.T) {
	e := newEnv(t, false)
	var m map[string]any
	if err := json.Unmarshal(reportJSON(t, "default", "orders", "o1", status.Passing), &m); err != nil {
		t.Fatal(err)
	}
	m["checks"].([]any)[1].(map[string]any)["component_meta"] = map[string]any{"stand-in": "true"}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "default", "orders"), body); r.code != 200 {
		t.Fatalf("report: %d %s", r.code, r.body)
	}
	if r := e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "default", "payments"),
		reportJSON(t, "default", "payments", "p1", status.Passing)); r.code != 200 {
		t.Fatalf("report: %d %s", r.code, r.body)
	}
	r := e.do("GET", "/api/v1/dashboard/health", e.token(auth.Viewer, "default", ""), nil)
	var doc struct {
		Components []struct {
			Name string             `json:"name"`
			Meta *map[string]string `json:"meta"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil || r.code != 200 {
		t.Fatalf("health: %d %v %s", r.code, err, r.body)
	}
	if len(doc.Components) != 1 || doc.Components[0].Name != "postgres-main" || doc.Components[0].Meta == nil ||
		!maps.Equal(*doc.Components[0].Meta, map[string]string{"stand-in": "true"}) {
		t.Fatalf("components: %s", r.body)
	}
}

package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// graphEnv seeds tenant default with orders → payments → postgres-main (a critical component,
// down) and search (healthy, needing nothing), and tenant beta with billing → postgres-main.
func graphEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, false)
	post := func(tenant, service string, deps []string, checks ...protocol.CheckResult) {
		t.Helper()
		rep := protocol.Report{Version: 1, Tenant: tenant, Service: service, Instance: service + "-1", Boot: 1, Seq: 1,
			Interval: protocol.Duration(10 * time.Second), DependsOn: deps, Runbook: "https://runbooks/" + service, Checks: checks}
		body, _ := json.Marshal(rep)
		if r := e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, tenant, service), body); r.code != 200 {
			t.Fatalf("report %s/%s: %d %s", tenant, service, r.code, r.body)
		}
	}
	pgDown := protocol.CheckResult{Name: "db", Kind: "tcp", Status: status.Critical, Component: "postgres-main", Critical: true,
		Runbook: "https://runbooks/postgres"}
	post("default", "orders", []string{"payments"}, protocol.CheckResult{Name: "web", Kind: "http", Status: status.Critical})
	post("default", "payments", nil, pgDown)
	post("default", "search", nil, protocol.CheckResult{Name: "web", Kind: "http", Status: status.Passing})
	post("beta", "billing", nil, pgDown)
	return e
}

func TestDependenciesRoute(t *testing.T) {
	e := graphEnv(t)
	viewer := e.token(auth.Viewer, "default", "")
	r := e.do("GET", "/api/v1/dashboard/dependencies", viewer, nil)
	var g struct {
		Nodes []struct {
			ID            string   `json:"id"`
			Kind          string   `json:"kind"`
			Status        string   `json:"status"`
			ProbableCause bool     `json:"probable_cause"`
			ImpactedBy    []string `json:"impacted_by"`
			Impact        []string `json:"impact"`
		} `json:"nodes"`
		Edges []struct {
			From, To string
		} `json:"edges"`
		Cycles [][]string `json:"cycles"`
	}
	if err := json.Unmarshal([]byte(r.body), &g); err != nil || r.code != 200 {
		t.Fatalf("dependencies: %d %s %v", r.code, r.body, err)
	}
	got := map[string]string{}
	for _, n := range g.Nodes {
		got[n.ID] = fmt.Sprintf("%s %s cause=%v by=%v impact=%v", n.Kind, n.Status, n.ProbableCause, n.ImpactedBy, n.Impact)
	}
	want := map[string]string{
		"default/orders":        "service unhealthy cause=false by=[default/payments] impact=[]",
		"default/payments":      "service unhealthy cause=false by=[default/postgres-main] impact=[default/orders]",
		"default/postgres-main": "component critical cause=true by=[] impact=[default/payments default/orders]",
		"default/search":        "service healthy cause=false by=[] impact=[]",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("nodes for a default viewer:\n got %v\nwant %v", got, want)
	}
	if len(g.Edges) != 2 || g.Cycles == nil {
		t.Fatalf("edges %v cycles %v", g.Edges, g.Cycles)
	}

	dot := e.do("GET", "/api/v1/dashboard/dependencies?format=dot", viewer, nil)
	if dot.code != 200 || !strings.HasPrefix(dot.header.Get("Content-Type"), "text/vnd.graphviz") ||
		!strings.Contains(dot.body, `"default/orders" -> "default/payments"`) || strings.Contains(dot.body, "beta") {
		t.Fatalf("dot: %d %s %s", dot.code, dot.header.Get("Content-Type"), dot.body)
	}
	svg := e.do("GET", "/api/v1/dashboard/dependencies?format=svg", viewer, nil)
	if svg.code != 200 || svg.header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(svg.body, "<svg ") ||
		!strings.Contains(svg.body, `id="default/postgres-main"`) || strings.Contains(svg.body, "beta") {
		t.Fatalf("svg: %d %s %.200s", svg.code, svg.header.Get("Content-Type"), svg.body)
	}
	if r := e.do("GET", "/api/v1/dashboard/dependencies?format=png", viewer, nil); r.code != 400 || !strings.Contains(r.body, "format") {
		t.Fatalf("bad format: %d %s", r.code, r.body)
	}
	// An admin of every tenant sees both tenants, or one with ?tenant=.
	admin := e.token(auth.Admin, "*", "")
	if r := e.do("GET", "/api/v1/dashboard/dependencies", admin, nil); !strings.Contains(r.body, "beta/postgres-main") {
		t.Fatalf("admin of * does not see beta: %s", r.body)
	}
	if r := e.do("GET", "/api/v1/dashboard/dependencies?tenant=beta", admin, nil); strings.Contains(r.body, "default/") {
		t.Fatalf("?tenant=beta shows default: %s", r.body)
	}
	if r := e.do("GET", "/api/v1/dashboard/dependencies?tenant=beta", viewer, nil); r.code != 403 {
		t.Fatalf("a default viewer naming beta: %d", r.code)
	}
	for _, tok := range []string{"", e.token(auth.Metrics, "*", "")} {
		if r := e.do("GET", "/api/v1/dashboard/dependencies", tok, nil); r.code != 401 && r.code != 403 {
			t.Fatalf("token %q: %d", tok, r.code)
		}
	}
}

func TestServiceDependenciesRoute(t *testing.T) {
	e := graphEnv(t)
	viewer := e.token(auth.Viewer, "default", "")
	r := e.do("GET", "/api/v1/dashboard/dependencies/payments", viewer, nil)
	var body struct {
		Service struct {
			ID, Status, Runbook string
		} `json:"service"`
		Requires       []struct{ ID, Status string } `json:"requires"`
		RequiredBy     []struct{ ID, Status string } `json:"required_by"`
		Impact         []struct{ Service, Via string }
		ProbableCauses []string `json:"probable_causes"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.code != 200 {
		t.Fatalf("%d %s %v", r.code, r.body, err)
	}
	if body.Service.ID != "default/payments" || body.Service.Runbook != "https://runbooks/payments" ||
		len(body.Requires) != 1 || body.Requires[0].ID != "default/postgres-main" || body.Requires[0].Status != "critical" ||
		len(body.RequiredBy) != 1 || body.RequiredBy[0].ID != "default/orders" || body.RequiredBy[0].Status != "unhealthy" ||
		len(body.ProbableCauses) != 1 || body.ProbableCauses[0] != "default/postgres-main" {
		t.Fatalf("payments: %s", r.body)
	}
	for _, path := range []string{"/api/v1/dashboard/dependencies/nosuch", "/api/v1/dashboard/dependencies/billing", "/api/v1/dashboard/dependencies/postgres-main"} {
		if r := e.do("GET", path, viewer, nil); r.code != 404 || !strings.Contains(r.body, "no service") {
			t.Fatalf("%s: %d %s, want 404", path, r.code, r.body)
		}
	}
	if r := e.do("GET", "/api/v1/dashboard/dependencies/billing?tenant=beta", e.token(auth.Admin, "*", ""), nil); r.code != 200 {
		t.Fatalf("admin naming beta/billing: %d %s", r.code, r.body)
	}
	if r := e.do("GET", "/api/v1/dashboard/dependencies/Bad%20Name", viewer, nil); r.code != 400 {
		t.Fatalf("bad name: %d", r.code)
	}
}

func TestImpactAnalysisRoute(t *testing.T) {
	e := graphEnv(t)
	r := e.do("GET", "/api/v1/dashboard/impact-analysis", e.token(auth.Viewer, "default", ""), nil)
	var body struct {
		Failures []struct {
			Node, Level, Runbook string
			ProbableCause        bool `json:"probable_cause"`
			Affected             []struct {
				Service, Reason string
			}
		} `json:"failures"`
		Count int `json:"count"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.code != 200 {
		t.Fatalf("%d %s %v", r.code, r.body, err)
	}
	if body.Count != 3 || len(body.Failures) != 3 {
		t.Fatalf("failures: %s", r.body)
	}
	pg := body.Failures[0]
	if pg.Node != "default/postgres-main" || !pg.ProbableCause || pg.Level != "critical" || pg.Runbook != "https://runbooks/postgres" ||
		len(pg.Affected) != 2 || pg.Affected[0].Reason != "needs postgres-main (critical)" ||
		pg.Affected[1].Reason != "needs payments, which needs postgres-main (critical)" {
		t.Fatalf("postgres-main first, critical, with its runbook and reasons: %+v", pg)
	}
	for _, f := range body.Failures[1:] {
		if f.ProbableCause {
			t.Fatalf("%s is impacted, not a cause: %s", f.Node, r.body)
		}
	}
	if strings.Contains(r.body, "beta") {
		t.Fatal("a default viewer sees beta's failures")
	}
}

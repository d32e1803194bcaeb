package httpapi_test

import (
	"encoding/json"
	"testing"

	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/status"
)

// TestSummaryTenantQuery: ?tenant= narrows a token of every tenant's summary to that tenant,
// as it does dashboard/health, and is refused for another tenant's token.
func TestSummaryTenantQuery(t *testing.T) {
	e := newEnv(t, false)
	e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "default", "orders"), reportJSON(t, "default", "orders", "o1", status.Passing))
	e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "beta", "orders"), reportJSON(t, "beta", "orders", "o1", status.Critical))
	admin := e.token(auth.Admin, "*", "")
	for _, tc := range []struct {
		token, query string
		code         int
		status       string
		services     int
	}{
		{admin, "", 200, "unhealthy", 2},
		{admin, "?tenant=default", 200, "healthy", 1},
		{admin, "?tenant=beta", 200, "unhealthy", 1},
		{e.token(auth.Viewer, "default", ""), "?tenant=default", 200, "healthy", 1},
		{e.token(auth.Viewer, "default", ""), "?tenant=beta", 403, "", 0},
		{admin, "?tenant=bad%20name", 400, "", 0},
	} {
		r := e.do("GET", "/api/v1/dashboard/summary"+tc.query, tc.token, nil)
		if r.code != tc.code {
			t.Fatalf("summary%s: %d %s, want %d", tc.query, r.code, r.body, tc.code)
		}
		if tc.code != 200 {
			continue
		}
		var sum registry.Summary
		if err := json.Unmarshal([]byte(r.body), &sum); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range sum.Services {
			n += c
		}
		if string(sum.Status) != tc.status || n != tc.services {
			t.Errorf("summary%s: %s with %d services, want %s with %d", tc.query, sum.Status, n, tc.status, tc.services)
		}
	}
}

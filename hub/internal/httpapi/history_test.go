package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/status"
)

type historyBody struct {
	Tenant      string `json:"tenant"`
	Service     string `json:"service"`
	Step        string `json:"step"`
	Source      string `json:"source"`
	Transitions []struct {
		Instance string `json:"instance"`
		Check    string `json:"check"`
		From     string `json:"from"`
		To       string `json:"to"`
		Output   string `json:"output"`
	} `json:"transitions"`
	Latency []struct {
		Check  string `json:"check"`
		Points []struct {
			AvgMS   float64 `json:"avg_ms"`
			Samples int64   `json:"samples"`
		} `json:"points"`
	} `json:"latency"`
	Uptime map[string]*float64 `json:"uptime"`
}

// TestServiceHistory: reports become the history route's transitions, latency points and
// uptime; the route checks its input, its role and the tenant.
func TestServiceHistory(t *testing.T) {
	e := newEnv(t, false)
	agent := e.token(auth.Agent, "default", "orders")
	for i, st := range []status.Check{status.Passing, status.Passing, status.Critical} {
		if i > 0 {
			e.clock.Add(10 * time.Second)
		}
		if r := e.do("POST", "/api/v1/agent/reports", agent, reportJSON(t, "default", "orders", "o1", st)); r.code != 200 {
			t.Fatalf("report %d: %d %s", i, r.code, r.body)
		}
	}
	if err := e.reg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	viewer := e.token(auth.Viewer, "default", "")
	r := e.do("GET", "/api/v1/dashboard/services/orders/history", viewer, nil)
	if r.code != 200 {
		t.Fatalf("history: %d %s", r.code, r.body)
	}
	var h historyBody
	if err := json.Unmarshal([]byte(r.body), &h); err != nil {
		t.Fatal(err)
	}
	if h.Tenant != "default" || h.Service != "orders" || h.Step != "10s" || h.Source != "raw" {
		t.Fatalf("history header: %+v", h)
	}
	var tr []string
	for _, x := range h.Transitions {
		tr = append(tr, x.Instance+"/"+x.Check+":"+x.From+">"+x.To)
	}
	if got := strings.Join(tr, " "); got != "o1/:>passing o1/web:>passing o1/db:>passing o1/web:passing>critical o1/:passing>critical" {
		t.Fatalf("transitions: %s", got)
	}
	if len(h.Latency) != 2 || h.Latency[0].Check != "db" || len(h.Latency[1].Points) != 3 || h.Latency[1].Points[0].AvgMS != 1.25 {
		t.Fatalf("latency: %+v", h.Latency)
	}
	for _, w := range []string{"1h", "24h", "7d"} {
		if p := h.Uptime[w]; p == nil || *p != 66.667 {
			t.Fatalf("uptime %s: %v, want 66.667 (2 of 3 samples up)", w, p)
		}
	}

	// A week is served from roll-ups, at most 2,000 points.
	r = e.do("GET", "/api/v1/dashboard/services/orders/history?since=7d", viewer, nil)
	if err := json.Unmarshal([]byte(r.body), &h); err != nil || r.code != 200 {
		t.Fatalf("week: %d %s", r.code, r.body)
	}
	if h.Source != "hourly" || h.Step != "1h0m0s" || len(h.Latency) != 2 || h.Latency[1].Points[0].Samples != 3 {
		t.Fatalf("week: source %s step %s latency %+v", h.Source, h.Step, h.Latency)
	}
	// A day from raw samples, in 5-minute buckets (288 × 2 checks).
	since := url.QueryEscape(e.clock.Now().Add(-24 * time.Hour).Format(time.RFC3339))
	if r = e.do("GET", "/api/v1/dashboard/services/orders/history?instance=o1&since="+since, viewer, nil); r.code != 200 || !strings.Contains(r.body, `"step":"5m0s"`) {
		t.Fatalf("a day of o1: %d %s", r.code, r.body)
	}

	for _, c := range []struct {
		name, path, token string
		code              int
		want              string
	}{
		{"no token", "/api/v1/dashboard/services/orders/history", "", 401, "token"},
		{"bad since", "/api/v1/dashboard/services/orders/history?since=yesterday", viewer, 400, "since"},
		{"since after until", "/api/v1/dashboard/services/orders/history?since=1h&until=2020-01-01T00:00:00Z", viewer, 400, "since"},
		{"bad until", "/api/v1/dashboard/services/orders/history?until=soon", viewer, 400, "until"},
		{"bad instance", "/api/v1/dashboard/services/orders/history?instance=a%20b", viewer, 400, "instance"},
		{"too long", "/api/v1/dashboard/services/orders/history?since=900d", viewer, 400, "days"},
		{"unknown service", "/api/v1/dashboard/services/nope/history", viewer, 404, "nope"},
		{"other tenant's token", "/api/v1/dashboard/services/orders/history", e.token(auth.Viewer, "acme", ""), 404, "acme"},
		{"other tenant named", "/api/v1/dashboard/services/orders/history?tenant=default", e.token(auth.Viewer, "acme", ""), 403, "tenant"},
		{"agent token", "/api/v1/dashboard/services/orders/history", agent, 403, ""},
	} {
		r := e.do("GET", c.path, c.token, nil)
		if r.code != c.code || !strings.Contains(r.body, c.want) || !strings.HasPrefix(r.body, `{"error":`) {
			t.Errorf("%s: %d %s, want %d mentioning %q", c.name, r.code, r.body, c.code, c.want)
		}
	}
}

// TestHistoryOfAGoneServiceStaysWithinThePointCap: a service no longer registered (its checks
// unknown to the registry) still gets at most 2,000 points, in a coarser step.
func TestHistoryOfAGoneServiceStaysWithinThePointCap(t *testing.T) {
	e := newEnv(t, false)
	k := hub.InstanceKey{Tenant: "default", Service: "gone", Instance: "g1"}
	var w hub.Writes
	for i := range 360 {
		smp := hub.Sample{Key: k, At: e.clock.Now().Add(-time.Hour + time.Duration(i)*10*time.Second), Status: status.Passing}
		for c := range 10 {
			smp.Checks = append(smp.Checks, hub.CheckSample{Name: fmt.Sprintf("c%d", c), Status: status.Passing, LatencyMS: 1})
		}
		w.Samples = append(w.Samples, smp)
	}
	if err := e.store.WriteInstances(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/api/v1/dashboard/services/gone/history", e.token(auth.Viewer, "default", ""), nil)
	var h historyBody
	if err := json.Unmarshal([]byte(r.body), &h); err != nil || r.code != 200 {
		t.Fatalf("history of a gone service: %d %s", r.code, r.body)
	}
	points := 0
	for _, s := range h.Latency {
		points += len(s.Points)
	}
	if h.Step != "30s" || len(h.Latency) != 10 || points > 2000 || points < 1000 {
		t.Fatalf("step %s, %d series, %d points: want 30s, 10 series, at most 2,000 points", h.Step, len(h.Latency), points)
	}
}

package ui_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/browsertest"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/hub/internal/ui"
	"github.com/centralhub/centralhub/pkg/status"
)

// fleetAPI serves the page and, in the API's shapes, 1,000 services of 3 instances with 5
// checks each (2% unhealthy, 5% degraded) and 100 alerts, 60 of them firing; the event stream
// stays open and quiet. The overview's render is the page's work on that data, whatever served
// it.
func fleetAPI() http.Handler {
	now := time.Now().UTC()
	health := registry.Health{Status: status.Unhealthy, Services: []registry.ServiceView{}, Components: []registry.ComponentView{}}
	for i := range 1000 {
		svc := registry.ServiceView{Tenant: "default", Name: fmt.Sprintf("service-%04d", i), Status: status.Healthy}
		switch {
		case i%50 == 0:
			svc.Status = status.Unhealthy
		case i%20 == 1:
			svc.Status = status.Degraded
		}
		for j := range 3 {
			in := registry.InstanceView{Instance: fmt.Sprintf("%s-%d", svc.Name, j), Status: status.Passing, Address: "10.0.0.1:8080",
				LastSeen: now, Config: registry.ConfigView{Status: "none"}}
			if svc.Status == status.Unhealthy || (svc.Status == status.Degraded && j == 0) {
				in.Status = status.Critical
			}
			for k := range 5 {
				in.Checks = append(in.Checks, registry.CheckView{Name: fmt.Sprintf("check-%d", k), Kind: "http", Status: in.Status, Output: "HTTP 200", LatencyMS: 1.5})
			}
			svc.Instances = append(svc.Instances, in)
		}
		health.Services = append(health.Services, svc)
	}
	var alerts struct {
		Alerts []hub.Alert `json:"alerts"`
		Count  int         `json:"count"`
	}
	for i := range 100 {
		st := hub.AlertResolved
		if i < 60 {
			st = hub.AlertFiring
		}
		alerts.Alerts = append(alerts.Alerts, hub.Alert{ID: fmt.Sprintf("a%03d", i), Tenant: "default", Component: fmt.Sprintf("service-%04d", i*10),
			Rule: "instance_critical", Severity: hub.SeverityCritical, State: st, Summary: "instance is critical: check web: HTTP 503", StartedAt: now})
	}
	alerts.Count = len(alerts.Alerts)
	healthJSON, _ := json.Marshal(health)
	alertsJSON, _ := json.Marshal(alerts)
	mux := http.NewServeMux()
	page := ui.Handler()
	mux.Handle("GET /", page)
	mux.Handle("GET /static/", page)
	serve := func(body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}
	}
	mux.Handle("GET /api/v1/dashboard/summary", serve([]byte(`{"status":"unhealthy"}`)))
	mux.Handle("GET /api/v1/dashboard/health", serve(healthJSON))
	mux.Handle("GET /api/v1/dashboard/alerts", serve(alertsJSON))
	mux.Handle("GET /api/v1/dashboard/silences", serve([]byte(`{"silences":[],"count":0}`)))
	mux.HandleFunc("GET /api/v1/dashboard/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	return mux
}

// BenchmarkOverviewRender signs in to the page in headless Chromium and reads, through
// chromedp, the page's own performance.measure from the data's arrival to the overview's
// render at 1,000 services (goal: under 100 ms; make bench records it, no test asserts it).
func BenchmarkOverviewRender(b *testing.B) {
	srv := httptest.NewServer(fleetAPI())
	b.Cleanup(srv.Close) // after the browser has gone (cleanups run last first): it holds the event stream
	ctx := browsertest.Context(b, "to time the dashboard page in a browser", 5*time.Minute)
	var total, worst float64
	n := 0
	for b.Loop() {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SendKeys(chromedp.ID("token"), "header.e30.signature"), chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`))); err != nil {
			b.Fatalf("sign in: %v", err)
		}
		var ms float64
		deadline := time.Now().Add(30 * time.Second)
		for {
			v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(performance.getEntriesByName("centralhub-overview")[0] || {duration: -1}).duration`))
			if err == nil && v >= 0 {
				ms = v
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("no overview render measured within 30 s (%v)", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("svc-counts").textContent`)); got == "" {
			b.Fatal("the overview rendered no counts")
		}
		total += ms
		worst = max(worst, ms)
		n++
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`sessionStorage.clear(), true`)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(total/float64(n), "render-ms")
	b.ReportMetric(worst, "worst-render-ms")
}

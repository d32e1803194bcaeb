package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/centralhub/centralhub/hub/internal/browsertest"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// screenshotDir is where the browser tests write a screenshot of each view: the folder
// CENTRALHUB_SCREENSHOTS names, or a test output folder under the test's temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("CENTRALHUB_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// waitPage polls the page with js (an expression returning a string) until want(result) holds.
func waitPage(t *testing.T, ctx context.Context, what, js string, want func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err == nil && want(v) {
			return v
		}
		last = fmt.Sprint(v, " ", err)
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("page: %s: not within 30 s (last: %s)", what, last)
	return ""
}

// TestDashboardPage: the hub's own page in headless Chromium. A wrong token is refused with a
// clear message; an admin sees the services, watches one turn unhealthy without reloading, and
// acknowledges its alert, seeing who and why; a viewer gets no acknowledge control, and the hub
// refuses a forged acknowledgement anyway.
func TestDashboardPage(t *testing.T) {
	ctx := browsertest.Context(t, "to test the dashboard page in a browser", 120*time.Second)
	shots := screenshotDir(t)
	dir := t.TempDir()
	cfg := writeHubConfig(t, dir, "alerts:\n  builtin:\n    instance_critical: {for: 1s}\n    service_unhealthy: {disabled: true}\n")
	h := startHub(t, dir+"/data", freePort(t), "--config", cfg)

	seq := map[string]uint64{}
	report := func(service, instance string, st status.Check) {
		t.Helper()
		seq[instance]++
		rep := protocol.Report{Version: 1, Tenant: "default", Service: service, Instance: instance, Boot: 1, Seq: seq[instance],
			Interval: protocol.Duration(time.Minute), Checks: []protocol.CheckResult{{Name: "web", Kind: "http", Status: st, Output: "HTTP " + string(st)}}}
		body, _ := json.Marshal(rep)
		req, _ := http.NewRequest(http.MethodPost, h.url+"/api/v1/agent/reports", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+issue(t, auth.Agent, "default", service))
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("report %s: %v %v", instance, res, err)
		}
		res.Body.Close()
	}
	for _, s := range []string{"orders", "payments", "billing"} {
		report(s, s+"-1", status.Passing)
	}
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	signIn := func(token string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(h.url+"/"), chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`))); err != nil {
			t.Fatalf("sign in: %v", err)
		}
	}

	// A wrong token: a clear error, and no view.
	signIn("not-a-token")
	waitPage(t, ctx, "the sign-in error", `document.getElementById("signin-error").textContent`,
		func(s string) bool { return strings.Contains(s, "refused this token") })
	shot("signin-error")

	// An admin: the services, live.
	admin := issue(t, auth.Admin, "*", "")
	signIn(admin)
	waitPage(t, ctx, "signed in and live", `document.getElementById("live").textContent`, func(s string) bool { return s == "live" })
	shot("overview")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav button[data-view=services]`))); err != nil {
		t.Fatal(err)
	}
	rowStatus := `(() => { const r = document.querySelector('tr[data-service="default/orders"] .svc-status'); return r ? r.textContent : ""; })()`
	waitPage(t, ctx, "orders listed healthy", rowStatus, func(s string) bool { return s == "healthy" })
	shot("services")
	start := time.Now()
	report("orders", "orders-1", status.Critical)
	waitPage(t, ctx, "orders turns unhealthy without a reload", rowStatus, func(s string) bool { return s == "unhealthy" })
	t.Logf("the row changed %s after the report", time.Since(start).Round(time.Millisecond))
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("token").value`)); v != "" {
		t.Fatal("the token is still in the sign-in field")
	}

	// Its alert fires; the admin acknowledges it.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav button[data-view=alerts]`))); err != nil {
		t.Fatal(err)
	}
	ackButton := `document.querySelector('tr[data-component="orders"] button.ack') ? "yes" : "no"`
	waitPage(t, ctx, "an acknowledge control on the firing alert", ackButton, func(s string) bool { return s == "yes" })
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-component="orders"] button.ack`)),
		chromedp.SendKeys(chromedp.ID("ack-comment"), "restarting the pod"),
		chromedp.Click(chromedp.CSS(`#ack-form button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "who acknowledged and why", `(() => { const r = document.querySelector('tr[data-component="orders"] .ack-by'); return r ? r.textContent : ""; })()`,
		func(s string) bool { return strings.Contains(s, "restarting the pod") && strings.Contains(s, "by ") })
	shot("alerts")

	// The service's own view: its instance's checks with output and latency, and its history.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav button[data-view=services]`)),
		chromedp.Click(chromedp.CSS(`tr[data-service="default/orders"] a`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the instance's checks", `(() => { const i = document.querySelector('#service-instances [data-instance="orders-1"]'); return i ? i.textContent : ""; })()`,
		func(s string) bool {
			return strings.Contains(s, "web") && strings.Contains(s, "HTTP critical") && strings.Contains(s, " ms")
		})
	waitPage(t, ctx, "the service's history", `document.getElementById("service-uptime").textContent + " | " + document.getElementById("service-transitions").textContent`,
		func(s string) bool {
			return strings.Contains(s, "Uptime: 1 h") && strings.Contains(s, "passing → critical")
		})
	shot("service")

	// The graph: the hub's picture, a service node opens the service.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav button[data-view=graph]`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the graph's nodes", `String(document.querySelectorAll('#graph-picture g.node.clickable').length)`, func(s string) bool { return s == "3" })
	shot("graph")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#graph-picture g.node[id="default/payments"] rect`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "a node opens its service", `document.getElementById("service-title").textContent`, func(s string) bool { return strings.Contains(s, "payments") })

	// A viewer: the same alert, no control; a forged acknowledgement from the page is refused.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("signin"))); err != nil {
		t.Fatal(err)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`String(sessionStorage.getItem("centralhub.token"))`)); v != "null" {
		t.Fatalf("the token survived sign-out: %q", v)
	}
	signIn(issue(t, auth.Viewer, "default", ""))
	waitPage(t, ctx, "viewer signed in", `document.getElementById("live").textContent`, func(s string) bool { return s == "live" })
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav button[data-view=alerts]`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the alert listed for the viewer", `document.querySelectorAll('tr[data-component="orders"]').length > 0 ? "yes" : "no"`,
		func(s string) bool { return s == "yes" })
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelectorAll("button.ack").length + "/" + document.getElementById("silence-form").hidden)`)); v != "0/true" {
		t.Fatalf("viewer's controls (acknowledge buttons / silence form hidden): %s", v)
	}
	forged, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/api/v1/dashboard/alerts/payments/acknowledge", {method: "POST",
		headers: {Authorization: "Bearer " + sessionStorage.getItem("centralhub.token"), "Content-Type": "application/json"}, body: "{}"}).then(r => String(r.status))`, chromedp.EvalAwaitPromise))
	if err != nil || forged != "403" {
		t.Fatalf("forged acknowledgement: %q %v", forged, err)
	}
	shot("alerts-viewer")
	t.Logf("screenshots in %s", shots)
}

// TestDashboardOnDemo: the page over `make demo`: signed in with the token the demo prints, it
// lists the demo's services; breaking one turns its row unhealthy without a reload, and its
// alert can be acknowledged from the page.
func TestDashboardOnDemo(t *testing.T) {
	ctx := browsertest.Context(t, "to test the dashboard page in a browser", 150*time.Second)
	shots := screenshotDir(t)
	d := startDemo(t)
	url := "http://" + d.listen
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), d.token), chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`)),
		chromedp.Click(chromedp.CSS(`nav button[data-view=services]`))); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	rows := `Array.from(document.querySelectorAll("#svc-rows tr")).map(r => r.dataset.service + "=" + r.querySelector(".svc-status").textContent).sort().join(" ")`
	want := []string{"api-gateway", "auth-service", "user-management", "trading-signal", "mt5-integration", "notification", "analytics"}
	waitPage(t, ctx, "the demo's services, healthy", rows, func(s string) bool {
		for _, name := range want {
			if !strings.Contains(s, "default/"+name+"=healthy") {
				return false
			}
		}
		return true
	})
	res, err := http.Post(d.breakURL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	t.Cleanup(func() {
		if res, err := http.Post(d.healURL, "text/plain", nil); err == nil {
			res.Body.Close()
		}
	})
	row := `(() => { const r = document.querySelector('tr[data-service="default/auth-service"] .svc-status'); return r ? r.textContent : ""; })()`
	waitPage(t, ctx, "auth-service turns unhealthy without a reload", row, func(s string) bool { return s == "unhealthy" })
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shots, "demo-services.png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav button[data-view=alerts]`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "auth-service's alert with an acknowledge control", `document.querySelector('tr[data-component="auth-service"] button.ack') ? "yes" : "no"`,
		func(s string) bool { return s == "yes" })
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-component="auth-service"] button.ack`)),
		chromedp.SendKeys(chromedp.ID("ack-comment"), "rolling back the deploy"),
		chromedp.Click(chromedp.CSS(`#ack-form button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "who acknowledged and why", `(() => { const r = document.querySelector('tr[data-component="auth-service"] .ack-by'); return r ? r.textContent : ""; })()`,
		func(s string) bool { return strings.Contains(s, "rolling back the deploy") })
}

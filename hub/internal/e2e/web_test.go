package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

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

// clickLive clicks the first element matching css in a part of the page that live updates
// redraw: finding the node and clicking it happen in one step in the page, tried until it is
// there, so a redraw in between (which chromedp.Click's two steps can meet: "Could not find
// node with given id") is harmless.
func clickLive(t *testing.T, ctx context.Context, css string) {
	t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return "absent"; e.click(); return "clicked"; })()`, css)
	waitPage(t, ctx, "click "+css, js, func(s string) bool { return s == "clicked" })
}

// webReporter returns a function that reports one instance with one check, "web", of the given
// status (and the service's dependencies) to h, as the service's agent would.
func webReporter(t *testing.T, h *hubProc) func(service, instance string, st status.Check, dependsOn ...string) {
	seq := map[string]uint64{}
	return func(service, instance string, st status.Check, dependsOn ...string) {
		t.Helper()
		seq[instance]++
		rep := protocol.Report{Version: 1, Tenant: "default", Service: service, Instance: instance, Boot: 1, Seq: seq[instance],
			Interval: protocol.Duration(time.Minute), DependsOn: dependsOn,
			Checks: []protocol.CheckResult{{Name: "web", Kind: "http", Status: st, Output: "HTTP " + string(st), LatencyMS: 12.5}}}
		body, _ := json.Marshal(rep)
		req, _ := http.NewRequest(http.MethodPost, h.url+"/api/v1/agent/reports", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+issue(t, auth.Agent, "default", service))
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("report %s: %v %v", instance, res, err)
		}
		res.Body.Close()
	}
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

	report := webReporter(t, h)
	report("orders", "orders-1", status.Passing)
	report("billing", "billing-1", status.Passing)
	report("payments", "payments-1", status.Passing, "billing")
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
	clickLive(t, ctx, `tr[data-component="orders"] button.ack`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("ack-comment"), "restarting the pod"), chromedp.SendKeys(chromedp.ID("ack-hours"), "2"),
		chromedp.Click(chromedp.CSS(`#ack-form button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "who acknowledged, why and until when", `(() => { const r = document.querySelector('tr[data-component="orders"] .ack-by'); return r ? r.textContent : ""; })()`,
		func(s string) bool {
			return strings.HasPrefix(s, "acknowledged by e2e") && strings.Contains(s, ": restarting the pod (until ")
		})
	shot("alerts")

	// The groups: billing fails and takes payments with it, so payments' alert is suppressed by
	// billing; a silence of billing files its alert under silenced, with who and why, until it
	// is expired.
	report("billing", "billing-1", status.Critical)
	report("payments", "payments-1", status.Critical, "billing")
	group := func(component string) string {
		return `(() => { const r = document.querySelector('tr[data-component="` + component + `"]'); return r ? r.dataset.group + " | " + r.querySelector(".ack-by").textContent : ""; })()`
	}
	waitPage(t, ctx, "payments' alert suppressed by billing", group("payments"), func(s string) bool {
		return strings.HasPrefix(s, "suppressed | ") && strings.Contains(s, "caused by") && strings.Contains(s, "billing")
	})
	waitPage(t, ctx, "billing's alert firing, unhandled", group("billing"), func(s string) bool { return strings.HasPrefix(s, "firing | ") })
	listed := `Array.from(document.querySelectorAll("#alert-rows tr[data-alert]")).map(r => r.dataset.component).join(" ")`
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#alert-groups input[value=suppressed]`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the suppressed group alone", listed, func(s string) bool { return s == "payments" })
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#alert-groups input[value=acknowledged]`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the acknowledged group alone", listed, func(s string) bool { return s == "orders" })
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#alert-groups input[value=open]`)),
		chromedp.SendKeys(chromedp.ID("sil-service"), "billing"), chromedp.SendKeys(chromedp.ID("sil-comment"), "database failover"),
		chromedp.Click(chromedp.CSS(`#silence-form button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "billing's alert silenced, by whom and why", group("billing"), func(s string) bool {
		return s == "silenced | silenced by e2e: database failover"
	})
	waitPage(t, ctx, "the silence listed", `document.getElementById("silence-rows").textContent`, func(s string) bool {
		return strings.Contains(s, `service="billing"`) && strings.Contains(s, "database failover") && strings.Contains(s, "active")
	})
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#alert-groups .count[data-group="silenced"]').textContent`)); v != "(1)" {
		t.Fatalf("silenced group count: %q", v)
	}
	shot("alerts-groups")
	clickLive(t, ctx, `#silence-rows button.expire`)
	waitPage(t, ctx, "billing's alert firing again once its silence expired", group("billing"), func(s string) bool { return strings.HasPrefix(s, "firing | ") })

	// The service's own view: its instance's checks with output and latency, and its history.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav button[data-view=services]`))); err != nil {
		t.Fatal(err)
	}
	clickLive(t, ctx, `tr[data-service="default/orders"] a`)
	waitPage(t, ctx, "the instance's checks", `(() => { const i = document.querySelector('#service-instances [data-instance="orders-1"]'); return i ? i.textContent : ""; })()`,
		func(s string) bool {
			return strings.Contains(s, "web") && strings.Contains(s, "HTTP critical") && strings.Contains(s, " ms")
		})
	waitPage(t, ctx, "the service's history", `document.getElementById("service-uptime").textContent + " | " + document.getElementById("service-transitions").textContent`,
		func(s string) bool {
			return strings.Contains(s, "Uptime: 1 h") && strings.Contains(s, "passing → critical")
		})
	shot("service")

	// One instance: its checks, its own history with a latency line per check.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#service-instances [data-instance="orders-1"] h3 a`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the instance's view", `document.getElementById("instance-title").textContent + " | " + document.getElementById("instance-checks").textContent`,
		func(s string) bool {
			return strings.HasPrefix(s, "Instance orders-1 of orders") && strings.Contains(s, "HTTP critical") && strings.Contains(s, "12.5 ms")
		})
	waitPage(t, ctx, "the instance's history and latency", `document.getElementById("instance-uptime").textContent + " | " +
		document.getElementById("instance-transitions").textContent + " | " + document.getElementById("instance-latency").textContent`,
		func(s string) bool {
			return strings.Contains(s, "Uptime: 1 h") && strings.Contains(s, "passing → critical") && strings.Contains(s, "web: average 12.5 ms")
		})
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash`)); v != "#instance/default/orders/orders-1" {
		t.Fatalf("the instance's address: %q", v)
	}
	shot("instance")

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

	// A viewer: the same alerts and silences, no control; forged changes from the page are refused.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav button[data-view=alerts]`)),
		chromedp.SendKeys(chromedp.ID("sil-service"), "payments"), chromedp.SendKeys(chromedp.ID("sil-comment"), "kept for the viewer"),
		chromedp.Click(chromedp.CSS(`#silence-form button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the payments silence listed", `document.getElementById("silence-rows").textContent`,
		func(s string) bool { return strings.Contains(s, "kept for the viewer") })
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
	waitPage(t, ctx, "the silence listed for the viewer", `document.getElementById("silence-rows").textContent`,
		func(s string) bool { return strings.Contains(s, "kept for the viewer") })
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelectorAll("button.ack, button.unack, button.expire").length + "/" +
		document.getElementById("silence-form").hidden + "/" + document.querySelector('tr[data-component="orders"] .ack-by').textContent)`)); !strings.HasPrefix(v, "0/true/acknowledged by e2e") {
		t.Fatalf("viewer's controls (acknowledge, unacknowledge and expire buttons / silence form hidden / who acknowledged): %s", v)
	}
	forge := func(method, path string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("`+path+`", {method: "`+method+`",
			headers: {Authorization: "Bearer " + sessionStorage.getItem("centralhub.token"), "Content-Type": "application/json"}, body: "{}"}).then(r => String(r.status))`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	silenceID, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#silence-rows tr[data-silence]").dataset.silence`))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range [][2]string{{"POST", "/api/v1/dashboard/alerts/payments/acknowledge"}, {"DELETE", "/api/v1/dashboard/alerts/orders/acknowledge"},
		{"DELETE", "/api/v1/dashboard/silences/" + silenceID}} {
		if got := forge(f[0], f[1]); got != "403" {
			t.Fatalf("forged %s %s: %s, want 403", f[0], f[1], got)
		}
	}
	shot("alerts-viewer")
	t.Logf("screenshots in %s", shots)
}

// TestDashboardOnDemo: the page over `make demo`: signed in with the token the demo prints, it
// lists the demo's services; breaking one, or stopping one, turns its row unhealthy without a
// reload, and the broken one's alert can be acknowledged from the page.
func TestDashboardOnDemo(t *testing.T) {
	ctx := browsertest.Context(t, "to test the dashboard page in a browser", 150*time.Second)
	shots := screenshotDir(t)
	d := startDemo(t)
	url := "http://" + d.listen
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), d.token), chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`))); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	// The overview lists the components; a stand-in (kafka, when nothing answers on 9092: always
	// under CI) is labelled so, a relay to a real server shows where it relays to.
	comp := `(() => { const r = document.querySelector('tr[data-comp="default/kafka"]'); return r ? r.textContent : ""; })()`
	standIn := false
	for _, line := range strings.Split(d.proc.out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "kafka" && strings.Contains(line, "stand-in listener") {
			standIn = true
		}
	}
	if standIn {
		waitPage(t, ctx, "kafka labelled stand-in on the overview", comp, func(s string) bool { return strings.HasPrefix(s, "kafka stand-in") })
	} else {
		waitPage(t, ctx, "kafka's relay on the overview", comp, func(s string) bool { return strings.Contains(s, "relay: ") && !strings.Contains(s, "stand-in") })
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav button[data-view=services]`))); err != nil {
		t.Fatalf("open services: %v", err)
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
	row := func(service string) string {
		return `(() => { const r = document.querySelector('tr[data-service="default/` + service + `"] .svc-status'); return r ? r.textContent : ""; })()`
	}
	waitPage(t, ctx, "auth-service turns unhealthy without a reload", row("auth-service"), func(s string) bool { return s == "unhealthy" })

	// Stopped, a service's row turns unhealthy too (its agent's check is refused); started, healthy.
	post := func(url string) {
		t.Helper()
		res, err := http.Post(url, "text/plain", nil)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("POST %s: %v %v", url, res, err)
		}
		res.Body.Close()
	}
	post(d.control + "/notification/stop")
	waitPage(t, ctx, "the stopped notification turns unhealthy without a reload", row("notification"), func(s string) bool { return s == "unhealthy" })
	post(d.control + "/notification/start")
	waitPage(t, ctx, "notification healthy once started again", row("notification"), func(s string) bool { return s == "healthy" })
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
	clickLive(t, ctx, `tr[data-component="auth-service"] button.ack`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("ack-comment"), "rolling back the deploy"),
		chromedp.Click(chromedp.CSS(`#ack-form button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "who acknowledged and why", `(() => { const r = document.querySelector('tr[data-component="auth-service"] .ack-by'); return r ? r.textContent : ""; })()`,
		func(s string) bool { return strings.Contains(s, "rolling back the deploy") })
}

// TestDashboardKeyboard walks the page with the keyboard alone: Tab, Enter, arrows and Escape
// reach sign-in, every view, a service, its instance, the graph's nodes, the alert groups and
// the acknowledge form; each view opened takes the focus on its heading, and a live update
// never takes the focus from the control the user is on.
func TestDashboardKeyboard(t *testing.T) {
	ctx := browsertest.Context(t, "to test the dashboard page in a browser", 120*time.Second)
	dir := t.TempDir()
	cfg := writeHubConfig(t, dir, "alerts:\n  builtin:\n    instance_critical: {for: 1s}\n    service_unhealthy: {disabled: true}\n")
	h := startHub(t, dir+"/data", freePort(t), "--config", cfg)
	reportAs := webReporter(t, h)
	report := func(service string, st status.Check) { reportAs(service, service+"-1", st) }
	report("orders", status.Passing)
	report("orders", status.Critical)
	report("billing", status.Passing)

	focused := `(() => { const e = document.activeElement; return !e || e === document.body ? "body" :
		e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + " " +
		(e.getAttribute("aria-label") || (e.labels && e.labels.length ? e.labels[0].textContent : e.textContent).trim().slice(0, 60)); })()`
	key := func(keys string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.KeyEvent(keys)); err != nil {
			t.Fatalf("key %q: %v", keys, err)
		}
	}
	// tabTo presses Tab until the focus is on what css selects, and fails after 60 presses.
	tabTo := func(css string) {
		t.Helper()
		var path []string
		for range 60 {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.activeElement && document.activeElement.matches(`+strconv.Quote(css)+`)`))
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				return
			}
			key(kb.Tab)
			f, _ := chromedp.Run(ctx, chromedp.Evaluate[string](focused))
			path = append(path, f)
		}
		t.Fatalf("Tab never reached %s; it went through:\n%s", css, strings.Join(path, "\n"))
	}
	focusIs := func(what, want string) {
		t.Helper()
		waitPage(t, ctx, what, focused, func(s string) bool { return strings.HasPrefix(s, want) })
	}

	// The first Tab reaches the skip link; it leads to the token field.
	if err := chromedp.Do(ctx, chromedp.Navigate(h.url+"/"), chromedp.WaitVisible(chromedp.ID("token"))); err != nil {
		t.Fatal(err)
	}
	key(kb.Tab)
	focusIs("the skip link first", "a#skip")
	key(kb.Enter)
	focusIs("the skip link leads to the token", "input#token")
	key(issue(t, auth.Admin, "*", "") + kb.Enter)
	waitPage(t, ctx, "signed in and live", `document.getElementById("live").textContent`, func(s string) bool { return s == "live" })
	focusIs("the overview's heading after sign-in", "h2#overview-title")

	// Services, filtered, a service, its instance.
	tabTo(`nav button[data-view=services]`)
	key(kb.Enter)
	focusIs("the services' heading", "h2#services-title")
	tabTo("#filter")
	key("orders")
	tabTo(`tr[data-service="default/orders"] a`)
	key(kb.Enter)
	focusIs("the service's heading", "h2#service-title Service orders")
	tabTo(`#service-instances [data-instance="orders-1"] h3 a`)
	key(kb.Enter)
	focusIs("the instance's heading", "h2#instance-title Instance orders-1")
	waitPage(t, ctx, "the instance's checks", `document.getElementById("instance-checks").textContent`,
		func(s string) bool { return strings.Contains(s, "HTTP critical") })

	// Alerts: the acknowledge button; a live update leaves the focus on it.
	tabTo(`nav button[data-view=alerts]`)
	key(kb.Enter)
	focusIs("the alerts' heading", "h2#alerts-title")
	waitPage(t, ctx, "orders' alert firing", `document.querySelector('tr[data-component="orders"] button.ack') ? "yes" : "no"`,
		func(s string) bool { return s == "yes" })
	tabTo(`tr[data-component="orders"] button.ack`)
	report("billing", status.Critical)
	waitPage(t, ctx, "billing's alert listed by a live update", `document.querySelector('tr[data-component="billing"]') ? "yes" : "no"`,
		func(s string) bool { return s == "yes" })
	focusIs("the focus kept on orders' acknowledge button through the update", "button Acknowledge orders")

	// Escape leaves the form; Enter on the button opens it again; Enter in it acknowledges.
	key(kb.Enter)
	focusIs("the acknowledge comment", "input#ack-comment")
	key(kb.Escape)
	waitPage(t, ctx, "the form closed by Escape", `String(document.getElementById("ack-form").hidden)`, func(s string) bool { return s == "true" })
	focusIs("the alerts' heading after Escape", "h2#alerts-title")
	tabTo(`tr[data-component="orders"] button.ack`)
	key(kb.Enter)
	focusIs("the acknowledge comment", "input#ack-comment")
	key("looking into it" + kb.Enter)
	waitPage(t, ctx, "acknowledged from the keyboard", `(() => { const r = document.querySelector('tr[data-component="orders"] .ack-by'); return r ? r.textContent : ""; })()`,
		func(s string) bool {
			return strings.Contains(s, "acknowledged by e2e") && strings.Contains(s, "looking into it")
		})
	focusIs("the alerts' heading after acknowledging", "h2#alerts-title")

	// Unacknowledge: the row's button changes, and the focus moves to the new one; acknowledge again.
	tabTo(`tr[data-component="orders"] button.unack`)
	key(kb.Enter)
	focusIs("the focus on the row's new control after unacknowledging", "button Acknowledge orders")
	key(kb.Enter)
	focusIs("the acknowledge comment", "input#ack-comment")
	key("still on it" + kb.Enter)
	waitPage(t, ctx, "acknowledged again", `(() => { const r = document.querySelector('tr[data-component="orders"] .ack-by'); return r ? r.textContent : ""; })()`,
		func(s string) bool { return strings.Contains(s, "still on it") })

	// The groups are a radio group: an arrow moves to the next.
	listed := `Array.from(document.querySelectorAll("#alert-rows tr[data-alert]")).map(r => r.dataset.component + "=" + r.dataset.group).join(" ")`
	tabTo(`#alert-groups input[value=open]`)
	key(kb.ArrowRight)
	focusIs("the next group", `input Firing`)
	waitPage(t, ctx, "the firing group: billing, not the acknowledged orders", listed, func(s string) bool { return s == "billing=firing" })

	// The graph: a node opens its service with Enter.
	tabTo(`nav button[data-view=graph]`)
	key(kb.Enter)
	focusIs("the graph's heading", "h2#graph-title")
	waitPage(t, ctx, "the graph's nodes", `String(document.querySelectorAll('#graph-picture g.node.clickable').length)`, func(s string) bool { return s == "2" })
	tabTo(`#graph-picture g.node[id="default/billing"]`)
	key(kb.Enter)
	focusIs("a node opens its service", "h2#service-title Service billing")
}

// TestDashboardResumes: the page's event stream drops (a proxy between the browser and the hub
// cuts every connection) while a service turns unhealthy; when the hub is reachable again the
// page resumes with Last-Event-ID and shows the change without reading the state again. After
// the hub restarts, it cannot resume (the ID is the old hub's): the page reads the state afresh.
func TestDashboardResumes(t *testing.T) {
	dir := t.TempDir()
	listen := freePort(t)
	h := startHub(t, dir+"/data", listen)
	px := newTCPProxy(t, listen)
	ctx := browsertest.Context(t, "to test the dashboard page in a browser", 120*time.Second)
	report := webReporter(t, h) // reports go straight to the hub, at the same address after its restart
	report("orders", "orders-1", status.Passing)
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+px.ln.Addr().String()+"/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), issue(t, auth.Admin, "*", "")), chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`)),
		chromedp.Click(chromedp.CSS(`nav button[data-view=services]`))); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	rowStatus := `(() => { const r = document.querySelector('tr[data-service="default/orders"] .svc-status'); return r ? r.textContent : ""; })()`
	liveText := `document.getElementById("live").textContent`
	healthReads := `String(performance.getEntriesByType("resource").filter(e => e.name.includes("/api/v1/dashboard/health")).length)`
	waitPage(t, ctx, "orders healthy", rowStatus, func(s string) bool { return s == "healthy" })
	waitPage(t, ctx, "live", liveText, func(s string) bool { return s == "live" })

	// The drop: the change is on the hub's stream (read here directly) before the page can reach
	// the hub again, so only a resume can bring it.
	direct := streamLines(t, h.url, issue(t, auth.Viewer, "default", ""))
	px.cut()
	waitPage(t, ctx, "the page sees the drop", liveText, func(s string) bool { return s != "live" })
	report("orders", "orders-1", status.Critical)
	published := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case line := <-direct:
			seen = strings.HasPrefix(line, "data: ") && strings.Contains(line, `"name":"orders"`) && strings.Contains(line, `"status":"unhealthy"`)
		case <-published:
			t.Fatal("the change never reached the hub's stream")
		}
	}
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](rowStatus)); v != "healthy" {
		t.Fatalf("the row changed during the drop: %q", v)
	}
	px.restore()
	waitPage(t, ctx, "orders unhealthy after the resume", rowStatus, func(s string) bool { return s == "unhealthy" })
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](healthReads)); v != "1" {
		t.Fatalf("the page read the state %s times: it should have resumed, not read it again", v)
	}

	// The restart: the page's last ID is the old hub's, so the new one says reset.
	h.stop(t)
	startHub(t, dir+"/data", listen)
	report("orders", "orders-1", status.Passing)
	waitPage(t, ctx, "orders healthy after the restart", rowStatus, func(s string) bool { return s == "healthy" })
	waitPage(t, ctx, "the state read again after the reset", healthReads, func(s string) bool { return s == "2" })
	waitPage(t, ctx, "live again", liveText, func(s string) bool { return s == "live" })
}

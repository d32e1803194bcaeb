package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/centralhub/centralhub/hub/internal/browsertest"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/configdoc"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// putConfig stores a desired config through the API and returns the status and body.
func putConfig(t *testing.T, h *hubProc, token, service, ifMatch, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, h.url+"/api/v1/config/"+service, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// configState is an instance's config object on the dashboard.
type configState struct {
	Status   string `json:"status"`
	Version  string `json:"version"`
	Problems []struct {
		File   string `json:"file"`
		Key    string `json:"key"`
		Reason string `json:"reason"`
	} `json:"problems"`
}

// instanceConfig reads service/instance's config state from the dashboard, and the raw body.
func instanceConfig(t *testing.T, h *hubProc, service, instance string) (configState, string) {
	t.Helper()
	var doc struct {
		Services []struct {
			Instances []struct {
				Instance string      `json:"instance"`
				Config   configState `json:"config"`
			} `json:"instances"`
		} `json:"services"`
	}
	code, body := getJSON(t, h.url+"/api/v1/dashboard/health?service="+service, issue(t, auth.Viewer, "default", ""), &doc)
	if code != 200 {
		t.Fatalf("dashboard health: %d %s", code, body)
	}
	for _, s := range doc.Services {
		for _, in := range s.Instances {
			if in.Instance == instance {
				return in.Config, body
			}
		}
	}
	return configState{}, body
}

func waitConfig(t *testing.T, h *hubProc, service, instance, status, version string) configState {
	t.Helper()
	var st configState
	eventually(t, 20*time.Second, fmt.Sprintf("%s/%s config %s at version %q", service, instance, status, version), func() error {
		st, _ = instanceConfig(t, h, service, instance)
		if st.Status != status || st.Version != version {
			return fmt.Errorf("config %+v", st)
		}
		return nil
	})
	return st
}

// TestDesiredConfig drives the real hub and agents through desired config: an admin stores it
// (a viewer reads it redacted); an agent whose file matches reports in_sync; an edit of the file
// is reported drifted, key by key and without values, and raises the config_drift alert, which
// resolves when the file is put back; an agent with apply writes each new version into its TOML
// file and runs its reload command; the hub keeps the config across a restart.
func TestDesiredConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := writeHubConfig(t, dir, "alerts:\n  resolve_after: 1s\n  builtin:\n    config_drift: {for: 1s}\n")
	listen := freePort(t)
	h := startHub(t, dir+"/data", listen, "--config", cfg)
	admin := issue(t, auth.Admin, "default", "")
	viewer := issue(t, auth.Viewer, "default", "")

	const secret = "pg-Secret-4711"
	desired := `{"db": {"url": "postgres://db.internal/orders", "password": "` + secret + `", "pool": 20}, "log_level": "info"}`
	if code, body := putConfig(t, h, viewer, "orders", "", desired); code != http.StatusForbidden {
		t.Fatalf("a viewer's PUT: %d %s, want 403", code, body)
	}
	if code, body := putConfig(t, h, admin, "orders", `"0"`, desired); code != http.StatusOK || !strings.Contains(body, `"version":1`) {
		t.Fatalf("PUT version 1: %d %s", code, body)
	}
	if code, body := getJSON(t, h.url+"/api/v1/config/orders", viewer, nil); code != 200 || strings.Contains(body, secret) ||
		!strings.Contains(body, configdoc.Redacted) {
		t.Fatalf("a viewer's GET: %d %s, want the password redacted", code, body)
	}

	// The file matches version 1, written in YAML.
	file := filepath.Join(dir, "orders.yaml")
	inSync := "db:\n  url: postgres://db.internal/orders\n  password: " + secret + "\n  pool: 20\nlog_level: info\n"
	if err := os.WriteFile(file, []byte(inSync), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf("interval: 1s\nconfig_checks:\n  - {path: %q, required_keys: [db.url], compare_desired: true, interval: 1s}\n", file)
	startAgent(t, agentConfigWith(t, dir, h.url, "orders", "orders-1", "  - {name: up, exec: {command: [/bin/true]}}\n", extra))
	waitConfig(t, h, "orders", "orders-1", "in_sync", "1")

	// Drift: another password and log level; the report names the keys, never the values.
	drifted := strings.Replace(strings.Replace(inSync, secret, "other-Secret-0815", 1), "info", "debug", 1)
	if err := os.WriteFile(file, []byte(drifted), 0o600); err != nil {
		t.Fatal(err)
	}
	st := waitConfig(t, h, "orders", "orders-1", "drifted", "1")
	var keys []string
	for _, p := range st.Problems {
		keys = append(keys, p.Key+": "+p.Reason)
	}
	if want := []string{"db.password: differs from desired version 1", "log_level: differs from desired version 1"}; strings.Join(keys, "; ") != strings.Join(want, "; ") {
		t.Fatalf("drift problems %q, want %q", keys, want)
	}
	if _, body := instanceConfig(t, h, "orders", "orders-1"); strings.Contains(body, "other-Secret-0815") || strings.Contains(body, secret) ||
		strings.Contains(body, "debug") {
		t.Fatalf("a value reached the dashboard: %s", body)
	}
	eventually(t, 20*time.Second, "the config_drift alert fires", func() error {
		if a, ok := findAlert(t, h, viewer, "config_drift", "orders", "firing"); !ok || a.Instance != "orders-1" {
			return fmt.Errorf("no firing config_drift alert for orders-1 (%+v)", a)
		}
		return nil
	})
	if err := os.WriteFile(file, []byte(inSync), 0o600); err != nil {
		t.Fatal(err)
	}
	waitConfig(t, h, "orders", "orders-1", "in_sync", "1")
	eventually(t, 20*time.Second, "the config_drift alert resolves", func() error {
		if _, ok := findAlert(t, h, viewer, "config_drift", "orders", "resolved"); !ok {
			return fmt.Errorf("not resolved")
		}
		return nil
	})

	// A second instance applies the desired config to its TOML file and reloads.
	tomlFile := filepath.Join(dir, "orders-2.toml")
	marker := filepath.Join(dir, "reloaded")
	extra2 := fmt.Sprintf("interval: 1s\nconfig_checks:\n  - {path: %q, compare_desired: true, apply: true, interval: 1s, reload_command: [/bin/sh, -c, 'echo reloaded >> %s']}\n", tomlFile, marker)
	startAgent(t, agentConfigWith(t, dir, h.url, "orders", "orders-2", "  - {name: up, exec: {command: [/bin/true]}}\n", extra2))
	waitConfig(t, h, "orders", "orders-2", "in_sync", "1")
	written, err := os.ReadFile(tomlFile)
	if err != nil {
		t.Fatal(err)
	}
	flat, err := configdoc.Parse("toml", written)
	if err != nil || flat["db.password"] != secret || flat["db.pool"] != "20" || flat["log_level"] != "info" {
		t.Fatalf("the applied TOML file: %v\n%s", err, written)
	}
	if fi, _ := os.Stat(tomlFile); fi.Mode().Perm()&0o004 != 0 {
		t.Fatalf("the applied file, which holds a password, is world-readable: %v", fi.Mode())
	}

	// Version 2, written with If-Match: the applying agent follows, the other drifts.
	if code, body := putConfig(t, h, admin, "orders", `"0"`, desired); code != http.StatusPreconditionFailed {
		t.Fatalf("a stale If-Match: %d %s, want 412", code, body)
	}
	v2 := strings.Replace(desired, `"info"`, `"warn"`, 1)
	if code, body := putConfig(t, h, admin, "orders", `"1"`, v2); code != http.StatusOK || !strings.Contains(body, `"version":2`) {
		t.Fatalf("PUT version 2: %d %s", code, body)
	}
	waitConfig(t, h, "orders", "orders-2", "in_sync", "2")
	waitConfig(t, h, "orders", "orders-1", "drifted", "2")
	if b, _ := os.ReadFile(marker); bytes.Count(b, []byte("reloaded")) < 2 {
		t.Fatalf("the reload command ran %d times, want one per applied version", bytes.Count(b, []byte("reloaded")))
	}

	// The desired config outlives a restart of the hub.
	h.stop(t)
	h = startHub(t, dir+"/data", listen, "--config", cfg)
	var got struct {
		Version   int    `json:"version"`
		UpdatedBy string `json:"updated_by"`
	}
	if code, body := getJSON(t, h.url+"/api/v1/config/orders", viewer, &got); code != 200 || got.Version != 2 {
		t.Fatalf("after a restart: %d %s", code, body)
	}
}

// TestDashboardConfig: the page shows a service's desired config to a viewer with its secret
// values redacted, and an instance's config state and problems, in headless Chromium.
func TestDashboardConfig(t *testing.T) {
	ctx := browsertest.Context(t, "to test the dashboard page's config views in a browser", 90*time.Second)
	dir := t.TempDir()
	h := startHub(t, dir+"/data", freePort(t))
	const secret = "pg-Secret-4711"
	if code, body := putConfig(t, h, issue(t, auth.Admin, "default", ""), "orders", "",
		`{"db": {"url": "postgres://db.internal/orders", "password": "`+secret+`"}, "log_level": "info"}`); code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}
	rep := protocol.Report{Version: 1, Tenant: "default", Service: "orders", Instance: "orders-1", Boot: 1, Seq: 1,
		Interval: protocol.Duration(time.Minute),
		Checks:   []protocol.CheckResult{{Name: "web", Kind: "http", Status: status.Passing, Output: "HTTP 200"}},
		Config: protocol.ConfigState{Status: protocol.ConfigDrifted, Version: "1", Problems: []protocol.ConfigProblem{
			{File: "/etc/orders/config.yaml", Key: "db.password", Reason: "differs from desired version 1"}}}}
	body, _ := json.Marshal(rep)
	req, _ := http.NewRequest(http.MethodPost, h.url+"/api/v1/agent/reports", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+issue(t, auth.Agent, "default", "orders"))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("report: %v %v", res, err)
	} else {
		res.Body.Close()
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(h.url+"/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), issue(t, auth.Viewer, "default", "")),
		chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`))); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	waitPage(t, ctx, "signed in and live", `document.getElementById("live").textContent`, func(s string) bool { return s == "live" })
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash = "#service/default/orders"`)); err != nil {
		t.Fatal(err)
	}
	row := func(key string) string {
		return `(() => { const r = document.querySelector('#service-config tr[data-config-key="` + key + `"] td.output'); return r ? r.textContent : ""; })()`
	}
	waitPage(t, ctx, "the desired config's version", `document.getElementById("service-config").textContent`,
		func(s string) bool {
			return strings.Contains(s, "Version 1, written by e2e") && strings.Contains(s, "3 keys")
		})
	waitPage(t, ctx, "db.url in clear", row("db.url"), func(s string) bool { return s == "postgres://db.internal/orders" })
	waitPage(t, ctx, "db.password redacted", row("db.password"), func(s string) bool { return s == configdoc.Redacted })
	if html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerHTML`)); strings.Contains(html, secret) {
		t.Fatal("the secret reached a viewer's page")
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash = "#instance/default/orders/orders-1"`)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the instance's config state and problem", `document.getElementById("instance-config").textContent`,
		func(s string) bool {
			return strings.Contains(s, "Config: drifted (desired version 1).") && strings.Contains(s, "db.password") &&
				strings.Contains(s, "differs from desired version 1")
		})
}

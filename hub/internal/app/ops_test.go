package app

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// opsHub is a real hub running in-process for the operator commands' tests.
type opsHub struct {
	t                       *testing.T
	url                     string
	keys                    *auth.Keys
	admin, operator, viewer string
	seq                     uint64
}

// startOpsHub runs a hub on 127.0.0.1:0 with an embedded store in a temporary directory;
// instance_critical fires at once, and the service rules are off so the alerts are predictable.
func startOpsHub(t *testing.T) *opsHub {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	now := Duration(0)
	cfg.Alerts.EvalInterval = Duration(100 * time.Millisecond)
	cfg.Alerts.Builtin = map[string]BuiltinConfig{
		"instance_critical": {For: &now},
		"service_unhealthy": {Disabled: true},
		"service_degraded":  {Disabled: true},
	}
	keys, err := auth.NewKeys([]byte("ops-test-secret-0123456789abcdefghijklmnopqrstuvwxyz"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, cfg, keys, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("hub: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("hub did not stop")
		}
	})
	h := &opsHub{t: t, url: "http://" + a.Addr(), keys: keys}
	h.admin = h.token(auth.Admin, "root", auth.AllTenants, "")
	h.operator = h.token(auth.Operator, "alice", "", "")
	h.viewer = h.token(auth.Viewer, "vera", "", "")
	poll(t, 10*time.Second, func() bool {
		res, err := http.Get(h.url + "/ready")
		return err == nil && res.Body.Close() == nil && res.StatusCode == 200
	})
	return h
}

func (h *opsHub) token(role auth.Role, subject, tenant, service string) string {
	h.t.Helper()
	tok, err := h.keys.Issue(auth.IssueRequest{Role: role, Subject: subject, Tenant: tenant, Service: service, TTL: time.Hour})
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// report posts one report of service/instance with one check "web" of the given status.
func (h *opsHub) report(service, instance string, st status.Check, output string) {
	h.t.Helper()
	h.seq++
	rep := protocol.Report{Version: 1, Tenant: "default", Service: service, Instance: instance, Boot: 1, Seq: h.seq,
		SentAt: time.Now(), Interval: protocol.Duration(10 * time.Second),
		Checks: []protocol.CheckResult{{Name: "web", Kind: "http", Status: st, Output: output}}}
	body, _ := json.Marshal(rep)
	code, answer, _ := call(h.t, "POST", h.url+protocol.ReportPath, h.token(auth.Agent, instance, "", service), string(body), nil)
	if code != 200 {
		h.t.Fatalf("report %s/%s: %d %s", service, instance, code, answer)
	}
}

// run runs `hub <args>` with HUB_URL pointing at the hub and HUB_TOKEN set to token ("": unset).
func (h *opsHub) run(token string, args ...string) (code int, stdout, stderr string) {
	env := map[string]string{"HUB_URL": h.url}
	if token != "" {
		env["HUB_TOKEN"] = token
	}
	return runHubCLI(env, args...)
}

func runHubCLI(env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, &out, &errb, envOf(env))
	return code, out.String(), errb.String()
}

// rowsOf splits a table into rows of whitespace-separated fields.
func rowsOf(table string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(table, "\n"), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

func TestOpsStatus(t *testing.T) {
	h := startOpsHub(t)

	// Nothing reports yet: unknown, exit 3.
	code, out, errOut := h.run(h.viewer, "status")
	if code != 3 || !strings.Contains(out, "STATUS     unknown") || errOut != "" {
		t.Fatalf("empty hub: exit %d\n%s%s", code, out, errOut)
	}

	h.report("payments", "payments-1", status.Passing, "200 OK")
	code, out, _ = h.run(h.viewer, "status")
	t.Logf("healthy:\n%s", out)
	for _, want := range []string{"STATUS     healthy\n", "HUB        healthy, version dev, " + h.url + "\n",
		"SERVICES   1 healthy, 0 degraded, 0 unhealthy, 0 unknown\n", "INSTANCES  1 passing, 0 warning, 0 critical, 0 unknown\n",
		"ALERTS     0 firing, 0 acknowledged\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("healthy: missing %q in\n%s", want, out)
		}
	}
	if code != 0 || strings.Contains(out, "WHY") {
		t.Fatalf("healthy: exit %d\n%s", code, out)
	}

	h.report("orders", "orders-1", status.Critical, "connection refused")
	code, out, _ = h.run(h.viewer, "status")
	t.Logf("unhealthy:\n%s", out)
	rows := rowsOf(out)
	if code != 2 || !strings.Contains(out, "STATUS     unhealthy\n") || !strings.Contains(out, "1 healthy, 0 degraded, 1 unhealthy, 0 unknown") {
		t.Fatalf("unhealthy: exit %d\n%s", code, out)
	}
	if last := rows[len(rows)-1]; strings.Join(last, " ") != "orders default unhealthy 1 of 1 instances not passing; orders-1: check web critical: connection refused" {
		t.Fatalf("unhealthy: the worst service reads %q", last)
	}

	// A second, passing instance makes orders degraded: exit 1.
	h.report("orders", "orders-2", status.Passing, "200 OK")
	if code, out, _ = h.run(h.viewer, "status"); code != 1 || !strings.Contains(out, "STATUS     degraded\n") ||
		!strings.Contains(out, "orders   default  degraded  1 of 2 instances not passing; orders-1: check web critical: connection refused") {
		t.Fatalf("degraded: exit %d\n%s", code, out)
	}

	// --json: the hub's /health and the summary as the API sends them; the exit code still says.
	code, out, _ = h.run(h.viewer, "status", "--json")
	var doc struct {
		Hub     map[string]string `json:"hub"`
		Summary registry.Summary  `json:"summary"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil || code != 1 {
		t.Fatalf("--json: exit %d %v\n%s", code, err, out)
	}
	if doc.Hub["status"] != "healthy" || doc.Hub["version"] != Version || doc.Summary.Status != status.Degraded ||
		doc.Summary.Services["degraded"] != 1 || doc.Summary.Instances["critical"] != 1 || len(doc.Summary.Worst) != 1 {
		t.Fatalf("--json: %+v", doc)
	}
	var api registry.Summary
	if getJSON(t, h.url+"/api/v1/dashboard/summary", h.viewer, &api) != 200 || !reflect.DeepEqual(api, doc.Summary) {
		t.Fatalf("--json summary %+v differs from the API's %+v", doc.Summary, api)
	}

	// Errors are "unknown" (3) for hub status, so a monitoring system never reads them as a
	// status.
	if code, _, errOut = h.run("", "status"); code != 3 || !strings.Contains(errOut, "hub status: no token: set HUB_TOKEN or pass --token-file") {
		t.Fatalf("no token: exit %d %q", code, errOut)
	}
	// A tenant's token naming another tenant: the API's 403, unknown.
	if code, _, errOut = h.run(h.viewer, "status", "--tenant", "other"); code != 3 || !strings.Contains(errOut, "403 Forbidden") {
		t.Fatalf("--tenant other: exit %d %q", code, errOut)
	}
	if code, _, errOut = h.run(h.viewer, "status", "--bogus"); code != 3 {
		t.Fatalf("bad flag: exit %d %q", code, errOut)
	}
	if code, _, _ = h.run(h.viewer, "status", "--help"); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
}

func TestOpsServices(t *testing.T) {
	h := startOpsHub(t)
	h.report("payments", "payments-1", status.Passing, "200 OK")
	h.report("orders", "orders-1", status.Critical, "connection refused")
	h.report("orders", "orders-2", status.Passing, "200 OK")
	h.report("billing", "billing-1", status.Critical, "timeout\nafter 5s")

	code, out, errOut := h.run(h.viewer, "services")
	t.Logf("services:\n%s", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rows := rowsOf(out)
	want := [][]string{
		{"NAME", "TENANT", "STATUS", "INSTANCES", "LAST", "REPORT"},
		{"billing", "default", "unhealthy", "0/1"},
		{"orders", "default", "degraded", "1/2"},
		{"payments", "default", "healthy", "1/1"},
	}
	if len(rows) != len(want) {
		t.Fatalf("want %d rows:\n%s", len(want), out)
	}
	for i, w := range want {
		if !reflect.DeepEqual(rows[i][:len(w)], w) {
			t.Fatalf("row %d: %q, want %q first", i, rows[i], w)
		}
		if i > 0 && (!strings.HasSuffix(rows[i][4], "s") || rows[i][5] != "ago") {
			t.Fatalf("row %d: last report %q", i, rows[i][4:])
		}
	}

	// --json joins the pages into dashboard/health's shape: equal to the API's unpaged answer.
	defer func(n int) { servicesPage = n }(servicesPage)
	servicesPage = 1
	code, out, errOut = h.run(h.viewer, "services", "--json")
	if code != 0 {
		t.Fatalf("--json: exit %d %s", code, errOut)
	}
	var got, api any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if getJSON(t, h.url+"/api/v1/dashboard/health", h.viewer, &api) != 200 || !reflect.DeepEqual(got, api) {
		t.Fatalf("--json:\n%s\ndiffers from the API's %v", out, api)
	}
	var health registry.Health
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&health); err != nil || health.Total != 3 || len(health.Services) != 3 || health.Status != status.Unhealthy {
		t.Fatalf("--json as the API shape: %v %+v", err, health)
	}

	// --status filters, in the table and in the JSON.
	if code, out, _ = h.run(h.viewer, "services", "--status", "unhealthy"); code != 0 || len(rowsOf(out)) != 2 || rowsOf(out)[1][0] != "billing" {
		t.Fatalf("--status unhealthy: exit %d\n%s", code, out)
	}
	code, out, _ = h.run(h.viewer, "services", "--status", "healthy", "--json")
	if err := json.Unmarshal([]byte(out), &health); err != nil || code != 0 || health.Total != 1 || len(health.Services) != 1 || health.Services[0].Name != "payments" {
		t.Fatalf("--status healthy --json: exit %d %v\n%s", code, err, out)
	}
	if code, out, _ = h.run(h.viewer, "services", "--status", "unknown"); code != 0 || out != "no unknown services\n" {
		t.Fatalf("--status unknown: exit %d %q", code, out)
	}
	if code, _, errOut = h.run(h.viewer, "services", "--status", "bad"); code != 1 || !strings.Contains(errOut, `hub services: --status: "bad" is not healthy`) {
		t.Fatalf("--status bad: exit %d %q", code, errOut)
	}

	// --service: instances and checks; an output's newline stays inside its cell.
	code, out, _ = h.run(h.viewer, "services", "--service", "orders")
	t.Logf("services --service orders:\n%s", out)
	want = [][]string{
		{"INSTANCE", "STATUS", "CHECK", "STATUS", "OUTPUT"},
		{"orders-1", "critical", "web", "critical", "connection", "refused"},
		{"orders-2", "passing", "web", "passing", "200", "OK"},
		{"orders", "(tenant", "default):", "degraded,", "1/2", "instances", "passing"},
	}
	if code != 0 || !reflect.DeepEqual(rowsOf(out), want) {
		t.Fatalf("--service orders: exit %d\n%s", code, out)
	}
	if code, out, _ = h.run(h.viewer, "services", "--service", "billing"); code != 0 || !strings.Contains(out, "timeout after 5s") {
		t.Fatalf("--service billing: exit %d\n%s", code, out)
	}
	if code, _, errOut = h.run(h.admin, "services", "--service", "orders", "--tenant", "default"); code != 0 {
		t.Fatalf("--tenant default with an admin of every tenant: exit %d %s", code, errOut)
	}
	if code, _, errOut = h.run(h.viewer, "services", "--service", "nosuch"); code != 1 || !strings.Contains(errOut, "hub services: no service nosuch") {
		t.Fatalf("--service nosuch: exit %d %q", code, errOut)
	}
	// A tenant's token naming another tenant: the API's 403 and its reason.
	if code, _, errOut = h.run(h.viewer, "services", "--tenant", "other"); code != 1 || errOut != "hub services: 403 Forbidden: token is for tenant \"default\"\n" {
		t.Fatalf("--tenant other: exit %d %q", code, errOut)
	}
}

func TestOpsAlertsAndAck(t *testing.T) {
	h := startOpsHub(t)
	h.report("payments", "payments-1", status.Passing, "200 OK")
	h.report("orders", "orders-1", status.Critical, "connection refused")

	var out, errOut string
	var code int
	poll(t, 15*time.Second, func() bool {
		code, out, _ = h.run(h.viewer, "alerts", "--state", "firing")
		return code == 0 && strings.Contains(out, "instance_critical")
	})
	t.Logf("alerts:\n%s", out)
	rows := rowsOf(out)
	if len(rows) != 2 || !reflect.DeepEqual(rows[0], []string{"STATE", "SEVERITY", "COMPONENT", "SERVICE", "RULE", "SINCE", "ACK", "SUMMARY"}) ||
		!reflect.DeepEqual(rows[1][:5], []string{"firing", "critical", "orders", "orders", "instance_critical"}) || rows[1][6] != "ago" || rows[1][7] != "-" {
		t.Fatalf("alerts:\n%s", out)
	}
	if code, out, _ = h.run(h.viewer, "alerts", "--state", "resolved"); code != 0 || out != "no alerts\n" {
		t.Fatalf("--state resolved: exit %d %q", code, out)
	}
	if code, out, _ = h.run(h.viewer, "alerts", "--component", "payments"); code != 0 || out != "no alerts\n" {
		t.Fatalf("--component payments: exit %d %q", code, out)
	}

	acked := func() *hub.Ack {
		t.Helper()
		var list struct{ Alerts []hub.Alert }
		if getJSON(t, h.url+"/api/v1/dashboard/alerts?component=orders&state=firing", h.viewer, &list) != 200 || len(list.Alerts) != 1 {
			t.Fatalf("alerts on orders: %+v", list)
		}
		return list.Alerts[0].Ack
	}

	// No comment: refused naming the flag, before anything is sent.
	for _, args := range [][]string{{"ack", "orders"}, {"ack", "orders", "--comment", "  "}} {
		code, out, errOut = h.run(h.operator, args...)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, "hub ack: --comment: required") {
			t.Fatalf("%q: exit %d %q %q", args, code, out, errOut)
		}
	}
	if a := acked(); a != nil {
		t.Fatalf("acknowledged without a comment: %+v", a)
	}
	// A viewer may not: the API's 403 and reason, nonzero exit, nothing changed.
	code, _, errOut = h.run(h.viewer, "ack", "orders", "--comment", "on it")
	if code != 1 || errOut != "hub ack: 403 Forbidden: role viewer may not use this route (needs operator)\n" {
		t.Fatalf("viewer ack: exit %d %q", code, errOut)
	}
	if a := acked(); a != nil {
		t.Fatalf("a viewer acknowledged: %+v", a)
	}
	// An operator acknowledges (flags after or before the component).
	code, out, errOut = h.run(h.operator, "ack", "--expires-in", "2h", "orders", "--comment", "on it, restarting the pool")
	t.Logf("ack:\n%s", out)
	if code != 0 || !strings.HasPrefix(out, "acknowledged 1 firing alert on orders as alice, until ") {
		t.Fatalf("ack: exit %d %q %q", code, out, errOut)
	}
	a := acked()
	if a == nil || a.By != "alice" || a.Comment != "on it, restarting the pool" || a.ExpiresAt == nil || time.Until(*a.ExpiresAt) < 119*time.Minute {
		t.Fatalf("after ack: %+v", a)
	}
	code, out, _ = h.run(h.viewer, "alerts")
	t.Logf("alerts after ack:\n%s", out)
	if code != 0 || !strings.Contains(out, " alice: on it, restarting the pool ") {
		t.Fatalf("alerts after ack: exit %d\n%s", code, out)
	}
	code, out, _ = h.run(h.viewer, "status")
	t.Logf("status after ack (exit %d):\n%s", code, out)
	if code != 2 || !strings.Contains(out, "ALERTS     1 firing, 1 acknowledged\n") {
		t.Fatalf("status after ack: exit %d\n%s", code, out)
	}

	// --json: the API's alert list.
	code, out, _ = h.run(h.viewer, "alerts", "--json", "--limit", "1")
	if !strings.HasSuffix(out, "}\n") || strings.HasSuffix(out, "\n\n") {
		t.Fatalf("alerts --json does not end in one newline: %q", out)
	}
	var list struct {
		Alerts []hub.Alert `json:"alerts"`
		Count  int         `json:"count"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil || code != 0 || list.Count != 1 || list.Alerts[0].Ack == nil || list.Alerts[0].Ack.By != "alice" {
		t.Fatalf("alerts --json: exit %d %v\n%s", code, err, out)
	}

	// Un-acknowledge; then there is nothing left to un-acknowledge: the API's 404 reason.
	if code, out, errOut = h.run(h.operator, "ack", "orders", "--remove"); code != 0 || out != "un-acknowledged 1 alert on orders\n" {
		t.Fatalf("--remove: exit %d %q %q", code, out, errOut)
	}
	if a := acked(); a != nil {
		t.Fatalf("still acknowledged after --remove: %+v", a)
	}
	code, _, errOut = h.run(h.operator, "ack", "orders", "--remove")
	if code != 1 || errOut != "hub ack: 404 Not Found: no acknowledged alert on component orders in tenant default\n" {
		t.Fatalf("--remove again: exit %d %q", code, errOut)
	}
	code, _, errOut = h.run(h.operator, "ack", "payments", "--comment", "x")
	if code != 1 || errOut != "hub ack: 404 Not Found: no firing alert on component payments in tenant default\n" {
		t.Fatalf("ack of nothing firing: exit %d %q", code, errOut)
	}
	if code, _, errOut = h.run(h.operator, "ack", "orders", "--remove", "--comment", "x"); code != 1 || !strings.Contains(errOut, "--remove") {
		t.Fatalf("--remove --comment: exit %d %q", code, errOut)
	}
	if code, _, errOut = h.run(h.operator, "ack", "--comment", "x"); code != 1 || !strings.Contains(errOut, "COMPONENT") {
		t.Fatalf("no component: exit %d %q", code, errOut)
	}
	if code, _, errOut = h.run(h.operator, "ack", "orders", "--comment", "x", "--expires-in", "9d"); code != 1 ||
		!strings.HasPrefix(errOut, "hub ack: 400 Bad Request: expires_in: 9d must be positive and at most 7d") {
		t.Fatalf("--expires-in 9d: exit %d %q", code, errOut)
	}
	if code, _, errOut = h.run(h.viewer, "alerts", "--state", "open"); code != 1 || !strings.Contains(errOut, "--state") {
		t.Fatalf("--state open: exit %d %q", code, errOut)
	}
}

// TestOpsErrors: a missing token names both ways to give one, an unreachable hub names its URL,
// a bad token is the API's 401, and the token never appears in any output.
func TestOpsErrors(t *testing.T) {
	h := startOpsHub(t)
	for _, cmd := range [][]string{{"status"}, {"services"}, {"alerts"}, {"ack", "orders", "--comment", "x"}} {
		code, _, errOut := h.run("", cmd...)
		want := 1
		if cmd[0] == "status" {
			want = 3
		}
		if code != want || errOut != "hub "+cmd[0]+": no token: set HUB_TOKEN or pass --token-file (a viewer token or better; operator to acknowledge)\n" {
			t.Fatalf("%s without a token: exit %d %q", cmd[0], code, errOut)
		}
	}

	// --token-file is read; an empty one is refused.
	code, _, errOut := runHubCLI(nil, "services", "--url", h.url, "--token-file", writeTemp(t, h.viewer+"\n"))
	if code != 0 {
		t.Fatalf("--token-file: exit %d %s", code, errOut)
	}
	if code, _, errOut = runHubCLI(nil, "services", "--url", h.url, "--token-file", writeTemp(t, "")); code != 1 || !strings.Contains(errOut, "empty") {
		t.Fatalf("empty --token-file: exit %d %q", code, errOut)
	}

	// Nothing listens: the message names the URL.
	closed := "http://127.0.0.1:" + freePortNum(t)
	for _, cmd := range []string{"status", "services", "alerts"} {
		code, out, errOut := runHubCLI(map[string]string{"HUB_TOKEN": h.viewer}, cmd, "--url", closed)
		if code == 0 || out != "" || !strings.HasPrefix(errOut, "hub "+cmd+": cannot reach the hub at "+closed+": ") ||
			!strings.Contains(errOut, "connection refused") || strings.Contains(errOut, h.viewer) {
			t.Fatalf("%s at a closed port: exit %d %q", cmd, code, errOut)
		}
	}
	if code, _, errOut = runHubCLI(map[string]string{"HUB_TOKEN": h.viewer, "HUB_URL": "ftp://x"}, "services"); code != 1 || !strings.Contains(errOut, "--url") {
		t.Fatalf("ftp URL: exit %d %q", code, errOut)
	}

	// A token the hub did not sign: the API's 401 with advice.
	other, _ := auth.NewKeys([]byte("another-secret-0123456789abcdefghijklmnopqrstuvwxyz"))
	bad, _ := other.Issue(auth.IssueRequest{Role: auth.Viewer, Subject: "mallory", TTL: time.Hour})
	code, out, errOut := h.run(bad, "alerts")
	if code != 1 || errOut != "hub alerts: 401 Unauthorized: invalid token (check HUB_TOKEN or --token-file)\n" ||
		strings.Contains(out+errOut, bad) {
		t.Fatalf("bad token: exit %d %q", code, errOut)
	}

	// A server that is no hub.
	notHub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<html>gateway</html>", http.StatusBadGateway)
	}))
	defer notHub.Close()
	code, _, errOut = runHubCLI(map[string]string{"HUB_TOKEN": h.viewer}, "alerts", "--url", notHub.URL)
	if code != 1 || !strings.HasPrefix(errOut, "hub alerts: 502 Bad Gateway: not an answer of the Central Hub API") {
		t.Fatalf("not a hub: exit %d %q", code, errOut)
	}

	// --timeout bounds the wait.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer slow.Close()
	code, _, errOut = runHubCLI(map[string]string{"HUB_TOKEN": h.viewer}, "alerts", "--url", slow.URL, "--timeout", "200ms")
	if code != 1 || errOut != "hub alerts: no answer from the hub at "+slow.URL+" within 200ms (--timeout)\n" {
		t.Fatalf("--timeout: exit %d %q", code, errOut)
	}

	// hub keys takes --url as well as --hub.
	code, _, errOut = runHubCLI(map[string]string{"HUB_TOKEN": h.admin}, "keys", "list", "--url", closed)
	if code != 1 || !strings.Contains(errOut, "127.0.0.1:"+strings.TrimPrefix(closed, "http://127.0.0.1:")) {
		t.Fatalf("keys list --url: exit %d %q", code, errOut)
	}
}

// TestOpsCAFile: an https hub is verified with --ca-file (or HUB_CA_FILE) and refused without it.
func TestOpsCAFile(t *testing.T) {
	var gotAuth atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		switch r.URL.Path {
		case "/health":
			fmt.Fprint(w, `{"status":"healthy","version":"v9"}`)
		case "/api/v1/dashboard/summary":
			fmt.Fprint(w, `{"status":"healthy","services":{"healthy":1,"degraded":0,"unhealthy":0,"unknown":0},`+
				`"instances":{"passing":1,"warning":0,"critical":0,"unknown":0},"alerts":{"firing":0,"acknowledged":0},"worst":[]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake of the first call
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	writeOpsFile(t, caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))

	env := map[string]string{"HUB_TOKEN": "tok", "HUB_URL": srv.URL}
	code, _, errOut := runHubCLI(env, "status")
	if code != 3 || !strings.Contains(errOut, "certificate") || !strings.Contains(errOut, "--ca-file") {
		t.Fatalf("without a CA: exit %d %q", code, errOut)
	}
	code, out, errOut := runHubCLI(env, "status", "--ca-file", caFile)
	if code != 0 || !strings.Contains(out, "HUB        healthy, version v9, "+srv.URL) || gotAuth.Load() != "Bearer tok" {
		t.Fatalf("--ca-file: exit %d %q %q (auth %q)", code, out, errOut, gotAuth.Load())
	}
	env["HUB_CA_FILE"] = caFile
	if code, _, errOut = runHubCLI(env, "status"); code != 0 {
		t.Fatalf("HUB_CA_FILE: exit %d %q", code, errOut)
	}
	if code, _, errOut = runHubCLI(env, "status", "--ca-file", writeTemp(t, "not a certificate")); code != 3 || !strings.Contains(errOut, "no PEM certificate") {
		t.Fatalf("bad --ca-file: exit %d %q", code, errOut)
	}
}

func writeOpsFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		0: "0s ago", 45 * time.Second: "45s ago", 192 * time.Second: "3m12s ago", 2*time.Hour + 5*time.Minute: "2h5m ago",
		76 * time.Hour: "3d4h ago", -time.Second: "0s ago",
	} {
		if got := agoText(now, now.Add(-d)); got != want {
			t.Errorf("agoText(%s) = %q, want %q", d, got, want)
		}
	}
	if agoText(now, time.Time{}) != "-" {
		t.Error("the zero time")
	}
	if got := cell("a\tb\nc\x1b[31m"); got != "a b c [31m" {
		t.Errorf("cell: %q", got)
	}
	if statusCode("healthy", "degraded") != 1 || statusCode("unknown", "healthy") != 3 || statusCode("unhealthy", "healthy") != 2 {
		t.Error("statusCode")
	}
}

package e2e

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub/internal/pgtest"
	"github.com/centralhub/centralhub/pkg/auth"
)

// TestHubOnPostgres: the hub binary on PostgreSQL. `hub migrate status` shows the empty
// schema behind; `hub serve` refuses it with --migrate=false and migrates it by default; what
// it knew before a restart (here, with the database URL in a file) it knows right after.
func TestHubOnPostgres(t *testing.T) {
	url := pgtest.Schema(t)
	dir := t.TempDir()
	env := []string{"HUB_JWT_SECRET=" + secret, "HUB_DATABASE_URL=" + url}

	out, err := hubCmd(env, "migrate", "status").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "schema version 0 of") || !strings.Contains(string(out), "pending: 001_init") {
		t.Fatalf("migrate status of an empty schema: %v\n%s", err, out)
	}
	out, err = hubCmd(env, "serve", "--data-dir", dir+"/data", "--listen", freePort(t), "--migrate=false").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "hub migrate up") {
		t.Fatalf("serve --migrate=false on an empty schema: %v\n%s", err, out)
	}

	listen := freePort(t)
	h := startHub(t, dir+"/data", listen, "--database-url", url)
	tg := newTarget(t)
	ag := startAgent(t, agentConfig(t, dir, h.url, "orders", "orders-1", checksYAML("http://"+tg.addr+"/", tg.addr)))
	waitStatus(t, h, "orders", "orders-1", "passing", 20*time.Second)
	tg.down()
	waitStatus(t, h, "orders", "orders-1", "critical", 15*time.Second, "web=critical", "port=critical")
	ag.stop(t)
	h.stop(t)
	// The log names the database (host, port, name) and never the URL itself, which may hold a
	// password: its query, unique to this test, must not appear.
	if logs := h.out.String(); !strings.Contains(logs, `"store":"postgres://127.0.0.1:5432/`) || strings.Contains(logs, "search_path") {
		t.Fatalf("the hub's log should name the database and not quote its URL:\n%s", logs)
	}

	out, err = hubCmd(env, "migrate", "status").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "up to date") {
		t.Fatalf("migrate status after serve: %v\n%s", err, out)
	}
	urlFile := writeHubConfig(t, dir, url) // any file will do: it holds the URL
	h2 := startHub(t, dir+"/data2", listen, "--database-url-file", urlFile)
	got, checks := instanceStatus(t, h2, "orders", "orders-1")
	if got != "critical" || !strings.Contains(checks, "web=critical") || !strings.Contains(checks, "port=critical") {
		t.Fatalf("after restart on PostgreSQL: %q (%s)", got, checks)
	}
	// History written by the first hub, read through the second: the checks' fall, and an
	// uptime from its samples.
	var hist struct {
		Transitions []struct{ Check, From, To string }
		Uptime      map[string]*float64
	}
	if code, body := getJSON(t, h2.url+"/api/v1/dashboard/services/orders/history", issue(t, auth.Viewer, "default", ""), &hist); code != 200 {
		t.Fatalf("history: %d %s", code, body)
	}
	var fell []string
	for _, tr := range hist.Transitions {
		if tr.From == "passing" && tr.To == "critical" {
			fell = append(fell, tr.Check)
		}
	}
	if !slices.Contains(fell, "web") || !slices.Contains(fell, "port") || hist.Uptime["1h"] == nil {
		t.Fatalf("history after restart: transitions %+v, uptime %v", hist.Transitions, hist.Uptime)
	}
}

func hubCmd(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(hubBin, args...)
	cmd.Env = env
	return cmd
}

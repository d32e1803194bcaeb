package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/pkg/auth"
)

func checksYAML(httpURL, tcpAddr string) string {
	return fmt.Sprintf(`  - name: web
    http: {url: "%s", expect_status: "200-299"}
    interval: 1s
    timeout: 500ms
  - name: port
    tcp: {address: "%s"}
    interval: 1s
    timeout: 500ms
`, httpURL, tcpAddr)
}

// TestHealthyDiesRecovers: a real agent watches a real HTTP and TCP target; the hub shows the
// instance passing, critical when the target dies, passing again when it returns.
func TestHealthyDiesRecovers(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir+"/data", freePort(t))
	tg := newTarget(t)
	startAgent(t, agentConfig(t, dir, h.url, "orders", "orders-1", checksYAML("http://"+tg.addr+"/healthz", tg.addr)))

	waitStatus(t, h, "orders", "orders-1", "passing", 20*time.Second)
	tg.down()
	// each check runs on its own schedule, so the second may follow the first by an interval
	waitStatus(t, h, "orders", "orders-1", "critical", 15*time.Second, "web=critical", "port=critical")
	tg.up(t)
	waitStatus(t, h, "orders", "orders-1", "passing", 15*time.Second, "web=passing", "port=passing")
}

// TestHubRestartKeepsRegistry: what the hub knew before a restart it knows right after it,
// before any agent reports again.
func TestHubRestartKeepsRegistry(t *testing.T) {
	dir := t.TempDir()
	listen := freePort(t)
	h := startHub(t, dir+"/data", listen)
	tg := newTarget(t)
	ag := startAgent(t, agentConfig(t, dir, h.url, "orders", "orders-1", checksYAML("http://"+tg.addr+"/", tg.addr)))
	waitStatus(t, h, "orders", "orders-1", "passing", 20*time.Second)
	tg.down()
	waitStatus(t, h, "orders", "orders-1", "critical", 15*time.Second, "web=critical", "port=critical")
	ag.stop(t) // no agent reports from here on
	h.stop(t)

	h2 := startHub(t, dir+"/data", listen)
	got, checks := instanceStatus(t, h2, "orders", "orders-1")
	if got != "critical" || !strings.Contains(checks, "web=critical") || !strings.Contains(checks, "port=critical") {
		t.Fatalf("after restart: %q (%s)", got, checks)
	}
}

// TestKillNineLosesNoStateChange: a state change the hub answered is on disk even when the hub
// dies by SIGKILL right after.
func TestKillNineLosesNoStateChange(t *testing.T) {
	dir := t.TempDir()
	listen := freePort(t)
	h := startHub(t, dir+"/data", listen)
	tok := issue(t, auth.Agent, "default", "orders")
	body := fmt.Sprintf(`{"version":1,"tenant":"default","service":"orders","instance":"o9","boot":%d,"seq":1,"interval":"10s",
		"checks":[{"name":"web","kind":"http","status":"critical","output":"boom"}]}`, time.Now().UnixNano())
	req, _ := http.NewRequest("POST", h.url+"/api/v1/agent/reports", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("report: %v %v", res, err)
	}
	res.Body.Close()
	h.kill()
	h2 := startHub(t, dir+"/data", listen)
	if got, _ := instanceStatus(t, h2, "orders", "o9"); got != "critical" {
		t.Fatalf("after kill -9 and restart: %q", got)
	}
}

// TestAgentRestartAcceptedAtOnce: a restarted agent starts a new boot at seq 1; the hub takes
// its first report at once instead of ignoring it as older.
func TestAgentRestartAcceptedAtOnce(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir+"/data", freePort(t), "--config", writeHubConfig(t, dir, "registry: {stale_after: 100}\n"))
	tg := newTarget(t)
	cfg := agentConfig(t, dir, h.url, "orders", "orders-1", checksYAML("http://"+tg.addr+"/", tg.addr))
	ag := startAgent(t, cfg)
	waitStatus(t, h, "orders", "orders-1", "passing", 20*time.Second)
	ag.stop(t)
	tg.down()
	// With stale_after at 100 intervals the hub cannot turn it critical on its own; only the
	// new agent's first reports can.
	startAgent(t, cfg)
	waitStatus(t, h, "orders", "orders-1", "critical", 15*time.Second)

	// The same rule, pinned down: after seq 1000 of one boot, seq 1 of a newer boot is stored.
	tok := issue(t, auth.Agent, "default", "orders")
	boot := time.Now().UnixNano()
	for _, r := range []struct {
		boot int64
		seq  int
		st   string
		want string
	}{
		{boot, 1000, "passing", `"outcome":"stored"`},
		{boot, 999, "critical", `"outcome":"ignored"`},
		{boot + 1, 1, "critical", `"outcome":"stored","status":"critical"`},
	} {
		body := fmt.Sprintf(`{"version":1,"tenant":"default","service":"orders","instance":"direct","boot":%d,"seq":%d,"interval":"10s",
			"checks":[{"name":"web","kind":"http","status":%q}]}`, r.boot, r.seq, r.st)
		if code, got := post(t, h.url+"/api/v1/agent/reports", tok, body); code != 200 || !strings.Contains(got, r.want) {
			t.Fatalf("boot %d seq %d: %d %s, want %s", r.boot, r.seq, code, got, r.want)
		}
	}
}

func post(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	return res.StatusCode, b.String()
}

// TestSilentAgentGoesStale: an agent killed with SIGKILL stops reporting; after stale_after
// intervals the hub shows the instance critical with "no report for N s".
func TestSilentAgentGoesStale(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir+"/data", freePort(t), "--config", writeHubConfig(t, dir, "registry: {stale_after: 2, deregister_after: 1h}\n"))
	tg := newTarget(t)
	ag := startAgent(t, agentConfig(t, dir, h.url, "orders", "orders-1", checksYAML("http://"+tg.addr+"/", tg.addr)))
	waitStatus(t, h, "orders", "orders-1", "passing", 20*time.Second)
	ag.kill()
	checks := waitStatus(t, h, "orders", "orders-1", "critical", 15*time.Second)
	if !strings.Contains(checks, "hub:heartbeat=critical:no report for") {
		t.Fatalf("stale instance checks: %s", checks)
	}
}

// TestBadReportChangesNothing: a malformed and an invalid report get 400 with the reason and
// leave the registry as it was.
func TestBadReportChangesNothing(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir+"/data", freePort(t))
	tg := newTarget(t)
	startAgent(t, agentConfig(t, dir, h.url, "orders", "orders-1", checksYAML("http://"+tg.addr+"/", tg.addr)))
	waitStatus(t, h, "orders", "orders-1", "passing", 20*time.Second)
	tok := issue(t, auth.Agent, "default", "orders")
	for _, body := range []string{
		`{"version":1,"tenant":"default","service":"orders","instance":"orders-1"`,
		fmt.Sprintf(`{"version":1,"tenant":"default","service":"orders","instance":"orders-1","boot":%d,"seq":1,"interval":"1s","checks":[{"name":"web","kind":"http","status":"on-fire"}]}`, time.Now().Add(time.Hour).UnixNano()),
	} {
		req, _ := http.NewRequest("POST", h.url+"/api/v1/agent/reports", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(res.Body)
		res.Body.Close()
		if res.StatusCode != 400 || !strings.Contains(b.String(), `"error"`) {
			t.Fatalf("bad report: %d %s", res.StatusCode, b.String())
		}
	}
	// the agent's boot stays current: had the invalid report (newer boot) been applied, the
	// agent's own reports would now be ignored as older and its next state change lost
	tg.down()
	waitStatus(t, h, "orders", "orders-1", "critical", 15*time.Second)
}

func writeHubConfig(t *testing.T, dir, yaml string) string {
	t.Helper()
	path := dir + "/hub.yaml"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/pkg/gossip"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

func TestGossipConfig(t *testing.T) {
	keyFile := writeTemp(t, base64.StdEncoding.EncodeToString(make([]byte, 32)))
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(Config) bool
	}{
		{name: "off by default", check: func(c Config) bool { return c.Gossip.Bind == "" && c.Gossip.Profile == "lan" }},
		{name: "key required outside dev", args: []string{"--gossip-bind", "127.0.0.1:7946"}, wantErr: "gossip.key_file: required"},
		{name: "dev needs no key", args: []string{"--dev", "--gossip-bind", "127.0.0.1:7946"}, check: func(c Config) bool { return c.Gossip.KeyFile == "" }},
		{name: "join list", args: []string{"--gossip-bind", ":7946", "--gossip-key-file", keyFile, "--gossip-join", "hub-1:7946, hub-2"},
			check: func(c Config) bool {
				return len(c.Gossip.Join) == 2 && c.Gossip.Join[0] == "hub-1:7946" && c.Gossip.Join[1] == "hub-2"
			}},
		{name: "env", env: map[string]string{"HUB_GOSSIP_BIND": ":7946", "HUB_GOSSIP_KEY_FILE": keyFile, "HUB_GOSSIP_JOIN": "a:1,b:2"},
			check: func(c Config) bool { return c.Gossip.Bind == ":7946" && len(c.Gossip.Join) == 2 }},
		{name: "bad profile", args: []string{"--dev", "--gossip-bind", ":7946", "--gossip-profile", "fast"}, wantErr: "gossip.profile"},
		{name: "bad advertise", args: []string{"--dev", "--gossip-bind", ":7946", "--gossip-advertise", "nope"}, wantErr: "gossip.advertise"},
		{name: "settings without bind", args: []string{"--gossip-join", "a:1"}, wantErr: "gossip.bind: required"},
		{name: "advertise must be an IP", args: []string{"--dev", "--gossip-bind", ":7946", "--gossip-advertise", "hub-1:7946"}, wantErr: "gossip.advertise: \"hub-1\" is not an IP address"},
		{name: "bind must be an IP", args: []string{"--dev", "--gossip-bind", "hub-1:7946"}, wantErr: "gossip.bind: \"hub-1\" is not an IP address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := parseServe(tc.args, &bytes.Buffer{}, envOf(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(cfg) {
				t.Fatalf("config %+v, err %v", cfg.Gossip, err)
			}
		})
	}
}

func TestAdvertisedAPI(t *testing.T) {
	cases := []struct {
		gc     GossipConfig
		listen string
		want   string
	}{
		{GossipConfig{APIAddress: "hub-1.example:7000"}, "0.0.0.0:7000", "hub-1.example:7000"},
		{GossipConfig{Bind: "0.0.0.0:7946"}, "10.1.2.3:7000", "10.1.2.3:7000"},
		{GossipConfig{Bind: "10.0.0.5:7946"}, "[::]:7000", "10.0.0.5:7000"},
		{GossipConfig{Bind: "0.0.0.0", Advertise: "192.168.1.9:7946"}, "0.0.0.0:7001", "192.168.1.9:7001"},
		{GossipConfig{Bind: "0.0.0.0:7946"}, "0.0.0.0:7000", ":7000"}, // filled in from gossip's own address
	}
	for _, tc := range cases {
		if got := advertisedAPI(tc.gc, tc.listen); got != tc.want {
			t.Errorf("advertisedAPI(%+v, %s) = %s, want %s", tc.gc, tc.listen, got, tc.want)
		}
	}
}

func TestHubNodeNameIsUnique(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if got := hubNodeName(":7000"); got != "hub/"+host+":7000" {
		t.Fatalf("no host in the API address: %s, want the host name", got)
	}
	if got := hubNodeName("10.0.0.5:7000"); got != "hub/10.0.0.5:7000" {
		t.Fatalf("%s", got)
	}
}

// TestReadyWaitsForJoin: a hub whose join address does not answer is not ready and says it is
// degraded (within joinGrace).
func TestReadyWaitsForJoin(t *testing.T) {
	listen := "127.0.0.1:" + freePortNum(t)
	stop := runHub(t, "--dev", "--data-dir", t.TempDir(), "--listen", listen,
		"--gossip-bind", "127.0.0.1:"+freePortNum(t), "--gossip-join", "127.0.0.1:"+freePortNum(t))
	defer stop()
	var health map[string]string
	poll(t, 10*time.Second, func() bool {
		res, err := http.Get("http://" + listen + "/health")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		return json.NewDecoder(res.Body).Decode(&health) == nil
	})
	if health["status"] != "degraded" {
		t.Fatalf("health before the join: %v, want degraded", health)
	}
	res, err := http.Get("http://" + listen + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 503 {
		t.Fatalf("ready before the join: %d, want 503", res.StatusCode)
	}
}

// runHub runs `hub serve` in-process until the returned stop is called.
func runHub(t *testing.T, args ...string) (stop func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- Main(ctx, append([]string{"serve"}, args...), &out, &errb, envOf(nil)) }()
	return func() string {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("hub exit %d: %s", code, errb.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("hub did not stop")
		}
		return errb.String()
	}
}

func issue(t *testing.T, dir string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Main(context.Background(), append([]string{"token", "issue", "--data-dir", dir}, args...), &out, &errb, envOf(nil)); code != 0 {
		t.Fatalf("token issue: %s", errb.String())
	}
	return strings.TrimSpace(out.String())
}

func getJSON(t *testing.T, url, token string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	_ = json.NewDecoder(res.Body).Decode(v)
	return res.StatusCode
}

// TestGossipEndToEnd runs a hub with gossip and --dev in-process, with real gossip members
// beside it: a failed agent member turns its instance critical, `hub keys` rotates the key
// across the cluster, and a stopped hub leaves gracefully and keeps the rotated key.
func TestGossipEndToEnd(t *testing.T) {
	dir := t.TempDir()
	listen, gossipAddr := "127.0.0.1:"+freePortNum(t), "127.0.0.1:"+freePortNum(t)
	base := "http://" + listen
	args := []string{"--dev", "--data-dir", dir, "--listen", listen, "--gossip-bind", gossipAddr, "--gossip-profile", "lan"}
	stop := runHub(t, args...)
	poll(t, 10*time.Second, func() bool {
		res, err := http.Get(base + "/ready")
		return err == nil && res.Body.Close() == nil && res.StatusCode == 200
	})

	devKey, err := gossip.ReadKeyFile(DevGossipKeyPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	member := func(name string, tags map[string]string) *gossip.Gossip {
		c := gossip.DefaultConfig()
		c.NodeName, c.Bind, c.Join, c.Keys, c.Tags = name, "127.0.0.1:"+freePortNum(t), []string{gossipAddr}, [][]byte{devKey}, tags
		c.JoinRetry = 100 * time.Millisecond
		g, err := gossip.New(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.Shutdown() })
		return g
	}
	watcher := member("watcher", map[string]string{gossip.TagRole: "watcher"})
	hubEvents := make(chan gossip.Event, 64)
	go func() {
		for ev := range watcher.Events() {
			if strings.HasPrefix(ev.Member.Name, "hub/") {
				hubEvents <- ev
			}
		}
	}()
	agent := member("default/orders/o1", map[string]string{gossip.TagRole: gossip.RoleAgent, gossip.TagTenant: "default", gossip.TagService: "orders", gossip.TagInstance: "o1", gossip.TagBoot: "1"})
	go func() {
		for range agent.Events() {
		}
	}()

	admin := issue(t, dir, "--role", "admin", "--subject", "a", "--tenant", "*")
	var members struct {
		Members []struct {
			Name string `json:"name"`
			Tags map[string]string
		} `json:"members"`
	}
	poll(t, 10*time.Second, func() bool {
		return getJSON(t, base+"/api/v1/dashboard/members", admin, &members) == 200 && len(members.Members) == 3
	})
	for _, m := range members.Members {
		if strings.HasPrefix(m.Name, "hub/") && m.Tags["api"] != listen {
			t.Fatalf("the hub advertises API %q, want %q", m.Tags["api"], listen)
		}
	}

	// The agent reports, then its member dies without leaving.
	rep := protocol.Report{Version: 1, Tenant: "default", Service: "orders", Instance: "o1", Boot: 1, Seq: 1,
		Interval: protocol.Duration(10 * time.Second), Checks: []protocol.CheckResult{{Name: "web", Kind: "http", Status: status.Passing}}}
	body, _ := json.Marshal(rep)
	req, _ := http.NewRequest("POST", base+protocol.ReportPath, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+issue(t, dir, "--role", "agent", "--subject", "o1", "--service", "orders"))
	if res, err := http.DefaultClient.Do(req); err != nil || res.Body.Close() != nil || res.StatusCode != 200 {
		t.Fatalf("report: %v %v", res, err)
	}
	if err := agent.Shutdown(); err != nil {
		t.Fatal(err)
	}
	var health struct {
		Services []struct {
			Instances []struct {
				Status string `json:"status"`
				Checks []struct{ Name, Output string }
			} `json:"instances"`
		} `json:"services"`
	}
	poll(t, 30*time.Second, func() bool {
		return getJSON(t, base+"/api/v1/dashboard/health", admin, &health) == 200 && len(health.Services) == 1 &&
			health.Services[0].Instances[0].Status == "critical"
	})
	if c := health.Services[0].Instances[0].Checks[0]; c.Name != "hub:gossip" || c.Output != "agent unreachable (gossip)" {
		t.Fatalf("the critical instance says %+v", c)
	}

	// Rotate the key with `hub keys`.
	tokenFile := writeTemp(t, admin)
	newKey := make([]byte, 32)
	_, _ = rand.Read(newKey)
	newKeyFile := writeTemp(t, base64.StdEncoding.EncodeToString(newKey))
	keysCmd := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), append(append([]string{"keys"}, args...), "--hub", base, "--token-file", tokenFile), &out, &errb, envOf(nil))
		if code != 0 {
			return out.String(), fmt.Errorf("exit %d: %s", code, errb.String())
		}
		return out.String(), nil
	}
	for _, step := range [][]string{{"install", "--key-file", newKeyFile}, {"use", "--key-file", newKeyFile}, {"remove", "--key-file", DevGossipKeyPath(dir)}} {
		if out, err := keysCmd(step...); err != nil || !strings.Contains(out, gossip.Fingerprint(base64.StdEncoding.EncodeToString(newKey))) && step[0] != "remove" {
			t.Fatalf("keys %s: %q %v", step[0], out, err)
		}
	}
	if _, err := keysCmd("remove", "--key-file", newKeyFile); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("removing the key in use: %v, want the hub's 409", err)
	}
	out, err := keysCmd("list")
	if err != nil || !strings.Contains(out, gossip.Fingerprint(base64.StdEncoding.EncodeToString(newKey))+"  2/2") || strings.Count(out, "sha256:") != 1 {
		t.Fatalf("keys list after rotation:\n%s%v", out, err)
	}
	if _, err := keysCmd("install", "--key-file", filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "--key-file") {
		t.Fatalf("a missing key file: %v", err)
	}

	// A stop leaves the cluster: peers see the hub leave, not fail.
	logs := stop()
	if strings.Contains(logs, base64.StdEncoding.EncodeToString(newKey)) || strings.Contains(logs, base64.StdEncoding.EncodeToString(devKey)) {
		t.Fatal("a gossip key reached the hub's log")
	}
	deadline := time.After(10 * time.Second)
	for left := false; !left; {
		select {
		case ev := <-hubEvents:
			if ev.Type == gossip.MemberFailed {
				t.Fatal("the stopped hub was taken for failed")
			}
			left = ev.Type == gossip.MemberLeave
		case <-deadline:
			t.Fatal("no leave event for the stopped hub")
		}
	}
	saved, err := os.ReadFile(filepath.Join(dir, "gossip-keyring"))
	if err != nil || !strings.Contains(string(saved), base64.StdEncoding.EncodeToString(newKey)) || strings.Contains(string(saved), base64.StdEncoding.EncodeToString(devKey)) {
		t.Fatalf("the hub's keyring after rotation: %s %v", saved, err)
	}
}

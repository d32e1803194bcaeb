package app

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/centralhub/centralhub/agent/internal/hubtest"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// TestAgentReportsConfigState runs a whole agent with a config check against the fake hub's
// desired config: a drifted file is reported at once (one problem per key, no values), the
// local API shows the same state, and the file applied by hand turns it in_sync.
func TestAgentReportsConfigState(t *testing.T) {
	hub := hubtest.New(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("agent-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "orders.yaml")
	writeConf := func(content string) {
		t.Helper()
		if err := os.WriteFile(confFile, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConf("db:\n  url: postgres://db-1/orders\n  password: hunter2\nnats: {url: 'nats://n:4222'}\nlog_level: debug\n")
	hub.SetDesiredConfig(t, "orders", 3, `{"db": {"url": "postgres://db-2/orders", "password": "correct-horse"}, "nats": {"url": "nats://n:4222"}, "cache": {"ttl": "5m"}}`)

	cfg := parse(t, fmt.Sprintf(`
service: orders
instance: orders-1
interval: 1h            # no heartbeat during the test: every report is a change
listen: 127.0.0.1:0
hub:
  url: %s
  token_file: %s
config_checks:
  - path: %s
    required_keys: [db.url, nats.url]
    compare_desired: true
    interval: 1s
`, hub.URL(), tokenFile, confFile), nil)
	a, err := New(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	start(t, a)

	reps := hub.WaitAccepted(t, "a drifted report", func(reps []protocol.Report) bool {
		return len(reps) > 0 && reps[len(reps)-1].Config.Status == protocol.ConfigDrifted
	})
	drifted := reps[len(reps)-1].Config
	want := protocol.ConfigState{Status: protocol.ConfigDrifted, Version: "3", Problems: []protocol.ConfigProblem{
		{File: confFile, Key: "cache.ttl", Reason: "missing (desired version 3 has it)"},
		{File: confFile, Key: "db.password", Reason: "differs from desired version 3"},
		{File: confFile, Key: "db.url", Reason: "differs from desired version 3"},
		{File: confFile, Key: "log_level", Reason: "not in desired version 3"},
	}}
	gotJSON, _ := json.Marshal(drifted)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("config of the drifted report =\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	raw, _ := json.MarshalIndent(reps[len(reps)-1], "", "  ")
	t.Logf("drifted report:\n%s", raw)
	for _, value := range []string{"hunter2", "correct-horse", "db-1", "db-2", "5m", "debug"} {
		if strings.Contains(string(raw), value) {
			t.Errorf("the report shows the value %q", value)
		}
	}

	var local protocol.ConfigState
	if code := getJSON(t, "http://"+a.Addr()+"/v1/config", &local); code != 200 {
		t.Fatalf("/v1/config answered %d", code)
	}
	if localJSON, _ := json.Marshal(local); string(localJSON) != string(wantJSON) {
		t.Errorf("/v1/config =\n%s\nwant\n%s", localJSON, wantJSON)
	}

	writeConf("cache: {ttl: 5m}\ndb:\n  url: postgres://db-2/orders\n  password: correct-horse\nnats:\n  url: nats://n:4222\n")
	hub.WaitAccepted(t, "an in_sync report", func(reps []protocol.Report) bool {
		c := reps[len(reps)-1].Config
		return c.Status == protocol.ConfigInSync && c.Version == "3" && len(c.Problems) == 0
	})
	for _, g := range hub.ConfigGets() {
		if g.Service != "orders" || g.Token != "agent-token" {
			t.Fatalf("config GET %+v, want orders with the agent's token", g)
		}
	}
}

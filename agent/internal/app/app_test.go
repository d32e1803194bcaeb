package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/agent/internal/hubtest"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// memberlist's and serf's background timers end a moment after Shutdown returns.
		goleak.IgnoreTopFunction("time.Sleep"),
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).packetHandler"),
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func parse(t *testing.T, yaml string, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("agent.yaml", []byte(yaml), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// start runs a until the test ends and returns a function that stops it and returns Run's error.
func start(t *testing.T, a *App) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx) }()
	var err error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case err = <-errc:
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("decode %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

// webStatuses lists the status of check "web" across reports, leaving out unknown and repeats.
func webStatuses(reps []protocol.Report) []status.Check {
	var out []status.Check
	for _, r := range reps {
		for _, c := range r.Checks {
			if c.Name == "web" && c.Status != status.Unknown && (len(out) == 0 || out[len(out)-1] != c.Status) {
				out = append(out, c.Status)
			}
		}
	}
	return out
}

func TestAgentEndToEnd(t *testing.T) {
	var up atomic.Bool
	up.Store(true)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !up.Load() {
			http.Error(w, "down for the test", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	defer target.Close()
	hub := hubtest.New(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("agent-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg := parse(t, fmt.Sprintf(`
service: orders
instance: orders-1
address: 127.0.0.1:8080
interval: 1h            # no heartbeat during the test: every report is a change
listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
runbook: https://wiki.example/orders
depends_on: [payments]
hub:
  url: http://127.0.0.1:1    # overridden by AGENT_HUB_URL
  token_file: %s
checks:
  - name: web
    http: {url: %q}
    interval: 100ms
  - name: alive
    ttl: {ttl: 1h}
`, tokenFile, target.URL), map[string]string{"AGENT_HUB_URL": hub.URL()})
	a, err := New(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, a)

	want := []status.Check{status.Passing}
	hub.WaitAccepted(t, "web passing", func(r []protocol.Report) bool { return len(webStatuses(r)) == 1 })
	up.Store(false)
	want = append(want, status.Critical)
	hub.WaitAccepted(t, "web critical", func(r []protocol.Report) bool { return len(webStatuses(r)) == 2 })
	up.Store(true)
	want = append(want, status.Passing)
	reps := hub.WaitAccepted(t, "web passing again", func(r []protocol.Report) bool { return len(webStatuses(r)) == 3 })
	if got := webStatuses(reps); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("web went %v, want %v", got, want)
	}

	for _, req := range hub.Requests() {
		if req.Invalid != "" || req.Token != "agent-token" || !strings.HasPrefix(req.UserAgent, "centralhub-agent/") {
			t.Fatalf("request: invalid=%q token=%q ua=%q", req.Invalid, req.Token, req.UserAgent)
		}
	}
	for i, r := range reps {
		if r.Seq != uint64(i+1) || r.Boot != reps[0].Boot {
			t.Fatalf("report %d has seq %d boot %d; want seqs 1,2,3... of one boot (%s)", i, r.Seq, r.Boot, hubtest.Seqs(reps))
		}
	}
	last := reps[len(reps)-1]
	if last.Service != "orders" || last.Instance != "orders-1" || last.Tenant != "default" ||
		last.Address != "127.0.0.1:8080" || last.Runbook != "https://wiki.example/orders" ||
		fmt.Sprint(last.DependsOn) != "[payments]" || last.Config.Status != protocol.ConfigNone ||
		len(last.Checks) != 2 || last.Checks[0].Name != "web" || last.Checks[1].Name != "alive" ||
		last.Checks[1].Status != status.Unknown || last.Checks[0].Kind != "http" {
		t.Fatalf("last report = %+v", last)
	}

	var health struct {
		Status     string `json:"status"`
		Service    string `json:"service"`
		LastReport struct {
			At *time.Time `json:"at"`
			OK bool       `json:"ok"`
		} `json:"last_report"`
	}
	if code := getJSON(t, "http://"+a.Addr()+"/health", &health); code != 200 || health.Status != "ok" ||
		health.Service != "orders" || !health.LastReport.OK || health.LastReport.At == nil {
		t.Fatalf("/health = %d %+v", code, health)
	}

	// A TTL update through the local API reaches the hub at once.
	resp, err := http.Post("http://"+a.Addr()+"/v1/checks/alive/pass", "text/plain", strings.NewReader("ready"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hub.WaitAccepted(t, "alive passing", func(reps []protocol.Report) bool {
		c := reps[len(reps)-1].Checks
		return len(c) == 2 && c[1].Status == status.Passing && c[1].Output == "ready"
	})

	metrics, err := http.Get("http://" + a.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	for _, want := range []string{
		`centralhub_agent_reports_sent_total{result="ok"}`,
		`centralhub_agent_check_status{check="web",status="passing"} 1`,
		`centralhub_agent_check_runs_total{check="web",result="critical"}`,
		"centralhub_agent_report_queue_length",
		"centralhub_agent_reports_dropped_total 0",
		"centralhub_agent_check_duration_seconds_bucket",
		"centralhub_agent_report_send_duration_seconds_bucket",
		"go_goroutines",
		"process_start_time_seconds",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	if _, err := net.Dial("tcp", a.Addr()); err == nil {
		t.Fatal("the local API still listens after Run returned")
	}
}

func TestNewFailsOnTakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	base := "service: s\nhub: {url: \"http://127.0.0.1:1\"}\n"
	env := map[string]string{"AGENT_TOKEN": "t"}

	_, err = New(parse(t, base+"listen: "+taken.Addr().String()+"\n", env), discard())
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("New on a taken listen port = %v, want a listen error", err)
	}
	_, err = New(parse(t, base+"listen: 127.0.0.1:0\nmetrics_listen: "+taken.Addr().String()+"\n", env), discard())
	if err == nil || !strings.Contains(err.Error(), "metrics_listen") {
		t.Fatalf("New on a taken metrics_listen port = %v, want a metrics_listen error", err)
	}
	_, keyFile := gossipKey(t)
	_, err = New(parse(t, base+"listen: 127.0.0.1:0\ngossip: {bind: \""+taken.Addr().String()+"\", join: [\"127.0.0.1:1\"], key_file: "+keyFile+"}\n", env), discard())
	if err == nil || !strings.Contains(err.Error(), "start gossip") || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Fatalf("New on a taken gossip port = %v, want a gossip error naming the address", err)
	}
}

func TestNewFailsOnMissingTokenFile(t *testing.T) {
	cfg := parse(t, "service: s\nlisten: 127.0.0.1:0\nhub: {url: \"http://127.0.0.1:1\", token_file: /nonexistent/token}\n", nil)
	if _, err := New(cfg, discard()); err == nil || !strings.Contains(err.Error(), "/nonexistent/token") {
		t.Fatalf("New = %v, want an error naming the token file", err)
	}
}

func TestCloseWithoutRun(t *testing.T) {
	a, err := New(parse(t, "service: s\nlisten: 127.0.0.1:0\nhub: {url: \"http://127.0.0.1:1\"}\n",
		map[string]string{"AGENT_TOKEN": "t"}), discard())
	if err != nil {
		t.Fatal(err)
	}
	addr := a.Addr()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the port was not given back: %v", err)
	}
	ln.Close()
}

func TestRunStopsWhileHubIsDown(t *testing.T) {
	hub := hubtest.New(t)
	hub.SetResponder(func(int, *hubtest.Request) (int, string) { return 503, "down" })
	a, err := New(parse(t, "service: s\nlisten: 127.0.0.1:0\nhub: {url: \""+hub.URL()+"\"}\n",
		map[string]string{"AGENT_TOKEN": "t"}), discard())
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, a)
	hub.WaitRequests(t, 2) // failing and retrying
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

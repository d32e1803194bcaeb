package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/centralhub/centralhub/pkg/auth"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// memberlist's probe waits for its ack timer (up to a probe interval) after Shutdown
		// returns, with no way to cut it short; the agent's app tests ignore it too.
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

func envOf(m map[string]string) env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigLayers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hub.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		yaml    string
		env     map[string]string
		args    []string
		check   func(Config) bool
		wantErr string
	}{
		{name: "defaults", check: func(c Config) bool {
			return c.Listen == ":7000" && c.DataDir == "./data" && c.Registry.StaleAfter == 3 &&
				time.Duration(c.Registry.DeregisterAfter) == 10*time.Minute && c.Ingest.MaxBody == 1<<20 && c.Ingest.RatePerInstance == 20
		}},
		{name: "file", yaml: "listen: \":9000\"\nregistry: {stale_after: 5, deregister_after: 1h}\ningest: {max_body: 2MiB, rate_per_instance: 50}\n",
			check: func(c Config) bool {
				return c.Listen == ":9000" && c.Registry.StaleAfter == 5 && time.Duration(c.Registry.DeregisterAfter) == time.Hour &&
					c.Ingest.MaxBody == 2<<20 && c.Ingest.RatePerInstance == 50
			}},
		{name: "env over file", yaml: "listen: \":9000\"\n", env: map[string]string{"HUB_LISTEN": ":9100"},
			check: func(c Config) bool { return c.Listen == ":9100" }},
		{name: "flag over env", yaml: "listen: \":9000\"\n", env: map[string]string{"HUB_LISTEN": ":9100"}, args: []string{"--listen", ":9200"},
			check: func(c Config) bool { return c.Listen == ":9200" }},
		{name: "flag only where given", yaml: "data_dir: /srv/hub\n", args: []string{"--listen", ":9200"},
			check: func(c Config) bool { return c.DataDir == "/srv/hub" }},
		{name: "unknown key names file and key", yaml: "listen: \":9000\"\nregistri: {}\n", wantErr: `hub.yaml: line 2: unknown key "registri"`},
		{name: "bad duration names line", yaml: "registry: {deregister_after: soon}\n", wantErr: `line 1: "soon" is not a duration`},
		{name: "bad size", yaml: "ingest: {max_body: lots}\n", wantErr: `"lots" is not a size`},
		{name: "invalid value names key", yaml: "registry: {stale_after: 0}\n", wantErr: "registry.stale_after"},
		{name: "bad listen", args: []string{"--listen", "nope"}, wantErr: "listen:"},
		{name: "bad env bool", env: map[string]string{"HUB_METRICS_PUBLIC": "maybe"}, wantErr: "HUB_METRICS_PUBLIC"},
		{name: "alerts", yaml: "alerts:\n  retention: 2d\n  builtin: {instance_critical: {for: 45s}, config_drift: {disabled: true}}\n" +
			"  rules: [{name: r1, match: {service: orders}, state: warning, for: 10s}]\n" +
			"  receivers: [{name: ops, webhook: {url: \"http://127.0.0.1:9/hook\", timeout: 2s}}]\n",
			env: map[string]string{"HUB_ALERTMANAGER_URL": "http://127.0.0.1:9093"},
			check: func(c Config) bool {
				ec, err := c.Alerts.engineConfig()
				recv := c.Alerts.receivers()
				return err == nil && ec.Retention == 48*time.Hour && len(ec.Rules) == 6 && len(recv) == 2 &&
					recv[1].Alertmanager.URL == "http://127.0.0.1:9093" && time.Duration(c.Alerts.Rules[0].For) == 10*time.Second
			}},
		{name: "history", yaml: "history: {interval: 30s, retention: 30d, queue: 5000}\n",
			check: func(c Config) bool {
				rc := c.registryConfig()
				return rc.HistoryInterval == 30*time.Second && rc.HistoryQueue == 5000 && time.Duration(c.History.Retention) == 30*24*time.Hour
			}},
		{name: "history retention too short", yaml: "history: {retention: 1h}\n", wantErr: "history.retention"},
		{name: "history interval too short", yaml: "history: {interval: 100ms}\n", wantErr: "history.interval"},
		{name: "history queue", yaml: "history: {queue: 0}\n", wantErr: "history.queue"},
		{name: "api url", env: map[string]string{"HUB_API_URL": "http://hub-2:7000"}, check: func(c Config) bool { return c.APIURL == "http://hub-2:7000" }},
		{name: "bad api url", yaml: "api_url: \"hub-2:7000\"\n", wantErr: "api_url"},
		{name: "alertmanager flag", args: []string{"--alertmanager-url", "http://am:9093"},
			check: func(c Config) bool { return c.Alerts.AlertmanagerURL == "http://am:9093" }},
		{name: "bad rule names field", yaml: "alerts: {rules: [{name: r1, state: fine}]}\n", wantErr: "alerts.rules[0].state"},
		{name: "bad template names field", yaml: "alerts: {rules: [{name: r1, state: critical, summary: \"{{.Nope}}\"}]}\n", wantErr: "alerts.rules[0].summary"},
		{name: "unknown built-in", yaml: "alerts: {builtin: {page_everyone: {}}}\n", wantErr: "alerts.builtin.page_everyone"},
		{name: "bad receiver url", yaml: "alerts: {receivers: [{name: x, webhook: {url: \"ftp://x\"}}]}\n", wantErr: "alerts.receivers[0].webhook.url"},
		{name: "duplicate receiver", yaml: "alerts: {receivers: [{name: alertmanager, webhook: {url: \"http://x\"}}]}\n",
			args: []string{"--alertmanager-url", "http://am:9093"}, wantErr: "already used"},
		{name: "bad storm share", yaml: "alerts: {storm: {share: 2}}\n", wantErr: "alerts.storm.share"},
		{name: "bad alertmanager url", args: []string{"--alertmanager-url", "am:9093"}, wantErr: "alerts.alertmanager_url"},
		{name: "database url from env", env: map[string]string{"HUB_DATABASE_URL": "postgres://hub:pw@db:5432/hub"},
			check: func(c Config) bool { return c.DatabaseURL == "postgres://hub:pw@db:5432/hub" && c.Migrate }},
		{name: "database url from file", yaml: "database_url_file: " + filepath.Join(dir, "db-url") + "\nmigrate: false\n",
			check: func(c Config) bool { return c.DatabaseURL == "postgres://hub:pw@db:5432/hub" && !c.Migrate }},
		{name: "bad database url hides it", args: []string{"--database-url", "postgres://hub:s3cretpw@db:notaport/hub"},
			wantErr: "database_url: not a PostgreSQL URL"},
		{name: "database url twice", yaml: "database_url: postgres://db/hub\ndatabase_url_file: /x\n", wantErr: "not both"},
	}
	if err := os.WriteFile(filepath.Join(dir, "db-url"), []byte("postgres://hub:pw@db:5432/hub\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.yaml != "" {
				write(tc.yaml)
				args = append([]string{"--config", file}, args...)
			}
			cfg, _, err := parseServe(args, &bytes.Buffer{}, envOf(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cretpw") {
					t.Fatalf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(cfg) {
				t.Fatalf("config %+v", cfg)
			}
		})
	}
}

func TestServeRefusesWeakSecrets(t *testing.T) {
	for name, e := range map[string]map[string]string{
		"missing": {},
		"short":   {"HUB_JWT_SECRET": "too-short"},
		"default": {"HUB_JWT_SECRET": "change-me-in-production"},
		"file":    {"HUB_JWT_SECRET_FILE": writeTemp(t, "change-me-in-production\n")},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(context.Background(), []string{"serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}, &out, &errb, envOf(e))
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			if code == 0 || len(lines) != 1 || !strings.Contains(lines[0], "weak JWT secret") {
				t.Fatalf("exit %d, stderr %q", code, errb.String())
			}
		})
	}
}

func writeTemp(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenIssue(t *testing.T) {
	secret := "k8Jq2Lm9Zx4Vb7Nc1Hy6Tr3We5Pa0SdFgQ"
	e := envOf(map[string]string{"HUB_JWT_SECRET": secret})
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"token", "issue", "--role", "agent", "--subject", "a1", "--service", "orders", "--ttl", "2h"}, &out, &errb, e); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("stdout must be one token line: %q", out.String())
	}
	keys, _ := auth.NewKeys([]byte(secret))
	c, err := keys.Verify(strings.TrimSpace(out.String()))
	if err != nil || c.Role != auth.Agent || c.Service != "orders" || c.Tenant != "default" || c.Subject != "a1" {
		t.Fatalf("claims %+v err %v", c, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "issue", "--role", "root", "--subject", "x"}, "--role"},
		{[]string{"token", "issue", "--role", "viewer"}, "--subject"},
		{[]string{"token", "issue", "--role", "agent", "--subject", "x"}, "--service"},
		{[]string{"token", "issue", "--role", "viewer", "--subject", "x", "--tenant", "*"}, `tenant "*"`},
	} {
		out.Reset()
		errb.Reset()
		if code := Main(context.Background(), tc.args, &out, &errb, e); code == 0 || !strings.Contains(errb.String(), tc.want) || out.Len() != 0 {
			t.Fatalf("%v: exit %d stderr %q stdout %q", tc.args, code, errb.String(), out.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the hub's goroutines to write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestDevModeServeAndStop(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--dev", "--data-dir", dir, "--listen", "127.0.0.1:0"}, &out, &errb, envOf(nil))
	}()
	url, token := devPrintout(&out)
	if token == "" {
		cancel()
		t.Fatalf("no dev token printed; stdout %q stderr %q", out.String(), errb.String())
	}
	fi, err := os.Stat(filepath.Join(dir, "dev-secret"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev secret: %v %v", fi, err)
	}
	if strings.Contains(errb.String(), token) {
		t.Fatal("the admin token reached the log")
	}
	// token issue reads the dev secret
	var tok bytes.Buffer
	if code := Main(context.Background(), []string{"token", "issue", "--data-dir", dir, "--role", "viewer", "--subject", "v"}, &tok, &bytes.Buffer{}, envOf(nil)); code != 0 {
		t.Fatal("token issue with the dev secret failed")
	}
	req, _ := http.NewRequest("GET", url+"/api/v1/dashboard/summary", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.String()))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sum map[string]any
	_ = json.NewDecoder(res.Body).Decode(&sum)
	res.Body.Close()
	if res.StatusCode != 200 || sum["status"] != "unknown" {
		t.Fatalf("summary: %d %v", res.StatusCode, sum)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("hub did not stop")
	}
}

// TestShippedExample keeps deploy/examples/hub.yaml valid and equal to the defaults.
func TestShippedExample(t *testing.T) {
	cfg, _, err := parseServe([]string{"--config", "../../../deploy/examples/hub.yaml"}, &bytes.Buffer{}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultConfig(); !reflect.DeepEqual(cfg, want) {
		t.Fatalf("example differs from the defaults:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestSecretPrecedence(t *testing.T) {
	dir := t.TempDir()
	env := envOf(map[string]string{"HUB_JWT_SECRET": "from-the-environment-0123456789abcdef"})
	got, err := loadSecret(Config{Dev: true, DataDir: dir}, env)
	if err != nil || string(got) != "from-the-environment-0123456789abcdef" {
		t.Fatalf("--dev with HUB_JWT_SECRET set: %q %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dev-secret")); err == nil {
		t.Fatal("--dev wrote a dev secret although HUB_JWT_SECRET was set")
	}
	got, err = loadSecret(Config{Dev: true, DataDir: dir}, envOf(nil))
	if err != nil || len(got) < 32 {
		t.Fatalf("--dev without a secret: %q %v", got, err)
	}
	again, _ := loadSecret(Config{Dev: true, DataDir: dir}, envOf(nil))
	if string(again) != string(got) {
		t.Fatal("--dev must reuse its secret across restarts")
	}
}

// TestReadyTurns503WhileDraining: after a stop signal /ready answers 503 for shutdown_delay
// while the listener still serves.
func TestReadyTurns503WhileDraining(t *testing.T) {
	listen := "127.0.0.1:" + freePortNum(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out, errb syncBuffer
	go func() {
		done <- Main(ctx, []string{"serve", "--dev", "--data-dir", t.TempDir(), "--listen", listen, "--shutdown-delay", "3s"}, &out, &errb, envOf(nil))
	}()
	ready := func() int {
		res, err := http.Get("http://" + listen + "/ready")
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	poll(t, 10*time.Second, func() bool { return ready() == 200 })
	cancel()
	poll(t, 3*time.Second, func() bool { return ready() == 503 })
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("hub did not stop")
	}
}

func poll(t *testing.T, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func freePortNum(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// devPrintout polls a dev-mode hub's stdout, for up to 10 s, for the API URL and the admin token
// it prints; token is "" when none came.
func devPrintout(out *syncBuffer) (url, token string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && token == "" {
		for _, line := range strings.Split(out.String(), "\n") {
			if v, ok := strings.CutPrefix(line, "dev mode: API on "); ok {
				url = v
			}
			if v, ok := strings.CutPrefix(line, "dev mode: admin token (24h): "); ok {
				token = v
			}
		}
		time.Sleep(10 * time.Millisecond) // polling the printout until the deadline
	}
	return url, token
}

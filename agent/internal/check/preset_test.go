package check

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// clickHouseURL starts Debian's clickhouse-server (an old release whose /ping answers as new
// ones do) on a free loopback port with a configuration of the test's own, and returns its HTTP
// base URL; the server is killed when the test ends. Without the binary the test skips, saying
// so, and fails under CI=true.
func clickHouseURL(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("clickhouse-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no clickhouse-server binary (%v), and CI must run the clickhouse preset test: .ci/run installs Debian's clickhouse-server", err)
		}
		t.Skipf("no clickhouse-server binary (%v): install Debian's clickhouse-server to test the clickhouse preset", err)
	}
	dir := t.TempDir()
	httpPort, tcpPort := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>%[1]s/server.log</log><errorlog>%[1]s/error.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>%[2]d</http_port>
  <tcp_port>%[3]d</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/tmp/</tmp_path>
  <user_files_path>%[1]s/user_files/</user_files_path>
  <format_schema_path>%[1]s/format_schemas/</format_schema_path>
  <users_config>%[1]s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709</mark_cache_size>
</yandex>
`, dir, httpPort, tcpPort)
	users := `<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
`
	for name, body := range map[string]string{"config.xml": cfg, "users.xml": users} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "--config-file="+filepath.Join(dir, "config.xml"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start clickhouse-server: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("clickhouse-server did not answer /ping within 30 s: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond) // polling the port, not waiting for state
	}
}

// freePort is a loopback TCP port free at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// productServer answers one path as a product documents its readiness: code and body there,
// 404 elsewhere.
func productServer(t *testing.T, path string, code int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestPresets runs each preset against its server: the real ClickHouse, and for ArangoDB and
// Weaviate (no server of theirs on this machine) local handlers answering as each product
// documents (ArangoDB: 200 while available, 503 in maintenance or read-only mode; Weaviate: 200
// when ready, 503 otherwise).
func TestPresets(t *testing.T) {
	ch := clickHouseURL(t)
	for _, tc := range []struct {
		name, kind, url string
		want            status.Check
		out             string
	}{
		{"clickhouse ready", PresetClickHouse, ch, status.Passing, "GET " + ch + "/ping: 200 OK"},
		{"clickhouse base URL with slash", PresetClickHouse, ch + "/", status.Passing, ch + "/ping: 200 OK"},
		{"clickhouse gone", PresetClickHouse, "http://" + closedAddr(t), status.Critical, "connection refused"},
		{"not clickhouse", PresetClickHouse, productServer(t, "/ping", 200, "pong"), status.Critical, `body does not contain "Ok."`},
		{"arangodb available", PresetArangoDB, productServer(t, "/_admin/server/availability", 200, `{"mode":"default","readOnly":false}`), status.Passing, "/_admin/server/availability: 200 OK"},
		{"arangodb read-only", PresetArangoDB, productServer(t, "/_admin/server/availability", 503, `{"error":true,"code":503,"errorNum":503,"errorMessage":"service unavailable due to startup or maintenance mode"}`), status.Critical, "503 Service Unavailable"},
		{"weaviate ready", PresetWeaviate, productServer(t, "/v1/.well-known/ready", 200, ""), status.Passing, "/v1/.well-known/ready: 200 OK"},
		{"weaviate not ready", PresetWeaviate, productServer(t, "/v1/.well-known/ready", 503, ""), status.Critical, "503 Service Unavailable"},
		{"weaviate wrong server", PresetWeaviate, productServer(t, "/health", 200, ""), status.Critical, "404 Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPreset(tc.kind, &config.PresetCheck{URL: tc.url}, "test")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r := p.Probe(ctx)
			if r.Status != tc.want || !strings.Contains(r.Output, tc.out) {
				t.Fatalf("%s %q, want %s with %q", r.Status, r.Output, tc.want, tc.out)
			}
		})
	}
	if _, err := NewPreset("cassandra", &config.PresetCheck{URL: ch}, "test"); err == nil {
		t.Fatal("an unknown preset was accepted")
	}
}

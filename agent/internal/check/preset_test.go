package check

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// clickHouseURL starts Debian's clickhouse-server (an old release whose /ping answers as new
// ones do) on a free loopback port with a configuration of the test's own, and returns its HTTP
// base URL; the server is killed when the test ends. Without the binary the test skips, saying
// so, and fails under CI=true.
func clickHouseURL(t testing.TB) string {
	t.Helper()
	bin := need(t, "clickhouse-server", "Debian package clickhouse-server")
	dir := t.TempDir()
	httpAddr, tcpAddr := closedAddr(t), closedAddr(t)
	cfg := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console><log>%[1]s/server.log</log><errorlog>%[1]s/error.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>%[2]s</http_port>
  <tcp_port>%[3]s</tcp_port>
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
`, dir, portOf(t, httpAddr), portOf(t, tcpAddr))
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
	base := "http://" + httpAddr
	client := &http.Client{Timeout: time.Second}
	startServerUntil(t, "answer GET "+base+"/ping with 200", func() bool {
		resp, err := client.Get(base + "/ping")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, bin, "--config-file="+filepath.Join(dir, "config.xml"))
	return base
}

// productServer answers one path as a product documents its readiness: code and body there,
// 404 elsewhere.
func productServer(t testing.TB, path string, code int, body string) string {
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
	ca := newTestCA(t)
	secure := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/.well-known/ready" {
			http.NotFound(w, r)
		}
	}))
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{ca.serverCert(t, time.Now().Add(24*time.Hour))}}
	secure.StartTLS()
	t.Cleanup(secure.Close)
	for _, tc := range []struct {
		name, kind, url string
		tls             *config.ClientTLS
		want            status.Check
		out             string
	}{
		{"clickhouse ready", PresetClickHouse, ch, nil, status.Passing, "GET " + ch + "/ping: 200 OK"},
		{"clickhouse base URL with slash", PresetClickHouse, ch + "/", nil, status.Passing, ch + "/ping: 200 OK"},
		{"clickhouse gone", PresetClickHouse, "http://" + closedAddr(t), nil, status.Critical, "connection refused"},
		{"not clickhouse", PresetClickHouse, productServer(t, "/ping", 200, "pong"), nil, status.Critical, `body does not contain "Ok."`},
		{"arangodb available", PresetArangoDB, productServer(t, "/_admin/server/availability", 200, `{"mode":"default","readOnly":false}`), nil, status.Passing, "/_admin/server/availability: 200 OK"},
		{"arangodb read-only", PresetArangoDB, productServer(t, "/_admin/server/availability", 503, `{"error":true,"code":503,"errorNum":503,"errorMessage":"service unavailable due to startup or maintenance mode"}`), nil, status.Critical, "503 Service Unavailable"},
		{"weaviate ready", PresetWeaviate, productServer(t, "/v1/.well-known/ready", 200, ""), nil, status.Passing, "/v1/.well-known/ready: 200 OK"},
		{"weaviate not ready", PresetWeaviate, productServer(t, "/v1/.well-known/ready", 503, ""), nil, status.Critical, "503 Service Unavailable"},
		{"weaviate wrong server", PresetWeaviate, productServer(t, "/health", 200, ""), nil, status.Critical, "404 Not Found"},
		{"weaviate over TLS", PresetWeaviate, secure.URL, &config.ClientTLS{CAFile: ca.file}, status.Passing, "/v1/.well-known/ready: 200 OK"},
		{"weaviate over TLS, unknown authority", PresetWeaviate, secure.URL, &config.ClientTLS{}, status.Critical, "certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPreset(tc.kind, &config.PresetCheck{URL: tc.url, TLS: tc.tls}, "test")
			if err != nil {
				t.Fatal(err)
			}
			expectProbe(t, p, tc.want, []string{tc.out})
		})
	}
	if _, err := NewPreset("cassandra", &config.PresetCheck{URL: ch}, "test"); err == nil {
		t.Fatal("an unknown preset was accepted")
	}
	if _, err := NewPreset(PresetWeaviate, &config.PresetCheck{URL: secure.URL, TLS: &config.ClientTLS{CAFile: ca.file + ".none"}}, "test"); err == nil {
		t.Fatal("a missing ca_file was accepted")
	}
}

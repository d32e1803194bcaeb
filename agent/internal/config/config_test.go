package config

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const minimal = `
service: orders
hub:
  url: http://127.0.0.1:7000
  token_file: /run/secrets/agent-token
`

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParse(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	keyDir := t.TempDir()
	keyFile := writeFile(t, keyDir, "gossip-key", base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n")
	shortKeyFile := writeFile(t, keyDir, "short-key", base64.StdEncoding.EncodeToString(make([]byte, 16)))
	junkKeyFile := writeFile(t, keyDir, "junk-key", "not a key!")
	// hub TLS: the config only checks the files exist; hubclient.NewTLSConfig parses them.
	pemFile := writeFile(t, keyDir, "hub.pem", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
	httpsHub := "service: orders\nhub:\n  url: https://hub:7443\n  token_file: /t\n"
	tests := []struct {
		name    string
		yaml    string
		env     func(string) (string, bool)
		wantErr string // substring of the error; "" means success
		check   func(t *testing.T, c *Config)
	}{
		{
			name: "defaults applied",
			yaml: minimal + `
checks:
  - name: web
    http: {url: "http://127.0.0.1:8080/healthz"}
  - name: alive
    ttl: {ttl: 30s}
`,
			check: func(t *testing.T, c *Config) {
				if c.Instance != host || c.Tenant != "default" || c.Interval != 10*time.Second ||
					c.Listen != "127.0.0.1:7001" || c.MetricsListen != "" {
					t.Errorf("agent defaults: instance=%q tenant=%q interval=%v listen=%q metrics_listen=%q",
						c.Instance, c.Tenant, c.Interval, c.Listen, c.MetricsListen)
				}
				web := c.Checks[0]
				if web.Interval != 10*time.Second || web.Timeout != 5*time.Second || web.Rise != 1 || web.Fall != 1 {
					t.Errorf("check defaults: %+v", web)
				}
				if web.HTTP.Method != "GET" || web.HTTP.ExpectStatus != "200-299" {
					t.Errorf("http defaults: %+v", web.HTTP)
				}
				if web.Kind() != "http" || c.Checks[1].Kind() != "ttl" {
					t.Errorf("kinds: %q %q", web.Kind(), c.Checks[1].Kind())
				}
			},
		},
		{
			name: "design example parses",
			yaml: `
service: orders
instance: orders-1
tenant: default
address: 127.0.0.1:8080
interval: 10s
listen: 127.0.0.1:7001
metrics_listen: ""
runbook: https://wiki.example/orders
tags: [eu, blue]
meta: {team: payments}
hub:
  url: http://127.0.0.1:7000
  urls: [http://127.0.0.1:7100]
  token_file: /run/secrets/agent-token
depends_on: [payments]
checks:
  - name: web
    http: {url: "http://127.0.0.1:8080/healthz", expect_status: "200-299"}
    interval: 5s
    timeout: 2s
    rise: 2
    fall: 2
  - name: db
    tcp: {address: "127.0.0.1:5432"}
    component: postgres-main
    critical: true
    runbook: https://wiki.example/postgres
  - name: script
    exec: {command: ["/usr/local/bin/check-queue", "--max", "100"]}
  - name: alive
    ttl: {ttl: 30s}
`,
			check: func(t *testing.T, c *Config) {
				if c.Instance != "orders-1" || len(c.Checks) != 4 || c.Checks[0].Rise != 2 || c.Checks[0].Timeout != 2*time.Second {
					t.Errorf("parsed: %+v", c)
				}
				if !c.Checks[1].Critical || c.Checks[1].Component != "postgres-main" {
					t.Errorf("db check: %+v", c.Checks[1])
				}
				want := []string{"http://127.0.0.1:7000", "http://127.0.0.1:7100"}
				if got := c.Hub.ReportURLs(); !reflect.DeepEqual(got, want) {
					t.Errorf("ReportURLs = %v, want %v", got, want)
				}
				if c.Checks[3].TTL.TTL != 30*time.Second {
					t.Errorf("ttl = %v", c.Checks[3].TTL.TTL)
				}
			},
		},
		{
			name:    "unknown top-level key names file, line and key",
			yaml:    minimal + "intervl: 5s\n",
			wantErr: `agent.yaml: line 6: unknown key "intervl"`,
		},
		{
			name:    "unknown nested key",
			yaml:    minimal + "checks:\n  - name: web\n    http: {url: \"http://x:1/\", expect: \"200\"}\n",
			wantErr: `agent.yaml: line 8: unknown key "expect"`,
		},
		{
			name: "no gossip section: no gossip",
			yaml: minimal,
			check: func(t *testing.T, c *Config) {
				if c.Gossip != nil {
					t.Errorf("gossip = %+v, want nil", c.Gossip)
				}
			},
		},
		{
			name: "gossip defaults",
			yaml: minimal + "gossip:\n  join: [\"hub-1:7946\"]\n  key_file: " + keyFile + "\n",
			check: func(t *testing.T, c *Config) {
				want := &Gossip{Bind: "0.0.0.0:7946", Join: []string{"hub-1:7946"}, KeyFile: keyFile, Profile: "lan"}
				if !reflect.DeepEqual(c.Gossip, want) {
					t.Errorf("gossip = %+v, want %+v", c.Gossip, want)
				}
			},
		},
		{
			name: "gossip every key",
			yaml: minimal + "gossip:\n  bind: 127.0.0.1:7950\n  advertise: 10.0.0.7:7950\n  join: [\"hub-1:7946\", \"10.0.0.5:7946\"]\n" +
				"  key_file: " + keyFile + "\n  keyring_file: /var/lib/centralhub/keyring\n  profile: wan\n",
			check: func(t *testing.T, c *Config) {
				want := &Gossip{Bind: "127.0.0.1:7950", Advertise: "10.0.0.7:7950", Join: []string{"hub-1:7946", "10.0.0.5:7946"},
					KeyFile: keyFile, KeyringFile: "/var/lib/centralhub/keyring", Profile: "wan"}
				if !reflect.DeepEqual(c.Gossip, want) {
					t.Errorf("gossip = %+v, want %+v", c.Gossip, want)
				}
			},
		},
		{
			name:    "gossip unknown key",
			yaml:    minimal + "gossip:\n  joins: [\"hub-1:7946\"]\n",
			wantErr: `unknown key "joins"`,
		},
		{
			name:    "gossip join required",
			yaml:    minimal + "gossip:\n  key_file: " + keyFile + "\n",
			wantErr: "gossip.join: at least one host:port is required",
		},
		{
			name:    "gossip empty section still needs join",
			yaml:    minimal + "gossip: {}\n",
			wantErr: "gossip.join: at least one",
		},
		{
			name:    "gossip join without port",
			yaml:    minimal + "gossip:\n  join: [\"hub-1:7946\", \"hub-2\"]\n  key_file: " + keyFile + "\n",
			wantErr: `gossip.join[1]: "hub-2": want host:port`,
		},
		{
			name:    "gossip key_file required",
			yaml:    minimal + "gossip:\n  join: [\"hub-1:7946\"]\n",
			wantErr: "gossip.key_file: required",
		},
		{
			name:    "gossip key_file missing",
			yaml:    minimal + "gossip:\n  join: [\"hub-1:7946\"]\n  key_file: " + filepath.Join(keyDir, "missing") + "\n",
			wantErr: "gossip.key_file: gossip key file: open " + filepath.Join(keyDir, "missing"),
		},
		{
			name:    "gossip key_file unreadable (a directory)",
			yaml:    minimal + "gossip:\n  join: [\"hub-1:7946\"]\n  key_file: " + keyDir + "\n",
			wantErr: "gossip.key_file: " + keyDir + ": not a regular file",
		},
		{
			name:    "gossip key too short",
			yaml:    minimal + "gossip:\n  join: [\"hub-1:7946\"]\n  key_file: " + shortKeyFile + "\n",
			wantErr: "gossip.key_file: gossip key: 16 bytes, want 32",
		},
		{
			name:    "gossip key not base64",
			yaml:    minimal + "gossip:\n  join: [\"hub-1:7946\"]\n  key_file: " + junkKeyFile + "\n",
			wantErr: "gossip.key_file: gossip key: not base64",
		},
		{
			name:    "gossip bad profile",
			yaml:    minimal + "gossip:\n  join: [\"hub-1:7946\"]\n  key_file: " + keyFile + "\n  profile: fast\n",
			wantErr: `gossip.profile: gossip profile "fast": want lan, wan or local`,
		},
		{
			name:    "gossip bind without port",
			yaml:    minimal + "gossip:\n  bind: 0.0.0.0\n  join: [\"hub-1:7946\"]\n  key_file: " + keyFile + "\n",
			wantErr: `gossip.bind: "0.0.0.0": want IP:port`,
		},
		{
			name:    "gossip bind takes an IP, not a name",
			yaml:    minimal + "gossip:\n  bind: localhost:7946\n  join: [\"hub-1:7946\"]\n  key_file: " + keyFile + "\n",
			wantErr: `gossip.bind: "localhost:7946": want IP:port: "localhost" is not an IP address`,
		},
		{
			name:    "gossip bind port out of range",
			yaml:    minimal + "gossip:\n  bind: 0.0.0.0:70000\n  join: [\"hub-1:7946\"]\n  key_file: " + keyFile + "\n",
			wantErr: `gossip.bind: "0.0.0.0:70000": bad port "70000"`,
		},
		{
			name:    "gossip advertise port 0",
			yaml:    minimal + "gossip:\n  advertise: 10.0.0.7:0\n  join: [\"hub-1:7946\"]\n  key_file: " + keyFile + "\n",
			wantErr: `gossip.advertise: "10.0.0.7:0": bad port "0"`,
		},
		{
			name:    "missing service",
			yaml:    "hub: {url: http://h:7000, token_file: /t}\n",
			wantErr: "agent.yaml: service: required",
		},
		{
			name:    "empty file",
			yaml:    "",
			wantErr: "agent.yaml: service: required",
		},
		{
			name:    "bad service name",
			yaml:    strings.Replace(minimal, "orders", "or ders", 1),
			wantErr: "service: must be letters",
		},
		{
			name:    "integer duration is an error",
			yaml:    minimal + "interval: 10\n",
			wantErr: "agent.yaml: line 6: cannot unmarshal",
		},
		{
			name:    "report interval below protocol minimum",
			yaml:    minimal + "interval: 500ms\n",
			wantErr: "interval: must be between 1s and 24h0m0s",
		},
		{
			name:    "bad expect_status",
			yaml:    minimal + "checks:\n  - name: a\n    tcp: {address: \"h:1\"}\n  - name: b\n    http: {url: \"http://h/\", expect_status: \"200-2x9\"}\n",
			wantErr: `checks[1].http.expect_status: "200-2x9": "2x9" is not a status code`,
		},
		{
			name:    "backwards expect_status",
			yaml:    minimal + "checks:\n  - name: b\n    http: {url: \"http://h/\", expect_status: \"299-200\"}\n",
			wantErr: `checks[0].http.expect_status: "299-200": range runs backwards`,
		},
		{
			name:    "two kinds in one check",
			yaml:    minimal + "checks:\n  - name: a\n    http: {url: \"http://h/\"}\n    tcp: {address: \"h:1\"}\n",
			wantErr: "checks[0]: has http and tcp; a check has exactly one kind",
		},
		{
			name:    "no kind",
			yaml:    minimal + "checks:\n  - name: a\n    interval: 5s\n",
			wantErr: "checks[0]: needs one kind",
		},
		{
			name:    "duplicate check names",
			yaml:    minimal + "checks:\n  - name: a\n    tcp: {address: \"h:1\"}\n  - name: a\n    tcp: {address: \"h:2\"}\n",
			wantErr: `checks[1].name: "a" is already the name of checks[0]`,
		},
		{
			name:    "bad check name",
			yaml:    minimal + "checks:\n  - name: -a\n    tcp: {address: \"h:1\"}\n",
			wantErr: "checks[0].name: must be letters",
		},
		{
			name:    "http url scheme",
			yaml:    minimal + "checks:\n  - name: a\n  - name: b\n    http: {url: \"ftp://h/\"}\n",
			wantErr: "checks[0]: needs one kind",
		},
		{
			name:    "http url scheme named",
			yaml:    minimal + "checks:\n  - name: a\n    tcp: {address: \"h:1\"}\n  - name: b\n    tcp: {address: \"h:1\"}\n  - name: c\n    http: {url: \"ftp://h/\"}\n",
			wantErr: `checks[2].http.url: "ftp://h/": scheme must be http or https`,
		},
		{
			name:    "tcp address without port",
			yaml:    minimal + "checks:\n  - name: a\n    tcp: {address: \"localhost\"}\n",
			wantErr: "checks[0].tcp.address",
		},
		{
			name:    "redis address without port",
			yaml:    minimal + "checks:\n  - name: a\n    redis: {address: \"cache\"}\n",
			wantErr: `checks[0].redis.address: "cache": want host:port`,
		},
		{
			name:    "redis two password sources",
			yaml:    minimal + "checks:\n  - name: a\n    redis: {address: \"cache:6379\", password_file: /run/p, password_env: P}\n",
			wantErr: "checks[0].redis.password_env: set password_file or password_env, not both",
		},
		{
			name:    "redis user without password",
			yaml:    minimal + "checks:\n  - name: a\n    redis: {address: \"cache:6379\", username: probe}\n",
			wantErr: "checks[0].redis.username: needs password_file or password_env",
		},
		{
			name:    "redis role",
			yaml:    minimal + "checks:\n  - name: a\n    redis: {address: \"cache:6379\", role: primary}\n",
			wantErr: `checks[0].redis.role: "primary": want master or replica`,
		},
		{
			name:    "tls address without port",
			yaml:    minimal + "checks:\n  - name: a\n    tls: {address: \"example.com\"}\n",
			wantErr: `checks[0].tls.address: "example.com": want host:port`,
		},
		{
			name:    "tls address without host",
			yaml:    minimal + "checks:\n  - name: a\n    tls: {address: \":443\"}\n",
			wantErr: "checks[0].tls.server_name: required when the address has no host",
		},
		{
			name:    "tls warn below critical",
			yaml:    minimal + "checks:\n  - name: a\n    tls: {address: \"example.com:443\", warn_days: 5, critical_days: 7}\n",
			wantErr: "checks[0].tls.warn_days: 5 is below critical_days (7)",
		},
		{
			name:    "tls negative critical",
			yaml:    minimal + "checks:\n  - name: a\n    tls: {address: \"example.com:443\", critical_days: -1}\n",
			wantErr: "checks[0].tls.critical_days: must not be negative",
		},
		{
			name:    "tls with another kind",
			yaml:    minimal + "checks:\n  - name: a\n    tcp: {address: \"h:1\"}\n    tls: {address: \"h:1\"}\n",
			wantErr: "checks[0]: has tcp and tls; a check has exactly one kind",
		},
		{
			name:    "empty exec command",
			yaml:    minimal + "checks:\n  - name: a\n    exec: {command: []}\n",
			wantErr: "checks[0].exec.command",
		},
		{
			name:    "ttl must be positive",
			yaml:    minimal + "checks:\n  - name: a\n    ttl: {}\n",
			wantErr: "checks[0].ttl.ttl: must be greater than 0",
		},
		{
			name:    "ttl rejects rise",
			yaml:    minimal + "checks:\n  - name: a\n    rise: 3\n    ttl: {ttl: 5s}\n",
			wantErr: "checks[0]: rise and fall do not apply",
		},
		{
			name:    "negative timeout",
			yaml:    minimal + "checks:\n  - name: a\n    timeout: -1s\n    tcp: {address: \"h:1\"}\n",
			wantErr: "checks[0].timeout: must be greater than 0",
		},
		{
			name:    "negative fall",
			yaml:    minimal + "checks:\n  - name: a\n    fall: -1\n    tcp: {address: \"h:1\"}\n",
			wantErr: "checks[0].fall: must be at least 1",
		},
		{
			name: "timeout capped at interval",
			yaml: minimal + "checks:\n  - name: a\n    interval: 1s\n    tcp: {address: \"h:1\"}\n",
			check: func(t *testing.T, c *Config) {
				if c.Checks[0].Timeout != time.Second {
					t.Errorf("timeout = %v, want 1s", c.Checks[0].Timeout)
				}
			},
		},
		{
			name:    "check interval too short",
			yaml:    minimal + "checks:\n  - name: a\n    interval: 1ms\n    tcp: {address: \"h:1\"}\n",
			wantErr: "checks[0].interval: must be at least 100ms",
		},
		{
			name:    "bad component name via protocol limits",
			yaml:    minimal + "checks:\n  - name: a\n    component: \"bad name\"\n    tcp: {address: \"h:1\"}\n",
			wantErr: "checks[0].component: must be letters",
		},
		{
			name: "component_meta",
			yaml: minimal + "checks:\n  - name: a\n    component: kafka\n    component_meta: {stand-in: true, relay: \"127.0.0.1:9092\"}\n    tcp: {address: \"h:1\"}\n",
			check: func(t *testing.T, c *Config) {
				want := map[string]string{"stand-in": "true", "relay": "127.0.0.1:9092"}
				if got := c.Checks[0].ComponentMeta; !reflect.DeepEqual(got, want) {
					t.Errorf("component_meta = %v, want %v", got, want)
				}
			},
		},
		{
			name:    "component_meta needs component",
			yaml:    minimal + "checks:\n  - name: a\n    tcp: {address: \"h:1\"}\n  - name: b\n    component_meta: {stand-in: \"true\"}\n    tcp: {address: \"h:1\"}\n",
			wantErr: "checks[1].component_meta: needs component",
		},
		{
			name:    "component_meta key must be a name",
			yaml:    minimal + "checks:\n  - name: a\n    component: kafka\n    component_meta: {\"stand in\": \"true\"}\n    tcp: {address: \"h:1\"}\n",
			wantErr: `checks[0].component_meta: key "stand in": must be letters`,
		},
		{
			name:    "component_meta value too long",
			yaml:    minimal + "checks:\n  - name: a\n    component: kafka\n    component_meta: {note: " + strings.Repeat("x", 201) + "}\n    tcp: {address: \"h:1\"}\n",
			wantErr: `checks[0].component_meta: key "note": value longer than 200 bytes`,
		},
		{
			name: "component_meta at most 8 entries",
			yaml: minimal + "checks:\n  - name: a\n    component: kafka\n    component_meta: {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}\n" +
				"    tcp: {address: \"h:1\"}\n",
			wantErr: "checks[0].component_meta: more than 8 entries",
		},
		{
			name:    "bad depends_on via protocol limits",
			yaml:    minimal + "depends_on: [payments, \"\"]\n",
			wantErr: "depends_on[1]: must not be empty",
		},
		{
			name:    "hub url must be http or https",
			yaml:    "service: s\nhub: {url: \"tcp://h:7000\", token_file: /t}\n",
			wantErr: `hub.url: "tcp://h:7000": scheme must be http or https`,
		},
		{
			name:    "hub urls checked too",
			yaml:    minimal + "  urls: [\"http://ok:1\", \"h:7000\"]\n",
			wantErr: "hub.urls[1]",
		},
		{
			name:    "duplicate hub url",
			yaml:    minimal + "  urls: [\"http://127.0.0.1:7000/\"]\n",
			wantErr: "hub.urls[0]: same as hub.url",
		},
		{
			name:    "hub url required",
			yaml:    "service: s\nhub: {token_file: /t}\n",
			wantErr: "hub.url: required (or set AGENT_HUB_URL)",
		},
		{
			name:    "token required",
			yaml:    "service: s\nhub: {url: \"http://h:7000\"}\n",
			wantErr: "hub.token_file: required (or set AGENT_TOKEN)",
		},
		{
			name: "env overrides hub url and gives the token",
			yaml: "service: s\nhub: {url: \"http://file:7000\"}\n",
			env:  env("AGENT_HUB_URL", "https://env:7443", "AGENT_TOKEN", " secret\n"),
			check: func(t *testing.T, c *Config) {
				if c.Hub.URL != "https://env:7443" || c.Hub.Token != "secret" {
					t.Errorf("hub = %+v", c.Hub)
				}
			},
		},
		{
			name: "env hub url fills a missing one",
			yaml: "service: s\nhub: {token_file: /t}\n",
			env:  env("AGENT_HUB_URL", "http://env:7000"),
			check: func(t *testing.T, c *Config) {
				if c.Hub.URL != "http://env:7000" {
					t.Errorf("hub.url = %q", c.Hub.URL)
				}
			},
		},
		{
			name:    "env hub url is validated",
			yaml:    minimal,
			env:     env("AGENT_HUB_URL", "file:///etc/passwd"),
			wantErr: "hub.url:",
		},
		{
			name: "hub tls files",
			yaml: httpsHub + "  ca_file: " + pemFile + "\n  cert_file: " + pemFile + "\n  key_file: " + pemFile + "\n",
			check: func(t *testing.T, c *Config) {
				if c.Hub.CAFile != pemFile || c.Hub.CertFile != pemFile || c.Hub.KeyFile != pemFile || !c.Hub.TLS() {
					t.Errorf("hub = %+v", c.Hub)
				}
			},
		},
		{
			name: "hub ca_file alone",
			yaml: httpsHub + "  ca_file: " + pemFile + "\n",
		},
		{
			name:    "hub cert_file without key_file",
			yaml:    httpsHub + "  cert_file: " + pemFile + "\n",
			wantErr: "hub.key_file: required with hub.cert_file",
		},
		{
			name:    "hub key_file without cert_file",
			yaml:    httpsHub + "  key_file: " + pemFile + "\n",
			wantErr: "hub.cert_file: required with hub.key_file",
		},
		{
			name:    "hub ca_file missing",
			yaml:    httpsHub + "  ca_file: /nonexistent/ca.pem\n",
			wantErr: "hub.ca_file: stat /nonexistent/ca.pem",
		},
		{
			name:    "hub key_file missing",
			yaml:    httpsHub + "  cert_file: " + pemFile + "\n  key_file: /nonexistent/agent.key\n",
			wantErr: "hub.key_file: stat /nonexistent/agent.key",
		},
		{
			name:    "hub cert_file a directory",
			yaml:    httpsHub + "  cert_file: " + keyDir + "\n  key_file: " + pemFile + "\n",
			wantErr: "hub.cert_file: " + keyDir + ": not a regular file",
		},
		{
			name:    "hub tls without an https hub",
			yaml:    minimal + "  ca_file: " + pemFile + "\n",
			wantErr: "hub.ca_file: set, but no hub URL is https",
		},
		{
			name:    "hub client certificate without an https hub",
			yaml:    httpsHub + "  cert_file: " + pemFile + "\n  key_file: " + pemFile + "\n",
			env:     env("AGENT_HUB_URL", "http://hub:7000"),
			wantErr: "hub.cert_file: set, but no hub URL is https",
		},
		{
			name: "hub tls with one https hub among others",
			yaml: minimal + "  urls: [\"https://hub-2:7443\"]\n  ca_file: " + pemFile + "\n",
		},
		{
			name:    "metrics_listen must differ from listen",
			yaml:    minimal + "metrics_listen: 127.0.0.1:7001\n",
			wantErr: "metrics_listen: must differ",
		},
		{
			name:    "two documents",
			yaml:    minimal + "---\nservice: x\n",
			wantErr: "agent.yaml: more than one YAML document",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.env
			if e == nil {
				e = env()
			}
			cfg, err := Parse("agent.yaml", []byte(tt.yaml), e)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tt.check != nil {
				tt.check(t, cfg)
			}
		})
	}
}

func TestValidateReturnsFieldError(t *testing.T) {
	cfg, err := Parse("a.yaml", []byte(minimal), env())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Checks = []Check{{Name: "x", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1,
		HTTP: &HTTPCheck{URL: "http://h/", Method: "GET", ExpectStatus: "abc"}}}
	var fe *FieldError
	if err := cfg.Validate(); !errors.As(err, &fe) || fe.Field != "checks[0].http.expect_status" {
		t.Fatalf("Validate = %v, want a FieldError for checks[0].http.expect_status", err)
	}
}

func TestLoadNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(minimal+"bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, env())
	if err == nil || !strings.Contains(err.Error(), path+`: line 6: unknown key "bogus"`) {
		t.Fatalf("Load = %v, want the path, line and key", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), env()); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("Load of a missing file = %v, want an error naming it", err)
	}
}

func TestParseStatusRanges(t *testing.T) {
	tests := []struct {
		in      string
		in200   bool
		in204   bool
		in301   bool
		in500   bool
		wantErr bool
	}{
		{in: "200-299", in200: true, in204: true},
		{in: "200", in200: true},
		{in: "200,204,300-399", in200: true, in204: true, in301: true},
		{in: " 500 , 200 ", in200: true, in500: true},
		{in: "", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "99", wantErr: true},
		{in: "600", wantErr: true},
		{in: "200-", wantErr: true},
		{in: "200,,204", wantErr: true},
	}
	for _, tt := range tests {
		r, err := ParseStatusRanges(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseStatusRanges(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		for code, want := range map[int]bool{200: tt.in200, 204: tt.in204, 301: tt.in301, 500: tt.in500} {
			if r.Contains(code) != want {
				t.Errorf("ParseStatusRanges(%q).Contains(%d) = %v, want %v", tt.in, code, !want, want)
			}
		}
	}
	if got := (StatusRanges{{200, 204}, {301, 301}}).String(); got != "200-204,301" {
		t.Errorf("String = %q", got)
	}
}

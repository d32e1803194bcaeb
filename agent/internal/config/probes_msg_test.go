package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestMessagingProbes: the nats, mqtt, grpc and zookeeper check kinds parse with their keys, and
// each bad value is refused by an error that names its field (and never quotes an inline
// password).
func TestMessagingProbes(t *testing.T) {
	dir := t.TempDir()
	ca := writeFile(t, dir, "ca.pem", "not checked here")
	missing := filepath.Join(dir, "missing.pem")
	check := func(kind string) string { return minimal + "checks:\n  - name: probe\n    " + kind + "\n" }
	tests := []struct {
		name    string
		yaml    string
		wantErr string // substring of the error; "" means success
		check   func(t *testing.T, c *Config)
	}{
		{
			name: "nats parses",
			yaml: check(`nats: {url: "nats://probe@10.0.0.5:4222", password_file: /run/secrets/nats, jetstream: true, tls: {ca_file: ` + ca + `}}`),
			check: func(t *testing.T, c *Config) {
				n := c.Checks[0].NATS
				if c.Checks[0].Kind() != "nats" || n.URL != "nats://probe@10.0.0.5:4222" || !n.JetStream || n.PasswordFile != "/run/secrets/nats" || n.TLS.CAFile != ca {
					t.Errorf("nats: %+v", n)
				}
			},
		},
		{name: "nats tls scheme", yaml: check(`nats: {url: "tls://h:4222"}`)},
		{name: "nats url required", yaml: check(`nats: {jetstream: true}`), wantErr: "checks[0].nats.url: required"},
		{name: "nats url scheme", yaml: check(`nats: {url: "http://h:4222"}`), wantErr: `checks[0].nats.url: "http://h:4222": scheme must be nats or tls`},
		{name: "nats url without host", yaml: check(`nats: {url: "nats:///x"}`), wantErr: "checks[0].nats.url: \"nats:///x\": no host"},
		{name: "nats inline password", yaml: check(`nats: {url: "nats://probe:hunter22@h:4222"}`), wantErr: "checks[0].nats.url: \"nats://probe:xxxxx@h:4222\": must not carry a password"},
		{name: "nats two password sources", yaml: check(`nats: {url: "nats://h:4222", password_file: /run/p, password_env: P}`),
			wantErr: "checks[0].nats.password_env: set password_file or password_env, not both"},
		{name: "nats tls cert without key", yaml: check(`nats: {url: "nats://h:4222", tls: {cert_file: ` + ca + `}}`),
			wantErr: "checks[0].nats.tls.cert_file: cert_file and key_file go together"},
		{name: "nats tls ca_file missing", yaml: check(`nats: {url: "nats://h:4222", tls: {ca_file: ` + missing + `}}`), wantErr: "checks[0].nats.tls.ca_file: "},
		{name: "nats unknown key", yaml: check(`nats: {url: "nats://h:4222", jet_stream: true}`), wantErr: `unknown key "jet_stream"`},

		{
			name: "mqtt parses",
			yaml: check(`mqtt: {address: "broker:8883", username: probe, password_env: MQTT_PASSWORD, client_id: orders-1-mqtt, tls: {}}`),
			check: func(t *testing.T, c *Config) {
				m := c.Checks[0].MQTT
				if c.Checks[0].Kind() != "mqtt" || m.Address != "broker:8883" || m.Username != "probe" || m.PasswordEnv != "MQTT_PASSWORD" ||
					m.ClientID != "orders-1-mqtt" || m.TLS == nil {
					t.Errorf("mqtt: %+v", m)
				}
			},
		},
		{name: "mqtt address without port", yaml: check(`mqtt: {address: "broker"}`), wantErr: `checks[0].mqtt.address: "broker": want host:port`},
		{name: "mqtt address required", yaml: check(`mqtt: {username: probe}`), wantErr: `checks[0].mqtt.address: "": want host:port`},
		{name: "mqtt password without user", yaml: check(`mqtt: {address: "broker:1883", password_file: /run/p}`),
			wantErr: "checks[0].mqtt.username: required with a password"},
		{name: "mqtt two password sources", yaml: check(`mqtt: {address: "broker:1883", username: u, password_file: /run/p, password_env: P}`),
			wantErr: "checks[0].mqtt.password_env: set password_file or password_env, not both"},
		{name: "mqtt client id too long", yaml: check(`mqtt: {address: "broker:1883", client_id: centralhub-orders-1-mqtt-x}`),
			wantErr: `checks[0].mqtt.client_id: "centralhub-orders-1-mqtt-x": at most 23 characters`},
		{name: "mqtt tls ca_file missing", yaml: check(`mqtt: {address: "broker:8883", tls: {ca_file: ` + missing + `}}`), wantErr: "checks[0].mqtt.tls.ca_file: "},

		{
			name: "grpc parses",
			yaml: check(`grpc: {address: "orders:50051", service: orders.v1.Orders, tls: {server_name: orders.internal, insecure_skip_verify: true}}`),
			check: func(t *testing.T, c *Config) {
				g := c.Checks[0].GRPC
				if c.Checks[0].Kind() != "grpc" || g.Address != "orders:50051" || g.Service != "orders.v1.Orders" || g.TLS.ServerName != "orders.internal" || !g.TLS.InsecureSkipVerify {
					t.Errorf("grpc: %+v", g)
				}
			},
		},
		{name: "grpc address without port", yaml: check(`grpc: {address: "orders"}`), wantErr: `checks[0].grpc.address: "orders": want host:port`},
		{name: "grpc address port", yaml: check(`grpc: {address: "orders:http2"}`), wantErr: "checks[0].grpc.address: "},
		{name: "grpc tls key without cert", yaml: check(`grpc: {address: "orders:50051", tls: {key_file: ` + ca + `}}`),
			wantErr: "checks[0].grpc.tls.cert_file: cert_file and key_file go together"},

		{
			name: "zookeeper parses",
			yaml: check(`zookeeper: {address: "zk-1:2181"}`),
			check: func(t *testing.T, c *Config) {
				if c.Checks[0].Kind() != "zookeeper" || c.Checks[0].ZooKeeper.Address != "zk-1:2181" {
					t.Errorf("zookeeper: %+v", c.Checks[0].ZooKeeper)
				}
			},
		},
		{name: "zookeeper address without port", yaml: check(`zookeeper: {address: "zk-1"}`), wantErr: `checks[0].zookeeper.address: "zk-1": want host:port`},
		{name: "zookeeper unknown key", yaml: check(`zookeeper: {address: "zk-1:2181", command: stat}`), wantErr: `unknown key "command"`},
		{name: "two kinds", yaml: check("zookeeper: {address: \"zk-1:2181\"}\n    grpc: {address: \"zk-1:50051\"}"), wantErr: "a check has exactly one kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("agent.yaml", []byte(tt.yaml), env())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter22") {
					t.Fatalf("the inline password in the error: %v", err)
				}
				var fe *FieldError
				if strings.Contains(tt.wantErr, "checks[0].") && !errors.As(err, &fe) {
					t.Fatalf("err = %v, want a *FieldError", err)
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

package config

import (
	"strings"
	"testing"
)

// TestParseHostAndPresetProbes parses the host checks and the HTTP presets: their defaults and
// the problems validation reports, each naming its field.
func TestParseHostAndPresetProbes(t *testing.T) {
	check := func(probe string) string { return minimal + "checks:\n  - name: a\n    " + probe + "\n" }
	tests := []struct {
		name    string
		yaml    string
		wantErr string // substring of the error; "" means success
		check   func(t *testing.T, c *Check)
	}{
		{name: "disk defaults", yaml: check(`disk: {}`), check: func(t *testing.T, c *Check) {
			if d := c.Disk; c.Kind() != "disk" || d.Path != "/" || d.WarnPercent != 80 || d.CriticalPercent != 90 {
				t.Errorf("disk = %+v", d)
			}
		}},
		{name: "memory defaults", yaml: check(`memory: {}`), check: func(t *testing.T, c *Check) {
			if m := c.Memory; c.Kind() != "memory" || m.WarnPercent != 90 || m.CriticalPercent != 95 {
				t.Errorf("memory = %+v", m)
			}
		}},
		{name: "load defaults", yaml: check(`load: {}`), check: func(t *testing.T, c *Check) {
			if l := c.Load; c.Kind() != "load" || l.Window != "5m" || l.WarnPerCPU != 1.5 || l.CriticalPerCPU != 3 {
				t.Errorf("load = %+v", l)
			}
		}},
		{name: "disk relative path", yaml: check(`disk: {path: var/lib}`), wantErr: `checks[0].disk.path: "var/lib": want an absolute path`},
		{name: "disk warn above critical", yaml: check(`disk: {warn_percent: 95, critical_percent: 90}`),
			wantErr: "checks[0].disk.warn_percent: 95: want more than 0 and at most critical_percent (90)"},
		{name: "memory critical above 100", yaml: check(`memory: {critical_percent: 120}`),
			wantErr: "checks[0].memory.critical_percent: 120: want more than 0 and at most 100"},
		{name: "load window", yaml: check(`load: {window: 10m}`), wantErr: `checks[0].load.window: "10m": want 1m, 5m or 15m`},
		{name: "load warn above critical", yaml: check(`load: {warn_per_cpu: 4, critical_per_cpu: 2}`),
			wantErr: "checks[0].load.warn_per_cpu: 4: want from 0 to critical_per_cpu (2)"},
		{name: "clickhouse", yaml: check(`clickhouse: {url: "http://ch:8123"}`), check: func(t *testing.T, c *Check) {
			if c.Kind() != "clickhouse" || c.ClickHouse.URL != "http://ch:8123" {
				t.Errorf("clickhouse = %+v", c.ClickHouse)
			}
		}},
		{name: "arangodb over https with a CA", yaml: check(`arangodb: {url: "https://arango:8529", tls: {server_name: arango.internal}}`),
			check: func(t *testing.T, c *Check) {
				if c.Kind() != "arangodb" || c.ArangoDB.TLS == nil || c.ArangoDB.TLS.ServerName != "arango.internal" {
					t.Errorf("arangodb = %+v", c.ArangoDB)
				}
			}},
		{name: "weaviate url required", yaml: check(`weaviate: {}`), wantErr: "checks[0].weaviate.url: required"},
		{name: "preset scheme", yaml: check(`weaviate: {url: "grpc://w:50051"}`), wantErr: `checks[0].weaviate.url: "grpc://w:50051": scheme must be http or https`},
		{name: "preset with a query", yaml: check(`clickhouse: {url: "http://ch:8123/?user=x"}`),
			wantErr: `checks[0].clickhouse.url: "http://ch:8123/?user=x": want the server's base URL, without a query or fragment`},
		{name: "preset tls needs https", yaml: check(`clickhouse: {url: "http://ch:8123", tls: {}}`), wantErr: "checks[0].clickhouse.tls: needs an https url"},
		{name: "zookeeper tls file missing", yaml: check(`zookeeper: {address: "zk:2281", tls: {ca_file: /no/such/ca.pem}}`),
			wantErr: "checks[0].zookeeper.tls.ca_file: stat /no/such/ca.pem: no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("agent.yaml", []byte(tc.yaml), env())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, &cfg.Checks[0])
		})
	}
}

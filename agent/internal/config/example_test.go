package config

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
)

// exampleKeyFile is the gossip key_file the shipped example names; the test points it at a key
// of its own.
const exampleKeyFile = "/run/secrets/gossip-key"

// TestShippedExample keeps deploy/examples/agent.yaml valid.
func TestShippedExample(t *testing.T) {
	const path = "../../../deploy/examples/agent.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("key_file: "+exampleKeyFile)) {
		t.Fatalf("%s does not name the gossip key_file %s", path, exampleKeyFile)
	}
	key := writeFile(t, t.TempDir(), "gossip-key", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	data = bytes.Replace(data, []byte(exampleKeyFile), []byte(key), 1)
	cfg, err := Parse(filepath.Base(path), data, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Service != "orders" || len(cfg.Checks) != 8 || len(cfg.ConfigChecks) != 1 || cfg.Gossip == nil || len(cfg.Gossip.Join) == 0 {
		t.Fatalf("parsed %+v", cfg)
	}
	if tls := cfg.Checks[4].TLS; tls == nil || tls.ServerName != "api.example.com" || tls.WarnDays != 14 || tls.CriticalDays != 3 {
		t.Fatalf("parsed %+v", cfg)
	}
	if n := cfg.Checks[6].NATS; n == nil || !n.JetStream || cfg.Checks[7].Disk == nil || !cfg.ConfigChecks[0].CompareDesired {
		t.Fatalf("parsed %+v", cfg)
	}
}

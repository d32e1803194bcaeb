package config

import "testing"

// TestShippedExample keeps deploy/examples/agent.yaml valid.
func TestShippedExample(t *testing.T) {
	cfg, err := Load("../../../deploy/examples/agent.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Service != "orders" || len(cfg.Checks) != 4 {
		t.Fatalf("parsed %+v", cfg)
	}
}

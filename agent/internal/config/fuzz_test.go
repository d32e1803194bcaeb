package config

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary YAML to Parse: it must never panic, and whatever it accepts must
// pass Validate again and have every check's defaults filled in.
func FuzzParse(f *testing.F) {
	f.Add(minimal)
	f.Add(minimal + "checks:\n  - name: web\n    http: {url: \"http://h:1/\", expect_status: \"200,300-399\"}\n    rise: 2\n")
	f.Add(minimal + "checks:\n  - {name: a, tcp: {address: \"h:1\"}}\n  - {name: b, exec: {command: [/bin/true]}}\n  - {name: c, ttl: {ttl: 5s}}\n")
	f.Add(minimal + "tags: [a]\nmeta: {k: v}\ndepends_on: [x]\n")
	f.Add(minimal + "checks:\n  - {name: a, component: k, component_meta: {stand-in: \"true\"}, tcp: {address: \"h:1\"}}\n")
	f.Add(minimal + "gossip: {bind: \"127.0.0.1:7946\", join: [\"h:7946\"], key_file: /nonexistent, profile: local}\n")
	f.Add("service: [1, 2]\n")
	f.Add("&a [*a]")
	f.Fuzz(func(t *testing.T, yaml string) {
		cfg, err := Parse("fuzz.yaml", []byte(yaml), env())
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate refuses: %v", err)
		}
		for i, c := range cfg.Checks {
			if c.Interval <= 0 || c.Timeout <= 0 || c.Timeout > c.Interval || c.Rise < 1 || c.Fall < 1 || c.Kind() == "" {
				t.Fatalf("checks[%d] lacks defaults: %+v", i, c)
			}
		}
	})
}

// FuzzParseStatusRanges: no panic, and an accepted set survives a round trip through String.
func FuzzParseStatusRanges(f *testing.F) {
	for _, s := range []string{"200-299", "200", "200,204,300-399", "", "-", "599-100", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseStatusRanges(s)
		if err != nil {
			return
		}
		again, err := ParseStatusRanges(r.String())
		if err != nil || again.String() != r.String() {
			t.Fatalf("round trip of %q: %q, %v", s, again.String(), err)
		}
	})
}

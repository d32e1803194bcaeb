package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestConfigChecks(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string // appended to minimal
		wantErr string // the whole error after the file name; "" means success
		check   func(t *testing.T, cc []ConfigCheck)
	}{
		{
			name: "design example with defaults",
			yaml: `
config_checks:
  - path: /etc/orders/config.yaml
    required_keys: [db.url, nats.url]
    compare_desired: true
`,
			check: func(t *testing.T, cc []ConfigCheck) {
				c := cc[0]
				if c.Format != "yaml" || c.Interval != 30*time.Second || c.ReloadTimeout != 30*time.Second ||
					!c.CompareDesired || c.Apply || c.Secret || c.FollowSymlinks || len(c.RequiredKeys) != 2 {
					t.Errorf("parsed %+v", c)
				}
			},
		},
		{
			name: "every key",
			yaml: `
config_checks:
  - path: /etc/orders/app.conf
    format: toml
    secret: true
    compare_desired: true
    apply: true
    reload_command: [/bin/systemctl, reload, orders]
    follow_symlinks: true
    reload_timeout: 5s
    interval: 10s
  - path: /srv/orders/.env.production
  - {path: /srv/orders/settings.json}
  - {path: /srv/orders/orders.env}
  - {path: /srv/orders/a.YML}
`,
			check: func(t *testing.T, cc []ConfigCheck) {
				c := cc[0]
				if c.Format != "toml" || !c.Secret || !c.Apply || len(c.ReloadCommand) != 3 || !c.FollowSymlinks ||
					c.ReloadTimeout != 5*time.Second || c.Interval != 10*time.Second {
					t.Errorf("parsed %+v", c)
				}
				for i, want := range []string{"toml", "env", "json", "env", "yaml"} {
					if cc[i].Format != want {
						t.Errorf("config_checks[%d].format = %q, want %q", i, cc[i].Format, want)
					}
				}
			},
		},
		{name: "path required", yaml: "config_checks:\n  - {path: /a.yaml}\n  - {format: yaml}\n",
			wantErr: "config_checks[1].path: required"},
		{name: "path absolute", yaml: "config_checks:\n  - {path: etc/a.yaml}\n",
			wantErr: `config_checks[0].path: "etc/a.yaml": must be an absolute path`},
		{name: "format unknown from name", yaml: "config_checks:\n  - {path: /etc/orders/config}\n",
			wantErr: `config_checks[0].format: required: unknown config format: cannot tell the format of "/etc/orders/config" from its name (want .yaml, .yml, .json, .toml or .env)`},
		{name: "format bad", yaml: "config_checks:\n  - {path: /a.yaml, format: ini}\n",
			wantErr: `config_checks[0].format: "ini": want yaml, json, toml or env`},
		{name: "duplicate path", yaml: "config_checks:\n  - {path: /etc/a.yaml}\n  - {path: /etc/./a.yaml}\n",
			wantErr: `config_checks[1].path: "/etc/./a.yaml" is already checked by config_checks[0]`},
		{name: "empty required key", yaml: "config_checks:\n  - {path: /a.yaml, required_keys: [a, '']}\n",
			wantErr: "config_checks[0].required_keys[1]: must not be empty"},
		{name: "interval too short", yaml: "config_checks:\n  - {path: /a.yaml, interval: 10ms}\n",
			wantErr: "config_checks[0].interval: must be at least 1s"},
		{name: "negative reload timeout", yaml: "config_checks:\n  - {path: /a.yaml, compare_desired: true, apply: true, reload_timeout: -1s}\n",
			wantErr: "config_checks[0].reload_timeout: must be greater than 0"},
		{name: "apply needs compare_desired", yaml: "config_checks:\n  - {path: /a.yaml, apply: true}\n",
			wantErr: "config_checks[0].apply: needs compare_desired: true (apply writes the desired config)"},
		{name: "reload needs apply", yaml: "config_checks:\n  - {path: /a.yaml, compare_desired: true, reload_command: [/bin/true]}\n",
			wantErr: "config_checks[0].reload_command: needs apply: true (it runs after an apply)"},
		{name: "follow_symlinks needs apply", yaml: "config_checks:\n  - {path: /a.yaml, compare_desired: true, follow_symlinks: true}\n",
			wantErr: "config_checks[0].follow_symlinks: needs apply: true (it governs how apply writes)"},
		{name: "reload needs a program", yaml: "config_checks:\n  - {path: /a.yaml, compare_desired: true, apply: true, reload_command: ['']}\n",
			wantErr: `config_checks[0].reload_command: needs the program and its arguments, such as ["/usr/bin/systemctl", "reload", "orders"]`},
		{name: "one compare_desired", yaml: "config_checks:\n  - {path: /a.yaml, compare_desired: true}\n  - {path: /b.yaml, compare_desired: true}\n",
			wantErr: "config_checks[1].compare_desired: config_checks[0] already compares with the desired config; the hub stores one per service"},
		{name: "unknown key", yaml: "config_checks:\n  - {path: /a.yaml, requierd_keys: [a]}\n",
			wantErr: `line 7: unknown key "requierd_keys"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("agent.yaml", []byte(minimal+tt.yaml), env())
			if tt.wantErr != "" {
				if err == nil || err.Error() != "agent.yaml: "+tt.wantErr {
					t.Fatalf("Parse error = %v\nwant agent.yaml: %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg.ConfigChecks)
		})
	}
}

func TestConfigCheckFieldError(t *testing.T) {
	cfg, err := Parse("a.yaml", []byte(minimal), env())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConfigChecks = []ConfigCheck{{Path: "/a.yaml", Format: "yaml", Interval: time.Second, ReloadTimeout: time.Second, Apply: true}}
	var fe *FieldError
	if err := cfg.Validate(); !errors.As(err, &fe) || fe.Field != "config_checks[0].apply" {
		t.Fatalf("Validate = %v, want a FieldError for config_checks[0].apply", err)
	}
	if !strings.Contains(fe.Reason, "compare_desired") {
		t.Errorf("reason %q does not say what is missing", fe.Reason)
	}
}

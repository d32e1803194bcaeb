package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/alert"
	"github.com/centralhub/centralhub/hub/internal/notify"
)

// AlertsConfig is the alerts section of the hub configuration file.
type AlertsConfig struct {
	EvalInterval   Duration                 `yaml:"eval_interval"`   // how often rules are judged
	ResolveAfter   Duration                 `yaml:"resolve_after"`   // condition clear this long before resolving
	RepeatInterval Duration                 `yaml:"repeat_interval"` // re-notify an unacknowledged firing alert
	Retention      Duration                 `yaml:"retention"`       // resolved alerts stay listed this long
	FlapWindow     Duration                 `yaml:"flap_window"`
	FlapCount      int                      `yaml:"flap_count"`
	Storm          StormConfig              `yaml:"storm"`
	Builtin        map[string]BuiltinConfig `yaml:"builtin"`
	Rules          []RuleConfig             `yaml:"rules"`
	Receivers      []ReceiverConfig         `yaml:"receivers"`
	// AlertmanagerURL adds a receiver named "alertmanager" (flag --alertmanager-url, env
	// HUB_ALERTMANAGER_URL).
	AlertmanagerURL string `yaml:"alertmanager_url"`
}

// StormConfig is alerts.storm: the mass-failure detector.
type StormConfig struct {
	Share  float64  `yaml:"share"`  // of a tenant's agents lost ...
	Window Duration `yaml:"window"` // ... within this
	Min    int      `yaml:"min"`    // and never fewer agents than this
}

// BuiltinConfig tunes one built-in rule (alerts.builtin.<name>).
type BuiltinConfig struct {
	For      *Duration    `yaml:"for"`
	Severity hub.Severity `yaml:"severity"`
	Disabled bool         `yaml:"disabled"`
}

// RuleConfig is one user rule (alerts.rules[i]).
type RuleConfig struct {
	Name     string            `yaml:"name"`
	Match    map[string]string `yaml:"match"`
	MatchRE  map[string]string `yaml:"match_re"`
	State    alert.State       `yaml:"state"`
	For      Duration          `yaml:"for"`
	Severity hub.Severity      `yaml:"severity"`
	Summary  string            `yaml:"summary"`
	Runbook  string            `yaml:"runbook"`
}

// ReceiverConfig is one receiver (alerts.receivers[i]): a name and a webhook or an Alertmanager.
type ReceiverConfig struct {
	Name         string              `yaml:"name"`
	Webhook      *WebhookConfig      `yaml:"webhook"`
	Alertmanager *AlertmanagerConfig `yaml:"alertmanager"`
}

// WebhookConfig is a webhook receiver.
type WebhookConfig struct {
	URL             string   `yaml:"url"`
	Timeout         Duration `yaml:"timeout"`           // per attempt, default 10s
	BearerTokenFile string   `yaml:"bearer_token_file"` // optional; sent as a bearer token
}

// AlertmanagerConfig is an Alertmanager v2 receiver.
type AlertmanagerConfig struct {
	URL            string   `yaml:"url"`
	Timeout        Duration `yaml:"timeout"`         // per attempt, default 10s
	ResendInterval Duration `yaml:"resend_interval"` // firing alerts re-sent this often, default 1m
}

// defaultAlerts is the alerts section's defaults, from the engine's.
func defaultAlerts() AlertsConfig {
	d := alert.DefaultConfig()
	return AlertsConfig{
		EvalInterval: Duration(d.EvalInterval), ResolveAfter: Duration(d.ResolveAfter), RepeatInterval: Duration(d.RepeatInterval),
		Retention: Duration(d.Retention), FlapWindow: Duration(d.FlapWindow), FlapCount: d.FlapCount,
		Storm: StormConfig{Share: d.StormShare, Window: Duration(d.StormWindow), Min: d.StormMin},
	}
}

// engineConfig compiles the section into the engine's configuration; its errors name the field.
func (c *AlertsConfig) engineConfig() (alert.Config, error) {
	builtin := map[string]alert.BuiltinConfig{}
	for name, b := range c.Builtin {
		bc := alert.BuiltinConfig{Severity: b.Severity, Disabled: b.Disabled}
		if b.For != nil {
			d := time.Duration(*b.For)
			bc.For = &d
		}
		builtin[name] = bc
	}
	user := make([]alert.RuleConfig, len(c.Rules))
	for i, r := range c.Rules {
		user[i] = alert.RuleConfig{Name: r.Name, Match: r.Match, MatchRE: r.MatchRE, State: r.State, For: time.Duration(r.For),
			Severity: r.Severity, Summary: r.Summary, Runbook: r.Runbook}
	}
	rules, err := alert.CompileRules(builtin, user)
	if err != nil {
		return alert.Config{}, err
	}
	cfg := alert.DefaultConfig()
	cfg.Rules = rules
	cfg.EvalInterval, cfg.ResolveAfter = time.Duration(c.EvalInterval), time.Duration(c.ResolveAfter)
	cfg.RepeatInterval, cfg.Retention = time.Duration(c.RepeatInterval), time.Duration(c.Retention)
	cfg.FlapWindow, cfg.FlapCount = time.Duration(c.FlapWindow), c.FlapCount
	cfg.StormShare, cfg.StormWindow, cfg.StormMin = c.Storm.Share, time.Duration(c.Storm.Window), c.Storm.Min
	if err := cfg.Validate(); err != nil {
		return alert.Config{}, err
	}
	return cfg, nil
}

// receivers is the section's receivers, plus the one --alertmanager-url adds.
func (c *AlertsConfig) receivers() []notify.ReceiverConfig {
	out := make([]notify.ReceiverConfig, 0, len(c.Receivers)+1)
	for _, r := range c.Receivers {
		rc := notify.ReceiverConfig{Name: r.Name}
		if r.Webhook != nil {
			rc.Webhook = &notify.WebhookConfig{URL: r.Webhook.URL, Timeout: time.Duration(r.Webhook.Timeout),
				BearerTokenFile: r.Webhook.BearerTokenFile}
		}
		if r.Alertmanager != nil {
			rc.Alertmanager = &notify.AlertmanagerConfig{URL: r.Alertmanager.URL, Timeout: time.Duration(r.Alertmanager.Timeout),
				ResendInterval: time.Duration(r.Alertmanager.ResendInterval)}
		}
		out = append(out, rc)
	}
	if c.AlertmanagerURL != "" {
		out = append(out, notify.ReceiverConfig{Name: "alertmanager", Alertmanager: &notify.AlertmanagerConfig{URL: c.AlertmanagerURL}})
	}
	return out
}

// validate checks the section without building anything.
func (c *AlertsConfig) validate() error {
	if _, err := c.engineConfig(); err != nil {
		return err
	}
	recv := c.receivers()
	for i, r := range recv {
		prefix := fmt.Sprintf("alerts.receivers[%d]", i)
		if i == len(c.Receivers) {
			prefix = "alerts.alertmanager_url"
		}
		if err := r.Validate(prefix); err != nil {
			return err
		}
		if slices.ContainsFunc(recv[:i], func(o notify.ReceiverConfig) bool { return o.Name == r.Name }) {
			return fmt.Errorf("%s.name: %q is already used by another receiver", prefix, r.Name)
		}
	}
	return nil
}

// alerting is the running alert engine with its delivery.
type alerting struct {
	engine     *alert.Engine
	dispatcher *notify.Dispatcher // nil without receivers
	ams        []*notify.Alertmanager
}

// startAlerting builds the engine over src and store, with the configured receivers.
func startAlerting(ctx context.Context, c *AlertsConfig, src alert.Source, store hub.AlertStore, reg prometheus.Registerer, log *slog.Logger) (*alerting, error) {
	cfg, err := c.engineConfig()
	if err != nil {
		return nil, err
	}
	cfg.Log, cfg.Registerer = log, reg
	a := &alerting{}
	var engine *alert.Engine // set below; the receivers ask it what is firing only once running
	active := func() []hub.Alert {
		if engine == nil {
			return nil
		}
		return engine.NotifiedFiring()
	}
	rcfg := c.receivers()
	for i := range rcfg {
		if rcfg[i].Alertmanager != nil {
			rcfg[i].Alertmanager.Log = log.With("component", "notify", "receiver", rcfg[i].Name)
		}
	}
	receivers, ams, err := notify.Build(rcfg, Version, active)
	if err != nil {
		return nil, err
	}
	var notifier alert.Notifier
	if len(receivers) > 0 {
		dc := notify.DefaultConfig()
		dc.Registerer, dc.Log = reg, log.With("component", "notify")
		dc.Done = func(n notify.Notification, receiver string, err error) {
			if engine != nil {
				engine.Delivered(n, receiver, err)
			}
		}
		if a.dispatcher, err = notify.NewDispatcher(dc, receivers); err != nil {
			return nil, err
		}
		notifier = a.dispatcher
	}
	if engine, err = alert.New(ctx, cfg, src, store, notifier); err != nil {
		return nil, err
	}
	a.engine, a.ams = engine, ams
	return a, nil
}

// run runs the dispatcher, the Alertmanager re-senders and, with engine, the engine until ctx
// ends. (Several hubs on one database run the engine only while leading.)
func (a *alerting) run(ctx context.Context, engine bool) {
	done := make(chan struct{})
	n := 0
	if engine {
		n++
		go func() { _ = a.engine.Run(ctx); done <- struct{}{} }()
	}
	if a.dispatcher != nil {
		n++
		go func() { _ = a.dispatcher.Run(ctx); done <- struct{}{} }()
	}
	for _, am := range a.ams {
		n++
		go func() { _ = am.Run(ctx); done <- struct{}{} }()
	}
	for range n {
		<-done
	}
}

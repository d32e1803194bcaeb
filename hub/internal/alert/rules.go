// Package alert is the hub's alert engine: it judges the registry and the dependency graph
// against built-in and user rules every second, carries each alert through pending → firing →
// resolved, marks the alerts the graph explains (suppression), silences and acknowledgements,
// detects mass failures, and hands notifications to the receivers.
package alert

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// State is what a rule waits for. A rule fires on its state or anything worse: warning fires
// on warning and critical, degraded on degraded and unhealthy, drifted on drifted and invalid.
type State string

// The states a rule may name.
const (
	StateCritical  State = "critical"  // a check, instance or component is critical
	StateWarning   State = "warning"   // ... warning or worse
	StateUnknown   State = "unknown"   // ... unknown or worse
	StateUnhealthy State = "unhealthy" // a service is unhealthy
	StateDegraded  State = "degraded"  // a service is degraded or worse
	StateLost      State = "lost"      // an instance's agent is lost: gossip failed, or no report for stale_after intervals
	StateDrifted   State = "drifted"   // an instance's config drifted from the desired one, or is invalid
	StateInvalid   State = "invalid"   // an instance's config is invalid
)

// Subject is what one alert of a rule is about.
type Subject string

// The subjects, decided by a rule's state and matchers.
const (
	SubjectService   Subject = "service"   // unhealthy, degraded
	SubjectComponent Subject = "component" // a check state with a component matcher and no check matcher
	SubjectInstance  Subject = "instance"  // a check state without component or check matchers; lost; drifted; invalid
	SubjectCheck     Subject = "check"     // a check state with a check matcher
)

// labelNames are the labels matchers and silences may name.
var labelNames = []string{"tenant", "service", "instance", "component", "check", "rule", "severity"}

// RuleConfig is one rule as the configuration file writes it (alerts.rules).
type RuleConfig struct {
	Name     string            `yaml:"name"`
	Match    map[string]string `yaml:"match"`    // label → exact value
	MatchRE  map[string]string `yaml:"match_re"` // label → regular expression matching the whole value
	State    State             `yaml:"state"`
	For      time.Duration     `yaml:"-"` // set by the config loader from "for"
	Severity hub.Severity      `yaml:"severity"`
	Summary  string            `yaml:"summary"` // text/template over SummaryData
	Runbook  string            `yaml:"runbook"` // overrides the runbook the subject carries
}

// SummaryData is what a rule's summary template sees.
type SummaryData struct {
	Tenant, Service, Instance, Component, Check string
	State                                       string // what the subject is: critical, unhealthy, lost...
	Output                                      string // the failing check's output, or why
	Rule                                        string
	// Version is, for a config rule, the desired config version the instance compared its
	// config with (as its report says; "" when it has none).
	Version string
}

// Rule is a compiled rule.
type Rule struct {
	Name     string
	Subject  Subject
	State    State
	For      time.Duration
	Severity hub.Severity
	Runbook  string
	Builtin  bool
	exact    [5]string // tenant, service, instance, component, check; "" = any
	re       [5]*regexp.Regexp
	memo     [5]map[string]bool // value → whether re matches it
	summary  *template.Template
}

// labelIndex maps the subject labels a rule may match to positions in exact/re.
var labelIndex = map[string]int{"tenant": 0, "service": 1, "instance": 2, "component": 3, "check": 4}

// maxFor bounds a rule's for: alerts are about seconds, not hours.
const maxFor = time.Hour

// Compile checks c and compiles it; errors name the field under prefix (alerts.rules[2]).
func (c RuleConfig) Compile(prefix string) (*Rule, error) {
	if err := protocol.ValidName(c.Name); err != nil {
		return nil, fmt.Errorf("%s.name: %w", prefix, err)
	}
	r := &Rule{Name: c.Name, State: c.State, For: c.For, Severity: c.Severity, Runbook: c.Runbook}
	if r.Severity == "" {
		r.Severity = hub.SeverityWarning
	}
	switch r.Severity {
	case hub.SeverityCritical, hub.SeverityWarning, hub.SeverityInfo:
	default:
		return nil, fmt.Errorf("%s.severity: %q is not critical, warning or info", prefix, c.Severity)
	}
	if c.For < 0 || c.For > maxFor {
		return nil, fmt.Errorf("%s.for: must be between 0s and %s", prefix, maxFor)
	}
	named := map[string]bool{}
	for name, v := range c.Match {
		i, ok := labelIndex[name]
		if !ok {
			return nil, fmt.Errorf("%s.match.%s: unknown label (want tenant, service, instance, component or check)", prefix, name)
		}
		if v == "" {
			return nil, fmt.Errorf("%s.match.%s: must not be empty", prefix, name)
		}
		r.exact[i] = v
		named[name] = true
	}
	for name, v := range c.MatchRE {
		i, ok := labelIndex[name]
		if !ok {
			return nil, fmt.Errorf("%s.match_re.%s: unknown label (want tenant, service, instance, component or check)", prefix, name)
		}
		if named[name] {
			return nil, fmt.Errorf("%s.match_re.%s: already in match", prefix, name)
		}
		re, err := regexp.Compile("^(?:" + v + ")$")
		if err != nil {
			return nil, fmt.Errorf("%s.match_re.%s: %w", prefix, name, err)
		}
		r.re[i] = re
		named[name] = true
	}
	switch c.State {
	case StateCritical, StateWarning, StateUnknown:
		switch {
		case named["check"]:
			r.Subject = SubjectCheck
		case named["component"]:
			r.Subject = SubjectComponent
			if named["service"] || named["instance"] {
				return nil, fmt.Errorf("%s.match: a component rule matches on tenant and component only (add a check matcher to match checks of a service)", prefix)
			}
		default:
			r.Subject = SubjectInstance
		}
	case StateUnhealthy, StateDegraded:
		r.Subject = SubjectService
		if named["instance"] || named["component"] || named["check"] {
			return nil, fmt.Errorf("%s.match: a %s rule is about services: match on tenant and service only", prefix, c.State)
		}
	case StateLost, StateDrifted, StateInvalid:
		r.Subject = SubjectInstance
		if named["component"] || named["check"] {
			return nil, fmt.Errorf("%s.match: a %s rule is about instances: match on tenant, service and instance only", prefix, c.State)
		}
	case "":
		return nil, fmt.Errorf("%s.state: required (critical, warning, unknown, unhealthy, degraded, lost, drifted or invalid)", prefix)
	default:
		return nil, fmt.Errorf("%s.state: %q is not critical, warning, unknown, unhealthy, degraded, lost, drifted or invalid", prefix, c.State)
	}
	text := c.Summary
	if text == "" {
		text = defaultSummary(r.Subject)
	}
	t, err := template.New(c.Name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s.summary: %w", prefix, err)
	}
	if err := t.Execute(&bytes.Buffer{}, SummaryData{}); err != nil {
		return nil, fmt.Errorf("%s.summary: %w", prefix, err)
	}
	r.summary = t
	return r, nil
}

func defaultSummary(s Subject) string {
	switch s {
	case SubjectService:
		return "service {{.Service}} is {{.State}}{{if .Output}}: {{.Output}}{{end}}"
	case SubjectComponent:
		return "component {{.Component}} is {{.State}}{{if .Output}}: {{.Output}}{{end}}"
	case SubjectCheck:
		return "check {{.Check}} of {{.Service}}/{{.Instance}} is {{.State}}{{if .Output}}: {{.Output}}{{end}}"
	}
	return "instance {{.Service}}/{{.Instance}} is {{.State}}{{if .Output}}: {{.Output}}{{end}}"
}

// labels are what a rule matches: tenant, service, instance, component, check.
type labels [5]string

// matches reports whether l matches every matcher of r: the exact ones first, then the
// regular expressions, whose answers are remembered per value (names repeat across instances,
// and regexp is the evaluation's costliest step). Only the evaluation, under the engine's
// lock, calls it.
func (r *Rule) matches(l *labels) bool {
	for i := range l {
		if r.exact[i] != "" && r.exact[i] != l[i] {
			return false
		}
	}
	for i := range l {
		if r.re[i] == nil {
			continue
		}
		if r.memo[i] == nil || len(r.memo[i]) > maxMemo {
			r.memo[i] = map[string]bool{}
		}
		ok, seen := r.memo[i][l[i]]
		if !seen {
			ok = r.re[i].MatchString(l[i])
			r.memo[i][l[i]] = ok
		}
		if !ok {
			return false
		}
	}
	return true
}

// maxMemo bounds each regular expression's remembered answers.
const maxMemo = 100_000

// checkState reports whether a check, instance or component status fires the rule.
func (r *Rule) checkState(s status.Check) bool {
	switch r.State {
	case StateCritical:
		return s == status.Critical
	case StateWarning:
		return s == status.Warning || s == status.Critical
	case StateUnknown:
		return s != status.Passing && s != ""
	}
	return false
}

// serviceState reports whether a service status fires the rule.
func (r *Rule) serviceState(s string) bool {
	switch r.State {
	case StateUnhealthy:
		return s == string(status.Unhealthy)
	case StateDegraded:
		return s == string(status.Unhealthy) || s == string(status.Degraded)
	}
	return false
}

// configState reports whether an instance's config status fires the rule.
func (r *Rule) configState(s string) bool {
	switch r.State {
	case StateDrifted:
		return s == protocol.ConfigDrifted || s == protocol.ConfigInvalid
	case StateInvalid:
		return s == protocol.ConfigInvalid
	}
	return false
}

func (r *Rule) render(d SummaryData) string {
	var b strings.Builder
	if err := r.summary.Execute(&b, d); err != nil {
		return fmt.Sprintf("%s: %s %s/%s (summary template failed: %v)", r.Name, d.State, d.Service, d.Instance, err)
	}
	return protocol.Truncate(b.String(), 500)
}

// The built-in rules' names.
const (
	RuleInstanceCritical  = "instance_critical"
	RuleAgentLost         = "agent_lost"
	RuleServiceUnhealthy  = "service_unhealthy"
	RuleServiceDegraded   = "service_degraded"
	RuleComponentCritical = "component_critical"
	RuleConfigDrift       = "config_drift"
	RuleMassFailure       = "mass_failure"
)

// BuiltinConfig tunes or disables one built-in rule (alerts.builtin.<name>).
type BuiltinConfig struct {
	For      *time.Duration
	Severity hub.Severity
	Disabled bool
}

// Builtins returns the built-in rules with their defaults: none waits longer than a minute.
func Builtins() []RuleConfig {
	return []RuleConfig{
		// An instance critical by its own checks (a lost agent is agent_lost's).
		{Name: RuleInstanceCritical, State: StateCritical, For: 30 * time.Second, Severity: hub.SeverityCritical,
			Summary: "instance {{.Service}}/{{.Instance}} is critical{{if .Output}}: {{.Output}}{{end}}"},
		// Gossip holds the agent failed, or it sent nothing for stale_after intervals. Both have
		// waited already; the 10 s more let a mass failure that unfolds over a few seconds be
		// recognised (storm control) before agents are notified one by one.
		{Name: RuleAgentLost, State: StateLost, For: 10 * time.Second, Severity: hub.SeverityCritical,
			Summary: "agent of {{.Service}}/{{.Instance}} lost: {{.Output}}"},
		{Name: RuleServiceUnhealthy, State: StateUnhealthy, For: 30 * time.Second, Severity: hub.SeverityCritical},
		{Name: RuleServiceDegraded, State: StateDegraded, For: time.Minute, Severity: hub.SeverityWarning},
		// A component (postgres-main, nats...) its probes see critical; critical severity when the
		// component is declared critical, warning otherwise.
		{Name: RuleComponentCritical, State: StateCritical, For: 30 * time.Second, Severity: hub.SeverityWarning,
			Match: map[string]string{}, MatchRE: map[string]string{"component": ".+"}},
		// An instance whose config differs from the desired one (Output: how many keys and
		// which), or is invalid (Output: the first problem).
		{Name: RuleConfigDrift, State: StateDrifted, For: time.Minute, Severity: hub.SeverityWarning,
			Summary: "config of {{.Service}}/{{.Instance}} " +
				`{{if eq .State "drifted"}}drifted from desired{{if .Version}} version {{.Version}}{{end}}{{else}}is {{.State}}{{end}}` +
				"{{if .Output}}: {{.Output}}{{end}}"},
	}
}

// CompileRules compiles the built-ins (tuned by builtin) followed by the user rules; names must
// be unique, and a user rule may not take a built-in's name.
func CompileRules(builtin map[string]BuiltinConfig, user []RuleConfig) ([]*Rule, error) {
	known := map[string]bool{RuleMassFailure: true}
	var out []*Rule
	for _, c := range Builtins() {
		known[c.Name] = true
		b := builtin[c.Name]
		if b.Disabled {
			continue
		}
		if b.For != nil {
			c.For = *b.For
		}
		if b.Severity != "" {
			c.Severity = b.Severity
		}
		r, err := c.Compile("alerts.builtin." + c.Name)
		if err != nil {
			return nil, err
		}
		r.Builtin = true
		out = append(out, r)
	}
	for name := range builtin {
		if !known[name] || name == RuleMassFailure {
			return nil, fmt.Errorf("alerts.builtin.%s: not a built-in rule (want one of %s)", name, strings.Join(builtinNames(), ", "))
		}
	}
	seen := map[string]bool{}
	for i, c := range user {
		prefix := fmt.Sprintf("alerts.rules[%d]", i)
		if known[c.Name] {
			return nil, fmt.Errorf("%s.name: %q is a built-in rule's name (tune it under alerts.builtin)", prefix, c.Name)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("%s.name: %q is used by an earlier rule", prefix, c.Name)
		}
		seen[c.Name] = true
		r, err := c.Compile(prefix)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func builtinNames() []string {
	var names []string
	for _, c := range Builtins() {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return names
}

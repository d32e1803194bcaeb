// Package protocol is the wire format between agents and the hub: the report an agent sends,
// how it is decoded, and the validation that names the offending field.
package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/centralhub/centralhub/pkg/status"
)

// Version is the report protocol version this code writes and understands.
const Version = 1

// ReportPath is the hub route agents POST reports to.
const ReportPath = "/api/v1/agent/reports"

// Limits on a report, enforced by Validate. Agents truncate to them before sending.
const (
	MaxChecks     = 256  // checks in one report
	MaxOutput     = 4096 // bytes of one check's output
	MaxDependsOn  = 128  // entries in depends_on
	MaxTags       = 64   // entries in tags
	MaxMeta       = 64   // entries in meta
	MaxText       = 1024 // bytes of a runbook, address, summary-like field
	MaxProblems   = 128  // config problems
	MaxInterval   = 24 * time.Hour
	MinInterval   = time.Second
	DefaultTenant = "default"
	maxNameLen    = 128
)

// Limits on one check's component_meta, enforced by Validate and ValidComponentMeta.
const (
	MaxComponentMeta      = 8   // entries
	MaxComponentMetaKey   = 64  // bytes of a key
	MaxComponentMetaValue = 200 // bytes of a value
)

// ValidName reports why s is not a usable tenant, service, instance, check or component name,
// or nil when it is: 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit.
func ValidName(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > maxNameLen:
		return fmt.Errorf("longer than %d bytes", maxNameLen)
	case !nameChars(s):
		return errors.New("must be letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

// nameChars reports whether s is [A-Za-z0-9][A-Za-z0-9._-]*; a loop, because names are
// checked many times per report on the hub's hottest path.
func nameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// Duration is a time.Duration written in JSON as a Go duration string such as "10s".
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "10s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		// An UnmarshalTypeError gets the field's name from encoding/json.
		return &json.UnmarshalTypeError{Value: "non-string", Type: reflect.TypeFor[Duration]()}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: fmt.Sprintf("string %q (want a duration such as \"10s\")", s), Type: reflect.TypeFor[Duration]()}
	}
	*d = Duration(v)
	return nil
}

// Report is one agent's whole current view, sent on every change and as a heartbeat. What comes
// from the agent's configuration (address, runbook, tags, meta, interval, depends_on, the checks'
// names, kinds, components, component meta, critical flags and runbooks) is fixed within one boot: the hub keeps
// the values of a boot's first report and stores them with the boot's state changes.
type Report struct {
	Version      int               `json:"version"`
	Tenant       string            `json:"tenant"`
	Service      string            `json:"service"`
	Instance     string            `json:"instance"`
	Address      string            `json:"address"`
	AgentVersion string            `json:"agent_version"`
	Runbook      string            `json:"runbook"`
	Tags         []string          `json:"tags"`
	Meta         map[string]string `json:"meta"`
	Boot         int64             `json:"boot"` // agent start, unix nanoseconds
	Seq          uint64            `json:"seq"`  // rises with every report of one boot
	SentAt       time.Time         `json:"sent_at"`
	Interval     Duration          `json:"interval"`
	DependsOn    []string          `json:"depends_on"`
	Checks       []CheckResult     `json:"checks"`
	Config       ConfigState       `json:"config"`
}

// CheckResult is the latest (damped) result of one check.
type CheckResult struct {
	Name      string       `json:"name"`
	Kind      string       `json:"kind"`
	Status    status.Check `json:"status"`
	Output    string       `json:"output"`
	LatencyMS float64      `json:"latency_ms"`
	CheckedAt time.Time    `json:"checked_at,omitzero"` // absent until the check has run
	Component string       `json:"component,omitempty"`
	Critical  bool         `json:"critical,omitempty"`
	Runbook   string       `json:"runbook,omitempty"`
	// ComponentMeta labels the component this check probes (such as "stand-in": "true"); the
	// hub shows the union over a component's probes. Only with Component; see ValidComponentMeta.
	ComponentMeta map[string]string `json:"component_meta,omitempty"`
}

// Config statuses of ConfigState.Status.
const (
	ConfigInSync  = "in_sync"
	ConfigDrifted = "drifted"
	ConfigInvalid = "invalid"
	ConfigNone    = "none"
)

// ConfigState is the state of the instance's config checks.
type ConfigState struct {
	Status   string          `json:"status"`
	Version  string          `json:"version"`
	Problems []ConfigProblem `json:"problems"`
}

// ConfigProblem is one thing wrong with one config file.
type ConfigProblem struct {
	File   string `json:"file"`
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// FieldError says which field of a report is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

// Error implements error as "field: reason".
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// ErrVersion is wrapped by Validate's error for a protocol version the hub does not understand.
var ErrVersion = errors.New("unsupported report version")

// Decode reads one JSON report from r (which the caller caps in size). Syntax and type errors
// name the offending field where encoding/json can.
func Decode(r io.Reader) (*Report, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decode report: %w", err)
	}
	return Unmarshal(b)
}

// Unmarshal decodes one JSON report from b, as Decode does; the hub, which has the body in
// memory already, calls it directly.
func Unmarshal(b []byte) (*Report, error) {
	var rep Report
	if err := UnmarshalInto(b, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// UnmarshalInto decodes one JSON report from b into rep, which it first resets to the zero
// report, keeping only the capacity of rep.Checks (cleared): a caller that pools reports
// decodes without growing a new checks array every time, and nothing of the previous report
// survives.
func UnmarshalInto(b []byte, rep *Report) error {
	checks := rep.Checks[:cap(rep.Checks)]
	clear(checks)
	*rep = Report{Checks: checks[:0]}
	if len(bytes.TrimSpace(b)) == 0 {
		return errors.New("decode report: empty body")
	}
	if err := json.Unmarshal(b, rep); err != nil {
		var syntaxErr *json.SyntaxError
		if errors.As(err, &syntaxErr) && strings.Contains(syntaxErr.Error(), "after top-level value") {
			return errors.New("decode report: trailing data after the JSON object")
		}
		return decodeError(err)
	}
	return nil
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return &FieldError{Field: typeErr.Field, Reason: "want " + typeErr.Type.String() + ", got JSON " + typeErr.Value}
	}
	if errors.Is(err, io.EOF) {
		return errors.New("decode report: empty body")
	}
	return fmt.Errorf("decode report: %w", err)
}

// Validate checks every field of r and returns the first problem as a *FieldError (or an error
// wrapping ErrVersion). It fills nothing in and changes nothing.
func (r *Report) Validate() error {
	if r.Version != Version {
		return fmt.Errorf("version: %w %d (this hub speaks %d)", ErrVersion, r.Version, Version)
	}
	for _, f := range []struct{ field, value string }{
		{"tenant", r.Tenant}, {"service", r.Service}, {"instance", r.Instance},
	} {
		if err := ValidName(f.value); err != nil {
			return &FieldError{f.field, err.Error()}
		}
	}
	for _, f := range []struct{ field, value string }{
		{"address", r.Address}, {"agent_version", r.AgentVersion}, {"runbook", r.Runbook},
	} {
		if len(f.value) > MaxText {
			return &FieldError{f.field, fmt.Sprintf("longer than %d bytes", MaxText)}
		}
	}
	if r.Boot <= 0 {
		return &FieldError{"boot", "must be the agent's start time in unix nanoseconds (> 0)"}
	}
	if r.Seq == 0 {
		return &FieldError{"seq", "must start at 1"}
	}
	if iv := time.Duration(r.Interval); iv < MinInterval || iv > MaxInterval {
		return &FieldError{"interval", fmt.Sprintf("must be between %s and %s", MinInterval, MaxInterval)}
	}
	if err := r.validateLists(); err != nil {
		return err
	}
	return r.validateConfig()
}

func (r *Report) validateLists() error {
	if len(r.Tags) > MaxTags {
		return &FieldError{"tags", fmt.Sprintf("more than %d entries", MaxTags)}
	}
	for i, t := range r.Tags {
		if t == "" || len(t) > maxNameLen {
			return &FieldError{fmt.Sprintf("tags[%d]", i), fmt.Sprintf("must be 1 to %d bytes", maxNameLen)}
		}
	}
	if len(r.Meta) > MaxMeta {
		return &FieldError{"meta", fmt.Sprintf("more than %d entries", MaxMeta)}
	}
	for k, v := range r.Meta {
		if k == "" || len(k) > maxNameLen || len(v) > MaxText {
			return &FieldError{"meta." + k, fmt.Sprintf("key must be 1 to %d bytes and value at most %d", maxNameLen, MaxText)}
		}
	}
	if len(r.DependsOn) > MaxDependsOn {
		return &FieldError{"depends_on", fmt.Sprintf("more than %d entries", MaxDependsOn)}
	}
	for i, d := range r.DependsOn {
		if err := ValidName(d); err != nil {
			return &FieldError{fmt.Sprintf("depends_on[%d]", i), err.Error()}
		}
	}
	if len(r.Checks) > MaxChecks {
		return &FieldError{"checks", fmt.Sprintf("more than %d entries", MaxChecks)}
	}
	seen := make(map[string]struct{}, len(r.Checks))
	for i := range r.Checks {
		if err := r.Checks[i].validate(i); err != nil {
			return err
		}
		if _, dup := seen[r.Checks[i].Name]; dup {
			return &FieldError{fmt.Sprintf("checks[%d].name", i), fmt.Sprintf("%q appears twice", r.Checks[i].Name)}
		}
		seen[r.Checks[i].Name] = struct{}{}
	}
	return nil
}

// validate checks one check result; i is its index, named in the error's field.
func (c *CheckResult) validate(i int) error {
	at := func(field string) string { return fmt.Sprintf("checks[%d].%s", i, field) }
	if err := ValidName(c.Name); err != nil {
		return &FieldError{at("name"), err.Error()}
	}
	if err := ValidName(c.Kind); err != nil {
		return &FieldError{at("kind"), err.Error()}
	}
	if !c.Status.Valid() {
		return &FieldError{at("status"), fmt.Sprintf("%q is not passing, warning, critical or unknown", c.Status)}
	}
	if len(c.Output) > MaxOutput {
		return &FieldError{at("output"), fmt.Sprintf("longer than %d bytes", MaxOutput)}
	}
	if c.LatencyMS < 0 || c.LatencyMS != c.LatencyMS {
		return &FieldError{at("latency_ms"), "must be a number >= 0"}
	}
	if c.Component != "" {
		if err := ValidName(c.Component); err != nil {
			return &FieldError{at("component"), err.Error()}
		}
	}
	if len(c.Runbook) > MaxText {
		return &FieldError{at("runbook"), fmt.Sprintf("longer than %d bytes", MaxText)}
	}
	if len(c.ComponentMeta) > 0 {
		if c.Component == "" {
			return &FieldError{at("component_meta"), "needs component"}
		}
		if err := ValidComponentMeta(c.ComponentMeta); err != nil {
			return &FieldError{at("component_meta"), err.Error()}
		}
	}
	return nil
}

// ValidComponentMeta reports why m is not a usable component_meta, or nil when it is: at most
// MaxComponentMeta entries, each key a name (as ValidName) of at most MaxComponentMetaKey bytes
// and each value at most MaxComponentMetaValue bytes. Of several bad keys it names the smallest,
// so the error does not depend on map order.
func ValidComponentMeta(m map[string]string) error {
	if len(m) > MaxComponentMeta {
		return fmt.Errorf("more than %d entries", MaxComponentMeta)
	}
	var badKey string
	var bad error
	for k, v := range m {
		if err := componentMetaEntry(k, v); err != nil && (bad == nil || k < badKey) {
			badKey, bad = k, err
		}
	}
	return bad
}

func componentMetaEntry(k, v string) error {
	if len(k) > MaxComponentMetaKey {
		return fmt.Errorf("key %q: longer than %d bytes", Truncate(k, MaxComponentMetaKey), MaxComponentMetaKey)
	}
	if err := ValidName(k); err != nil {
		return fmt.Errorf("key %q: %w", k, err)
	}
	if len(v) > MaxComponentMetaValue {
		return fmt.Errorf("key %q: value longer than %d bytes", k, MaxComponentMetaValue)
	}
	return nil
}

func (r *Report) validateConfig() error {
	switch r.Config.Status {
	case "", ConfigNone, ConfigInSync, ConfigDrifted, ConfigInvalid:
	default:
		return &FieldError{"config.status", fmt.Sprintf("%q is not in_sync, drifted, invalid or none", r.Config.Status)}
	}
	if len(r.Config.Version) > maxNameLen {
		return &FieldError{"config.version", fmt.Sprintf("longer than %d bytes", maxNameLen)}
	}
	if len(r.Config.Problems) > MaxProblems {
		return &FieldError{"config.problems", fmt.Sprintf("more than %d entries", MaxProblems)}
	}
	for i, p := range r.Config.Problems {
		if len(p.File) > MaxText || len(p.Key) > MaxText || len(p.Reason) > MaxText {
			return &FieldError{fmt.Sprintf("config.problems[%d]", i), fmt.Sprintf("file, key and reason must each be at most %d bytes", MaxText)}
		}
	}
	return nil
}

// Truncate cuts s to at most max bytes on a UTF-8 boundary, marking the cut with "...".
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	mark := "..."
	if max < len(mark) { // no room for the mark: cut without it
		mark = ""
	}
	cut := max - len(mark)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "") + mark
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

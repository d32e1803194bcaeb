package notify

import (
	"fmt"
	"net/url"

	"github.com/centralhub/centralhub/hub"
)

// maxNameLen bounds a receiver name, which becomes a metric label and a log field.
const maxNameLen = 64

// FieldError says which configuration field is wrong and why.
type FieldError struct {
	Field  string // the field's path, e.g. "alerts.receivers[1].webhook.url"
	Reason string
}

// Error implements error as "field: reason".
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// ReceiverConfig is one receiver of the hub's configuration: a name and exactly one of the
// receiver kinds.
type ReceiverConfig struct {
	Name         string
	Webhook      *WebhookConfig
	Alertmanager *AlertmanagerConfig
}

// Validate checks c and returns the first problem as a *FieldError whose field starts with
// prefix, e.g. "alerts.receivers[1].webhook.url: must be an http or https URL".
func (c ReceiverConfig) Validate(prefix string) error {
	if err := checkName(field(prefix, "name"), c.Name); err != nil {
		return err
	}
	switch {
	case c.Webhook == nil && c.Alertmanager == nil:
		return &FieldError{prefix, "one of webhook or alertmanager is required"}
	case c.Webhook != nil && c.Alertmanager != nil:
		return &FieldError{prefix, "only one of webhook or alertmanager may be set"}
	case c.Webhook != nil:
		return c.Webhook.validate(field(prefix, "webhook"))
	default:
		return c.Alertmanager.validate(field(prefix, "alertmanager"))
	}
}

// Build validates cfgs and builds their receivers, in order, checking that names are unique.
// The Alertmanager receivers are also returned on their own: the caller must start their Run.
// active lists the firing, notified alerts the Alertmanager receivers re-send; version goes in
// the webhooks' User-Agent.
func Build(cfgs []ReceiverConfig, version string, active func() []hub.Alert) ([]Receiver, []*Alertmanager, error) {
	var (
		receivers []Receiver
		ams       []*Alertmanager
		seen      = make(map[string]int, len(cfgs))
	)
	for i, c := range cfgs {
		prefix := fmt.Sprintf("alerts.receivers[%d]", i)
		if err := c.Validate(prefix); err != nil {
			return nil, nil, err
		}
		if j, dup := seen[c.Name]; dup {
			return nil, nil, &FieldError{prefix + ".name", fmt.Sprintf("%q is already the name of alerts.receivers[%d]", c.Name, j)}
		}
		seen[c.Name] = i
		if c.Webhook != nil {
			w, err := NewWebhook(c.Name, *c.Webhook, version)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", prefix, err)
			}
			receivers = append(receivers, w)
			continue
		}
		a, err := NewAlertmanager(c.Name, *c.Alertmanager, active)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", prefix, err)
		}
		receivers = append(receivers, a)
		ams = append(ams, a)
	}
	return receivers, ams, nil
}

// field joins a field path and a field name.
func field(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// checkName checks a receiver name: required, [a-z0-9._-]+, at most maxNameLen bytes.
func checkName(fieldName, name string) error {
	if name == "" {
		return &FieldError{fieldName, "required"}
	}
	if len(name) > maxNameLen {
		return &FieldError{fieldName, fmt.Sprintf("longer than %d characters", maxNameLen)}
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return &FieldError{fieldName, "must match [a-z0-9._-]+"}
		}
	}
	return nil
}

// parseHTTPURL parses an absolute http or https URL with a host.
func parseHTTPURL(fieldName, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, &FieldError{fieldName, "required"}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &FieldError{fieldName, "must be an http or https URL with a host"}
	}
	return u, nil
}

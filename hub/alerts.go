package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Severity is how urgent an alert is.
type Severity string

// The severities, most urgent first.
const (
	SeverityCritical Severity = "critical"
	SeverityWarning  Severity = "warning"
	SeverityInfo     Severity = "info"
)

// AlertState is where an alert is in its lifecycle.
type AlertState string

// The alert states: pending while its condition has held for less than its rule's `for`,
// firing after, resolved once the condition stopped holding (for the resolve hold).
const (
	AlertPending  AlertState = "pending"
	AlertFiring   AlertState = "firing"
	AlertResolved AlertState = "resolved"
)

// ClusterComponent is the component of alerts about the cluster as a whole (mass failure,
// partition).
const ClusterComponent = "cluster"

// Ack is an acknowledgement of a firing alert: who is on it, why, and until when.
type Ack struct {
	By        string     `json:"by"` // the token's sub
	Comment   string     `json:"comment"`
	At        time.Time  `json:"at"`
	ExpiresAt *time.Time `json:"expires_at"` // nil: until the alert resolves
}

// Alert is one occurrence of an alert, in the shape DESIGN.md fixes plus the rule, check and
// times that explain it. A condition that holds again after its alert resolved is a new
// occurrence with a new ID and the same Fingerprint.
type Alert struct {
	ID           string     `json:"id"`
	Fingerprint  string     `json:"fingerprint"` // stable over occurrences: rule and subject
	Tenant       string     `json:"tenant"`
	Component    string     `json:"component"` // the graph node: service name, component name, or "cluster"
	Service      string     `json:"service"`
	Instance     string     `json:"instance"`
	Check        string     `json:"check"`
	Rule         string     `json:"rule"`
	Severity     Severity   `json:"severity"`
	State        AlertState `json:"state"`
	Summary      string     `json:"summary"`
	Runbook      string     `json:"runbook"`
	StartedAt    time.Time  `json:"started_at"` // when the condition began to hold
	FiredAt      *time.Time `json:"fired_at"`   // when it turned firing; nil while pending
	ResolvedAt   *time.Time `json:"resolved_at"`
	Acknowledged bool       `json:"acknowledged"`
	Ack          *Ack       `json:"ack"`
	// SuppressedBy is the cause node whose firing alert makes this one's notifications
	// redundant (the dependency graph says this node is impacted by it), or "".
	SuppressedBy string   `json:"suppressed_by"`
	SilencedBy   []string `json:"silenced_by"` // IDs of the silences that match it now
	// Flapping is set on an occurrence that fired again soon after earlier ones resolved:
	// it is listed but not notified until it has held for the flap window.
	Flapping bool `json:"flapping"`
	// Impacted lists the services that depend on this alert's node, transitively (for a cause:
	// what its notification reports as impacted).
	Impacted []string `json:"impacted"`

	// Book is the engine's bookkeeping; stores keep it, the API never shows it.
	Book AlertBook `json:"-"`
}

// AlertBook is what the alert engine keeps about an alert besides what the API shows.
type AlertBook struct {
	// ClearedAt is when the condition stopped holding while firing: the alert resolves once
	// it has stayed clear for the resolve hold, and stays firing, unnotified, if it returns.
	ClearedAt *time.Time `json:"cleared_at,omitempty"`
	// NotifiedAt is when the last firing (or repeat) notification was queued.
	NotifiedAt *time.Time `json:"notified_at,omitempty"`
	// Notified says a firing notification went out, so its resolve must go out too.
	Notified bool `json:"notified,omitempty"`
	// Outbox holds the notification events (firing, repeat, resolved) queued and not yet
	// delivered to every receiver; a restarted hub queues them again.
	Outbox []string `json:"outbox,omitempty"`
}

// Matcher selects alerts by one label: tenant, service, instance, component, check, rule or
// severity. A regex matches the whole value.
type Matcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"is_regex"`
}

// WeeklyWindow is one recurring maintenance slot: a day of the week and a time range on it,
// in the schedule's time zone. End may be "24:00"; an end before start runs past midnight.
type WeeklyWindow struct {
	Day   string `json:"day"`   // mon, tue, wed, thu, fri, sat, sun
	Start string `json:"start"` // HH:MM
	End   string `json:"end"`   // HH:MM
}

// Schedule makes a silence a recurring maintenance window.
type Schedule struct {
	Weekly   []WeeklyWindow `json:"weekly"`
	Timezone string         `json:"timezone"` // IANA name; default UTC
}

// Silence mutes notifications of the alerts its matchers select, inside its own tenant: between
// StartsAt and EndsAt, or, for a maintenance window, whenever its Schedule says.
type Silence struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Matchers  []Matcher `json:"matchers"`
	StartsAt  time.Time `json:"starts_at,omitzero"`
	EndsAt    time.Time `json:"ends_at,omitzero"`
	Schedule  *Schedule `json:"schedule,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	Comment   string    `json:"comment"`
}

// AuditEntry records one human action: who did what, to what, when.
type AuditEntry struct {
	Seq    uint64    `json:"seq"` // assigned by the store, rising
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"` // the token's sub
	Role   string    `json:"role"`
	Tenant string    `json:"tenant"`
	Action string    `json:"action"` // acknowledge, unacknowledge, silence.create, silence.delete, config.put, ...
	Target string    `json:"target"` // the component, silence ID, service (config.put), ...
	Detail string    `json:"detail"`
}

// AlertWrites is one alert-store transaction: alert and silence puts and deletes, and audit
// entries appended, all or nothing.
type AlertWrites struct {
	Alerts         []Alert  // whole alerts (with their Book), replacing any with the same ID
	DeleteAlerts   []string // IDs
	Silences       []Silence
	DeleteSilences []string
	Audit          []AuditEntry // Seq is assigned by the store
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	Tenant string    // only this tenant's entries; "" for every tenant
	Since  time.Time // only entries at or after it; zero for all
	Limit  int       // at most this many; 0 for all
}

// AlertStore makes alerts, silences and the audit log durable. The same contract as Store:
// safe for concurrent use, each method one transaction, durable on return.
type AlertStore interface {
	// LoadAlerts returns every stored alert (with its Book) and silence, in no particular order.
	LoadAlerts(ctx context.Context) ([]Alert, []Silence, error)
	// WriteAlerts applies w.
	WriteAlerts(ctx context.Context, w AlertWrites) error
	// ListAudit returns the entries q selects, newest first.
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
}

// alertRecord is an alert as stores keep it: the alert's own fields with its Book beside them.
type alertRecord struct {
	*Alert
	Book *AlertBook `json:"book"`
}

// MarshalAlertRecord encodes a, Book included, as every store keeps an alert.
func MarshalAlertRecord(a *Alert) ([]byte, error) {
	b, err := json.Marshal(alertRecord{Alert: a, Book: &a.Book})
	if err != nil {
		return nil, fmt.Errorf("encode alert %s: %w", a.ID, err)
	}
	return b, nil
}

// UnmarshalAlertRecord decodes what MarshalAlertRecord wrote.
func UnmarshalAlertRecord(b []byte) (Alert, error) {
	var a Alert
	if err := json.Unmarshal(b, &alertRecord{Alert: &a, Book: &a.Book}); err != nil {
		return Alert{}, fmt.Errorf("decode alert: %w", err)
	}
	return a, nil
}

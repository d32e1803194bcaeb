package alert

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/centralhub/centralhub/hub"
)

// stormSummary is the mass-failure alert's summary.
var stormSummary = template.Must(template.New(RuleMassFailure).Parse(
	"mass failure or partition: {{.Output}} in tenant {{.Tenant}}; individual agent-lost notifications are held until it clears"))

// Query selects alerts for List.
type Query struct {
	Visible   func(tenant string) bool
	Tenant    string // only this tenant when set
	State     hub.AlertState
	Component string
	Service   string
	Limit     int // 0 for all
}

// stateRank orders firing, pending, resolved.
func stateRank(s hub.AlertState) int {
	switch s {
	case hub.AlertFiring:
		return 0
	case hub.AlertPending:
		return 1
	}
	return 2
}

func severityRank(s hub.Severity) int {
	switch s {
	case hub.SeverityCritical:
		return 0
	case hub.SeverityWarning:
		return 1
	}
	return 2
}

// List returns the alerts q selects: firing first, then pending, then resolved; within each the
// most severe, then the newest first. total counts them before the limit.
func (e *Engine) List(q Query) (alerts []hub.Alert, total int) {
	e.mu.RLock()
	for _, a := range e.alerts {
		if !q.Visible(a.Tenant) || (q.Tenant != "" && a.Tenant != q.Tenant) || (q.State != "" && a.State != q.State) ||
			(q.Component != "" && a.Component != q.Component) || (q.Service != "" && a.Service != q.Service) {
			continue
		}
		alerts = append(alerts, view(a))
	}
	e.mu.RUnlock()
	slices.SortFunc(alerts, func(a, b hub.Alert) int {
		return cmp.Or(cmp.Compare(stateRank(a.State), stateRank(b.State)), cmp.Compare(severityRank(a.Severity), severityRank(b.Severity)),
			b.StartedAt.Compare(a.StartedAt), cmp.Compare(a.ID, b.ID))
	})
	total = len(alerts)
	if q.Limit > 0 && len(alerts) > q.Limit {
		alerts = alerts[:q.Limit]
	}
	if alerts == nil {
		alerts = []hub.Alert{}
	}
	return alerts, total
}

// Counts returns how many visible alerts fire and how many of those are acknowledged. It takes
// no lock (the dashboard summary asks on every request): it reads what the last evaluation or
// acknowledgement published.
func (e *Engine) Counts(visible func(string) bool) (firing, acknowledged int) {
	p := e.counts.Load()
	if p == nil {
		return 0, 0
	}
	for tenant, c := range *p {
		if visible(tenant) {
			firing += c.firing
			acknowledged += c.acked
		}
	}
	return firing, acknowledged
}

type tenantCounts struct{ firing, acked int }

// publishCounts recomputes what Counts reads; e.mu is held.
func (e *Engine) publishCounts() {
	m := map[string]tenantCounts{}
	for _, a := range e.active {
		if a.State == hub.AlertFiring {
			c := m[a.Tenant]
			c.firing++
			if a.Acknowledged {
				c.acked++
			}
			m[a.Tenant] = c
		}
	}
	e.counts.Store(&m)
}

// Acknowledge records by's acknowledgement of every firing alert on tenant's component, with
// comment, until expiresIn passes (0: until each resolves). ErrNotFound when none fires. It is
// durable, with its audit entry, on return.
func (e *Engine) Acknowledge(ctx context.Context, tenant, component string, by Principal, comment string, expiresIn time.Duration) ([]hub.Alert, error) {
	if len(comment) > 2000 {
		return nil, &InputError{"comment: longer than 2000 bytes"}
	}
	if expiresIn < 0 || expiresIn > MaxAckExpiry {
		return nil, &InputError{fmt.Sprintf("expires_in: must be positive and at most %s", fmtDuration(MaxAckExpiry))}
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	now := e.cfg.Now()
	ack := &hub.Ack{By: by.Subject, Comment: comment, At: now}
	detail := comment
	if expiresIn > 0 {
		t := now.Add(expiresIn)
		ack.ExpiresAt = &t
		detail = fmt.Sprintf("%s (expires %s)", comment, t.UTC().Format(time.RFC3339))
	}
	return e.change(ctx, tenant, component, by, "acknowledge", detail, func(a *hub.Alert) bool {
		return a.State == hub.AlertFiring
	}, func(a *hub.Alert) {
		a.Ack, a.Acknowledged = ack, true
	})
}

// Unacknowledge removes the acknowledgement of every acknowledged firing alert on tenant's
// component. ErrNotFound when none is acknowledged.
func (e *Engine) Unacknowledge(ctx context.Context, tenant, component string, by Principal) ([]hub.Alert, error) {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	return e.change(ctx, tenant, component, by, "unacknowledge", "", func(a *hub.Alert) bool {
		return a.State == hub.AlertFiring && a.Acknowledged
	}, func(a *hub.Alert) {
		a.Ack, a.Acknowledged = nil, false
	})
}

// change applies apply to copies of the active alerts on tenant's component that pick selects,
// writes them with an audit entry, and only then makes them the engine's; e.writeMu is held.
func (e *Engine) change(ctx context.Context, tenant, component string, by Principal, action, detail string,
	pick func(*hub.Alert) bool, apply func(*hub.Alert)) ([]hub.Alert, error) {
	if !e.leading.Load() {
		return nil, ErrNotLeader
	}
	e.mu.RLock()
	var changed []hub.Alert
	for _, a := range e.active {
		if a.Tenant == tenant && a.Component == component && pick(a) {
			c := stored(a)
			apply(&c)
			changed = append(changed, c)
		}
	}
	e.mu.RUnlock()
	if len(changed) == 0 {
		return nil, ErrNotFound
	}
	slices.SortFunc(changed, func(a, b hub.Alert) int { return cmp.Compare(a.ID, b.ID) })
	entry := hub.AuditEntry{At: e.cfg.Now(), Actor: by.Subject, Role: by.Role, Tenant: tenant, Action: action,
		Target: component, Detail: detail}
	if err := e.store.WriteAlerts(ctx, hub.AlertWrites{Alerts: changed, Audit: []hub.AuditEntry{entry}}); err != nil {
		return nil, &StoreError{err}
	}
	e.mu.Lock()
	out := make([]hub.Alert, 0, len(changed))
	for i := range changed {
		c := changed[i]
		if a := e.alerts[c.ID]; a != nil {
			a.Ack, a.Acknowledged = c.Ack, c.Acknowledged
			out = append(out, view(a))
		}
	}
	e.publishCounts()
	e.mu.Unlock()
	e.log.Info(action, "tenant", tenant, "component", component, "by", by.Subject, "alerts", len(out))
	return out, nil
}

// SilenceView is a silence as the API shows it, with its state now.
type SilenceView struct {
	hub.Silence
	State string `json:"state"` // active, pending or expired
}

// Silences returns the visible silences, active first, then pending, then expired, newest
// first within each.
func (e *Engine) Silences(visible func(string) bool) []SilenceView {
	now := e.cfg.Now()
	e.mu.RLock()
	out := []SilenceView{}
	for _, s := range e.silences {
		if visible(s.Tenant) {
			out = append(out, SilenceView{Silence: s.Silence, State: s.stateAt(now)})
		}
	}
	e.mu.RUnlock()
	rank := map[string]int{"active": 0, "pending": 1, "expired": 2}
	slices.SortFunc(out, func(a, b SilenceView) int {
		return cmp.Or(cmp.Compare(rank[a.State], rank[b.State]), b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// CreateSilence validates s (of its tenant), records by as its creator and stores it with an
// audit entry; the next evaluation, at once, applies it.
func (e *Engine) CreateSilence(ctx context.Context, s hub.Silence, by Principal) (SilenceView, error) {
	now := e.cfg.Now()
	if err := validTenant(s.Tenant); err != nil {
		return SilenceView{}, &InputError{err.Error()}
	}
	s.ID, s.CreatedBy, s.CreatedAt = newID(), by.Subject, now
	cs, err := compileSilence(s, now, true)
	if err != nil {
		return SilenceView{}, &InputError{err.Error()}
	}
	if !e.leading.Load() {
		return SilenceView{}, ErrNotLeader
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	e.mu.RLock()
	n := 0
	for _, x := range e.silences {
		if x.Tenant == s.Tenant && !x.expired(now) {
			n++
		}
	}
	e.mu.RUnlock()
	if n >= maxSilencesPerTenant {
		return SilenceView{}, &InputError{fmt.Sprintf("tenant %s has %d silences in force, the most it may have; delete some first", s.Tenant, n)}
	}
	entry := hub.AuditEntry{At: now, Actor: by.Subject, Role: by.Role, Tenant: s.Tenant, Action: "silence.create",
		Target: s.ID, Detail: describeSilence(&s)}
	if err := e.store.WriteAlerts(ctx, hub.AlertWrites{Silences: []hub.Silence{s}, Audit: []hub.AuditEntry{entry}}); err != nil {
		return SilenceView{}, &StoreError{err}
	}
	e.mu.Lock()
	e.silences[s.ID] = cs
	e.publishSilences()
	e.mu.Unlock()
	e.poke()
	e.log.Info("silence created", "silence", s.ID, "tenant", s.Tenant, "by", by.Subject)
	return SilenceView{Silence: s, State: cs.stateAt(now)}, nil
}

// maxSilencesPerTenant bounds the silences in force per tenant.
const maxSilencesPerTenant = 1000

// DeleteSilence removes the silence id if visible allows its tenant (ErrNotFound otherwise),
// with an audit entry.
func (e *Engine) DeleteSilence(ctx context.Context, id string, visible func(string) bool, by Principal) error {
	if !e.leading.Load() {
		return ErrNotLeader
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	e.mu.RLock()
	s := e.silences[id]
	e.mu.RUnlock()
	if s == nil || !visible(s.Tenant) {
		return ErrNotFound
	}
	entry := hub.AuditEntry{At: e.cfg.Now(), Actor: by.Subject, Role: by.Role, Tenant: s.Tenant, Action: "silence.delete",
		Target: id, Detail: describeSilence(&s.Silence)}
	if err := e.store.WriteAlerts(ctx, hub.AlertWrites{DeleteSilences: []string{id}, Audit: []hub.AuditEntry{entry}}); err != nil {
		return &StoreError{err}
	}
	e.mu.Lock()
	delete(e.silences, id)
	e.publishSilences()
	e.mu.Unlock()
	e.poke()
	e.log.Info("silence deleted", "silence", id, "tenant", s.Tenant, "by", by.Subject)
	return nil
}

func describeSilence(s *hub.Silence) string {
	var b []byte
	for i, m := range s.Matchers {
		if i > 0 {
			b = append(b, ", "...)
		}
		op := "="
		if m.IsRegex {
			op = "=~"
		}
		b = fmt.Appendf(b, "%s%s%q", m.Name, op, m.Value)
	}
	if s.Schedule != nil {
		b = fmt.Appendf(b, "; weekly %v in %s", s.Schedule.Weekly, cmp.Or(s.Schedule.Timezone, "UTC"))
	} else {
		b = fmt.Appendf(b, "; %s to %s", s.StartsAt.UTC().Format(time.RFC3339), s.EndsAt.UTC().Format(time.RFC3339))
	}
	if s.Comment != "" {
		b = fmt.Appendf(b, "; %s", s.Comment)
	}
	return string(b)
}

// publishSilences makes the silences visible to InMaintenance; e.mu is held.
func (e *Engine) publishSilences() {
	list := make([]*silence, 0, len(e.silences))
	for _, s := range e.silences {
		list = append(list, s)
	}
	e.silenceSnap.Store(&list)
}

// InMaintenance reports whether a maintenance window of tenant covers service now. It takes no
// lock, so the registry may call it while holding its own.
func (e *Engine) InMaintenance(tenant, service string) bool {
	p := e.silenceSnap.Load()
	if p == nil {
		return false
	}
	now := e.cfg.Now()
	for _, s := range *p {
		if s.coversService(tenant, service) && s.activeAt(now) {
			return true
		}
	}
	return false
}

// Audit returns the audit entries q selects, newest first.
func (e *Engine) Audit(ctx context.Context, q hub.AuditQuery) ([]hub.AuditEntry, error) {
	out, err := e.store.ListAudit(ctx, q)
	if err != nil {
		return nil, &StoreError{err}
	}
	return out, nil
}

// NotifiedFiring returns the firing alerts whose firing notification went out and that may
// notify now: what an Alertmanager receiver re-sends so Alertmanager keeps them active.
func (e *Engine) NotifiedFiring() []hub.Alert {
	if !e.leading.Load() {
		return nil // the leader re-sends them
	}
	now := e.cfg.Now()
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []hub.Alert
	for _, a := range e.active {
		if a.Book.Notified && e.notifiable(now, a) {
			out = append(out, view(a))
		}
	}
	return out
}

func fmtDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// alertCollector exports the alert counts by state and severity.
type alertCollector struct{ e *Engine }

var alertsDesc = prometheus.NewDesc("centralhub_alerts", "Alerts held, by state (pending, firing, resolved) and severity.",
	[]string{"state", "severity"}, nil)

var ackedDesc = prometheus.NewDesc("centralhub_alerts_acknowledged", "Firing alerts that are acknowledged.", nil, nil)

var suppressedDesc = prometheus.NewDesc("centralhub_alerts_suppressed", "Firing alerts suppressed by the dependency graph or a mass failure.", nil, nil)

// Describe implements prometheus.Collector.
func (c *alertCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- alertsDesc
	ch <- ackedDesc
	ch <- suppressedDesc
}

// Collect implements prometheus.Collector.
func (c *alertCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ state, sev string }
	counts := map[key]int{}
	for _, st := range []hub.AlertState{hub.AlertPending, hub.AlertFiring, hub.AlertResolved} {
		for _, sev := range []hub.Severity{hub.SeverityCritical, hub.SeverityWarning, hub.SeverityInfo} {
			counts[key{string(st), string(sev)}] = 0
		}
	}
	acked, suppressed := 0, 0
	c.e.mu.RLock()
	for _, a := range c.e.alerts {
		counts[key{string(a.State), string(a.Severity)}]++
		if a.State == hub.AlertFiring && a.Acknowledged {
			acked++
		}
		if a.State == hub.AlertFiring && a.SuppressedBy != "" {
			suppressed++
		}
	}
	c.e.mu.RUnlock()
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(alertsDesc, prometheus.GaugeValue, float64(n), k.state, k.sev)
	}
	ch <- prometheus.MustNewConstMetric(ackedDesc, prometheus.GaugeValue, float64(acked))
	ch <- prometheus.MustNewConstMetric(suppressedDesc, prometheus.GaugeValue, float64(suppressed))
}

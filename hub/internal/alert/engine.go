package alert

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/graph"
	"github.com/centralhub/centralhub/hub/internal/notify"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// Source is what the engine judges: the registry's troubled instances and the dependency graph.
type Source interface {
	Troubles() *registry.Troubles
	Graph(scope string, visible registry.Visibility) *graph.Graph
}

// Notifier takes notifications for delivery; it never blocks.
type Notifier interface {
	Enqueue(n notify.Notification)
	Receivers() []string
}

// Config tunes an Engine. DefaultConfig gives every default.
type Config struct {
	Rules          []*Rule       // compiled by CompileRules
	EvalInterval   time.Duration // how often rules are judged
	ResolveAfter   time.Duration // a firing alert resolves once its condition stayed clear this long
	RepeatInterval time.Duration // a firing, unacknowledged alert is notified again after this
	Retention      time.Duration // resolved alerts stay listed this long
	FlapWindow     time.Duration // an alert firing for the FlapCount-th time within this is flapping
	FlapCount      int
	StormShare     float64       // a tenant's share of agents lost ...
	StormWindow    time.Duration // ... within this raises the mass-failure alert
	StormMin       int           // and never for fewer agents than this
	Now            func() time.Time
	Log            *slog.Logger
	Registerer     prometheus.Registerer // optional
}

// MaxAckExpiry bounds an acknowledgement's expires_in.
const MaxAckExpiry = 7 * 24 * time.Hour

// DefaultConfig returns the defaults the README documents.
func DefaultConfig() Config {
	rules, err := CompileRules(nil, nil)
	if err != nil {
		panic(fmt.Sprintf("built-in rules do not compile: %v", err)) // a programming error, caught by every test
	}
	return Config{
		Rules:          rules,
		EvalInterval:   time.Second,        // rules judged every second
		ResolveAfter:   30 * time.Second,   // condition clear this long before resolving
		RepeatInterval: 4 * time.Hour,      // as Alertmanager's default
		Retention:      7 * 24 * time.Hour, // resolved alerts listed for 7 days
		FlapWindow:     10 * time.Minute,   // the 3rd firing within 10 minutes is flapping
		FlapCount:      3,
		StormShare:     0.3,              // 30% of a tenant's agents ...
		StormWindow:    30 * time.Second, // ... lost within 30 s
		StormMin:       3,                // and at least 3 agents
		Now:            time.Now,
	}
}

// Validate names the first unusable setting.
func (c Config) Validate() error {
	switch {
	case c.EvalInterval <= 0:
		return errors.New("alerts.eval_interval: must be positive")
	case c.ResolveAfter < 0:
		return errors.New("alerts.resolve_after: must not be negative")
	case c.RepeatInterval < time.Minute:
		return errors.New("alerts.repeat_interval: must be at least 1m")
	case c.Retention < time.Hour:
		return errors.New("alerts.retention: must be at least 1h")
	case c.FlapCount < 2:
		return errors.New("alerts.flap_count: must be at least 2")
	case c.FlapWindow <= 0:
		return errors.New("alerts.flap_window: must be positive")
	case c.StormShare <= 0 || c.StormShare > 1:
		return errors.New("alerts.storm.share: must be above 0 and at most 1")
	case c.StormWindow <= 0:
		return errors.New("alerts.storm.window: must be positive")
	case c.StormMin < 1:
		return errors.New("alerts.storm.min: must be at least 1")
	}
	return nil
}

// Errors the engine's actions return.
var (
	// ErrNotFound means nothing matched: no firing alert on the component, no such silence.
	ErrNotFound = errors.New("not found")
	// ErrNotLeader means another hub leads (several hubs on one database): changes to alerts
	// and silences are the leader's to make, and the API forwards them there.
	ErrNotLeader = errors.New("another hub leads alerting")
)

// InputError is a client's mistake, naming the field.
type InputError struct{ Msg string }

// Error implements error.
func (e *InputError) Error() string { return e.Msg }

// StoreError means a change could not be made durable; nothing changed.
type StoreError struct{ Err error }

// Error implements error.
func (e *StoreError) Error() string { return "store unavailable: " + e.Err.Error() }

// Unwrap returns the store's error.
func (e *StoreError) Unwrap() error { return e.Err }

// Principal is who acts: the token's subject, role and tenant.
type Principal struct {
	Subject, Role, Tenant string
}

// Engine judges rules and keeps every alert, silence and acknowledgement. It is safe for
// concurrent use.
type Engine struct {
	cfg      Config
	src      Source
	store    hub.AlertStore
	notifier Notifier
	log      *slog.Logger
	rules    map[string]*Rule
	storm    *Rule

	// writeMu serialises every change with its store write, so the store sees changes in the
	// order memory does. mu guards what follows; it is never held while calling src.
	writeMu   sync.Mutex
	mu        sync.RWMutex
	alerts    map[string]*hub.Alert // every alert by ID
	active    map[string]*hub.Alert // pending or firing, by fingerprint
	silences  map[string]*silence
	fired     map[string][]time.Time // fingerprint → recent firing times, for flap detection
	lostSince map[hub.InstanceKey]time.Time
	storming  map[string]bool // tenants in a mass failure
	judged    bool            // a storm judgement was made since the engine started
	dirty     map[string]bool // alert IDs to write
	deleted   []string        // alert IDs to delete
	// deletedSilences are silence IDs to delete: expired past the retention, or no longer valid.
	deletedSilences []string
	toSend          []notify.Notification
	inflight        map[string]int  // notification ID → receivers yet to finish
	persisted       map[string]bool // alert IDs the store holds
	// summaries keeps each condition's rendered summary from the last evaluation, rendered
	// again only when what it says changes.
	summaries map[string]renderedSummary

	leading     atomic.Bool                             // see SetLeading
	silenceSnap atomic.Pointer[[]*silence]              // for InMaintenance, read without mu
	counts      atomic.Pointer[map[string]tenantCounts] // for Counts, read without mu
	kick        chan struct{}
	evalSeconds prometheus.Histogram
	evalErrors  prometheus.Counter
}

// New returns an engine over src and store, loaded with what the store holds; notifier may be
// nil (no receivers). Call Run to judge rules.
func New(ctx context.Context, cfg Config, src Source, store hub.AlertStore, notifier Notifier) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg: cfg, src: src, store: store, notifier: notifier, log: cfg.Log.With("component", "alert"),
		rules: map[string]*Rule{}, alerts: map[string]*hub.Alert{}, active: map[string]*hub.Alert{},
		silences: map[string]*silence{}, fired: map[string][]time.Time{}, lostSince: map[hub.InstanceKey]time.Time{},
		storming: map[string]bool{}, dirty: map[string]bool{}, inflight: map[string]int{}, persisted: map[string]bool{},
		kick: make(chan struct{}, 1),
		storm: &Rule{Name: RuleMassFailure, Subject: SubjectInstance, State: StateLost, Severity: hub.SeverityCritical,
			Builtin: true, summary: stormSummary},
	}
	for _, r := range cfg.Rules {
		e.rules[r.Name] = r
	}
	e.leading.Store(true)
	e.evalSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "centralhub_alert_evaluation_seconds", Help: "Time one evaluation of every alert rule took.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	e.evalErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "centralhub_alert_evaluation_failures_total", Help: "Evaluations whose alert changes could not be written to the store (retried next time).",
	})
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{e.evalSeconds, e.evalErrors, &alertCollector{e}} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register alert metrics: %w", err)
			}
		}
	}
	if err := e.load(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// load restores alerts and silences from the store and queues again the notifications that
// were not delivered before the hub stopped.
func (e *Engine) load(ctx context.Context) error {
	alerts, silences, err := e.store.LoadAlerts(ctx)
	if err != nil {
		return fmt.Errorf("load alerts: %w", err)
	}
	e.install(alerts, silences, true)
	return nil
}

// Reload replaces what the engine holds with what the store holds: a hub that follows
// another's lead (several hubs on one database) calls it when the leader's alerts change, with
// lead false, to show them; a hub taking the lead calls it with lead true, which also queues
// again the notifications the previous leader had not delivered.
func (e *Engine) Reload(ctx context.Context, lead bool) error {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	if !lead && e.leading.Load() {
		return nil // it leads now: what it holds is the truth, and its outbox is owed
	}
	alerts, silences, err := e.store.LoadAlerts(ctx)
	if err != nil {
		return fmt.Errorf("reload alerts: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.alerts, e.active, e.silences, e.fired = map[string]*hub.Alert{}, map[string]*hub.Alert{}, map[string]*silence{}, map[string][]time.Time{}
	e.lostSince, e.storming, e.judged = map[hub.InstanceKey]time.Time{}, map[string]bool{}, false
	e.dirty, e.deleted, e.deletedSilences, e.toSend = map[string]bool{}, nil, nil, nil
	e.inflight, e.persisted, e.summaries = map[string]int{}, map[string]bool{}, nil
	e.install(alerts, silences, lead)
	return nil
}

// SetLeading says whether this engine leads: only a leading engine (the only one of a single
// hub) judges rules, notifies, and writes on its final stop. Several hubs on one database
// elect one.
func (e *Engine) SetLeading(v bool) { e.leading.Store(v) }

// Leading reports whether this engine leads.
func (e *Engine) Leading() bool { return e.leading.Load() }

// install takes alerts and silences as the engine's; e.mu is held or the engine is not yet
// shared. With requeue, the notifications left in outboxes are queued again.
func (e *Engine) install(alerts []hub.Alert, silences []hub.Silence, requeue bool) {
	now := e.cfg.Now()
	for i := range alerts {
		a := &alerts[i] // never pending: pending alerts are not written
		e.alerts[a.ID] = a
		e.persisted[a.ID] = true
		if a.State != hub.AlertResolved {
			if prev := e.active[a.Fingerprint]; prev != nil { // cannot happen unless the store was edited
				e.log.Warn("two active alerts with one fingerprint; keeping the newer", "fingerprint", a.Fingerprint)
				if prev.StartedAt.After(a.StartedAt) {
					continue
				}
			}
			e.active[a.Fingerprint] = a
		}
		if a.FiredAt != nil && now.Sub(*a.FiredAt) < e.cfg.FlapWindow {
			e.fired[a.Fingerprint] = append(e.fired[a.Fingerprint], *a.FiredAt)
		}
	}
	for _, t := range e.fired {
		slices.SortFunc(t, func(a, b time.Time) int { return a.Compare(b) })
	}
	for _, s := range silences {
		cs, err := compileSilence(s, now, false)
		if err != nil {
			e.log.Warn("stored silence no longer valid; removed", "silence", s.ID, "err", err)
			e.deletedSilences = append(e.deletedSilences, s.ID)
			continue
		}
		e.silences[s.ID] = cs
	}
	e.publishSilences()
	requeued := 0
	receivers := e.notifier != nil && len(e.notifier.Receivers()) > 0
	for _, a := range e.alerts {
		if len(a.Book.Outbox) == 0 || !requeue {
			continue
		}
		var keep []string
		for _, id := range a.Book.Outbox {
			_, ev, _ := strings.Cut(id, ":")
			ev, _, _ = strings.Cut(ev, ":")
			// Without receivers nothing is owed; and a resolved alert owes its resolve only.
			if !receivers || (a.State == hub.AlertResolved && notify.Event(ev) != notify.EventResolved) {
				continue
			}
			keep = append(keep, id)
			e.toSend = append(e.toSend, notify.Notification{ID: id, Event: notify.Event(ev), Alert: view(a), At: now})
			requeued++
		}
		if len(keep) != len(a.Book.Outbox) {
			a.Book.Outbox = keep
			e.dirty[a.ID] = true
		}
	}
	e.publishCounts()
	level := slog.LevelInfo
	if !requeue {
		level = slog.LevelDebug // a follower reloads at every change of the leader's
	}
	e.log.Log(context.Background(), level, "alerts loaded", "alerts", len(alerts), "active", len(e.active), "silences", len(e.silences), "notifications_requeued", requeued)
}

// Run judges the rules every EvalInterval (and at once after a silence changes) until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	tick := time.NewTicker(e.cfg.EvalInterval)
	defer tick.Stop()
	failing := false
	for {
		err := e.Evaluate(ctx)
		switch {
		case err != nil && !failing:
			e.log.Error("alert evaluation could not write its changes; retrying", "err", err)
		case err == nil && failing:
			e.log.Info("alert evaluation writes recovered")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return e.final()
		case <-tick.C:
		case <-e.kick:
		}
	}
}

// final writes what changed since the last evaluation (deliveries reported meanwhile), so a
// restarted hub does not send them again.
func (e *Engine) final() error {
	if !e.leading.Load() {
		return nil // another hub leads now: what this one held is not its to write
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	e.mu.Lock()
	p := e.takeWrites()
	p.toSend = nil // the dispatcher has stopped; these stay in their outboxes for the next start
	e.mu.Unlock()
	if err := e.flush(context.Background(), p); err != nil {
		return fmt.Errorf("final alert write: %w", err)
	}
	return nil
}

func (e *Engine) poke() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// condition is one rule holding for one subject in one evaluation.
type condition struct {
	rule                                        *Rule
	fp                                          string
	tenant, component, service, instance, check string
	severity                                    hub.Severity
	summary, runbook                            string
}

type renderedSummary struct {
	data SummaryData
	text string
}

// fingerprint is the stable identity of a rule's alert about one subject.
func fingerprint(rule string, l labels) string {
	h := sha256.New()
	h.Write([]byte(rule))
	for _, v := range l {
		h.Write([]byte{0})
		h.Write([]byte(v))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Evaluate judges every rule once, moves alerts through their lifecycle, writes the changes
// and queues the notifications they call for. Run calls it every EvalInterval; tests with a
// fake clock call it directly.
func (e *Engine) Evaluate(ctx context.Context) error {
	if !e.leading.Load() {
		return nil
	}
	start := time.Now()
	tr := e.src.Troubles()
	g := e.src.Graph("*", func(string) bool { return true })

	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	e.mu.Lock()
	now := e.cfg.Now()
	conds := e.conditions(now, tr, g)
	e.advance(now, conds)
	e.annotate(now, g)
	e.notifyAll(now)
	e.prune(now)
	e.publishCounts()
	w := e.takeWrites()
	e.mu.Unlock()
	if !e.leading.Load() {
		return nil // the lead was lost meanwhile: the new leader judges, sends and writes
	}
	err := e.flush(ctx, w)
	e.evalSeconds.Observe(time.Since(start).Seconds())
	return err
}

// conditions judges every rule against tr and g; e.mu is held.
func (e *Engine) conditions(now time.Time, tr *registry.Troubles, g *graph.Graph) map[string]*condition {
	out := make(map[string]*condition, len(e.active))
	summaries := make(map[string]renderedSummary, len(e.summaries))
	defer func() { e.summaries = summaries }()
	add := func(r *Rule, l labels, component string, sev hub.Severity, d SummaryData, runbook string) {
		fp := fingerprint(r.Name, l)
		if _, dup := out[fp]; dup {
			return
		}
		d.Tenant, d.Service, d.Instance, d.Component, d.Check, d.Rule = l[0], l[1], l[2], component, l[4], r.Name
		sum, ok := e.summaries[fp]
		if !ok || sum.data != d {
			sum = renderedSummary{data: d, text: r.render(d)}
		}
		summaries[fp] = sum
		out[fp] = &condition{rule: r, fp: fp, tenant: l[0], component: component, service: l[1], instance: l[2],
			check: l[4], severity: sev, summary: sum.text, runbook: cmp.Or(r.Runbook, runbook)}
	}
	var svcRules, compRules, instRules, checkRules []*Rule
	for _, r := range e.cfg.Rules {
		switch r.Subject {
		case SubjectService:
			svcRules = append(svcRules, r)
		case SubjectComponent:
			compRules = append(compRules, r)
		case SubjectInstance:
			instRules = append(instRules, r)
		case SubjectCheck:
			checkRules = append(checkRules, r)
		}
	}
	if len(svcRules)+len(compRules) > 0 {
		for i := range g.Nodes {
			n := &g.Nodes[i]
			if !n.Unhealthy && (n.Kind != graph.KindComponent || n.Status == string(status.Passing)) {
				continue // a component's unknown is not "unhealthy" in the graph, but a rule may ask for it
			}
			why := ""
			if len(n.ImpactedBy) > 0 {
				why = "impacted by " + strings.Join(names(n.ImpactedBy), ", ")
			}
			switch {
			case n.Kind == graph.KindService && n.Reported:
				l := labels{n.Tenant, n.Name, "", "", ""}
				for _, r := range svcRules {
					if r.serviceState(n.Status) && r.matches(&l) {
						add(r, l, n.Name, r.Severity, SummaryData{State: n.Status, Output: why}, n.Runbook)
					}
				}
			case n.Kind == graph.KindComponent:
				l := labels{n.Tenant, "", "", n.Name, ""}
				for _, r := range compRules {
					if r.checkState(status.Check(n.Status)) && r.matches(&l) {
						sev := r.Severity
						if r.Builtin && n.Critical {
							sev = hub.SeverityCritical
						}
						add(r, l, n.Name, sev, SummaryData{State: n.Status, Output: why}, n.Runbook)
					}
				}
			}
		}
	}
	lost := map[string][]*registry.Trouble{}
	for i := range tr.Instances {
		t := &tr.Instances[i]
		k := t.Key
		isLost := t.Stale || t.Unreachable
		if isLost {
			lost[k.Tenant] = append(lost[k.Tenant], t)
		}
		l := labels{k.Tenant, k.Service, k.Instance, "", ""}
		var why string // what the instance's worst check says, worked out once when needed
		for _, r := range instRules {
			switch r.State {
			case StateLost:
				if isLost && r.matches(&l) {
					add(r, l, k.Service, r.Severity, SummaryData{State: "lost", Output: lostWhy(t)}, t.Runbook)
				}
			case StateDrifted, StateInvalid:
				if r.configState(t.Config.Status) && r.matches(&l) {
					add(r, l, k.Service, r.Severity, SummaryData{State: t.Config.Status, Output: configWhy(t), Version: t.Config.Version}, t.Runbook)
				}
			default:
				if !isLost && r.checkState(t.Status) && r.matches(&l) {
					if why == "" {
						why = checkWhy(t, t.Status)
					}
					add(r, l, k.Service, r.Severity, SummaryData{State: string(t.Status), Output: why}, t.Runbook)
				}
			}
		}
		if isLost {
			continue
		}
		for _, c := range t.Checks {
			cl := labels{k.Tenant, k.Service, k.Instance, c.Component, c.Name}
			for _, r := range checkRules {
				if r.checkState(c.Status) && r.matches(&cl) {
					add(r, cl, cmp.Or(c.Component, k.Service), r.Severity,
						SummaryData{State: string(c.Status), Output: oneLine(c.Output)}, cmp.Or(c.Runbook, t.Runbook))
				}
			}
		}
	}
	e.judgeStorm(now, tr, lost, add)
	return out
}

// judgeStorm raises the mass-failure alert of each tenant where a large share of agents was
// lost within the storm window, and keeps it while that many stay lost; e.mu is held.
func (e *Engine) judgeStorm(now time.Time, tr *registry.Troubles, lost map[string][]*registry.Trouble,
	add func(*Rule, labels, string, hub.Severity, SummaryData, string)) {
	still := map[hub.InstanceKey]bool{}
	for _, ts := range lost {
		for _, t := range ts {
			still[t.Key] = true
			if _, ok := e.lostSince[t.Key]; !ok {
				since := now
				if !e.judged && !t.LastSeen.IsZero() && t.LastSeen.Before(now) {
					// Lost before this hub started: at least since its last report, so a
					// restart never takes a long-lost share of agents for a storm.
					since = t.LastSeen
				}
				e.lostSince[t.Key] = since
			}
		}
	}
	e.judged = true
	for k := range e.lostSince {
		if !still[k] {
			delete(e.lostSince, k)
		}
	}
	for tenant := range e.storming {
		if len(lost[tenant]) == 0 {
			delete(e.storming, tenant)
		}
	}
	for tenant, ts := range lost {
		total := tr.Totals[tenant]
		threshold := max(e.cfg.StormMin, int(math.Ceil(e.cfg.StormShare*float64(total))))
		recent := 0
		for _, t := range ts {
			if now.Sub(e.lostSince[t.Key]) <= e.cfg.StormWindow {
				recent++
			}
		}
		switch {
		case e.storming[tenant] && len(ts) < threshold:
			delete(e.storming, tenant)
		case !e.storming[tenant] && recent >= threshold:
			e.storming[tenant] = true
		}
		if !e.storming[tenant] {
			continue
		}
		l := labels{tenant, "", "", hub.ClusterComponent, ""}
		d := SummaryData{State: "lost", Output: fmt.Sprintf("%d of %d agents lost", len(ts), total)}
		add(e.storm, l, hub.ClusterComponent, hub.SeverityCritical, d, "")
	}
}

// advance moves every alert through its lifecycle given this evaluation's conditions; e.mu is
// held.
func (e *Engine) advance(now time.Time, conds map[string]*condition) {
	for fp, c := range conds {
		a := e.active[fp]
		if a == nil {
			a = &hub.Alert{
				ID: fp + "-" + strconv.FormatInt(now.UnixMilli(), 36), Fingerprint: fp, Tenant: c.tenant,
				Component: c.component, Service: c.service, Instance: c.instance, Check: c.check, Rule: c.rule.Name,
				State: hub.AlertPending, StartedAt: now, SilencedBy: []string{}, Impacted: []string{},
			}
			e.active[fp] = a
			e.alerts[a.ID] = a
			e.dirty[a.ID] = true
		}
		if a.Book.ClearedAt != nil || a.Summary != c.summary || a.Severity != c.severity || a.Runbook != c.runbook {
			a.Book.ClearedAt = nil
			a.Summary, a.Severity, a.Runbook = c.summary, c.severity, c.runbook
			e.dirty[a.ID] = true
		}
		if a.State == hub.AlertPending && now.Sub(a.StartedAt) >= c.rule.For {
			e.fire(now, a)
		}
	}
	for fp, a := range e.active {
		if _, held := conds[fp]; held {
			continue
		}
		if a.State == hub.AlertPending { // never fired: forgotten, as Prometheus does
			delete(e.active, fp)
			delete(e.alerts, a.ID)
			delete(e.dirty, a.ID)
			if e.persisted[a.ID] {
				e.deleted = append(e.deleted, a.ID)
			}
			continue
		}
		if a.Book.ClearedAt == nil {
			a.Book.ClearedAt = &now
			e.dirty[a.ID] = true
		}
		if now.Sub(*a.Book.ClearedAt) >= e.cfg.ResolveAfter {
			e.resolve(now, a)
		}
	}
}

func (e *Engine) fire(now time.Time, a *hub.Alert) {
	recent := e.fired[a.Fingerprint][:0]
	for _, t := range e.fired[a.Fingerprint] {
		if now.Sub(t) < e.cfg.FlapWindow {
			recent = append(recent, t)
		}
	}
	a.Flapping = len(recent)+1 >= e.cfg.FlapCount
	e.fired[a.Fingerprint] = append(recent, now)
	a.State, a.FiredAt = hub.AlertFiring, &now
	e.dirty[a.ID] = true
	e.log.Info("alert firing", "alert", a.ID, "rule", a.Rule, "tenant", a.Tenant, "component", a.Component,
		"instance", a.Instance, "flapping", a.Flapping)
}

func (e *Engine) resolve(now time.Time, a *hub.Alert) {
	a.State, a.ResolvedAt = hub.AlertResolved, &now
	a.Book.ClearedAt = nil
	delete(e.active, a.Fingerprint)
	e.dirty[a.ID] = true
	if a.Book.Notified {
		e.emit(now, a, notify.EventResolved)
	}
	e.log.Info("alert resolved", "alert", a.ID, "rule", a.Rule, "tenant", a.Tenant, "component", a.Component, "instance", a.Instance)
}

// annotate sets what the graph, the storm and the silences say of every active alert:
// suppressed_by, impacted and silenced_by; e.mu is held.
func (e *Engine) annotate(now time.Time, g *graph.Graph) {
	type nodeKey struct{ tenant, name string }
	type nodeNote struct {
		by       string
		impacted []string
	}
	activeNodes := map[nodeKey]bool{}
	for _, a := range e.active {
		activeNodes[nodeKey{a.Tenant, a.Component}] = true
	}
	isActive := func(id string) (string, bool) {
		n, ok := g.Lookup(id)
		return n.Name, ok && activeNodes[nodeKey{n.Tenant, n.Name}]
	}
	var live []*silence
	for _, s := range e.silences {
		if s.activeAt(now) {
			live = append(live, s)
		}
	}
	slices.SortFunc(live, func(a, b *silence) int { return cmp.Compare(a.ID, b.ID) })
	notes := map[nodeKey]nodeNote{} // what the graph says of each node with an active alert
	for _, a := range e.active {
		k := nodeKey{a.Tenant, a.Component}
		note, ok := notes[k]
		if !ok {
			if a.Component == hub.ClusterComponent {
				note.impacted = e.lostServices(a.Tenant)
			} else {
				id := graph.ID(a.Tenant, a.Component)
				note.by = suppressor(g, id, isActive)
				note.impacted = []string{}
				if n, ok := g.Lookup(id); ok && n.Unhealthy {
					note.impacted = names(n.Impact)
				}
			}
			notes[k] = note
		}
		by := note.by
		if a.Rule == RuleAgentLost && e.storming[a.Tenant] {
			by = hub.ClusterComponent
		}
		silenced := a.SilencedBy[:0:0]
		for _, s := range live {
			if s.matches(a) {
				silenced = append(silenced, s.ID)
			}
		}
		if silenced == nil {
			silenced = []string{}
		}
		if a.SuppressedBy != by || !slices.Equal(a.Impacted, note.impacted) || !slices.Equal(a.SilencedBy, silenced) {
			a.SuppressedBy, a.Impacted, a.SilencedBy = by, note.impacted, silenced
			e.dirty[a.ID] = true
		}
	}
}

// suppressor is the node whose active alert explains id's: a probable cause beneath it, else a
// direct unhealthy dependency; "" when none has an active alert (isActive says, and names
// the node). Nodes of one cycle never suppress each other (the graph does not count them as
// impacting each other).
func suppressor(g *graph.Graph, id string, isActive func(id string) (string, bool)) string {
	n, ok := g.Lookup(id)
	if !ok || len(n.ImpactedBy) == 0 {
		return ""
	}
	for _, c := range g.Causes(id) {
		if name, ok := isActive(c); ok && c != id {
			return name
		}
	}
	for _, d := range n.ImpactedBy {
		if name, ok := isActive(d); ok {
			return name
		}
	}
	return ""
}

func (e *Engine) lostServices(tenant string) []string {
	var out []string
	for k := range e.lostSince {
		if k.Tenant == tenant && !slices.Contains(out, k.Service) {
			out = append(out, k.Service)
		}
	}
	slices.Sort(out)
	return append([]string{}, out...)
}

// notifiable reports whether a firing alert may notify now.
func (e *Engine) notifiable(now time.Time, a *hub.Alert) bool {
	if a.State != hub.AlertFiring || a.SuppressedBy != "" || len(a.SilencedBy) > 0 {
		return false
	}
	// A flapping occurrence notifies only once it has held for half the flap window.
	return !a.Flapping || now.Sub(*a.FiredAt) >= e.cfg.FlapWindow/2
}

// notifyAll expires acknowledgements and queues the firing and repeat notifications due;
// e.mu is held.
func (e *Engine) notifyAll(now time.Time) {
	for _, a := range e.active {
		if a.State != hub.AlertFiring {
			continue
		}
		expired := false
		if a.Ack != nil && a.Ack.ExpiresAt != nil && !now.Before(*a.Ack.ExpiresAt) {
			a.Ack, a.Acknowledged = nil, false
			e.dirty[a.ID] = true
			expired = true
			e.log.Info("acknowledgement expired", "alert", a.ID, "component", a.Component)
		}
		if !e.notifiable(now, a) || a.Book.ClearedAt != nil { // nothing new about a clearing alert
			continue
		}
		switch {
		case a.Acknowledged: // someone is on it: no first notification, no repeat
		case !a.Book.Notified:
			e.emit(now, a, notify.EventFiring)
		case expired || now.Sub(*a.Book.NotifiedAt) >= e.cfg.RepeatInterval:
			e.emit(now, a, notify.EventRepeat)
		}
	}
}

// emit queues a notification of a; it is handed to the notifier once the alert's outbox is
// durable. e.mu is held.
func (e *Engine) emit(now time.Time, a *hub.Alert, ev notify.Event) {
	if ev != notify.EventResolved {
		a.Book.Notified, a.Book.NotifiedAt = true, &now
	}
	e.dirty[a.ID] = true
	if e.notifier == nil || len(e.notifier.Receivers()) == 0 {
		return
	}
	id := fmt.Sprintf("%s:%s:%d", a.ID, ev, now.UnixMilli())
	a.Book.Outbox = append(a.Book.Outbox, id)
	e.toSend = append(e.toSend, notify.Notification{ID: id, Event: ev, Alert: view(a), At: now})
}

// prune forgets resolved alerts and expired silences older than the retention, and firing
// times older than the flap window; e.mu is held.
func (e *Engine) prune(now time.Time) {
	for id, a := range e.alerts {
		if a.State == hub.AlertResolved && now.Sub(*a.ResolvedAt) > e.cfg.Retention && len(a.Book.Outbox) == 0 {
			delete(e.alerts, id)
			delete(e.dirty, id)
			e.deleted = append(e.deleted, id)
		}
	}
	pruned := false
	for id, s := range e.silences {
		if s.expired(now) && now.Sub(s.EndsAt) > e.cfg.Retention {
			delete(e.silences, id)
			e.deletedSilences = append(e.deletedSilences, id)
			pruned = true
		}
	}
	if pruned {
		e.publishSilences()
	}
	for fp, times := range e.fired {
		if len(times) == 0 || now.Sub(times[len(times)-1]) >= e.cfg.FlapWindow {
			delete(e.fired, fp)
		}
	}
}

type pendingWrites struct {
	w      hub.AlertWrites
	ids    []string
	toSend []notify.Notification
}

// takeWrites takes the dirty alerts and deletions for one store write; e.mu is held.
func (e *Engine) takeWrites() pendingWrites {
	var p pendingWrites
	for id := range e.dirty {
		// A pending alert is not written: it is cheap to judge again, and churning instances
		// would otherwise cost the store a transaction every evaluation. It is written when it
		// fires.
		if a := e.alerts[id]; a != nil && a.State != hub.AlertPending {
			p.w.Alerts = append(p.w.Alerts, stored(a))
			p.ids = append(p.ids, id)
		}
	}
	p.w.DeleteAlerts = e.deleted
	p.w.DeleteSilences = e.deletedSilences
	p.toSend = e.toSend
	e.dirty, e.deleted, e.deletedSilences, e.toSend = map[string]bool{}, nil, nil, nil
	return p
}

// flush writes p; on success it hands p's notifications to the notifier, on failure it puts
// everything back to be written by the next evaluation. e.writeMu is held, e.mu is not.
func (e *Engine) flush(ctx context.Context, p pendingWrites) error {
	if len(p.w.Alerts) > 0 || len(p.w.DeleteAlerts) > 0 || len(p.w.DeleteSilences) > 0 {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := e.store.WriteAlerts(wctx, p.w)
		cancel()
		if err != nil {
			e.evalErrors.Inc()
			e.mu.Lock()
			for _, id := range p.ids {
				e.dirty[id] = true
			}
			e.deleted = append(e.deleted, p.w.DeleteAlerts...)
			e.deletedSilences = append(e.deletedSilences, p.w.DeleteSilences...)
			e.toSend = append(p.toSend, e.toSend...)
			e.mu.Unlock()
			return fmt.Errorf("write alerts: %w", err)
		}
	}
	e.mu.Lock()
	for _, id := range p.ids {
		e.persisted[id] = true
	}
	for _, id := range p.w.DeleteAlerts {
		delete(e.persisted, id)
	}
	e.mu.Unlock()
	if len(p.toSend) == 0 {
		return nil
	}
	n := len(e.notifier.Receivers())
	e.mu.Lock()
	for _, s := range p.toSend {
		e.inflight[s.ID] = n
	}
	e.mu.Unlock()
	for _, s := range p.toSend {
		e.notifier.Enqueue(s)
	}
	return nil
}

// Delivered is the notifier's report that receiver finished with n (err says how); once every
// receiver has, n leaves its alert's outbox.
func (e *Engine) Delivered(n notify.Notification, receiver string, err error) {
	if errors.Is(err, notify.ErrStopped) {
		return // the hub is stopping: it stays in the outbox, and the next start sends it again
	}
	if err != nil {
		e.log.Warn("notification not delivered", "receiver", receiver, "notification", n.ID, "err", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	left, ok := e.inflight[n.ID]
	if !ok {
		return
	}
	if left > 1 {
		e.inflight[n.ID] = left - 1
		return
	}
	delete(e.inflight, n.ID)
	alertID, _, _ := strings.Cut(n.ID, ":")
	if a := e.alerts[alertID]; a != nil {
		a.Book.Outbox = slices.DeleteFunc(slices.Clone(a.Book.Outbox), func(id string) bool { return id == n.ID })
		e.dirty[a.ID] = true
	}
}

// stored is a copy of a for the store, sharing nothing the engine mutates.
func stored(a *hub.Alert) hub.Alert {
	c := view(a)
	c.Book = a.Book
	c.Book.Outbox = slices.Clone(a.Book.Outbox)
	return c
}

// view is a copy of a as the API shows it.
func view(a *hub.Alert) hub.Alert {
	c := *a
	c.SilencedBy = slices.Clone(a.SilencedBy)
	c.Impacted = slices.Clone(a.Impacted)
	if c.SilencedBy == nil {
		c.SilencedBy = []string{}
	}
	if c.Impacted == nil {
		c.Impacted = []string{}
	}
	if a.Ack != nil {
		ack := *a.Ack
		c.Ack = &ack
	}
	c.Book = hub.AlertBook{}
	return c
}

// names turns node IDs (tenant/name) into names.
func names(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		_, out[i], _ = strings.Cut(id, "/")
	}
	return out
}

func lostWhy(t *registry.Trouble) string {
	if t.Unreachable {
		return registry.UnreachableOutput
	}
	return "no report since " + t.LastSeen.UTC().Format(time.RFC3339)
}

// configWhy says what is wrong with an instance's config: for a drift, how many keys differ and
// which (never a value: reports carry none); otherwise, and for a drift its report names no
// key of, its first problem.
func configWhy(t *registry.Trouble) string {
	if len(t.Config.Problems) == 0 {
		return ""
	}
	if t.Config.Status == protocol.ConfigDrifted {
		if s := driftWhy(t.Config.Problems); s != "" {
			return s
		}
	}
	p := t.Config.Problems[0]
	s := p.File
	if p.Key != "" {
		s += ": " + p.Key
	}
	s += ": " + p.Reason
	if n := len(t.Config.Problems) - 1; n > 0 {
		s += fmt.Sprintf(" (and %d more)", n)
	}
	return s
}

// maxDriftKeys is how many differing keys a drift's summary names.
const maxDriftKeys = 5

// driftWhy is "2 keys differ: db.url, nats.url": the keys the problems name, each once, at most
// maxDriftKeys of them; "" when they name none.
func driftWhy(problems []protocol.ConfigProblem) string {
	var keys []string
	for _, p := range problems {
		if p.Key != "" && !slices.Contains(keys, p.Key) {
			keys = append(keys, p.Key)
		}
	}
	switch len(keys) {
	case 0:
		return ""
	case 1:
		return "1 key differs: " + oneLine(keys[0])
	}
	named := make([]string, 0, maxDriftKeys)
	for _, k := range keys[:min(len(keys), maxDriftKeys)] {
		named = append(named, oneLine(k))
	}
	s := fmt.Sprintf("%d keys differ: %s", len(keys), strings.Join(named, ", "))
	if n := len(keys) - len(named); n > 0 {
		s += fmt.Sprintf(" and %d more", n)
	}
	return s
}

func checkWhy(t *registry.Trouble, st status.Check) string {
	for _, c := range t.Checks {
		if c.Status == st {
			return "check " + c.Name + ": " + oneLine(c.Output)
		}
	}
	return ""
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// newID returns a random silence ID.
func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

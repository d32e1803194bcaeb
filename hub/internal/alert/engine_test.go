package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/bolt"
	"github.com/centralhub/centralhub/hub/internal/graph"
	"github.com/centralhub/centralhub/hub/internal/notify"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// clock is a fake clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// world is a hand-built registry snapshot and graph.
type world struct {
	mu       sync.Mutex
	troubles []registry.Trouble
	totals   map[string]int
	services []graph.Service
	comps    []graph.Component
}

func (w *world) Troubles() *registry.Troubles {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := &registry.Troubles{Instances: slices.Clone(w.troubles), Totals: map[string]int{}}
	for k, v := range w.totals {
		t.Totals[k] = v
	}
	return t
}

func (w *world) Graph(string, registry.Visibility) *graph.Graph {
	w.mu.Lock()
	defer w.mu.Unlock()
	return graph.Build(slices.Clone(w.services), slices.Clone(w.comps))
}

// set replaces the world: services with their statuses and dependencies, components, and the
// troubled instances.
func (w *world) set(services []graph.Service, comps []graph.Component, troubles ...registry.Trouble) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.services, w.comps, w.troubles = services, comps, troubles
	if w.totals == nil {
		w.totals = map[string]int{}
	}
}

func critical(tenant, service, instance string) registry.Trouble {
	return registry.Trouble{Key: hub.InstanceKey{Tenant: tenant, Service: service, Instance: instance}, Status: status.Critical,
		Checks: []protocol.CheckResult{{Name: "web", Kind: "http", Status: status.Critical, Output: "connection refused"}}}
}

func svc(name string, st status.Service, deps ...string) graph.Service {
	return graph.Service{Tenant: "default", Name: name, Status: st, DependsOn: deps}
}

// recorder is a Notifier that records what it is given; the test reports delivery itself.
type recorder struct {
	mu   sync.Mutex
	got  []notify.Notification
	recv []string
}

func (r *recorder) Enqueue(n notify.Notification) {
	r.mu.Lock()
	r.got = append(r.got, n)
	r.mu.Unlock()
}
func (r *recorder) Receivers() []string { return r.recv }

// take returns and forgets what was recorded, as "event component/instance" strings.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.got {
		out = append(out, fmt.Sprintf("%s %s/%s", n.Event, n.Alert.Component, n.Alert.Instance))
	}
	r.got = nil
	slices.Sort(out)
	return out
}

type fixture struct {
	t     *testing.T
	clock *clock
	world *world
	store *bolt.Store
	dir   string
	notes *recorder
	e     *Engine
	cfg   Config
}

func newFixture(t *testing.T, tune func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: &clock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}, world: &world{},
		dir: t.TempDir(), notes: &recorder{recv: []string{"hook"}}}
	f.world.set(nil, nil)
	f.cfg = DefaultConfig()
	f.cfg.Now = f.clock.Now
	if tune != nil {
		tune(&f.cfg)
	}
	f.open()
	return f
}

// open (re)opens the store and a fresh engine over it, as a restarted hub does.
func (f *fixture) open() {
	f.t.Helper()
	if f.store != nil {
		_ = f.store.Close()
	}
	s, err := bolt.Open(f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = s.Close() })
	f.store = s
	f.e, err = New(context.Background(), f.cfg, f.world, s, f.notes)
	if err != nil {
		f.t.Fatal(err)
	}
	f.e.flushLoaded()
}

// flushLoaded hands requeued notifications over, as Run's first evaluation does.
func (e *Engine) flushLoaded() {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	e.mu.Lock()
	p := e.takeWrites()
	e.mu.Unlock()
	_ = e.flush(context.Background(), p)
}

// step moves the clock by d and evaluates.
func (f *fixture) step(d time.Duration) {
	f.t.Helper()
	f.clock.add(d)
	if err := f.e.Evaluate(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// only returns the one alert of rule (failing otherwise).
func (f *fixture) only(rule string) hub.Alert {
	f.t.Helper()
	var out []hub.Alert
	all, _ := f.e.List(Query{Visible: func(string) bool { return true }})
	for _, a := range all {
		if a.Rule == rule {
			out = append(out, a)
		}
	}
	if len(out) != 1 {
		f.t.Fatalf("want one %s alert, have %d: %+v", rule, len(out), out)
	}
	return out[0]
}

func (f *fixture) byComponent(component string) []hub.Alert {
	all, _ := f.e.List(Query{Visible: func(string) bool { return true }, Component: component})
	return all
}

func expectNotes(t *testing.T, r *recorder, want ...string) {
	t.Helper()
	got := r.take()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("notifications:\n got %q\nwant %q", got, want)
	}
}

func onlyInstanceRules(c *Config) {
	rules, err := CompileRules(map[string]BuiltinConfig{
		RuleServiceUnhealthy: {Disabled: true}, RuleServiceDegraded: {Disabled: true},
	}, nil)
	if err != nil {
		panic(err)
	}
	c.Rules = rules
}

func TestLifecyclePendingFiringResolved(t *testing.T) {
	f := newFixture(t, onlyInstanceRules)
	down := func() {
		f.world.set([]graph.Service{svc("orders", status.Unhealthy)}, nil, critical("default", "orders", "o1"))
	}
	up := func() { f.world.set([]graph.Service{svc("orders", status.Healthy)}, nil) }

	down()
	f.step(0)
	a := f.only(RuleInstanceCritical)
	if a.State != hub.AlertPending || a.Component != "orders" || a.Instance != "o1" || a.Severity != hub.SeverityCritical {
		t.Fatalf("first evaluation: %+v", a)
	}
	if !strings.Contains(a.Summary, "connection refused") {
		t.Fatalf("summary %q does not say why", a.Summary)
	}
	f.step(29 * time.Second)
	if a = f.only(RuleInstanceCritical); a.State != hub.AlertPending {
		t.Fatalf("fired before its for: %s", a.State)
	}
	expectNotes(t, f.notes)
	f.step(time.Second)
	if a = f.only(RuleInstanceCritical); a.State != hub.AlertFiring || a.FiredAt == nil {
		t.Fatalf("not firing after 30s: %+v", a)
	}
	expectNotes(t, f.notes, "firing orders/o1")
	id, fp := a.ID, a.Fingerprint

	// Clear, come back inside the resolve hold: one alert, still firing, nothing notified.
	up()
	f.step(10 * time.Second)
	down()
	f.step(10 * time.Second)
	up()
	f.step(0)
	f.step(29 * time.Second)
	if a = f.only(RuleInstanceCritical); a.State != hub.AlertFiring || a.ID != id {
		t.Fatalf("resolved inside the hold, or a new alert: %+v", a)
	}
	expectNotes(t, f.notes)
	f.step(time.Second)
	a = f.only(RuleInstanceCritical)
	if a.State != hub.AlertResolved || a.ResolvedAt == nil || a.ID != id {
		t.Fatalf("not resolved after the hold: %+v", a)
	}
	expectNotes(t, f.notes, "resolved orders/o1")

	// It fires again: a new occurrence, same fingerprint.
	down()
	f.step(0)
	f.step(30 * time.Second)
	all := f.byComponent("orders")
	if len(all) != 2 || all[0].State != hub.AlertFiring || all[0].ID == id || all[0].Fingerprint != fp {
		t.Fatalf("second occurrence: %+v", all)
	}

	// A pending alert whose condition clears is forgotten.
	f.world.set([]graph.Service{svc("orders", status.Unhealthy)}, nil, critical("default", "orders", "o1"), critical("default", "orders", "o2"))
	f.step(time.Second)
	if n := len(f.byComponent("orders")); n != 3 {
		t.Fatalf("want 3 alerts with o2 pending, have %d", n)
	}
	f.world.set([]graph.Service{svc("orders", status.Unhealthy)}, nil, critical("default", "orders", "o1"))
	f.step(time.Second)
	if n := len(f.byComponent("orders")); n != 2 {
		t.Fatalf("pending o2 not forgotten: %d alerts", n)
	}
}

func TestFlappingIsDamped(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		onlyInstanceRules(c)
		c.ResolveAfter = 5 * time.Second
	})
	down := func() { f.world.set(nil, nil, critical("default", "orders", "o1")) }
	up := func() { f.world.set(nil, nil) }
	cycle := func() {
		down()
		f.step(0)
		f.step(30 * time.Second)
		up()
		f.step(0)
		f.step(5 * time.Second)
	}
	cycle()
	expectNotes(t, f.notes, "firing orders/o1", "resolved orders/o1")
	cycle()
	expectNotes(t, f.notes, "firing orders/o1", "resolved orders/o1")
	// Third firing within the flap window: flapping, so neither its firing nor its resolve
	// is notified.
	cycle()
	expectNotes(t, f.notes)
	all := f.byComponent("orders")
	if !all[0].Flapping {
		t.Fatalf("third occurrence not flapping: %+v", all[0])
	}
	// A flapping occurrence that holds for half the flap window is notified after all.
	down()
	f.step(0)
	f.step(30 * time.Second)
	expectNotes(t, f.notes)
	f.step(f.cfg.FlapWindow / 2)
	expectNotes(t, f.notes, "firing orders/o1")
}

func TestAcknowledge(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		onlyInstanceRules(c)
		c.RepeatInterval = time.Hour
	})
	ctx := context.Background()
	op := Principal{Subject: "alice", Role: "operator", Tenant: "default"}
	if _, err := f.e.Acknowledge(ctx, "default", "orders", op, "on it", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ack of nothing firing: %v, want ErrNotFound", err)
	}
	f.world.set(nil, nil, critical("default", "orders", "o1"), critical("default", "orders", "o2"))
	f.step(0)
	if _, err := f.e.Acknowledge(ctx, "default", "orders", op, "on it", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ack of pending alerts: %v, want ErrNotFound", err)
	}
	f.step(30 * time.Second)
	expectNotes(t, f.notes, "firing orders/o1", "firing orders/o2")

	if _, err := f.e.Acknowledge(ctx, "default", "orders", op, "x", 8*24*time.Hour); err == nil {
		t.Fatal("an ack of 8 days was taken")
	}
	got, err := f.e.Acknowledge(ctx, "default", "orders", op, "restarting the pool", 2*time.Hour)
	if err != nil || len(got) != 2 {
		t.Fatalf("ack: %v, %d alerts", err, len(got))
	}
	for _, a := range got {
		if !a.Acknowledged || a.Ack.By != "alice" || a.Ack.Comment != "restarting the pool" || a.Ack.ExpiresAt == nil ||
			!a.Ack.ExpiresAt.Equal(f.clock.Now().Add(2*time.Hour)) {
			t.Fatalf("ack recorded as %+v", a.Ack)
		}
	}
	if firing, acked := f.e.Counts(func(string) bool { return true }); firing != 2 || acked != 2 {
		t.Fatalf("counts: firing %d acked %d", firing, acked)
	}
	// The repeat interval passes: acknowledged alerts stay quiet.
	f.step(time.Hour + time.Second)
	expectNotes(t, f.notes)
	// The ack expires while they still fire: they notify again and are unacknowledged.
	f.step(time.Hour)
	expectNotes(t, f.notes, "repeat orders/o1", "repeat orders/o2")
	if a := f.byComponent("orders")[0]; a.Acknowledged || a.Ack != nil {
		t.Fatalf("ack outlived its expiry: %+v", a.Ack)
	}
	// Without an ack the repeat interval applies.
	f.step(time.Hour)
	expectNotes(t, f.notes, "repeat orders/o1", "repeat orders/o2")

	// An ack without expiry holds until resolve, and never stops the resolve notification.
	if _, err := f.e.Acknowledge(ctx, "default", "orders", op, "", 0); err != nil {
		t.Fatal(err)
	}
	f.step(48 * time.Hour)
	expectNotes(t, f.notes)
	// Un-acknowledge: repeats resume; a second un-ack finds nothing.
	if _, err := f.e.Unacknowledge(ctx, "default", "orders", op); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Unacknowledge(ctx, "default", "orders", op); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second un-ack: %v", err)
	}
	if _, err := f.e.Acknowledge(ctx, "default", "orders", op, "again", 0); err != nil {
		t.Fatal(err)
	}
	f.world.set(nil, nil)
	f.step(time.Second)
	f.step(f.cfg.ResolveAfter)
	expectNotes(t, f.notes, "resolved orders/o1", "resolved orders/o2")

	// It fires again: new and unacknowledged.
	f.world.set(nil, nil, critical("default", "orders", "o1"))
	f.step(0)
	f.step(30 * time.Second)
	if a := f.byComponent("orders")[0]; a.State != hub.AlertFiring || a.Acknowledged {
		t.Fatalf("refired alert: %+v", a)
	}

	// Every action is in the audit, newest first.
	entries, err := f.e.Audit(ctx, hub.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, en.Action+" "+en.Actor+" "+en.Target)
	}
	want := []string{"acknowledge alice orders", "unacknowledge alice orders", "acknowledge alice orders", "acknowledge alice orders"}
	if !slices.Equal(actions, want) {
		t.Fatalf("audit %q, want %q", actions, want)
	}
}

func TestSilencesAndMaintenance(t *testing.T) {
	f := newFixture(t, onlyInstanceRules)
	ctx := context.Background()
	op := Principal{Subject: "bob", Role: "operator"}
	now := f.clock.Now()
	s, err := f.e.CreateSilence(ctx, hub.Silence{Tenant: "default", Matchers: []hub.Matcher{{Name: "service", Value: "ord.*", IsRegex: true}},
		StartsAt: now, EndsAt: now.Add(time.Hour), Comment: "deploy"}, op)
	if err != nil || s.State != "active" || s.CreatedBy != "bob" {
		t.Fatalf("create silence: %+v, %v", s, err)
	}
	// A silence of another tenant never matches this one's alerts.
	other, err := f.e.CreateSilence(ctx, hub.Silence{Tenant: "acme", Matchers: []hub.Matcher{{Name: "service", Value: "payments"}},
		StartsAt: now, EndsAt: now.Add(time.Hour)}, op)
	if err != nil {
		t.Fatal(err)
	}
	f.world.set(nil, nil, critical("default", "orders", "o1"), critical("default", "payments", "p1"), critical("acme", "payments", "p1"))
	f.step(0)
	f.step(30 * time.Second)
	expectNotes(t, f.notes, "firing payments/p1")
	for _, a := range f.byComponent("orders") {
		if !slices.Equal(a.SilencedBy, []string{s.ID}) || a.State != hub.AlertFiring {
			t.Fatalf("orders alert not silenced (monitoring must go on): %+v", a)
		}
	}
	all, _ := f.e.List(Query{Visible: func(string) bool { return true }, Tenant: "acme"})
	if len(all) != 1 || !slices.Equal(all[0].SilencedBy, []string{other.ID}) {
		t.Fatalf("acme's silence: %+v", all)
	}
	if len(f.byComponent("payments")) != 2 {
		t.Fatal("want a payments alert in each tenant")
	}
	// The silences end: the silenced alerts, still firing, are notified (acme's too).
	f.step(time.Hour)
	expectNotes(t, f.notes, "firing orders/o1", "firing payments/p1")

	// A maintenance window: Saturdays 02:00-04:00 Berlin time (UTC+1 in November).
	sched, err := f.e.CreateSilence(ctx, hub.Silence{Tenant: "default", Matchers: []hub.Matcher{{Name: "service", Value: "billing"}},
		Schedule: &hub.Schedule{Weekly: []hub.WeeklyWindow{{Day: "sat", Start: "02:00", End: "04:00"}}, Timezone: "Europe/Berlin"}}, op)
	if err != nil {
		t.Fatal(err)
	}
	sat := time.Date(2026, 11, 28, 1, 30, 0, 0, time.UTC) // 02:30 in Berlin
	f.clock.add(sat.Sub(f.clock.Now()))
	if !f.e.InMaintenance("default", "billing") || f.e.InMaintenance("default", "orders") || f.e.InMaintenance("acme", "billing") {
		t.Fatal("maintenance window: wrong services in maintenance")
	}
	f.world.set(nil, nil, critical("default", "billing", "b1"))
	f.step(0)
	f.step(30 * time.Second)
	expectNotes(t, f.notes, "resolved orders/o1", "resolved payments/p1", "resolved payments/p1")
	if b := f.byComponent("billing")[0]; b.State != hub.AlertFiring || !slices.Equal(b.SilencedBy, []string{sched.ID}) {
		t.Fatalf("billing not silenced in maintenance: %+v", b)
	}
	// 04:00 Berlin: the window closes and the alert notifies.
	f.step(90 * time.Minute)
	expectNotes(t, f.notes, "firing billing/b1")
	if f.e.InMaintenance("default", "billing") {
		t.Fatal("still in maintenance after the window")
	}

	// Delete: gone from the list, audited; an unknown or invisible one is not found.
	if err := f.e.DeleteSilence(ctx, s.ID, func(t string) bool { return t == "acme" }, op); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete of another tenant's silence: %v", err)
	}
	if err := f.e.DeleteSilence(ctx, s.ID, func(string) bool { return true }, op); err != nil {
		t.Fatal(err)
	}
	if len(f.e.Silences(func(string) bool { return true })) != 2 {
		t.Fatal("silence not deleted")
	}
	entries, _ := f.e.Audit(ctx, hub.AuditQuery{Tenant: "default"})
	if len(entries) != 3 || entries[0].Action != "silence.delete" || entries[2].Action != "silence.create" || entries[0].Actor != "bob" {
		t.Fatalf("audit: %+v", entries)
	}
}

func TestValidateSilence(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	m := []hub.Matcher{{Name: "service", Value: "orders"}}
	for _, tc := range []struct {
		name string
		s    hub.Silence
		want string
	}{
		{"no matchers", hub.Silence{StartsAt: now, EndsAt: now.Add(time.Hour)}, "matchers: at least one"},
		{"unknown label", hub.Silence{Matchers: []hub.Matcher{{Name: "pod", Value: "x"}}, StartsAt: now, EndsAt: now.Add(time.Hour)}, "matchers[0].name"},
		{"tenant matcher", hub.Silence{Matchers: []hub.Matcher{{Name: "tenant", Value: "x"}}, StartsAt: now, EndsAt: now.Add(time.Hour)}, "matchers[0].name"},
		{"empty value", hub.Silence{Matchers: []hub.Matcher{{Name: "service"}}, StartsAt: now, EndsAt: now.Add(time.Hour)}, "matchers[0].value"},
		{"bad regex", hub.Silence{Matchers: []hub.Matcher{{Name: "service", Value: "(", IsRegex: true}}, StartsAt: now, EndsAt: now.Add(time.Hour)}, "matchers[0].value"},
		{"no start", hub.Silence{Matchers: m, EndsAt: now.Add(time.Hour)}, "starts_at"},
		{"end before start", hub.Silence{Matchers: m, StartsAt: now, EndsAt: now.Add(-time.Minute)}, "ends_at: must be after"},
		{"already over", hub.Silence{Matchers: m, StartsAt: now.Add(-2 * time.Hour), EndsAt: now.Add(-time.Hour)}, "ends_at: already past"},
		{"too long", hub.Silence{Matchers: m, StartsAt: now, EndsAt: now.Add(400 * 24 * time.Hour)}, "ends_at: a silence lasts at most"},
		{"both", hub.Silence{Matchers: m, StartsAt: now, EndsAt: now.Add(time.Hour), Schedule: &hub.Schedule{Weekly: []hub.WeeklyWindow{{Day: "sat", Start: "01:00", End: "02:00"}}}}, "schedule: give either"},
		{"bad day", hub.Silence{Matchers: m, Schedule: &hub.Schedule{Weekly: []hub.WeeklyWindow{{Day: "someday", Start: "01:00", End: "02:00"}}}}, "schedule.weekly[0].day"},
		{"bad time", hub.Silence{Matchers: m, Schedule: &hub.Schedule{Weekly: []hub.WeeklyWindow{{Day: "sat", Start: "25:00", End: "02:00"}}}}, "schedule.weekly[0].start"},
		{"bad zone", hub.Silence{Matchers: m, Schedule: &hub.Schedule{Weekly: []hub.WeeklyWindow{{Day: "sat", Start: "01:00", End: "02:00"}}, Timezone: "Mars/Olympus"}}, "schedule.timezone"},
		{"no windows", hub.Silence{Matchers: m, Schedule: &hub.Schedule{}}, "schedule.weekly: at least one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateSilence(&tc.s, now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestScheduleAcrossMidnightAndWeekEnd(t *testing.T) {
	s, err := compileSilence(hub.Silence{Tenant: "default", Matchers: []hub.Matcher{{Name: "service", Value: "x"}},
		Schedule: &hub.Schedule{Weekly: []hub.WeeklyWindow{{Day: "sat", Start: "23:00", End: "01:00"}, {Day: "wed", Start: "12:00", End: "24:00"}}}},
		time.Now(), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2026, 11, 28, 22, 59, 0, 0, time.UTC), false}, // Saturday
		{time.Date(2026, 11, 28, 23, 0, 0, 0, time.UTC), true},
		{time.Date(2026, 11, 29, 0, 59, 0, 0, time.UTC), true}, // Sunday, past the week's end
		{time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC), false},
		{time.Date(2026, 12, 2, 23, 59, 0, 0, time.UTC), true}, // Wednesday to 24:00
		{time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), false},
	} {
		if got := s.activeAt(tc.at); got != tc.want {
			t.Errorf("active at %s (%s) = %v, want %v", tc.at, tc.at.Weekday(), got, tc.want)
		}
	}
}

// TestSuppressionChain: A → B → pg, B ↔ B2 a cycle, and an unrelated unhealthy cycle X ↔ Y.
func TestSuppressionChain(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		rules, err := CompileRules(map[string]BuiltinConfig{RuleInstanceCritical: {Disabled: true}, RuleServiceDegraded: {Disabled: true}}, nil)
		if err != nil {
			panic(err)
		}
		c.Rules = rules
	})
	pg := graph.Component{Tenant: "default", Name: "pg", Kind: "postgres", Status: status.Critical, Critical: true}
	services := func(pgDown bool) []graph.Service {
		b := svc("b", status.Unhealthy, "b2")
		if pgDown {
			b.Components = []string{"pg"}
		}
		return []graph.Service{svc("a", status.Unhealthy, "b"), b, svc("b2", status.Unhealthy, "b"),
			svc("x", status.Unhealthy, "y"), svc("y", status.Unhealthy, "x"), svc("calm", status.Healthy, "pg")}
	}
	f.world.set(services(true), []graph.Component{pg})
	f.step(0)
	f.step(30 * time.Second)
	// Only the causes notify: pg, and each node of the unrelated cycle.
	expectNotes(t, f.notes, "firing pg/", "firing x/", "firing y/")
	want := map[string]string{"a": "pg", "b": "pg", "b2": "pg", "x": "", "y": "", "pg": ""}
	for comp, by := range want {
		as := f.byComponent(comp)
		if len(as) != 1 || as[0].State != hub.AlertFiring || as[0].SuppressedBy != by {
			t.Fatalf("%s: want one firing alert suppressed by %q, have %+v", comp, by, as)
		}
	}
	p := f.byComponent("pg")[0]
	if p.Severity != hub.SeverityCritical || !slices.Equal(p.Impacted, []string{"b", "calm", "a", "b2"}) {
		t.Fatalf("pg alert: severity %s, impacted %q", p.Severity, p.Impacted)
	}
	// pg heals but a, b and b2 stay unhealthy: the cycle b ↔ b2 is now the cause, and both of
	// its nodes notify (neither suppresses the other); a is suppressed by the cycle.
	f.world.set(services(false), []graph.Component{{Tenant: "default", Name: "pg", Kind: "postgres", Status: status.Passing, Critical: true}})
	f.step(time.Second)
	expectNotes(t, f.notes, "firing b/", "firing b2/")
	if a := f.byComponent("a")[0]; a.SuppressedBy != "b" && a.SuppressedBy != "b2" {
		t.Fatalf("a suppressed by %q, want b or b2", a.SuppressedBy)
	}
	f.step(f.cfg.ResolveAfter)
	expectNotes(t, f.notes, "resolved pg/")
}

func TestStormHoldsAgentLost(t *testing.T) {
	f := newFixture(t, onlyInstanceRules)
	lost := func(names ...string) []registry.Trouble {
		var out []registry.Trouble
		for _, n := range names {
			out = append(out, registry.Trouble{Key: hub.InstanceKey{Tenant: "default", Service: "svc-" + n, Instance: n},
				Status: status.Critical, Unreachable: true})
		}
		return out
	}
	f.world.totals = map[string]int{"default": 10}
	// One agent lost: an ordinary agent_lost alert, notified after its 10 s.
	f.world.set(nil, nil, lost("i1")...)
	f.step(0)
	expectNotes(t, f.notes)
	f.step(10 * time.Second)
	expectNotes(t, f.notes, "firing svc-i1/i1")
	// Three more within the window: 4 of 10 ≥ 30%: one cluster alert at once, and the
	// individual alerts, firing 10 s later, are held.
	f.world.set(nil, nil, lost("i1", "i2", "i3", "i4")...)
	f.step(10 * time.Second)
	expectNotes(t, f.notes, "firing cluster/")
	f.step(10 * time.Second)
	expectNotes(t, f.notes)
	c := f.only(RuleMassFailure)
	if c.Component != hub.ClusterComponent || c.Severity != hub.SeverityCritical || !strings.Contains(c.Summary, "4 of 10 agents lost") ||
		!slices.Equal(c.Impacted, []string{"svc-i1", "svc-i2", "svc-i3", "svc-i4"}) {
		t.Fatalf("cluster alert: %+v", c)
	}
	for _, n := range []string{"i2", "i3", "i4"} {
		if a := f.byComponent("svc-" + n)[0]; a.State != hub.AlertFiring || a.SuppressedBy != hub.ClusterComponent {
			t.Fatalf("%s: %+v", n, a)
		}
	}
	// Long after the window, still 4 lost: the storm holds.
	f.step(5 * time.Minute)
	expectNotes(t, f.notes)
	// Two come back: 2 of 10 is below the threshold; the storm clears, and the agents still
	// lost are notified (the one notified before the storm is not notified again).
	f.world.set(nil, nil, lost("i1", "i2")...)
	f.step(time.Second)
	expectNotes(t, f.notes, "firing svc-i2/i2")
	f.step(f.cfg.ResolveAfter)
	expectNotes(t, f.notes, "resolved cluster/")
}

func TestStormNeedsStormMin(t *testing.T) {
	f := newFixture(t, onlyInstanceRules)
	lost := func(names ...string) []registry.Trouble {
		var out []registry.Trouble
		for _, n := range names {
			out = append(out, registry.Trouble{Key: hub.InstanceKey{Tenant: "default", Service: "s", Instance: n},
				Status: status.Critical, Stale: true})
		}
		return out
	}
	f.world.totals = map[string]int{"default": 4}
	// 2 of 4 lost at once is half the agents, but fewer than StormMin (3): no storm.
	f.world.set(nil, nil, lost("a", "b")...)
	f.step(0)
	f.step(10 * time.Second)
	expectNotes(t, f.notes, "firing s/a", "firing s/b")
	f.world.set(nil, nil)
	f.step(0)
	f.step(f.cfg.ResolveAfter)
	expectNotes(t, f.notes, "resolved s/a", "resolved s/b")
	// 3 of 4 at once is.
	f.world.set(nil, nil, lost("a", "b", "c")...)
	f.step(time.Second)
	expectNotes(t, f.notes, "firing cluster/")
}

// TestRestartIsNoStorm: agents lost long before the hub (re)started are not "lost at once".
func TestRestartIsNoStorm(t *testing.T) {
	f := newFixture(t, onlyInstanceRules)
	f.world.totals = map[string]int{"default": 4}
	var troubles []registry.Trouble
	for _, n := range []string{"a", "b", "c"} {
		troubles = append(troubles, registry.Trouble{Key: hub.InstanceKey{Tenant: "default", Service: "s", Instance: n},
			Status: status.Critical, Stale: true, LastSeen: f.clock.Now().Add(-time.Hour)})
	}
	f.world.set(nil, nil, troubles...)
	f.step(0)
	f.step(10 * time.Second)
	expectNotes(t, f.notes, "firing s/a", "firing s/b", "firing s/c")
	if n := len(f.byComponent(hub.ClusterComponent)); n != 0 {
		t.Fatalf("a storm raised for agents lost an hour before the start: %d cluster alerts", n)
	}
}

func TestUserRules(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		rules, err := CompileRules(map[string]BuiltinConfig{
			RuleInstanceCritical: {Disabled: true}, RuleServiceUnhealthy: {Disabled: true}, RuleServiceDegraded: {Disabled: true},
		}, []RuleConfig{{
			Name: "db-checks-warn", MatchRE: map[string]string{"check": "db.*"}, Match: map[string]string{"service": "orders"},
			State: StateWarning, For: 10 * time.Second, Severity: hub.SeverityInfo,
			Summary: "{{.Service}}/{{.Instance}}: {{.Check}} on {{.Component}} is {{.State}} ({{.Output}})",
		}})
		if err != nil {
			panic(err)
		}
		c.Rules = rules
	})
	tr := registry.Trouble{Key: hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}, Status: status.Critical,
		Checks: []protocol.CheckResult{
			{Name: "db-primary", Status: status.Warning, Component: "pg", Output: "slow"},
			{Name: "dbx", Status: status.Critical, Output: "down"},
			{Name: "web", Status: status.Critical},
		}}
	other := tr
	other.Key.Service = "payments"
	f.world.set(nil, nil, tr, other)
	f.step(0)
	f.step(10 * time.Second)
	all, _ := f.e.List(Query{Visible: func(string) bool { return true }, State: hub.AlertFiring})
	var got []string
	for _, a := range all {
		got = append(got, a.Component+" "+a.Check+" "+string(a.Severity)+" "+a.Summary)
	}
	slices.Sort(got)
	want := []string{"orders dbx info orders/o1: dbx on orders is critical (down)", "pg db-primary info orders/o1: db-primary on pg is warning (slow)"}
	if !slices.Equal(got, want) {
		t.Fatalf("user rule alerts:\n got %q\nwant %q", got, want)
	}
}

func TestCompileRulesErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		builtin map[string]BuiltinConfig
		rule    RuleConfig
		want    string
	}{
		{"no name", nil, RuleConfig{State: StateCritical}, "alerts.rules[0].name"},
		{"no state", nil, RuleConfig{Name: "r"}, "alerts.rules[0].state: required"},
		{"bad state", nil, RuleConfig{Name: "r", State: "broken"}, "alerts.rules[0].state"},
		{"bad severity", nil, RuleConfig{Name: "r", State: StateCritical, Severity: "page"}, "alerts.rules[0].severity"},
		{"unknown label", nil, RuleConfig{Name: "r", State: StateCritical, Match: map[string]string{"pod": "x"}}, "alerts.rules[0].match.pod"},
		{"bad regex", nil, RuleConfig{Name: "r", State: StateCritical, MatchRE: map[string]string{"check": "("}}, "alerts.rules[0].match_re.check"},
		{"service rule on a check", nil, RuleConfig{Name: "r", State: StateUnhealthy, Match: map[string]string{"check": "x"}}, "alerts.rules[0].match"},
		{"bad template", nil, RuleConfig{Name: "r", State: StateCritical, Summary: "{{.Nope}}"}, "alerts.rules[0].summary"},
		{"too long for", nil, RuleConfig{Name: "r", State: StateCritical, For: 2 * time.Hour}, "alerts.rules[0].for"},
		{"built-in name", nil, RuleConfig{Name: RuleAgentLost, State: StateLost}, "is a built-in rule's name"},
		{"unknown built-in", map[string]BuiltinConfig{"nope": {}}, RuleConfig{Name: "r", State: StateCritical}, "alerts.builtin.nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileRules(tc.builtin, []RuleConfig{tc.rule})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := CompileRules(nil, []RuleConfig{{Name: "r", State: StateCritical}, {Name: "r", State: StateWarning}}); err == nil ||
		!strings.Contains(err.Error(), "alerts.rules[1].name") {
		t.Fatalf("duplicate names: %v", err)
	}
	// No built-in waits longer than a minute.
	for _, r := range Builtins() {
		if r.For > time.Minute {
			t.Errorf("built-in %s waits %s", r.Name, r.For)
		}
	}
}

func TestRestartKeepsAlertsAcksSilencesAndOutbox(t *testing.T) {
	f := newFixture(t, onlyInstanceRules)
	ctx := context.Background()
	op := Principal{Subject: "carol", Role: "operator"}
	f.world.set(nil, nil, critical("default", "orders", "o1"), critical("default", "payments", "p1"))
	f.step(0)
	f.step(30 * time.Second)
	notes := f.notes.take()
	if len(notes) != 2 {
		t.Fatalf("notifications: %q", notes)
	}
	// Only orders' notification was delivered before the stop.
	f.e.Delivered(f.findNote(t, "orders"), "hook", nil)
	if _, err := f.e.Acknowledge(ctx, "default", "orders", op, "mine", 0); err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	sil, err := f.e.CreateSilence(ctx, hub.Silence{Tenant: "default", Matchers: []hub.Matcher{{Name: "service", Value: "billing"}},
		StartsAt: now, EndsAt: now.Add(time.Hour)}, op)
	if err != nil {
		t.Fatal(err)
	}
	f.step(time.Second) // writes the outbox change
	before, _ := f.e.List(Query{Visible: func(string) bool { return true }})

	f.open()
	after, _ := f.e.List(Query{Visible: func(string) bool { return true }})
	if b, a := mustJSON(t, before), mustJSON(t, after); b != a {
		t.Fatalf("alerts changed over a restart:\nbefore %+v\nafter  %+v", before, after)
	}
	if o := f.byComponent("orders")[0]; !o.Acknowledged || o.Ack.By != "carol" {
		t.Fatalf("ack lost: %+v", o)
	}
	if s := f.e.Silences(func(string) bool { return true }); len(s) != 1 || s[0].ID != sil.ID {
		t.Fatalf("silences after restart: %+v", s)
	}
	// The undelivered payments notification is queued again; orders' is not.
	expectNotes(t, f.notes, "firing payments/p1")
	// And the restarted engine neither re-fires nor re-notifies.
	f.step(time.Second)
	expectNotes(t, f.notes)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (f *fixture) findNote(t *testing.T, component string) notify.Notification {
	t.Helper()
	for _, id := range f.e.alertsOutbox() {
		if strings.Contains(id.Alert.Component, component) {
			return id
		}
	}
	t.Fatalf("no notification for %s", component)
	return notify.Notification{}
}

// alertsOutbox lists the notifications in every outbox.
func (e *Engine) alertsOutbox() []notify.Notification {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []notify.Notification
	for _, a := range e.alerts {
		for _, id := range a.Book.Outbox {
			out = append(out, notify.Notification{ID: id, Alert: view(a)})
		}
	}
	return out
}

// failingStore fails alert writes on demand.
type failingStore struct {
	hub.Store
	fail bool
}

func (s *failingStore) WriteAlerts(ctx context.Context, w hub.AlertWrites) error {
	if s.fail {
		return errors.New("disk on fire")
	}
	return s.Store.WriteAlerts(ctx, w)
}

func TestStoreFailureChangesNothing(t *testing.T) {
	f := newFixture(t, onlyInstanceRules)
	fs := &failingStore{Store: f.store}
	e, err := New(context.Background(), f.cfg, f.world, fs, f.notes)
	if err != nil {
		t.Fatal(err)
	}
	f.e = e
	f.world.set(nil, nil, critical("default", "orders", "o1"))
	f.step(0)
	f.step(30 * time.Second)
	expectNotes(t, f.notes, "firing orders/o1")
	fs.fail = true
	ctx := context.Background()
	op := Principal{Subject: "dave", Role: "operator"}
	var se *StoreError
	if _, err := e.Acknowledge(ctx, "default", "orders", op, "x", 0); !errors.As(err, &se) {
		t.Fatalf("ack with the store down: %v, want a StoreError", err)
	}
	if a := f.byComponent("orders")[0]; a.Acknowledged {
		t.Fatal("ack applied though not durable")
	}
	now := f.clock.Now()
	if _, err := e.CreateSilence(ctx, hub.Silence{Tenant: "default", Matchers: []hub.Matcher{{Name: "service", Value: "x"}},
		StartsAt: now, EndsAt: now.Add(time.Hour)}, op); !errors.As(err, &se) {
		t.Fatalf("silence with the store down: %v", err)
	}
	if len(e.Silences(func(string) bool { return true })) != 0 {
		t.Fatal("silence kept though not durable")
	}
	// Evaluation keeps judging while writes fail; notifications wait for the write. (A pending
	// alert is never written, so the first write is payments' firing.)
	f.world.set(nil, nil, critical("default", "orders", "o1"), critical("default", "payments", "p1"))
	f.clock.add(time.Second)
	if err := e.Evaluate(ctx); err != nil {
		t.Fatalf("a pending alert was written: %v", err)
	}
	f.clock.add(30 * time.Second)
	if err := e.Evaluate(ctx); err == nil {
		t.Fatal("evaluation reported no write failure")
	}
	expectNotes(t, f.notes)
	fs.fail = false
	f.step(time.Second)
	expectNotes(t, f.notes, "firing payments/p1")
}

// TestAckedBeforeNotifiedStaysQuiet: an alert acknowledged while its silence held is not
// notified when the silence goes: someone is on it.
func TestAckedBeforeNotifiedStaysQuiet(t *testing.T) {
	f := newFixture(t, onlyInstanceRules)
	ctx := context.Background()
	op := Principal{Subject: "erin", Role: "operator"}
	now := f.clock.Now()
	s, err := f.e.CreateSilence(ctx, hub.Silence{Tenant: "default", Matchers: []hub.Matcher{{Name: "service", Value: "orders"}},
		StartsAt: now, EndsAt: now.Add(time.Hour)}, op)
	if err != nil {
		t.Fatal(err)
	}
	f.world.set(nil, nil, critical("default", "orders", "o1"))
	f.step(0)
	f.step(30 * time.Second)
	if _, err := f.e.Acknowledge(ctx, "default", "orders", op, "mine", 0); err != nil {
		t.Fatal(err)
	}
	if err := f.e.DeleteSilence(ctx, s.ID, func(string) bool { return true }, op); err != nil {
		t.Fatal(err)
	}
	f.step(time.Second)
	f.step(5 * time.Hour)
	expectNotes(t, f.notes)
	// Never notified, so its resolve is not either.
	f.world.set(nil, nil)
	f.step(0)
	f.step(f.cfg.ResolveAfter)
	expectNotes(t, f.notes)
}

// TestComponentUnknownRule: a component rule on unknown fires for a component its probes
// cannot judge (the graph does not count unknown as unhealthy).
func TestComponentUnknownRule(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		rules, err := CompileRules(nil, []RuleConfig{{Name: "pg-unknown", Match: map[string]string{"component": "pg"}, State: StateUnknown}})
		if err != nil {
			panic(err)
		}
		c.Rules = rules
	})
	f.world.set(nil, []graph.Component{{Tenant: "default", Name: "pg", Kind: "postgres", Status: status.Unknown}})
	f.step(0)
	if a := f.only("pg-unknown"); a.State != hub.AlertFiring || a.Component != "pg" {
		t.Fatalf("pg-unknown: %+v", a)
	}
}

// TestRestartOutboxAndPending: after a restart a pending alert waits its full for again; a
// resolved alert's stale firing notification is not sent again, its resolve is; a
// notification abandoned at shutdown stays owed; without receivers nothing is owed.
func TestRestartOutboxAndPending(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		onlyInstanceRules(c)
		c.ResolveAfter = 0
	})
	f.world.set(nil, nil, critical("default", "orders", "o1"))
	f.step(0)
	f.step(30 * time.Second) // fires: "firing" in the outbox, never delivered
	f.world.set(nil, nil, critical("default", "payments", "p1"))
	f.step(time.Second) // orders resolves: "resolved" in the outbox too; payments pending
	notes := f.notes.take()
	if len(notes) != 2 {
		t.Fatalf("notes %q", notes)
	}
	// The resolve was abandoned at shutdown: still owed.
	for _, n := range f.e.alertsOutbox() {
		if strings.Contains(n.ID, ":resolved:") {
			f.e.Delivered(n, "hook", fmt.Errorf("%w: %w", notify.ErrStopped, context.Canceled))
		}
	}
	if err := f.e.final(); err != nil {
		t.Fatal(err)
	}
	f.clock.add(time.Hour)
	f.open()
	expectNotes(t, f.notes, "resolved orders/o1")
	pending := func() hub.Alert {
		all, _ := f.e.List(Query{Visible: func(string) bool { return true }, Component: "payments"})
		if len(all) != 1 {
			t.Fatalf("payments alerts: %+v", all)
		}
		return all[0]
	}
	// The hour the hub was down does not count toward payments' for.
	f.step(0)
	if a := pending(); a.State != hub.AlertPending {
		t.Fatalf("pending alert fired at once after the restart: %+v", a)
	}
	f.step(30 * time.Second)
	if a := pending(); a.State != hub.AlertFiring {
		t.Fatalf("not firing after its for: %+v", a)
	}
	expectNotes(t, f.notes, "firing payments/p1")

	// Restarted without receivers: nothing is owed, and the outboxes are emptied.
	f.notes.recv = nil
	f.open()
	f.step(time.Second)
	if left := f.e.alertsOutbox(); len(left) != 0 {
		t.Fatalf("outboxes kept without receivers: %d", len(left))
	}
}

// configTrouble is an instance that passes its checks but whose config is drifted or invalid.
func configTrouble(service, instance, st, version string, problems ...protocol.ConfigProblem) registry.Trouble {
	return registry.Trouble{Key: hub.InstanceKey{Tenant: "default", Service: service, Instance: instance}, Status: status.Passing,
		Runbook: "https://wiki/" + service, Config: protocol.ConfigState{Status: st, Version: version, Problems: problems}}
}

// TestConfigDriftAlert: an instance whose config drifted from the desired one raises a warning
// alert on its service's node, per instance, after config_drift's minute; an invalid config one
// with its own summary; acknowledging the service covers them; reporting in sync, or the
// instance going, resolves them.
func TestConfigDriftAlert(t *testing.T) {
	f := newFixture(t, nil)
	const file = "/etc/orders/config.yaml"
	drifted := configTrouble("orders", "orders-1", protocol.ConfigDrifted, "3",
		protocol.ConfigProblem{File: file, Key: "db.url", Reason: "differs from the desired value"},
		protocol.ConfigProblem{File: file, Key: "nats.url", Reason: "missing"})
	invalid := configTrouble("orders", "orders-2", protocol.ConfigInvalid, "3",
		protocol.ConfigProblem{File: file, Reason: "line 3: mapping values are not allowed here"},
		protocol.ConfigProblem{File: file, Key: "db.url", Reason: "required key missing"})
	services := []graph.Service{svc("orders", status.Healthy)}
	f.world.set(services, nil, drifted, invalid)
	f.step(0)
	alerts := f.byComponent("orders")
	if len(alerts) != 2 {
		t.Fatalf("want a drift alert per instance, have %+v", alerts)
	}
	want := map[string]string{
		"orders-1": "config of orders/orders-1 drifted from desired version 3: 2 keys differ: db.url, nats.url",
		"orders-2": "config of orders/orders-2 is invalid: " + file + ": line 3: mapping values are not allowed here (and 1 more)",
	}
	for _, a := range alerts {
		if a.Rule != RuleConfigDrift || a.State != hub.AlertPending || a.Severity != hub.SeverityWarning ||
			a.Component != "orders" || a.Service != "orders" || a.Summary != want[a.Instance] || a.Runbook != "https://wiki/orders" {
			t.Fatalf("drift alert: %+v", a)
		}
	}
	f.step(59 * time.Second)
	expectNotes(t, f.notes)
	f.step(time.Second)
	expectNotes(t, f.notes, "firing orders/orders-1", "firing orders/orders-2")
	for _, a := range f.byComponent("orders") {
		if a.State != hub.AlertFiring {
			t.Fatalf("not firing after a minute: %+v", a)
		}
		if a.Instance == "orders-1" {
			b, _ := json.Marshal(a)
			t.Logf("drift alert: %s", b)
		}
	}

	// More keys than the summary names.
	var many []protocol.ConfigProblem
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "a"} {
		many = append(many, protocol.ConfigProblem{File: file, Key: k, Reason: "differs"})
	}
	f.world.set(services, nil, configTrouble("orders", "orders-1", protocol.ConfigDrifted, "4", many...), invalid)
	f.step(time.Second)
	for _, a := range f.byComponent("orders") {
		if a.Instance == "orders-1" && a.Summary != "config of orders/orders-1 drifted from desired version 4: 7 keys differ: a, b, c, d, e and 2 more" {
			t.Fatalf("summary of a wide drift: %q", a.Summary)
		}
	}

	// Acknowledging the service's node covers both.
	acked, err := f.e.Acknowledge(context.Background(), "default", "orders", Principal{Subject: "alice", Role: "operator", Tenant: "default"}, "fixing the file", 0)
	if err != nil || len(acked) != 2 {
		t.Fatalf("acknowledge: %+v %v", acked, err)
	}

	// orders-1 reports in sync again and orders-2 goes: both resolve after the resolve hold.
	f.world.set(services, nil)
	f.step(time.Second)
	f.step(f.cfg.ResolveAfter)
	for _, a := range f.byComponent("orders") {
		if a.State != hub.AlertResolved {
			t.Fatalf("not resolved: %+v", a)
		}
	}
	expectNotes(t, f.notes, "resolved orders/orders-1", "resolved orders/orders-2")

	// config_drift off: nothing is raised.
	f2 := newFixture(t, func(c *Config) {
		rules, err := CompileRules(map[string]BuiltinConfig{RuleConfigDrift: {Disabled: true}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Rules = rules
	})
	f2.world.set(services, nil, drifted)
	f2.step(0)
	if got := f2.byComponent("orders"); len(got) != 0 {
		t.Fatalf("disabled config_drift raised %+v", got)
	}
}

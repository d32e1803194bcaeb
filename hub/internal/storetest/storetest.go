// Package storetest is the conformance suite every hub.Store implementation must pass; each
// implementation's tests call Run with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// Opener returns a fresh, empty store; the suite closes it.
type Opener func(t *testing.T) hub.Store

func instance(tenant, service, name string, seq uint64, st status.Check) hub.Instance {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	return hub.Instance{
		Key:     hub.InstanceKey{Tenant: tenant, Service: service, Instance: name},
		Address: "10.0.0.1:8080", Agent: "1.0", Runbook: "https://wiki/x", Tags: []string{"a"},
		Meta: map[string]string{"zone": "z1"}, Boot: 42, Seq: seq, Interval: 10 * time.Second,
		DependsOn: []string{"payments"},
		Checks: []protocol.CheckResult{{Name: "web", Kind: "http", Status: st, Output: "out", LatencyMS: 1.5,
			CheckedAt: at, Component: "pg", Critical: true, Runbook: "https://wiki/pg"}},
		Config:    protocol.ConfigState{Status: "in_sync", Version: "v1", Problems: []protocol.ConfigProblem{{File: "f", Key: "k", Reason: "r"}}},
		FirstSeen: at, LastSeen: at.Add(time.Minute), Stale: st == status.Critical,
	}
}

func load(t *testing.T, s hub.Store) map[hub.InstanceKey]hub.Instance {
	t.Helper()
	ins, err := s.LoadInstances(context.Background())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	out := map[hub.InstanceKey]hub.Instance{}
	for _, in := range ins {
		out[in.Key] = in
	}
	return out
}

func equal(a, b hub.Instance) bool {
	return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b)
}

// Run runs the conformance suite against stores from open.
func Run(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("empty", func(t *testing.T) {
		if got := load(t, open(t)); len(got) != 0 {
			t.Fatalf("fresh store holds %d instances", len(got))
		}
	})
	t.Run("round trip keeps every field", func(t *testing.T) {
		s := open(t)
		want := instance("default", "orders", "o1", 7, status.Critical)
		if err := s.WriteInstances(ctx, hub.Writes{Puts: []hub.Instance{want}}); err != nil {
			t.Fatal(err)
		}
		got := load(t, s)[want.Key]
		if !equal(got, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
		}
	})
	t.Run("round trip keeps component meta", func(t *testing.T) {
		s := open(t)
		want := instance("default", "orders", "o1", 7, status.Passing)
		want.Checks[0].ComponentMeta = map[string]string{"stand-in": "true", "relay": "127.0.0.1:9092"}
		want.Checks = append(want.Checks, protocol.CheckResult{Name: "db", Kind: "tcp", Status: status.Passing, Component: "pg"})
		if err := s.WriteInstances(ctx, hub.Writes{Puts: []hub.Instance{want}}); err != nil {
			t.Fatal(err)
		}
		got := load(t, s)[want.Key]
		if len(got.Checks) != 2 || !reflect.DeepEqual(got.Checks[0].ComponentMeta, want.Checks[0].ComponentMeta) ||
			len(got.Checks[1].ComponentMeta) != 0 {
			t.Fatalf("component meta after a round trip: %+v", got.Checks)
		}
	})
	t.Run("put replaces and delete removes in one write", func(t *testing.T) {
		s := open(t)
		a, b := instance("default", "orders", "o1", 1, status.Passing), instance("default", "orders", "o2", 1, status.Passing)
		if err := s.WriteInstances(ctx, hub.Writes{Puts: []hub.Instance{a, b}}); err != nil {
			t.Fatal(err)
		}
		a.Seq = 2
		if err := s.WriteInstances(ctx, hub.Writes{Puts: []hub.Instance{a}, Deletes: []hub.InstanceKey{b.Key}}); err != nil {
			t.Fatal(err)
		}
		got := load(t, s)
		if len(got) != 1 || got[a.Key].Seq != 2 {
			t.Fatalf("after replace+delete: %+v", got)
		}
		if err := s.WriteInstances(ctx, hub.Writes{Deletes: []hub.InstanceKey{{Tenant: "x", Service: "y", Instance: "z"}}}); err != nil {
			t.Fatalf("deleting a missing key must succeed: %v", err)
		}
	})
	t.Run("tenants keep same-named services apart", func(t *testing.T) {
		s := open(t)
		a, b := instance("alpha", "orders", "o1", 1, status.Passing), instance("beta", "orders", "o1", 9, status.Critical)
		if err := s.WriteInstances(ctx, hub.Writes{Puts: []hub.Instance{a, b}}); err != nil {
			t.Fatal(err)
		}
		got := load(t, s)
		if len(got) != 2 || got[a.Key].Seq != 1 || got[b.Key].Seq != 9 {
			t.Fatalf("tenants mixed: %+v", got)
		}
	})
	t.Run("concurrent writers", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 25 {
					in := instance("default", fmt.Sprintf("s%d", w), fmt.Sprintf("i%d", i), 1, status.Passing)
					if err := s.WriteInstances(ctx, hub.Writes{Puts: []hub.Instance{in}}); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		got := load(t, s)
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		if len(keys) != 100 {
			t.Fatalf("%d instances after 100 concurrent writes", len(keys))
		}
	})
	t.Run("heartbeats advance seq and last_seen of the same boot only", func(t *testing.T) {
		s := open(t)
		in := instance("default", "orders", "o1", 5, status.Critical)
		if err := s.WriteInstances(ctx, hub.Writes{Puts: []hub.Instance{in}}); err != nil {
			t.Fatal(err)
		}
		later := in.LastSeen.Add(time.Minute)
		beat := hub.Heartbeat{Key: in.Key, Boot: in.Boot, Seq: 9, LastSeen: later}
		if err := s.WriteInstances(ctx, hub.Writes{Heartbeats: []hub.Heartbeat{beat}}); err != nil {
			t.Fatal(err)
		}
		got := load(t, s)[in.Key]
		if got.Seq != 9 || !got.LastSeen.Equal(later) || got.Status() != status.Critical || got.Checks[0].Output != "out" {
			t.Fatalf("after a heartbeat: seq %d last_seen %s status %s", got.Seq, got.LastSeen, got.Status())
		}
		// a whole instance written after the heartbeat wins, whatever its seq
		in.Seq, in.Checks[0].Status, in.Stale = 10, status.Passing, false
		if err := s.WriteInstances(ctx, hub.Writes{Puts: []hub.Instance{in}}); err != nil {
			t.Fatal(err)
		}
		if got := load(t, s)[in.Key]; got.Seq != 10 || got.Status() != status.Passing || !got.LastSeen.Equal(in.LastSeen) {
			t.Fatalf("after a put: %+v", got)
		}
		// a heartbeat of another boot (or an older seq) changes nothing
		old := hub.Heartbeat{Key: in.Key, Boot: in.Boot - 1, Seq: 99, LastSeen: later}
		older := hub.Heartbeat{Key: in.Key, Boot: in.Boot, Seq: 3, LastSeen: later}
		for _, b := range []hub.Heartbeat{old, older} {
			if err := s.WriteInstances(ctx, hub.Writes{Heartbeats: []hub.Heartbeat{b}}); err != nil {
				t.Fatal(err)
			}
			if got := load(t, s)[in.Key]; got.Seq != 10 {
				t.Fatalf("heartbeat %+v moved seq to %d", b, got.Seq)
			}
		}
		// delete removes the instance and its heartbeat
		if err := s.WriteInstances(ctx, hub.Writes{Deletes: []hub.InstanceKey{in.Key}}); err != nil {
			t.Fatal(err)
		}
		if got := load(t, s); len(got) != 0 {
			t.Fatalf("after delete: %+v", got)
		}
	})
	t.Run("cancelled context writes nothing", func(t *testing.T) {
		s := open(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.WriteInstances(cctx, hub.Writes{Puts: []hub.Instance{instance("default", "a", "b", 1, status.Passing)}}); err == nil {
			t.Fatal("write with a cancelled context succeeded")
		}
		if got := load(t, s); len(got) != 0 {
			t.Fatalf("cancelled write stored %d", len(got))
		}
	})
	runAlerts(t, open)
	runHistory(t, open)
	runConfigs(t, open)
}

// instant is a fixed instant, UTC and without a monotonic reading, offset by d.
func instant(d time.Duration) time.Time {
	return time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC).Add(d)
}

func ptr[T any](v T) *T { return &v }

// alert is a firing, acknowledged alert with every field and its whole Book set.
func alert(id, tenant string) hub.Alert {
	return hub.Alert{
		ID: id, Fingerprint: "fp-" + id, Tenant: tenant, Component: "pg", Service: "orders",
		Instance: "o1", Check: "db", Rule: "check_critical", Severity: hub.SeverityCritical,
		State: hub.AlertFiring, Summary: "db is critical", Runbook: "https://wiki/pg",
		StartedAt: instant(0), FiredAt: ptr(instant(time.Minute)), Acknowledged: true,
		Ack:          &hub.Ack{By: "alice", Comment: "on it", At: instant(2 * time.Minute), ExpiresAt: ptr(instant(time.Hour))},
		SuppressedBy: "payments", SilencedBy: []string{"s1", "s2"}, Flapping: true,
		Impacted: []string{"checkout", "web"},
		Book: hub.AlertBook{ClearedAt: ptr(instant(3 * time.Minute)), NotifiedAt: ptr(instant(time.Minute)),
			Notified: true, Outbox: []string{"firing", "repeat"}},
	}
}

// silence is a fixed-time silence with two matchers.
func silence(id, tenant string) hub.Silence {
	return hub.Silence{
		ID: id, Tenant: tenant,
		Matchers: []hub.Matcher{{Name: "service", Value: "orders"}, {Name: "check", Value: "d.*", IsRegex: true}},
		StartsAt: instant(0), EndsAt: instant(time.Hour), CreatedBy: "bob", CreatedAt: instant(-time.Minute), Comment: "deploy",
	}
}

// utc returns t in UTC, and nil for nil: stores may hand back times in another location.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return ptr(t.UTC())
}

// normAlert is a with every time in UTC, so reflect.DeepEqual compares instants.
func normAlert(a hub.Alert) hub.Alert {
	a.StartedAt = a.StartedAt.UTC()
	a.FiredAt, a.ResolvedAt = utc(a.FiredAt), utc(a.ResolvedAt)
	if a.Ack != nil {
		ack := *a.Ack
		ack.At, ack.ExpiresAt = ack.At.UTC(), utc(ack.ExpiresAt)
		a.Ack = &ack
	}
	a.Book.ClearedAt, a.Book.NotifiedAt = utc(a.Book.ClearedAt), utc(a.Book.NotifiedAt)
	return a
}

// normSilence is s with every time in UTC; a zero time stays zero.
func normSilence(s hub.Silence) hub.Silence {
	if !s.StartsAt.IsZero() {
		s.StartsAt = s.StartsAt.UTC()
	}
	if !s.EndsAt.IsZero() {
		s.EndsAt = s.EndsAt.UTC()
	}
	s.CreatedAt = s.CreatedAt.UTC()
	return s
}

func loadAlerts(t *testing.T, s hub.Store) (map[string]hub.Alert, map[string]hub.Silence) {
	t.Helper()
	as, ss, err := s.LoadAlerts(context.Background())
	if err != nil {
		t.Fatalf("load alerts: %v", err)
	}
	alerts, silences := map[string]hub.Alert{}, map[string]hub.Silence{}
	for _, a := range as {
		alerts[a.ID] = normAlert(a)
	}
	for _, s := range ss {
		silences[s.ID] = normSilence(s)
	}
	if len(alerts) != len(as) || len(silences) != len(ss) {
		t.Fatalf("load alerts: duplicate IDs in %d alerts, %d silences", len(as), len(ss))
	}
	return alerts, silences
}

func listAudit(t *testing.T, s hub.Store, q hub.AuditQuery) []hub.AuditEntry {
	t.Helper()
	es, err := s.ListAudit(context.Background(), q)
	if err != nil {
		t.Fatalf("list audit %+v: %v", q, err)
	}
	for i := range es {
		es[i].At = es[i].At.UTC()
	}
	return es
}

// details lists each entry's Detail, in order.
func details(es []hub.AuditEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Detail
	}
	return out
}

// runAlerts is the part of the suite about hub.AlertStore.
func runAlerts(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("empty store holds no alerts, silences or audit entries", func(t *testing.T) {
		s := open(t)
		alerts, silences := loadAlerts(t, s)
		if len(alerts) != 0 || len(silences) != 0 {
			t.Fatalf("fresh store holds %d alerts, %d silences", len(alerts), len(silences))
		}
		if got := listAudit(t, s, hub.AuditQuery{}); len(got) != 0 {
			t.Fatalf("fresh store lists %d audit entries", len(got))
		}
	})
	t.Run("alert round trip keeps every field and the book", func(t *testing.T) {
		noExpiry := alert("a2", "default")
		noExpiry.Ack.ExpiresAt = nil
		pending := hub.Alert{ID: "a3", Fingerprint: "fp", Tenant: "default", Component: "orders",
			Service: "orders", Severity: hub.SeverityWarning, State: hub.AlertPending, StartedAt: instant(0)}
		resolved := alert("a4", "beta")
		resolved.State, resolved.ResolvedAt = hub.AlertResolved, ptr(instant(time.Hour))
		resolved.Acknowledged, resolved.Ack, resolved.Book = false, nil, hub.AlertBook{Notified: true}
		cluster := alert("a5", "default")
		cluster.Component, cluster.Service, cluster.Instance = hub.ClusterComponent, "", ""
		cases := []struct {
			name  string
			alert hub.Alert
		}{
			{"acknowledged until a time, full book", alert("a1", "default")},
			{"acknowledged until resolved", noExpiry},
			{"pending, no fired_at, ack or book", pending},
			{"resolved, partial book", resolved},
			{"cluster component", cluster},
		}
		s := open(t)
		var w hub.AlertWrites
		for _, c := range cases {
			w.Alerts = append(w.Alerts, c.alert)
		}
		if err := s.WriteAlerts(ctx, w); err != nil {
			t.Fatal(err)
		}
		got, _ := loadAlerts(t, s)
		if len(got) != len(cases) {
			t.Fatalf("stored %d alerts, loaded %d", len(cases), len(got))
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if g := got[c.alert.ID]; !reflect.DeepEqual(g, c.alert) {
					t.Fatalf("round trip:\n got %+v book %+v\nwant %+v book %+v", g, g.Book, c.alert, c.alert.Book)
				}
			})
		}
	})
	t.Run("silence round trip keeps fixed times and schedules", func(t *testing.T) {
		scheduled := silence("s2", "default")
		scheduled.StartsAt, scheduled.EndsAt = time.Time{}, time.Time{}
		scheduled.Schedule = &hub.Schedule{Timezone: "Europe/Berlin", Weekly: []hub.WeeklyWindow{
			{Day: "sat", Start: "22:00", End: "02:00"}, {Day: "sun", Start: "00:00", End: "24:00"}}}
		cases := []struct {
			name    string
			silence hub.Silence
		}{
			{"fixed time", silence("s1", "default")},
			{"schedule, zero start and end", scheduled},
			{"other tenant, no matchers", hub.Silence{ID: "s3", Tenant: "beta", StartsAt: instant(0), EndsAt: instant(time.Minute), CreatedAt: instant(0)}},
		}
		s := open(t)
		var w hub.AlertWrites
		for _, c := range cases {
			w.Silences = append(w.Silences, c.silence)
		}
		if err := s.WriteAlerts(ctx, w); err != nil {
			t.Fatal(err)
		}
		_, got := loadAlerts(t, s)
		if len(got) != len(cases) {
			t.Fatalf("stored %d silences, loaded %d", len(cases), len(got))
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				g := got[c.silence.ID]
				if !reflect.DeepEqual(g, c.silence) {
					t.Fatalf("round trip:\n got %+v\nwant %+v", g, c.silence)
				}
				if c.silence.StartsAt.IsZero() && (!g.StartsAt.IsZero() || !g.EndsAt.IsZero()) {
					t.Fatalf("zero start/end came back as %s/%s", g.StartsAt, g.EndsAt)
				}
			})
		}
	})
	t.Run("put replaces by ID and delete removes, for alerts and silences", func(t *testing.T) {
		s := open(t)
		a1, a2 := alert("a1", "default"), alert("a2", "default")
		s1, s2 := silence("s1", "default"), silence("s2", "default")
		if err := s.WriteAlerts(ctx, hub.AlertWrites{Alerts: []hub.Alert{a1, a2}, Silences: []hub.Silence{s1, s2}}); err != nil {
			t.Fatal(err)
		}
		a1.State, a1.ResolvedAt, a1.Book.Outbox = hub.AlertResolved, ptr(instant(time.Hour)), []string{"resolved"}
		s1.Comment, s1.EndsAt = "extended", instant(2*time.Hour)
		err := s.WriteAlerts(ctx, hub.AlertWrites{Alerts: []hub.Alert{a1}, DeleteAlerts: []string{"a2"},
			Silences: []hub.Silence{s1}, DeleteSilences: []string{"s2"}})
		if err != nil {
			t.Fatal(err)
		}
		alerts, silences := loadAlerts(t, s)
		if len(alerts) != 1 || !reflect.DeepEqual(alerts["a1"], a1) {
			t.Fatalf("alerts after replace+delete: %+v", alerts)
		}
		if len(silences) != 1 || !reflect.DeepEqual(silences["s1"], s1) {
			t.Fatalf("silences after replace+delete: %+v", silences)
		}
		if err := s.WriteAlerts(ctx, hub.AlertWrites{DeleteAlerts: []string{"missing"}, DeleteSilences: []string{"missing"}}); err != nil {
			t.Fatalf("deleting missing IDs must succeed: %v", err)
		}
		if alerts, silences := loadAlerts(t, s); len(alerts) != 1 || len(silences) != 1 {
			t.Fatalf("deleting missing IDs changed the store: %d alerts, %d silences", len(alerts), len(silences))
		}
	})
	t.Run("audit entries get rising seqs and list newest first", func(t *testing.T) {
		s := open(t)
		entry := func(detail string, d time.Duration) hub.AuditEntry {
			return hub.AuditEntry{At: instant(d), Actor: "alice", Role: "operator", Tenant: "default",
				Action: "acknowledge", Target: "pg", Detail: detail}
		}
		writes := [][]hub.AuditEntry{{entry("1", 0), entry("2", time.Second)}, {entry("3", 2*time.Second)}}
		var want []hub.AuditEntry
		for _, es := range writes {
			if err := s.WriteAlerts(ctx, hub.AlertWrites{Audit: es}); err != nil {
				t.Fatal(err)
			}
			want = append(want, es...)
		}
		slices.Reverse(want)
		got := listAudit(t, s, hub.AuditQuery{})
		if len(got) != len(want) {
			t.Fatalf("listed %v, want %v", details(got), details(want))
		}
		for i := range got {
			if i > 0 && got[i].Seq >= got[i-1].Seq {
				t.Fatalf("seqs not falling newest first: %d then %d", got[i-1].Seq, got[i].Seq)
			}
			want[i].Seq = got[i].Seq
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("entry %d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
		if got[len(got)-1].Seq == 0 {
			t.Fatal("store left an entry's seq 0")
		}
	})
	t.Run("audit query filters by tenant and since and honours limit", func(t *testing.T) {
		s := open(t)
		var es []hub.AuditEntry
		for i, tenant := range []string{"alpha", "beta", "alpha", "beta", "alpha"} {
			es = append(es, hub.AuditEntry{At: instant(time.Duration(i) * time.Minute), Actor: "bob", Role: "admin",
				Tenant: tenant, Action: "silence.create", Target: "s", Detail: fmt.Sprint(i)})
		}
		if err := s.WriteAlerts(ctx, hub.AlertWrites{Audit: es}); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			q    hub.AuditQuery
			want []string // Details, newest first
		}{
			{"no filter lists every entry", hub.AuditQuery{}, []string{"4", "3", "2", "1", "0"}},
			{"tenant selects its own", hub.AuditQuery{Tenant: "beta"}, []string{"3", "1"}},
			{"unknown tenant selects none", hub.AuditQuery{Tenant: "gamma"}, []string{}},
			{"since is inclusive", hub.AuditQuery{Since: instant(2 * time.Minute)}, []string{"4", "3", "2"}},
			{"since after every entry selects none", hub.AuditQuery{Since: instant(time.Hour)}, []string{}},
			{"limit keeps the newest", hub.AuditQuery{Limit: 2}, []string{"4", "3"}},
			{"limit above the count lists all", hub.AuditQuery{Limit: 10}, []string{"4", "3", "2", "1", "0"}},
			{"tenant, since and limit together", hub.AuditQuery{Tenant: "alpha", Since: instant(time.Minute), Limit: 1}, []string{"4"}},
			{"tenant and since", hub.AuditQuery{Tenant: "alpha", Since: instant(time.Minute)}, []string{"4", "2"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if got := details(listAudit(t, s, c.q)); !slices.Equal(got, c.want) {
					t.Fatalf("%+v listed %v, want %v", c.q, got, c.want)
				}
			})
		}
	})
	t.Run("one write applies alerts, silences, deletes and audit together", func(t *testing.T) {
		s := open(t)
		if err := s.WriteAlerts(ctx, hub.AlertWrites{Alerts: []hub.Alert{alert("old", "default")},
			Silences: []hub.Silence{silence("old", "default")}}); err != nil {
			t.Fatal(err)
		}
		a, sil := alert("new", "default"), silence("new", "default")
		audit := hub.AuditEntry{At: instant(0), Actor: "alice", Role: "operator", Tenant: "default",
			Action: "silence.create", Target: "new", Detail: "swap"}
		err := s.WriteAlerts(ctx, hub.AlertWrites{Alerts: []hub.Alert{a}, DeleteAlerts: []string{"old"},
			Silences: []hub.Silence{sil}, DeleteSilences: []string{"old"}, Audit: []hub.AuditEntry{audit}})
		if err != nil {
			t.Fatal(err)
		}
		alerts, silences := loadAlerts(t, s)
		if len(alerts) != 1 || !reflect.DeepEqual(alerts["new"], a) {
			t.Fatalf("alerts: %+v", alerts)
		}
		if len(silences) != 1 || !reflect.DeepEqual(silences["new"], sil) {
			t.Fatalf("silences: %+v", silences)
		}
		if got := listAudit(t, s, hub.AuditQuery{}); len(got) != 1 || got[0].Detail != "swap" {
			t.Fatalf("audit: %+v", got)
		}
	})
	t.Run("concurrent audit writers get distinct seqs", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 10 {
					e := hub.AuditEntry{At: instant(0), Actor: fmt.Sprint(w), Tenant: "default", Action: "acknowledge", Detail: fmt.Sprint(i)}
					if err := s.WriteAlerts(ctx, hub.AlertWrites{Audit: []hub.AuditEntry{e}}); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		got := listAudit(t, s, hub.AuditQuery{})
		seqs := map[uint64]bool{}
		for _, e := range got {
			seqs[e.Seq] = true
		}
		if len(got) != 40 || len(seqs) != 40 {
			t.Fatalf("%d entries with %d distinct seqs after 40 concurrent writes", len(got), len(seqs))
		}
	})
	t.Run("cancelled context writes no alerts", func(t *testing.T) {
		s := open(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		w := hub.AlertWrites{Alerts: []hub.Alert{alert("a1", "default")}, Silences: []hub.Silence{silence("s1", "default")},
			Audit: []hub.AuditEntry{{At: instant(0), Actor: "alice", Tenant: "default", Action: "acknowledge"}}}
		if err := s.WriteAlerts(cctx, w); err == nil {
			t.Fatal("write with a cancelled context succeeded")
		}
		alerts, silences := loadAlerts(t, s)
		if audit := listAudit(t, s, hub.AuditQuery{}); len(alerts)+len(silences)+len(audit) != 0 {
			t.Fatalf("cancelled write stored %d alerts, %d silences, %d audit entries", len(alerts), len(silences), len(audit))
		}
	})
}

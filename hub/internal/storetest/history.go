package storetest

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/pkg/status"
)

// t0 is the first sample's time in the history suite: a whole hour, so roll-up edges are known.
var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// sampleAt is instance in's i-th sample (10 s apart from t0): check "web" with latency i%10
// and critical for 100 ≤ i < 120 (the instance with it), check "db" passing at 2 ms.
func sampleAt(k hub.InstanceKey, i int) hub.Sample {
	web, inst := status.Passing, status.Passing
	if i >= 100 && i < 120 {
		web, inst = status.Critical, status.Critical
	}
	return hub.Sample{
		Key: k, At: t0.Add(time.Duration(i) * 10 * time.Second), Status: inst,
		Checks: []hub.CheckSample{{Name: "web", Status: web, LatencyMS: float64(i % 10)}, {Name: "db", Status: status.Passing, LatencyMS: 2}},
	}
}

// writeSamples writes samples first..last-1 of k, in writes of at most 50.
func writeSamples(t *testing.T, s hub.Store, k hub.InstanceKey, first, last int) {
	t.Helper()
	for i := first; i < last; {
		var w hub.Writes
		for ; i < last && len(w.Samples) < 50; i++ {
			w.Samples = append(w.Samples, sampleAt(k, i))
		}
		if err := s.WriteInstances(context.Background(), w); err != nil {
			t.Fatalf("write samples: %v", err)
		}
	}
}

func query(t *testing.T, s hub.Store, q hub.HistoryQuery) hub.History {
	t.Helper()
	h, err := s.QueryHistory(context.Background(), q)
	if err != nil {
		t.Fatalf("query history %+v: %v", q, err)
	}
	return h
}

func availability(t *testing.T, s hub.Store, q hub.HistoryQuery, hourly bool) hub.Availability {
	t.Helper()
	a, err := s.Availability(context.Background(), q, hourly)
	if err != nil {
		t.Fatalf("availability %+v hourly=%v: %v", q, hourly, err)
	}
	return a
}

// points returns h's latency points of check.
func points(h hub.History, check string) []hub.LatencyPoint {
	var out []hub.LatencyPoint
	for _, p := range h.Latency {
		if p.Check == check {
			out = append(out, p)
		}
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-3 }

func runHistory(t *testing.T, open Opener) {
	ctx := context.Background()
	a := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "a"}
	b := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "b"}
	other := hub.InstanceKey{Tenant: "default", Service: "billing", Instance: "a"}
	foreign := hub.InstanceKey{Tenant: "acme", Service: "orders", Instance: "a"}

	t.Run("history of an empty store", func(t *testing.T) {
		s := open(t)
		h := query(t, s, hub.HistoryQuery{Tenant: "default", Service: "orders", Since: t0, Until: t0.Add(time.Hour), Step: time.Minute})
		if len(h.Transitions) != 0 || len(h.Latency) != 0 || h.Truncated {
			t.Fatalf("empty store answers %+v", h)
		}
		if got := availability(t, s, hub.HistoryQuery{Tenant: "default", Service: "orders", Since: t0, Until: t0.Add(time.Hour)}, true); got != (hub.Availability{}) {
			t.Fatalf("empty store availability %+v", got)
		}
	})

	t.Run("latency points, raw and from roll-ups, and availability", func(t *testing.T) {
		s := open(t)
		writeSamples(t, s, a, 0, 720) // two hours
		writeSamples(t, s, b, 0, 360) // the first hour
		writeSamples(t, s, other, 0, 720)
		writeSamples(t, s, foreign, 0, 720)
		writeSamples(t, s, hub.InstanceKey{Tenant: "default", Service: "orders2", Instance: "a"}, 0, 720) // a name that extends "orders"
		hour := hub.HistoryQuery{Tenant: "default", Service: "orders", Instance: "a", Since: t0, Until: t0.Add(time.Hour), Step: 10 * time.Second}

		raw := query(t, s, hour)
		web := points(raw, "web")
		if len(web) != 360 || len(points(raw, "db")) != 360 || len(raw.Latency) != 720 {
			t.Fatalf("raw hour: %d web points, %d db, %d in all; want 360, 360, 720", len(web), len(points(raw, "db")), len(raw.Latency))
		}
		for i, p := range web {
			if !p.At.Equal(t0.Add(time.Duration(i)*10*time.Second)) || !near(p.AvgMS, float64(i%10)) || !near(p.MaxMS, float64(i%10)) || p.Samples != 1 {
				t.Fatalf("raw point %d: %+v", i, p)
			}
		}
		if raw.Latency[0].Check != "db" {
			t.Fatalf("points are not ordered by check: first is %q", raw.Latency[0].Check)
		}

		minute := hour
		minute.Step = time.Minute
		web = points(query(t, s, minute), "web")
		if len(web) != 60 {
			t.Fatalf("minute buckets: %d, want 60", len(web))
		}
		for i, p := range web {
			// six samples: latencies (6i..6i+5) % 10
			sum, mx := 0.0, 0.0
			for j := 6 * i; j < 6*i+6; j++ {
				sum += float64(j % 10)
				mx = max(mx, float64(j%10))
			}
			if !p.At.Equal(t0.Add(time.Duration(i)*time.Minute)) || !near(p.AvgMS, sum/6) || !near(p.MaxMS, mx) || p.Samples != 6 {
				t.Fatalf("minute point %d: %+v, want avg %v max %v of 6", i, p, sum/6, mx)
			}
		}

		// The whole service, both hours, from roll-ups: instance a twice an hour's samples.
		hourly := hub.HistoryQuery{Tenant: "default", Service: "orders", Since: t0, Until: t0.Add(2 * time.Hour), Step: time.Hour}
		web = points(query(t, s, hourly), "web")
		if len(web) != 2 || web[0].Samples != 720 || web[1].Samples != 360 || !near(web[0].AvgMS, 4.5) || !near(web[0].MaxMS, 9) || !web[1].At.Equal(t0.Add(time.Hour)) {
			t.Fatalf("hourly points: %+v", web)
		}
		// A partial range still reads whole hours from roll-ups.
		hourly.Since = t0.Add(30 * time.Minute)
		if web = points(query(t, s, hourly), "web"); len(web) != 2 || web[0].Samples != 720 {
			t.Fatalf("hourly points from mid-hour: %+v", web)
		}

		// 20 critical samples in a's first hour.
		if got := availability(t, s, hour, false); got != (hub.Availability{Samples: 360, Up: 340}) {
			t.Fatalf("raw availability of a's first hour: %+v", got)
		}
		half := hour
		half.Since = t0.Add(30 * time.Minute) // sample 180 on: no critical sample
		if got := availability(t, s, half, false); got != (hub.Availability{Samples: 180, Up: 180}) {
			t.Fatalf("raw availability of a's second half-hour: %+v", got)
		}
		if got := availability(t, s, half, true); got != (hub.Availability{Samples: 360, Up: 340}) {
			t.Fatalf("hourly availability reads the whole hour: %+v", got)
		}
		all := hub.HistoryQuery{Tenant: "default", Service: "orders", Since: t0, Until: t0.Add(2 * time.Hour)}
		if got := availability(t, s, all, true); got != (hub.Availability{Samples: 1080, Up: 1040}) {
			t.Fatalf("hourly availability of the service: %+v", got)
		}
		if got := availability(t, s, all, false); got != (hub.Availability{Samples: 1080, Up: 1040}) {
			t.Fatalf("raw availability of the service: %+v", got)
		}
		acme := all
		acme.Tenant = "acme"
		if got := availability(t, s, acme, true); got != (hub.Availability{Samples: 720, Up: 700}) {
			t.Fatalf("another tenant's service of the same name: %+v", got)
		}
	})

	t.Run("samples across midnight", func(t *testing.T) {
		s := open(t)
		late := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "late"}
		base := time.Date(2026, 3, 4, 23, 30, 0, 0, time.UTC)
		var w hub.Writes
		for i := range 360 { // an hour of samples, 10 s apart
			w.Samples = append(w.Samples, hub.Sample{Key: late, At: base.Add(time.Duration(i) * 10 * time.Second), Status: status.Passing,
				Checks: []hub.CheckSample{{Name: "web", Status: status.Passing, LatencyMS: 1}}})
		}
		if err := s.WriteInstances(ctx, w); err != nil {
			t.Fatal(err)
		}
		q := hub.HistoryQuery{Tenant: "default", Service: "orders", Since: base, Until: base.Add(time.Hour), Step: 5 * time.Minute}
		if web := points(query(t, s, q), "web"); len(web) != 12 || web[6].Samples != 30 || !web[6].At.Equal(time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("points across midnight: %d, %+v", len(web), web)
		}
		q.Step = time.Hour
		if web := points(query(t, s, q), "web"); len(web) != 2 || web[0].Samples != 180 || web[1].Samples != 180 {
			t.Fatalf("hourly across midnight: %+v", web)
		}
	})

	t.Run("transitions", func(t *testing.T) {
		s := open(t)
		tr := func(k hub.InstanceKey, sec int, check string, from, to status.Check, out string) hub.Transition {
			return hub.Transition{Key: k, At: t0.Add(time.Duration(sec) * time.Second), Check: check, From: from, To: to, Output: out}
		}
		// Written in the same transaction as a state change, in two writes.
		first := hub.Writes{Puts: []hub.Instance{instance("default", "orders", "a", 1, status.Passing)}, Transitions: []hub.Transition{
			tr(a, 0, "", "", status.Passing, hub.ReasonRegistered),
			tr(a, 10, "web", status.Passing, status.Critical, "connection refused"),
			tr(a, 10, "", status.Passing, status.Critical, ""),
			tr(other, 15, "web", status.Passing, status.Critical, "other service"),
			tr(foreign, 15, "web", status.Passing, status.Critical, "other tenant"),
		}}
		second := hub.Writes{Transitions: []hub.Transition{
			tr(b, 20, "", "", status.Passing, hub.ReasonRegistered),
			tr(a, 30, "web", status.Critical, status.Passing, "200 OK"),
			tr(a, 30, "", status.Critical, status.Passing, ""),
			tr(b, 4000, "", status.Passing, "", hub.ReasonDeregistered),
		}}
		for _, w := range []hub.Writes{first, second} {
			if err := s.WriteInstances(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		q := hub.HistoryQuery{Tenant: "default", Service: "orders", Since: t0, Until: t0.Add(time.Hour), Step: time.Minute}
		h := query(t, s, q)
		var got []string
		for _, r := range h.Transitions {
			got = append(got, r.Instance+"/"+r.Check+":"+string(r.From)+">"+string(r.To)+":"+r.Output+"@"+r.At.Sub(t0).String())
		}
		want := []string{
			"a/:>passing:registered@0s", "a/web:passing>critical:connection refused@10s", "a/:passing>critical:@10s",
			"b/:>passing:registered@20s", "a/web:critical>passing:200 OK@30s", "a/:critical>passing:@30s",
		}
		if len(got) != len(want) {
			t.Fatalf("transitions:\n got %q\nwant %q", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("transition %d:\n got %q\nwant %q (all: %q)", i, got[i], want[i], got)
			}
		}
		if h.Truncated {
			t.Fatal("six transitions reported truncated without a limit")
		}
		q.Instance, q.Limit = "a", 2
		h = query(t, s, q)
		if len(h.Transitions) != 2 || !h.Truncated || h.Transitions[0].Check != "web" || !h.Transitions[1].At.Equal(t0.Add(30*time.Second)) || h.Transitions[1].Check != "" {
			t.Fatalf("limit 2 keeps the newest two, oldest first, truncated: %+v", h)
		}
		if h.Transitions[0].At.Location() != time.UTC {
			t.Fatalf("transition time in %v, want UTC", h.Transitions[0].At.Location())
		}
	})

	t.Run("retention drops whole days", func(t *testing.T) {
		s := open(t)
		writeSamples(t, s, a, 0, 360)
		old := hub.Writes{Transitions: []hub.Transition{{Key: a, At: t0, Check: "web", From: status.Passing, To: status.Critical}}}
		if err := s.WriteInstances(ctx, old); err != nil {
			t.Fatal(err)
		}
		newer := t0.Add(9 * 24 * time.Hour)
		writeSamples(t, s, a, 9*8640, 9*8640+6) // nine days on
		q := hub.HistoryQuery{Tenant: "default", Service: "orders", Since: t0.Add(-time.Hour), Until: newer.Add(time.Hour), Step: time.Hour}
		// Seven days' retention from t0 + 7 d + 1 h keeps t0's day: not all of it is older.
		if err := s.MaintainHistory(ctx, t0.Add(7*24*time.Hour+time.Hour), 7*24*time.Hour); err != nil {
			t.Fatalf("maintain: %v", err)
		}
		if got := availability(t, s, q, true); got.Samples != 366 {
			t.Fatalf("after a retention that keeps the day: %d samples, want 366", got.Samples)
		}
		if err := s.MaintainHistory(ctx, newer, 7*24*time.Hour); err != nil {
			t.Fatalf("maintain: %v", err)
		}
		if err := s.MaintainHistory(ctx, newer, 7*24*time.Hour); err != nil { // idempotent
			t.Fatalf("maintain again: %v", err)
		}
		h := query(t, s, q)
		if len(h.Transitions) != 0 {
			t.Fatalf("transitions older than retention survive: %+v", h.Transitions)
		}
		if got := availability(t, s, q, true); got.Samples != 6 {
			t.Fatalf("hourly availability after retention: %d samples, want the 6 newer", got.Samples)
		}
		if got := availability(t, s, q, false); got.Samples != 6 {
			t.Fatalf("raw availability after retention: %d samples, want the 6 newer", got.Samples)
		}
		if web := points(h, "web"); len(web) != 1 || web[0].Samples != 6 {
			t.Fatalf("latency after retention: %+v", web)
		}
		// Writing more history after maintenance works (days ahead are ready).
		writeSamples(t, s, a, 9*8640+6, 9*8640+12)
		if got := availability(t, s, q, false); got.Samples != 12 {
			t.Fatalf("after writing on: %d samples, want 12", got.Samples)
		}
	})
}

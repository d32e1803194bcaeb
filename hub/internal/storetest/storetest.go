// Package storetest is the conformance suite every hub.Store implementation must pass; each
// implementation's tests call Run with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"fmt"
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
}

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
		if err := s.WriteInstances(ctx, []hub.Instance{want}, nil); err != nil {
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
		if err := s.WriteInstances(ctx, []hub.Instance{a, b}, nil); err != nil {
			t.Fatal(err)
		}
		a.Seq = 2
		if err := s.WriteInstances(ctx, []hub.Instance{a}, []hub.InstanceKey{b.Key}); err != nil {
			t.Fatal(err)
		}
		got := load(t, s)
		if len(got) != 1 || got[a.Key].Seq != 2 {
			t.Fatalf("after replace+delete: %+v", got)
		}
		if err := s.WriteInstances(ctx, nil, []hub.InstanceKey{{Tenant: "x", Service: "y", Instance: "z"}}); err != nil {
			t.Fatalf("deleting a missing key must succeed: %v", err)
		}
	})
	t.Run("tenants keep same-named services apart", func(t *testing.T) {
		s := open(t)
		a, b := instance("alpha", "orders", "o1", 1, status.Passing), instance("beta", "orders", "o1", 9, status.Critical)
		if err := s.WriteInstances(ctx, []hub.Instance{a, b}, nil); err != nil {
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
					if err := s.WriteInstances(ctx, []hub.Instance{in}, nil); err != nil {
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
	t.Run("cancelled context writes nothing", func(t *testing.T) {
		s := open(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.WriteInstances(cctx, []hub.Instance{instance("default", "a", "b", 1, status.Passing)}, nil); err == nil {
			t.Fatal("write with a cancelled context succeeded")
		}
		if got := load(t, s); len(got) != 0 {
			t.Fatalf("cancelled write stored %d", len(got))
		}
	})
}

package registry

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/loadtest"
	"github.com/centralhub/centralhub/pkg/auth"
)

// loadedStore is a hub.Store that holds a fixed set of instances and discards writes; the
// registry never touches its alert, history or config queries.
type loadedStore struct {
	hub.AlertStore
	hub.HistoryStore
	hub.ConfigStore
	ins []hub.Instance
}

func (s *loadedStore) LoadInstances(context.Context) ([]hub.Instance, error) { return s.ins, nil }
func (s *loadedStore) WriteInstances(context.Context, hub.Writes) error {
	return nil
}
func (s *loadedStore) Close() error { return nil }

// benchRegistry returns a registry holding the benchmark fleet of 10,000 instances in 100
// services, with about half a percent of them warning (as under the load runs' status flips).
func benchRegistry(b *testing.B) *Registry {
	b.Helper()
	now := time.Now()
	f := loadtest.DefaultFleet(now.UnixNano())
	rnd := rand.New(rand.NewPCG(1, 2))
	flips := loadtest.NewFlips(f.Instances, 0.01)
	st := &loadedStore{ins: make([]hub.Instance, f.Instances)}
	for j := range f.Instances {
		flipped, _ := flips.Next(j, rnd)
		st.ins[j] = loadtest.Instance(f.Report(j, 1, flipped, rnd, now), now)
	}
	r, err := New(context.Background(), DefaultConfig(), st, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkSummary is the dashboard's summary over 10,000 instances: "recompute" after every
// status change (each call finds the cache out of date and one service's aggregate dropped, as
// under a steady stream of status changes), "cached" when nothing changed since the last call.
func BenchmarkSummary(b *testing.B) {
	r := benchRegistry(b)
	claims := &auth.Claims{Role: auth.Viewer, Tenant: "default"}
	visible := Visibility(claims.SeesTenant)
	if sum := r.Summary("default", visible); sum.Instances["passing"]+sum.Instances["warning"] != 10_000 {
		b.Fatalf("summary counts %v, want 10000 instances", sum.Instances)
	}
	b.Run("recompute", func(b *testing.B) {
		b.ReportAllocs()
		svcs := make([]*service, 0, len(r.services))
		for _, s := range r.services {
			svcs = append(svcs, s)
		}
		i := 0
		for b.Loop() {
			// what every status change does: one service's aggregate is dropped
			r.mu.Lock()
			r.touch(svcs[i%len(svcs)])
			r.mu.Unlock()
			i++
			_ = r.Summary("default", visible)
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = r.Summary("default", visible)
		}
	})
}

package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/pgtest"
	"github.com/centralhub/centralhub/pkg/status"
)

// TestUpgradeKeepsData: a database a hub of schema version 1 wrote is brought up to this
// hub's version at start, its instances kept, and history works on it.
func TestUpgradeKeepsData(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Schema(t)
	old, err := Connect(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if applied, err := old.migrateTo(ctx, 1); err != nil || len(applied) != 1 {
		t.Fatalf("build a version 1 schema: %v %v", applied, err)
	}
	k := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}
	if err := old.WriteInstances(ctx, hub.Writes{Puts: []hub.Instance{{Key: k, Boot: 1, Seq: 3, LastSeen: time.Now()}}}); err != nil {
		t.Fatalf("write on version 1: %v", err)
	}
	old.Close()

	s, err := Open(ctx, url, Options{Migrate: true})
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer s.Close()
	st, err := s.Status(ctx)
	if err != nil || st.Current != st.Known || st.Known < 4 {
		t.Fatalf("status after the upgrade: %+v %v", st, err)
	}
	ins, err := s.LoadInstances(ctx)
	if err != nil || len(ins) != 1 || ins[0].Key != k || ins[0].Seq != 3 {
		t.Fatalf("instances after the upgrade: %+v %v", ins, err)
	}
	now := time.Now().UTC()
	if err := s.WriteInstances(ctx, hub.Writes{Samples: []hub.Sample{{Key: k, At: now, Status: status.Passing}}}); err != nil {
		t.Fatalf("history after the upgrade: %v", err)
	}
	a, err := s.Availability(ctx, hub.HistoryQuery{Tenant: "default", Service: "orders", Since: now.Add(-time.Minute), Until: now.Add(time.Minute)}, false)
	if err != nil || a.Samples != 1 {
		t.Fatalf("availability after the upgrade: %+v %v", a, err)
	}
	c := hub.DesiredConfig{Tenant: "default", Service: "orders", Config: []byte(`{"a":"1"}`), UpdatedAt: now}
	if got, err := s.PutDesiredConfig(ctx, hub.ConfigWrite{Config: c}); err != nil || got.Version != 1 {
		t.Fatalf("desired config after the upgrade: %+v %v", got, err)
	}
}

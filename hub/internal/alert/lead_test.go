package alert

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
)

// TestFollowerAndTakeover: two engines over one store, as two hubs on one database. The
// follower judges nothing, sends nothing and refuses changes; it shows the leader's alerts
// after Reload; taking the lead, it sends what the leader had not delivered, once.
func TestFollowerAndTakeover(t *testing.T) {
	f := newFixture(t, onlyInstanceRules)
	ctx := context.Background()
	followerNotes := &recorder{recv: []string{"hook"}}
	follower, err := New(ctx, f.cfg, f.world, f.store, followerNotes)
	if err != nil {
		t.Fatal(err)
	}
	follower.SetLeading(false)

	f.world.set(nil, nil, critical("default", "orders", "o1"), critical("default", "payments", "p1"))
	f.step(0)
	f.step(30 * time.Second)
	if err := follower.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	if all, _ := follower.List(Query{Visible: func(string) bool { return true }}); len(all) != 0 {
		t.Fatalf("a follower judged rules: %+v", all)
	}
	if notes := f.notes.take(); len(notes) != 2 {
		t.Fatalf("leader's notifications: %q", notes)
	}
	f.e.Delivered(f.findNote(t, "orders"), "hook", nil) // payments' is still owed
	f.step(time.Second)

	if err := follower.Reload(ctx, false); err != nil {
		t.Fatal(err)
	}
	if all, _ := follower.List(Query{Visible: func(string) bool { return true }}); len(all) != 2 {
		t.Fatalf("follower after reload shows %d alerts, want the leader's 2", len(all))
	}
	if firing, _ := follower.Counts(func(string) bool { return true }); firing != 2 {
		t.Fatalf("follower counts %d firing", firing)
	}
	if follower.NotifiedFiring() != nil {
		t.Fatal("a follower offers alerts for re-sending")
	}
	op := Principal{Subject: "carol", Role: "operator"}
	if _, err := follower.Acknowledge(ctx, "default", "orders", op, "mine", 0); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("acknowledge on a follower: %v, want ErrNotLeader", err)
	}
	if _, err := follower.CreateSilence(ctx, hub.Silence{Tenant: "default", Matchers: []hub.Matcher{{Name: "service", Value: "x"}},
		StartsAt: f.clock.Now(), EndsAt: f.clock.Now().Add(time.Hour)}, op); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("silence on a follower: %v, want ErrNotLeader", err)
	}
	expectNotes(t, followerNotes)

	// The leader's session dies: it stops without writing; the follower takes over.
	f.e.SetLeading(false)
	if err := f.e.final(); err != nil {
		t.Fatal(err)
	}
	if err := follower.Reload(ctx, true); err != nil {
		t.Fatal(err)
	}
	follower.SetLeading(true)
	f.clock.add(time.Second)
	if err := follower.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	expectNotes(t, followerNotes, "firing payments/p1")
	f.clock.add(time.Second)
	if err := follower.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	expectNotes(t, followerNotes) // no alert fired again, nothing sent twice
	if a := follower.byComponentOf("orders"); len(a) != 1 || a[0].State != hub.AlertFiring {
		t.Fatalf("orders after the takeover: %+v", a)
	}
	if _, err := follower.Acknowledge(ctx, "default", "orders", op, "mine", 0); err != nil {
		t.Fatalf("acknowledge on the new leader: %v", err)
	}
}

func (e *Engine) byComponentOf(component string) []hub.Alert {
	all, _ := e.List(Query{Visible: func(string) bool { return true }, Component: component})
	return all
}

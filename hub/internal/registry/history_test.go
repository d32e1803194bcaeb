package registry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/status"
)

// history reads what the store holds of service's history around the harness clock.
func history(t *testing.T, h *harness, service string) (hub.History, hub.Availability) {
	t.Helper()
	q := hub.HistoryQuery{Tenant: "default", Service: service, Since: h.clock.Now().Add(-24 * time.Hour), Until: h.clock.Now().Add(time.Hour), Step: 10 * time.Second}
	got, err := h.store.QueryHistory(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	a, err := h.store.Availability(context.Background(), q, false)
	if err != nil {
		t.Fatal(err)
	}
	return got, a
}

func transitions(h hub.History) string {
	var parts []string
	for _, t := range h.Transitions {
		parts = append(parts, t.Instance+"/"+t.Check+":"+string(t.From)+">"+string(t.To)+":"+t.Output)
	}
	return strings.Join(parts, " ")
}

// TestHistoryFollowsReports: reports become transitions (with the state change) and samples
// (at most one per interval); silence is judged and sampled critical.
func TestHistoryFollowsReports(t *testing.T) {
	h := newHarness(t, "", nil)
	h.apply(report("orders", "o1", 1, 1, status.Passing, status.Passing))
	h.clock.Add(10 * time.Second)
	if r := h.apply(report("orders", "o1", 1, 2, status.Passing, status.Passing)); r.Outcome != registry.Heartbeat {
		t.Fatalf("second report: %s", r.Outcome)
	}
	h.clock.Add(10 * time.Second)
	h.apply(report("orders", "o1", 1, 3, status.Passing, status.Critical))
	h.clock.Add(5 * time.Second) // within the interval: no sample
	h.apply(report("orders", "o1", 1, 4, status.Passing, status.Critical))
	if err := h.reg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, avail := history(t, h, "orders")
	want := "o1/:>passing:registered o1/c0:>passing:seq 1 o1/c1:>passing:seq 1 o1/c1:passing>critical:seq 3 o1/:passing>critical:"
	if s := transitions(got); s != want {
		t.Fatalf("transitions:\n got %s\nwant %s", s, want)
	}
	if avail != (hub.Availability{Samples: 3, Up: 2}) {
		t.Fatalf("availability %+v, want 3 samples, 2 up", avail)
	}
	var c1 []hub.LatencyPoint
	for _, p := range got.Latency {
		if p.Check == "c1" {
			c1 = append(c1, p)
		}
	}
	if len(c1) != 3 {
		t.Fatalf("c1 latency points: %+v", c1)
	}

	// Silent past stale_after intervals: a stale transition and critical samples, one per interval.
	h.clock.Add(31 * time.Second)
	if err := h.reg.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(10 * time.Second)
	if err := h.reg.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, avail = history(t, h, "orders")
	if s := transitions(got); !strings.HasSuffix(s, "o1/:critical>critical:stale") {
		t.Fatalf("no stale transition: %s", s)
	}
	if avail != (hub.Availability{Samples: 5, Up: 2}) {
		t.Fatalf("availability after silence %+v, want 5 samples, 2 up", avail)
	}
	// Reporting again ends it; passing again is recorded.
	h.clock.Add(10 * time.Second)
	h.apply(report("orders", "o1", 1, 5, status.Passing, status.Passing))
	h.clock.Add(11 * time.Minute) // past deregister_after
	if err := h.reg.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ = history(t, h, "orders")
	if s := transitions(got); !strings.HasSuffix(s, "o1/c1:critical>passing:seq 5 o1/:critical>passing:reporting o1/:passing>:deregistered") {
		t.Fatalf("recovery and removal not recorded: %s", s)
	}
}

// TestHistoryQueueBoundAndBackoff: while the store fails, writes are paced (a report is
// answered at once, without an attempt), history waits up to its bound, and what is past the
// bound is counted; on recovery the kept history is written in order.
func TestHistoryQueueBoundAndBackoff(t *testing.T) {
	h := newHarness(t, "", func(c *registry.Config) {
		c.HistoryQueue = 3
		c.RetryMax = time.Hour // no attempt is due again within the test
	})
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	if err := h.reg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.store.setFailing(true)
	h.clock.Add(10 * time.Second)
	if r := h.apply(report("orders", "o1", 1, 2, status.Critical)); r.Outcome != registry.Queued {
		t.Fatalf("change while failing: %s", r.Outcome)
	}
	h.store.mu.Lock()
	attempts := h.store.writes
	h.store.mu.Unlock()
	for i := range 5 {
		h.clock.Add(10 * time.Second)
		st := status.Passing
		if i%2 == 0 {
			st = status.Critical
		}
		if r := h.apply(report("orders", "o1", 1, uint64(3+i), st)); r.Outcome != registry.Queued && r.Outcome != registry.Heartbeat {
			t.Fatalf("report %d while failing: %s", 3+i, r.Outcome)
		}
	}
	h.store.mu.Lock()
	if h.store.writes != attempts {
		t.Fatalf("%d store writes attempted before the retry was due", h.store.writes-attempts)
	}
	h.store.mu.Unlock()
	hs := h.reg.HistoryStats()
	if hs.QueuedSamples != 3 || hs.DroppedSamples != 3 || hs.QueuedTransitions != 3 || hs.DroppedTransitions == 0 {
		t.Fatalf("history queue while failing: %+v", hs)
	}
	if ok, msg := h.reg.StoreHealth(); ok || !strings.Contains(msg, "disk on fire") {
		t.Fatalf("store health while failing: %v %q", ok, msg)
	}
	h.store.setFailing(false)
	if err := h.reg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, avail := history(t, h, "orders")
	if avail.Samples != 4 { // the one before the outage and three kept
		t.Fatalf("samples after recovery: %+v", avail)
	}
	if s := transitions(got); !strings.Contains(s, "o1/c0:passing>critical:seq 2 o1/:passing>critical:") {
		t.Fatalf("the first transitions of the outage were not kept in order: %s", s)
	}
	if hs := h.reg.HistoryStats(); hs.QueuedSamples != 0 || hs.QueuedTransitions != 0 {
		t.Fatalf("history still queued after recovery: %+v", hs)
	}
	if stored(t, h)["default/orders/o1"].Seq != 7 {
		t.Fatalf("registry state not written after recovery: %+v", stored(t, h)["default/orders/o1"])
	}
}

package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/pgtest"
	"github.com/centralhub/centralhub/hub/internal/postgres"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

func openAs(t *testing.T, url, hubID string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, postgres.Options{Migrate: true, HubID: hubID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// poll waits up to within for ok, failing with what.
func poll(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNoticesReachTheOtherHubs: a write of instances by one hub reaches the other's listener
// with the keys written, and never the writer's own; alert writes are told too.
func TestNoticesReachTheOtherHubs(t *testing.T) {
	url := pgtest.Database(t)
	a, b := openAs(t, url, "hub-a"), openAs(t, url, "hub-b")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var mu sync.Mutex
	heard := map[string][]postgres.Notice{}
	for id, s := range map[string]*postgres.Store{"hub-a": a, "hub-b": b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Listen(ctx, func(n postgres.Notice) { mu.Lock(); heard[id] = append(heard[id], n); mu.Unlock() })
		}()
	}
	count := func(id string, f func(postgres.Notice) bool) int {
		mu.Lock()
		defer mu.Unlock()
		k := 0
		for _, n := range heard[id] {
			if f(n) {
				k++
			}
		}
		return k
	}
	resync := func(n postgres.Notice) bool { return n.Resync }
	poll(t, 5*time.Second, "both listening", func() bool { return count("hub-a", resync) == 1 && count("hub-b", resync) == 1 })

	// Enough keys to need several payloads.
	var w hub.Writes
	for i := range 300 {
		w.Puts = append(w.Puts, hub.Instance{Key: hub.InstanceKey{Tenant: "default", Service: "orders-with-a-long-name", Instance: "instance-" + string(rune('a'+i%26)) + "-" + time.Duration(i).String()},
			Boot: 1, Seq: 1, Checks: []protocol.CheckResult{{Name: "web", Status: status.Passing}}})
	}
	if err := a.WriteInstances(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	keys := func(id string) map[hub.InstanceKey]bool {
		mu.Lock()
		defer mu.Unlock()
		out := map[hub.InstanceKey]bool{}
		for _, n := range heard[id] {
			for _, k := range n.Instances {
				out[k] = true
			}
		}
		return out
	}
	poll(t, 5*time.Second, "hub-b hears every key hub-a wrote", func() bool { return len(keys("hub-b")) == 300 })
	for _, p := range w.Puts {
		if !keys("hub-b")[p.Key] {
			t.Fatalf("hub-b did not hear of %s", p.Key)
		}
	}
	if err := b.WriteAlerts(context.Background(), hub.AlertWrites{Audit: []hub.AuditEntry{{At: time.Now(), Actor: "x", Tenant: "default", Action: "silence.create"}}}); err != nil {
		t.Fatal(err)
	}
	poll(t, 5*time.Second, "hub-a hears of hub-b's alert write", func() bool { return count("hub-a", func(n postgres.Notice) bool { return n.Alerts }) == 1 })
	if n := len(keys("hub-a")); n != 0 {
		t.Fatalf("hub-a heard %d keys of its own write", n)
	}
	if n := count("hub-b", func(n postgres.Notice) bool { return n.Alerts }); n != 0 {
		t.Fatalf("hub-b heard its own alert write")
	}
	got, err := b.LoadInstancesOf(context.Background(), []hub.InstanceKey{w.Puts[0].Key, {Tenant: "default", Service: "gone", Instance: "x"}})
	if err != nil || len(got) != 1 || got[0].Key != w.Puts[0].Key {
		t.Fatalf("LoadInstancesOf: %v %+v", err, got)
	}
}

// TestPutNeverGoesBack: a hub's older copy of an instance never overwrites a newer report
// another hub wrote.
func TestPutNeverGoesBack(t *testing.T) {
	s := openAs(t, pgtest.Schema(t), "")
	k := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}
	other := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o2"}
	otherSeq := uint64(0)
	put := func(seq uint64, stale bool) error {
		in := hub.Instance{Key: k, Boot: 7, Seq: seq, Stale: stale, LastSeen: time.Now()}
		otherSeq++
		return s.WriteInstances(context.Background(), hub.Writes{
			Puts:        []hub.Instance{in, {Key: other, Boot: 1, Seq: otherSeq, LastSeen: time.Now()}},
			Transitions: []hub.Transition{{Key: k, At: time.Now(), From: status.Passing, To: status.Critical, Output: hub.ReasonStale}},
		})
	}
	if err := put(5, false); err != nil {
		t.Fatal(err)
	}
	// The leader's stale mark from an older copy: refused, said so, and its transition
	// not recorded; the rest of the write is taken.
	var refused *hub.RefusedPutsError
	if err := put(4, true); !errors.As(err, &refused) || len(refused.Keys) != 1 || refused.Keys[0] != k {
		t.Fatalf("older put: %v, want it refused for %s", err, k)
	}
	ins, _ := s.LoadInstances(context.Background())
	for _, in := range ins {
		if in.Key == k && (in.Seq != 5 || in.Stale) {
			t.Fatalf("an older put overwrote a newer one: %+v", in)
		}
	}
	h, err := s.QueryHistory(context.Background(), hub.HistoryQuery{Tenant: "default", Service: "orders", Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour), Step: time.Minute})
	if err != nil || len(h.Transitions) != 1 {
		t.Fatalf("transitions: %v %+v, want only the first write's", err, h.Transitions)
	}
	if err := put(5, true); err != nil { // the same report, judged stale: taken
		t.Fatal(err)
	}
	ins, _ = s.LoadInstances(context.Background())
	for _, in := range ins {
		if in.Key == k && !in.Stale {
			t.Fatal("a put of the same report was refused")
		}
	}
}

// TestLeadership: of two hubs campaigning, one leads; when its session dies, the other takes
// over within seconds and records where it serves.
func TestLeadership(t *testing.T) {
	url := pgtest.Database(t)
	stores := map[string]*postgres.Store{"hub-a": openAs(t, url, "hub-a"), "hub-b": openAs(t, url, "hub-b")}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var mu sync.Mutex
	leading := map[string]bool{}
	changes := map[string]int{}
	cancels := map[string]context.CancelFunc{}
	for id, s := range stores {
		cctx, stop := context.WithCancel(ctx)
		cancels[id] = stop
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Campaign(cctx, "http://"+id+":7000", func(v bool) { mu.Lock(); leading[id] = v; changes[id]++; mu.Unlock() })
		}()
	}
	leaders := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for id, v := range leading {
			if v {
				out = append(out, id)
			}
		}
		return out
	}
	poll(t, 5*time.Second, "one hub leads", func() bool { return len(leaders()) == 1 })
	first := leaders()[0]
	other := "hub-a"
	if first == "hub-a" {
		other = "hub-b"
	}
	id, apiURL, err := stores[other].Leader(context.Background())
	if err != nil || id != first || apiURL != "http://"+first+":7000" {
		t.Fatalf("recorded leader %q %q %v, want %s", id, apiURL, err, first)
	}
	// Still one leader a few campaign rounds later.
	time.Sleep(2500 * time.Millisecond) // a bounded check that nothing changes
	if l := leaders(); len(l) != 1 || l[0] != first {
		t.Fatalf("leaders after 2.5 s: %v", l)
	}

	// The leader's session dies (its backend is terminated, as when its host vanishes and the
	// server gives up on it): it steps down and the other takes over.
	admin, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var killed int
	if err := admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminate the leader's session: %d sessions, %v", killed, err)
	}
	start := time.Now()
	poll(t, 10*time.Second, "the other hub takes over", func() bool { l := leaders(); return len(l) == 1 && l[0] == other })
	t.Logf("takeover after the leader's session died: %s", time.Since(start).Round(10*time.Millisecond))
	mu.Lock()
	if changes[first] != 2 {
		t.Errorf("the old leader's lead changed %d times, want 2 (took, lost)", changes[first])
	}
	mu.Unlock()
	if id, _, _ := stores[first].Leader(context.Background()); id != other {
		t.Fatalf("recorded leader %q after the takeover, want %s", id, other)
	}
	// The old leader campaigns again and waits: the new one keeps the lead.
	time.Sleep(2500 * time.Millisecond) // a bounded check that nothing changes
	if l := leaders(); len(l) != 1 || l[0] != other {
		t.Fatalf("leaders after the old one campaigned again: %v", l)
	}
	// A leader that stops gracefully hands over too.
	cancels[other]()
	poll(t, 10*time.Second, "the first hub leads again after the second stopped", func() bool { l := leaders(); return len(l) == 1 && l[0] == first })
}

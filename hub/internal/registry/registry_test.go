package registry_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/bolt"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// flakyStore wraps a real store and fails writes while failing is set.
type flakyStore struct {
	hub.Store
	mu      sync.Mutex
	failing bool
	writes  int
}

func (f *flakyStore) WriteInstances(ctx context.Context, w hub.Writes) error {
	f.mu.Lock()
	failing := f.failing
	f.writes++
	f.mu.Unlock()
	if failing {
		return errors.New("disk on fire")
	}
	return f.Store.WriteInstances(ctx, w)
}

func (f *flakyStore) setFailing(v bool) { f.mu.Lock(); f.failing = v; f.mu.Unlock() }

// LoadInstancesOf passes on to the wrapped store when it reads instances by key.
func (f *flakyStore) LoadInstancesOf(ctx context.Context, keys []hub.InstanceKey) ([]hub.Instance, error) {
	if rd, ok := f.Store.(hub.InstanceReader); ok {
		return rd.LoadInstancesOf(ctx, keys)
	}
	return nil, errors.New("the wrapped store reads no instances by key")
}

type harness struct {
	t     *testing.T
	dir   string
	clock *fakeClock
	store *flakyStore
	reg   *registry.Registry
	stop  func()
}

func newHarness(t *testing.T, dir string, mutate func(*registry.Config)) *harness {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	st, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: dir, clock: &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, store: &flakyStore{Store: st}}
	cfg := registry.DefaultConfig()
	cfg.Now = h.clock.Now
	cfg.FlushInterval = time.Hour // tests flush explicitly
	if mutate != nil {
		mutate(&cfg)
	}
	h.reg, err = registry.New(context.Background(), cfg, h.store, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.reg.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("registry run: %v", err)
			}
			if err := st.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

func report(service, instance string, boot int64, seq uint64, checks ...status.Check) *protocol.Report {
	r := &protocol.Report{Version: 1, Tenant: "default", Service: service, Instance: instance,
		Boot: boot, Seq: seq, Interval: protocol.Duration(10 * time.Second)}
	for i, c := range checks {
		r.Checks = append(r.Checks, protocol.CheckResult{Name: fmt.Sprintf("c%d", i), Kind: "tcp", Status: c, Output: fmt.Sprintf("seq %d", seq)})
	}
	return r
}

func (h *harness) apply(r *protocol.Report) registry.Result {
	h.t.Helper()
	res, err := h.reg.Apply(context.Background(), r)
	if err != nil {
		h.t.Fatalf("apply: %v", err)
	}
	return res
}

// stored reads the instance back from a fresh open of the store file.
func stored(t *testing.T, h *harness) map[string]hub.Instance {
	t.Helper()
	ins, err := h.store.LoadInstances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]hub.Instance{}
	for _, in := range ins {
		out[in.Key.String()] = in
	}
	return out
}

func TestApplyOrdering(t *testing.T) {
	h := newHarness(t, "", nil)
	cases := []struct {
		name    string
		rep     *protocol.Report
		outcome registry.Outcome
		status  status.Check
	}{
		{"first report is a state change", report("orders", "o1", 100, 1, status.Passing), registry.Stored, status.Passing},
		{"same state is a heartbeat", report("orders", "o1", 100, 2, status.Passing), registry.Heartbeat, status.Passing},
		{"older seq is ignored", report("orders", "o1", 100, 1, status.Critical), registry.Ignored, status.Passing},
		{"same seq is ignored", report("orders", "o1", 100, 2, status.Critical), registry.Ignored, status.Passing},
		{"status change is stored", report("orders", "o1", 100, 3, status.Critical), registry.Stored, status.Critical},
		{"older boot is ignored", report("orders", "o1", 99, 50, status.Passing), registry.Ignored, status.Critical},
		{"new boot starts afresh at seq 1", report("orders", "o1", 200, 1, status.Warning), registry.Stored, status.Warning},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.clock.Add(time.Second)
			res := h.apply(tc.rep)
			if res.Outcome != tc.outcome || res.Status != tc.status {
				t.Fatalf("got %s/%s, want %s/%s (%s)", res.Outcome, res.Status, tc.outcome, tc.status, res.Reason)
			}
		})
	}
	in := stored(t, h)["default/orders/o1"]
	if in.Boot != 200 || in.Seq != 1 || in.Status() != status.Warning {
		t.Fatalf("store holds boot %d seq %d status %s, want 200/1/warning", in.Boot, in.Seq, in.Status())
	}
}

func TestStateChangeDurableBeforeReturn(t *testing.T) {
	h := newHarness(t, "", nil)
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	if _, ok := stored(t, h)["default/orders/o1"]; !ok {
		t.Fatal("a new instance must be in the store when Apply returns")
	}
	h.apply(report("orders", "o1", 1, 2, status.Passing, status.Critical))
	if got := stored(t, h)["default/orders/o1"]; got.Status() != status.Critical || got.Seq != 2 {
		t.Fatalf("store has seq %d status %s, want seq 2 critical", got.Seq, got.Status())
	}
}

func TestHeartbeatBatched(t *testing.T) {
	h := newHarness(t, "", nil)
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	h.clock.Add(5 * time.Second)
	h.apply(report("orders", "o1", 1, 2, status.Passing))
	if got := stored(t, h)["default/orders/o1"]; got.Seq != 1 {
		t.Fatalf("a heartbeat must wait for the batch; store has seq %d", got.Seq)
	}
	if err := h.reg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// a heartbeat makes seq and last_seen durable; outputs are refreshed by the next report
	got := stored(t, h)["default/orders/o1"]
	if got.Seq != 2 || !got.LastSeen.Equal(h.clock.Now()) || got.Checks[0].Output != "seq 1" {
		t.Fatalf("after flush store has seq %d last_seen %s output %q", got.Seq, got.LastSeen, got.Checks[0].Output)
	}
}

func TestStaleAndDeregister(t *testing.T) {
	h := newHarness(t, "", func(c *registry.Config) { c.StaleAfter = 3; c.DeregisterAfter = 10 * time.Minute })
	ctx := context.Background()
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	h.apply(report("orders", "o2", 1, 1, status.Passing))

	h.clock.Add(29 * time.Second) // under 3 × 10s
	h.apply(report("orders", "o2", 1, 2, status.Passing))
	if err := h.reg.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if s := h.reg.Summary("*", all); s.Instances["critical"] != 0 {
		t.Fatalf("nothing is stale yet: %+v", s.Instances)
	}
	h.clock.Add(2 * time.Second) // o1 silent 31s
	if err := h.reg.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	health := h.reg.Health(registry.HealthQuery{Visible: all})
	o1 := health.Services[0].Instances[0]
	if o1.Status != status.Critical || o1.Checks[0].Name != registry.HeartbeatCheck || o1.Checks[0].Output != "no report for 31 s" {
		t.Fatalf("o1 = %+v", o1)
	}
	if health.Services[0].Status != status.Degraded {
		t.Fatalf("service with one stale of two = %s, want degraded", health.Services[0].Status)
	}
	if !stored(t, h)["default/orders/o1"].Stale {
		t.Fatal("staleness is a state change and must be stored")
	}
	// a report brings it back
	h.apply(report("orders", "o1", 1, 2, status.Passing))
	if s := h.reg.Summary("*", all); s.Instances["passing"] != 2 {
		t.Fatalf("after a new report: %+v", s.Instances)
	}
	// silence past deregister_after removes it, store too
	h.clock.Add(11 * time.Minute)
	h.apply(report("orders", "o2", 1, 3, status.Passing))
	if err := h.reg.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(h.reg.Instances()); n != 1 {
		t.Fatalf("%d instances after deregistration, want 1", n)
	}
	if _, ok := stored(t, h)["default/orders/o1"]; ok {
		t.Fatal("deregistered instance still in the store")
	}
}

func TestRestartKeepsRegistry(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, nil)
	h.apply(report("orders", "o1", 1, 1, status.Critical))
	h.apply(report("orders", "o1", 1, 2, status.Critical)) // heartbeat: written by the final flush
	h.stop()

	h2 := newHarness(t, dir, nil)
	got := h2.reg.Instances()
	if len(got) != 1 || got[0].Seq != 2 || got[0].Status() != status.Critical {
		t.Fatalf("after restart: %+v", got)
	}
	if res := h2.apply(report("orders", "o1", 1, 2, status.Passing)); res.Outcome != registry.Ignored {
		t.Fatalf("a replayed report after restart must be ignored, got %s", res.Outcome)
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, "", func(c *registry.Config) { c.RatePerInstance = 5 })
	var limited int
	for i := range 10 {
		_, err := h.reg.Apply(context.Background(), report("orders", "o1", 1, uint64(i+1), status.Passing))
		if errors.Is(err, registry.ErrRateLimited) {
			limited++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if limited != 5 {
		t.Fatalf("%d of 10 instant reports limited at 5/s, want 5", limited)
	}
	h.clock.Add(time.Second)
	if _, err := h.reg.Apply(context.Background(), report("orders", "o1", 1, 100, status.Passing)); err != nil {
		t.Fatalf("a second later the bucket has refilled: %v", err)
	}
}

func TestStoreFailureKeepsChangesAndRecovers(t *testing.T) {
	h := newHarness(t, "", nil)
	h.store.setFailing(true)
	res := h.apply(report("orders", "o1", 1, 1, status.Critical))
	if res.Outcome != registry.Queued {
		t.Fatalf("outcome %s while the store fails, want queued", res.Outcome)
	}
	if ok, _ := h.reg.StoreHealth(); ok {
		t.Fatal("store health must report the failure")
	}
	h.store.setFailing(false)
	if err := h.reg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, h)["default/orders/o1"]; got.Status() != status.Critical {
		t.Fatalf("after recovery store has %+v", got)
	}
	if ok, _ := h.reg.StoreHealth(); !ok {
		t.Fatal("store health must recover")
	}
}

func all(string) bool { return true }

func TestTenantVisibility(t *testing.T) {
	h := newHarness(t, "", nil)
	a := report("orders", "o1", 1, 1, status.Critical)
	a.Tenant = "alpha"
	b := report("billing", "b1", 1, 1, status.Passing)
	b.Tenant = "beta"
	h.apply(a)
	h.apply(b)
	onlyBeta := func(t string) bool { return t == "beta" }
	sum := h.reg.Summary("beta", onlyBeta)
	if sum.Status != status.Healthy || sum.Services["unhealthy"] != 0 || len(sum.Worst) != 0 {
		t.Fatalf("beta sees alpha's trouble: %+v", sum)
	}
	if all := h.reg.Summary("*", all); all.Status != status.Unhealthy || all.Worst[0].Name != "orders" {
		t.Fatalf("all tenants: %+v", all)
	}
	health := h.reg.Health(registry.HealthQuery{Visible: onlyBeta})
	if len(health.Services) != 1 || health.Services[0].Tenant != "beta" {
		t.Fatalf("beta health: %+v", health.Services)
	}
}

func TestSummaryFollowsChanges(t *testing.T) {
	h := newHarness(t, "", nil)
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	if s := h.reg.Summary("*", all); s.Status != status.Healthy {
		t.Fatalf("status %s", s.Status)
	}
	h.apply(report("orders", "o1", 1, 2, status.Critical))
	s := h.reg.Summary("*", all)
	if s.Status != status.Unhealthy || s.Services["unhealthy"] != 1 || len(s.Worst) != 1 {
		t.Fatalf("cached summary did not follow the change: %+v", s)
	}
	if want := "1 of 1 instances not passing; o1: check c0 critical: seq 2"; s.Worst[0].Why != want {
		t.Fatalf("why = %q, want %q", s.Worst[0].Why, want)
	}
}

func TestHealthPaginationAndComponents(t *testing.T) {
	h := newHarness(t, "", nil)
	for i := range 5 {
		r := report(fmt.Sprintf("svc%d", i), "i1", 1, 1, status.Passing)
		r.Checks[0].Component = "postgres-main"
		r.Checks[0].Critical = true
		if i == 3 {
			r.Checks[0].Status = status.Critical
		}
		h.apply(r)
	}
	got := h.reg.Health(registry.HealthQuery{Visible: all, Limit: 2, Offset: 1})
	if got.Total != 5 || len(got.Services) != 2 || got.Services[0].Name != "svc1" || got.Services[1].Name != "svc2" {
		t.Fatalf("page: total %d, %d services", got.Total, len(got.Services))
	}
	if len(got.Components) != 1 || got.Components[0].Status != status.Critical || !got.Components[0].Critical {
		t.Fatalf("components: %+v", got.Components)
	}
	if got.Status != status.Unhealthy {
		t.Fatalf("a critical component down must make overall unhealthy, got %s", got.Status)
	}
}

// TestCancelledRequestThenRetry: a state change whose request was cancelled is still made
// durable, and a retry of the same report, answered "ignored", is answered only once it is.
func TestCancelledRequestThenRetry(t *testing.T) {
	h := newHarness(t, "", nil)
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = h.reg.Apply(ctx, report("orders", "o1", 1, 2, status.Critical))
	res := h.apply(report("orders", "o1", 1, 2, status.Critical))
	if res.Outcome != registry.Ignored {
		t.Fatalf("retry outcome %s, want ignored", res.Outcome)
	}
	if got := stored(t, h)["default/orders/o1"]; got.Seq != 2 || got.Status() != status.Critical {
		t.Fatalf("retry answered while the store holds seq %d %s", got.Seq, got.Status())
	}
}

// TestHubDowntimeIsNotAgentSilence: after a restart, staleness and deregistration count from
// the hub's start, not from the last report before the hub went down.
func TestHubDowntimeIsNotAgentSilence(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, nil)
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	h.stop()

	later := &fakeClock{t: h.clock.Now().Add(time.Hour)} // down longer than deregister_after
	h2 := newHarness(t, dir, func(c *registry.Config) { c.Now = later.Now })
	ctx := context.Background()
	if err := h2.reg.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if s := h2.reg.Summary("*", all); s.Instances["passing"] != 1 {
		t.Fatalf("right after a restart: %+v", s.Instances)
	}
	later.Add(31 * time.Second) // now the agent has been silent 3 intervals since the hub came back
	if err := h2.reg.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if s := h2.reg.Summary("*", all); s.Instances["critical"] != 1 {
		t.Fatalf("31 s after the restart without a report: %+v", s.Instances)
	}
}

// TestSummaryWhyFollowsOutput: the cached summary's why follows a failing check's output even
// when its status stays the same.
func TestSummaryWhyFollowsOutput(t *testing.T) {
	h := newHarness(t, "", nil)
	h.apply(report("orders", "o1", 1, 1, status.Critical))
	if w := h.reg.Summary("*", all).Worst[0].Why; !strings.HasSuffix(w, "seq 1") {
		t.Fatalf("why %q", w)
	}
	h.apply(report("orders", "o1", 1, 2, status.Critical)) // same status, output "seq 2"
	if w := h.reg.Summary("*", all).Worst[0].Why; !strings.HasSuffix(w, "seq 2") {
		t.Fatalf("why %q did not follow the output", w)
	}
}

// TestHeartbeatBatchInChunks: the once-a-second batch, larger than one chunk, is written in
// full by the writer on its own, with state changes committed in between.
func TestHeartbeatBatchInChunks(t *testing.T) {
	h := newHarness(t, "", func(c *registry.Config) { c.FlushInterval = 20 * time.Millisecond })
	const n = 2500
	for i := range n {
		h.apply(report("fleet", fmt.Sprintf("i%04d", i), 1, 1, status.Passing))
	}
	h.clock.Add(time.Second)
	for i := range n {
		if res := h.apply(report("fleet", fmt.Sprintf("i%04d", i), 1, 7, status.Passing)); res.Outcome != registry.Heartbeat {
			t.Fatalf("outcome %s", res.Outcome)
		}
	}
	if res := h.apply(report("fleet", "i0001", 1, 8, status.Critical)); res.Outcome != registry.Stored {
		t.Fatalf("state change during the batch: %s", res.Outcome)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := stored(t, h)
		at7 := 0
		for _, in := range all {
			if in.Seq == 7 && in.LastSeen.Equal(h.clock.Now()) {
				at7++
			}
		}
		if at7 == n-1 && all["default/fleet/i0001"].Seq == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d heartbeats written, i0001 at seq %d", at7, n-1, all["default/fleet/i0001"].Seq)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gatedStore holds writes that carry whole instances until its gate opens.
type gatedStore struct {
	hub.Store
	mu        sync.Mutex
	gate      chan struct{}
	entered   chan struct{}
	completed bool // the gated write reached the real store
}

func (g *gatedStore) WriteInstances(ctx context.Context, w hub.Writes) error {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil && len(w.Puts) > 0 {
		g.entered <- struct{}{}
		<-gate
		defer func() { g.mu.Lock(); g.completed = true; g.mu.Unlock() }()
	}
	return g.Store.WriteInstances(ctx, w)
}

// TestRetryWaitsForInFlightWrite: while a state change is being committed, it counts as
// pending, and a retry of the same report is answered only once the commit is done.
func TestRetryWaitsForInFlightWrite(t *testing.T) {
	h := newHarness(t, "", nil)
	gs := &gatedStore{Store: h.store.Store, entered: make(chan struct{}, 1)}
	h.store.Store = gs
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	gs.mu.Lock()
	gs.gate = make(chan struct{})
	gs.mu.Unlock()
	var openOnce sync.Once
	openGate := func() { openOnce.Do(func() { close(gs.gate) }) }
	t.Cleanup(openGate) // runs before the harness stops the writer, even when the test fails
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-gs.entered; cancel() }() // the agent gives up while the commit is under way
	if _, err := h.reg.Apply(ctx, report("orders", "o1", 1, 2, status.Critical)); !errors.Is(err, context.Canceled) {
		t.Fatalf("first request: %v, want it cancelled", err)
	}
	if p := h.reg.StoreStats().PendingWrites; p == 0 {
		t.Fatal("pending writes read 0 while a state change is being committed")
	}
	done := make(chan bool, 1)
	go func() {
		_, _ = h.reg.Apply(context.Background(), report("orders", "o1", 1, 2, status.Critical))
		gs.mu.Lock()
		done <- gs.completed
		gs.mu.Unlock()
	}()
	select {
	case <-done:
		t.Fatal("the retry was answered while its state change was still being committed")
	case <-time.After(200 * time.Millisecond): // a bounded check that nothing happens
	}
	openGate()
	if completed := <-done; !completed {
		t.Fatal("the retry was answered before the commit completed")
	}
	if got := stored(t, h)["default/orders/o1"]; got.Seq != 2 || got.Status() != status.Critical {
		t.Fatalf("store holds seq %d %s", got.Seq, got.Status())
	}
}

// TestFailingStoreNoHotLoopAndSweepGoesOn: while the store refuses every write, the writer
// retries once a tick rather than in a loop, and staleness is still judged.
func TestFailingStoreNoHotLoopAndSweepGoesOn(t *testing.T) {
	h := newHarness(t, "", func(c *registry.Config) { c.FlushInterval = 20 * time.Millisecond })
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	h.apply(report("orders", "o1", 1, 2, status.Passing)) // a heartbeat to write
	h.store.setFailing(true)
	h.clock.Add(time.Hour) // silent past deregister_after
	deadline := time.Now().Add(10 * time.Second)
	for len(h.reg.Instances()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("no sweep while the store fails")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if errs := h.reg.StoreStats().WriteErrors; errs > 1000 {
		t.Fatalf("%d failed writes: the writer spins instead of waiting for the next tick", errs)
	}
	h.store.setFailing(false)
	if err := h.reg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, h); len(got) != 0 {
		t.Fatalf("deregistered instance still stored after recovery: %v", got)
	}
}

// TestHeartbeatOfUndurableStateWaits: a report that repeats a state not yet durable is
// answered as the change itself (queued while the store fails), and no heartbeat record ever
// carries its seq ahead of the state.
func TestHeartbeatOfUndurableStateWaits(t *testing.T) {
	h := newHarness(t, "", func(c *registry.Config) { c.FlushInterval = 20 * time.Millisecond })
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	h.store.setFailing(true)
	if r := h.apply(report("orders", "o1", 1, 2, status.Critical)); r.Outcome != registry.Queued {
		t.Fatalf("change while failing: %s", r.Outcome)
	}
	if r := h.apply(report("orders", "o1", 1, 3, status.Critical)); r.Outcome != registry.Queued {
		t.Fatalf("repeat of an undurable change: %s, want queued", r.Outcome)
	}
	h.store.setFailing(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := stored(t, h)["default/orders/o1"]
		if got.Seq > 1 && got.Status() != status.Critical {
			t.Fatalf("store holds seq %d with the old status %s", got.Seq, got.Status())
		}
		if got.Seq == 3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("store still at seq %d", got.Seq)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConfigProblemsAreState(t *testing.T) {
	h := newHarness(t, "", nil)
	r := report("orders", "o1", 1, 1, status.Passing)
	r.Config = protocol.ConfigState{Status: protocol.ConfigInvalid, Problems: []protocol.ConfigProblem{{File: "a.yaml", Key: "db.url", Reason: "missing"}}}
	h.apply(r)
	r2 := report("orders", "o1", 1, 2, status.Passing)
	r2.Config = protocol.ConfigState{Status: protocol.ConfigInvalid, Problems: []protocol.ConfigProblem{{File: "a.yaml", Key: "nats.url", Reason: "missing"}}}
	if res := h.apply(r2); res.Outcome != registry.Stored {
		t.Fatalf("a different problem of the same count: %s, want stored", res.Outcome)
	}
}

func TestStoppedRegistryRefuses(t *testing.T) {
	h := newHarness(t, "", nil)
	h.apply(report("orders", "o1", 1, 1, status.Passing))
	h.stop()
	if _, err := h.reg.Apply(context.Background(), report("orders", "o1", 1, 2, status.Passing)); !errors.Is(err, registry.ErrStopped) {
		t.Fatalf("a heartbeat after the final flush: %v, want ErrStopped", err)
	}
}

// TestConcurrentReadersAndChanges: readers filling the per-service aggregates race with
// status changes and each other; -race checks the sharing, the counts check the result.
func TestConcurrentReadersAndChanges(t *testing.T) {
	h := newHarness(t, "", func(c *registry.Config) { c.RatePerInstance = 0 })
	for i := range 20 {
		h.apply(report(fmt.Sprintf("s%d", i%4), fmt.Sprintf("i%d", i), 1, 1, status.Passing))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := h.reg.Summary("*", all)
				if n := s.Instances["passing"] + s.Instances["critical"]; n != 20 {
					t.Errorf("summary counts %d instances, want 20", n)
					return
				}
				_ = h.reg.Health(registry.HealthQuery{Visible: all})
			}
		})
	}
	for seq := uint64(2); seq < 60; seq++ {
		st := status.Passing
		if seq%2 == 0 {
			st = status.Critical
		}
		h.apply(report("s1", "i1", 1, seq, st))
	}
	close(stop)
	wg.Wait()
	if s := h.reg.Summary("*", all); s.Instances["passing"] != 20 {
		t.Fatalf("after the last change (passing): %+v", s.Instances)
	}
}

// TestApplyKeepsNoReferenceToTheReport: the HTTP layer reuses decoded reports, so what the
// registry keeps must not change when the caller overwrites a report after Apply.
func TestApplyKeepsNoReferenceToTheReport(t *testing.T) {
	h := newHarness(t, "", nil)
	first := report("orders", "o1", 1, 1, status.Critical)
	h.apply(first)
	beat := report("orders", "o1", 1, 2, status.Critical) // a heartbeat: updated in place
	h.apply(beat)
	for _, r := range []*protocol.Report{first, beat} {
		for i := range r.Checks {
			r.Checks[i] = protocol.CheckResult{Name: "overwritten", Status: status.Passing, Output: "garbage"}
		}
	}
	got := h.reg.Instances()[0]
	if got.Checks[0].Name != "c0" || got.Checks[0].Status != status.Critical || got.Checks[0].Output != "seq 2" {
		t.Fatalf("the registry follows a reused report: %+v", got.Checks[0])
	}
}

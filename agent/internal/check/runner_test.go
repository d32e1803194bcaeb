package check

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// scriptedProber returns its results in order, then repeats the last one.
type scriptedProber struct {
	mu      sync.Mutex
	results []Result
	calls   int
}

func (p *scriptedProber) Probe(context.Context) Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	res := p.results[min(p.calls, len(p.results)-1)]
	p.calls++
	return res
}

func (p *scriptedProber) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

func TestRunnerDampsAndSignals(t *testing.T) {
	p := &scriptedProber{results: []Result{
		{status.Passing, "ok"},
		{status.Critical, "blip"}, // one failure: fall 2 keeps passing
		{status.Passing, "ok"},
		{status.Critical, "down 1"},
		{status.Critical, "down 2"}, // second failure in a row: critical
	}}
	r, reg := startRunner(t, []config.Check{{Name: "svc", Fall: 2, TCP: &config.TCPCheck{Address: "unused:1"}}},
		func(r *Runner) { r.entries[0].prober = p })

	var seen []status.Check
	waitFor(t, "the check to turn critical", func() bool {
		select {
		case <-r.Changed():
			seen = append(seen, r.Results()[0].Status)
		default:
		}
		return r.Results()[0].Status == status.Critical
	})
	if p.count() < 5 {
		t.Fatalf("turned critical after %d runs, want 5 (fall 2 must ignore the lone failure)", p.count())
	}
	got := r.Results()[0]
	if got.Output != "down 2" || got.Kind != "tcp" || got.CheckedAt.IsZero() || got.LatencyMS < 0 {
		t.Fatalf("result = %+v", got)
	}
	if len(seen) == 0 || seen[0] != status.Passing {
		t.Fatalf("Changed signalled states %v, want passing first", seen)
	}
	if v := testutil.ToFloat64(r.metrics.status.WithLabelValues("svc", "critical")); v != 1 {
		t.Errorf("status gauge critical = %v, want 1", v)
	}
	if v := testutil.ToFloat64(r.metrics.status.WithLabelValues("svc", "passing")); v != 0 {
		t.Errorf("status gauge passing = %v, want 0", v)
	}
	if v := testutil.ToFloat64(r.metrics.runs.WithLabelValues("svc", "critical")); v < 3 {
		t.Errorf("runs{critical} = %v, want at least 3", v)
	}
	if n, err := testutil.GatherAndCount(reg, "centralhub_agent_check_duration_seconds"); err != nil || n != 1 {
		t.Errorf("duration histogram series = %d, %v", n, err)
	}
}

func TestRunnerRunsEveryInterval(t *testing.T) {
	p := &scriptedProber{results: []Result{{status.Passing, "ok"}}}
	startRunner(t, []config.Check{{Name: "tick", Interval: 100 * time.Millisecond, TCP: &config.TCPCheck{Address: "unused:1"}}},
		func(r *Runner) { r.entries[0].prober = p })
	waitFor(t, "three runs", func() bool { return p.count() >= 3 })
}

func TestRunnerStartsUnknownAndStops(t *testing.T) {
	reg := prometheus.NewRegistry()
	r, err := NewRunner([]config.Check{
		{Name: "a", Interval: time.Hour, Timeout: time.Second, Rise: 1, Fall: 1, TCP: &config.TCPCheck{Address: "h:1"},
			Component: "kafka", Critical: true, ComponentMeta: map[string]string{"stand-in": "true"}},
		{Name: "b", Interval: time.Hour, Timeout: time.Second, Rise: 1, Fall: 1, TTL: &config.TTLCheck{TTL: time.Hour}},
	}, Options{Logger: discardLogger(), Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	res := r.Results()
	if len(res) != 2 || res[0].Name != "a" || res[1].Name != "b" || res[0].Status != status.Unknown || res[1].Status != status.Unknown {
		t.Fatalf("initial results = %+v, want a, b unknown in config order", res)
	}
	if a := res[0]; a.Component != "kafka" || !a.Critical || a.ComponentMeta["stand-in"] != "true" || len(a.ComponentMeta) != 1 {
		t.Errorf("result a = %+v, want component kafka, critical, component_meta stand-in", a)
	}
	if res[1].ComponentMeta != nil {
		t.Errorf("result b has component_meta %v, want none", res[1].ComponentMeta)
	}
	if v := testutil.ToFloat64(r.metrics.status.WithLabelValues("b", "unknown")); v != 1 {
		t.Errorf("status gauge unknown = %v, want 1", v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRunnerCapsOutput(t *testing.T) {
	p := &scriptedProber{results: []Result{{status.Warning, strings.Repeat("é", protocol.MaxOutput)}}}
	r, _ := startRunner(t, []config.Check{{Name: "big", TCP: &config.TCPCheck{Address: "unused:1"}}},
		func(r *Runner) { r.entries[0].prober = p })
	waitFor(t, "a result", func() bool { return r.Results()[0].Status == status.Warning })
	if out := r.Results()[0].Output; len(out) > protocol.MaxOutput || !strings.HasSuffix(out, "...") {
		t.Fatalf("output %d bytes, want at most %d ending in ...", len(out), protocol.MaxOutput)
	}
}

func TestTTL(t *testing.T) {
	r, _ := startRunner(t, []config.Check{
		{Name: "alive", TTL: &config.TTLCheck{TTL: time.Hour}},
		{Name: "web", Interval: time.Hour, TCP: &config.TCPCheck{Address: closedAddr(t)}},
	}, nil)
	if got := result(r, "alive"); got.Status != status.Unknown {
		t.Fatalf("before any update: %s, want unknown", got.Status)
	}
	steps := []struct {
		status status.Check
		output string
	}{
		{status.Passing, "ready"},
		{status.Warning, "queue filling"},
		{status.Critical, "queue full"},
		{status.Passing, ""},
	}
	for _, s := range steps {
		if err := r.UpdateTTL("alive", s.status, s.output); err != nil {
			t.Fatalf("UpdateTTL(%s): %v", s.status, err)
		}
		if got := result(r, "alive"); got.Status != s.status || got.Output != s.output {
			t.Fatalf("after UpdateTTL(%s, %q): %s %q", s.status, s.output, got.Status, got.Output)
		}
	}
	if err := r.UpdateTTL("nope", status.Passing, ""); !errors.Is(err, ErrUnknownCheck) {
		t.Errorf("unknown check: %v, want ErrUnknownCheck", err)
	}
	if err := r.UpdateTTL("web", status.Passing, ""); !errors.Is(err, ErrNotTTL) {
		t.Errorf("non-ttl check: %v, want ErrNotTTL", err)
	}
}

func TestTTLExpires(t *testing.T) {
	const ttl = 30 * time.Second
	clk := useFakeClock(t)
	r, _ := startRunner(t, []config.Check{{Name: "alive", TTL: &config.TTLCheck{TTL: ttl}}}, nil)
	if err := r.UpdateTTL("alive", status.Passing, "ok"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the watcher to wait on the clock", func() bool { return clk.waiting() > 0 })
	clk.Advance(ttl - time.Second)
	if got := result(r, "alive"); got.Status != status.Passing {
		t.Fatalf("a second before the TTL: %s", got.Status)
	}
	clk.Advance(time.Second)
	waitFor(t, "ttl to expire", func() bool { return result(r, "alive").Status == status.Critical })
	if got := result(r, "alive"); got.Output != "TTL expired: no update for 30s" {
		t.Fatalf("output %q", got.Output)
	}
	// An update revives it, and silence kills it again.
	if err := r.UpdateTTL("alive", status.Passing, "back"); err != nil {
		t.Fatal(err)
	}
	if got := result(r, "alive"); got.Status != status.Passing {
		t.Fatalf("after update: %s", got.Status)
	}
	waitFor(t, "the watcher to wait again", func() bool { return clk.waiting() > 0 })
	clk.Advance(ttl)
	waitFor(t, "ttl to expire again", func() bool { return result(r, "alive").Status == status.Critical })
}

func TestTTLExpiresWithoutAnyUpdate(t *testing.T) {
	clk := useFakeClock(t)
	r, _ := startRunner(t, []config.Check{{Name: "alive", TTL: &config.TTLCheck{TTL: time.Minute}}}, nil)
	waitFor(t, "the watcher to wait on the clock", func() bool { return clk.waiting() > 0 })
	if got := result(r, "alive"); got.Status != status.Unknown {
		t.Fatalf("before the TTL has passed since start: %s", got.Status)
	}
	clk.Advance(time.Minute)
	waitFor(t, "ttl to expire from start", func() bool { return result(r, "alive").Status == status.Critical })
}

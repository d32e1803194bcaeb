package check

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startRunner builds a runner for checks and runs it until the test ends.
func startRunner(t *testing.T, checks []config.Check, tweak func(r *Runner)) (*Runner, *prometheus.Registry) {
	t.Helper()
	for i := range checks {
		c := &checks[i]
		c.Interval = cmpOr(c.Interval, 100*time.Millisecond)
		c.Timeout = cmpOr(c.Timeout, c.Interval)
		c.Rise = cmpOr(c.Rise, 1)
		c.Fall = cmpOr(c.Fall, 1)
		if c.HTTP != nil {
			c.HTTP.ExpectStatus = cmpOr(c.HTTP.ExpectStatus, "200-299")
		}
	}
	reg := prometheus.NewRegistry()
	opts := Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: NewMetrics(reg)}
	if clk, ok := clocks[t.Name()]; ok {
		opts.Clock = clk
	}
	r, err := NewRunner(checks, opts)
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r, reg
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func cmpOr[T comparable](v, fallback T) T {
	var zero T
	if v == zero {
		return fallback
	}
	return v
}

func result(r *Runner, name string) protocol.CheckResult {
	for _, res := range r.Results() {
		if res.Name == name {
			return res
		}
	}
	return protocol.CheckResult{}
}

// clocks holds the fake clock a test registered with useFakeClock, by test name.
var clocks = map[string]Clock{}

// fakeClock is a Clock that moves only when a test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

// useFakeClock makes startRunner in this test use a fake clock, and returns it.
func useFakeClock(t *testing.T) *fakeClock {
	t.Helper()
	c := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	clocks[t.Name()] = c
	t.Cleanup(func() { delete(clocks, t.Name()) })
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	return ch
}

// waiting reports how many After channels have not fired yet.
func (c *fakeClock) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// Advance moves the clock by d and fires every waiter that is due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
		} else {
			w.ch <- c.now
		}
	}
	c.waiters = kept
}

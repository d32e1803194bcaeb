package check

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
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
	r, err := NewRunner(checks, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: NewMetrics(reg)})
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

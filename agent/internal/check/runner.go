package check

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// MaxJitter caps the random delay before a check's first run. The delay is uniform in
// [0, min(interval, MaxJitter)): checks of one agent spread out instead of firing together, yet
// an agent with long intervals still has every result within a couple of seconds of start-up.
const MaxJitter = 2 * time.Second

// Clock is the time source of TTL checks: their deadlines and expiries. Tests inject a fake
// one; scheduled checks measure real time.
type Clock interface {
	Now() time.Time
	// After delivers the time once d has passed (at once when d <= 0).
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options are the Runner's collaborators.
type Options struct {
	Logger    *slog.Logger // required
	Metrics   *Metrics     // required
	UserAgent string       // sent by http checks
	Clock     Clock        // for TTL checks; the real clock when nil
}

// Runner runs a fixed set of checks and keeps their latest damped results.
type Runner struct {
	log     *slog.Logger
	metrics *Metrics
	clock   Clock
	entries []*entry
	byName  map[string]*entry
	changed chan struct{} // one pending signal at most: status changes coalesce

	mu sync.Mutex // guards every entry's damper, result and ttl fields
}

type entry struct {
	name     string
	interval time.Duration
	timeout  time.Duration
	prober   Prober // nil for a ttl check
	ttl      time.Duration
	ttlPoke  chan struct{} // wakes the ttl goroutine after an update; capacity 1
	expires  time.Time     // ttl: when silence turns the check critical
	expired  bool          // ttl: the expiry has been recorded
	damper   damper
	result   protocol.CheckResult
}

// NewRunner builds a runner for checks, which must have passed config validation. Every check
// starts as unknown.
func NewRunner(checks []config.Check, opts Options) (*Runner, error) {
	if opts.Logger == nil || opts.Metrics == nil {
		return nil, errors.New("new runner: logger and metrics are required")
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	r := &Runner{
		log:     opts.Logger,
		metrics: opts.Metrics,
		clock:   opts.Clock,
		byName:  make(map[string]*entry, len(checks)),
		changed: make(chan struct{}, 1),
	}
	now := r.clock.Now()
	for i := range checks {
		c := &checks[i]
		if c.Interval <= 0 || c.Timeout <= 0 {
			return nil, fmt.Errorf("checks[%d]: interval and timeout must be greater than 0", i)
		}
		e := &entry{
			name:     c.Name,
			interval: c.Interval,
			timeout:  min(c.Timeout, c.Interval),
			damper:   newDamper(c.Rise, c.Fall),
			result: protocol.CheckResult{
				Name: c.Name, Kind: c.Kind(), Status: status.Unknown,
				Component: c.Component, Critical: c.Critical, Runbook: c.Runbook,
				ComponentMeta: maps.Clone(c.ComponentMeta), // shared, read-only, by every result
			},
		}
		if c.TTL != nil {
			e.ttl = c.TTL.TTL
			e.ttlPoke = make(chan struct{}, 1)
			e.expires = now.Add(e.ttl)
			e.damper = newDamper(1, 1)
		} else {
			p, err := newProber(c, opts.UserAgent)
			if err != nil {
				return nil, fmt.Errorf("checks[%d]: %w", i, err)
			}
			e.prober = p
		}
		if _, dup := r.byName[c.Name]; dup {
			return nil, fmt.Errorf("checks[%d]: duplicate name %q", i, c.Name)
		}
		r.entries = append(r.entries, e)
		r.byName[c.Name] = e
		r.metrics.setStatus(c.Name, status.Unknown)
	}
	return r, nil
}

// Run runs every check in its own goroutine until ctx ends, then waits for all of them to stop.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, e := range r.entries {
		if e.prober != nil {
			wg.Go(func() { r.schedule(ctx, e) })
		} else {
			wg.Go(func() { r.watchTTL(ctx, e) })
		}
	}
	wg.Wait()
	return nil
}

// Changed returns a channel that receives after any check's reported status changes. Signals
// coalesce: one receive may stand for several changes; read Results for the state.
func (r *Runner) Changed() <-chan struct{} { return r.changed }

// Results returns the latest damped result of every check, in configuration order.
func (r *Runner) Results() []protocol.CheckResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]protocol.CheckResult, len(r.entries))
	for i, e := range r.entries {
		out[i] = e.result
	}
	return out
}

// UpdateTTL records a status posted by the service for the ttl check name and restarts its TTL.
// It returns ErrUnknownCheck or ErrNotTTL when name is not a ttl check.
func (r *Runner) UpdateTTL(name string, st status.Check, output string) error {
	e, ok := r.byName[name]
	if !ok {
		return ErrUnknownCheck
	}
	if e.ttlPoke == nil {
		return ErrNotTTL
	}
	if !st.Valid() {
		return fmt.Errorf("update ttl: bad status %q", st)
	}
	now := r.clock.Now()
	r.mu.Lock()
	e.expires = now.Add(e.ttl)
	e.expired = false
	change := r.recordLocked(e, Result{st, output}, 0, now)
	r.mu.Unlock()
	r.announce(change)
	select {
	case e.ttlPoke <- struct{}{}:
	default:
	}
	return nil
}

// schedule runs one scheduled check: the first run after a jitter, then every interval.
func (r *Runner) schedule(ctx context.Context, e *entry) {
	timer := time.NewTimer(rand.N(min(e.interval, MaxJitter)))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		r.runOnce(ctx, e)
		timer.Reset(max(e.interval-time.Since(start), 0))
	}
}

func (r *Runner) runOnce(ctx context.Context, e *entry) {
	runCtx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	start := time.Now()
	res := e.prober.Probe(runCtx)
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return // the agent is stopping: a cut-short run says nothing about the service
	}
	if res.Status != status.Passing && errors.Is(runCtx.Err(), context.DeadlineExceeded) {
		msg := fmt.Sprintf("timed out after %s", e.timeout)
		if res.Output != "" {
			msg += "\n" + res.Output
		}
		res = Result{status.Critical, msg}
	}
	r.metrics.duration.WithLabelValues(e.name).Observe(elapsed.Seconds())
	r.record(e, res, elapsed, start)
}

// watchTTL turns a ttl check critical when its TTL passes without an update. Updates arrive
// through UpdateTTL, which moves the deadline and pokes this goroutine.
func (r *Runner) watchTTL(ctx context.Context, e *entry) {
	for {
		r.mu.Lock()
		wait := e.expires.Sub(r.clock.Now())
		if e.expired {
			wait = e.ttl // nothing to do until an update pokes us; wake at most once a ttl
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-e.ttlPoke:
			continue
		case <-r.clock.After(wait):
		}
		now := r.clock.Now()
		var change *statusChange
		r.mu.Lock()
		if !e.expired && !now.Before(e.expires) {
			e.expired = true
			change = r.recordLocked(e, Result{status.Critical, fmt.Sprintf("TTL expired: no update for %s", e.ttl)}, 0, now)
		}
		r.mu.Unlock()
		r.announce(change)
	}
}

// record applies one raw result of a scheduled run.
func (r *Runner) record(e *entry, res Result, latency time.Duration, at time.Time) {
	r.mu.Lock()
	change := r.recordLocked(e, res, latency, at)
	r.mu.Unlock()
	r.announce(change)
}

// statusChange is a change of one check's reported status, announced after the lock is released.
type statusChange struct {
	check    string
	from, to status.Check
	output   string
}

// recordLocked applies one raw result — flap damping, output cap, metrics — and returns the
// status change it caused, or nil. r.mu must be held.
func (r *Runner) recordLocked(e *entry, res Result, latency time.Duration, at time.Time) *statusChange {
	r.metrics.runs.WithLabelValues(e.name, string(res.Status)).Inc()
	prev := e.result.Status
	next := e.damper.observe(res.Status)
	e.result.Status = next
	e.result.Output = protocol.Truncate(res.Output, protocol.MaxOutput)
	e.result.LatencyMS = float64(latency.Microseconds()) / 1000
	e.result.CheckedAt = at.UTC()
	if next == prev {
		return nil
	}
	r.metrics.setStatus(e.name, next)
	return &statusChange{e.name, prev, next, e.result.Output}
}

// announce logs a status change and signals Changed without blocking.
func (r *Runner) announce(c *statusChange) {
	if c == nil {
		return
	}
	r.log.Info("check status changed", "check", c.check, "from", c.from, "to", c.to,
		"output", protocol.Truncate(c.output, 256))
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

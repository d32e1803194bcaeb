// Package registry is the hub's in-memory service registry: services → instances → checks,
// folded from agent reports, judged stale when their agent goes silent, and made durable
// through a hub.Store by one writer goroutine that group-commits state changes and batches
// heartbeats.
package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// Config tunes a Registry. DefaultConfig gives every default.
type Config struct {
	// StaleAfter is how many report intervals may pass without a report before the
	// instance turns critical.
	StaleAfter int
	// DeregisterAfter is how long after its last report a silent instance is removed.
	DeregisterAfter time.Duration
	// FlushInterval is how often heartbeats (reports that change no state) are written.
	// DESIGN.md bounds it at one second.
	FlushInterval time.Duration
	// RatePerInstance is how many reports a second one instance may send (with a burst of
	// as many) before Apply refuses with ErrRateLimited; 0 means no limit.
	RatePerInstance float64
	// HistoryInterval is how often at most an instance's state is sampled into history.
	HistoryInterval time.Duration
	// HistoryQueue bounds the history samples, and separately the transitions, held in memory
	// while the store is unreachable; past it new ones are dropped and counted.
	HistoryQueue int
	// WriteTimeout bounds one store write, so an unreachable store never holds the writer.
	WriteTimeout time.Duration
	// RetryMax caps the backoff between store write attempts while the store fails.
	RetryMax time.Duration
	// Now is the clock; tests inject a fake one.
	Now func() time.Time
}

// DefaultConfig returns the defaults of DESIGN.md.
func DefaultConfig() Config {
	return Config{
		StaleAfter:      3,                // missed intervals before critical
		DeregisterAfter: 10 * time.Minute, // silence before removal
		FlushInterval:   time.Second,      // heartbeat batch period
		RatePerInstance: 20,               // reports/s per instance before 429
		HistoryInterval: 10 * time.Second, // history sample period per instance
		HistoryQueue:    100_000,          // samples (and transitions) held while the store is away
		WriteTimeout:    10 * time.Second, // one store write
		RetryMax:        30 * time.Second, // backoff cap while the store fails
		Now:             time.Now,
	}
}

// Validate reports the first unusable setting, naming it.
func (c Config) Validate() error {
	switch {
	case c.StaleAfter < 1:
		return errors.New("registry.stale_after: must be at least 1 (missed intervals)")
	case c.DeregisterAfter <= 0:
		return errors.New("registry.deregister_after: must be positive")
	case c.FlushInterval <= 0:
		return errors.New("registry.flush_interval: must be positive")
	case c.RatePerInstance < 0:
		return errors.New("ingest.rate_per_instance: must not be negative")
	case c.HistoryInterval < time.Second:
		return errors.New("history.interval: must be at least 1s")
	case c.HistoryQueue < 1:
		return errors.New("history.queue: must be at least 1")
	case c.WriteTimeout <= 0:
		return errors.New("registry.write_timeout: must be positive")
	case c.RetryMax <= 0:
		return errors.New("registry.retry_max: must be positive")
	}
	return nil
}

// Errors returned by Apply.
var (
	// ErrRateLimited means the instance sent more reports than Config.RatePerInstance allows.
	ErrRateLimited = errors.New("too many reports from this instance")
	// ErrStopped means the registry's writer has stopped (the hub is shutting down).
	ErrStopped = errors.New("registry stopped")
)

// Outcome says what Apply did with a report.
type Outcome int

// The outcomes of Apply.
const (
	// Stored: a state change, durable in the store when Apply returns.
	Stored Outcome = iota
	// Heartbeat: no state changed; the report is kept in memory and written with the next batch.
	Heartbeat
	// Ignored: older than (or the same as) the newest report held for that instance.
	Ignored
	// Queued: a state change kept in memory because the store write failed; it is retried.
	Queued
)

// String names the outcome for responses and metrics.
func (o Outcome) String() string {
	return [...]string{"stored", "heartbeat", "ignored", "queued"}[o]
}

// Result is Apply's answer.
type Result struct {
	Outcome Outcome
	Status  status.Check // the instance's status after the report
	Reason  string       // for Ignored and Queued: why
}

type entry struct {
	in     hub.Instance
	status status.Check
	// unsynced is set while a state change of this instance is not yet durable; ver counts
	// state changes, so a write clears unsynced only if no newer change came meanwhile.
	unsynced bool
	ver      uint64
	// heard is when the hub last heard from the agent, for staleness: the report time, or the
	// hub's start for an instance loaded from the store, so the hub's own downtime never
	// counts as the agent's silence.
	heard time.Time
	// token bucket for Config.RatePerInstance
	tokens float64
	refill time.Time
	// sampled is when the instance's last history sample was taken.
	sampled time.Time
	// wrote is when a state change of the instance was last written.
	wrote time.Time
}

type serviceKey struct{ tenant, name string }

type service struct {
	key       serviceKey
	instances map[string]*entry
	// agg caches what views need of the service as a whole; nil after any change to it.
	// Writers clear it under r.mu; readers fill it under r.mu's read lock, so two readers may
	// compute the same value.
	agg atomic.Pointer[serviceAgg]
	// gen is the registry generation of the service's last change (under r.mu).
	gen uint64
}

type writeRequest struct {
	all  bool // heartbeats too, not only state changes
	done chan error
}

// Registry holds every instance in memory and persists them. It is safe for concurrent use.
type Registry struct {
	cfg   Config
	store hub.Store
	log   *slog.Logger

	mu       sync.RWMutex
	services map[serviceKey]*service
	count    int                               // instances
	changes  map[hub.InstanceKey]struct{}      // state changes (puts or deletes) for the next commit
	dirty    map[hub.InstanceKey]hub.Heartbeat // heartbeats for the next once-a-second batch

	closed       bool          // after the final flush: Apply refuses, so nothing is answered and lost
	inflight     atomic.Int64  // state changes taken by the writer, not yet written
	gen          atomic.Uint64 // bumped on every change of any status, instance or service
	pendingBeats atomic.Int64  // heartbeats the writer has taken and not yet written
	writes       chan writeRequest
	stopped      chan struct{}
	failing      atomic.Bool // the last store write failed
	lastErr      atomic.Pointer[string]
	flushes      atomic.Uint64
	writeErr     atomic.Uint64

	summaries sync.Map // tenant filter → *cachedSummary
	graphs    sync.Map // tenant filter → *cachedGraph
	troubles  troublesCache

	// History waiting for the writer (under mu): transitions go with the next state-change
	// commit, samples with the next heartbeat batch.
	transitions        []hub.Transition
	samples            []hub.Sample
	queuedSamples      atomic.Int64 // samples not yet durable, the writer's included
	droppedSamples     atomic.Uint64
	droppedTransitions atomic.Uint64
	dropping           atomic.Bool // history is being dropped (logged once until it stops)
	// retry paces store writes while they fail; only the writer goroutine touches it.
	retry backoff
	// follower is set while another hub leads (see SetLeader).
	follower atomic.Bool
	// deleting holds the instances whose removal the writer is writing (under mu): another
	// hub's copy must not bring them back meanwhile.
	deleting map[hub.InstanceKey]struct{}
	// maintenance says whether a service is inside a maintenance window (the alert engine's
	// silences); nil until SetMaintenance.
	maintenance atomic.Pointer[func(tenant, service string) bool]
}

// SetMaintenance installs what tells whether a service is in a maintenance window, for the
// dashboard's "in maintenance".
func (r *Registry) SetMaintenance(f func(tenant, service string) bool) { r.maintenance.Store(&f) }

func (r *Registry) inMaintenance(tenant, service string) bool {
	if f := r.maintenance.Load(); f != nil {
		return (*f)(tenant, service)
	}
	return false
}

// New returns a registry over store, loaded with what the store holds. Call Run to start its
// writer.
func New(ctx context.Context, cfg Config, store hub.Store, log *slog.Logger) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Registry{
		cfg: cfg, store: store, log: log.With("component", "registry"),
		services: make(map[serviceKey]*service),
		changes:  make(map[hub.InstanceKey]struct{}),
		dirty:    make(map[hub.InstanceKey]hub.Heartbeat),
		deleting: make(map[hub.InstanceKey]struct{}),
		writes:   make(chan writeRequest, 1024),
		stopped:  make(chan struct{}),
	}
	loaded, err := store.LoadInstances(ctx)
	if err != nil {
		return nil, fmt.Errorf("load registry: %w", err)
	}
	start := cfg.Now()
	for i := range loaded {
		in := loaded[i]
		e := &entry{in: in, status: in.Status(), heard: start, tokens: cfg.RatePerInstance, refill: start}
		r.serviceFor(in.Key, true).instances[in.Key.Instance] = e
		r.count++
	}
	r.gen.Add(1)
	r.log.Info("registry loaded", "instances", r.count)
	return r, nil
}

func (r *Registry) serviceFor(k hub.InstanceKey, create bool) *service {
	sk := serviceKey{k.Tenant, k.Service}
	s := r.services[sk]
	if s == nil && create {
		s = &service{key: sk, instances: make(map[string]*entry)}
		r.services[sk] = s
	}
	return s
}

// Apply folds a validated report from tenant into the registry. A report that changes any
// state is durable in the store before Apply returns (Stored); one that changes nothing is
// kept in memory and written within FlushInterval (Heartbeat). Apply keeps no reference to
// rep.Checks, so the caller may reuse it.
func (r *Registry) Apply(ctx context.Context, rep *protocol.Report) (Result, error) {
	now := r.cfg.Now()
	key := hub.InstanceKey{Tenant: rep.Tenant, Service: rep.Service, Instance: rep.Instance}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return Result{}, ErrStopped
	}
	svc := r.serviceFor(key, true)
	e := svc.instances[key.Instance]
	if e != nil {
		if !r.allow(e, now) {
			r.mu.Unlock()
			return Result{}, ErrRateLimited
		}
		if rep.Boot < e.in.Boot || (rep.Boot == e.in.Boot && rep.Seq <= e.in.Seq) {
			res := Result{Outcome: Ignored, Status: e.status,
				Reason: fmt.Sprintf("stale report: have boot %d seq %d", e.in.Boot, e.in.Seq)}
			pending := e.unsynced
			r.mu.Unlock()
			if pending {
				// A retry of a report whose state change is not yet durable (its first
				// request may have gone before the write finished): make it durable before
				// answering, so a 200 always means "on disk".
				if err := r.persist(ctx, false); err != nil {
					return r.persistFailed(ctx, res.Status, err)
				}
			}
			return res, nil
		}
	}
	next := fromReport(rep, now) // its Checks are rep's: copied below before anything keeps them
	isNew := e == nil
	changed := isNew
	if isNew {
		e = &entry{tokens: r.cfg.RatePerInstance - 1, refill: now}
		svc.instances[key.Instance] = e
		r.count++
	} else {
		next.FirstSeen = e.in.FirstSeen
		next.Key = e.in.Key // the same key: keep one copy of its strings
		if next.Boot == e.in.Boot {
			keepBootFields(&e.in, &next)
			next.Unreachable = e.in.Unreachable // only gossip, or a new boot, ends it
		}
		changed = stateChanged(&e.in, &next)
		if !changed && outputsChanged(&e.in, &next) {
			r.touch(svc) // what a summary says of a failing check follows its output
		}
	}
	if changed {
		next.Checks = slices.Clone(next.Checks)
		nextStatus := next.Status()
		if isNew {
			r.recordAppeared(&next, nextStatus, now)
		} else {
			r.recordChange(&e.in, e.status, &next, nextStatus, now, "")
		}
		e.in = next
		e.status = nextStatus
	} else {
		// A heartbeat: same boot, same checks and statuses. Only what a run measures moves.
		for i := range e.in.Checks {
			c, n := &e.in.Checks[i], &next.Checks[i]
			c.Output, c.LatencyMS, c.CheckedAt = n.Output, n.LatencyMS, n.CheckedAt
		}
		e.in.Seq, e.in.LastSeen = next.Seq, now
	}
	e.heard = now
	if now.Sub(e.sampled) >= r.cfg.HistoryInterval {
		r.sample(e, now)
	}
	st := e.status
	if !changed {
		r.dirty[key] = hub.Heartbeat{Key: key, Boot: next.Boot, Seq: next.Seq, LastSeen: now}
		pending := e.unsynced
		r.mu.Unlock()
		if pending {
			// The state this heartbeat repeats is not durable yet (the store is failing, or
			// its write is under way): answer as for the change itself.
			if err := r.persist(ctx, false); err != nil {
				return r.persistFailed(ctx, st, err)
			}
		}
		return Result{Outcome: Heartbeat, Status: st}, nil
	}
	r.changes[key] = struct{}{}
	e.unsynced = true
	e.ver++
	r.touch(svc)
	r.mu.Unlock()

	if err := r.persist(ctx, false); err != nil {
		return r.persistFailed(ctx, st, err)
	}
	return Result{Outcome: Stored, Status: st}, nil
}

// touch records a change to svc: its cached aggregate is dropped and the generation that
// cached summaries are checked against moves on; r.mu is held for writing.
func (r *Registry) touch(svc *service) {
	svc.agg.Store(nil)
	svc.gen = r.gen.Add(1)
}

// persistFailed answers Apply when a state change could not be made durable: it stays in
// memory, dirty, and the writer retries it.
func (r *Registry) persistFailed(ctx context.Context, st status.Check, err error) (Result, error) {
	if errors.Is(err, ErrStopped) || ctx.Err() != nil {
		return Result{}, err
	}
	return Result{Outcome: Queued, Status: st, Reason: "store unavailable; kept in memory and retried"}, nil
}

// outputsChanged reports whether a non-passing check's output differs between prev and next,
// which have the same checks in the same order.
func outputsChanged(prev, next *hub.Instance) bool {
	for i := range next.Checks {
		if next.Checks[i].Status != status.Passing && next.Checks[i].Output != prev.Checks[i].Output {
			return true
		}
	}
	return false
}

// allow spends one token of e's bucket; r.mu is held.
func (r *Registry) allow(e *entry, now time.Time) bool {
	rate := r.cfg.RatePerInstance
	if rate <= 0 {
		return true
	}
	e.tokens = min(rate, e.tokens+now.Sub(e.refill).Seconds()*rate)
	e.refill = now
	if e.tokens < 1 {
		return false
	}
	e.tokens--
	return true
}

func fromReport(rep *protocol.Report, now time.Time) hub.Instance {
	for i := range rep.Checks {
		rep.Checks[i].Status = canonical(rep.Checks[i].Status)
	}
	return hub.NewInstance(rep, now)
}

// keepBootFields makes next, a report of the same boot as prev, share prev's values of what is
// fixed within a boot (the protocol says so: what comes from the agent's configuration), and of
// statuses and outputs that did not change. The registry then keeps one copy of each across
// reports instead of the fresh strings every decoded report brings, which leaves the garbage
// collector fewer live objects to mark.
func keepBootFields(prev, next *hub.Instance) {
	next.Address, next.Agent, next.Runbook = prev.Address, prev.Agent, prev.Runbook
	next.Tags, next.Meta, next.DependsOn, next.Interval = prev.Tags, prev.Meta, prev.DependsOn, prev.Interval
	if len(prev.Checks) != len(next.Checks) {
		return
	}
	for i := range next.Checks {
		p, n := &prev.Checks[i], &next.Checks[i]
		if p.Name != n.Name {
			continue
		}
		n.Name, n.Kind, n.Component, n.Critical, n.Runbook = p.Name, p.Kind, p.Component, p.Critical, p.Runbook
		n.ComponentMeta = p.ComponentMeta
		if p.Output == n.Output {
			n.Output = p.Output
		}
	}
}

// canonical returns the constant for a validated status word, so that no decoded copy of it
// stays live.
func canonical(c status.Check) status.Check {
	switch c {
	case status.Passing:
		return status.Passing
	case status.Warning:
		return status.Warning
	case status.Critical:
		return status.Critical
	}
	return status.Unknown
}

// stateChanged reports whether next is a state change over prev: a new boot (which is when
// anything from the agent's configuration can change: address, runbook, tags, meta,
// depends_on, interval, the set of checks and what they probe), staleness ending, the number of
// checks, a check's status, or the config state. Outputs, latencies and times are not state.
func stateChanged(prev, next *hub.Instance) bool {
	if prev.Boot != next.Boot || prev.Stale != next.Stale || prev.Unreachable != next.Unreachable || len(prev.Checks) != len(next.Checks) ||
		prev.Config.Status != next.Config.Status || prev.Config.Version != next.Config.Version ||
		!slices.Equal(prev.Config.Problems, next.Config.Problems) {
		return true
	}
	for i := range prev.Checks {
		if prev.Checks[i].Status != next.Checks[i].Status || prev.Checks[i].Name != next.Checks[i].Name {
			return true
		}
	}
	return false
}

// persist asks the writer to make every pending state change durable (and with all, every
// pending heartbeat) and waits for it. The request is handed over whatever ctx says, so a
// caller that gives up still gets its change written.
func (r *Registry) persist(ctx context.Context, all bool) error {
	req := writeRequest{all: all, done: make(chan error, 1)}
	select {
	case r.writes <- req:
	case <-r.stopped:
		return ErrStopped
	}
	select {
	case err := <-req.done:
		return err
	case <-r.stopped:
		select {
		case err := <-req.done:
			return err
		default:
			return ErrStopped
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// heartbeatChunk is how many heartbeat records one transaction of the once-a-second batch
// writes; state changes are committed between chunks, so none waits for a whole batch.
const heartbeatChunk = 1000

// Run is the registry's writer. It group-commits state changes as they come (a commit carries
// only state changes, so it stays small and quick); every FlushInterval it judges staleness and
// takes the heartbeats recorded since the last batch, which it then writes in chunks between
// state-change commits; on ctx's end it writes everything left.
func (r *Registry) Run(ctx context.Context) error {
	defer close(r.stopped)
	wctx := context.WithoutCancel(ctx)
	tick := time.NewTicker(r.cfg.FlushInterval)
	defer tick.Stop()
	beats := &heartbeats{} // taken, not yet written; only this goroutine touches it
	chunkFailed := false   // a chunk failed: wait for the next tick before trying again
	for {
		if beats.pending() && !chunkFailed { // a chunk, unless a state change or the end is waiting
			select {
			case req := <-r.writes:
				r.serve(wctx, req, beats)
			case <-ctx.Done():
				return r.final(wctx, beats)
			default:
				chunkFailed = r.writeHeartbeats(wctx, beats, heartbeatChunk) != nil
			}
			continue
		}
		select {
		case req := <-r.writes:
			r.serve(wctx, req, beats)
		case <-tick.C:
			chunkFailed = false
			r.sweep()
			_ = r.writeChanges(wctx)
			r.takeHeartbeats(beats)
		case <-ctx.Done():
			return r.final(wctx, beats)
		}
	}
}

// heartbeats are the writer's taken, unwritten heartbeats, one per instance, sorted by store
// key: a chunk is then a narrow key range, so each transaction rewrites few store pages.
type heartbeats struct {
	sorted  []hub.Heartbeat
	samples []hub.Sample // history samples in the order taken
}

// pending reports whether anything taken is still to be written.
func (b *heartbeats) pending() bool { return len(b.sorted) > 0 || len(b.samples) > 0 }

// sampleChunk is how many history samples one heartbeat transaction carries at most.
const sampleChunk = 500

func compareKeys(a, b hub.InstanceKey) int {
	return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Service, b.Service), cmp.Compare(a.Instance, b.Instance))
}

// serve answers req and the requests queued behind it with one commit of the pending state
// changes; when one of them asks for everything (Flush, Sweep), every heartbeat is written too.
func (r *Registry) serve(ctx context.Context, req writeRequest, beats *heartbeats) {
	batch := append([]writeRequest{req}, r.drainPending()...)
	all := false
	for _, w := range batch {
		all = all || w.all
	}
	if all {
		r.retry.succeeded() // an explicit flush is an attempt now, whatever the pacing says
	}
	err := r.writeChanges(ctx)
	if all && err == nil {
		r.takeHeartbeats(beats)
		err = r.writeAllHeartbeats(ctx, beats)
	}
	for _, w := range batch {
		w.done <- err
	}
}

// writeAllHeartbeats writes every taken heartbeat and history sample, a chunk of samples per
// transaction, until none is left or a write fails.
func (r *Registry) writeAllHeartbeats(ctx context.Context, beats *heartbeats) error {
	for beats.pending() {
		if err := r.writeHeartbeats(ctx, beats, 0); err != nil {
			return err
		}
	}
	return nil
}

// final writes everything left when the registry stops.
func (r *Registry) final(ctx context.Context, beats *heartbeats) error {
	r.mu.Lock()
	r.closed = true // from here Apply answers ErrStopped: nothing is accepted that is not written
	r.mu.Unlock()
	r.retry.succeeded() // one last attempt, whatever the pacing says
	batch := r.drainPending()
	err := r.writeChanges(ctx)
	if err == nil {
		r.takeHeartbeats(beats)
		err = r.writeAllHeartbeats(ctx, beats)
	}
	for _, w := range batch {
		w.done <- err
	}
	if err != nil {
		return fmt.Errorf("final flush: %w", err)
	}
	return nil
}

func (r *Registry) drainPending() []writeRequest {
	var batch []writeRequest
	for {
		select {
		case w := <-r.writes:
			batch = append(batch, w)
		default:
			return batch
		}
	}
}

// writeChanges writes the pending state changes, each instance whole as it is now (or deleted
// when it is gone), in one store transaction. An instance counts as durable (unsynced cleared)
// only once the write succeeded, and only if no newer change came meanwhile. On failure the
// changes stay pending.
func (r *Registry) writeChanges(ctx context.Context) error {
	type taken struct {
		e   *entry
		ver uint64
	}
	r.mu.Lock()
	if len(r.changes) == 0 && len(r.transitions) == 0 {
		r.mu.Unlock()
		return nil
	}
	changes := r.changes
	r.changes = make(map[hub.InstanceKey]struct{})
	r.inflight.Store(int64(len(changes)))
	w := hub.Writes{Transitions: r.transitions}
	r.transitions = nil
	var synced []taken
	for k := range changes {
		if e := r.lookup(k); e == nil {
			w.Deletes = append(w.Deletes, k)
			r.deleting[k] = struct{}{}
		} else {
			in := e.in
			in.Checks = slices.Clone(in.Checks) // heartbeats update the registry's copy in place
			w.Puts = append(w.Puts, in)
			synced = append(synced, taken{e, e.ver})
		}
	}
	r.mu.Unlock()

	err := r.write(ctx, w)
	var refused *hub.RefusedPutsError
	if errors.As(err, &refused) {
		err = nil // the rest committed
	}
	now := r.cfg.Now()
	r.mu.Lock()
	clear(r.deleting)
	if err != nil {
		for k := range changes {
			r.changes[k] = struct{}{}
		}
		r.transitions = append(w.Transitions, r.transitions...) // in order, ahead of newer ones
	} else {
		for _, t := range synced {
			t.e.wrote = now
			if t.e.ver == t.ver {
				t.e.unsynced = false
			}
		}
		if len(r.transitions) < r.cfg.HistoryQueue && r.queuedSamples.Load() < int64(r.cfg.HistoryQueue) {
			r.dropping.Store(false)
		}
	}
	r.inflight.Store(0)
	r.mu.Unlock()
	if refused != nil {
		// The store holds newer reports of these (another hub wrote them): this hub's copy
		// was older, so it takes the store's.
		rctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
		if rerr := r.ReadBack(rctx, refused.Keys); rerr != nil {
			r.log.Warn("reading back instances another hub wrote failed; they are read again on its notice", "err", rerr)
		}
		cancel()
	}
	return err
}

// takeHeartbeats moves the heartbeats recorded by ingest into beats (newer over older).
func (r *Registry) takeHeartbeats(beats *heartbeats) {
	r.mu.Lock()
	taken := r.dirty
	r.dirty = make(map[hub.InstanceKey]hub.Heartbeat, len(taken))
	beats.samples = append(beats.samples, r.samples...)
	r.samples = nil
	// Counted as pending before the lock is released, so the pending count never dips to 0
	// while these are on their way to the store (loadgen drain relies on that).
	r.pendingBeats.Add(int64(len(taken)))
	r.mu.Unlock()
	if len(taken) == 0 {
		return
	}
	for _, h := range beats.sorted { // left from the previous batch: keep unless superseded
		if _, newer := taken[h.Key]; !newer {
			taken[h.Key] = h
		}
	}
	sorted := make([]hub.Heartbeat, 0, len(taken))
	for _, h := range taken {
		sorted = append(sorted, h)
	}
	slices.SortFunc(sorted, func(a, b hub.Heartbeat) int { return compareKeys(a.Key, b.Key) })
	beats.sorted = sorted
	r.pendingBeats.Store(int64(len(sorted)))
}

// writeHeartbeats writes the first n (all when n is 0) of beats in one transaction and removes
// them from beats; those of instances gone meanwhile are dropped. On failure they stay.
func (r *Registry) writeHeartbeats(ctx context.Context, beats *heartbeats, n int) error {
	if !beats.pending() {
		return nil
	}
	if n <= 0 || n > len(beats.sorted) {
		n = len(beats.sorted)
	}
	chunk := beats.sorted[:n]
	w := hub.Writes{Heartbeats: make([]hub.Heartbeat, 0, n), Samples: beats.samples[:min(len(beats.samples), sampleChunk)]}
	for _, h := range chunk {
		r.mu.RLock() // per lookup: ingest never waits for a whole chunk
		e := r.lookup(h.Key)
		deferred := e != nil && e.unsynced
		r.mu.RUnlock()
		switch {
		case deferred:
			// Its state change is not durable yet: a heartbeat record must not carry the
			// new seq ahead of it. The next batch takes it again.
			r.mu.Lock()
			if _, newer := r.dirty[h.Key]; !newer {
				r.dirty[h.Key] = h
			}
			r.mu.Unlock()
		case e != nil:
			w.Heartbeats = append(w.Heartbeats, h)
		}
	}
	err := r.write(ctx, w)
	if err == nil {
		beats.sorted = beats.sorted[n:]
		beats.samples = beats.samples[len(w.Samples):]
		if len(beats.samples) == 0 {
			beats.samples = nil // let the backing array go
		}
		if r.queuedSamples.Add(-int64(len(w.Samples))) < int64(r.cfg.HistoryQueue) {
			r.dropping.Store(false)
		}
	}
	r.pendingBeats.Store(int64(len(beats.sorted)))
	return err
}

// ErrStoreDown is the answer of a write the writer did not attempt: the store failed and the
// next attempt is not due yet.
var ErrStoreDown = errors.New("store unavailable")

// write makes one store write within WriteTimeout, unless the store is failing and its next
// attempt is not due: then it fails at once, so that nothing waits on a store that is away.
// Only the writer goroutine calls it.
func (r *Registry) write(ctx context.Context, w hub.Writes) error {
	if w.Empty() {
		return nil
	}
	now := time.Now() // backoff is wall-clock pacing, not registry time
	if !r.retry.due(now) {
		return fmt.Errorf("%w (retrying in %s)", ErrStoreDown, r.retry.next.Sub(now).Round(time.Millisecond))
	}
	wctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
	err := r.store.WriteInstances(wctx, w)
	cancel()
	var refused *hub.RefusedPutsError
	if err != nil && !errors.As(err, &refused) {
		r.retry.failed(time.Now(), min(r.cfg.FlushInterval, r.cfg.RetryMax), r.cfg.RetryMax)
		return r.wrote(err)
	}
	r.retry.succeeded()
	_ = r.wrote(nil)
	return err
}

// wrote records the outcome of a store write for health and metrics.
func (r *Registry) wrote(err error) error {
	if err != nil {
		r.writeErr.Add(1)
		msg := err.Error()
		r.lastErr.Store(&msg)
		if !r.failing.Swap(true) {
			r.log.Error("store write failed; keeping changes in memory and retrying", "err", err)
		}
		return err
	}
	r.flushes.Add(1)
	if r.failing.Swap(false) {
		r.log.Info("store writes recovered")
	}
	return nil
}

func (r *Registry) lookup(k hub.InstanceKey) *entry {
	s := r.services[serviceKey{k.Tenant, k.Service}]
	if s == nil {
		return nil
	}
	return s.instances[k.Instance]
}

// sweep marks instances stale after StaleAfter missed intervals and removes those silent for
// DeregisterAfter; both are state changes, written by the flush that follows.
func (r *Registry) sweep() {
	if r.follower.Load() {
		return // the leader judges staleness; its changes come back through ApplyRemote
	}
	now := r.cfg.Now()
	r.mu.RLock()
	svcs := make([]*service, 0, len(r.services))
	for _, s := range r.services {
		svcs = append(svcs, s)
	}
	r.mu.RUnlock()
	// One service at a time, so that ingest never waits for a pass over the whole registry.
	for _, s := range svcs {
		r.sweepService(s, now)
	}
}

// sweepService judges the instances of one service; it takes r.mu for that service only.
func (r *Registry) sweepService(s *service, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.services[s.key] != s {
		return // removed since the snapshot
	}
	changed := false
	for name, e := range s.instances {
		silent := now.Sub(e.heard)
		switch {
		case silent > r.cfg.DeregisterAfter:
			r.recordGone(&e.in, e.status, now, hub.ReasonDeregistered)
			delete(s.instances, name)
			r.count--
			r.changes[e.in.Key] = struct{}{}
			delete(r.dirty, e.in.Key) // no heartbeat record may outlive the instance
			changed = true
			r.log.Info("instance deregistered", "instance", e.in.Key.String(), "silent", silent.Round(time.Second).String())
		case !e.in.Stale && silent > time.Duration(r.cfg.StaleAfter)*e.in.Interval:
			r.recordInstance(e.in.Key, e.status, status.Critical, now, hub.ReasonStale)
			e.in.Stale = true
			e.unsynced = true
			e.ver++
			e.status = status.Critical
			r.changes[e.in.Key] = struct{}{}
			changed = true
			r.log.Warn("instance stale", "instance", e.in.Key.String(), "silent", silent.Round(time.Second).String())
		case e.in.Stale && silent <= time.Duration(r.cfg.StaleAfter)*e.in.Interval:
			// Heard again through the store (it reports to another hub, which has not
			// written a state change since): no longer stale.
			prev := e.status
			e.in.Stale = false
			e.status = e.in.Status()
			r.recordInstance(e.in.Key, prev, e.status, now, hub.ReasonReporting)
			e.unsynced = true
			e.ver++
			r.changes[e.in.Key] = struct{}{}
			changed = true
		}
		// Silence counts against uptime: an instance stale or unreachable and not heard within
		// the interval (no hub sampled it from a report) is sampled critical here.
		if (e.in.Stale || e.in.Unreachable) && now.Sub(e.sampled) >= r.cfg.HistoryInterval && silent >= r.cfg.HistoryInterval && s.instances[name] == e {
			r.sample(e, now)
		}
	}
	if changed {
		r.touch(s)
	}
	if len(s.instances) == 0 {
		delete(r.services, s.key)
	}
}

// Sweep runs one staleness pass and writes its changes; the writer does this every
// FlushInterval, and tests with a fake clock call it directly.
func (r *Registry) Sweep(ctx context.Context) error {
	r.sweep()
	return r.persist(ctx, true)
}

// Flush writes everything not yet durable and waits for it.
func (r *Registry) Flush(ctx context.Context) error { return r.persist(ctx, true) }

// StoreHealth reports whether the last store write failed, with its error.
func (r *Registry) StoreHealth() (ok bool, lastErr string) {
	if p := r.lastErr.Load(); p != nil {
		lastErr = *p
	}
	return !r.failing.Load(), lastErr
}

// Counts are how many services and instances a caller can see.
type Counts struct {
	Services  int `json:"services"`
	Instances int `json:"instances"`
}

// Counts returns the number of visible services and instances.
func (r *Registry) Counts(visible Visibility) Counts {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var c Counts
	for _, s := range r.services {
		if visible(s.key.tenant) {
			c.Services++
			c.Instances += len(s.instances)
		}
	}
	return c
}

// StoreStats are the registry's write-path counters, hub-wide.
type StoreStats struct {
	PendingWrites int    `json:"pending_writes"`
	Writes        uint64 `json:"writes"`
	WriteErrors   uint64 `json:"write_errors"`
	Healthy       bool   `json:"healthy"`
	LastError     string `json:"last_error,omitempty"`
}

// StoreStats returns the write-path counters.
func (r *Registry) StoreStats() StoreStats {
	r.mu.RLock()
	st := StoreStats{PendingWrites: len(r.changes) + len(r.dirty) + int(r.pendingBeats.Load()) + int(r.inflight.Load())}
	r.mu.RUnlock()
	st.Writes = r.flushes.Load()
	st.WriteErrors = r.writeErr.Load()
	st.Healthy, st.LastError = r.StoreHealth()
	return st
}

// GossipChange is what gossip says of an instance's agent.
type GossipChange int

// The gossip changes the registry acts on.
const (
	GossipFailed GossipChange = iota // unreachable: the instance turns critical
	GossipAlive                      // joined or rejoined: back to its reported state
	GossipLeft                       // left gracefully: the instance is deregistered, no alarm
	GossipReaped                     // forgotten by the cluster: the instance is removed
)

// String names the change for logs.
func (c GossipChange) String() string {
	switch c {
	case GossipFailed:
		return "failed"
	case GossipAlive:
		return "alive"
	case GossipLeft:
		return "left"
	case GossipReaped:
		return "reaped"
	}
	return fmt.Sprintf("GossipChange(%d)", int(c))
}

// ApplyGossip folds what gossip says of key's agent, whose member carries boot, into the
// registry. Gossip carries liveness only: unless key's instance has reported with that boot,
// known is false and nothing changes — an instance that never reported is not created, and
// news of an earlier (or later) process of the same agent leaves the registered one alone.
// lastReport is when the instance last reported. A change is durable in the store before
// ApplyGossip returns, unless ctx ends first (it is then written by the next flush).
func (r *Registry) ApplyGossip(ctx context.Context, key hub.InstanceKey, boot int64, change GossipChange) (known bool, lastReport time.Time, err error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return false, time.Time{}, ErrStopped
	}
	svc := r.serviceFor(key, false)
	var e *entry
	if svc != nil {
		e = svc.instances[key.Instance]
	}
	if e == nil || e.in.Boot != boot {
		r.mu.Unlock()
		return false, time.Time{}, nil
	}
	lastReport = e.in.LastSeen
	if r.follower.Load() {
		r.mu.Unlock()
		return true, lastReport, nil // the leader acts on gossip; its changes come back here
	}
	changed := false
	switch change {
	case GossipFailed, GossipAlive:
		if want := change == GossipFailed; e.in.Unreachable != want {
			e.in.Unreachable = want
			reason := hub.ReasonReachable
			if want {
				reason = hub.ReasonUnreachable
			}
			prev := e.status
			e.status = e.in.Status()
			r.recordInstance(key, prev, e.status, r.cfg.Now(), reason)
			e.unsynced = true
			e.ver++
			changed = true
		}
	case GossipLeft, GossipReaped:
		reason := hub.ReasonLeft
		if change == GossipReaped {
			reason = hub.ReasonDeregistered
		}
		r.recordGone(&e.in, e.status, r.cfg.Now(), reason)
		delete(svc.instances, key.Instance)
		r.count--
		delete(r.dirty, key) // no heartbeat record may outlive the instance
		if len(svc.instances) == 0 {
			delete(r.services, svc.key)
		}
		changed = true
	}
	if !changed {
		r.mu.Unlock()
		return true, lastReport, nil
	}
	r.changes[key] = struct{}{}
	r.touch(svc)
	r.mu.Unlock()
	if err := r.persist(ctx, false); err != nil {
		return true, lastReport, fmt.Errorf("apply gossip %s of %s: %w", change, key, err)
	}
	return true, lastReport, nil
}

// Known reports whether key's instance is registered (has reported with a valid token).
func (r *Registry) Known(key hub.InstanceKey) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.lookup(key) != nil
}

// ClearUnreachable drops the gossip mark from every instance (for a hub started without
// gossip, where nothing else would) and returns how many carried it, durable on return.
func (r *Registry) ClearUnreachable(ctx context.Context) (int, error) {
	if r.follower.Load() {
		return 0, nil
	}
	r.mu.Lock()
	n := 0
	for _, s := range r.services {
		changed := false
		for _, e := range s.instances {
			if !e.in.Unreachable {
				continue
			}
			e.in.Unreachable = false
			prev := e.status
			e.status = e.in.Status()
			r.recordInstance(e.in.Key, prev, e.status, r.cfg.Now(), hub.ReasonReachable)
			e.unsynced = true
			e.ver++
			r.changes[e.in.Key] = struct{}{}
			changed = true
			n++
		}
		if changed {
			r.touch(s)
		}
	}
	r.mu.Unlock()
	if n == 0 {
		return 0, nil
	}
	if err := r.persist(ctx, false); err != nil {
		return n, fmt.Errorf("clear unreachable: %w", err)
	}
	return n, nil
}

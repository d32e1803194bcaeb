// Package notify delivers alert notifications to receivers: generic webhooks and the
// Prometheus Alertmanager v2 API, each through its own queue with retries and backoff.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/centralhub/centralhub/hub"
)

// Event is what a notification says about its alert.
type Event string

// The events a notification can carry.
const (
	EventFiring   Event = "firing"   // the alert started firing (or became notifiable: unsuppressed, unsilenced, ack expired)
	EventRepeat   Event = "repeat"   // still firing and unacknowledged after the repeat interval
	EventResolved Event = "resolved" // the alert resolved
)

// Notification is one message about one alert, sent to every receiver.
type Notification struct {
	ID    string    // unique per notification; receivers use it as an idempotency key
	Event Event     // what happened to the alert
	Alert hub.Alert // the alert as the API shows it; Alert.Impacted lists the services it impacts
	At    time.Time // when the engine queued it
}

// Receiver delivers notifications to one destination. Send makes ONE attempt; the Dispatcher
// retries. Send must honour ctx and be safe to call from the receiver's worker goroutine while
// other receivers' workers call theirs.
type Receiver interface {
	// Name identifies the receiver in metrics, logs and Config.Done; unique per Dispatcher.
	Name() string
	// Send makes one attempt to deliver n. An error wrapped by Permanent is not retried.
	Send(ctx context.Context, n Notification) error
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps an error that retrying cannot fix (e.g. HTTP 400/401/403/404 from the
// receiver); the Dispatcher stops retrying it. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// isPermanent says whether err, or an error it wraps, was made by Permanent.
func isPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// ErrStopped is reported to Config.Done, wrapping the context's error, for a notification
// abandoned because Run's context ended (the hub is stopping): the caller still owes it.
var ErrStopped = errors.New("notification abandoned: dispatcher stopped")

// ErrQueueFull is reported to Config.Done for a notification dropped because its receiver's
// queue was full.
var ErrQueueFull = errors.New("notification queue full")

// Config configures a Dispatcher. Zero numeric fields take their defaults (see DefaultConfig).
type Config struct {
	MaxAttempts    int           // per notification per receiver
	InitialBackoff time.Duration // wait before the first retry; doubles each retry, full jitter
	MaxBackoff     time.Duration // cap of the wait between attempts
	QueueSize      int           // per receiver; when full the new notification is dropped, counted and reported to Done with ErrQueueFull

	Registerer prometheus.Registerer // required: where the metrics go
	Log        *slog.Logger          // may be nil: no logs

	// Done is called once per (notification, receiver) after delivery succeeded (err == nil),
	// was given up (the last error), was abandoned because Run's ctx ended (ctx's error), or
	// was dropped because the queue was full (ErrQueueFull). May be nil. It is called from
	// the Dispatcher's goroutines — the receiver's worker, or for ErrQueueFull a reporter —
	// never from Enqueue, so it may take locks its caller holds while calling Enqueue; calls
	// for different receivers run concurrently. Notifications still queued, and drops not yet
	// reported, when Run returns are not reported: the caller re-queues what it still owes.
	Done func(n Notification, receiver string, err error)

	// Sleep waits d between attempts and returns ctx's error if ctx ends first. Nil: a timer.
	// Tests inject a quick one.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultConfig returns the defaults; set Registerer (and Log, Done) before use.
func DefaultConfig() Config {
	return Config{
		MaxAttempts:    6,                // with the backoffs below: about a minute of retries at most
		InitialBackoff: time.Second,      // first retry within 1s
		MaxBackoff:     30 * time.Second, // no wait longer than 30s
		QueueSize:      1000,             // notifications waiting per receiver before new ones are dropped
	}
}

// withDefaults fills zero fields with the defaults and checks the rest.
func (c Config) withDefaults() (Config, error) {
	def := DefaultConfig()
	switch {
	case c.Registerer == nil:
		return c, errors.New("registerer: required")
	case c.MaxAttempts < 0:
		return c, errors.New("max attempts: must not be negative")
	case c.InitialBackoff < 0:
		return c, errors.New("initial backoff: must not be negative")
	case c.MaxBackoff < 0:
		return c, errors.New("max backoff: must not be negative")
	case c.QueueSize < 0:
		return c, errors.New("queue size: must not be negative")
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = def.MaxAttempts
	}
	if c.InitialBackoff == 0 {
		c.InitialBackoff = def.InitialBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = def.MaxBackoff
	}
	if c.MaxBackoff < c.InitialBackoff {
		return c, errors.New("max backoff: must not be less than initial backoff")
	}
	if c.QueueSize == 0 {
		c.QueueSize = def.QueueSize
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Sleep == nil {
		c.Sleep = sleepCtx
	}
	return c, nil
}

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Dispatcher delivers every enqueued notification to every receiver: one queue and one worker
// goroutine per receiver, in enqueue order, retrying failed attempts with capped exponential
// backoff and full jitter. Enqueue and Receivers are safe for concurrent use.
type Dispatcher struct {
	cfg     Config
	log     *slog.Logger
	workers []*worker
	metrics *metrics
	running atomic.Bool
	stopped atomic.Bool // Run returned: drops are no longer reported

	// Drops waiting to be reported to cfg.Done by the reporter goroutine.
	dropMu  sync.Mutex
	drops   []drop
	dropped chan struct{} // capacity 1: wakes the reporter
}

// worker is one receiver's queue and counters.
type worker struct {
	r     Receiver
	name  string
	queue chan Notification
	log   *slog.Logger

	delivered, failed, dropped prometheus.Counter
	attemptOK, attemptErr      prometheus.Counter
}

// drop is a notification a full queue refused.
type drop struct {
	n        Notification
	receiver string
}

// NewDispatcher checks cfg, registers the metrics on cfg.Registerer and returns a Dispatcher for
// receivers, whose names must be unique. Nothing is delivered until Run.
func NewDispatcher(cfg Config, receivers []Receiver) (*Dispatcher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("notify config: %w", err)
	}
	d := &Dispatcher{
		cfg:     cfg,
		log:     cfg.Log.With("component", "notify"),
		dropped: make(chan struct{}, 1),
	}
	seen := make(map[string]bool, len(receivers))
	for i, r := range receivers {
		if r == nil {
			return nil, fmt.Errorf("receiver %d: nil", i)
		}
		name := r.Name()
		if name == "" {
			return nil, fmt.Errorf("receiver %d: empty name", i)
		}
		if seen[name] {
			return nil, fmt.Errorf("receiver %q: duplicate name", name)
		}
		seen[name] = true
		d.workers = append(d.workers, &worker{
			r:     r,
			name:  name,
			queue: make(chan Notification, cfg.QueueSize),
			log:   d.log.With("receiver", name),
		})
	}
	m, err := newMetrics(cfg.Registerer, d.workers)
	if err != nil {
		return nil, fmt.Errorf("register notify metrics: %w", err)
	}
	d.metrics = m
	return d, nil
}

// Receivers returns the receivers' names in the order NewDispatcher was given them.
func (d *Dispatcher) Receivers() []string {
	names := make([]string, len(d.workers))
	for i, w := range d.workers {
		names[i] = w.name
	}
	return names
}

// Enqueue queues n for every receiver. It never blocks: a receiver whose queue is full drops n,
// counts it and reports it to Config.Done with ErrQueueFull.
func (d *Dispatcher) Enqueue(n Notification) {
	for _, w := range d.workers {
		select {
		case w.queue <- n:
		default:
			w.dropped.Inc()
			w.log.Warn("notification queue full, dropping", "id", n.ID, "alert", n.Alert.ID, "event", n.Event)
			if d.cfg.Done != nil && !d.stopped.Load() {
				d.dropMu.Lock()
				d.drops = append(d.drops, drop{n: n, receiver: w.name})
				d.dropMu.Unlock()
				select {
				case d.dropped <- struct{}{}:
				default:
				}
			}
		}
	}
}

// Run starts one worker goroutine per receiver and returns when ctx ends and every worker has
// stopped. A notification mid-delivery when ctx ends is abandoned and reported to Done with
// ctx's error. Run may be called once.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("notify dispatcher: already run")
	}
	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Go(func() { d.work(ctx, w) })
	}
	if d.cfg.Done != nil {
		wg.Go(func() { d.reportDrops(ctx) })
	}
	wg.Wait()
	d.stopped.Store(true)
	d.dropMu.Lock()
	d.drops = nil
	d.dropMu.Unlock()
	return nil
}

// reportDrops reports dropped notifications to Done until ctx ends.
func (d *Dispatcher) reportDrops(ctx context.Context) {
	for {
		d.dropMu.Lock()
		batch := d.drops
		d.drops = nil
		d.dropMu.Unlock()
		for _, dr := range batch {
			d.cfg.Done(dr.n, dr.receiver, ErrQueueFull)
		}
		select {
		case <-ctx.Done():
			return
		case <-d.dropped:
		}
	}
}

// work delivers w's queue in order until ctx ends.
func (d *Dispatcher) work(ctx context.Context, w *worker) {
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-w.queue:
			if ctx.Err() != nil {
				return // ended while both were ready: n counts as still queued
			}
			d.deliver(ctx, w, n)
		}
	}
}

// deliver makes up to MaxAttempts attempts to send n through w and reports the outcome.
func (d *Dispatcher) deliver(ctx context.Context, w *worker, n Notification) {
	for attempt := 1; ; attempt++ {
		err := w.r.Send(ctx, n)
		if err == nil {
			w.attemptOK.Inc()
			w.delivered.Inc()
			w.log.Debug("notification delivered", "id", n.ID, "alert", n.Alert.ID, "event", n.Event, "attempts", attempt)
			d.done(n, w.name, nil)
			return
		}
		w.attemptErr.Inc()
		if ctx.Err() != nil {
			w.log.Info("notification abandoned at shutdown", "id", n.ID, "alert", n.Alert.ID, "event", n.Event, "attempts", attempt)
			d.done(n, w.name, fmt.Errorf("%w: %w", ErrStopped, ctx.Err()))
			return
		}
		if isPermanent(err) || attempt >= d.cfg.MaxAttempts {
			w.failed.Inc()
			w.log.Error("notification failed", "id", n.ID, "alert", n.Alert.ID, "event", n.Event,
				"attempts", attempt, "permanent", isPermanent(err), "err", err)
			d.done(n, w.name, err)
			return
		}
		wait := d.backoff(attempt)
		w.log.Warn("notification attempt failed, retrying", "id", n.ID, "alert", n.Alert.ID, "event", n.Event,
			"attempt", attempt, "wait", wait, "err", err)
		if serr := d.cfg.Sleep(ctx, wait); serr != nil || ctx.Err() != nil {
			cause := ctx.Err()
			if cause == nil {
				cause = serr
			}
			w.log.Info("notification abandoned at shutdown", "id", n.ID, "alert", n.Alert.ID, "event", n.Event, "attempts", attempt)
			d.done(n, w.name, fmt.Errorf("%w: %w", ErrStopped, cause))
			return
		}
	}
}

// backoff is the wait after the given failed attempt (1-based): a uniformly random duration
// below min(MaxBackoff, InitialBackoff·2^(attempt-1)).
func (d *Dispatcher) backoff(attempt int) time.Duration {
	ceil := d.cfg.InitialBackoff
	for i := 1; i < attempt && ceil < d.cfg.MaxBackoff; i++ {
		ceil *= 2
	}
	ceil = min(ceil, d.cfg.MaxBackoff)
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil)
}

// done calls cfg.Done when set.
func (d *Dispatcher) done(n Notification, receiver string, err error) {
	if d.cfg.Done != nil {
		d.cfg.Done(n, receiver, err)
	}
}

// metrics holds the Dispatcher's collectors.
type metrics struct {
	notifications *prometheus.CounterVec
	attempts      *prometheus.CounterVec
	queue         *queueCollector
}

// newMetrics registers the collectors on reg and gives every worker its counters, already
// present at zero. On error nothing stays registered.
func newMetrics(reg prometheus.Registerer, workers []*worker) (*metrics, error) {
	m := &metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centralhub_notifications_total",
			Help: "Notifications per receiver by result: delivered, failed (given up) or dropped (queue full).",
		}, []string{"receiver", "result"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "centralhub_notification_attempts_total",
			Help: "Delivery attempts per receiver by outcome: ok or error.",
		}, []string{"receiver", "outcome"}),
		queue: &queueCollector{
			desc: prometheus.NewDesc("centralhub_notification_queue_length",
				"Notifications waiting in the receiver's queue.", []string{"receiver"}, nil),
			workers: workers,
		},
	}
	var registered []prometheus.Collector
	for _, c := range []prometheus.Collector{m.notifications, m.attempts, m.queue} {
		if err := reg.Register(c); err != nil {
			for _, r := range registered {
				reg.Unregister(r)
			}
			return nil, err
		}
		registered = append(registered, c)
	}
	for _, w := range workers {
		w.delivered = m.notifications.WithLabelValues(w.name, "delivered")
		w.failed = m.notifications.WithLabelValues(w.name, "failed")
		w.dropped = m.notifications.WithLabelValues(w.name, "dropped")
		w.attemptOK = m.attempts.WithLabelValues(w.name, "ok")
		w.attemptErr = m.attempts.WithLabelValues(w.name, "error")
	}
	return m, nil
}

// queueCollector reports each receiver's queue length when scraped.
type queueCollector struct {
	desc    *prometheus.Desc
	workers []*worker
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	for _, w := range c.workers {
		m, err := prometheus.NewConstMetric(c.desc, prometheus.GaugeValue, float64(len(w.queue)), w.name)
		if err != nil {
			m = prometheus.NewInvalidMetric(c.desc, err)
		}
		ch <- m
	}
}

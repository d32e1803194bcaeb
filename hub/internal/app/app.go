package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/events"
	"github.com/centralhub/centralhub/hub/internal/httpapi"
	"github.com/centralhub/centralhub/hub/internal/membership"
	"github.com/centralhub/centralhub/hub/internal/postgres"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/gossip"
)

// Version is the hub's version, set at build time with -ldflags.
var Version = "dev"

// App is a running hub: store, registry, API and listener.
type App struct {
	cfg      Config
	log      *slog.Logger
	store    hub.Store
	registry *registry.Registry
	server   *http.Server
	ln       net.Listener
	tls      *serverTLS // nil when the hub serves plain HTTP
	stopping atomic.Bool
	gossip   *gossip.Gossip      // nil when gossip is off
	watcher  *membership.Watcher // nil when gossip is off
	alerting *alerting
	cluster  *cluster        // nil on the embedded store: this hub alone, always leading
	changes  *events.Watcher // publishes the live feed of changes
	started  time.Time
	// storeName says which store serves: "embedded <dir>" or the database's host and name.
	storeName string
}

// joinGrace bounds how long /ready waits for a gossip join: a hub whose join addresses are all
// down must still serve (it reports degraded instead).
var joinGrace = 30 * time.Second

// New opens the store, loads the registry, builds the API and listens, so that a taken port
// or an unreadable store fails here rather than after start-up. keys signs and verifies tokens.
func New(ctx context.Context, cfg Config, keys *auth.Keys, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, started: time.Now()}
	// The TLS files are read before anything is opened, so a bad one fails at once.
	var err error
	if cfg.TLS.On() {
		if a.tls, err = newServerTLS(cfg.TLS, log); err != nil {
			return nil, err
		}
	}
	fwdTLS, err := forwardTLS(cfg.TLS.CAFile)
	if err != nil {
		return nil, err
	}
	hubID := newHubID()
	store, where, err := openStore(ctx, &cfg, hubID, log)
	if err != nil {
		return nil, err
	}
	a.storeName = where
	a.store = store
	reg, err := registry.New(ctx, cfg.registryConfig(), store, log)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	a.registry = reg

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	a.ln = ln
	fail := func(err error) (*App, error) {
		_ = ln.Close()
		if a.gossip != nil {
			_ = a.gossip.Shutdown()
		}
		_ = store.Close()
		return nil, err
	}

	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfo())
	if a.alerting, err = startAlerting(ctx, &cfg.Alerts, reg, store, promReg, log); err != nil {
		return fail(err)
	}
	reg.SetMaintenance(a.alerting.engine.InMaintenance)
	if pg, ok := store.(*postgres.Store); ok {
		apiURL := cfg.APIURL
		if apiURL == "" {
			apiURL = defaultAPIURL(ln.Addr().String(), cfg.TLS.On())
		}
		a.cluster = newCluster(pg, reg, a.alerting, apiURL, cfg.Gossip.Bind != "", log)
		log.Info("sharing the database with other hubs", "hub", hubID, "api_url", apiURL)
	}
	promReg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "centralhub_cluster_leader",
		Help: "1 while this hub leads (judges staleness and alerts); among hubs sharing a database exactly one does.",
	}, func() float64 {
		if a.cluster == nil || a.cluster.leading.Load() {
			return 1
		}
		return 0
	}))
	apiCfg := httpapi.Config{
		Keys: keys, Registry: reg, Registerer: promReg, Gatherer: promReg, Log: log,
		RegistryCollector: func(visible registry.Visibility, hubWide bool) prometheus.Collector {
			return registry.NewCollector(reg, visible, hubWide)
		},
		Version: Version, MetricsPublic: cfg.MetricsPublic, MaxBody: int64(cfg.Ingest.MaxBody),
		Ready: a.readiness, Degraded: a.degraded, Alerts: a.alerting.engine,
		History: store, HistoryInterval: time.Duration(cfg.History.Interval),
		// Desired configs are read from the store on every request, and answered from the
		// last copy read or written while it is away.
		Configs: httpapi.NewConfigMemory(store),
		// With client CAs, the agent routes need a verified client certificate on top of
		// the token; every other route goes on with tokens alone.
		RequireClientCert: cfg.TLS.ClientCAFile != "",
		ForwardTLS:        fwdTLS,
	}
	if b, ok := store.(httpapi.Backuper); ok { // the embedded store; PostgreSQL has pg_dump
		apiCfg.Backup = b
	}
	broker := events.NewBroker(events.BrokerConfig{})
	apiCfg.Events = broker
	a.changes = events.NewWatcher(broker, reg, a.alerting.engine, eventsInterval, log)
	if a.cluster != nil {
		apiCfg.Leader = a.cluster.leader
	}
	if cfg.Gossip.Bind != "" {
		if a.gossip, err = startGossip(cfg, ln.Addr().String(), log); err != nil {
			return fail(err)
		}
		if a.watcher, err = membership.New(a.gossip, reg, promReg, log); err != nil {
			return fail(err)
		}
		apiCfg.Members, apiCfg.Keyring = a.watcher, a.gossip
	}
	api, err := httpapi.New(apiCfg)
	if err != nil {
		return fail(err)
	}
	a.server = &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if a.tls != nil {
		a.server.TLSConfig = a.tls.config()
	}
	a.server.RegisterOnShutdown(api.StopStreams)
	return a, nil
}

func buildInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "centralhub_build_info", Help: "The hub's version; always 1."}, []string{"version"})
	g.WithLabelValues(Version).Set(1)
	return g
}

// Addr is the address the API listens on (useful with port 0).
func (a *App) Addr() string { return a.ln.Addr().String() }

// Scheme is how the API is reached: "https" with TLS on, else "http".
func (a *App) Scheme() string {
	if a.tls != nil {
		return "https"
	}
	return "http"
}

// ReloadTLS reads the TLS certificate, key and client CAs from their files again, as SIGHUP
// does: the next handshakes use them, and connections already open are kept. When a file
// cannot be used, the hub goes on with what it had, logs why and returns the error.
func (a *App) ReloadTLS() error {
	if a.tls == nil {
		return errTLSOff
	}
	return a.tls.reload()
}

// watchHangup reloads TLS on every signal hup delivers (SIGHUP) until stop is closed.
func (a *App) watchHangup(hup <-chan os.Signal, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-hup:
		}
		if a.tls == nil {
			a.log.Info("SIGHUP: nothing to reload (tls is off)")
			continue
		}
		_ = a.tls.reload() // it logs the outcome
	}
}

// Registry is the hub's registry, for in-process tests and tools.
func (a *App) Registry() *registry.Registry { return a.registry }

func (a *App) readiness() error {
	if a.stopping.Load() {
		return errors.New("stopping")
	}
	if a.gossip != nil && !a.gossip.Running() {
		return errors.New("gossip stopped")
	}
	if a.gossip != nil && !a.gossip.Joined() && time.Since(a.started) < joinGrace {
		return errors.New("gossip not joined yet")
	}
	return nil
}

// degraded says why the hub serves in a degraded way, or "" when it does not: gossip stopped
// (serf shuts itself down on a node name conflict), or no join address has answered.
func (a *App) degraded() string {
	switch {
	case a.gossip == nil:
		return ""
	case !a.gossip.Running():
		return "gossip stopped"
	case !a.gossip.Joined():
		return "gossip not joined"
	}
	return ""
}

// Gossip is the hub's gossip member, nil when gossip is off; for in-process tests.
func (a *App) Gossip() *gossip.Gossip { return a.gossip }

// Run serves until ctx ends, then stops in order: readiness goes 503 and the hub leaves the
// gossip cluster (so peers see it leave, not fail), then ShutdownDelay passes (so load balancers
// notice), the listener stops accepting and in-flight requests finish (bounded by ShutdownTimeout), the registry flushes
// what is not yet durable, and the store closes.
func (a *App) Run(ctx context.Context) error {
	regCtx, stopRegistry := context.WithCancel(context.WithoutCancel(ctx))
	regDone := make(chan error, 1)
	go func() { regDone <- a.registry.Run(regCtx) }()
	if a.gossip == nil && a.cluster == nil { // in a cluster, the leader does it
		// Only gossip clears what gossip said: without it, no instance stays unreachable.
		if n, err := a.registry.ClearUnreachable(ctx); err != nil {
			a.log.Warn("clear gossip state", "err", err)
		} else if n > 0 {
			a.log.Info("gossip is off: cleared the unreachable mark of instances", "instances", n)
		}
	}

	watchCtx, stopWatcher := context.WithCancel(context.WithoutCancel(ctx))
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		if a.watcher != nil {
			a.watcher.Run(watchCtx)
		}
	}()

	eventsCtx, stopEvents := context.WithCancel(context.WithoutCancel(ctx))
	eventsDone := make(chan struct{})
	go func() {
		defer close(eventsDone)
		a.changes.Run(eventsCtx)
	}()

	historyCtx, stopHistory := context.WithCancel(context.WithoutCancel(ctx))
	historyDone := make(chan struct{})
	go func() {
		defer close(historyDone)
		a.maintainHistory(historyCtx)
	}()

	alertCtx, stopAlerting := context.WithCancel(context.WithoutCancel(ctx))
	alertDone := make(chan struct{})
	go func() {
		defer close(alertDone)
		if a.cluster == nil {
			a.alerting.run(alertCtx, true)
			return
		}
		// The engine runs while this hub leads; delivery runs always (it only carries what a
		// leading engine queues).
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); a.alerting.run(alertCtx, false) }()
		a.cluster.run(alertCtx)
		wg.Wait()
	}()

	// SIGHUP re-reads the TLS files. It is caught from before the listener serves until Run
	// returns, so a SIGHUP to a serving hub never stops it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	hupStop, hupDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(hupDone); a.watchHangup(hup, hupStop) }()
	defer func() { signal.Stop(hup); close(hupStop); <-hupDone }()

	serveErr := make(chan error, 1)
	go func() {
		if a.tls != nil {
			serveErr <- a.server.ServeTLS(a.ln, "", "") // the certificate comes from TLSConfig
			return
		}
		serveErr <- a.server.Serve(a.ln)
	}()
	a.log.Info("hub serving", "addr", a.Addr(), "scheme", a.Scheme(), "version", Version, "store", a.storeName)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("serve: %w", err)
	}

	// Stop order: not ready and leave gossip (so agents fail over, and nobody takes this hub
	// for failed) → wait ShutdownDelay → stop HTTP → flush registry → close store.
	a.stopping.Store(true)
	if a.gossip != nil {
		if err := a.gossip.Leave(gossipLeaveTimeout); err != nil {
			a.log.Warn("gossip leave", "err", err)
		}
	}
	stopWatcher()
	<-watchDone
	if d := time.Duration(a.cfg.ShutdownDelay); d > 0 && runErr == nil {
		a.log.Info("draining: /ready answers 503", "for", d.String())
		time.Sleep(d)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := a.server.Shutdown(shutCtx); err != nil {
		a.log.Warn("http shutdown", "err", err)
	}
	// Alerts stop after the last request (an acknowledgement in flight is kept) and before
	// the registry they judge.
	stopAlerting()
	<-alertDone
	stopHistory()
	<-historyDone
	stopEvents()
	<-eventsDone
	stopRegistry()
	if err := <-regDone; err != nil {
		runErr = errors.Join(runErr, err)
	}
	if err := a.store.Close(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	a.log.Info("hub stopped")
	return runErr
}

// historyMaintenance is how often the hub drops expired history and prepares the days ahead.
var historyMaintenance = time.Hour

// maintainHistory applies history retention at start and every historyMaintenance until ctx
// ends. Every hub on a database does it; it is idempotent.
func (a *App) maintainHistory(ctx context.Context) {
	retention := time.Duration(a.cfg.History.Retention)
	for {
		if err := a.store.MaintainHistory(ctx, time.Now(), retention); err != nil && ctx.Err() == nil {
			a.log.Warn("history maintenance failed; retried later", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(historyMaintenance):
		}
	}
}

// eventsInterval is how often the live feed looks for changes: the dashboard shows a change
// within about this (and its own rendering).
var eventsInterval = 250 * time.Millisecond

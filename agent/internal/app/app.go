// Package app is the agent's lifecycle: New wires the check runner, the reporter and sender, the
// local API and, when configured, the gossip member from a validated configuration and claims
// the listening ports; Run runs them all until its context ends and then stops them in a fixed
// order.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/centralhub/centralhub/agent/internal/check"
	"github.com/centralhub/centralhub/agent/internal/cluster"
	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/agent/internal/configcheck"
	"github.com/centralhub/centralhub/agent/internal/hubclient"
	"github.com/centralhub/centralhub/agent/internal/localapi"
	"github.com/centralhub/centralhub/pkg/gossip"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// Version is the agent's version, shown by --version, on /health, in reports (agent_version) and
// in the User-Agent of report sends and http checks. Release builds set it with
// -ldflags "-X github.com/centralhub/centralhub/agent/internal/app.Version=1.2.3".
var Version = "dev"

// ShutdownTimeout bounds the HTTP servers' graceful shutdown at stop.
const ShutdownTimeout = 5 * time.Second

// LeaveTimeout bounds the graceful gossip leave at stop.
const LeaveTimeout = 5 * time.Second

// App is one running agent.
type App struct {
	cfg      *config.Config
	log      *slog.Logger
	runner   *check.Runner
	configs  *configcheck.Checker
	sender   *hubclient.Sender
	reporter *hubclient.Reporter

	apiLn, metricsLn   net.Listener // metricsLn is nil without metrics_listen
	apiSrv, metricsSrv *http.Server
	gossip             *gossip.Gossip // nil without a gossip section
	view               *cluster.View  // gossip's view of the hubs; nil without gossip

	started   atomic.Bool
	closeOnce sync.Once
}

// New builds an agent from cfg, which must come from config.Load or config.Parse (or have passed
// Validate after its defaults were set). It reads the token file, listens on listen and
// metrics_listen and, with a gossip section, starts the gossip member (which joins in the
// background), so a bad token file or a taken port fails here, before Run. Every agent gets its
// own Prometheus registry, so several can run in one process. Call Run, or Close to give the
// ports back without running.
func New(cfg *config.Config, logger *slog.Logger) (_ *App, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	userAgent := "centralhub-agent/" + Version

	var token hubclient.TokenSource = hubclient.StaticToken(cfg.Hub.Token)
	if cfg.Hub.Token == "" {
		ft, err := hubclient.NewFileToken(cfg.Hub.TokenFile, logger.With("component", "token"))
		if err != nil {
			return nil, fmt.Errorf("hub token: %w", err)
		}
		token = ft
	}

	runner, err := check.NewRunner(cfg.Checks, check.Options{
		Logger:    logger.With("component", "checks"),
		Metrics:   check.NewMetrics(reg),
		UserAgent: userAgent,
	})
	if err != nil {
		return nil, fmt.Errorf("checks: %w", err)
	}

	a := &App{cfg: cfg, log: logger.With("component", "app"), runner: runner}
	defer func() {
		if err != nil {
			a.release()
		}
	}()
	if a.apiLn, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if cfg.MetricsListen != "" {
		if a.metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return nil, fmt.Errorf("metrics_listen: %w", err)
		}
	}
	// One client for every request to a hub: the sender's reports and, through the sender,
	// the config checks' desired-config reads.
	hubHTTP := hubclient.NewHTTPClient(nil)
	if cfg.Hub.TLS() {
		if hubHTTP, err = hubclient.NewHubClient(hubclient.TLSFiles{CAFile: cfg.Hub.CAFile, CertFile: cfg.Hub.CertFile, KeyFile: cfg.Hub.KeyFile},
			logger.With("component", "hubtls")); err != nil {
			return nil, err
		}
	}
	senderCfg := hubclient.SenderConfig{
		URLs:      cfg.Hub.ReportURLs(),
		Token:     token,
		UserAgent: userAgent,
		Client:    hubHTTP,
		Logger:    logger.With("component", "sender"),
		Metrics:   hubclient.NewMetrics(reg),
	}
	boot := time.Now().UnixNano()
	var gossipHealth func() any
	if cfg.Gossip != nil {
		if a.gossip, err = startGossip(cfg, boot, logger.With("component", "gossip")); err != nil {
			return nil, err
		}
		view := cluster.New(a.gossip.Members, a.gossip.LocalName())
		a.view = view
		senderCfg.Liveness = view // orders the configured hubs; never adds one
		reg.MustRegister(view.Collector())
		gossipHealth = func() any { return view.Summary() }
	}
	if a.sender, err = hubclient.NewSender(senderCfg); err != nil {
		return nil, fmt.Errorf("sender: %w", err)
	}
	// The config checker fetches the desired config with the sender's hubs, token and client.
	if a.configs, err = configcheck.New(cfg.ConfigChecks, configcheck.Options{
		Service: cfg.Service, Hub: a.sender, Logger: logger.With("component", "configchecks"),
	}); err != nil {
		return nil, fmt.Errorf("config checks: %w", err)
	}
	a.reporter = hubclient.NewReporter(protocol.Report{
		Tenant:       cfg.Tenant,
		Service:      cfg.Service,
		Instance:     cfg.Instance,
		Address:      cfg.Address,
		AgentVersion: Version,
		Runbook:      cfg.Runbook,
		Tags:         cfg.Tags,
		Meta:         cfg.Meta,
		Boot:         boot, // also in the gossip tags, so the hub ties the member to this boot
		Interval:     protocol.Duration(cfg.Interval),
		DependsOn:    cfg.DependsOn,
	}, runner, a.sender, logger.With("component", "reporter"))
	a.reporter.SetConfigChecks(a.configs)

	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	apiLog := logger.With("component", "localapi")
	a.apiSrv = newServer(localapi.Handler(localapi.Config{
		Service: cfg.Service, Instance: cfg.Instance, Version: Version,
		Checks: runner, Deliveries: a.sender, Metrics: metrics, Logger: apiLog, Gossip: gossipHealth,
		Config: a.configs.State,
	}), apiLog)
	if a.metricsLn != nil {
		a.metricsSrv = newServer(localapi.MetricsHandler(metrics), apiLog)
	}
	return a, nil
}

// NodeName is the agent's gossip node name, tenant/service/instance: unique per instance, so
// many agents can share one host.
func NodeName(cfg *config.Config) string {
	return cfg.Tenant + "/" + cfg.Service + "/" + cfg.Instance
}

// startGossip starts the agent's gossip member: it listens at once and joins in the background.
func startGossip(cfg *config.Config, boot int64, logger *slog.Logger) (*gossip.Gossip, error) {
	key, err := gossip.ReadKeyFile(cfg.Gossip.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("gossip.key_file: %w", err)
	}
	profile, err := gossip.ParseProfile(cfg.Gossip.Profile)
	if err != nil {
		return nil, fmt.Errorf("gossip.profile: %w", err)
	}
	gc := gossip.DefaultConfig()
	gc.NodeName = NodeName(cfg)
	gc.Bind, gc.Advertise, gc.Join = cfg.Gossip.Bind, cfg.Gossip.Advertise, cfg.Gossip.Join
	gc.Tags = map[string]string{
		gossip.TagRole:     gossip.RoleAgent,
		gossip.TagTenant:   cfg.Tenant,
		gossip.TagService:  cfg.Service,
		gossip.TagInstance: cfg.Instance,
		gossip.TagBoot:     strconv.FormatInt(boot, 10),
	}
	gc.Keys = [][]byte{key}
	gc.KeyringFile = cfg.Gossip.KeyringFile
	gc.Profile = profile
	gc.Logger = logger
	g, err := gossip.New(gc)
	if err != nil {
		return nil, fmt.Errorf("start gossip: %w", err)
	}
	go logEvents(g.Events(), logger) // ends when the member shuts down and closes Events
	if gc.KeyringFile == "" {
		logger.Warn("gossip.keyring_file is not set: a key rotated through `hub keys` is lost when the agent restarts, and it cannot rejoin once the old key is removed")
	}
	return g, nil
}

// logEvents drains the member's events, which must be read: hubs coming and going at info,
// everything else at debug.
func logEvents(events <-chan gossip.Event, logger *slog.Logger) {
	for ev := range events {
		level := slog.LevelDebug
		if ev.Member.Tags[gossip.TagRole] == gossip.RoleHub {
			level = slog.LevelInfo
		}
		logger.Log(context.Background(), level, "gossip member "+string(ev.Type),
			"member", ev.Member.Name, "address", ev.Member.Addr, "role", ev.Member.Tags[gossip.TagRole])
	}
}

func newServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// Addr returns the local API's address, with the real port when listen asked for port 0.
func (a *App) Addr() string { return a.apiLn.Addr().String() }

// MetricsAddr returns the metrics-only listener's address, or "" without metrics_listen.
func (a *App) MetricsAddr() string {
	if a.metricsLn == nil {
		return ""
	}
	return a.metricsLn.Addr().String()
}

// Close gives back the listening ports of an App whose Run was never called, and makes its
// gossip member leave the cluster. After Run it does nothing.
func (a *App) Close() error {
	if a.started.Load() {
		return nil
	}
	var err error
	a.closeOnce.Do(func() {
		err = a.apiLn.Close()
		if a.metricsLn != nil {
			err = errors.Join(err, a.metricsLn.Close())
		}
		if a.gossip != nil {
			err = errors.Join(err, a.gossip.Leave(LeaveTimeout))
		}
	})
	return err
}

// release gives back what a failed New had claimed.
func (a *App) release() {
	if a.apiLn != nil {
		a.apiLn.Close()
	}
	if a.metricsLn != nil {
		a.metricsLn.Close()
	}
	if a.gossip != nil {
		_ = a.gossip.Shutdown() // it may not have joined yet; nothing to tell the cluster
	}
}

// Run runs the agent until ctx ends, then stops it and returns nil; it returns an error if a
// listener fails. It may be called once.
//
// Start order (the gossip member already runs, from New): local API servers, checks, config
// checks, reporter, sender. Stop order when ctx ends:
//  1. the checks, the config checks and the reporter stop: no new results, no new reports;
//  2. the sender makes one final delivery attempt (bounded by its flush timeout) and stops;
//  3. the gossip member leaves gracefully (bounded by LeaveTimeout) and shuts down. A hub
//     deregisters an instance that leaves, so this comes only after the last report: a report
//     arriving after the leave would register the instance again;
//  4. the HTTP servers shut down last (bounded by ShutdownTimeout), so /health answers
//     throughout.
func (a *App) Run(ctx context.Context) error {
	if !a.started.CompareAndSwap(false, true) {
		return errors.New("run: already started")
	}
	a.closeOnce.Do(func() {}) // Run owns the listeners now: the servers close them
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	serveErrs := make(chan error, 2)
	var servers sync.WaitGroup
	serve := func(srv *http.Server, ln net.Listener) {
		servers.Go(func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				serveErrs <- fmt.Errorf("serve %s: %w", ln.Addr(), err)
				cancel()
			}
		})
	}
	serve(a.apiSrv, a.apiLn)
	if a.metricsSrv != nil {
		serve(a.metricsSrv, a.metricsLn)
	}
	a.log.Info("agent started", "service", a.cfg.Service, "instance", a.cfg.Instance,
		"tenant", a.cfg.Tenant, "listen", a.Addr(), "metrics_listen", a.MetricsAddr(),
		"checks", len(a.cfg.Checks), "hubs", len(a.cfg.Hub.ReportURLs()), "gossip", a.gossip != nil, "version", Version)

	var workers sync.WaitGroup
	workers.Go(func() { a.runner.Run(ctx) })
	workers.Go(func() { a.configs.Run(ctx) })
	workers.Go(func() { a.reporter.Run(ctx) })
	senderCtx, stopSender := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSender()
	senderDone := make(chan struct{})
	go func() { defer close(senderDone); a.sender.Run(senderCtx) }()
	if a.gossip != nil {
		workers.Go(func() { a.keepJoined(ctx) })
	}

	<-ctx.Done()
	a.log.Info("agent stopping")
	workers.Wait() // 1
	stopSender()   // 2
	<-senderDone
	if a.gossip != nil { // 3
		if err := a.gossip.Leave(LeaveTimeout); err != nil {
			a.log.Warn("gossip leave", "err", err)
		}
	}
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), ShutdownTimeout) // 4
	defer cancelShutdown()
	err := a.apiSrv.Shutdown(shutdownCtx)
	if a.metricsSrv != nil {
		err = errors.Join(err, a.metricsSrv.Shutdown(shutdownCtx))
	}
	servers.Wait()
	close(serveErrs)
	for e := range serveErrs {
		err = errors.Join(err, e)
	}
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	a.log.Info("agent stopped")
	return nil
}

// RejoinInterval is how often an agent that knows no alive hub joins its gossip.join
// addresses again: a hub restarted without its snapshot (a fresh data directory) reaches
// out to nobody, and serf retries only members it saw fail, not those that left.
var RejoinInterval = 10 * time.Second

// keepJoined joins gossip.join again whenever no hub is known alive, until ctx ends.
func (a *App) keepJoined(ctx context.Context) {
	t := time.NewTicker(RejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if a.view.Summary().AliveHubs > 0 {
			continue
		}
		if n, err := a.gossip.Join(a.cfg.Gossip.Join); err != nil {
			a.log.Warn("no hub alive in gossip; joining again failed", "join", a.cfg.Gossip.Join, "err", err)
		} else {
			a.log.Info("no hub alive in gossip; joined again", "contacted", n)
		}
	}
}

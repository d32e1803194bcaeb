// Package app is the agent's lifecycle: New wires the check runner, the reporter and sender, and
// the local API from a validated configuration and claims the listening ports; Run runs them all
// until its context ends and then stops them in a fixed order.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/centralhub/centralhub/agent/internal/check"
	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/agent/internal/hubclient"
	"github.com/centralhub/centralhub/agent/internal/localapi"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// Version is the agent's version, shown by --version, on /health, in reports (agent_version) and
// in the User-Agent of report sends and http checks. Release builds set it with
// -ldflags "-X github.com/centralhub/centralhub/agent/internal/app.Version=1.2.3".
var Version = "dev"

// ShutdownTimeout bounds the HTTP servers' graceful shutdown at stop.
const ShutdownTimeout = 5 * time.Second

// App is one running agent.
type App struct {
	cfg      *config.Config
	log      *slog.Logger
	runner   *check.Runner
	sender   *hubclient.Sender
	reporter *hubclient.Reporter

	apiLn, metricsLn   net.Listener // metricsLn is nil without metrics_listen
	apiSrv, metricsSrv *http.Server

	started   atomic.Bool
	closeOnce sync.Once
}

// New builds an agent from cfg, which must come from config.Load or config.Parse (or have passed
// Validate after its defaults were set). It reads the token file and listens on listen and
// metrics_listen, so a bad token file or a taken port fails here, before Run. Every agent gets
// its own Prometheus registry, so several can run in one process. Call Run, or Close to give the
// ports back without running.
func New(cfg *config.Config, logger *slog.Logger) (*App, error) {
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
	sender, err := hubclient.NewSender(hubclient.SenderConfig{
		URLs:      cfg.Hub.ReportURLs(),
		Token:     token,
		UserAgent: userAgent,
		Logger:    logger.With("component", "sender"),
		Metrics:   hubclient.NewMetrics(reg),
	})
	if err != nil {
		return nil, fmt.Errorf("sender: %w", err)
	}
	reporter := hubclient.NewReporter(protocol.Report{
		Tenant:       cfg.Tenant,
		Service:      cfg.Service,
		Instance:     cfg.Instance,
		Address:      cfg.Address,
		AgentVersion: Version,
		Runbook:      cfg.Runbook,
		Tags:         cfg.Tags,
		Meta:         cfg.Meta,
		Boot:         time.Now().UnixNano(),
		Interval:     protocol.Duration(cfg.Interval),
		DependsOn:    cfg.DependsOn,
	}, runner, sender, logger.With("component", "reporter"))

	a := &App{
		cfg: cfg, log: logger.With("component", "app"),
		runner: runner, sender: sender, reporter: reporter,
	}
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	apiLog := logger.With("component", "localapi")
	a.apiSrv = newServer(localapi.Handler(localapi.Config{
		Service: cfg.Service, Instance: cfg.Instance, Version: Version,
		Checks: runner, Deliveries: sender, Metrics: metrics, Logger: apiLog,
	}), apiLog)
	if a.apiLn, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if cfg.MetricsListen != "" {
		a.metricsSrv = newServer(localapi.MetricsHandler(metrics), apiLog)
		if a.metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			a.apiLn.Close()
			return nil, fmt.Errorf("metrics_listen: %w", err)
		}
	}
	return a, nil
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

// Close gives back the listening ports of an App whose Run was never called. After Run it
// does nothing.
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
	})
	return err
}

// Run runs the agent until ctx ends, then stops it and returns nil; it returns an error if a
// listener fails. It may be called once.
//
// Start order: local API servers, checks, reporter, sender. Stop order when ctx ends:
//  1. the checks and the reporter stop: no new results, no new reports;
//  2. the sender makes one final delivery attempt (bounded by its flush timeout) and stops;
//  3. the HTTP servers shut down last (bounded by ShutdownTimeout), so /health answers
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
		"checks", len(a.cfg.Checks), "hubs", len(a.cfg.Hub.ReportURLs()), "version", Version)

	var workers sync.WaitGroup
	workers.Go(func() { a.runner.Run(ctx) })
	workers.Go(func() { a.reporter.Run(ctx) })
	senderCtx, stopSender := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSender()
	senderDone := make(chan struct{})
	go func() { defer close(senderDone); a.sender.Run(senderCtx) }()

	<-ctx.Done()
	a.log.Info("agent stopping")
	workers.Wait() // 1
	stopSender()   // 2
	<-senderDone
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), ShutdownTimeout) // 3
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

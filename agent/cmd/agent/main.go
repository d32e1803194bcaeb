// Command agent is the Central Hub sidecar: it runs a service's health checks and reports them to
// the hub. See agent/README.md for its configuration.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/centralhub/centralhub/agent/internal/app"
	"github.com/centralhub/centralhub/agent/internal/config"
)

func main() { os.Exit(run()) }

func run() int {
	configPath := flag.String("config", "agent.yaml", "path of the agent's YAML configuration")
	version := flag.Bool("version", false, "print the version and exit")
	validate := flag.Bool("validate", false, "load and validate the configuration, say so, and exit: 0 when valid, 2 otherwise")
	healthCheck := flag.Bool("health-check", false, "GET /health of the agent running with this configuration (its listen address) and exit: 0 on 200, 1 otherwise (the container image's HEALTHCHECK)")
	flag.Parse()
	if *version {
		fmt.Println("centralhub-agent", app.Version)
		return 0
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "agent: unexpected arguments %q\n", flag.Args())
		return 2
	}

	cfg, err := config.Load(*configPath, os.LookupEnv)
	if *healthCheck {
		return probe(cfg, err) // exit 2 is reserved in a container health check: failures are 1
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "agent: %v\n", err)
		return 2
	}
	if *validate {
		fmt.Printf("agent: %s: valid (service %s, instance %s, %d checks)\n", *configPath, cfg.Service, cfg.Instance, len(cfg.Checks))
		return 0
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	a, err := app.New(cfg, logger)
	if err != nil {
		fmt.Fprintf(os.Stderr, "agent: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := a.Run(ctx); err != nil {
		logger.Error("agent failed", "component", "app", "err", err)
		return 1
	}
	return 0
}

// probe runs --health-check against the local API of the agent configured by cfg.
func probe(cfg *config.Config, loadErr error) int {
	if loadErr != nil {
		fmt.Fprintf(os.Stderr, "agent: health check: %v\n", loadErr)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	line, err := app.HealthCheck(ctx, cfg.Listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "agent: health check: %v\n", err)
		return 1
	}
	fmt.Println(line)
	return 0
}

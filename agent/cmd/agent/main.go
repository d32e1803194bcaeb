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

	"github.com/centralhub/centralhub/agent/internal/app"
	"github.com/centralhub/centralhub/agent/internal/config"
)

func main() { os.Exit(run()) }

func run() int {
	configPath := flag.String("config", "agent.yaml", "path of the agent's YAML configuration")
	version := flag.Bool("version", false, "print the version and exit")
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
	if err != nil {
		fmt.Fprintf(os.Stderr, "agent: %v\n", err)
		return 2
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

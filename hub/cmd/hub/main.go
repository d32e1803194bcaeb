// Command hub is Central Hub's aggregator: `hub serve` runs it, `hub token issue` signs tokens.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/centralhub/centralhub/hub/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

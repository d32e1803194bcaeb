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
	// SIGHUP re-reads the TLS files once the hub serves (App.Run catches it then). Until then,
	// and for the client commands, it is ignored rather than left to kill the process: a
	// `systemctl reload` during a slow start must not stop the hub.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

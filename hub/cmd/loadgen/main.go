// Command loadgen is the Go side of `make bench` (scripts/bench.sh): it serves the bare
// handler that ingest throughput is compared with, signs the tokens the load needs, registers
// the benchmark fleet, sends fixed-rate background load, waits for the hub's write queue to
// drain, checks the store file afterwards, serves the agent benchmark's check targets, measures
// gossip against a hub with many members in one process, simulates a fleet of agents reporting
// at their intervals (flapping, dying and rejoining) for the 10,000-agent part and the soak
// (`make soak`, scripts/soak.sh), and writes docs/BENCHMARKS.md from the results.
//
// Usage: loadgen <command> [flags]; `loadgen <command> -h` lists a command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = []command{
	{"serve-bare", "serve a bare handler that only decodes reports and answers 200", serveBare},
	{"tokens", "sign agent tokens for the fleet and viewer/admin tokens from a --dev hub's secret", tokens},
	{"register", "send every fleet instance its first report", register},
	{"background", "send reports at a fixed rate for a while", background},
	{"drain", "wait until the hub's write queue has drained into the store", drain},
	{"verify", "check the store file against what a wrk run sent", verify},
	{"serve-targets", "serve TCP and HTTP listeners for the agent's checks", serveTargets},
	{"gossip", "measure gossip against a hub: failure detection, false failures, convergence, bandwidth", gossipBench},
	{"agents", "simulate agents reporting at their intervals, some flapping, dying and rejoining; check nothing was lost", agents},
	{"agents-verify", "check a stopped hub's store against what an agents run was answered", agentsVerify},
	{"doc", "write docs/BENCHMARKS.md from a run's results", doc},
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return 2
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout)
		switch {
		case errors.Is(err, flag.ErrHelp):
			return 0
		case err != nil:
			fmt.Fprintf(stderr, "loadgen %s: %v\n", c.name, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "loadgen: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: loadgen <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
}

// newFlags returns a flag set for command name that reports errors to stderr.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("loadgen "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

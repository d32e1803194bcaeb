package check

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/agent/internal/procgroup"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// Exec runs a command without a shell. Exit 0 is passing, exit 1 warning, any other exit (or a
// failure to start, or death by a signal) critical. Stdout and stderr together are the output.
// The command runs in its own process group; when the run's context ends, the whole group is
// killed, so children it started die with it.
type Exec struct {
	argv []string
}

// NewExec returns the prober for an exec check.
func NewExec(c *config.ExecCheck) *Exec {
	return &Exec{argv: append([]string(nil), c.Command...)}
}

// Probe implements Prober.
func (e *Exec) Probe(ctx context.Context) Result {
	output, err := procgroup.Run(ctx, e.argv, protocol.MaxOutput+1) // one byte more, so truncation shows

	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return Result{status.Passing, output}
	case errors.As(err, &exitErr) && exitErr.ExitCode() == 1:
		return Result{status.Warning, orElse(output, "exit status 1")}
	case errors.As(err, &exitErr):
		return Result{status.Critical, orElse(output, err.Error())}
	}
	return Result{status.Critical, strings.TrimSpace(output + "\n" + fmt.Sprintf("run %s: %v", e.argv[0], err))}
}

func orElse(s, fallback string) string {
	if strings.TrimSpace(s) == "" {
		return fallback
	}
	return s
}

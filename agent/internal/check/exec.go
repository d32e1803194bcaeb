package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// execWaitDelay bounds how long a run waits, after its process group is killed, for output pipes
// held open by descendants that escaped the group.
const execWaitDelay = time.Second

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
	cmd := exec.CommandContext(ctx, e.argv[0], e.argv[1:]...)
	out := &cappedBuffer{max: protocol.MaxOutput + 1} // one byte more, so truncation shows
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// A negative pid signals the whole process group, which Setpgid made the child's own.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = execWaitDelay
	err := cmd.Run()
	output := out.String()

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

// cappedBuffer keeps the first max bytes written to it and discards the rest while still
// accepting them, so the command never blocks on a full pipe.
type cappedBuffer struct {
	buf bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (c *cappedBuffer) String() string { return c.buf.String() }

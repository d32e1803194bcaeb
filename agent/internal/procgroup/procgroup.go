// Package procgroup runs a command in a process group of its own, so that when its context
// ends the command and every process it started are killed together, and keeps the first
// bytes of its combined output. The agent's exec checks and reload commands run this way.
package procgroup

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"
)

// waitDelay bounds how long Run waits, after the process group is killed, for output pipes
// held open by descendants that escaped the group.
const waitDelay = time.Second

// Run runs argv[0] with the arguments argv[1:], without a shell, in a new process group, and
// returns the first maxOutput bytes of its stdout and stderr together (the rest is read and
// discarded, so the command never blocks on a full pipe) and the error of exec.Cmd.Run: nil
// for exit 0, an *exec.ExitError for another exit or death by a signal, or the failure to
// start. When ctx ends before the command does, the whole group is killed with SIGKILL.
func Run(ctx context.Context, argv []string, maxOutput int) (string, error) {
	if len(argv) == 0 {
		return "", errors.New("no command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out := &cappedBuffer{max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// A negative pid signals the whole process group, which Setpgid made the child's own.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	return out.buf.String(), err
}

// cappedBuffer keeps the first max bytes written to it and discards the rest while still
// accepting them.
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

package procgroup

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/centralhub/centralhub/agent/internal/procgroup/procgrouptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun: the output of stdout and stderr together, capped; the exit status as an
// *exec.ExitError; a program that cannot start and an empty command as errors.
func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name     string
		argv     []string
		max      int
		wantOut  string
		wantExit int // -1: no *exec.ExitError; 0: no error
		wantErr  string
	}{
		{"exit 0", []string{"/bin/sh", "-c", "echo out; echo err >&2"}, 100, "out\nerr\n", 0, ""},
		{"exit 3", []string{"/bin/sh", "-c", "echo broken; exit 3"}, 100, "broken\n", 3, "exit status 3"},
		{"output capped", []string{"/bin/sh", "-c", "i=0; while [ $i -lt 1000 ]; do echo 0123456789; i=$((i+1)); done"}, 15, "0123456789\n0123", 0, ""},
		{"arguments without a shell", []string{"/bin/echo", "a b", "$HOME"}, 100, "a b $HOME\n", 0, ""},
		{"program missing", []string{"/nonexistent/reload"}, 100, "", -1, "fork/exec /nonexistent/reload: no such file or directory"},
		{"no command", nil, 100, "", -1, "no command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := Run(ctx, tc.argv, tc.max)
			if out != tc.wantOut {
				t.Errorf("output %q, want %q", out, tc.wantOut)
			}
			var exitErr *exec.ExitError
			switch {
			case tc.wantExit == 0 && err != nil:
				t.Errorf("err = %v, want nil", err)
			case tc.wantExit > 0 && (!errors.As(err, &exitErr) || exitErr.ExitCode() != tc.wantExit):
				t.Errorf("err = %v, want exit status %d", err, tc.wantExit)
			case tc.wantExit < 0 && (err == nil || errors.As(err, &exitErr)):
				t.Errorf("err = %v, want a failure to start", err)
			}
			if tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestRunTimeoutKillsProcessGroup: when the context ends, the command and the child it started
// are killed, and the output written until then is returned.
func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	hanger := procgrouptest.NewHanger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	out, err := Run(ctx, hanger.Argv(), 100)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Run took %v after its context ended at 500ms", took)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ProcessState.String() != "signal: killed" {
		t.Fatalf("err = %v, want the shell killed", err)
	}
	if out != "started\n" {
		t.Fatalf("output %q, want the partial output %q", out, "started\n")
	}
	hanger.WaitChildGone(t)
}

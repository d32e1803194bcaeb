// Package procgrouptest helps a test show that a command which timed out had its whole process
// group killed: a shell script that starts a child and records the child's pid, and a wait for
// that child to be gone. Production code never imports it.
package procgrouptest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Hanger is a shell script that prints "started", starts a child (sleep 100), records the
// child's pid, and waits for it: it runs until it is killed, and its child with it only if the
// child's process group is killed too.
type Hanger struct {
	pidFile string
}

// NewHanger returns a Hanger whose pid file is in a temporary directory of t's.
func NewHanger(t testing.TB) *Hanger {
	return &Hanger{pidFile: filepath.Join(t.TempDir(), "child.pid")}
}

// Argv is the command that runs the script.
func (h *Hanger) Argv() []string {
	return []string{"/bin/sh", "-c", fmt.Sprintf("echo started; sleep 100 & echo $! > %s; wait", h.pidFile)}
}

// WaitChildGone fails t unless the script recorded its child and the child is gone, or goes
// within 10 seconds.
func (h *Hanger) WaitChildGone(t testing.TB) {
	t.Helper()
	raw, err := os.ReadFile(h.pidFile)
	if err != nil {
		t.Fatalf("the script did not record its child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the child sleep (pid %d) outlived its killed parent", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

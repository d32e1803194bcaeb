package check

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serverStartTimeout bounds how long a server process the tests start may take to be ready (a
// JVM on a busy machine is slow).
const serverStartTimeout = 90 * time.Second

// missing skips the test because something it needs is not on this machine, saying what; under
// CI=true it fails instead, since .ci/run installs and starts everything the probe tests use.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI must run the probe tests, but: "+format, args...)
	}
	t.Skipf(format, args...)
}

// need returns the program or file what when this machine has it: a name without a slash is
// looked up on PATH (and its path returned), a path must exist. Otherwise the test is missing
// it, naming from, what provides it.
func need(t testing.TB, what, from string) string {
	t.Helper()
	if !strings.Contains(what, "/") {
		path, err := exec.LookPath(what)
		if err != nil {
			missing(t, "no %s on PATH (%v): install %s to run this probe test", what, err, from)
		}
		return path
	}
	if _, err := os.Stat(what); err != nil {
		missing(t, "%s is not here (%s): install it to run this probe test", what, from)
	}
	return what
}

// startServer runs a server program until the test ends and waits until addr accepts
// connections, as startServerUntil does.
func startServer(t testing.TB, addr string, program string, args ...string) {
	t.Helper()
	startServerUntil(t, "listen on "+addr, func() bool { return dialable(addr) }, program, args...)
}

// startServerUntil runs a server program in a process group of its own and polls ready, up to
// serverStartTimeout, until it holds; it fails the test at once if the program exits first.
// ready says what it waits for ("listen on 127.0.0.1:4222"). The program's output goes to a
// file whose tail is shown when it fails to start. When the test ends the process group is
// killed and the program waited for.
func startServerUntil(t testing.TB, ready string, isReady func() bool, program string, args ...string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), filepath.Base(program)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(program, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", program, err)
	}
	done := make(chan struct{}) // closed once it has exited and been waited for
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		// A negative pid signals the whole process group: the server and whatever it started.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	deadline := time.Now().Add(serverStartTimeout)
	for {
		select {
		case <-done:
			t.Fatalf("%s exited before it would %s (%v):\n%s", program, ready, cmd.ProcessState, logTail(logPath))
		default:
		}
		if isReady() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not %s within %v:\n%s", program, ready, serverStartTimeout, logTail(logPath))
		}
		time.Sleep(20 * time.Millisecond) // polling the server, not waiting for state
	}
}

// logTail is the end of the log file at path.
func logTail(path string) string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// portOf is the port of a host:port address.
func portOf(t testing.TB, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// writeSecret writes a password file (with the trailing newline such files often have) and
// returns its path.
func writeSecret(t testing.TB, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

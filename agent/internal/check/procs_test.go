package check

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serverStartTimeout bounds how long a server process the tests start may take to listen (a
// JVM on a busy machine is slow).
const serverStartTimeout = 90 * time.Second

// missing skips the test because something it needs is not on this machine, saying what; under
// CI=true it fails instead, since .ci/run installs everything the probe tests use.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI must run the probe tests, but: "+format, args...)
	}
	t.Skipf(format, args...)
}

// needFile returns path when it exists, and otherwise skips (or fails under CI) naming what
// provides it.
func needFile(t *testing.T, path, from string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		missing(t, "%s is not here (%s): install it to run this probe test", path, from)
	}
	return path
}

// serverProcess is a server program a test started.
type serverProcess struct {
	cmd  *exec.Cmd
	log  string        // the file its stdout and stderr go to
	done chan struct{} // closed once it has exited and been waited for
}

// startServer runs a server program and waits, up to serverStartTimeout, until addr accepts
// connections; when the test ends the process is killed and waited for. Its output goes to a
// file whose tail is shown when it fails to start.
func startServer(t *testing.T, addr string, program string, args ...string) *serverProcess {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), filepath.Base(program)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(program, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", program, err)
	}
	p := &serverProcess{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	deadline := time.Now().Add(serverStartTimeout)
	for {
		select {
		case <-p.done:
			t.Fatalf("%s exited before listening on %s (%v):\n%s", program, addr, cmd.ProcessState, p.tail())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s within %v:\n%s", program, addr, serverStartTimeout, p.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail is the end of the process's output.
func (p *serverProcess) tail() string {
	b, _ := os.ReadFile(p.log)
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// portOf is the port of a host:port address.
func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// writeSecret writes a password file (with the trailing newline such files often have) and
// returns its path.
func writeSecret(t *testing.T, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serverFiles issues a server certificate from ca for localhost and 127.0.0.1, valid for a
// year, and writes it and its key as PEM files, for servers that read them.
func (ca *testCA) serverFiles(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "broker.test"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// silentServer accepts connections on loopback and never writes to them; each is held until
// the client closes it. It returns its address.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveConns(t, ln, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	return ln.Addr().String()
}

// probeCancelled probes with a context that is cancelled (it has no deadline) shortly after
// the probe starts, as the runner's is when the agent stops.
func probeCancelled(p Prober) Result {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := time.AfterFunc(100*time.Millisecond, cancel)
	defer stop.Stop()
	return p.Probe(ctx)
}

// dialable reports whether addr accepts a TCP connection.
func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

package check

import (
	"net"
	"os"
	"testing"
	"time"
)

// serverAddr is the address of a real server a probe test needs: the environment variable env,
// or def (the machine's own server). The test skips when nothing answers there, saying what is
// missing, and fails instead under CI=true, since .ci/run starts every server these tests use.
func serverAddr(t *testing.T, name, env, def string) string {
	t.Helper()
	addr := os.Getenv(env)
	if addr == "" {
		addr = def
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no %s at %s (%v), and CI must run the probe tests: .ci/run starts it", name, addr, err)
		}
		t.Skipf("no %s at %s (%v): start one, or name one in %s, to run this probe test", name, addr, err, env)
	}
	c.Close()
	return addr
}

// serveConns hands every connection ln accepts to handle, in its own goroutine, and closes it
// after; ln closes when the test ends.
func serveConns(t *testing.T, ln net.Listener, handle func(net.Conn)) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { handle(c); c.Close() }()
		}
	}()
}

// bannerServer accepts connections on loopback, writes banner to each and closes it, until the
// test ends; it returns its address.
func bannerServer(t *testing.T, banner string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveConns(t, ln, func(c net.Conn) { _, _ = c.Write([]byte(banner)) })
	return ln.Addr().String()
}

package check

import (
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// serverAddr is the address of a real server a probe test needs: the environment variable env,
// or def (the machine's own server). The test is missing it when nothing answers there.
func serverAddr(t testing.TB, name, env, def string) string {
	t.Helper()
	addr := os.Getenv(env)
	if addr == "" {
		addr = def
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		missing(t, "no %s at %s (%v): start one, or name one in %s, to run this probe test", name, addr, err, env)
	}
	c.Close()
	return addr
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

// serveConns hands every connection ln accepts to handle, in its own goroutine, and closes it
// after; ln closes when the test ends.
func serveConns(t testing.TB, ln net.Listener, handle func(net.Conn)) {
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

// listenLoopback listens on a free loopback port until the test ends and hands each
// connection to handle; it returns the address.
func listenLoopback(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveConns(t, ln, handle)
	return ln.Addr().String()
}

// bannerServer accepts connections on loopback, writes banner to each and closes it, until the
// test ends; it returns its address.
func bannerServer(t testing.TB, banner string) string {
	t.Helper()
	return listenLoopback(t, func(c net.Conn) { _, _ = c.Write([]byte(banner)) })
}

// silentServer accepts connections on loopback, until the test ends, and never writes to them;
// each is held until the client closes it. It returns its address. A probe of it can only time
// out.
func silentServer(t testing.TB) string {
	t.Helper()
	return listenLoopback(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
}

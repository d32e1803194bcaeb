package check

import (
	"net"
	"testing"
)

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
